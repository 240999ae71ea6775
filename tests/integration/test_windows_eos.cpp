// Process-level acceptance of windows under the processing guarantees: tests/apps/window_app
// (per-key tumbling windows of 1 s, sum and count, final()) runs as a child process against a
// real Kafka and is SIGKILLed and restarted several times while it processes
// (window state is in a changelog-backed store, flushed at checkpoints and restored after a
// crash; once the state directory is deleted too, so a restart restores it from the changelog
// alone).
//
// The input has explicit message timestamps, advancing per key by 100 ms with up to 150 ms
// jitter (out of order, never late: see support/window_app.hpp), so every key closes a window
// about every 10 records; each key ends with a record far ahead that closes all its windows.
// Windows close by the key's stream time (grace 200 ms), in one test by the partition's (grace
// 1.5 s: the keys' timestamps are up to a window apart).
// The judge is an outside observer (raw librdkafka, simdjson): it reads the output with
// isolation.level=read_committed once the group has committed every input and no transaction
// is open. Exactly-once: every expected window appears exactly once, with the exact sum and
// count, its end and its start as the message timestamp, and nothing else appears.
// At-least-once: every expected window appears, every copy with the right values.
//
// Seeded randomness (kill moments, commit intervals, input): set STREAMFRAME_TEST_SEED to
// repeat a run; the seed is printed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
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
using Clock = std::chrono::steady_clock;
using sft::ChildProcess;
using sft::info;
using sft::seconds_since;

constexpr int kPartitions = 4;

// One run of the scenario both tests share.
struct Scenario {
  std::string guarantee;
  sft::WindowParams window;
  std::int64_t records_per_key = 0;  // 32 keys
  int kills = 0;
  std::size_t prefill = 0;        // inputs produced before the first start
  double rate = 0;                // then per second in the background until the final run
  bool early_kill = false;        // one kill (a random one) in start-up/recovery
  bool delete_state_dir = false;  // before one restart (a random one)
};

