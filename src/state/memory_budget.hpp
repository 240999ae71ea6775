// The memory one process's state may hold in front of its stores (issue 15 item 3): the
// transactions' read caches and the open windows of every partition, on every worker thread,
// share one budget. Each cache charges what it holds; while the sum is over the limit, every
// cache trims itself at its next checkpoint to its share (its own bytes times limit / used),
// so the caches shrink in proportion without talking to each other, and a cache that holds
// little is asked to give up little.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>

namespace streamframe::state {

class MemoryBudget {
 public:
  explicit MemoryBudget(std::size_t limit) noexcept : limit_(limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  std::size_t limit() const noexcept { return limit_; }
  // What every cache charges now (each updates its charge at its own checkpoints).
  std::size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }

  // What a cache holding `own` bytes may keep: all of it while the sum is inside the limit,
  // else a quarter under its proportional share, so that one trim lasts several checkpoints
  // instead of being repeated at each.
  std::size_t allowance(std::size_t own) const noexcept {
    const std::size_t used_now = used();
    if (used_now <= limit_ || used_now == 0) return own;
    const double share =
        static_cast<double>(own) * static_cast<double>(limit_) / static_cast<double>(used_now);
    return static_cast<std::size_t>(share * 0.75);
  }

 private:
  friend class MemoryCharge;
  const std::size_t limit_;
  std::atomic<std::size_t> used_{0};
};

// One cache's part of a budget; gives it back when destroyed. Without a budget it only
// remembers its bytes.
class MemoryCharge {
 public:
  MemoryCharge() = default;
  explicit MemoryCharge(std::shared_ptr<MemoryBudget> budget) noexcept
      : budget_(std::move(budget)) {}
  ~MemoryCharge() { set(0); }
  MemoryCharge(const MemoryCharge&) = delete;
  MemoryCharge& operator=(const MemoryCharge&) = delete;

  void set(std::size_t bytes) noexcept {
    if (budget_ && bytes != bytes_) {
      if (bytes > bytes_) {
        budget_->used_.fetch_add(bytes - bytes_, std::memory_order_relaxed);
      } else {
        budget_->used_.fetch_sub(bytes_ - bytes, std::memory_order_relaxed);
      }
    }
    bytes_ = bytes;
  }
  std::size_t bytes() const noexcept { return bytes_; }
  // The bytes this cache may keep (all of them without a budget).
  std::size_t allowance() const noexcept { return budget_ ? budget_->allowance(bytes_) : bytes_; }
  bool bounded() const noexcept { return budget_ != nullptr; }
  const std::shared_ptr<MemoryBudget>& budget() const noexcept { return budget_; }

 private:
  std::shared_ptr<MemoryBudget> budget_;
  std::size_t bytes_ = 0;
};

}  // namespace streamframe::state
