#include "app/assignment.hpp"

#include <algorithm>
#include <mutex>
#include <thread>

#include "core/logging.hpp"
#include "kafka/codes.hpp"
#include "kafka/retry.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {

using Clock = std::chrono::steady_clock;

Assignment::Assignment(const WorkerSettings& settings, TaskOutput& output)
    : settings_(settings), config_(*settings.app), output_(output) {
  for (const auto& g : settings_.graphs) {
    auto slot = std::make_unique<TopicSlot>();
    slot->topic = g->topic().name();
    slot->graph = g.get();
    slot->index = slots_.size();
    ticks_ = ticks_ || g->ticks();
    slot_by_name_[slot->topic] = slot.get();
    slots_.push_back(std::move(slot));
  }
  for (const auto& members : task_groups(settings_.graphs)) {
    auto group = std::make_unique<TaskGroup>();
    for (std::size_t i : members) {
      slots_[i]->group = group.get();
      slots_[i]->input = group->inputs.size();
      group->inputs.push_back(slots_[i].get());
    }
    aligned_ = aligned_ || group->aligned();
    groups_.push_back(std::move(group));
  }
}

Assignment::~Assignment() = default;

std::vector<std::string> Assignment::topics() const {
  std::vector<std::string> out;
  out.reserve(slots_.size());
  for (const auto& slot : slots_) out.push_back(slot->topic);
  return out;
}

void Assignment::assign(const std::vector<kafka::TopicPartition>& tps) {
  for (const auto& tp : tps) {
    TopicSlot* slot = slot_of(tp.topic, tp.partition);
    if (slot == nullptr || slot->assigned[tp.partition]) continue;
    ++assigned_count_;
    slot->assigned[tp.partition] = 1;
    slot->at_end[tp.partition] = 0;
    TaskGroup& group = *slot->group;
    if (group.aligned()) slot->buffers[tp.partition] = PartitionBuffer{};
    PartitionTask& task = task_of(group, tp.partition);
    if (group.assigned[tp.partition]++ > 0) continue;  // the task has another input here
    if (task.stateful()) {
      to_prepare_.push_back(tp);
    } else {
      task.set_ready(true);
    }
  }
}

void Assignment::release(const std::vector<kafka::TopicPartition>& tps) {
  for (const auto& tp : tps) {
    TopicSlot* slot = slot_of(tp.topic, tp.partition);
    if (slot == nullptr || !slot->assigned[tp.partition]) continue;
    --assigned_count_;
    slot->assigned[tp.partition] = 0;
    slot->at_end[tp.partition] = 0;
    TaskGroup& group = *slot->group;
    if (group.aligned()) slot->buffers[tp.partition] = PartitionBuffer{};
    // The task closes when the last of its inputs goes.
    if (--group.assigned[tp.partition] > 0) continue;
    if (static_cast<std::size_t>(tp.partition) < group.tasks.size() && group.tasks[tp.partition]) {
      group.tasks[tp.partition]->close_stores();
    }
    std::erase_if(to_prepare_, [&](const kafka::TopicPartition& waiting) {
      const TopicSlot* s = slot_of(waiting.topic, waiting.partition);
      return waiting.partition == tp.partition && s != nullptr && s->group == &group;
    });
  }
}

PartitionTask& Assignment::task_of(TaskGroup& group, std::int32_t partition) {
  const auto p = static_cast<std::size_t>(partition);
  if (group.tasks.size() <= p) {
    group.tasks.resize(p + 1);
    group.assigned.resize(p + 1, 0);
  }
  auto& task = group.tasks[p];
  if (!task) {
    std::vector<const Graph*> graphs;
    for (const TopicSlot* input : group.inputs) graphs.push_back(input->graph);
    task = std::make_unique<PartitionTask>(
        std::move(graphs), partition, output_, [this](const StoreDecl& store) -> std::string {
          const auto it = settings_.changelogs.find({store.stream_id, store.name});
          return it == settings_.changelogs.end() ? std::string() : it->second;
        });
  }
  return *task;
}

std::unique_ptr<state::PartitionStore> Assignment::open_store(const state::StoreId& id) {
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
    return settings_.stores->open(id, deadline);
  }
}

bool Assignment::prepare(kafka::Consumer& consumer, const std::atomic<bool>& stop) {
  if (to_prepare_.empty()) return false;
  // One entry per task: the first of its inputs assigned stands for it.
  auto waiting = std::move(to_prepare_);
  to_prepare_.clear();
  std::vector<std::pair<TaskGroup*, std::int32_t>> tasks;
  std::vector<kafka::TopicPartition> tps;  // every assigned input partition of those tasks
  for (const auto& tp : waiting) {
    TopicSlot* slot = slot_of(tp.topic, tp.partition);
    if (slot == nullptr || !assigned(*slot->group, tp.partition)) continue;
    tasks.emplace_back(slot->group, tp.partition);
    for (const TopicSlot* input : slot->group->inputs) {
      if (static_cast<std::size_t>(tp.partition) < input->assigned.size() &&
          input->assigned[tp.partition]) {
        tps.push_back({input->topic, tp.partition});
      }
    }
  }
  std::vector<state::RestoreRequest> restores;
  std::vector<PartitionTask*> restored;
  std::vector<kafka::TopicPartition> committed;
  if (!settings_.changelogs.empty() && !tps.empty()) {
    committed =
        kafka::with_retries([&] { return consumer.committed(tps, config_.request_timeout); },
                            config_.request_timeout, "reading committed offsets");
  }
  const std::vector<kafka::TopicPartition> lows = low_watermarks(committed);
  for (const auto& [group, partition] : tasks) {
    prepare_task(consumer, *group, partition, committed, lows, restores, restored);
  }
  restore_all(restores, stop);
  if (stop.load()) return true;
  for (PartitionTask* task : restored) task->set_ready(true);
  return true;
}

