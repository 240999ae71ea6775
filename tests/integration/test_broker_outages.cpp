// APP-15 across several outages: broker_availability_timeout bounds one outage, timed from its
// own start. A single-node cluster of the test's own is killed and restarted under a running
// counter_app (at-least-once):
//
//   outage 1 (a few seconds plus the broker's restart), normal processing, then outage 2,
//   which starts before broker_availability_timeout has passed since outage 1 began and lasts
//   past that moment: the app survives both (before the fix, the clock of outage 1 never
//   stopped and the app quit during outage 2);
//   then outage 3, longer than the timeout: the app stops with KafkaBrokerUnavailableError
//   about one timeout after it began.
//
// The timeout is chosen from the broker's restart time measured first (a restart takes 5 to
// 20 s on a 2-core machine, depending on load), so the scenario's order of events holds
// whatever the machine's speed. Outages outlast the group's session timeout (6 s), so the app
// also loses and regains its partitions on the way. Every input below the group's final
// committed offset must have its outputs (at-least-once).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/app_process.hpp"
#include "support/child_process.hpp"
#include "support/counter_app.hpp"
#include "support/eos_observer.hpp"
#include "support/kafka_cluster.hpp"
#include "support/kafka_probe.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
namespace sft = streamframe::test;
using Clock = std::chrono::steady_clock;
using sft::info;
using sft::seconds_since;

void control(sft::KafkaCluster& cluster, const std::string& args) {
  const auto t0 = Clock::now();
  cluster.control(args);
  info("scripts/kafka " + args + ": " + std::to_string(seconds_since(t0)) + " s");
}

