#include "app/worker.hpp"

#include <cxxabi.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <typeinfo>

#include "core/assert.hpp"
#include "core/crash_point.hpp"
#include "core/logging.hpp"
#include "dataframe/metadata.hpp"
#include "kafka/codes.hpp"
#include "serde/parse_reuse.hpp"
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

// PartitionTask::HeaderReader for a consumed message.
void read_message_headers(const void* message, Headers& out) {
  static_cast<const kafka::Message*>(message)->headers(out);
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
const char* action_name(ErrorAction action) {
  switch (action) {
    case ErrorAction::skip:
      return "skip";
    case ErrorAction::dead_letter:
      return "dead_letter";
    case ErrorAction::stop:
      break;
  }
  return "stop";
}

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
    if (g->stateful() && settings_.stores == nullptr) {
      throw ConfigError("stateful pipeline without a state store provider");
    }
    for (Sink* s : g->sinks()) sinks_.push_back(s);
  }
  if (settings_.metrics != nullptr) {
    metrics_ = std::make_unique<WorkerMetrics>(*settings_.metrics, settings_.index);
  }
  if (settings_.health != nullptr) health_ = settings_.health->add_worker(settings_.index);
  assignment_ = std::make_unique<Assignment>(settings_, *this);
  assignment_->observe(metrics_.get(), health_.get());
  for (Sink* s : sinks_) {
    // SNK-01: a failed setup goes to the sink's callback, which may resolve it.
    bool connected = false;
    try {
      s->setup();
      connected = true;
    } catch (...) {
      s->on_client_connect_failure(std::current_exception());
    }
    if (connected) s->on_client_connect_success();
  }
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

  if (assignment_->aligned() || settings_.report_partition_ends) {
    // KAF-04: an empty partition holds its task back until the fetcher reports its end; a
    // run with a timeout is idle only once every partition has reported it.
    kafka::set_option(settings_.consumer_config, "enable.partition.eof", "true");
  }
  kafka::RebalanceHandler handler;
  handler.on_assign = [this](const std::vector<kafka::TopicPartition>& tps) { on_assign(tps); };
  handler.on_revoke = [this](const std::vector<kafka::TopicPartition>& tps) { on_revoke(tps); };
  handler.on_lost = [this](const std::vector<kafka::TopicPartition>& tps) { on_lost(tps); };
  consumer_ = std::make_unique<kafka::Consumer>(settings_.consumer_config, std::move(handler));
  brokers_ = std::make_unique<kafka::BrokerWatch>(*consumer_, *producer_,
                                                  config_.broker_availability_timeout);
  checkpoint_ =
      std::make_unique<Checkpoint>(config_, settings_.exactly_once, *assignment_, *producer_,
                                   *consumer_, *brokers_, output_acks_, sinks_, pending_, stats_);
  checkpoint_->observe(metrics_.get(), health_.get());
  if (settings_.stores != nullptr)
    checkpoint_->set_memory_budget(settings_.stores->memory_budget());
  checkpoint_->set_on_rewind([this](const kafka::TopicPartition& tp) {
    rewound_.push_back(tp);
    drop_buffer(tp);
  });
  checkpoint_->set_on_back_off([this] {
    backed_off_ = true;
    if (assignment_->aligned()) hold_back_buffers();
  });
  const std::vector<std::string> topics = assignment_->topics();
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
  if (brokers_ && brokers_->unavailable() && producer_) {
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
  if (metrics_) metrics_->processing_error(stage, action_name(action));
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

void Worker::dead_letter(const kafka::Message& m, const std::exception& error, const char* stage) {
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
  checkpoint_->ensure_transaction();
  // Partition -1: the producer's partitioner, murmur2 of the raw key (KAF-01, like outputs).
  const std::int64_t timestamp = m.timestamp();
  producer_->produce(*config_.dead_letter_topic, -1, m.key(), m.value(),
                     timestamp > 0 ? timestamp : 0, &dead_letter_headers_, &dead_letter_tag_);
  checkpoint_->note_other_record();
  ++stats_.dead_lettered;
  logger()->debug("{} error: {}[{}]@{} sent to the dead-letter topic '{}'", stage, m.topic(),
                  m.partition(), m.offset(), *config_.dead_letter_topic);
}

void Worker::on_assign(const std::vector<kafka::TopicPartition>& tps) {
  assignment_->assign(tps);
  if (health_) {
    health_->joined();
    // Not ready until the next prepare() has opened and restored their stores.
    if (!tps.empty()) health_->restoring(true);
  }
  logger()->info("partitions assigned: {}", tps.size());
  last_activity_ = Clock::now();
}

void Worker::on_revoke(const std::vector<kafka::TopicPartition>& tps) {
  // Called from inside librdkafka: exceptions must not cross it.
  try {
    // CK-06: the revoke checkpoint gets its own, shorter budget; what is not confirmed in it
    // is aborted and nothing is committed.
    if (!pending_ && !failed_) checkpoint(Clock::now() + settings_.revoke_timeout);
  } catch (...) {
    pending_.set(std::current_exception());
  }
  release(tps);
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
  if (health_) health_->left();  // not a member until the group assigns again
  try {
    checkpoint_->abort_lost();
  } catch (...) {
    pending_.set(std::current_exception());
  }
  checkpoint_->forget();
  release(tps);
}

void Worker::release(const std::vector<kafka::TopicPartition>& tps) {
  for (const auto& tp : tps) drop_buffer(tp);
  checkpoint_->forget_partitions(tps);
  if (metrics_) forget_metrics(tps);
  assignment_->release(tps);
  last_activity_ = Clock::now();
}

void Worker::on_delivery(const kafka::DeliveryReport& report) {
  // Counted first: a deferred checkpoint waits for every output's answer, failed ones too.
  const int epoch = output_acks_.answered(report.opaque);
  const bool dead_letter = report.opaque == &dead_letter_tag_;
  const bool changelog = epoch < 0 && !dead_letter && report.opaque != nullptr;
  // A failure that is not skipped: the output's checkpoint must never commit. Dead letters
  // and changelogs need no mark: a checkpoint that produced them is never deferred, so they
  // always belong to the epoch after the deferred one, which the error leaves uncommitted.
  const auto lost = [&] {
    if (epoch >= 0) output_acks_.lost(epoch);
  };
  if (report.error_code == 0) {
    ++stats_.records_produced;
    if (metrics_) metrics_->produced(report.topic);
    if (changelog) {
      auto& delivered = static_cast<PartitionTask::Store*>(report.opaque)->delivered;
      delivered = std::max(delivered, report.offset);
    }
    return;
  }
  if (pending_) {
    lost();  // undecided, so never committed past
    return;
  }
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
    pending_.set(std::make_exception_ptr(KafkaError(
        report.error_code,
        "failed to deliver a dead-letter record to topic '" + std::string(report.topic) +
            "' partition " + std::to_string(report.partition) + ": " + std::string(report.error))));
    return;
  }
  if (changelog) {
    // A lost changelog record would lose state on the next recovery: never skippable.
    pending_.set(std::make_exception_ptr(KafkaError(
        report.error_code,
        "failed to deliver a changelog record to topic '" + std::string(report.topic) +
            "' partition " + std::to_string(report.partition) + ": " + std::string(report.error))));
    return;
  }
  KafkaError error(report.error_code, "failed to deliver a message to topic '" +
                                          std::string(report.topic) + "' partition " +
                                          std::to_string(report.partition) + ": " +
                                          std::string(report.error));
  try {
    const ErrorAction action = decide(config_.on_producer_error, error, ErrorContext{}, "producer");
    if (action != ErrorAction::skip) {
      lost();
      pending_.set(std::make_exception_ptr(error));
    }
  } catch (...) {
    lost();
    pending_.set(std::current_exception());
  }
}

