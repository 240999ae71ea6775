// A worker's checkpoints (CK-01..CK-07): which offsets were processed since the last one, when
// the next one is due, and the commit itself in five steps — 1 sinks flushed, 2 changelogs
// produced, 3 everything produced acknowledged, 4 offsets committed (exactly-once: the
// transaction committed with them), 5 store batches written with their changelog offsets. A
// failure in steps 1-4 leaves offsets and stores as they were: the records are processed
// again from the last checkpoint. Also the exactly-once commit and abort retries, and the
// rewind after an aborted checkpoint.
//
// An at-least-once checkpoint with nothing for steps 2 and 5 (no state changed: a stateless
// pipeline, or no message touched state) is deferred: its offsets are set aside and processing
// goes on; they are committed once every output produced before them is acknowledged
// (OutputAcks), which is step 3's order without stopping for it. Waiting for acknowledgements
// was most of a checkpoint's time and the source of the run loop's latency spikes (a slow
// produce response held every partition).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/assignment.hpp"
#include "app/health.hpp"
#include "app/metrics.hpp"
#include "kafka/broker_watch.hpp"
#include "kafka/consumer.hpp"
#include "kafka/producer.hpp"
#include "state/memory_budget.hpp"
#include "streamframe/application.hpp"

namespace streamframe::detail {

// Errors raised where they cannot be thrown (librdkafka callbacks) wait here until control is
// back in the run loop; the first one wins.
class PendingError {
 public:
  void set(std::exception_ptr error) noexcept {
    if (!error_) error_ = std::move(error);
  }
  explicit operator bool() const noexcept { return static_cast<bool>(error_); }
  void rethrow() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  std::exception_ptr error_;
};

// Acknowledgements of output records counted by checkpoint epoch. An epoch ends when a
// checkpoint is deferred; its offsets are committed once its count is back to zero. Two epochs
// alternate (the one being produced and the one whose offsets wait): a checkpoint completes the
// deferred one before deferring again. Used from the worker's thread only (delivery reports
// are served by its polls); owned by the worker, because delivery reports can still arrive
// while it closes the producer.
class OutputAcks {
 public:
  // The delivery opaque of an output record produced now.
  void* tag() noexcept { return &tags_[static_cast<std::size_t>(epoch_)]; }
  // An output record was handed to the producer with tag().
  void produced() noexcept { ++in_flight_[static_cast<std::size_t>(epoch_)]; }
  // The epoch of the output whose tag is `opaque`, its answer (acknowledgement or failure)
  // counted; -1 when `opaque` is not an output's tag.
  int answered(const void* opaque) noexcept {
    for (std::size_t e = 0; e < tags_.size(); ++e) {
      if (opaque == &tags_[e]) {
        --in_flight_[e];
        return static_cast<int>(e);
      }
    }
    return -1;
  }
  // An output of `epoch` was lost (its failure was not skipped): that epoch's offsets must
  // never be committed.
  void lost(int epoch) noexcept { lost_[static_cast<std::size_t>(epoch)] = true; }
  bool lost_any(int epoch) const noexcept { return lost_[static_cast<std::size_t>(epoch)]; }
  // Ends the current epoch and returns it.
  int next_epoch() noexcept {
    const int ended = epoch_;
    epoch_ ^= 1;
    const auto e = static_cast<std::size_t>(epoch_);
    // Answers still due to a reused epoch belong to a deferred checkpoint that was dropped
    // (rewound); its losses stand until they are answered.
    if (in_flight_[e] == 0) lost_[e] = false;
    return ended;
  }
  std::int64_t in_flight(int epoch) const noexcept {
    return in_flight_[static_cast<std::size_t>(epoch)];
  }

 private:
  std::array<char, 2> tags_{};
  std::array<std::int64_t, 2> in_flight_{};
  std::array<bool, 2> lost_{};
  int epoch_ = 0;
};

class Checkpoint {
 public:
  using Clock = std::chrono::steady_clock;

  // Everything referenced must outlive the checkpoint.
  Checkpoint(const ApplicationConfig& config, bool exactly_once, Assignment& assignment,
             kafka::Producer& producer, kafka::Consumer& consumer, kafka::BrokerWatch& brokers,
             OutputAcks& acks, std::vector<Sink*> sinks, PendingError& pending, RunStats& stats);

