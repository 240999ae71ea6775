#include "state/write_behind.hpp"

#include <pthread.h>

#include <utility>

namespace streamframe::state {

BackgroundWriter::BackgroundWriter() : thread_([this] { loop(); }) {
  // Named for profiles and thread listings (at most 15 characters).
  pthread_setname_np(thread_.native_handle(), "sf-store-write");
}

BackgroundWriter::~BackgroundWriter() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void BackgroundWriter::submit(std::function<void()> job) {
  {
    const std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void BackgroundWriter::loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing left to run
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();  // never throws: PendingWrite::start wraps it
    lock.lock();
  }
}

void PendingWrite::start(BackgroundWriter& writer, std::function<void()> job) {
  {
    const std::lock_guard lock(mutex_);
    busy_ = true;
    unsettled_.store(true, std::memory_order_release);
  }
  writer.submit([this, job = std::move(job)] {
    std::exception_ptr error;
    try {
      job();
    } catch (...) {
      error = std::current_exception();
    }
    // Notified under the lock: once it is released the owner may destroy this object, and
    // nothing here touches it after that.
    const std::lock_guard lock(mutex_);
    busy_ = false;
    if (error) error_ = error;
    unsettled_.store(error_ != nullptr, std::memory_order_release);
    done_.notify_all();
  });
}

std::exception_ptr PendingWrite::wait_quietly() const noexcept {
  if (!unsettled_.load(std::memory_order_acquire)) return nullptr;
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return !busy_; });
  return error_;
}

void PendingWrite::wait() const {
  if (auto error = wait_quietly()) std::rethrow_exception(error);
}

}  // namespace streamframe::state
