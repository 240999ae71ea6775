// The partitions a worker owns: per input topic its pipeline, per group of co-partitioned
// topics (TOP-15) one PartitionTask per assigned partition number; what an assignment, a
// revoke and a loss do to them; and preparing newly assigned partitions before any of their
// messages runs: opening their stores, destructive recovery (APP-10, ST-08) and restoring
// them from their changelogs (ST-05, CK-07).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "app/health.hpp"
#include "app/metrics.hpp"
#include "app/worker_settings.hpp"
#include "dataframe/partition_task.hpp"
#include "kafka/consumer.hpp"
#include "kafka/message.hpp"
#include "state/recovery.hpp"

namespace streamframe::detail {

class Assignment {
 public:
  struct TaskGroup;

  // KAF-04: the messages of one partition of a topic whose tasks have several inputs,
  // fetched but not yet processed.
  struct PartitionBuffer {
    std::deque<kafka::Message> messages;
    bool paused = false;  // by a full buffer
  };

  struct TopicSlot {
    std::string topic;
    const Graph* graph = nullptr;
    std::size_t index = 0;  // 0..topics-1, for per-topic bookkeeping elsewhere
    TaskGroup* group = nullptr;
    std::size_t input = 0;  // this topic's input number in its group's tasks
    std::vector<char> assigned;
    // By partition: messages processed since the metrics last took them (EXT-08).
    std::vector<std::uint64_t> consumed;
    // By partition: the fetcher reported the partition's end after its last message
    // (librdkafka's partition EOF, which in read_committed mode is the last stable offset).
    // Reported only with enable.partition.eof: aligned groups (KAF-04: an empty partition at
    // its end does not hold its task back) and run() with a timeout (idleness).
    std::vector<char> at_end;
    // Aligned groups only, by partition (a deque: growing it moves no buffer).
    std::deque<PartitionBuffer> buffers;
  };

  // The topics whose partitions of one number run in one task (TOP-15: a concat of
  // different topics; a single topic otherwise).
  struct TaskGroup {
    std::vector<TopicSlot*> inputs;  // in declaration order (KAF-04's tie-break)
    // Per partition, made when first assigned and kept (stores closed) after a revoke, so
    // delivery reports of its changelog records always find their store.
    std::vector<std::unique_ptr<PartitionTask>> tasks;
    std::vector<int> assigned;  // per partition: how many of the inputs are assigned
    // KAF-04: records of several topics are processed in timestamp order.
    bool aligned() const noexcept { return inputs.size() > 1; }
  };

  // Tasks send what they produce and emit to `output`. `settings` must outlive this.
  Assignment(const WorkerSettings& settings, TaskOutput& output);
  ~Assignment();
  Assignment(const Assignment&) = delete;
  Assignment& operator=(const Assignment&) = delete;

  std::vector<std::string> topics() const;
  std::size_t topic_count() const noexcept { return slots_.size(); }
  // Some task has several inputs (KAF-04 buffers are in use).
  bool aligned() const noexcept { return aligned_; }
  std::vector<std::unique_ptr<TaskGroup>>& groups() noexcept { return groups_; }
  // The slot of a consumed message (a lookup by topic id: no string work per message), null
  // for a topic or partition this worker does not know.
  TopicSlot* slot_of(const kafka::Message& message);
  TopicSlot* slot_of(const std::string& topic, std::int32_t partition);
  // Some pipeline acts on the application clock (idle closing).
  bool ticks() const noexcept { return ticks_; }
  std::size_t assigned_count() const noexcept { return assigned_count_; }

  // EXT-08: restores report their progress to `metrics` and count as signs of life in
  // `health` (either may be null). Both must outlive this.
  void observe(WorkerMetrics* metrics, WorkerHealth* health) noexcept {
    metrics_ = metrics;
    health_ = health;
  }

  // Marks the partitions assigned and makes their tasks; stateful ones wait for prepare().
  void assign(const std::vector<kafka::TopicPartition>& tps);
  // Marks the partitions unassigned and closes their stores.
  void release(const std::vector<kafka::TopicPartition>& tps);
  // Opens and restores the stores of partitions assigned since the last call, before any of
  // their messages is processed. Returns whether there were any. `stop` ends a restore early
  // (the partitions stay unready).
  bool prepare(kafka::Consumer& consumer, const std::atomic<bool>& stop);

  // f(group, partition, task) for every task made so far (assigned or not).
  template <class F>
  void for_each_task(F&& f) {
    for (auto& group : groups_) {
      for (std::size_t p = 0; p < group->tasks.size(); ++p) {
        if (group->tasks[p]) f(*group, static_cast<std::int32_t>(p), *group->tasks[p]);
      }
    }
  }
  // Whether some input of `group`'s partition `partition` is assigned.
  static bool assigned(const TaskGroup& group, std::int32_t partition) noexcept {
    return static_cast<std::size_t>(partition) < group.assigned.size() &&
           group.assigned[partition] > 0;
  }

 private:
  // The group's task of `partition`, made on first use.
  PartitionTask& task_of(TaskGroup& group, std::int32_t partition);
  // Opens the task's stores and adds what to replay to `restores` (and the task to
  // `restored`, to be marked ready once they are replayed). `committed`: the committed
  // offsets of the task's assigned input partitions; `lows`: the low watermarks of those
  // with a committed offset.
  void prepare_task(kafka::Consumer& consumer, TaskGroup& group, std::int32_t partition,
                    const std::vector<kafka::TopicPartition>& committed,
                    const std::vector<kafka::TopicPartition>& lows,
                    std::vector<state::RestoreRequest>& restores,
                    std::vector<PartitionTask*>& restored);
  // The low watermarks of the partitions in `committed` with a committed offset, asked
  // through lookups().
  std::vector<kafka::TopicPartition> low_watermarks(
      const std::vector<kafka::TopicPartition>& committed);
  // A consumer that never fetches, for offset lookups while the group consumer may have a
  // fetch in flight: the broker answers a connection's requests in order, so a lookup on the
  // group consumer's connection waits out that fetch's long poll (fetch.wait.max.ms, 100 ms;
  // once per partition it was 0.3 s of a 4-partition restore's start). Made on first use.
  kafka::Consumer& lookups();
  // Replays the changelogs, partitions side by side up to the number of cores.
  void restore_all(std::vector<state::RestoreRequest>& requests, const std::atomic<bool>& stop);
  // CK-07: how long a restore waits for a transaction a dead producer left open.
  std::chrono::milliseconds open_transaction_wait() const;
  // ST-07/ST-08: opens a store, rebuilding a corrupted one from its changelog when allowed.
  std::unique_ptr<state::PartitionStore> open_store(const state::StoreId& id);

  const WorkerSettings& settings_;
  const ApplicationConfig& config_;
  TaskOutput& output_;
  std::vector<std::unique_ptr<TopicSlot>> slots_;
  std::vector<std::unique_ptr<TaskGroup>> groups_;
  bool aligned_ = false;
  std::unordered_map<std::string, TopicSlot*> slot_by_name_;
  std::unordered_map<kafka::TopicId, TopicSlot*> slot_by_topic_id_;
  std::size_t assigned_count_ = 0;
  bool ticks_ = false;
  std::vector<kafka::TopicPartition> to_prepare_;
  std::vector<std::unique_ptr<state::Restorer>> restorers_;
  std::unique_ptr<kafka::Consumer> lookups_;
  WorkerMetrics* metrics_ = nullptr;
  WorkerHealth* health_ = nullptr;
};

}  // namespace streamframe::detail