std::vector<kafka::TopicPartition> Assignment::low_watermarks(
    const std::vector<kafka::TopicPartition>& committed) {
  std::vector<kafka::TopicPartition> tps;
  for (const auto& c : committed) {
    if (c.offset >= 0) tps.push_back({c.topic, c.partition});
  }
  if (tps.empty()) return tps;
  return kafka::with_retries(
      [&] { return lookups().query_low_watermarks(tps, config_.request_timeout); },
      config_.request_timeout, "querying low watermarks");
}

kafka::Consumer& Assignment::lookups() {
  if (!lookups_) lookups_ = std::make_unique<kafka::Consumer>(settings_.restore_config);
  return *lookups_;
}

void Assignment::prepare_task(kafka::Consumer& consumer, TaskGroup& group, std::int32_t partition,
                              const std::vector<kafka::TopicPartition>& committed,
                              const std::vector<kafka::TopicPartition>& lows,
                              std::vector<state::RestoreRequest>& restores,
                              std::vector<PartitionTask*>& restored) {
  PartitionTask& task = task_of(group, partition);
  if (task.ready()) return;
  auto& stores = task.stores();
  for (std::size_t i = 0; i < stores.size(); ++i) {
    task.attach(i, open_store({stores[i]->name, stores[i]->stream_id, partition}));
  }
  if (settings_.changelogs.empty()) {
    task.set_ready(true);
    return;
  }

  // ST-05: per input topic, records are applied up to its committed offset. APP-10: the
  // committed offset fell below the low watermark (retention deleted records the state was
  // built from).
  std::vector<std::pair<std::string, std::int64_t>> boundaries;
  bool only_without_offsets = false;
  bool destroyed = false;
  for (const TopicSlot* input : group.inputs) {
    const std::string& topic = input->topic;
    if (static_cast<std::size_t>(partition) >= input->assigned.size() ||
        !input->assigned[partition]) {
      continue;
    }
    // This input partition's offset in `list` (committed offsets, low watermarks).
    const auto offset_in = [&](const std::vector<kafka::TopicPartition>& list) {
      std::int64_t found = kafka::offset_invalid;
      for (const auto& tp : list) {
        if (tp.topic == topic && tp.partition == partition) found = tp.offset;
      }
      return found;
    };
    const std::int64_t offset = offset_in(committed);
    std::int64_t boundary = offset >= 0 ? offset : 0;
    if (offset >= 0) {
      const std::int64_t low = offset_in(lows);
      if (offset < low) {
        const std::string where = topic + "[" + std::to_string(partition) + "] committed offset " +
                                  std::to_string(offset) + " is below the low watermark " +
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
        if (!destroyed) {
          logger()->critical("{}: destructive state recovery, deleting the partition's stores",
                             where);
          task.close_stores();
          for (std::size_t i = 0; i < stores.size(); ++i) {
            settings_.stores->destroy({stores[i]->name, stores[i]->stream_id, partition});
            task.attach(i, open_store({stores[i]->name, stores[i]->stream_id, partition}));
          }
          destroyed = true;
        }
        if (reset == StateRecoveryOffsetReset::earliest) {
          boundary = low;
          consumer.seek({topic, partition, low}, config_.request_timeout);
        } else {
          only_without_offsets = true;
          const std::int64_t high =
              kafka::with_retries(
                  [&] {
                    return lookups().query_watermarks(topic, partition, config_.request_timeout);
                  },
                  config_.request_timeout, "querying watermarks")
                  .second;
          consumer.seek({topic, partition, high}, config_.request_timeout);
        }
      }
    }
    boundaries.emplace_back(topic, boundary);
  }
  for (auto& st : stores) {
    state::RestoreRequest request;
    request.store = st->store.get();
    request.store_name = st->name;
    request.changelog = st->changelog;
    request.partition = partition;
    request.boundaries = boundaries;
    request.only_without_offsets = only_without_offsets;
    if (metrics_ != nullptr || health_ != nullptr) {
      auto count = metrics_ != nullptr ? metrics_->restore_observer(st->name, partition)
                                       : std::function<void(std::int64_t, std::int64_t)>{};
      request.on_progress = [count = std::move(count), health = health_](std::int64_t records,
                                                                         std::int64_t left) {
        if (count) count(records, left);
        if (health != nullptr) health->turned();
      };
    }
    restores.push_back(std::move(request));
  }
  restored.push_back(&task);
}

std::chrono::milliseconds Assignment::open_transaction_wait() const {
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

void Assignment::restore_all(std::vector<state::RestoreRequest>& requests,
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

Assignment::TopicSlot* Assignment::slot_of(const kafka::Message& m) {
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

Assignment::TopicSlot* Assignment::slot_of(const std::string& topic, std::int32_t partition) {
  const auto it = slot_by_name_.find(topic);
  if (it == slot_by_name_.end() || partition < 0) return nullptr;
  TopicSlot& slot = *it->second;
  // Partitions can be added to a topic while it is consumed: grow on demand.
  if (static_cast<std::size_t>(partition) >= slot.assigned.size()) {
    slot.assigned.resize(partition + 1, 0);
    slot.consumed.resize(partition + 1, 0);
    slot.at_end.resize(partition + 1, 0);
    if (slot.group->aligned()) slot.buffers.resize(partition + 1);
  }
  return &slot;
}

}  // namespace streamframe::detail
