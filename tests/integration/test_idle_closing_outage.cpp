// At-least-once with idle closing (EXT-02): a window that idle closing emitted must not be lost
// when the process dies before that output is acknowledged.
//
// Idle closing changes state outside any message, so its changelog records carry no
// processed-offsets header and a restore applies them whether or not their checkpoint
// completed. If the window's deletion reached the changelog while its output was still
// undelivered, a crash lost the window: the restored state no longer held it and nothing
// emitted it again. The checkpoint now has the outputs acknowledged before it produces such
// changes.
//
// A 3-node cluster of the test's own places the partitions: input and changelog on node 1, the
// output on node 3 alone. With node 3 killed, idle closing emits the windows into a producer
// that cannot deliver them; the changelog must not change meanwhile. The app is SIGKILLed,
// node 3 comes back, the app restarts on its state directory, and every window must reach
// the output.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "support/app_process.hpp"
#include "support/child_process.hpp"
#include "support/eos_observer.hpp"
#include "support/kafka_cluster.hpp"
#include "support/kafka_probe.hpp"
#include "support/test_env.hpp"
#include "support/window_app.hpp"

namespace {

using namespace std::chrono_literals;
namespace sft = streamframe::test;
using sft::info;

void control(sft::KafkaCluster& cluster, const std::string& args) {
  const auto t0 = std::chrono::steady_clock::now();
  cluster.control(args);
  info("scripts/kafka " + args + ": " + std::to_string(sft::seconds_since(t0)) + " s");
}

TEST(IdleClosingAtLeastOnce, WindowEmittedWhileItsOutputIsUndeliverableSurvivesACrash) {
  REQUIRE_TEST_BROKERS();  // a cluster of its own, but only where the integration tier runs
  sft::KafkaCluster cluster(3);
  const std::string brokers = cluster.address();
  const std::string input = sft::unique_name("idle-alo-in");
  const std::string output = sft::unique_name("idle-alo-out");
  const std::string group = sft::unique_name("idle-alo-group");
  const sft::WindowParams window{
      .window_ms = 1000, .grace_ms = 0, .closing = "key", .idle_timeout_ms = 3000};
  // The changelog the app would create (TOP-14, WIN-12), made here to fix its broker.
  const std::string changelog = "changelog__" + group + "--" + input + "--tumbling_window_1000";
  sft::raw::create_topic_on(brokers, input, {1});
  sft::raw::create_topic_on(brokers, output, {3});
  sft::raw::create_topic_on(brokers, changelog, {1}, {{"cleanup.policy", "compact"}});
  const std::string state = ::testing::TempDir() + group + "-state";
  std::filesystem::remove_all(state);

  // 4 keys x 10 records in one window each, an hour ago (idle closing closes them all).
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::int64_t base = (now_ms - 3600 * 1000) / 1000 * 1000;
  std::vector<sft::WindowInput> inputs;
  std::map<sft::WindowId, sft::WindowResult> expected;
  for (int i = 0; i < 10; ++i) {
    for (int k = 0; k < 4; ++k) {
      sft::WindowInput in{"key-" + std::to_string(k), 1 + i * 4 + k, base + 50 * i + k};
      auto& r = expected[{in.key, base}];
      r.sum += in.v;
      ++r.n;
      inputs.push_back(std::move(in));
    }
  }

  sft::StatefulAppOptions opts{.brokers = brokers,
                               .input = input,
                               .output = output,
                               .group = group,
                               .state_dir = state,
                               .guarantee = "at_least_once",
                               .commit_interval_ms = 200,
                               .extra_args = {"--loglevel", "DEBUG"}};
  auto app = sft::start_window_app(opts, window, "run1");
  ASSERT_TRUE(sft::wait_for_log(*app, "partitions assigned: 1", 60s)) << app->log_tail();

  // The output's only broker goes away before anything is produced to it.
  ASSERT_NO_THROW(control(cluster, "kill-broker 3"));
  sft::KafkaProbe probe(brokers, group);
  sft::Feeder<sft::WindowInput> feeder(brokers, input, inputs);
  feeder.produce_now(inputs.size());
  ASSERT_TRUE(feeder.flush(30s));
  const auto n = static_cast<std::int64_t>(inputs.size());
  // The group's coordinator may have been node 3: until the cluster moves it (after node 3's
  // session times out), a committed-offsets query times out. That is the outage this test
  // makes, not the app's failure, so such a query only means "not yet".
  const auto committed_all = [&] {
    try {
      return probe.committed(input, 1, 5s)[0] == n;
    } catch (const std::exception& e) {
      info(std::string("committed offsets not readable yet: ") + e.what());
      return false;
    }
  };
  ASSERT_TRUE(sft::wait_until([&] { return !app->running() || committed_all(); }, 60s, 100ms))
      << "the app did not commit its input\n"
      << app->log_tail();
  ASSERT_TRUE(app->running()) << app->log_tail();
  const std::int64_t changelog_end = probe.end_offsets(changelog, 1)[0];
  info("input committed; changelog end " + std::to_string(changelog_end));
  EXPECT_GT(changelog_end, 0) << "the windows' state was never changelogged";

  // Idle closing emits the 4 windows into a producer that cannot deliver them. Their state
  // change may not reach the changelog before they are acknowledged.
  ASSERT_TRUE(sft::wait_for_log(*app, "idle closing at stream time", 30s)) << app->log_tail();
  std::this_thread::sleep_for(5s);  // time for a changelog record to be acknowledged
  EXPECT_EQ(probe.end_offsets(changelog, 1)[0], changelog_end)
      << "idle closing's state change was produced before its outputs were delivered";
  ASSERT_NO_FATAL_FAILURE(sft::kill_hard(*app, "run 1"));

  // Back on its state directory with the output's broker up, the app must emit the windows.
  ASSERT_NO_THROW(control(cluster, "start-broker 3"));
  auto again = sft::start_window_app(opts, window, "run2");
  sft::CommittedReader reader(brokers, output, 1);
  ASSERT_TRUE(sft::wait_until(
      [&] { return !again->running() || reader.count() >= static_cast<std::int64_t>(4); }, 90s,
      200ms))
      << "the windows never reached the output\n"
      << again->log_tail();
  ASSERT_NO_FATAL_FAILURE(sft::stop_gracefully(*again, "run 2"));
  const auto check = sft::check_window_outputs(expected, reader.snapshot(), window);
  info("check: " + check.summary());
  EXPECT_TRUE(check.at_least_once()) << check.summary() << "\n" << again->log_tail();
}

}  // namespace
