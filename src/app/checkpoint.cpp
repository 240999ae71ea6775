#include "app/checkpoint.hpp"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <thread>

#include "core/crash_point.hpp"
#include "core/logging.hpp"
#include "kafka/codes.hpp"
#include "state/recovery.hpp"
#include "state/transaction.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {

using Clock = std::chrono::steady_clock;

Checkpoint::Checkpoint(const ApplicationConfig& config, bool exactly_once, Assignment& assignment,
                       kafka::Producer& producer, kafka::Consumer& consumer,
                       kafka::BrokerWatch& brokers, OutputAcks& acks, std::vector<Sink*> sinks,
                       PendingError& pending, RunStats& stats)
    : config_(config),
      exactly_once_(exactly_once),
      assignment_(assignment),
      producer_(producer),
      consumer_(consumer),
      brokers_(brokers),
      acks_(acks),
      sinks_(std::move(sinks)),
      pending_(pending),
      stats_(stats),
      progress_(assignment.topic_count()),
      started_(Clock::now()) {
  const auto topics = assignment.topics();
  for (std::size_t i = 0; i < topics.size(); ++i) progress_[i].topic = topics[i];
}

void Checkpoint::record(const Assignment::TopicSlot& slot, std::int32_t partition,
                        std::int64_t offset) {
  TopicProgress& progress = progress_[slot.index];
  const auto p = static_cast<std::size_t>(partition);
  if (p >= progress.offsets.size()) {
    // Partitions can be added to a topic while it is consumed: grow on demand.
    progress.offsets.resize(p + 1, -1);
    progress.first_offsets.resize(p + 1, -1);
  }
  std::int64_t& stored = progress.offsets[p];
  if (offset <= stored) {
    throw InvalidStoredOffset("offset " + std::to_string(offset) + " of " + slot.topic + "[" +
                              std::to_string(partition) + "] is not above the stored " +
                              std::to_string(stored));
  }
  if (stored < 0) progress.first_offsets[p] = offset;
  stored = offset;
  ++offsets_stored_;
}

std::int64_t Checkpoint::processed(const Assignment::TopicSlot& slot,
                                   std::int32_t partition) const {
  const TopicProgress& progress = progress_[slot.index];
  const auto p = static_cast<std::size_t>(partition);
  return p < progress.offsets.size() ? progress.offsets[p] : -1;
}

void Checkpoint::forget_partitions(const std::vector<kafka::TopicPartition>& tps) {
  if (deferred_) {
    // Committing a partition this member no longer owns could overwrite its next owner's
    // commit; the next owner processes it again from the last commit instead.
    const auto revoked = [&tps](const kafka::TopicPartition& d) {
      return std::any_of(tps.begin(), tps.end(), [&d](const kafka::TopicPartition& tp) {
        return tp.partition == d.partition && tp.topic == d.topic;
      });
    };
    std::erase_if(deferred_->offsets, revoked);
    std::erase_if(deferred_->rewind_to, revoked);
  }
  for (const auto& tp : tps) {
    for (auto& progress : progress_) {
      if (progress.topic == tp.topic && tp.partition >= 0 &&
          static_cast<std::size_t>(tp.partition) < progress.offsets.size()) {
        progress.offsets[tp.partition] = -1;
      }
    }
  }
}

void Checkpoint::abort_lost() {
  if (exactly_once_ && producer_.in_transaction()) {
    // Delivered first: an abort while librdkafka is still adding the records' partitions to
    // the transaction can fail fatally with INVALID_TXN_STATE (librdkafka #4849, seen here
    // when the group coordinator's broker stopped). Delivered records of an aborted
    // transaction are never visible, so the flush changes nothing for readers.
    producer_.flush(
        std::min<std::chrono::milliseconds>(config_.request_timeout, std::chrono::seconds(5)));
    producer_.abort_transaction(config_.request_timeout);
  }
}

namespace {
CheckpointProducerTimeout producer_timeout(std::int64_t undelivered) {
  return CheckpointProducerTimeout("checkpoint: the producer did not deliver " +
                                   std::to_string(undelivered) +
                                   " records within the flush timeout");
}
}  // namespace

