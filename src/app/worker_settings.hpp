// What a worker is made of: its clients' settings, its pipelines and where their stores come
// from; and the limits and outputs of one run() call.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "dataframe/graph.hpp"
#include "kafka/config.hpp"
#include "kafka/types.hpp"
#include "state/provider.hpp"
#include "streamframe/application.hpp"

namespace streamframe::detail {

class Metrics;
class Health;

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
  // State: where stores come from, and the changelog topic of each (stream id, store).
  state::StoreProvider* stores = nullptr;
  std::map<std::pair<std::string, std::string>, std::string> changelogs;  // empty = none
  kafka::Config restore_config;  // consumer settings for changelog recovery
  bool exactly_once = false;
  // run() with a timeout: the fetcher reports each partition's end, so idleness means that
  // every assigned partition was read to its end.
  bool report_partition_ends = false;
  int index = 0;  // worker number, for logs
  // EXT-08: null when metrics_port is 0. Outlive the worker.
  Metrics* metrics = nullptr;
  Health* health = nullptr;
};

// Limits and outputs of one run() call.
struct RunState {
  RunOptions options;
  std::vector<Value> collected;
  std::atomic<std::size_t> outputs{0};
  std::atomic<bool> limit_reached{false};
  std::mutex collected_mutex;  // workers collect from their own threads
  // SRC-01: called once, by the first worker that has partitions assigned (starts the
  // application's sources).
  std::function<void()> on_first_assignment;
  std::atomic<bool> assigned{false};

  // Leaf rows are collected for run()'s result (collect mode with a count or a timeout).
  bool collecting() const noexcept {
    return options.collect && (options.count > 0 || options.timeout.count() > 0);
  }
};

}  // namespace streamframe::detail
