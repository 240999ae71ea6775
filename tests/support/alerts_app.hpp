// Running tests/apps/alerts_app (the README pipeline as a program) as a child process against
// the test broker, and the bounded waits the process-level tests share.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/child_process.hpp"
#include "support/topic_ready.hpp"

#ifndef STREAMFRAME_ALERTS_APP
#error "STREAMFRAME_ALERTS_APP (path of streamframe_alerts_app) is set by tests/apps/CMakeLists.txt"
#endif

namespace streamframe::test {

inline std::string alerts_app_path() {
  return STREAMFRAME_ALERTS_APP;
}

struct AlertsAppOptions {
  std::string brokers;
  std::string input;
  std::string output;
  std::string group;
  long commit_interval_ms = 5000;
  bool no_filter = false;
  long pace_us = 0;  // the app sleeps this long per reading (0: full speed)
  std::vector<std::string> extra_args{};
};

// Starts the app; its stdout and stderr go to <gtest temp dir>/<group>-<run>.log.
inline std::unique_ptr<ChildProcess> start_alerts_app(const AlertsAppOptions& o,
                                                      const std::string& run_name) {
  std::vector<std::string> argv{alerts_app_path(),
                                "--brokers",
                                o.brokers,
                                "--input",
                                o.input,
                                "--output",
                                o.output,
                                "--group",
                                o.group,
                                "--commit-interval-ms",
                                std::to_string(o.commit_interval_ms),
                                "--auto-offset-reset",
                                "earliest"};
  if (o.no_filter) argv.push_back("--no-filter");
  if (o.pace_us > 0) {
    argv.push_back("--pace-us");
    argv.push_back(std::to_string(o.pace_us));
  }
  argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
  return std::make_unique<ChildProcess>(argv,
                                        ::testing::TempDir() + o.group + "-" + run_name + ".log");
}

// Creates topics (absent ones) through the library's own Application::topic (APP-08), then
// waits until every broker lists them (topic_ready.hpp).
inline void create_topics(const std::string& brokers, const std::vector<std::string>& names,
                          int partitions) {
  Application admin({.broker_address = brokers,
                     .consumer_group = "streamframe-test-admin",
                     .loglevel = "WARNING"});
  for (const auto& name : names) {
    admin.topic(name, {.config = TopicConfig{.num_partitions = partitions}});
  }
  wait_until_every_broker_lists(brokers, names, partitions);
}

// Polls `done` every `period` until it returns true or `timeout` passes; false on timeout.
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds period = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(period);
  }
  return true;
}

}  // namespace streamframe::test