TEST(BrokerOutages, EachOutageIsTimedFromItsOwnStart) {
  REQUIRE_TEST_BROKERS();  // a cluster of its own, but only where the integration tier runs
  sft::KafkaCluster cluster(1);
  const std::string brokers = cluster.address();
  const std::string input = sft::unique_name("outages-in");
  const std::string output = sft::unique_name("outages-out");
  const std::string group = sft::unique_name("outages-group");
  sft::raw::create_topics(brokers, {input, output}, 1, 1);
  const std::string state = ::testing::TempDir() + group + "-state";
  std::filesystem::remove_all(state);

  constexpr std::int64_t kInputs = 60000;  // 150 s at the paced rate: input never runs out
  const auto inputs = sft::make_counter_inputs(kInputs, 11);
  sft::KafkaProbe probe(brokers, group);
  sft::Feeder<sft::CounterInput> feeder(brokers, input, inputs);
  feeder.produce_now(1000);
  ASSERT_TRUE(feeder.flush(30s));
  feeder.start_paced(400);

  // The broker's restart time here and now decides the timeout (see the top of the file).
  const auto r0 = Clock::now();
  ASSERT_NO_THROW(control(cluster, "kill-broker 1"));
  ASSERT_NO_THROW(control(cluster, "start-broker 1"));
  const double restart = seconds_since(r0);
  const auto timeout = std::chrono::seconds(std::clamp(static_cast<int>(2 * restart) + 25, 35, 90));
  info("broker restart " + std::to_string(restart) + " s: broker_availability_timeout " +
       std::to_string(timeout.count()) + " s");

  sft::StatefulAppOptions opts{.brokers = brokers,
                               .input = input,
                               .output = output,
                               .group = group,
                               .state_dir = state,
                               .guarantee = "at_least_once",
                               .commit_interval_ms = 500};
  opts.extra_args = {"--broker-availability-timeout-ms",
                     std::to_string(std::chrono::milliseconds(timeout).count()),
                     "--request-timeout-ms", "10000"};
  auto app = sft::start_counter_app(opts, "run");
  ASSERT_TRUE(sft::wait_for_log(*app, "partitions assigned: 1", 60s)) << app->log_tail();

  // Waits until the group has committed kProgress more inputs than the last call saw, i.e.
  // than before the outage in between: processing resumed for real (a single commit that
  // slipped in before the group noticed the outage does not count). The feeder keeps
  // producing through every outage, so a backlog waits each time.
  constexpr std::int64_t kProgress = 300;
  std::int64_t committed_seen = 0;
  auto wait_progress = [&](const std::string& what) {
    const std::int64_t before = committed_seen;
    std::int64_t now = before;
    const bool ok = sft::wait_until(
        [&] {
          if (!app->running()) return true;
          try {
            now = probe.committed(input, 1)[0];
          } catch (const std::exception&) {
            // The group coordinator may still be loading after a restart.
          }
          return now >= before + kProgress;
        },
        60s, 200ms);
    ASSERT_TRUE(ok && app->running())
        << "no processing " << what << ": committed " << now << ", was " << before << "\n"
        << app->log_tail();
    committed_seen = now;
    info("committed " + std::to_string(now) + " (was " + std::to_string(before) + ") " + what);
  };
  ASSERT_NO_FATAL_FAILURE(wait_progress("before the first outage"));

  // Outage 1: 5 s plus the restart.
  ASSERT_NO_THROW(control(cluster, "kill-broker 1"));
  const auto down1 = Clock::now();
  std::this_thread::sleep_for(5s);
  ASSERT_NO_THROW(control(cluster, "start-broker 1"));
  info("outage 1 lasted " + std::to_string(seconds_since(down1)) + " s");
  ASSERT_NO_FATAL_FAILURE(wait_progress("after outage 1"));
  ASSERT_TRUE(sft::wait_for_log(*app, "Kafka brokers are reachable again", 30s)) << app->log_tail();

  // Outage 2 spans the moment one timeout after outage 1 began, so a clock that outage 1 left
  // running would stop the app; it is shorter than the timeout itself.
  const double gap = seconds_since(down1);
  ASSERT_LT(gap, static_cast<double>(timeout.count()) - 3)
      << "processing resumed too late after outage 1 for this scenario";
  ASSERT_NO_THROW(control(cluster, "kill-broker 1"));
  const auto down2 = Clock::now();
  std::this_thread::sleep_until(down1 + timeout + 3s);
  ASSERT_NO_THROW(control(cluster, "start-broker 1"));
  const double outage2 = seconds_since(down2);
  info("outage 2 began " + std::to_string(gap) + " s after outage 1 and lasted " +
       std::to_string(outage2) + " s");
  ASSERT_LT(outage2, static_cast<double>(timeout.count()) - 1)
      << "outage 2 must be shorter than broker_availability_timeout";
  ASSERT_TRUE(app->running()) << "the app stopped during a second outage shorter than "
                                 "broker_availability_timeout\n"
                              << app->log_tail();
  ASSERT_NO_FATAL_FAILURE(wait_progress("after outage 2"));
  ASSERT_TRUE(sft::wait_for_log(*app, "Kafka brokers are reachable again", 30s, 2))
      << app->log_tail();
  EXPECT_EQ(sft::log_count(*app, "all Kafka brokers are down"), 2u) << app->log_tail();

  // Outage 3: longer than the timeout.
  ASSERT_NO_THROW(control(cluster, "kill-broker 1"));
  const auto down3 = Clock::now();
  feeder.stop();
  const auto st = app->wait_for_exit(90s);
  ASSERT_TRUE(st.has_value()) << "the app still runs 90 s into an outage\n" << app->log_tail();
  const double exit_after = seconds_since(down3);
  info("the app exited " + std::to_string(exit_after) +
       " s into outage 3: " + sft::describe_wait_status(*st));
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 1) << sft::describe_wait_status(*st);
  EXPECT_NE(app->log().find("KafkaBrokerUnavailableError"), std::string::npos) << app->log_tail();
  EXPECT_GE(exit_after, static_cast<double>(timeout.count()) - 0.5)
      << "stopped before broker_availability_timeout passed";
  EXPECT_LE(exit_after, static_cast<double>(timeout.count()) + 20)
      << "took far longer than broker_availability_timeout";

  // Nothing committed was lost.
  ASSERT_NO_THROW(control(cluster, "start-broker 1"));
  ASSERT_TRUE(feeder.flush(60s));
  const std::int64_t committed = probe.committed(input, 1)[0];
  std::vector<bool> below(static_cast<std::size_t>(kInputs), false);
  for (std::int64_t i = 0; i < committed; ++i) below[static_cast<std::size_t>(i)] = true;
  sft::CommittedReader reader(brokers, output, 1);
  std::string why;
  ASSERT_TRUE(sft::wait_settled(probe, reader, output, 1, 60s, &why)) << why;
  // Outputs of inputs processed after the last commit may exist (at-least-once): not judged.
  std::vector<sft::RawOutput> judged;
  simdjson::dom::parser parser;
  for (auto& o : reader.snapshot()) {
    std::int64_t id = -1;
    if (o.value) {
      simdjson::dom::element doc;
      if (!parser.parse(*o.value).get(doc) && !doc["id"].get_int64().get(id) && id >= committed) {
        continue;
      }
    }
    judged.push_back(std::move(o));
  }
  const auto check = sft::check_counter_outputs(inputs, judged, &below);
  info("committed " + std::to_string(committed) + " inputs; check: " + check.summary());
  EXPECT_GT(committed, 1000);
  EXPECT_TRUE(check.at_least_once()) << check.summary();
}

}  // namespace
