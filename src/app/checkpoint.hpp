// A worker's checkpoints (CK-01..CK-07): which offsets were processed since the last one, when
// the next one is due, and the commit itself in five steps — 1 sinks flushed, 2 changelogs
// produced, 3 everything produced acknowledged, 4 offsets committed (exactly-once: the
// transaction committed with them), 5 store batches written with their changelog offsets. A
// failure in steps 1-4 leaves offsets and stores as they were: the records are processed
// again from the last checkpoint. Also the exactly-once commit and abort retries, and the
// rewind after an aborted checkpoint.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/assignment.hpp"
#include "kafka/broker_watch.hpp"
#include "kafka/consumer.hpp"
#include "kafka/producer.hpp"
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

class Checkpoint {
 public:
  using Clock = std::chrono::steady_clock;

  // Everything referenced must outlive the checkpoint.
  Checkpoint(const ApplicationConfig& config, bool exactly_once, Assignment& assignment,
             kafka::Producer& producer, kafka::Consumer& consumer, kafka::BrokerWatch& brokers,
             std::vector<Sink*> sinks, PendingError& pending, RunStats& stats);

  // A second SIGINT (stop with fail) interrupts a checkpoint's waits; null = never.
  void set_stop_fail(const std::atomic<bool>* stop_fail) noexcept { stop_fail_ = stop_fail; }
  // Called for each partition an aborted checkpoint moves back, before the seek: what the
  // run loop holds of it from after that point (the rest of a batch, KAF-04 buffers) is stale
  // and comes again from the consumer.
  void set_on_rewind(std::function<void(const kafka::TopicPartition&)> f) {
    on_rewind_ = std::move(f);
  }

  // CK-01: `offset` of `slot`'s partition was processed; offsets strictly increase.
  void record(const Assignment::TopicSlot& slot, std::int32_t partition, std::int64_t offset);
  // Operators changed state or emitted outside any message (idle closing): the next
  // checkpoint commits even without new offsets.
  void note_operator_changes() noexcept { operator_changes_ = true; }
  bool due() const;
  // Commits everything since the last checkpoint within `deadline` (flush and transaction
  // calls). Returns normally also when the checkpoint was aborted and rewound (the rewind
  // callback named the partitions moved back).
  void commit(Clock::time_point deadline);

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

 private:
  // The processed offsets of one input topic since the last checkpoint, by partition.
  struct TopicProgress {
    std::string topic;
    std::vector<std::int64_t> offsets;        // last processed, -1 = none
    std::vector<std::int64_t> first_offsets;  // first processed (the rewind target)
  };

  bool flush_producer(Clock::time_point deadline);
  void flush_producer_or_throw(Clock::time_point deadline);
  void flush_operators();
  // ST-06: deletes expired entries (at most max_evictions_per_flush per store).
  void sweep_expired();
  void produce_changelogs();
  // false: the transaction was aborted (abortable error) and the caller rewinds.
  bool commit_transaction(const std::vector<kafka::TopicPartition>& offsets,
                          Clock::time_point deadline);
  // Aborts after a failed commit, retrying while every broker is down (APP-15 ends that wait);
  // false when the abort failed for another reason.
  bool abort_failed_transaction(Clock::time_point deadline);
  // At-least-once: commits `offsets`, retrying retriable errors until `deadline`.
  void commit_offsets(const std::vector<kafka::TopicPartition>& offsets,
                      Clock::time_point deadline);
  // After an aborted checkpoint: forget its state writes and offsets, seek back to its first
  // offsets.
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
  std::vector<Sink*> sinks_;
  PendingError& pending_;
  RunStats& stats_;
  const std::atomic<bool>* stop_fail_ = nullptr;

  std::vector<TopicProgress> progress_;  // by TopicSlot::index
  std::int64_t offsets_stored_ = 0;      // messages processed since the last checkpoint
  Clock::time_point started_;            // when the last checkpoint started
  bool operator_changes_ = false;
  Headers changelog_headers_;
  std::vector<std::pair<std::string_view, std::int64_t>> processed_offsets_;
  std::function<void(const kafka::TopicPartition&)> on_rewind_;
};

}  // namespace streamframe::detail