void Worker::tick_operators() {
  if (!assignment_->ticks()) return;
  const std::int64_t now = now_ms();
  bool changed = false;
  assignment_->for_each_task(
      [&](Assignment::TaskGroup& group, std::int32_t partition, PartitionTask& task) {
        if (task.ready() && Assignment::assigned(group, partition)) {
          changed = task.tick(now) || changed;
        }
      });
  if (changed) checkpoint_->note_operator_changes();
}

std::int64_t Worker::now_ms() const {
  if (config_.clock) return config_.clock();
  return ExecContext::steady_ms();
}

void Worker::send(const std::string& topic, std::optional<std::string_view> key,
                  std::optional<std::string_view> value, std::int64_t timestamp,
                  const Headers* headers) {
  checkpoint_->ensure_transaction();
  producer_->produce(topic, -1, key, value, timestamp, headers, output_acks_.tag());
  output_acks_.produced();
}

void Worker::emit(Row& row, const MessageContext& context, std::uint32_t label) {
  run_->outputs.fetch_add(1, std::memory_order_relaxed);
  if (run_->collecting()) {
    Value v = leaf_value(row, context, run_->options.metadata);
    std::lock_guard lock(run_->collected_mutex);
    run_->collected.push_back(std::move(v));
    if (run_->options.output_labels != nullptr) run_->options.output_labels->push_back(label);
  }
}

