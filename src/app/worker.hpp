// One worker: a consumer, a producer, and the loop that runs their messages through the
// partitions' tasks (APP-25). What it owns is split by job: the partitions and their tasks
// (Assignment), the checkpoints (Checkpoint), the broker outage watch (kafka::BrokerWatch);
// the worker itself turns messages into task calls, applies the error callbacks (ERR-01,
// EXT-03) and handles delivery reports and rebalances.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/assignment.hpp"
#include "app/checkpoint.hpp"
#include "app/health.hpp"
#include "app/metrics.hpp"
#include "app/worker_settings.hpp"
#include "dataframe/partition_task.hpp"
#include "kafka/broker_watch.hpp"
#include "kafka/consumer.hpp"
#include "kafka/message.hpp"
#include "kafka/producer.hpp"
#include "streamframe/application.hpp"

namespace streamframe::detail {

class Worker final : public TaskOutput {
 public:
  explicit Worker(WorkerSettings settings);
  ~Worker() override;

  // Runs until `stop` is set, a run limit is reached or an error stops it. A graceful end
  // commits a final checkpoint; an error leaves everything after the last checkpoint
  // uncommitted and rethrows.
  void run(RunState& run, const std::atomic<bool>& stop, const std::atomic<bool>& stop_fail);

  RunStats stats() const { return stats_; }

  // TaskOutput
  void send(const std::string& topic, std::optional<std::string_view> key,
            std::optional<std::string_view> value, std::int64_t timestamp,
            const Headers* headers) override;
  void emit(Row& row, const MessageContext& context, std::uint32_t label) override;
  bool emit_reads_headers() const override;
  void count_null_key() override { ++stats_.null_keys_skipped; }
  void count_late_record(std::string_view store) override {
    if (metrics_) metrics_->late_record(store);
  }

 private:
  // One turn of the loop: prepares new partitions, runs a polled batch, ticks, serves the
  // producer, checkpoints when due. False when the run is over (a limit was reached).
  bool turn(std::vector<kafka::Message>& batch, RunState& run, const std::atomic<bool>& stop);
  // RunOptions::timeout: whether the run has been idle long enough to stop.
  bool idle_timeout_expired(const RunState& run) const;
  // RunOptions::count: whether the run has produced the outputs it asked for.
  static bool count_reached(const RunState& run);
  // Runs one message of `slot`'s topic through its task.
  void handle_message(const kafka::Message& message, Assignment::TopicSlot& slot, RunState& run);
  // KAF-04: keeps a message of a topic whose tasks have several inputs until its turn; a
  // buffer that reaches max_partition_buffer_size pauses its partition.
  void buffer(kafka::Message& message, Assignment::TopicSlot& slot);
  // KAF-04: per task with several inputs, processes the buffered head with the smallest
  // timestamp (ties: the topic declared first) while no assigned input is empty without being
  // at its end. False when the turn must end (a limit or stop).
  bool drain_aligned(RunState& run, const std::atomic<bool>& stop);
  // A partition is moved back (rewind) or given up (revoke): its end is no longer known and,
  // in an aligned group, its buffer goes and a pause of a full buffer is lifted.
  void drop_buffer(const kafka::TopicPartition& tp);
  // Whether an aborted checkpoint moved `message`'s partition back during this turn: what the
  // batch holds of it after that point comes again from the consumer.
  bool was_rewound(const kafka::Message& message) const;
  // SNK-03: a sink's backpressure paused every partition; `message`, returned by the consumer
  // but not processed, and those after it wait for the resume: its partition is moved back to
  // it (drop_buffer: what is known of it goes).
  void hold_back(const kafka::TopicPartition& from);
  // SNK-03: the KAF-04 buffers of partitions not moved back by the rewind are moved back to
  // their first message.
  void hold_back_buffers();
  // The forwarding path: validates, then produces the message's own bytes. False when the
  // message must take the decoding path instead (a key the output's serializer refuses).
  bool forward_raw(const kafka::Message& message, const TaskInput& input, PartitionTask& task,
                   Assignment::TopicSlot& slot, RunState& run);
  // ERR-01 for a message that failed deserialization (or the forwarding path's validation):
  // asks on_consumer_error and dead-letters when told to; false = stop (the caller rethrows).
  bool deserialization_failed(const kafka::Message& message, const std::exception& error);
  // ERR-01 for row `index` of `message` that failed in the pipeline (call it from the catch
  // block): asks on_processing_error, dead-letters when told to, rethrows to stop.
  // `dead_lettered` makes the message go to the dead-letter topic once, however many of its
  // rows fail (EXT-03).
  void processing_failed(const kafka::Message& message, PartitionTask& task, std::size_t index,
                         const Row& row, bool& dead_lettered);
  // EXT-03: produces `message` as consumed plus the error headers to the dead-letter topic, in
  // the checkpoint under way (exactly-once: its transaction). Its delivery is confirmed by the
  // checkpoint's flush; a failed delivery stops the worker (never skippable).
  void dead_letter(const kafka::Message& message, const std::exception& error, const char* stage);
  // Records `message` as processed for the next checkpoint (CK-01) and leaves its context.
  void processed(Assignment::TopicSlot& slot, const kafka::Message& message);
  // `may_defer`: a checkpoint made because one was due (Checkpoint::commit).
  void checkpoint(std::chrono::steady_clock::time_point deadline, bool may_defer = false) {
    checkpoint_->commit(deadline, may_defer);
  }
  void on_assign(const std::vector<kafka::TopicPartition>& tps);
  void on_revoke(const std::vector<kafka::TopicPartition>& tps);
  // The group took the partitions away without a revoke (session expired): nothing since the
  // last checkpoint is committed.
  void on_lost(const std::vector<kafka::TopicPartition>& tps);
  void release(const std::vector<kafka::TopicPartition>& tps);
  void on_delivery(const kafka::DeliveryReport& report);
  // EXT-02: lets operators act on the application clock (idle closing) once per loop turn.
  void tick_operators();
  // The application clock in ms (ApplicationConfig::clock, else steady_clock).
  std::int64_t now_ms() const;
  ErrorAction decide(const ErrorCallback& callback, const std::exception& error,
                     const ErrorContext& ctx, const char* stage);
  // EXT-08, once per turn: the counts since the last turn into the series; consumer lag and
  // state sizes about once a second.
  void publish_metrics();
  void publish_state_sizes();
  // Partitions given up: their lag and state series go.
  void forget_metrics(const std::vector<kafka::TopicPartition>& tps);

