// Runs one Source in a thread of its own with a producer of its own (SRC-01, SRC-02) and
// keeps what the application needs to know of it: whether it still runs, and how it failed.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "app/source_store.hpp"
#include "kafka/config.hpp"
#include "streamframe/source.hpp"
#include "streamframe/topic.hpp"

namespace streamframe::detail {

struct SourceAccess {
  // Gives `source` its topic and producer; a source already running elsewhere =>
  // InvalidOperation.
  // `store`: a StatefulSource's (restored by restore(), on the source's thread).
  static void configure(Source& source, const Topic& topic, const kafka::Config& producer_config,
                        std::shared_ptr<SourceStore> store = nullptr,
                        std::chrono::milliseconds restore_timeout = std::chrono::seconds(60));
  static void restore(Source& source);
  static std::shared_ptr<Source::Runtime> runtime(Source& source) { return source.runtime_; }
  // The source's thread ends: not running, its producer closed.
  static void thread_ended(Source& source, const std::shared_ptr<Source::Runtime>& runtime);
  static void set_running(Source& source, bool running);
};

class SourceRunner {
 public:
  // `on_failure` runs on the source's thread once it failed (the application stops on it).
  SourceRunner(std::shared_ptr<Source> source, std::function<void()> on_failure);
  // Stops the source if it still runs.
  ~SourceRunner();
  SourceRunner(const SourceRunner&) = delete;
  SourceRunner& operator=(const SourceRunner&) = delete;

  void start();
  // Source::stop(), then waits up to the source's shutdown timeout for its thread; a thread
  // still running then is left behind with an ERROR log (SRC-02).
  void stop();
  bool alive() const;
  // What the source failed with (setup, run or cleanup), or null.
  std::exception_ptr error() const;
  const Source& source() const { return *source_; }

 private:
  // Shared with the thread, which may outlive the runner when it does not stop in time.
  struct Shared {
    std::shared_ptr<Source> source;
    std::function<void()> on_failure;
    mutable std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    bool detached = false;
    std::exception_ptr error;
  };
  static void body(const std::shared_ptr<Shared>& shared);

  std::shared_ptr<Source> source_;
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace streamframe::detail
