// Store writes that finish after the checkpoint that made them (issue 15 item 1): a
// checkpoint's batch goes into RocksDB's memtable on a thread of its own while the run loop
// processes the next messages.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace streamframe::state {

// One thread that runs jobs in the order they were submitted, shared by every store of a
// process. The destructor runs what is queued, then joins.
class BackgroundWriter {
 public:
  BackgroundWriter();
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  void submit(std::function<void()> job);

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members it uses exist
};

// A store's one write in flight. The owner starts it, and waits for it before anything else
// touches the store; an error the write met is rethrown by every wait from then on (the store
// lacks that batch, so nothing read from it can be trusted until the changelog restores it).
// The owner waits before it is destroyed.
class PendingWrite {
 public:
  // Runs `job` on `writer`. The previous write must have been waited for.
  void start(BackgroundWriter& writer, std::function<void()> job);
  // Returns once no write is in flight; throws the error of a failed one.
  void wait() const;
  // wait() without the throw: the error of a failed write, or null.
  std::exception_ptr wait_quietly() const noexcept;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable done_;
  // Read without the lock on every store call: false almost always.
  std::atomic<bool> unsettled_{false};
  bool busy_ = false;
  std::exception_ptr error_;
};

}  // namespace streamframe::state
