#include "app/health.hpp"

#include <fmt/format.h>

#include "streamframe/value.hpp"

namespace streamframe::detail {

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Health::Answer answer(const std::string& reason) {
  if (reason.empty()) return {true, Value::object({{"status", Value("up")}}).to_json()};
  return {false, Value::object({{"status", Value("down")}, {"reason", Value(reason)}}).to_json()};
}

}  // namespace

WorkerHealth::WorkerHealth(int index) : index_(index), heartbeat_ns_(now_ns()) {}

void WorkerHealth::turned() noexcept {
  heartbeat_ns_.store(now_ns(), std::memory_order_relaxed);
}

void Health::run_started(bool has_workers) {
  std::lock_guard lock(mutex_);
  running_ = true;
  has_workers_ = has_workers;
  failure_.clear();
  workers_.clear();
}

std::shared_ptr<WorkerHealth> Health::add_worker(int index) {
  auto w = std::make_shared<WorkerHealth>(index);
  std::lock_guard lock(mutex_);
  workers_.push_back(w);
  return w;
}

void Health::run_ended(const std::string& error) {
  std::lock_guard lock(mutex_);
  running_ = false;
  failure_ = error;
  workers_.clear();
}

std::string Health::not_live() const {
  if (!failure_.empty()) return "run() ended with an error: " + failure_;
  if (!running_) return {};
  const std::int64_t now = now_ns();
  const std::int64_t limit =
      std::chrono::duration_cast<std::chrono::nanoseconds>(liveness_timeout_).count();
  for (const auto& w : workers_) {
    const std::int64_t idle = now - w->heartbeat_ns_.load(std::memory_order_relaxed);
    if (idle > limit) {
      return fmt::format("worker {}'s loop has not turned for {:.1f} s (liveness_timeout {} ms)",
                         w->index_, static_cast<double>(idle) / 1e9, liveness_timeout_.count());
    }
  }
  return {};
}

Health::Answer Health::live() const {
  std::lock_guard lock(mutex_);
  return answer(not_live());
}

Health::Answer Health::ready() const {
  std::lock_guard lock(mutex_);
  std::string reason = not_live();
  if (reason.empty() && !running_) reason = "not running";
  if (reason.empty() && has_workers_ && workers_.empty()) reason = "starting its workers";
  for (const auto& w : workers_) {
    if (!reason.empty()) break;
    if (!w->joined_.load(std::memory_order_relaxed)) {
      reason = fmt::format("worker {} waits for its partition assignment", w->index_);
    } else if (w->restoring_.load(std::memory_order_relaxed)) {
      reason = fmt::format("worker {} is restoring state", w->index_);
    }
  }
  return answer(reason);
}

}  // namespace streamframe::detail