  // The budget of the state caches (null = none): a checkpoint is due as soon as they outgrow
  // it, since only a checkpoint lets them write out and drop what changed.
  void set_memory_budget(std::shared_ptr<const state::MemoryBudget> budget) noexcept {
    budget_ = std::move(budget);
    rearm_memory_pressure();
  }
  // EXT-08: checkpoints are counted by result, committed ones timed; a checkpoint waiting for
  // the brokers is alive (broker_availability_timeout bounds that wait). Null = off.
  void observe(WorkerMetrics* metrics, WorkerHealth* health) noexcept {
    metrics_ = metrics;
    health_ = health;
  }
  // A second SIGINT (stop with fail) interrupts a checkpoint's waits; null = never.
  void set_stop_fail(const std::atomic<bool>* stop_fail) noexcept { stop_fail_ = stop_fail; }
  // Called for each partition an aborted checkpoint moves back, before the seek: what the
  // run loop holds of it from after that point (the rest of a batch, KAF-04 buffers) is stale
  // and comes again from the consumer.
  void set_on_rewind(std::function<void(const kafka::TopicPartition&)> f) {
    on_rewind_ = std::move(f);
  }
  // SNK-03: called when a sink's backpressure moved the partitions back, before they pause:
  // what the run loop holds of the partitions that processed nothing since the last
  // checkpoint (the rest of a batch, KAF-04 buffers) must wait for the resume too.
  void set_on_back_off(std::function<void()> f) { on_back_off_ = std::move(f); }

  // CK-01: `offset` of `slot`'s partition was processed; offsets strictly increase.
  void record(const Assignment::TopicSlot& slot, std::int32_t partition, std::int64_t offset);
  // Operators changed state or emitted outside any message (idle closing): the next
  // checkpoint commits even without new offsets.
  void note_operator_changes() noexcept { operator_changes_ = true; }
  bool due() const;
  // Commits everything since the last checkpoint within `deadline` (flush and transaction
  // calls). Returns normally also when the checkpoint was aborted and rewound (the rewind
  // callback named the partitions moved back). `may_defer`: an at-least-once checkpoint
  // without state changes may leave its offsets to settle() (the checkpoints made because one
  // was due); otherwise (the final one, a revoke) everything is committed on return, a
  // deferred checkpoint's offsets first.
  void commit(Clock::time_point deadline, bool may_defer = false);
  // Commits the deferred checkpoint's offsets if all its outputs are acknowledged; cheap
  // otherwise. Called once per loop turn, after the producer's delivery reports were served.
  void settle(Clock::time_point deadline);
  // The run ends in an error: a deferred checkpoint made before it is committed, as it would
  // have been without deferral, once all its outputs are acknowledged; not if one was lost.
  void finish_deferred(Clock::time_point deadline);
  // A record other than an output was produced (a dead letter): the next checkpoint waits for
  // every acknowledgement instead of being deferred.
  void note_other_record() noexcept { other_records_ = true; }

  // Exactly-once: records produced from now belong to the open transaction.
  void ensure_transaction();
  // The group took partitions away without a revoke: aborts the open transaction (flushing
  // first, see the .cpp); the caller then forgets everything since the last checkpoint.
  void abort_lost();
  // Forgets the partitions' processed offsets (they were revoked or lost).
  void forget_partitions(const std::vector<kafka::TopicPartition>& tps);
  // Drops everything since the last checkpoint: pending state writes and processed offsets.
  void forget();
  // APP-15 through the broker watch; then a long outage ends a wait.
  void check_brokers() { brokers_.check(); }
  // SNK-03: resumes the partitions a sink's backpressure paused once its retry_after passed.
  // Cheap when nothing is paused; called once per loop turn.
  void resume_if_due();

 private:
  void counted(CheckpointResult result, Clock::duration took = {}) {
    if (metrics_ != nullptr) metrics_->checkpoint(result, took);
  }
  // SNK-03: a sink asked to retry later: everything since the last checkpoint is dropped and
  // rewound, and the assigned partitions pause for `retry_after`.
  void back_off(const SinkBackpressureError& error);
  // The processed offsets of one input topic since the last checkpoint, by partition.
  struct TopicProgress {
    std::string topic;
    std::vector<std::int64_t> offsets;        // last processed, -1 = none
    std::vector<std::int64_t> first_offsets;  // first processed (the rewind target)
  };

