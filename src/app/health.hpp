// Liveness and readiness of the application for orchestrators' probes (issue 18; see
// docs/operations.md). Workers write plain atomics once per loop turn; the HTTP thread reads
// them when a probe asks, so a probe never waits for the run loop.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace streamframe::detail {

// One worker's part, written by its thread (and its restore threads).
class WorkerHealth {
 public:
  explicit WorkerHealth(int index);
  // The loop turned (or a restore read a batch): the worker is alive now.
  void turned() noexcept;
  // The group gave this worker its partitions (possibly none): it has joined.
  void joined() noexcept { joined_.store(true, std::memory_order_relaxed); }
  // The group dropped it (session expired); it waits for the next assignment.
  void left() noexcept { joined_.store(false, std::memory_order_relaxed); }
  void restoring(bool on) noexcept { restoring_.store(on, std::memory_order_relaxed); }

 private:
  friend class Health;
  int index_;
  std::atomic<std::int64_t> heartbeat_ns_;
  std::atomic<bool> joined_{false};
  std::atomic<bool> restoring_{false};
};

class Health {
 public:
  explicit Health(std::chrono::milliseconds liveness_timeout)
      : liveness_timeout_(liveness_timeout) {}

  // A run starts: its workers register (each before its first turn). `has_workers`: the run
  // consumes topics (a run of sources alone has no worker and is ready once running).
  void run_started(bool has_workers);
  std::shared_ptr<WorkerHealth> add_worker(int index);
  // The run is over; `error` is empty after a graceful end, else what ended it.
  void run_ended(const std::string& error);

  struct Answer {
    bool ok = false;
    std::string body;  // a JSON object: {"status": "up" | "down", "reason": ...}
  };
  // Live: no run ended in an error, and every worker of a run in progress turned within the
  // liveness timeout. Before the first run and after a graceful end: live (starting,
  // stopping).
  Answer live() const;
  // Ready: live, a run in progress, every worker joined its group, none restoring.
  Answer ready() const;

 private:
  // Why the application is not live, empty when it is. Callers hold mutex_.
  std::string not_live() const;

  const std::chrono::milliseconds liveness_timeout_;
  mutable std::mutex mutex_;
  bool running_ = false;
  bool has_workers_ = false;
  std::string failure_;
  std::vector<std::shared_ptr<WorkerHealth>> workers_;
};

}  // namespace streamframe::detail