class WindowsUnderKills : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_BROKERS();
    brokers_ = *sft::test_brokers();
    started_ = Clock::now();
  }

  void TearDown() override { info("test time " + std::to_string(seconds_since(started_)) + " s"); }

  // Runs `sc`: feeds the input while the app is started and SIGKILLed `sc.kills` times, runs it
  // to the end of the input, stops it and returns the check of the read_committed output.
  void run(const Scenario& sc, const std::string& prefix, sft::WindowCheck* out) {
    const std::uint64_t seed = sft::test_seed();
    info("seed " + std::to_string(seed) +
         " (repeat with STREAMFRAME_TEST_SEED=" + std::to_string(seed) + ")");
    RecordProperty("seed", std::to_string(seed));
    std::mt19937_64 rng(seed);

    input_ = sft::unique_name(prefix + "-in");
    output_ = sft::unique_name(prefix + "-out");
    group_ = sft::unique_name(prefix + "-group");
    sft::raw::create_topics(brokers_, {input_, output_}, kPartitions, 1);
    const std::string state = ::testing::TempDir() + group_ + "-state";
    std::filesystem::remove_all(state);

    // Timestamps from an hour ago (within the topics' retention, not in the future).
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const sft::WindowInputSpec spec{.keys = 32,
                                    .records_per_key = sc.records_per_key,
                                    .base_ms = now_ms - 3600 * 1000,
                                    .step_ms = 100,
                                    .jitter_ms = 150,
                                    .seed = seed};
    auto inputs = sft::make_window_inputs(spec, sc.window);
    const auto expected = sft::expected_windows(inputs, sc.window);
    const auto n_inputs = static_cast<std::int64_t>(inputs.size());
    info(std::to_string(n_inputs) + " inputs over " + std::to_string(spec.keys) + " keys, " +
         std::to_string(expected.size()) + " windows to close");

    sft::KafkaProbe probe(brokers_, group_);
    sft::CommittedReader reader(brokers_, output_, kPartitions);
    sft::Feeder<sft::WindowInput> feeder(brokers_, input_, std::move(inputs));
    feeder.produce_now(sc.prefill);
    ASSERT_TRUE(feeder.flush(30s));
    feeder.start_paced(sc.rate);

    const int early = sc.early_kill ? 1 + static_cast<int>(rng() % sc.kills) : 0;
    const int wipe = sc.delete_state_dir ? 2 + static_cast<int>(rng() % (sc.kills - 1)) : 0;
    int runs_with_output = 0;
    for (int k = 1; k <= sc.kills; ++k) {
      if (k == wipe) {
        std::filesystem::remove_all(state);
        info("deleted the state directory before run " + std::to_string(k));
      }
      auto opts = options(state, sc.guarantee, 100 + static_cast<long>(rng() % 101));
      const std::int64_t out_before = probe.total_end(output_, kPartitions);
      const std::int64_t committed_before = probe.total_committed(input_, kPartitions);
      const auto run_started = Clock::now();
      auto app = sft::start_window_app(opts, sc.window, "run" + std::to_string(k));
      std::string when;
      std::chrono::milliseconds delay{0};
      if (k == early) {
        delay = std::chrono::milliseconds(200 + rng() % 2800);
        when = "after start";
      } else {
        // Until the run has committed a checkpoint of its own (its output is committed), then
        // a random moment after that, between checkpoints.
        ASSERT_TRUE(sft::wait_for_own_commit(
            *app, "partitions assigned: 4",
            [&] { return probe.total_committed(input_, kPartitions); }, committed_before,
            [&] { return static_cast<std::int64_t>(feeder.produced()) == n_inputs; },
            "run " + std::to_string(k)));
        delay = std::chrono::milliseconds(rng() % 1500);
        when = "after its first commit (" + std::to_string(seconds_since(run_started)) + " s)";
      }
      std::this_thread::sleep_for(delay);
      ASSERT_NO_FATAL_FAILURE(sft::kill_hard(*app, "run " + std::to_string(k)));
      const std::int64_t out_after = probe.total_end(output_, kPartitions);
      if (out_after > out_before) ++runs_with_output;
      info("kill " + std::to_string(k) + ": " + std::to_string(delay.count()) + " ms " + when +
           ", commit interval " + std::to_string(opts.commit_interval_ms) + " ms, run " +
           std::to_string(seconds_since(run_started)) + " s, restored " +
           std::to_string(sft::restored_records(*app)) + " changelog records, output log grew by " +
           std::to_string(out_after - out_before) + ", inputs fed " +
           std::to_string(feeder.produced()) + ", committed by the group " +
           std::to_string(probe.total_committed(input_, kPartitions)) + ", read_committed " +
           std::to_string(reader.count()));
    }
    EXPECT_GE(runs_with_output, sc.kills / 2)
        << "fewer than half of the killed runs produced anything before the kill";
    RecordProperty("runs_with_output", std::to_string(runs_with_output));

    // Final run: the rest of the input (with the closing records) at once, then a graceful stop.
    auto last = sft::start_window_app(options(state, sc.guarantee, 200), sc.window, "final");
    ASSERT_TRUE(feeder.finish(60s)) << "the feeder's records were not acknowledged";
    ASSERT_EQ(feeder.failed(), 0) << feeder.first_error();
    ASSERT_TRUE(sft::wait_for_log(*last, "partitions assigned: 4", 60s)) << last->log_tail();
    const auto final_started = Clock::now();
    std::string why;
    ASSERT_TRUE(sft::wait_all_committed(probe, input_, kPartitions, {last.get()}, 120s, &why))
        << "the final run did not commit all input: " << why << "\n"
        << last->log_tail();
    info("final run committed all " + std::to_string(n_inputs) + " inputs " +
         std::to_string(seconds_since(final_started)) + " s after its assignment");
    ASSERT_NO_FATAL_FAILURE(sft::stop_gracefully(*last, "final run"));

    ASSERT_TRUE(sft::wait_settled(probe, reader, output_, kPartitions, 60s, &why))
        << "the output topic did not settle within 60 s: " << why;
    *out = sft::check_window_outputs(expected, reader.snapshot(), sc.window);
    info("check: " + out->summary());
    RecordProperty("windows", std::to_string(out->expected));
    RecordProperty("outputs", std::to_string(out->outputs));
    RecordProperty("duplicates", std::to_string(out->duplicates));
    RecordProperty("missing", std::to_string(out->missing));
    last_log_ = last->log_tail();
  }

  sft::StatefulAppOptions options(const std::string& state, const std::string& guarantee,
                                  long commit_interval_ms) const {
    return {.brokers = brokers_,
            .input = input_,
            .output = output_,
            .group = group_,
            .state_dir = state,
            .guarantee = guarantee,
            .commit_interval_ms = commit_interval_ms};
  }

  std::string brokers_;
  std::string input_, output_, group_;
  std::string last_log_;
  Clock::time_point started_;
};