bool Worker::emit_reads_headers() const {
  // Only collected rows with their metadata (app.run(..., metadata)) show headers.
  return run_->collecting() && run_->options.metadata;
}

void Worker::handle_message(const kafka::Message& m, Assignment::TopicSlot& slot_ref,
                            RunState& run) {
  Assignment::TopicSlot* slot = &slot_ref;
  // Made when the partition was assigned.
  PartitionTask& task = *slot->group->tasks[m.partition()];
  SF_ASSERT(task.ready(), "a message of {}[{}] arrived before its state was restored", m.topic(),
            m.partition());
  const Topic::Definition& topic = slot->graph->topic().definition();
  // No end of a broker outage here: messages fetched before it keep arriving from the local
  // queue; only the broker watch's metadata probe says a broker is back.

  ++stats_.messages_consumed;
  task.begin_message(slot->input, m.offset(), m.size());
  consumed_ = true;

  const TaskInput input{m.key(), m.value(), m.timestamp(), m.timestamp_type()};
  if (!task.passthrough().empty() && !run.collecting() && forward_raw(m, input, task, *slot, run)) {
    return;
  }

  // Deserialization (consumer stage).
  Value key;
  rows_.clear();
  Headers headers;
  std::int64_t timestamp = 0;
  // Headers are read now only if decoding looks at them, else when an operation asks (most
  // never do, and librdkafka allocates to answer even for a message without any).
  const bool headers_read = task.decoding_reads_headers();
  try {
    if (headers_read) m.headers(headers);
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
    {
      std::optional<PartitionTask::UnreadHeaders> unread;
      if (!headers_read) unread.emplace(task, row, &read_message_headers, &m);
      try {
        task.run(row);
      } catch (const std::exception&) {
        processing_failed(m, task, i, row, dead_lettered);
      }
    }
    // What the pipeline left of the value is storage for the next message's parse.
    detail::give_back_parsed(std::move(row.value));
  }
  processed(*slot, m);
}

