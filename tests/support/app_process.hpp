// Running a stateful test program of tests/apps (counter_app, window_app: they share their
// command line, tests/apps/app_cli.hpp) as a child process against a real broker: starting it,
// watching its log, stopping it gracefully or with SIGKILL.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/child_process.hpp"

namespace streamframe::test {

// The command line every stateful app takes (StatefulAppCli in tests/apps/app_cli.hpp).
struct StatefulAppOptions {
  std::string brokers;
  std::string input;
  std::string output;
  std::string group;
  std::string state_dir;
  std::string guarantee = "exactly_once";  // or "at_least_once"
  long commit_interval_ms = 1000;
  // A SIGKILLed member leaves the group after this (the broker's minimum here is 1 s;
  // librdkafka's default 45 s would make every restart wait that long). 0 = client default.
  long session_timeout_ms = 6000;
  // App-specific options, appended.
  std::vector<std::string> extra_args{};
};

inline std::vector<std::string> stateful_app_argv(const std::string& program,
                                                  const StatefulAppOptions& o) {
  std::vector<std::string> argv{program,
                                "--brokers",
                                o.brokers,
                                "--input",
                                o.input,
                                "--output",
                                o.output,
                                "--group",
                                o.group,
                                "--state-dir",
                                o.state_dir,
                                "--guarantee",
                                o.guarantee,
                                "--commit-interval-ms",
                                std::to_string(o.commit_interval_ms)};
  if (o.session_timeout_ms > 0) {
    argv.push_back("--consumer-config");
    argv.push_back("session.timeout.ms=" + std::to_string(o.session_timeout_ms));
  }
  // STREAMFRAME_TEST_APP_DEBUG=cgrp,fetch,... turns on librdkafka's debug contexts in every
  // app a test starts: a failure's log then shows what the consumer group did.
  if (const char* debug = std::getenv("STREAMFRAME_TEST_APP_DEBUG"); debug && *debug) {
    argv.push_back("--consumer-config");
    argv.push_back(std::string("debug=") + debug);
    argv.push_back("--loglevel");  // librdkafka's debug lines reach the log at DEBUG
    argv.push_back("DEBUG");
  }
  argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
  return argv;
}

// Starts `program`; its stdout and stderr go to <gtest temp dir>/<group>-<run_name>.log.
inline std::unique_ptr<ChildProcess> start_stateful_app(const std::string& program,
                                                        const StatefulAppOptions& o,
                                                        const std::string& run_name) {
  return std::make_unique<ChildProcess>(stateful_app_argv(program, o),
                                        ::testing::TempDir() + o.group + "-" + run_name + ".log");
}

// How many times `needle` occurs in the child's log so far.
inline std::size_t log_count(const ChildProcess& child, std::string_view needle) {
  const std::string log = child.log();
  std::size_t n = 0;
  for (auto pos = log.find(needle); pos != std::string::npos;
       pos = log.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// Waits until the child's log holds `needle` at least `times` times; false when the child
// exits first or `timeout` passes.
inline bool wait_for_log(ChildProcess& child, std::string_view needle,
                         std::chrono::milliseconds timeout, std::size_t times = 1) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (log_count(child, needle) < times) {
    if (!child.running() || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Waits until a run of a kill test got its partitions (`assigned_line` in its log) and then
// committed a checkpoint of its own (`committed()` passed `committed_before`), so a kill after
// this hits running processing between checkpoints. A run that ended, or whose inputs are all
// fed (`all_fed()`), counts as done too. Fails naming the step that timed out.
template <typename Committed, typename AllFed>
::testing::AssertionResult wait_for_own_commit(ChildProcess& app, std::string_view assigned_line,
                                               Committed committed, std::int64_t committed_before,
                                               AllFed all_fed, const std::string& what) {
  using namespace std::chrono_literals;
  if (!wait_for_log(app, assigned_line, 60s)) {
    return ::testing::AssertionFailure() << what << " got no assignment within 60 s\n"
                                         << app.log_tail();
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (app.running() && committed() <= committed_before && !all_fed()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return ::testing::AssertionFailure()
             << what << " committed nothing within 30 s of assignment\n"
             << app.log_tail();
    }
    std::this_thread::sleep_for(50ms);
  }
  return ::testing::AssertionSuccess();
}

// Stops the app with SIGTERM (graceful, final checkpoint) and expects exit code 0.
inline void stop_gracefully(ChildProcess& app, const std::string& what) {
  using namespace std::chrono_literals;
  ASSERT_TRUE(app.running()) << what << " is not running any more\n" << app.log_tail();
  app.signal(SIGTERM);
  const auto st = app.wait_for_exit(60s);
  ASSERT_TRUE(st.has_value()) << what << ": no exit within 60 s of SIGTERM\n" << app.log_tail();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
      << what << ": " << describe_wait_status(*st) << "\n"
      << app.log_tail();
}

// SIGKILLs the app, which must still be running, and reaps it.
inline void kill_hard(ChildProcess& app, const std::string& what) {
  using namespace std::chrono_literals;
  ASSERT_TRUE(app.running()) << what << " ended by itself before the kill:\n" << app.log_tail();
  app.signal(SIGKILL);
  const auto st = app.wait_for_exit(10s);
  ASSERT_TRUE(st.has_value()) << what << " survived SIGKILL";
  ASSERT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL)
      << what << ": " << describe_wait_status(*st) << "\n"
      << app.log_tail();
}

// "<app>: stopped consumed=N ..." (the line after a graceful stop) => N, or -1.
inline std::int64_t consumed_at_stop(const ChildProcess& app) {
  static const std::regex re("stopped consumed=([0-9]+)");
  std::smatch m;
  const std::string log = app.log();
  if (std::regex_search(log, m, re)) return std::stoll(m[1]);
  return -1;
}

// Records applied by "restored store ... N records applied" lines from byte `from` of the log.
inline std::int64_t restored_records(const ChildProcess& app, std::size_t from = 0) {
  static const std::regex re("restored store '[^']*' partition [0-9]+: ([0-9]+) records applied");
  const std::string log = app.log();
  const std::string tail = from < log.size() ? log.substr(from) : std::string();
  std::int64_t n = 0;
  for (std::sregex_iterator it(tail.begin(), tail.end(), re), end; it != end; ++it) {
    n += std::stoll((*it)[1]);
  }
  return n;
}

// The seed of a test's randomness: STREAMFRAME_TEST_SEED when set (to repeat a run), else a
// random one.
inline std::uint64_t test_seed() {
  if (const char* s = std::getenv("STREAMFRAME_TEST_SEED"); s && *s) {
    return std::strtoull(s, nullptr, 10);
  }
  return std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32);
}

}  // namespace streamframe::test