const sft::WindowParams kByKey{.window_ms = 1000, .grace_ms = 200, .closing = "key"};
// Keys' phases differ by up to a window, so closing by partition needs grace >= window +
// jitter to keep every record in time.
const sft::WindowParams kByPartition{.window_ms = 1000, .grace_ms = 1500, .closing = "partition"};

// The acceptance test: 100,000 inputs over 32 keys on 4 partitions (about 10,000 windows),
// 10,000 of them before the first start and the rest at 2,500/s while the app is SIGKILLed
// 6 times (once in start-up or recovery, the others at a random moment after a checkpoint of
// their own; commit intervals 100..200 ms) and restarted, once without its state directory.
// Every window exactly once with the exact sum and count.
TEST_F(WindowsUnderKills, ExactlyOnceFinalWindowsSurviveSigkill) {
  sft::WindowCheck check;
  ASSERT_NO_FATAL_FAILURE(run({.guarantee = "exactly_once",
                               .window = kByKey,
                               .records_per_key = 3125,
                               .kills = 6,
                               .prefill = 10000,
                               .rate = 2500,
                               .early_kill = true,
                               .delete_state_dir = true},
                              "win-eos", &check));
  EXPECT_GT(check.expected, 5000);
  EXPECT_TRUE(check.exactly_once()) << "exactly-once violated: " << check.summary() << "\n"
                                    << last_log_;
}

// The same with the partition's stream time closing windows (ClosingStrategy::partition, so
// the restored stream time is the partition's): 48,000 inputs, 4 SIGKILLs, once without the
// state directory.
TEST_F(WindowsUnderKills, ExactlyOncePartitionClosingSurvivesSigkill) {
  sft::WindowCheck check;
  ASSERT_NO_FATAL_FAILURE(run({.guarantee = "exactly_once",
                               .window = kByPartition,
                               .records_per_key = 1500,
                               .kills = 4,
                               .prefill = 5000,
                               .rate = 2000,
                               .delete_state_dir = true},
                              "win-eos-part", &check));
  EXPECT_GT(check.expected, 2500);
  EXPECT_TRUE(check.exactly_once()) << "exactly-once violated: " << check.summary() << "\n"
                                    << last_log_;
}

// At-least-once across 3 SIGKILLs: 32,000 inputs, 5,000 before the first start and the rest at
// 1,500/s (so the last kill still finds input to process). No window missing, and every copy of a
// window (duplicates are allowed and reported) has the exact sum and count.
TEST_F(WindowsUnderKills, AtLeastOnceFinalWindowsSurviveSigkill) {
  sft::WindowCheck check;
  ASSERT_NO_FATAL_FAILURE(run({.guarantee = "at_least_once",
                               .window = kByKey,
                               .records_per_key = 1000,
                               .kills = 3,
                               .prefill = 5000,
                               .rate = 1500},
                              "win-alo", &check));
  info("at-least-once: " + std::to_string(check.duplicates) + " duplicate windows");
  EXPECT_TRUE(check.at_least_once()) << "at-least-once violated: " << check.summary() << "\n"
                                     << last_log_;
}

}  // namespace
