#include "kafka/fetch_waker.hpp"

#include "kafka/config.hpp"
#include "kafka/types.hpp"

namespace streamframe::kafka {

namespace {

// Long enough for a loaded local broker, short enough that stop() never waits long.
constexpr int kRequestTimeoutMs = 500;

}  // namespace

bool FetchWaker::needed() {
  static const bool has_backoff = option_supported("fetch.queue.backoff.ms");
  return !has_backoff;
}

FetchWaker::FetchWaker(rd_kafka_t* rk, std::chrono::milliseconds interval)
    : rk_(rk), interval_(interval), thread_([this] { run(); }) {}

void FetchWaker::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FetchWaker::run() {
  std::unique_lock lock(mutex_);
  while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
    if (!backlog_.exchange(false, std::memory_order_relaxed)) continue;
    lock.unlock();
    wake();
    lock.lock();
  }
}

void FetchWaker::wake() {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(rk_, &raw) != RD_KAFKA_RESP_ERR_NO_ERROR || raw == nullptr) return;
  const TopicPartitionListPtr assigned(raw);
  if (assigned->cnt == 0) return;
  // The offset field is the timestamp asked for: -1 (RD_KAFKA_OFFSET_END) is the end offset.
  for (int i = 0; i < assigned->cnt; ++i) assigned->elems[i].offset = RD_KAFKA_OFFSET_END;
  // The answer is not used: the request itself is the point. Errors (no leader known, a
  // broker down) need nothing either; the fetcher has its own handling of those.
  (void)rd_kafka_offsets_for_times(rk_, assigned.get(), kRequestTimeoutMs);
  wakes_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace streamframe::kafka