void Checkpoint::flush_producer_or_throw(Clock::time_point deadline) {
  if (!flush_producer(deadline)) throw producer_timeout(producer_.outstanding());
  pending_.rethrow();
}

std::chrono::milliseconds Checkpoint::time_left(Clock::time_point deadline) const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::clamp(left, std::chrono::milliseconds(1000), config_.request_timeout);
}

void Checkpoint::wait_step(const char* during) {
  if (health_ != nullptr) health_->turned();
  // Serves the producer's events, among them its "all brokers down" report.
  producer_.poll(std::chrono::milliseconds(0));
  if (stop_fail_ != nullptr && stop_fail_->load()) {
    throw Interrupted(std::string("checkpoint interrupted while ") + during);
  }
  brokers_.check();
}

bool Checkpoint::flush_producer(Clock::time_point deadline) {
  // Flush in short steps so a second SIGINT (stop with fail) cuts a hanging flush short, and
  // so a record that failed ends the wait: this checkpoint cannot succeed any more, and the
  // rest may never be answered (a record for a partition deleted meanwhile stayed queued for
  // minutes under exactly-once, holding run() in the flush up to flush_timeout).
  while (!producer_.flush(std::chrono::milliseconds(100))) {
    pending_.rethrow();
    wait_step("waiting for the producer");
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

void Checkpoint::rearm_memory_pressure() noexcept {
  if (!budget_) return;
  // Over the budget or a quarter above what the caches kept after this checkpoint, whichever
  // is more: what they cannot drop must not make every message a checkpoint.
  const std::size_t limit = budget_->limit();
  pressure_at_ = std::max(limit, budget_->used() + limit / 4);
}

bool Checkpoint::due() const {
  const bool memory = budget_ && budget_->used() >= pressure_at_;
  if (offsets_stored_ == 0) {
    return operator_changes_ && (memory || Clock::now() - started_ >= config_.commit_interval);
  }
  if (memory) return true;
  if (config_.commit_every > 0 && offsets_stored_ >= config_.commit_every) return true;
  if (config_.commit_interval.count() <= 0) return true;  // APP-04: after every message
  return coarse_now() - started_ >= config_.commit_interval;
}

bool Checkpoint::deferrable() {
  if (exactly_once_ || operator_changes_ || other_records_) return false;
  bool writes = false;
  assignment_.for_each_task([&writes](Assignment::TaskGroup&, std::int32_t, PartitionTask& task) {
    writes = writes || task.has_writes();
  });
  return !writes;
}

void Checkpoint::defer(std::vector<kafka::TopicPartition> offsets) {
  Deferred d;
  d.offsets = std::move(offsets);
  for (auto& progress : progress_) {
    for (std::size_t p = 0; p < progress.offsets.size(); ++p) {
      if (progress.offsets[p] >= 0) {
        d.rewind_to.push_back(
            {progress.topic, static_cast<std::int32_t>(p), progress.first_offsets[p]});
      }
    }
    std::fill(progress.offsets.begin(), progress.offsets.end(), -1);
  }
  d.epoch = acks_.next_epoch();
  d.messages = offsets_stored_;
  d.started = started_;
  deferred_ = std::move(d);
  offsets_stored_ = 0;
  crash_point("checkpoint.deferred");
}

void Checkpoint::finish_deferred(Clock::time_point deadline) {
  if (deferred_) (void)complete_deferred(deadline, false);
}

void Checkpoint::settle(Clock::time_point deadline) {
  if (!deferred_ || pending_ || acks_.in_flight(deferred_->epoch) > 0) return;
  (void)commit_deferred(deadline);
}

bool Checkpoint::complete_deferred(Clock::time_point deadline, bool rethrow_pending) {
  // Only the deferred epoch's outputs: those produced since go on without being waited for.
  const int epoch = deferred_->epoch;
  const auto check_lost = [&] {
    if (rethrow_pending) pending_.rethrow();
    if (acks_.lost_any(epoch)) {
      throw CheckpointProducerTimeout(
          "checkpoint: an output record of the deferred checkpoint was not delivered");
    }
  };
  while (acks_.in_flight(epoch) > 0) {
    producer_.poll(std::chrono::milliseconds(10));
    check_lost();
    wait_step("waiting for the producer");
    if (Clock::now() >= deadline) throw producer_timeout(acks_.in_flight(epoch));
  }
  check_lost();
  return commit_deferred(deadline);
}

bool Checkpoint::commit_deferred(Clock::time_point deadline) {
  const auto called = Clock::now();
  settle_stores();
  crash_point("checkpoint.deferred.acknowledged");
  if (!deferred_->offsets.empty() && !commit_offsets_or_rewind(deferred_->offsets, deadline)) {
    return false;
  }
  if (logger()->should_log(spdlog::level::debug)) {
    logger()->debug(
        "checkpoint: {} messages, {} partition offsets committed {:.1f} ms after it started "
        "(deferred: processing went on while their outputs were acknowledged)",
        deferred_->messages, deferred_->offsets.size(),
        std::chrono::duration<double, std::milli>(Clock::now() - deferred_->started).count());
  }
  deferred_.reset();
  ++stats_.checkpoints;
  ++stats_.checkpoints_deferred;
  counted(CheckpointResult::committed, Clock::now() - called);
  rearm_memory_pressure();
  return true;
}

void Checkpoint::commit(Clock::time_point deadline, bool may_defer) {
  settle_stores();
  // A deferred checkpoint's offsets come first (commits keep their order); a failure there
  // rewinds past this checkpoint's messages too.
  if (deferred_ && !complete_deferred(deadline)) return;
  started_ = Clock::now();
  std::vector<kafka::TopicPartition> commit;
  for (const auto& progress : progress_) {
    for (std::size_t p = 0; p < progress.offsets.size(); ++p) {
      if (progress.offsets[p] >= 0) {
        commit.push_back({progress.topic, static_cast<std::int32_t>(p), progress.offsets[p] + 1});
      }
    }
  }
  if (commit.empty() && !operator_changes_) {
    counted(CheckpointResult::empty);
    offsets_stored_ = 0;
    if (exactly_once_ && producer_.in_transaction()) {
      producer_.abort_transaction(config_.request_timeout);  // CK-02: empty => abort
    }
    return;
  }
  // CK-02: 1 sinks, 2 changelogs, 3 everything produced is acknowledged, 4 offsets committed
  // (or the transaction with them), 5 store batches written with their changelog offsets. A
  // failure in steps 1-4 leaves offsets and stores untouched, so the records are processed
  // again from the last checkpoint.
  try {
    for (Sink* s : sinks_) s->flush();
  } catch (const SinkBackpressureError& e) {
    back_off(e);
    return;
  }
  flush_operators();
  sweep_expired();
  if (may_defer && !commit.empty() && deferrable()) {
    defer(std::move(commit));
    // Nothing of it to wait for (no outputs, or all acknowledged already): commit now.
    if (acks_.in_flight(deferred_->epoch) == 0) (void)commit_deferred(deadline);
    return;
  }
  if (!exactly_once_ && operator_changes_) {
    // At-least-once: changes made outside any message (idle closing) carry no
    // processed-offsets header, so a restore applies them even if this checkpoint never
    // completes. Their outputs (the windows idle closing emitted) must therefore be
    // acknowledged before the changes are: a crash in between then repeats a window rather
    // than losing it.
    flush_producer_or_throw(deadline);
  }
  produce_changelogs();
  const auto flush_started = Clock::now();
  flush_producer_or_throw(deadline);
  const auto flushed = Clock::now();
  crash_point("checkpoint.flushed");
  if (exactly_once_) {
    if (!commit_transaction(commit, deadline)) {
      rewind();
      return;
    }
  } else if (!commit.empty() && !commit_offsets_or_rewind(commit, deadline)) {
    return;
  }
  for (auto& progress : progress_) std::fill(progress.offsets.begin(), progress.offsets.end(), -1);
  assignment_.for_each_task(
      [](Assignment::TaskGroup&, std::int32_t, PartitionTask& task) { task.commit_writes(); });
  // Processing stands still for the whole checkpoint: its parts, for tracing where latency
  // comes from (debug level: off unless asked for).
  if (logger()->should_log(spdlog::level::debug)) {
    const auto ms = [](Clock::duration d) {
      return std::chrono::duration<double, std::milli>(d).count();
    };
    const auto done = Clock::now();
    logger()->debug(
        "checkpoint: {} messages, {} partition offsets; {:.1f} ms in all: before the flush "
        "{:.1f} ms, waiting for acknowledgements {:.1f} ms, {} and stores {:.1f} ms",
        offsets_stored_, commit.size(), ms(done - started_), ms(flush_started - started_),
        ms(flushed - flush_started), exactly_once_ ? "transaction commit" : "offset commit",
        ms(done - flushed));
  }
  offsets_stored_ = 0;
  operator_changes_ = false;
  other_records_ = false;  // every record so far was acknowledged
  ++stats_.checkpoints;
  counted(CheckpointResult::committed, Clock::now() - started_);
  rearm_memory_pressure();
}

void Checkpoint::settle_stores() {
  assignment_.for_each_task([](Assignment::TaskGroup&, std::int32_t, PartitionTask& task) {
    if (task.ready()) task.settle_stores();
  });
}

void Checkpoint::flush_operators() {
  assignment_.for_each_task([](Assignment::TaskGroup&, std::int32_t, PartitionTask& task) {
    if (task.ready()) task.flush_operators();
  });
}

void Checkpoint::sweep_expired() {
  const std::size_t limit = config_.rocksdb_options.max_evictions_per_flush;
  assignment_.for_each_task([limit](Assignment::TaskGroup&, std::int32_t, PartitionTask& task) {
    if (task.ready()) (void)task.sweep_expired(limit);
  });
}

void Checkpoint::produce_changelogs() {
  assignment_.for_each_task(
      [this](Assignment::TaskGroup& group, std::int32_t partition, PartitionTask& task) {
        bool headers_ready = false;
        task.for_each_change([&](PartitionTask::Store& st, std::string_view key,
                                 std::optional<std::string_view> value) {
          if (st.changelog.empty()) return;
          if (!headers_ready) {
            ensure_transaction();
            changelog_headers_.clear();
            changelog_headers_.emplace_back(state::kColumnFamilyHeader, "default");
            // ST-04: every input partition of the task that processed a message since the
            // last checkpoint (a concat of different topics has several).
            processed_offsets_.clear();
            for (const Assignment::TopicSlot* input : group.inputs) {
              const std::int64_t offset = processed(*input, partition);
              if (offset >= 0) processed_offsets_.emplace_back(input->topic, offset);
            }
            if (!processed_offsets_.empty()) {
              changelog_headers_.emplace_back(state::kProcessedOffsetsHeader,
                                              state::processed_offsets_header(processed_offsets_));
            }
            headers_ready = true;
          }
          producer_.produce(st.changelog, partition, key, value, 0, &changelog_headers_, &st);
        });
      });
}

void Checkpoint::ensure_transaction() {
  if (exactly_once_ && !producer_.in_transaction()) producer_.begin_transaction();
}

bool Checkpoint::commit_transaction(const std::vector<kafka::TopicPartition>& offsets,
                                    Clock::time_point deadline) {
  ensure_transaction();
  try {
    if (!offsets.empty()) {
      // librdkafka alone may wait forever here (see Producer::send_offsets_to_transaction).
      producer_.send_offsets_to_transaction(offsets, consumer_, time_left(deadline), [this] {
        wait_step("sending the offsets to the transaction");
      });
    }
    for (int attempt = 1;; ++attempt) {
      try {
        producer_.commit_transaction(brokers_.attempt_timeout(time_left(deadline)));
        return true;
      } catch (const KafkaError& e) {
        // A retriable error leaves the outcome open: committing again is the documented way
        // to learn it; anything else falls through to abort or stop. During an outage the
        // retries go on until check_brokers() ends them with APP-15.
        if (!e.retriable()) throw;
        wait_step("committing the transaction");
        if (!brokers_.down() && (attempt >= 3 || Clock::now() >= deadline)) throw;
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
    brokers_.check();
    bool aborted = false;
    try {
      aborted = !e.fatal() && abort_failed_transaction(deadline);
    } catch (const KafkaBrokerUnavailableError&) {
      throw;
    } catch (const KafkaError& abort_error) {
      // The abort's own error (e.g. the producer fenced while aborting, raised by the poll
      // between attempts) says nothing of why the transaction failed: report both.
      throw KafkaError(e.code(),
                       fmt::format("checkpoint: the transaction did not commit: {}; aborting it "
                                   "failed too: {}",
                                   e.what(), abort_error.what()),
                       false, e.fatal() || abort_error.fatal(), e.txn_requires_abort());
    }
    if (aborted && e.txn_requires_abort()) {
      // E.g. the group moved on (a new generation or member id) while this transaction was
      // open: nothing of it is visible, so processing again from the last commit is exact.
      logger()->warn(
          "checkpoint: the transaction was aborted ({}); processing again from the "
          "last committed offsets",
          e.what());
      ++stats_.checkpoints_aborted;
      counted(CheckpointResult::aborted);
      return false;
    }
    throw KafkaError(e.code(),
                     std::string("checkpoint: the transaction did not commit: ") + e.what(),
                     e.retriable(), e.fatal(), e.txn_requires_abort());
  }
}

bool Checkpoint::abort_failed_transaction(Clock::time_point deadline) {
  for (int attempt = 1;; ++attempt) {
    try {
      producer_.abort_transaction(brokers_.attempt_timeout(time_left(deadline)));
      return true;
    } catch (const KafkaError& abort_error) {
      // The abort needs the transaction coordinator too. While every broker is down it times
      // out; retrying it is librdkafka's documented way to resume, and check_brokers() ends
      // the wait with APP-15 once the outage passes broker_availability_timeout, so the error
      // reported is the outage, not this checkpoint (the race CI hit: the send of the offsets
      // failed at once, the abort then timed out well after the timeout).
      wait_step("aborting the failed transaction");
      if (!abort_error.retriable() || (!brokers_.down() && attempt >= 3)) {
        logger()->warn("aborting the failed transaction failed too: {}", abort_error.what());
        return false;
      }
      logger()->warn("aborting the failed transaction failed (attempt {}), retrying: {}", attempt,
                     abort_error.what());
    }
  }
}

bool Checkpoint::commit_offsets_or_rewind(const std::vector<kafka::TopicPartition>& offsets,
                                          Clock::time_point deadline) {
  try {
    commit_offsets(offsets, deadline);
    return true;
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
      counted(CheckpointResult::aborted);
      rewind();
      return false;
    }
    throw CheckpointConsumerCommitError(std::string("checkpoint: committing offsets failed: ") +
                                        e.what());
  }
}

void Checkpoint::commit_offsets(const std::vector<kafka::TopicPartition>& offsets,
                                Clock::time_point deadline) {
  // A group coordinator that is being looked up or loaded (after a broker restart) refuses the
  // commit with a retriable error; the same offsets are committed again once it answers, up
  // to the checkpoint's deadline (a long outage ends the wait through check_brokers()).
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    try {
      consumer_.commit(offsets);
      return;
    } catch (const KafkaError& e) {
      if (!e.retriable() || e.fatal() || Clock::now() + backoff >= deadline) throw;
      logger()->warn("checkpoint: committing offsets failed, retrying in {} ms: {}",
                     backoff.count(), e.what());
    }
    const auto until = Clock::now() + backoff;
    while (Clock::now() < until) {
      wait_step("committing offsets");
      std::this_thread::sleep_for(
          std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(50)));
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

void Checkpoint::rewind() {
  // Everything since the last commit is forgotten: pending state writes, processed offsets
  // (a deferred checkpoint's too), and the fetch positions, which go back to the first offset
  // processed after it: the deferred checkpoint's where it has one, it came first.
  std::vector<kafka::TopicPartition> targets;
  if (deferred_) targets = deferred_->rewind_to;
  for (const auto& progress : progress_) {
    for (std::size_t p = 0; p < progress.offsets.size(); ++p) {
      if (progress.offsets[p] < 0) continue;
      const kafka::TopicPartition tp{progress.topic, static_cast<std::int32_t>(p),
                                     progress.first_offsets[p]};
      const bool earlier = std::any_of(targets.begin(), targets.end(), [&tp](const auto& t) {
        return t.partition == tp.partition && t.topic == tp.topic;
      });
      if (!earlier) targets.push_back(tp);
    }
  }
  for (const auto& tp : targets) {
    // What was fetched after the first offset is stale now, buffered or not.
    if (on_rewind_) on_rewind_(tp);
    try {
      consumer_.seek(tp, config_.request_timeout);
    } catch (const KafkaError& e) {
      // A partition being revoked cannot be sought; its next owner starts from the commit.
      logger()->warn("rewinding {}[{}] to offset {} failed: {}", tp.topic, tp.partition, tp.offset,
                     e.what());
    }
  }
  forget();
}

void Checkpoint::forget() {
  for (auto& progress : progress_) std::fill(progress.offsets.begin(), progress.offsets.end(), -1);
  assignment_.for_each_task(
      [](Assignment::TaskGroup&, std::int32_t, PartitionTask& task) { task.discard_writes(); });
  offsets_stored_ = 0;
  operator_changes_ = false;
  deferred_.reset();
  rearm_memory_pressure();  // the caches dropped what they held
}

void Checkpoint::back_off(const SinkBackpressureError& error) {
  const auto retry_after = std::max(error.retry_after(), std::chrono::milliseconds(0));
  logger()->warn(
      "checkpoint: a sink asked to retry later ({}): nothing is committed, every partition goes "
      "back to the last checkpoint and pauses for {} ms",
      error.what(), retry_after.count());
  // SNK-03: the other sinks' records since the last checkpoint come again too.
  for (Sink* s : sinks_) s->on_paused();
  if (exactly_once_ && producer_.in_transaction()) {
    // The outputs of the records to be replayed must never be read.
    producer_.abort_transaction(config_.request_timeout);
  }
  rewind();
  ++stats_.checkpoints_aborted;
  counted(CheckpointResult::aborted);
  if (on_back_off_) on_back_off_();
  std::vector<kafka::TopicPartition> assigned = consumer_.assignment();
  consumer_.pause(assigned);
  for (auto& tp : assigned) {
    const bool known = std::any_of(
        backpressure_paused_.begin(), backpressure_paused_.end(),
        [&tp](const auto& t) { return t.partition == tp.partition && t.topic == tp.topic; });
    if (!known) backpressure_paused_.push_back(std::move(tp));
  }
  backpressure_until_ = Clock::now() + retry_after;
}

void Checkpoint::resume_if_due() {
  if (backpressure_paused_.empty() || Clock::now() < backpressure_until_) return;
  // Partitions revoked meanwhile are not resumed; a new assignment starts unpaused.
  const auto assigned = consumer_.assignment();
  std::vector<kafka::TopicPartition> resume;
  for (const auto& tp : backpressure_paused_) {
    if (std::any_of(assigned.begin(), assigned.end(), [&tp](const auto& a) {
          return a.partition == tp.partition && a.topic == tp.topic;
        })) {
      resume.push_back(tp);
    }
  }
  backpressure_paused_.clear();
  if (resume.empty()) return;
  try {
    consumer_.resume(resume);
  } catch (const KafkaError& e) {
    logger()->warn("resuming partitions after a sink's backpressure failed: {}", e.what());
  }
  logger()->info("resumed {} partitions after a sink's backpressure", resume.size());
}

}  // namespace streamframe::detail
