// One worker: a consumer, a producer, and the loop that runs messages through the pipelines
// and checkpoints (SEMANTICS APP-25, CK-02/CK-03 without state).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dataframe/graph.hpp"
#include "dataframe/partition_task.hpp"
#include "kafka/consumer.hpp"
#include "kafka/producer.hpp"
#include "state/provider.hpp"
#include "state/recovery.hpp"
#include "state/transaction.hpp"
#include "streamframe/application.hpp"

namespace streamframe::detail {

struct WorkerSettings {
  kafka::Config consumer_config;
  kafka::Config producer_config;
  const ApplicationConfig* app = nullptr;
  std::vector<std::shared_ptr<Graph>> graphs;
  std::chrono::milliseconds flush_timeout{300000};
  // CK-06 / §1 derived budgets: 20 % of max.poll.interval.ms, at least 5 s.
  std::chrono::milliseconds revoke_timeout{60000};
  // When set, these partitions are assigned directly instead of joining the group: the
  // embedded broker serves one process, and its group join costs seconds.
  std::vector<kafka::TopicPartition> static_assignment;
  // State: where stores come from, and the changelog topic of each (graph topic, store).
  state::StoreProvider* stores = nullptr;
  std::map<std::pair<std::string, std::string>, std::string> changelogs;  // empty = none
  kafka::Config restore_config;  // consumer settings for changelog recovery
  bool exactly_once = false;
  int index = 0;  // worker number, for logs
};

// Limits and outputs of one run() call.
struct RunState {
  RunOptions options;
  std::vector<Value> collected;
  std::atomic<std::size_t> outputs{0};
  std::atomic<bool> limit_reached{false};
  std::mutex collected_mutex;  // workers collect from their own threads
};

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
  void emit(Row& row, const MessageContext& context) override;
  void count_null_key() override { ++stats_.null_keys_skipped; }

 private:

  // Per input topic: its pipeline and the checkpoint's bookkeeping, indexed by partition so
  // the per-message path does no string work.
  struct TopicSlot {
    Graph* graph = nullptr;
    std::vector<std::int64_t> offsets;  // last processed offset since the checkpoint, -1 = none
    std::vector<std::int64_t> first_offsets;  // first processed offset since it (CK-01)
    std::vector<char> assigned;
    // Per partition, made when first assigned and kept (stores closed) after a revoke, so
    // delivery reports of its changelog records always find their store.
    std::vector<std::unique_ptr<PartitionTask>> tasks;
  };

