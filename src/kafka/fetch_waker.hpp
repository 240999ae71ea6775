// Keeps librdkafka's fetcher busy while a consumer has a backlog, for librdkafka < 2.4.
//
// Before 2.4 (no fetch.queue.backoff.ms) a partition whose local queue is over
// queued.min.messages or queued.max.messages.kbytes is dropped from its broker thread's fetch
// list with no backoff time; the thread decides again only when it wakes: on socket I/O, on an
// operation queued for it, or after 1 s. Once every partition's queue is full no fetch is in
// flight, so the thread sleeps out the second although the application drains the queue in a
// fraction of it. The only cure in configuration is a queue holding more than a second of
// records: hundreds of MiB at the rates this engine reaches (bench/nexmark/notes.md).
//
// The waker gives the broker threads an operation while a backlog lasts: every `interval` it
// asks the leaders of the assigned partitions for their end offsets (one ListOffsets request
// per broker, answered from the broker's memory). Serving it, a broker thread decides again
// and fetches for the partitions whose queue has room. No request is made while the consumer
// keeps up with its input (no full batch since the last tick).
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace streamframe::kafka {

class FetchWaker {
 public:
  // Whether this librdkafka needs one (it cannot bound the queue-full backoff itself).
  static bool needed();

  // Starts the thread; `rk` must outlive the waker (destroy or stop() it first).
  FetchWaker(rd_kafka_t* rk, std::chrono::milliseconds interval);
  ~FetchWaker() { stop(); }
  FetchWaker(const FetchWaker&) = delete;
  FetchWaker& operator=(const FetchWaker&) = delete;

  // A poll found as many messages as it asked for: more are queued, the fetcher may be idle.
  void note_backlog() noexcept { backlog_.store(true, std::memory_order_relaxed); }
  // Joins the thread (a request in flight ends within its timeout). Idempotent.
  void stop();
  // Ticks that made a request (tests).
  std::uint64_t wakes() const noexcept { return wakes_.load(std::memory_order_relaxed); }

 private:
  void run();
  void wake();

  rd_kafka_t* rk_;
  std::chrono::milliseconds interval_;
  std::atomic<bool> backlog_{false};
  std::atomic<std::uint64_t> wakes_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace streamframe::kafka
