// Scaling out by starting more processes in one consumer group, with a group_by hop, under
// exactly-once: tests/apps/window_app --group-by (re-key by value["k"] through a repartition
// topic, then per-key tumbling windows of 1 s, sum and count, final()) runs as three child
// processes over a 6-partition input; while the input is fed, one is SIGKILLed and a fourth
// joins. The partitions of the input and of the repartition topic move between the processes
// (each with its own state directory, so moved state is restored from its changelog).
//
// The input and the windows are those of the windows' kill test (support/window_app.hpp): the
// key is carried in the value, so the re-keyed windows equal the input key's windows and the
// expected output is known exactly; the hop really moves records, because the repartition
// topic is partitioned by the JSON-encoded key. The judge reads the output read_committed:
// every expected window exactly once with the exact sum and count, nothing else.
//
// Seeded randomness (kill moment, input): set STREAMFRAME_TEST_SEED to repeat a run.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/app_process.hpp"
#include "support/child_process.hpp"
#include "support/eos_observer.hpp"
#include "support/kafka_probe.hpp"
#include "support/test_env.hpp"
#include "support/window_app.hpp"

namespace {

using namespace std::chrono_literals;
namespace sft = streamframe::test;
using sft::info;

constexpr int kPartitions = 6;

TEST(ScaleOut, GroupByWindowsExactlyOnceWhileAProcessDiesAndAnotherJoins) {
  REQUIRE_TEST_BROKERS();
  const std::string brokers = *sft::test_brokers();
  const std::uint64_t seed = sft::test_seed();
  info("seed " + std::to_string(seed) +
       " (repeat with STREAMFRAME_TEST_SEED=" + std::to_string(seed) + ")");
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);

  const std::string input = sft::unique_name("scale-in");
  const std::string output = sft::unique_name("scale-out");
  const std::string group = sft::unique_name("scale-group");
  sft::raw::create_topics(brokers, {input, output}, kPartitions, 1);

  const sft::WindowParams window{.window_ms = 1000, .grace_ms = 200, .closing = "key"};
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto inputs = sft::make_window_inputs({.keys = 24,
                                         .records_per_key = 1000,
                                         .base_ms = now_ms - 3600 * 1000,
                                         .step_ms = 100,
                                         .jitter_ms = 150,
                                         .seed = seed},
                                        window);
  const auto expected = sft::expected_windows(inputs, window);
  info(std::to_string(inputs.size()) + " inputs, " + std::to_string(expected.size()) +
       " windows to close");

  sft::KafkaProbe probe(brokers, group);
  sft::CommittedReader reader(brokers, output, kPartitions);
  sft::Feeder<sft::WindowInput> feeder(brokers, input, std::move(inputs));
  feeder.produce_now(4000);
  ASSERT_TRUE(feeder.flush(30s));
  feeder.start_paced(1500);

  std::vector<std::unique_ptr<sft::ChildProcess>> apps;
  std::vector<std::string> state_dirs;
  const auto start = [&](const std::string& name) {
    const std::string state = ::testing::TempDir() + group + "-" + name + "-state";
    std::filesystem::remove_all(state);
    state_dirs.push_back(state);
    sft::StatefulAppOptions o{.brokers = brokers,
                              .input = input,
                              .output = output,
                              .group = group,
                              .state_dir = state,
                              .guarantee = "exactly_once",
                              .commit_interval_ms = 100 + static_cast<long>(rng() % 101)};
    o.extra_args.emplace_back("--group-by");
    apps.push_back(sft::start_window_app(o, window, name));
  };
  for (int i = 1; i <= 3; ++i) start("p" + std::to_string(i));
  for (auto& app : apps) {
    ASSERT_TRUE(sft::wait_for_log(*app, "partitions assigned", 60s))
        << "a process got no partitions within 60 s\n"
        << app->log_tail();
  }
  // Each process owns partitions of both topics (6 + 6 over 3): wait until the group commits,
  // then kill one at a random moment.
  ASSERT_TRUE(
      sft::wait_until([&] { return probe.total_committed(input, kPartitions) > 2000; }, 60s, 50ms))
      << "the group committed little within 60 s\n"
      << apps[0]->log_tail();
  std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1500));
  const std::size_t victim = rng() % 3;
  ASSERT_NO_FATAL_FAILURE(sft::kill_hard(*apps[victim], "process " + std::to_string(victim + 1)));
  info("killed process " + std::to_string(victim + 1) + " with " +
       std::to_string(probe.total_committed(input, kPartitions)) + " inputs committed, " +
       std::to_string(reader.count()) + " windows read_committed");
  start("p4");  // a new process joins while the group rebalances

  ASSERT_TRUE(feeder.finish(120s)) << "the feeder's records were not acknowledged";
  ASSERT_EQ(feeder.failed(), 0) << feeder.first_error();
  // Every window reaches the output once all input has passed both hops.
  const bool all = sft::wait_until(
      [&] { return reader.count() >= static_cast<std::int64_t>(expected.size()); }, 180s, 200ms);
  for (std::size_t i = 0; i < apps.size(); ++i) {
    if (i == victim) continue;
    ASSERT_NO_FATAL_FAILURE(sft::stop_gracefully(*apps[i], "process " + std::to_string(i + 1)));
  }
  ASSERT_TRUE(all) << "only " << reader.count() << " of " << expected.size()
                   << " windows arrived within 180 s\n"
                   << apps.back()->log_tail();
  std::string why;
  ASSERT_TRUE(sft::wait_settled(probe, reader, output, kPartitions, 60s, &why))
      << "the output topic did not settle within 60 s: " << why;
  const auto check = sft::check_window_outputs(expected, reader.snapshot(), window);
  info("check: " + check.summary());
  EXPECT_TRUE(check.exactly_once()) << "exactly-once violated: " << check.summary();
  for (const auto& dir : state_dirs) std::filesystem::remove_all(dir);
}

}  // namespace