  TopicSlot* slot_of(const kafka::Message& message);
  TopicSlot* slot_of(const std::string& topic, std::int32_t partition);
  void handle_message(const kafka::Message& message, RunState& run);
  // The forwarding path: validates, then produces the message's own bytes.
  void forward_raw(const kafka::Message& message, const TaskInput& input, PartitionTask& task,
                   TopicSlot& slot, RunState& run);
  // ERR-01 for a message that failed deserialization (or the forwarding path's validation):
  // asks on_consumer_error and dead-letters when told to; false = stop (the caller rethrows).
  bool deserialization_failed(const kafka::Message& message, const std::exception& error);
  // EXT-03: produces `message` as consumed plus the error headers to the dead-letter topic, in
  // the checkpoint under way (exactly-once: its transaction). Its delivery is confirmed by the
  // checkpoint's flush; a failed delivery stops the worker (never skippable).
  void dead_letter(const kafka::Message& message, const std::exception& error,
                   const char* stage);
  // Records `message` as processed for the next checkpoint (offsets strictly increase, CK-01).
  void store_offset(TopicSlot& slot, const Topic::Definition& topic,
                    const kafka::Message& message);
  // CK-02 within `deadline` (flush and transaction calls).
  void checkpoint(std::chrono::steady_clock::time_point deadline);
  bool checkpoint_due() const;
  bool flush_producer(std::chrono::steady_clock::time_point deadline);
  void rethrow_pending();
  void on_assign(const std::vector<kafka::TopicPartition>& tps);
  void on_revoke(const std::vector<kafka::TopicPartition>& tps);
  // The group took the partitions away without a revoke (session expired): nothing since the
  // last checkpoint is committed.
  void on_lost(const std::vector<kafka::TopicPartition>& tps);
  // Forgets the partitions' offsets and closes their stores (after a revoke or a loss).
  void release_partitions(const std::vector<kafka::TopicPartition>& tps);
  void on_delivery(const kafka::DeliveryReport& report);
  // Opens and restores the stores of partitions assigned since the last call (ST-05, APP-10,
  // ST-08), before any of their messages is processed.
  void prepare_assigned(const std::atomic<bool>& stop);
  // The partition's task, made on first use.
  PartitionTask& task_of(TopicSlot& slot, std::int32_t partition);
  // Opens the partition's stores and adds what to replay to `restores` (and the task to
  // `restored`, to be marked ready once they are replayed).
  void prepare_partition(const std::string& topic, TopicSlot& slot, std::int32_t partition,
                         std::int64_t committed, std::vector<state::RestoreRequest>& restores,
                         std::vector<PartitionTask*>& restored);
  void restore_all(std::vector<state::RestoreRequest>& requests, const std::atomic<bool>& stop);
  // CK-07: how long a restore waits for a transaction a dead producer left open.
  std::chrono::milliseconds open_transaction_wait() const;
  std::unique_ptr<state::PartitionStore> open_store(const state::StoreId& id, bool& rebuilt);
  void produce_changelogs();
  // Operators write their in-memory state into their transactions (before the changelogs).
  void flush_operators();
  // EXT-02: lets operators act on the application clock (idle closing) once per loop turn.
  void tick_operators();
  // ST-06: deletes expired entries (at most max_evictions_per_flush per store).
  void sweep_expired();
  void ensure_transaction();
  // false: the transaction was aborted (abortable error) and the caller rewinds.
  bool commit_transaction(const std::vector<kafka::TopicPartition>& offsets,
                          std::chrono::steady_clock::time_point deadline);
  // Aborts after a failed commit, retrying while every broker is down (APP-15 ends that wait);
  // false when the abort failed for another reason.
  bool abort_failed_transaction(std::chrono::steady_clock::time_point deadline);
  // One turn of a checkpoint's wait: serves the producer, honours a second SIGINT
  // (Interrupted, naming `during`) and APP-15.
  void checkpoint_wait_step(const char* during);
  // What is left of a checkpoint's deadline for one call: at least 1 s, at most
  // request_timeout.
  std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point deadline) const;
  // After an aborted checkpoint: forget its state writes and offsets, seek back to its first
  // offsets.
  // At-least-once: commits `offsets`, retrying retriable errors until `deadline`.
  void commit_offsets(const std::vector<kafka::TopicPartition>& offsets,
                      std::chrono::steady_clock::time_point deadline);
  void rewind_to_checkpoint();
  // Drops everything since the last checkpoint: pending state writes and processed offsets.
  void forget_since_checkpoint();
  // APP-15: throws KafkaBrokerUnavailableError when every broker has been down too long.
  void check_brokers();
  // Whether an outage is under way that check_brokers() will end (the timeout is on).
  bool brokers_down() const;
  // The timeout for one attempt of a transaction call: 1 s at most during an outage.
  std::chrono::milliseconds attempt_timeout(std::chrono::milliseconds budget) const;
  // The application clock in ms (ApplicationConfig::clock, else steady_clock).
  std::int64_t now_ms() const;
  ErrorAction decide(const ErrorCallback& callback, const std::exception& error,
                     const ErrorContext& ctx, const char* stage);

  WorkerSettings settings_;
  const ApplicationConfig& config_;
  std::unordered_map<std::string, TopicSlot> slots_;
  std::unordered_map<kafka::TopicId, TopicSlot*> slot_by_topic_id_;
  std::vector<Sink*> sinks_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<kafka::Consumer> consumer_;

  std::int64_t offsets_stored_ = 0;  // messages processed since the last checkpoint
  std::chrono::steady_clock::time_point checkpoint_start_;
  std::size_t assigned_count_ = 0;

  // Errors raised inside librdkafka callbacks wait here until control is back in C++.
  std::exception_ptr pending_error_;
  // Set once a run ended in an error or stop(fail=true): nothing may be committed any more.
  bool failed_ = false;
  bool rewound_ = false;  // a checkpoint was aborted and the positions moved back
  // Operators changed state or emitted outside any message (idle closing): the next
  // checkpoint commits even without new offsets.
  bool operator_changes_ = false;
  bool has_ticking_ = false;  // some operator may act on the clock

  std::vector<kafka::TopicPartition> to_prepare_;
  std::vector<std::unique_ptr<state::Restorer>> restorers_;
  Headers changelog_headers_;
  std::optional<std::chrono::steady_clock::time_point> brokers_down_since_;
  bool brokers_unavailable_ = false;  // check_brokers() threw APP-15
  std::chrono::steady_clock::time_point last_broker_check_;

  RunState* run_ = nullptr;
  const std::atomic<bool>* stop_fail_ = nullptr;
  std::vector<Value> rows_;
  Headers forward_headers_;  // the forwarding path's, kept across messages
  Headers dead_letter_headers_;
  // Its address is the delivery opaque of dead-letter records (changelog records carry their
  // StoreSlot, outputs nothing).
  char dead_letter_tag_ = 0;
  RunStats stats_;
  std::chrono::steady_clock::time_point last_activity_;
  bool consumed_ = false;  // a message was handled since last_activity_ was last set
};

}  // namespace streamframe::detail