  // A deferred checkpoint: offsets waiting for the acknowledgements of their epoch's outputs.
  struct Deferred {
    std::vector<kafka::TopicPartition> offsets;    // to commit
    std::vector<kafka::TopicPartition> rewind_to;  // the first offsets processed in it
    int epoch = 0;
    std::int64_t messages = 0;
    Clock::time_point started;
  };

  // At-least-once, no state changes, nothing but outputs produced: see the file comment.
  bool deferrable();
  void defer(std::vector<kafka::TopicPartition> offsets);
  // Waits for the deferred checkpoint's outputs, then commits its offsets; false when it was
  // aborted and rewound. Throws a pending error as soon as there is one (`rethrow_pending`),
  // or, when the run already failed, an error only if one of its own outputs was lost.
  bool complete_deferred(Clock::time_point deadline, bool rethrow_pending = true);
  bool commit_deferred(Clock::time_point deadline);
  bool flush_producer(Clock::time_point deadline);
  void flush_producer_or_throw(Clock::time_point deadline);
  void flush_operators();
  // The stores' writes of the last checkpoint applied (they finish in the background), or
  // their failure thrown, before this one commits anything.
  void settle_stores();
  // ST-06: deletes expired entries (at most max_evictions_per_flush per store).
  void sweep_expired();
  void produce_changelogs();
  // false: the transaction was aborted (abortable error) and the caller rewinds.
  bool commit_transaction(const std::vector<kafka::TopicPartition>& offsets,
                          Clock::time_point deadline);
  // Aborts after a failed commit, retrying while every broker is down (APP-15 ends that wait);
  // false when the abort failed for another reason.
  bool abort_failed_transaction(Clock::time_point deadline);
  // At-least-once: commit_offsets(); false when the group moved on without this member (then
  // everything since the last commit was rewound). Other errors: CheckpointConsumerCommitError.
  bool commit_offsets_or_rewind(const std::vector<kafka::TopicPartition>& offsets,
                                Clock::time_point deadline);
  // At-least-once: commits `offsets`, retrying retriable errors until `deadline`.
  void commit_offsets(const std::vector<kafka::TopicPartition>& offsets,
                      Clock::time_point deadline);
  // After an aborted checkpoint: forget its state writes and offsets (and a deferred
  // checkpoint's), seek back to the first offsets processed after the last commit.
  void rewind();
  // One turn of a checkpoint's wait: serves the producer, honours a second SIGINT
  // (Interrupted, naming `during`) and APP-15.
  void wait_step(const char* during);
  // What is left of `deadline` for one call: at least 1 s, at most request_timeout.
  std::chrono::milliseconds time_left(Clock::time_point deadline) const;
  std::int64_t processed(const Assignment::TopicSlot& slot, std::int32_t partition) const;

  const ApplicationConfig& config_;
  const bool exactly_once_;
  Assignment& assignment_;
  kafka::Producer& producer_;
  kafka::Consumer& consumer_;
  kafka::BrokerWatch& brokers_;
  OutputAcks& acks_;
  std::vector<Sink*> sinks_;
  PendingError& pending_;
  RunStats& stats_;
  WorkerMetrics* metrics_ = nullptr;
  WorkerHealth* health_ = nullptr;
  const std::atomic<bool>* stop_fail_ = nullptr;

  std::vector<TopicProgress> progress_;  // by TopicSlot::index
  std::int64_t offsets_stored_ = 0;      // messages processed since the last checkpoint
  Clock::time_point started_;            // when the last checkpoint started
  bool operator_changes_ = false;
  // Memory pressure: the caches' charge at which a checkpoint is due (SIZE_MAX = never).
  std::shared_ptr<const state::MemoryBudget> budget_;
  std::size_t pressure_at_ = SIZE_MAX;
  void rearm_memory_pressure() noexcept;
  bool other_records_ = false;  // since the last checkpoint that waited for every record
  std::optional<Deferred> deferred_;
  Headers changelog_headers_;
  std::vector<std::pair<std::string_view, std::int64_t>> processed_offsets_;
  std::function<void(const kafka::TopicPartition&)> on_rewind_;
  std::function<void()> on_back_off_;
  // SNK-03: the partitions paused by a sink's backpressure, and until when.
  std::vector<kafka::TopicPartition> backpressure_paused_;
  Clock::time_point backpressure_until_{};
};

}  // namespace streamframe::detail