void Worker::processing_failed(const kafka::Message& m, PartitionTask& task, std::size_t index,
                               const Row& row, bool& dead_lettered) {
  const Topic::Definition& topic = task.input_graph().topic().definition();
  try {
    task.load_headers(row);
  } catch (const KafkaError&) {
    // The error being reported matters more than headers librdkafka cannot parse.
  }
  // The row as it entered the pipeline: decoded again from the raw message (only on this
  // error path) rather than copied up front for every row.
  Row failed{Value(), row.key, row.timestamp, row.headers};
  try {
    std::vector<Value> again;
    if (const auto value_bytes = m.value()) {
      topic.value_deserializer->deserialize(*value_bytes, failed.headers, again);
    }
    if (index < again.size()) failed.value = std::move(again[index]);
  } catch (const std::exception&) {
    // It decoded a moment ago; if it does not now, the context just has no value.
  }
  RawMessage raw = raw_message_of(m);
  ErrorContext ctx{&raw, &failed};
  auto error = std::current_exception();
  try {
    std::rethrow_exception(error);
  } catch (const Error&) {
  } catch (const std::exception& e) {
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

void Worker::processed(Assignment::TopicSlot& slot, const kafka::Message& m) {
  checkpoint_->record(slot, m.partition(), m.offset());
  ++slot.consumed[static_cast<std::size_t>(m.partition())];
  if (config_.on_message_processed)
    config_.on_message_processed(slot.topic, m.partition(), m.offset());
  current_message_context() = nullptr;
}

bool Worker::forward_raw(const kafka::Message& m, const TaskInput& input, PartitionTask& task,
                         Assignment::TopicSlot& slot, RunState& run) {
  const Topic::Definition& topic = slot.graph->topic().definition();
  try {
    task.validate(input);
  } catch (const IgnoreMessage&) {
    // TOP-10 on this path too: dropped, offset stored.
    logger()->debug("message ignored by the deserializer at {}[{}]@{}", topic.name, m.partition(),
                    m.offset());
    processed(slot, m);
    return true;
  } catch (Error& e) {
    e.set_origin(topic.name, m.partition(), m.offset());
    if (!deserialization_failed(m, e)) throw;
    processed(slot, m);
    return true;
  }
  if (!task.encode_forward_keys(input)) return false;
  ++stats_.rows_processed;
  // The headers go out as they came (a null value stays null), through a buffer kept across
  // messages: no allocation per header once warm.
  m.headers(forward_headers_);
  run.outputs += task.forward(input, forward_headers_.empty() ? nullptr : &forward_headers_);
  processed(slot, m);
  return true;
}

void Worker::run(RunState& run, const std::atomic<bool>& stop, const std::atomic<bool>& stop_fail) {
  run_ = &run;
  checkpoint_->set_stop_fail(&stop_fail);
  last_activity_ = Clock::now();
  std::vector<kafka::Message> batch;
  batch.reserve(1024);
  try {
    while (!stop.load(std::memory_order_relaxed) && turn(batch, run, stop)) {
    }
    current_message_context() = nullptr;
    if (stop_fail.load()) {
      failed_ = true;
    } else {
      checkpoint(Clock::now() + settings_.flush_timeout);
    }
    if (metrics_) publish_metrics();
  } catch (...) {
    current_message_context() = nullptr;
    if (metrics_) {
      try {
        publish_metrics();  // what was processed before the error still counts
      } catch (...) {
      }
    }
    // The checkpoints completed before the error are committed, as they were before
    // checkpoints could be deferred: a deferred one is committed once its outputs are all
    // acknowledged (not if one was lost, nor after stop(fail)); any error doing so leaves it
    // uncommitted, which at-least-once allows.
    if (!stop_fail.load()) {
      try {
        checkpoint_->finish_deferred(Clock::now() + settings_.flush_timeout);
      } catch (const std::exception& e) {
        logger()->warn("the checkpoint before the error was not committed: {}", e.what());
      }
    }
    run_ = nullptr;
    failed_ = true;  // the consumer's close must not commit what the error left behind
    throw;
  }
  run_ = nullptr;
}

bool Worker::turn(std::vector<kafka::Message>& batch, RunState& run,
                  const std::atomic<bool>& stop) {
  const auto limit_reached = [&run] { return count_reached(run); };
  batch.clear();
  // A rewind before the poll is already in the batch (the seek drops what was fetched before
  // it).
  rewound_.clear();
  backed_off_ = false;
  consumer_->poll_batch(batch, 1024,
                        std::min<std::chrono::milliseconds>(config_.consumer_poll_timeout,
                                                            std::chrono::milliseconds(100)));
  pending_.rethrow();
  if (assignment_->prepare(*consumer_, stop)) last_activity_ = Clock::now();
  if (health_) {
    health_->restoring(false);
    health_->turned();
  }
  if (!run.assigned.load(std::memory_order_relaxed) && assignment_->assigned_count() > 0 &&
      !run.assigned.exchange(true) && run.on_first_assignment) {
    run.on_first_assignment();
  }
  // A rewind during the batch makes the rest of its messages of the rewound partitions come
  // again from the rewound positions, so they must not run now; those of the other
  // partitions are the only copy the consumer returns and must run, unless a sink's
  // backpressure paused every partition (SNK-03): they are then moved back to wait too.
  for (auto& m : batch) {
    if (!rewound_.empty() && was_rewound(m)) continue;
    m.throw_if_error();
    Assignment::TopicSlot* slot = assignment_->slot_of(m);
    // Fetched before a revoke, or a topic this worker does not read.
    if (slot == nullptr || !slot->assigned[m.partition()]) continue;
    if (backed_off_ && !m.end_of_partition()) {
      hold_back({std::string(m.topic()), m.partition(), m.offset()});
      continue;
    }
    // Only with enable.partition.eof in the config. It comes after the partition's messages
    // of the same fetch, so it means what came before it is all there was.
    if (m.end_of_partition()) {
      slot->at_end[m.partition()] = 1;
      continue;
    }
    slot->at_end[m.partition()] = 0;
    if (slot->group->aligned()) {
      buffer(m, *slot);
      continue;
    }
    // A stop (e.g. another worker's error) cut this partition's restore short in prepare():
    // its messages must not run. The worker is stopping and nothing after this point is
    // committed, so the batch ends here, as it does after any message once stop is set.
    if (!slot->group->tasks[m.partition()]->ready() && stop.load(std::memory_order_relaxed)) {
      break;
    }
    handle_message(m, *slot, run);
    if (checkpoint_->due()) checkpoint(Clock::now() + settings_.flush_timeout, true);
    if (limit_reached() || stop.load(std::memory_order_relaxed)) break;
  }
  if (assignment_->aligned() && !limit_reached() && !stop.load(std::memory_order_relaxed)) {
    (void)drain_aligned(run, stop);
  }
  if (consumed_) {
    last_activity_ = Clock::now();
    consumed_ = false;
  }
  tick_operators();
  if (metrics_) publish_metrics();
  if (limit_reached()) run.limit_reached = true;
  // APP-25: serve the producer's callbacks (delivery reports reach on_producer_error here)
  // before taking the next messages. producer_poll_timeout > 0 waits up to that long for
  // the first report, but only while records are awaiting one: an idle loop never blocks.
  producer_->poll(producer_->outstanding() > 0 ? config_.producer_poll_timeout
                                               : std::chrono::milliseconds(0));
  pending_.rethrow();
  checkpoint_->settle(Clock::now() + settings_.flush_timeout);
  if (run.limit_reached) return false;
  checkpoint_->check_brokers();
  checkpoint_->resume_if_due();
  if (checkpoint_->due()) checkpoint(Clock::now() + settings_.flush_timeout, true);
  if (run.options.timeout.count() > 0 && idle_timeout_expired(run)) return false;
  return true;
}

bool Worker::count_reached(const RunState& run) {
  return run.options.count > 0 && run.outputs >= run.options.count;
}

void Worker::hold_back(const kafka::TopicPartition& from) {
  rewound_.push_back(from);
  drop_buffer(from);
  try {
    consumer_->seek(from, config_.request_timeout);
  } catch (const KafkaError& e) {
    // A partition being revoked cannot be sought; its next owner starts from the commit.
    logger()->warn("moving {}[{}] back to offset {} failed: {}", from.topic, from.partition,
                   from.offset, e.what());
  }
}

void Worker::hold_back_buffers() {
  for (auto& group_ptr : assignment_->groups()) {
    for (Assignment::TopicSlot* input : group_ptr->inputs) {
      for (std::size_t p = 0; p < input->buffers.size(); ++p) {
        auto& buffer = input->buffers[p];
        if (buffer.messages.empty()) continue;
        const kafka::TopicPartition head{input->topic, static_cast<std::int32_t>(p),
                                         buffer.messages.front().offset()};
        hold_back(head);
      }
    }
  }
}

bool Worker::was_rewound(const kafka::Message& m) const {
  return std::any_of(rewound_.begin(), rewound_.end(), [&](const kafka::TopicPartition& tp) {
    return tp.partition == m.partition() && tp.topic == m.topic();
  });
}

void Worker::buffer(kafka::Message& m, Assignment::TopicSlot& slot) {
  const std::int32_t partition = m.partition();
  Assignment::PartitionBuffer& buffer = slot.buffers[partition];
  // A buffered message may wait for the task's other partitions for long; attached, it would
  // keep its whole fetch response (every partition's records fetched with it) in memory.
  m.detach();
  buffer.messages.push_back(std::move(m));
  consumed_ = true;
  // APP-13: what was fetched before the pause still arrives, so a buffer may reach about
  // twice the limit.
  if (!buffer.paused && buffer.messages.size() >= config_.max_partition_buffer_size) {
    consumer_->pause({{slot.topic, partition}});
    buffer.paused = true;
  }
}

bool Worker::drain_aligned(RunState& run, const std::atomic<bool>& stop) {
  for (auto& group_ptr : assignment_->groups()) {
    Assignment::TaskGroup& group = *group_ptr;
    if (!group.aligned()) continue;
    for (std::size_t p = 0; p < group.assigned.size(); ++p) {
      // A task whose restore a stop cut short is not ready: its messages wait.
      while (group.assigned[p] > 0 && group.tasks[p]->ready()) {
        Assignment::TopicSlot* next = nullptr;
        std::int64_t next_ts = 0;
        bool wait = false;
        for (Assignment::TopicSlot* input : group.inputs) {
          if (p >= input->assigned.size() || !input->assigned[p]) continue;
          const auto& buffer = input->buffers[p];
          if (buffer.messages.empty()) {
            // Not known to be at its end: its next message may come before every head.
            wait = !input->at_end[p];
            if (wait) break;
            continue;
          }
          const std::int64_t ts = buffer.messages.front().timestamp();
          if (next == nullptr || ts < next_ts) {  // strict: a tie goes to the earlier topic
            next = input;
            next_ts = ts;
          }
        }
        if (wait || next == nullptr) break;
        Assignment::PartitionBuffer& buffer = next->buffers[p];
        const kafka::Message m = std::move(buffer.messages.front());
        buffer.messages.pop_front();
        if (buffer.paused && buffer.messages.size() < config_.max_partition_buffer_size) {
          consumer_->resume({{next->topic, static_cast<std::int32_t>(p)}});
          buffer.paused = false;
        }
        handle_message(m, *next, run);
        if (checkpoint_->due()) checkpoint(Clock::now() + settings_.flush_timeout, true);
        if (count_reached(run) || stop.load(std::memory_order_relaxed)) return false;
      }
    }
  }
  return true;
}

void Worker::drop_buffer(const kafka::TopicPartition& tp) {
  Assignment::TopicSlot* slot = assignment_->slot_of(tp.topic, tp.partition);
  if (slot == nullptr) return;
  // Its messages come again from an earlier offset, and so does its end.
  slot->at_end[tp.partition] = 0;
  if (!slot->group->aligned()) return;
  Assignment::PartitionBuffer& buffer = slot->buffers[tp.partition];
  buffer.messages.clear();
  if (buffer.paused) {
    buffer.paused = false;
    try {
      consumer_->resume({{tp.topic, tp.partition}});
    } catch (const KafkaError& e) {
      // A partition being revoked may refuse; its next assignment starts unpaused.
      logger()->warn("resuming {}[{}] failed: {}", tp.topic, tp.partition, e.what());
    }
  }
}

bool Worker::idle_timeout_expired(const RunState& run) const {
  const auto idle = Clock::now() - last_activity_;
  if (idle < run.options.timeout) return false;
  // The timeout means "nothing more to read", which is known only once the fetcher has
  // reported the end of every assigned partition: before the first assignment the app may
  // still be joining the group, and after it a loaded machine may take longer than a short
  // timeout to look up the start offsets and fetch (the messages already in the topic would
  // then be left unread). Both get up to 60 s.
  constexpr auto kStartGrace = std::chrono::seconds(60);
  if (idle >= run.options.timeout + kStartGrace) return true;
  if (assignment_->assigned_count() == 0) return false;
  // A known high watermark is not enough: the fetcher learns it from a fetch response before
  // that response's messages reach the consumer, and a partition may take several fetches.
  // The end-of-partition report comes after the messages, in the same queue.
  for (const auto& group : assignment_->groups()) {
    for (const Assignment::TopicSlot* slot : group->inputs) {
      for (std::size_t p = 0; p < slot->assigned.size(); ++p) {
        if (!slot->assigned[p]) continue;
        if (!slot->at_end[p]) return false;
        if (group->aligned() && !slot->buffers[p].messages.empty()) return false;
      }
    }
  }
  return true;
}

void Worker::publish_metrics() {
  for (auto& group : assignment_->groups()) {
    for (Assignment::TopicSlot* slot : group->inputs) {
      for (std::size_t p = 0; p < slot->consumed.size(); ++p) {
        if (slot->consumed[p] == 0) continue;
        metrics_->consumed(slot->topic, static_cast<std::int32_t>(p), slot->consumed[p]);
        slot->consumed[p] = 0;
      }
    }
  }
  metrics_->publish();
  // The lag once a second: positions and watermarks are the consumer's cached values (no
  // request), but a turn is shorter than a scrape interval.
  const auto now = Clock::now();
  if (now - last_lag_ < std::chrono::seconds(1)) return;
  last_lag_ = now;
  publish_state_sizes();
  lag_partitions_.clear();
  for (auto& group : assignment_->groups()) {
    for (Assignment::TopicSlot* slot : group->inputs) {
      for (std::size_t p = 0; p < slot->assigned.size(); ++p) {
        if (slot->assigned[p])
          lag_partitions_.push_back({slot->topic, static_cast<std::int32_t>(p)});
      }
    }
  }
  if (lag_partitions_.empty()) return;
  std::vector<kafka::TopicPartition> positions;
  try {
    positions = consumer_->position(lag_partitions_);
  } catch (const KafkaError& e) {
    logger()->debug("consumer lag not measured: {}", e.what());
    return;
  }
  const auto start_of = [this](const kafka::TopicPartition& tp) -> kafka::TopicPartition* {
    for (auto& s : start_offsets_) {
      if (s.partition == tp.partition && s.topic == tp.topic) return &s;
    }
    return nullptr;
  };
  // A caught-up partition shows lag 0 after a rebalance, not no series at all.
  std::vector<kafka::TopicPartition> unknown;
  for (const auto& tp : positions) {
    if (tp.offset < 0 && start_of(tp) == nullptr) unknown.push_back({tp.topic, tp.partition});
  }
  // Asked again after a failed request or while there is no committed offset (that is, until
  // the first commit), but not more than every 5 s: the request holds up the loop turn.
  if (!unknown.empty() && now >= next_start_lookup_) {
    next_start_lookup_ = now + std::chrono::seconds(5);
    try {
      for (auto& c : consumer_->committed(unknown, std::chrono::milliseconds(500))) {
        if (c.offset >= 0) start_offsets_.push_back(std::move(c));
      }
    } catch (const KafkaError& e) {
      logger()->debug("consumer lag of idle partitions not measured: {}", e.what());
    }
  }
  for (const auto& tp : positions) {
    const std::int64_t high = consumer_->get_watermarks(tp.topic, tp.partition).second;
    std::int64_t position = tp.offset;
    if (position < 0) {
      if (const auto* start = start_of(tp)) position = start->offset;
    }
    // Nothing fetched yet, or no position known: not known, so not reported.
    if (high < 0 || position < 0) continue;
    metrics_->lag(tp.topic, tp.partition, std::max<std::int64_t>(high - position, 0));
  }
}

void Worker::forget_metrics(const std::vector<kafka::TopicPartition>& tps) {
  for (const auto& tp : tps) {
    metrics_->forget(tp.topic, tp.partition);
    std::erase_if(start_offsets_, [&tp](const kafka::TopicPartition& s) {
      return s.partition == tp.partition && s.topic == tp.topic;
    });
    next_start_lookup_ = {};  // the next assignment's partitions are asked for at once
    Assignment::TopicSlot* slot = assignment_->slot_of(tp.topic, tp.partition);
    if (slot == nullptr) continue;
    // What was counted of it still goes to the series.
    if (static_cast<std::size_t>(tp.partition) < slot->consumed.size() &&
        slot->consumed[tp.partition] > 0) {
      metrics_->consumed(slot->topic, tp.partition, slot->consumed[tp.partition]);
      slot->consumed[tp.partition] = 0;
    }
    if (static_cast<std::size_t>(tp.partition) >= slot->group->tasks.size()) continue;
    if (const auto& task = slot->group->tasks[tp.partition]) {
      for (const auto& st : task->stores()) metrics_->forget_store(st->name, tp.partition);
    }
  }
}

void Worker::publish_state_sizes() {
  assignment_->for_each_task(
      [this](Assignment::TaskGroup&, std::int32_t partition, PartitionTask& task) {
        for (const auto& st : task.stores()) {
          if (st->store && !st->store->closed()) {
            metrics_->state_bytes(st->name, partition, st->store->approximate_bytes());
          }
        }
      });
}

}  // namespace streamframe::detail
