#include "app/worker.hpp"

#include <cxxabi.h>
#include <fmt/ranges.h>
#include <time.h>

#include <cstdlib>
#include <string_view>
#include <thread>
#include <typeinfo>

#include "core/assert.hpp"
#include "core/crash_point.hpp"
#include "core/logging.hpp"
#include "dataframe/metadata.hpp"
#include "kafka/codes.hpp"
#include "kafka/error.hpp"
#include "kafka/retry.hpp"
#include "kafka/types.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {
namespace {

using Clock = std::chrono::steady_clock;

RawMessage raw_message_of(const kafka::Message& m) {
  RawMessage raw;
  raw.topic = std::string(m.topic());
  raw.partition = m.partition();
  raw.offset = m.offset();
  if (auto key = m.key()) raw.key.emplace(*key);
  if (auto value = m.value()) raw.value.emplace(*value);
  raw.timestamp = m.timestamp();
  try {
    raw.headers = m.headers();
  } catch (const KafkaError&) {
    // The error being reported matters more than headers librdkafka cannot parse.
  }
  return raw;
}

Value leaf_value(const Row& row, const MessageContext& mc, bool metadata) {
  if (!metadata) {
    if (row.value.is_object()) return row.value;
    return Value::object({{"_value", row.value}});
  }
  return with_metadata(row.value, row.key, row.timestamp, row.headers, mc.topic, mc.partition,
                       mc.offset);
}

// EXT-03: the headers a dead-letter record carries after the message's own.
constexpr const char* kErrorStageHeader = "streamframe.error.stage";
constexpr const char* kErrorTypeHeader = "streamframe.error.type";
constexpr const char* kErrorMessageHeader = "streamframe.error.message";
constexpr const char* kSourceTopicHeader = "streamframe.source.topic";
constexpr const char* kSourcePartitionHeader = "streamframe.source.partition";
constexpr const char* kSourceOffsetHeader = "streamframe.source.offset";
constexpr std::size_t kErrorMessageMaxBytes = 4096;

// The error's dynamic type as written in C++, without the streamframe:: prefix
// ("SerializationError", "std::runtime_error").
std::string error_type_name(const std::exception& e) {
  const char* mangled = typeid(e).name();
  int status = 0;
  const std::unique_ptr<char, decltype(&std::free)> demangled(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
  std::string name = status == 0 && demangled ? demangled.get() : mangled;
  constexpr std::string_view prefix = "streamframe::";
  if (name.starts_with(prefix)) name.erase(0, prefix.size());
  return name;
}

// At most `max` bytes of `text`, cut before a UTF-8 sequence rather than inside it.
std::string truncate_utf8(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

// Rethrows `error` after attaching the message's origin, keeping its dynamic type.
[[noreturn]] void rethrow_with_origin(const std::exception_ptr& error, const MessageContext& mc) {
  try {
    std::rethrow_exception(error);
  } catch (Error& e) {
    e.set_origin(mc.topic, mc.partition, mc.offset);
    throw;
  }
}

}  // namespace

Worker::Worker(WorkerSettings settings) : settings_(std::move(settings)), config_(*settings_.app) {
  for (const auto& g : settings_.graphs) {
    TopicSlot& slot = slots_[g->topic().name()];
    slot.graph = g.get();
    has_ticking_ = has_ticking_ || g->ticks();
    for (Sink* s : g->sinks()) sinks_.push_back(s);
  }
  for (Sink* s : sinks_) s->setup();
  producer_ = std::make_unique<kafka::Producer>(
      settings_.producer_config, [this](const kafka::DeliveryReport& r) { on_delivery(r); });
  if (settings_.exactly_once) {
    try {
      producer_->init_transactions(config_.request_timeout);
    } catch (const KafkaError& e) {
      throw KafkaError(e.code(),
                       std::string("exactly_once: the transaction coordinator is not available "
                                   "(initialising the transactional producer failed): ") +
                           e.what(),
                       e.retriable(), e.fatal());
    }
  }
  for (const auto& g : settings_.graphs) {
    if (g->stateful() && settings_.stores == nullptr) {
      throw ConfigError("stateful pipeline without a state store provider");
    }
  }

  kafka::RebalanceHandler handler;
  handler.on_assign = [this](const std::vector<kafka::TopicPartition>& tps) { on_assign(tps); };
  handler.on_revoke = [this](const std::vector<kafka::TopicPartition>& tps) { on_revoke(tps); };
  handler.on_lost = [this](const std::vector<kafka::TopicPartition>& tps) { on_lost(tps); };
  consumer_ = std::make_unique<kafka::Consumer>(settings_.consumer_config, std::move(handler));
  std::vector<std::string> topics;
  topics.reserve(slots_.size());
  for (const auto& [name, slot] : slots_) topics.push_back(name);
  if (settings_.static_assignment.empty()) {
    const auto missing = consumer_->await_topics(topics, config_.request_timeout);
    if (!missing.empty()) {
      logger()->warn(
          "metadata does not list topic(s) '{}' after {} ms; subscribing anyway (their "
          "partitions are assigned once a metadata refresh finds them)",
          fmt::join(missing, "', '"), config_.request_timeout.count());
    }
    consumer_->subscribe(topics);
  } else {
    consumer_->assign(settings_.static_assignment);
    on_assign(settings_.static_assignment);
  }
  checkpoint_start_ = Clock::now();
}

Worker::~Worker() {
  // Closing leaves the group at once so partitions move without waiting for the session
  // timeout. Anything not checkpointed stays uncommitted.
  try {
    if (consumer_) consumer_->close();
  } catch (const std::exception& e) {
    logger()->warn("closing the consumer failed: {}", e.what());
  }
  // After APP-15 no broker answers: the abort in the producer's close would only wait out its
  // timeout. The broker aborts the open transaction after transaction.timeout.ms instead.
  if (brokers_unavailable_ && producer_) {
    try {
      producer_->close(std::chrono::milliseconds(1000));
    } catch (const std::exception& e) {
      logger()->warn("closing the producer failed: {}", e.what());
    }
  }
}

ErrorAction Worker::decide(const ErrorCallback& callback, const std::exception& error,
                           const ErrorContext& ctx, const char* stage) {
  ErrorAction action = ErrorAction::stop;
  if (callback) {
    action = callback(error, ctx);
  } else {
    // ERR-01: no callback => log, then dead-letter when a dead-letter topic is set, else stop.
    logger()->error("{} error: {}", stage, error.what());
    if (config_.dead_letter_topic) action = ErrorAction::dead_letter;
  }
  if (action == ErrorAction::skip) {
    ++stats_.errors_skipped;
    logger()->debug("{} error skipped: {}", stage, error.what());
  }
  if (action == ErrorAction::dead_letter && !config_.dead_letter_topic &&
      std::string_view(stage) != "producer") {
    // The callback cannot be checked before it runs: stop here, naming the missing setting.
    throw ConfigError(std::string("the ") + stage +
                      " error callback returned ErrorAction::dead_letter but "
                      "ApplicationConfig::dead_letter_topic is not set; the error: " +
                      error.what());
  }
  return action;
}

bool Worker::deserialization_failed(const kafka::Message& m, const std::exception& error) {
  RawMessage raw = raw_message_of(m);
  const ErrorAction action =
      decide(config_.on_consumer_error, error, ErrorContext{&raw, nullptr}, "deserialization");
  if (action == ErrorAction::dead_letter) dead_letter(m, error, "deserialization");
  return action != ErrorAction::stop;
}

void Worker::dead_letter(const kafka::Message& m, const std::exception& error,
                         const char* stage) {
  try {
    m.headers(dead_letter_headers_);  // cleared when it throws
  } catch (const KafkaError& e) {
    logger()->warn("the headers of {}[{}]@{} cannot be read ({}); dead-lettered without them",
                   m.topic(), m.partition(), m.offset(), e.what());
  }
  dead_letter_headers_.emplace_back(kErrorStageHeader, stage);
  dead_letter_headers_.emplace_back(kErrorTypeHeader, error_type_name(error));
  dead_letter_headers_.emplace_back(kErrorMessageHeader,
                                    truncate_utf8(error.what(), kErrorMessageMaxBytes));
  dead_letter_headers_.emplace_back(kSourceTopicHeader, std::string(m.topic()));
  dead_letter_headers_.emplace_back(kSourcePartitionHeader, std::to_string(m.partition()));
  dead_letter_headers_.emplace_back(kSourceOffsetHeader, std::to_string(m.offset()));
  ensure_transaction();
  // Partition -1: the producer's partitioner, murmur2 of the raw key (KAF-01, like outputs).
  const std::int64_t timestamp = m.timestamp();
  producer_->produce(*config_.dead_letter_topic, -1, m.key(), m.value(),
                     timestamp > 0 ? timestamp : 0, &dead_letter_headers_, &dead_letter_tag_);
  ++stats_.dead_lettered;
  logger()->debug("{} error: {}[{}]@{} sent to the dead-letter topic '{}'", stage,
                  m.topic(), m.partition(), m.offset(), *config_.dead_letter_topic);
}

void Worker::on_assign(const std::vector<kafka::TopicPartition>& tps) {
  for (const auto& tp : tps) {
    if (TopicSlot* slot = slot_of(tp.topic, tp.partition)) {
      if (!slot->assigned[tp.partition]) ++assigned_count_;
      slot->assigned[tp.partition] = 1;
      PartitionTask& task = task_of(*slot, tp.partition);
      if (task.stateful()) {
        to_prepare_.push_back(tp);
      } else {
        task.set_ready(true);
      }
    }
  }
  logger()->info("partitions assigned: {}", tps.size());
  last_activity_ = Clock::now();
}

void Worker::on_revoke(const std::vector<kafka::TopicPartition>& tps) {
  // Called from inside librdkafka: exceptions must not cross it.
  try {
    // CK-06: the revoke checkpoint gets its own, shorter budget; what is not confirmed in it
    // is aborted and nothing is committed.
    if (!pending_error_ && !failed_) checkpoint(Clock::now() + settings_.revoke_timeout);
  } catch (...) {
    if (!pending_error_) pending_error_ = std::current_exception();
  }
  release_partitions(tps);
  logger()->info("partitions revoked: {}", tps.size());
}

void Worker::on_lost(const std::vector<kafka::TopicPartition>& tps) {
  // The group already moved on (this member's session expired): a checkpoint could commit
  // nothing, so everything since the last one is dropped (exactly-once: its transaction
  // aborted) and the partitions' next owner processes it again from the committed offsets.
  logger()->warn(
      "partitions lost: {} (the consumer group session expired, e.g. while the brokers were "
      "unreachable); what was processed since the last checkpoint is not committed and is "
      "processed again by the partitions' next owner",
      tps.size());
  try {
    if (settings_.exactly_once && producer_->in_transaction()) {
      // Delivered first: an abort while librdkafka is still adding the records' partitions to
      // the transaction can fail fatally with INVALID_TXN_STATE (librdkafka #4849, seen here
      // when the group coordinator's broker stopped). Delivered records of an aborted
      // transaction are never visible, so the flush changes nothing for readers.
      producer_->flush(
          std::min<std::chrono::milliseconds>(config_.request_timeout, std::chrono::seconds(5)));
      producer_->abort_transaction(config_.request_timeout);
    }
  } catch (...) {
    if (!pending_error_) pending_error_ = std::current_exception();
  }
  forget_since_checkpoint();
  release_partitions(tps);
}

void Worker::release_partitions(const std::vector<kafka::TopicPartition>& tps) {
  for (const auto& tp : tps) {
    if (TopicSlot* slot = slot_of(tp.topic, tp.partition)) {
      if (slot->assigned[tp.partition]) --assigned_count_;
      slot->assigned[tp.partition] = 0;
      slot->offsets[tp.partition] = -1;
      if (auto& task = slot->tasks[tp.partition]) task->close_stores();
      std::erase(to_prepare_, tp);
    }
  }
  last_activity_ = Clock::now();
}

void Worker::on_delivery(const kafka::DeliveryReport& report) {
  const bool dead_letter = report.opaque == &dead_letter_tag_;
  if (report.error_code == 0) {
    ++stats_.records_produced;
    if (report.opaque != nullptr && !dead_letter) {
      auto& delivered = static_cast<PartitionTask::Store*>(report.opaque)->delivered;
      delivered = std::max(delivered, report.offset);
    }
    return;
  }
  if (pending_error_) return;
  if (settings_.exactly_once && kafka::is_purged(report.error_code)) {
    // An aborted transaction's records that librdkafka purged (it purges on abort; this
    // library purges only when closing): they were never to be visible and their messages
    // are processed again, so this is no loss (librdkafka #3196).
    logger()->debug("record of an aborted transaction purged: topic '{}' partition {}",
                    report.topic, report.partition);
    return;
  }
  if (dead_letter) {
    // The message is only in the dead-letter record now (its offset counts as processed):
    // losing the record would lose the message, so this is never skippable (EXT-03).
    pending_error_ = std::make_exception_ptr(KafkaError(
        report.error_code,
        "failed to deliver a dead-letter record to topic '" + std::string(report.topic) +
            "' partition " + std::to_string(report.partition) + ": " + std::string(report.error)));
    return;
  }
  if (report.opaque != nullptr) {
    // A lost changelog record would lose state on the next recovery: never skippable.
    pending_error_ = std::make_exception_ptr(KafkaError(
        report.error_code,
        "failed to deliver a changelog record to topic '" + std::string(report.topic) +
            "' partition " + std::to_string(report.partition) + ": " + std::string(report.error)));
    return;
  }
  KafkaError error(report.error_code, "failed to deliver a message to topic '" +
                                          std::string(report.topic) + "' partition " +
                                          std::to_string(report.partition) + ": " +
                                          std::string(report.error));
  try {
    const ErrorAction action = decide(config_.on_producer_error, error, ErrorContext{}, "producer");
    if (action != ErrorAction::skip) pending_error_ = std::make_exception_ptr(error);
  } catch (...) {
    pending_error_ = std::current_exception();
  }
}

void Worker::rethrow_pending() {
  if (pending_error_) {
    auto e = pending_error_;
    pending_error_ = nullptr;
    std::rethrow_exception(e);
  }
}

bool Worker::flush_producer(Clock::time_point deadline) {
  // Flush in short steps so a second SIGINT (stop with fail) cuts a hanging flush short.
  while (!producer_->flush(std::chrono::milliseconds(100))) {
    checkpoint_wait_step("waiting for the producer");
    if (Clock::now() >= deadline) return false;
  }
  return true;
}

namespace {
// steady_clock (CLOCK_MONOTONIC) at a few ms resolution, for the checks made once per
// message: CLOCK_MONOTONIC_COARSE is served from the vDSO without reading the clock source,
// which on some VMs costs a system call per read. Same epoch as steady_clock.
Clock::time_point coarse_now() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}
}  // namespace

bool Worker::checkpoint_due() const {
  if (offsets_stored_ == 0) {
    return operator_changes_ && Clock::now() - checkpoint_start_ >= config_.commit_interval;
  }
  if (config_.commit_every > 0 && offsets_stored_ >= config_.commit_every) return true;
  if (config_.commit_interval.count() <= 0) return true;  // APP-04: after every message
  return coarse_now() - checkpoint_start_ >= config_.commit_interval;
}

void Worker::checkpoint(Clock::time_point deadline) {
  checkpoint_start_ = Clock::now();
  std::vector<kafka::TopicPartition> commit;
  for (const auto& [name, slot] : slots_) {
    for (std::size_t p = 0; p < slot.offsets.size(); ++p) {
      if (slot.offsets[p] >= 0) {
        commit.push_back({name, static_cast<std::int32_t>(p), slot.offsets[p] + 1});
      }
    }
  }
  if (commit.empty() && !operator_changes_) {
    offsets_stored_ = 0;
    if (settings_.exactly_once && producer_->in_transaction()) {
      producer_->abort_transaction(config_.request_timeout);  // CK-02: empty => abort
    }
    return;
  }
  // CK-02: 1 sinks, 2 changelogs, 3 everything produced is acknowledged, 4 offsets committed
  // (or the transaction with them), 5 store batches written with their changelog offsets. A
  // failure in steps 1-4 leaves offsets and stores untouched, so the records are processed
  // again from the last checkpoint.
  for (Sink* s : sinks_) s->flush();
  flush_operators();
  sweep_expired();
  if (!settings_.exactly_once && operator_changes_) {
    // At-least-once: changes made outside any message (idle closing) carry no
    // processed-offsets header, so a restore applies them even if this checkpoint never
    // completes. Their outputs (the windows idle closing emitted) must therefore be
    // acknowledged before the changes are: a crash in between then repeats a window rather
    // than losing it.
    if (!flush_producer(deadline)) {
      throw CheckpointProducerTimeout("checkpoint: the producer did not deliver " +
                                      std::to_string(producer_->outstanding()) +
                                      " records within the flush timeout");
    }
    rethrow_pending();
  }
  produce_changelogs();
  if (!flush_producer(deadline)) {
    throw CheckpointProducerTimeout("checkpoint: the producer did not deliver " +
                                    std::to_string(producer_->outstanding()) +
                                    " records within the flush timeout");
  }
  rethrow_pending();
  crash_point("checkpoint.flushed");
  if (settings_.exactly_once) {
    if (!commit_transaction(commit, deadline)) {
      rewind_to_checkpoint();
      return;
    }
  } else if (!commit.empty()) {
    try {
      commit_offsets(commit, deadline);
    } catch (const KafkaError& e) {
      if (kafka::is_group_moved_on(e.code())) {
        // E.g. the session expired during a broker outage: the partitions may belong to
        // another member already. Nothing was committed; processing again from the last
        // commit only repeats outputs, which at-least-once allows.
        logger()->warn(
            "checkpoint: the group moved on without this member ({}); nothing was committed, "
            "processing again from the last committed offsets",
            e.what());
        ++stats_.checkpoints_aborted;
        rewind_to_checkpoint();
        return;
      }
      throw CheckpointConsumerCommitError(std::string("checkpoint: committing offsets failed: ") +
                                          e.what());
    }
  }
  for (auto& [name, slot] : slots_) {
    std::fill(slot.offsets.begin(), slot.offsets.end(), -1);
    for (auto& task : slot.tasks) {
      if (task) task->commit_writes();
    }
  }
  offsets_stored_ = 0;
  operator_changes_ = false;
  ++stats_.checkpoints;
}

void Worker::flush_operators() {
  for (auto& [name, slot] : slots_) {
    for (auto& task : slot.tasks) {
      if (task && task->ready()) task->flush_operators();
    }
  }
}

void Worker::tick_operators() {
  if (!has_ticking_) return;
  const std::int64_t now = now_ms();
  for (auto& [name, slot] : slots_) {
    for (std::size_t p = 0; p < slot.tasks.size(); ++p) {
      auto& task = slot.tasks[p];
      if (!task || !task->ready() || !slot.assigned[p]) continue;
      operator_changes_ = task->tick(now) || operator_changes_;
    }
  }
}

std::int64_t Worker::now_ms() const {
  if (config_.clock) return config_.clock();
  return ExecContext::steady_ms();
}

void Worker::sweep_expired() {
  for (auto& [name, slot] : slots_) {
    for (auto& task : slot.tasks) {
      if (task && task->ready()) {
        task->sweep_expired(config_.rocksdb_options.max_evictions_per_flush);
      }
    }
  }
}

void Worker::produce_changelogs() {
  if (settings_.changelogs.empty()) return;
  for (auto& [name, slot] : slots_) {
    for (std::size_t p = 0; p < slot.tasks.size(); ++p) {
      auto& task = slot.tasks[p];
      if (!task) continue;
      const std::int64_t processed = slot.offsets[p];
      bool headers_ready = false;
      task->for_each_change([&](PartitionTask::Store& st, std::string_view key,
                                const std::optional<std::string>& v) {
        if (st.changelog.empty()) return;
        if (!headers_ready) {
          ensure_transaction();
          changelog_headers_.clear();
          changelog_headers_.emplace_back(state::kColumnFamilyHeader, "default");
          if (processed >= 0) {
            changelog_headers_.emplace_back(state::kProcessedOffsetsHeader,
                                            state::processed_offsets_header(name, processed));
          }
          headers_ready = true;
        }
        std::optional<std::string_view> value;
        if (v) value = *v;
        producer_->produce(st.changelog, static_cast<std::int32_t>(p), key, value, 0,
                           &changelog_headers_, &st);
      });
    }
  }
}

void Worker::ensure_transaction() {
  if (settings_.exactly_once && !producer_->in_transaction()) producer_->begin_transaction();
}

bool Worker::commit_transaction(const std::vector<kafka::TopicPartition>& offsets,
                                Clock::time_point deadline) {
  ensure_transaction();
  try {
    if (!offsets.empty()) {
      // librdkafka alone may wait forever here (see Producer::send_offsets_to_transaction).
      producer_->send_offsets_to_transaction(offsets, *consumer_, time_left(deadline), [this] {
        checkpoint_wait_step("sending the offsets to the transaction");
      });
    }
    for (int attempt = 1;; ++attempt) {
      try {
        producer_->commit_transaction(attempt_timeout(time_left(deadline)));
        return true;
      } catch (const KafkaError& e) {
        // A retriable error leaves the outcome open: committing again is the documented way
        // to learn it; anything else falls through to abort or stop. During an outage the
        // retries go on until check_brokers() ends them with APP-15.
        if (!e.retriable()) throw;
        checkpoint_wait_step("committing the transaction");
        if (!brokers_down() && (attempt >= 3 || Clock::now() >= deadline)) throw;
        logger()->warn("committing the transaction failed (attempt {}), retrying: {}", attempt,
                       e.what());
      }
    }
  } catch (const KafkaBrokerUnavailableError&) {
    throw;  // APP-15 from check_brokers(): the outage, not this checkpoint, is the error
  } catch (const KafkaError& e) {
    // A transaction call failing because every broker is gone is APP-15, not a checkpoint
    // error of its own: check_brokers() throws KafkaBrokerUnavailableError once the outage
    // is older than broker_availability_timeout.
    check_brokers();
    if (!e.fatal() && abort_failed_transaction(deadline) && e.txn_requires_abort()) {
      // E.g. the group moved on (a new generation or member id) while this transaction was
      // open: nothing of it is visible, so processing again from the last commit is exact.
      logger()->warn(
          "checkpoint: the transaction was aborted ({}); processing again from the "
          "last committed offsets",
          e.what());
      ++stats_.checkpoints_aborted;
      return false;
    }
    throw KafkaError(e.code(),
                     std::string("checkpoint: the transaction did not commit: ") + e.what(),
                     e.retriable(), e.fatal(), e.txn_requires_abort());
  }
}

bool Worker::abort_failed_transaction(Clock::time_point deadline) {
  for (int attempt = 1;; ++attempt) {
    try {
      producer_->abort_transaction(attempt_timeout(time_left(deadline)));
      return true;
    } catch (const KafkaError& abort_error) {
      // The abort needs the transaction coordinator too. While every broker is down it times
      // out; retrying it is librdkafka's documented way to resume, and check_brokers() ends
      // the wait with APP-15 once the outage passes broker_availability_timeout, so the error
      // reported is the outage, not this checkpoint (the race CI hit: the send of the offsets
      // failed at once, the abort then timed out well after the timeout).
      checkpoint_wait_step("aborting the failed transaction");
      if (!abort_error.retriable() || (!brokers_down() && attempt >= 3)) {
        logger()->warn("aborting the failed transaction failed too: {}", abort_error.what());
        return false;
      }
      logger()->warn("aborting the failed transaction failed (attempt {}), retrying: {}", attempt,
                     abort_error.what());
    }
  }
}

void Worker::commit_offsets(const std::vector<kafka::TopicPartition>& offsets,
                            Clock::time_point deadline) {
  // A group coordinator that is being looked up or loaded (after a broker restart) refuses the
  // commit with a retriable error; the same offsets are committed again once it answers, up
  // to the checkpoint's deadline (a long outage ends the wait through check_brokers()).
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    try {
      consumer_->commit(offsets);
      return;
    } catch (const KafkaError& e) {
      if (!e.retriable() || e.fatal() || Clock::now() + backoff >= deadline) throw;
      logger()->warn("checkpoint: committing offsets failed, retrying in {} ms: {}",
                     backoff.count(), e.what());
    }
    const auto until = Clock::now() + backoff;
    while (Clock::now() < until) {
      checkpoint_wait_step("committing offsets");
      std::this_thread::sleep_for(
          std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(50)));
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

void Worker::rewind_to_checkpoint() {
  // Everything since the last checkpoint is forgotten: pending state writes, processed
  // offsets, and the fetch positions, which go back to the first offset processed after it.
  for (auto& [name, slot] : slots_) {
    for (std::size_t p = 0; p < slot.offsets.size(); ++p) {
      if (slot.offsets[p] < 0) continue;
      const kafka::TopicPartition tp{name, static_cast<std::int32_t>(p), slot.first_offsets[p]};
      try {
        consumer_->seek(tp, config_.request_timeout);
      } catch (const KafkaError& e) {
        // A partition being revoked cannot be sought; its next owner starts from the commit.
        logger()->warn("rewinding {}[{}] to offset {} failed: {}", name, p, tp.offset, e.what());
      }
    }
  }
  forget_since_checkpoint();
  rewound_ = true;
}

void Worker::forget_since_checkpoint() {
  for (auto& [name, slot] : slots_) {
    std::fill(slot.offsets.begin(), slot.offsets.end(), -1);
    for (auto& task : slot.tasks) {
      if (task) task->discard_writes();
    }
  }
  offsets_stored_ = 0;
  operator_changes_ = false;
}

PartitionTask& Worker::task_of(TopicSlot& slot, std::int32_t partition) {
  if (slot.tasks.size() <= static_cast<std::size_t>(partition)) slot.tasks.resize(partition + 1);
  auto& task = slot.tasks[partition];
  if (!task) {
    task = std::make_unique<PartitionTask>(
        std::vector<const Graph*>{slot.graph}, partition, *this,
        [this](const std::string& topic, const std::string& store) -> std::string {
          const auto it = settings_.changelogs.find({topic, store});
          return it == settings_.changelogs.end() ? std::string() : it->second;
        });
  }
  return *task;
}

std::unique_ptr<state::PartitionStore> Worker::open_store(const state::StoreId& id, bool& rebuilt) {
  // ST-07: the open budget is half the rebalance budget (max.poll.interval.ms).
  const auto deadline = Clock::now() + settings_.flush_timeout / 2;
  try {
    return settings_.stores->open(id, deadline);
  } catch (const RocksDBCorruptedError& e) {
    const bool can_rebuild =
        config_.rocksdb_options.on_corrupted_recreate && !settings_.changelogs.empty();
    if (!can_rebuild) throw;
    // ST-08: the changelog holds everything the store held; start it again from empty.
    logger()->warn(
        "state store {} is corrupted ({}); deleting it and rebuilding it from the "
        "changelog",
        settings_.stores->describe(id), e.what());
    settings_.stores->destroy(id);
    rebuilt = true;
    return settings_.stores->open(id, deadline);
  }
}

void Worker::prepare_assigned(const std::atomic<bool>& stop) {
  if (to_prepare_.empty()) return;
  auto tps = std::move(to_prepare_);
  to_prepare_.clear();
  std::vector<state::RestoreRequest> restores;
  std::vector<PartitionTask*> restored;
  std::vector<kafka::TopicPartition> committed;
  if (!settings_.changelogs.empty()) {
    committed =
        kafka::with_retries([&] { return consumer_->committed(tps, config_.request_timeout); },
                            config_.request_timeout, "reading committed offsets");
  }
  for (const auto& tp : tps) {
    TopicSlot* slot = slot_of(tp.topic, tp.partition);
    if (slot == nullptr || !slot->assigned[tp.partition]) continue;
    std::int64_t offset = kafka::offset_invalid;
    for (const auto& c : committed) {
      if (c.topic == tp.topic && c.partition == tp.partition) offset = c.offset;
    }
    prepare_partition(tp.topic, *slot, tp.partition, offset, restores, restored);
  }
  restore_all(restores, stop);
  if (stop.load()) return;
  for (PartitionTask* task : restored) task->set_ready(true);
  last_activity_ = Clock::now();
}

void Worker::prepare_partition(const std::string& topic, TopicSlot& slot, std::int32_t partition,
                               std::int64_t committed, std::vector<state::RestoreRequest>& restores,
                               std::vector<PartitionTask*>& restored) {
  PartitionTask& task = task_of(slot, partition);
  if (task.ready()) return;
  const std::string& stream_id = task.stream_id();
  auto& stores = task.stores();
  for (std::size_t i = 0; i < stores.size(); ++i) {
    bool rebuilt = false;
    task.attach(i, open_store({stores[i]->name, stream_id, partition}, rebuilt));
  }
  if (settings_.changelogs.empty()) {
    task.set_ready(true);
    return;
  }

  // APP-10: the committed offset fell below the low watermark (retention deleted records the
  // state was built from).
  std::int64_t boundary = committed >= 0 ? committed : 0;
  bool only_without_offsets = false;
  if (committed >= 0) {
    const auto [low, high] = kafka::with_retries(
        [&] { return consumer_->query_watermarks(topic, partition, config_.request_timeout); },
        config_.request_timeout, "querying watermarks");
    if (committed < low) {
      const std::string where = topic + "[" + std::to_string(partition) + "] committed offset " +
                                std::to_string(committed) + " is below the low watermark " +
                                std::to_string(low);
      if (!config_.auto_recover_from_source_offset_out_of_range) {
        throw StateRecoveryOffsetOutOfRange(where + "; the state is kept");
      }
      auto reset = config_.state_recovery_offset_reset;
      if (reset == StateRecoveryOffsetReset::match) {
        if (config_.auto_offset_reset == AutoOffsetReset::error) {
          throw StateRecoveryOffsetOutOfRange(where + " and auto_offset_reset is 'error'");
        }
        reset = config_.auto_offset_reset == AutoOffsetReset::earliest
                    ? StateRecoveryOffsetReset::earliest
                    : StateRecoveryOffsetReset::latest;
      }
      logger()->critical("{}: destructive state recovery, deleting the partition's stores", where);
      task.close_stores();
      for (std::size_t i = 0; i < stores.size(); ++i) {
        settings_.stores->destroy({stores[i]->name, stream_id, partition});
        bool rebuilt = false;
        task.attach(i, open_store({stores[i]->name, stream_id, partition}, rebuilt));
      }
      if (reset == StateRecoveryOffsetReset::earliest) {
        boundary = low;
        consumer_->seek({topic, partition, low}, config_.request_timeout);
      } else {
        only_without_offsets = true;
        consumer_->seek({topic, partition, high}, config_.request_timeout);
      }
    }
  }
  for (auto& st : stores) {
    state::RestoreRequest request;
    request.store = st->store.get();
    request.store_name = st->name;
    request.changelog = st->changelog;
    request.partition = partition;
    request.source_topic = topic;
    request.boundary = boundary;
    request.only_without_offsets = only_without_offsets;
    restores.push_back(std::move(request));
  }
  restored.push_back(&task);
}

std::chrono::milliseconds Worker::open_transaction_wait() const {
  // CK-07: the coordinator aborts a dead producer's transaction after its
  // transaction.timeout.ms (this application's own setting is the best guess of its
  // predecessor's; librdkafka's default is 60 s); request_timeout covers the coordinator's
  // periodic check for timed-out transactions (10 s by default).
  std::int64_t txn_timeout_ms = 60000;
  if (auto v = kafka::get_option(settings_.producer_config, "transaction.timeout.ms")) {
    try {
      txn_timeout_ms = std::stoll(*v);
    } catch (const std::exception&) {
      // librdkafka rejected the producer config already if this were not a number.
    }
  }
  return std::chrono::milliseconds(txn_timeout_ms) + config_.request_timeout;
}

void Worker::restore_all(std::vector<state::RestoreRequest>& requests,
                         const std::atomic<bool>& stop) {
  if (requests.empty()) return;
  const auto txn_wait = open_transaction_wait();
  // Restoring is CPU-bound (decoding, RocksDB inserts): partitions restore side by side, one
  // consumer each, up to the number of cores.
  const std::size_t threads = std::min<std::size_t>(
      requests.size(), std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 4));
  while (restorers_.size() < threads) {
    restorers_.push_back(std::make_unique<state::Restorer>(settings_.restore_config));
  }
  if (threads == 1) {
    for (const auto& r : requests) {
      restorers_[0]->restore(r, stop, txn_wait);
      if (stop.load()) return;
    }
    return;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> halt{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, restorer = restorers_[t].get()] {
      for (std::size_t i; !halt.load() && !stop.load() && (i = next++) < requests.size();) {
        try {
          restorer->restore(requests[i], stop, txn_wait);
        } catch (...) {
          std::lock_guard lock(error_mutex);
          if (!error) error = std::current_exception();
          halt = true;
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

bool Worker::brokers_down() const {
  return brokers_down_since_.has_value() && config_.broker_availability_timeout.count() > 0;
}

std::chrono::milliseconds Worker::time_left(Clock::time_point deadline) const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::clamp(left, std::chrono::milliseconds(1000), config_.request_timeout);
}

void Worker::checkpoint_wait_step(const char* during) {
  // Serves the producer's events, among them its "all brokers down" report.
  producer_->poll(std::chrono::milliseconds(0));
  if (stop_fail_ != nullptr && stop_fail_->load()) {
    throw Interrupted(std::string("checkpoint interrupted while ") + during);
  }
  check_brokers();
}

std::chrono::milliseconds Worker::attempt_timeout(std::chrono::milliseconds budget) const {
  // During an outage, short attempts let check_brokers() end the wait on time; librdkafka
  // resumes a timed-out transaction call when it is called again.
  return brokers_down() ? std::min(budget, std::chrono::milliseconds(1000)) : budget;
}

void Worker::check_brokers() {
  if (config_.broker_availability_timeout.count() <= 0 || !consumer_ || consumer_->closed()) return;
  const auto now = Clock::now();
  // Either client may be the first to notice: a checkpoint flushing the producer does not
  // poll the consumer. librdkafka reports the moment every broker is down, never the moment
  // one is back: the probe below ends an outage.
  std::string reason;
  bool reported_down = false;
  for (const auto& e : consumer_->take_client_errors()) {
    if (e.code == kafka::code::all_brokers_down) {
      reported_down = true;
      reason = e.reason;
    }
  }
  if (producer_->take_all_brokers_down()) reported_down = true;
  if (reported_down && !brokers_down_since_) {
    // A client that was not polled during an outage (the consumer while a checkpoint waits
    // on the producer) hands over its report only after the outage ended: a broker that
    // answers now makes the report out of date.
    if (consumer_->probe_brokers(std::chrono::milliseconds(500)) == kafka::code::no_error) {
      logger()->debug("ignoring an out-of-date report that all Kafka brokers are down{}{}",
                      reason.empty() ? "" : ": ", reason);
      return;
    }
    brokers_down_since_ = now;
    last_broker_check_ = Clock::now();
    logger()->warn("all Kafka brokers are down{}{}", reason.empty() ? "" : ": ", reason);
  }
  if (!brokers_down_since_ || now - last_broker_check_ < std::chrono::seconds(1)) return;
  // During an outage, a metadata request once a second: any broker that answers ends it, so
  // the next outage is timed from its own start (APP-15).
  last_broker_check_ = now;
  const bool timed_out = now - *brokers_down_since_ >= config_.broker_availability_timeout;
  const int err = consumer_->probe_brokers(
      timed_out ? std::chrono::milliseconds(2000) : std::chrono::milliseconds(500));
  if (err == kafka::code::no_error) {
    logger()->info("Kafka brokers are reachable again after {:.1f} s",
                   std::chrono::duration<double>(Clock::now() - *brokers_down_since_).count());
    brokers_down_since_.reset();
    return;
  }
  if (!timed_out) return;
  brokers_unavailable_ = true;
  throw KafkaBrokerUnavailableError(
      err,
      "all Kafka brokers have been unavailable for more than " +
          std::to_string(config_.broker_availability_timeout.count()) +
          " ms (broker_availability_timeout): " + kafka::error_text(err),
      true, false);
}

void Worker::send(const std::string& topic, std::optional<std::string_view> key,
                  std::optional<std::string_view> value, std::int64_t timestamp,
                  const Headers* headers) {
  ensure_transaction();
  producer_->produce(topic, -1, key, value, timestamp, headers, nullptr);
}

void Worker::emit(Row& row, const MessageContext& context) {
  run_->outputs.fetch_add(1, std::memory_order_relaxed);
  const auto& opts = run_->options;
  if (opts.collect && (opts.count > 0 || opts.timeout.count() > 0)) {
    Value v = leaf_value(row, context, opts.metadata);
    std::lock_guard lock(run_->collected_mutex);
    run_->collected.push_back(std::move(v));
  }
}

void Worker::handle_message(const kafka::Message& m, RunState& run) {
  m.throw_if_error();
  if (m.end_of_partition()) return;  // only with enable.partition.eof in the consumer config
  TopicSlot* slot = slot_of(m);
  if (slot == nullptr || !slot->assigned[m.partition()]) return;  // fetched before a revoke
  PartitionTask& task = *slot->tasks[m.partition()];  // made when the partition was assigned
  SF_ASSERT(task.ready(), "a message of {}[{}] arrived before its state was restored", m.topic(),
            m.partition());
  const Topic::Definition& topic = task.graph().topic().definition();
  // No reset of brokers_down_since_ here: messages fetched before an outage keep arriving
  // from the local queue; only the metadata probe in check_brokers() says a broker is back.

  ++stats_.messages_consumed;
  task.begin_message(0, m.offset(), m.size());
  consumed_ = true;

  const TaskInput input{m.key(), m.value(), m.timestamp(), m.timestamp_type()};
  const bool collecting =
      run.options.collect && (run.options.count > 0 || run.options.timeout.count() > 0);
  if (!task.passthrough().empty() && !collecting) {
    forward_raw(m, input, task, *slot, run);
    return;
  }

  // Deserialization (consumer stage).
  Value key;
  rows_.clear();
  Headers headers;
  std::int64_t timestamp = 0;
  try {
    m.headers(headers);
    task.decode(input, headers, key, rows_, timestamp);
  } catch (const IgnoreMessage&) {
    logger()->debug("message ignored by the deserializer at {}[{}]@{}", topic.name, m.partition(),
                    m.offset());
    rows_.clear();
  } catch (Error& e) {
    e.set_origin(topic.name, m.partition(), m.offset());
    if (!deserialization_failed(m, e)) throw;
    rows_.clear();
  } catch (const std::exception& e) {
    SerializationError wrapped(std::string("deserialization failed: ") + e.what());
    wrapped.set_origin(topic.name, m.partition(), m.offset());
    if (!deserialization_failed(m, wrapped)) throw wrapped;
    rows_.clear();
  }

  // Processing: each row runs the whole DAG depth-first before the next (APP-25).
  const std::size_t row_count = rows_.size();
  bool dead_lettered = false;  // EXT-03: once per message, however many of its rows fail
  for (std::size_t i = 0; i < row_count; ++i) {
    // The last (usually only) row takes the key and headers; earlier ones get copies.
    const bool last = i + 1 == row_count;
    // NOLINTBEGIN(bugprone-use-after-move): moved from only for the last row
    Row row{std::move(rows_[i]), last ? std::move(key) : key, timestamp,
            last ? std::move(headers) : headers};
    // NOLINTEND(bugprone-use-after-move)
    ++stats_.rows_processed;
    try {
      task.run(row);
    } catch (const std::exception& e) {
      // The row as it entered the pipeline: decoded again from the raw message (only on this
      // error path) rather than copied up front for every row.
      Row failed{Value(), row.key, timestamp, row.headers};
      try {
        std::vector<Value> again;
        if (const auto value_bytes = m.value()) {
          topic.value_deserializer->deserialize(*value_bytes, failed.headers, again);
        }
        if (i < again.size()) failed.value = std::move(again[i]);
      } catch (const std::exception&) {
        // It decoded a moment ago; if it does not now, the context just has no value.
      }
      RawMessage raw = raw_message_of(m);
      ErrorContext ctx{&raw, &failed};
      auto error = std::current_exception();
      if (auto* sf = dynamic_cast<const Error*>(&e); sf == nullptr) {
        error = std::make_exception_ptr(Error(std::string("processing failed: ") + e.what()));
      }
      try {
        rethrow_with_origin(error, task.context());
      } catch (const std::exception& located) {
        const ErrorAction action = decide(config_.on_processing_error, located, ctx, "processing");
        if (action == ErrorAction::stop) throw;
        // dead_letter goes on with the next row as skip does; the message goes out once.
        if (action == ErrorAction::dead_letter && !dead_lettered) {
          dead_letter(m, located, "processing");
          dead_lettered = true;
        }
      }
    }
  }

  store_offset(*slot, topic, m);
}

void Worker::store_offset(TopicSlot& slot, const Topic::Definition& topic,
                          const kafka::Message& m) {
  std::int64_t& stored = slot.offsets[m.partition()];
  if (m.offset() <= stored) {
    throw InvalidStoredOffset("offset " + std::to_string(m.offset()) + " of " + topic.name + "[" +
                              std::to_string(m.partition()) + "] is not above the stored " +
                              std::to_string(stored));
  }
  if (stored < 0) slot.first_offsets[m.partition()] = m.offset();
  stored = m.offset();
  ++offsets_stored_;
  if (config_.on_message_processed)
    config_.on_message_processed(topic.name, m.partition(), m.offset());
  current_message_context() = nullptr;
}

void Worker::forward_raw(const kafka::Message& m, const TaskInput& input, PartitionTask& task,
                         TopicSlot& slot, RunState& run) {
  const Topic::Definition& topic = task.graph().topic().definition();
  try {
    task.validate(input);
  } catch (const IgnoreMessage&) {
    // TOP-10 on this path too: dropped, offset stored.
    logger()->debug("message ignored by the deserializer at {}[{}]@{}", topic.name, m.partition(),
                    m.offset());
    store_offset(slot, topic, m);
    return;
  } catch (Error& e) {
    e.set_origin(topic.name, m.partition(), m.offset());
    if (!deserialization_failed(m, e)) throw;
    store_offset(slot, topic, m);
    return;
  }
  ++stats_.rows_processed;
  // The headers go out as they came (a null value stays null), through a buffer kept across
  // messages: no allocation per header once warm.
  m.headers(forward_headers_);
  run.outputs += task.forward(input, forward_headers_.empty() ? nullptr : &forward_headers_);
  store_offset(slot, topic, m);
}

Worker::TopicSlot* Worker::slot_of(const kafka::Message& m) {
  auto it = slot_by_topic_id_.find(m.topic_id());
  if (it == slot_by_topic_id_.end()) {
    // First message of this topic: the string lookup happens once per topic, not per message.
    TopicSlot* slot = slot_of(std::string(m.topic()), m.partition());
    if (slot == nullptr) return nullptr;
    it = slot_by_topic_id_.emplace(m.topic_id(), slot).first;
  }
  TopicSlot* slot = it->second;
  if (static_cast<std::size_t>(m.partition()) >= slot->assigned.size()) return nullptr;
  return slot;
}

Worker::TopicSlot* Worker::slot_of(const std::string& topic, std::int32_t partition) {
  auto it = slots_.find(topic);
  if (it == slots_.end() || partition < 0) return nullptr;
  TopicSlot& slot = it->second;
  if (static_cast<std::size_t>(partition) >= slot.assigned.size()) {
    // Partitions can be added to a topic while it is consumed: grow on demand.
    slot.assigned.resize(partition + 1, 0);
    slot.offsets.resize(partition + 1, -1);
    slot.first_offsets.resize(partition + 1, -1);
  }
  return &slot;
}

void Worker::run(RunState& run, const std::atomic<bool>& stop, const std::atomic<bool>& stop_fail) {
  run_ = &run;
  stop_fail_ = &stop_fail;
  const auto started = Clock::now();
  last_activity_ = started;
  std::vector<kafka::Message> batch;
  batch.reserve(1024);
  const auto poll_timeout = std::min<std::chrono::milliseconds>(config_.consumer_poll_timeout,
                                                                std::chrono::milliseconds(100));
  try {
    while (!stop.load(std::memory_order_relaxed)) {
      batch.clear();
      consumer_->poll_batch(batch, 1024, poll_timeout);
      rethrow_pending();
      prepare_assigned(stop);
      for (auto& m : batch) {
        handle_message(m, run);
        if (checkpoint_due()) checkpoint(Clock::now() + settings_.flush_timeout);
        if (rewound_) break;  // the rest of the batch comes again from the rewound positions
        if (run.options.count > 0 && run.outputs >= run.options.count) {
          run.limit_reached = true;
          break;
        }
        if (stop.load(std::memory_order_relaxed)) break;
      }
      rewound_ = false;
      if (consumed_) {
        last_activity_ = Clock::now();
        consumed_ = false;
      }
      tick_operators();
      if (run.options.count > 0 && run.outputs >= run.options.count) run.limit_reached = true;
      // APP-25: serve the producer's callbacks (delivery reports reach on_producer_error here)
      // before taking the next messages. producer_poll_timeout > 0 waits up to that long for
      // the first report, but only while records are awaiting one: an idle loop never blocks.
      producer_->poll(producer_->outstanding() > 0 ? config_.producer_poll_timeout
                                                   : std::chrono::milliseconds(0));
      rethrow_pending();
      if (run.limit_reached) break;
      check_brokers();
      if (checkpoint_due()) checkpoint(Clock::now() + settings_.flush_timeout);
      if (run.options.timeout.count() > 0) {
        // Before the first assignment the app may still be joining the group: allow 60 s.
        const auto grace =
            assigned_count_ == 0 ? std::chrono::seconds(60) : std::chrono::seconds(0);
        if (Clock::now() - last_activity_ >= run.options.timeout + grace) break;
      }
    }
    current_message_context() = nullptr;
    if (stop_fail.load()) {
      failed_ = true;
    } else {
      checkpoint(Clock::now() + settings_.flush_timeout);
    }
  } catch (...) {
    current_message_context() = nullptr;
    run_ = nullptr;
    failed_ = true;  // the consumer's close must not commit what the error left behind
    throw;
  }
  run_ = nullptr;
}

}  // namespace streamframe::detail