  WorkerSettings settings_;
  const ApplicationConfig& config_;
  std::vector<Sink*> sinks_;
  RunStats stats_;
  PendingError pending_;
  // Set once a run ended in an error or stop(fail=true): nothing may be committed any more.
  bool failed_ = false;
  // Before the producer: its close may still serve delivery reports.
  OutputAcks output_acks_;
  std::unique_ptr<WorkerMetrics> metrics_;  // null = metrics off
  std::shared_ptr<WorkerHealth> health_;    // null = health endpoints off
  std::chrono::steady_clock::time_point last_lag_{};
  std::vector<kafka::TopicPartition> lag_partitions_;
  // Assigned partitions nothing was consumed from yet have no position: where they start is
  // their committed offset, asked for once it is known (publish_metrics).
  std::vector<kafka::TopicPartition> start_offsets_;
  std::chrono::steady_clock::time_point next_start_lookup_{};
  // Declared in dependency order: each is destroyed before what it refers to.
  std::unique_ptr<Assignment> assignment_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::unique_ptr<kafka::BrokerWatch> brokers_;
  std::unique_ptr<Checkpoint> checkpoint_;

  RunState* run_ = nullptr;
  std::vector<Value> rows_;
  Headers forward_headers_;  // the forwarding path's, kept across messages
  Headers dead_letter_headers_;
  // Its address is the delivery opaque of dead-letter records (changelog records carry their
  // store, outputs a tag of output_acks_).
  char dead_letter_tag_ = 0;
  std::chrono::steady_clock::time_point last_activity_;
  bool consumed_ = false;  // a message was handled since last_activity_ was last set
  std::vector<kafka::TopicPartition> rewound_;  // this turn's rewound partitions
  bool backed_off_ = false;                     // a sink's backpressure during this turn
};

}  // namespace streamframe::detail
