// Recovery completeness when a partition changes hands twice (SEMANTICS CK-05, CK-07), forced
// step by step instead of hoped for by random kills:
//
//   run 1 (state dir A) commits one checkpoint, then dies by its own crash point
//         (--crash-at checkpoint.flushed:2) in the second one: its changelog records of that
//         checkpoint are written and acknowledged, and its transaction is open (exactly-once)
//         or its offsets are not committed (at-least-once);
//   run 2 (state dir B, empty) takes over and processes more input;
//   run 3 (state dir C, empty) takes over and processes the rest.
//
// Before CK-07 a restore ended at the last stable offset, where a read_committed fetch stops
// while a transaction is open: run 2 restored up to run 1's open transaction and committed
// checkpoints whose changelog records lie after it, and run 3, started while run 1's
// transaction was still open, restored only up to it too: its state was that of run 1's
// first checkpoint while its input resumed after run 2's (wrong counts, partial and repeated
// windows). Now a restore reaches the changelog's end: run 2 waits until the coordinator
// aborts run 1's transaction (transaction.timeout.ms), and every output is judged exactly
// once by an outside read_committed reader.
//
// A restart on run 1's own state directory fences run 1's producer at once (CK-05: the
// transactional id comes from a process id kept in the state directory), so nothing waits for
// the transaction timeout.
//
// One partition, count-based checkpoints (--commit-every) and a long commit interval: every
// checkpoint's content is fixed by the input, not by timing.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/app_process.hpp"
#include "support/child_process.hpp"
#include "support/counter_app.hpp"
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

constexpr std::int64_t kEvery = 100;  // messages per checkpoint
// Long enough that run 1's transaction would still be open when run 3 starts if run 2 did not
// wait for it (run 2 takes over after the group's session timeout, 6 s), short enough to wait
// out. The fencing test's bound is far below it.
constexpr const char* kTxnTimeout = "transaction.timeout.ms=20000";

enum class AppKind { counter, window };

class ChangelogHandover : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_BROKERS();
    brokers_ = *sft::test_brokers();
    started_ = Clock::now();
  }
  void TearDown() override { info("test time " + std::to_string(seconds_since(started_)) + " s"); }

  void make_topics(const std::string& prefix) {
    input_ = sft::unique_name(prefix + "-in");
    output_ = sft::unique_name(prefix + "-out");
    group_ = sft::unique_name(prefix + "-group");
    sft::raw::create_topics(brokers_, {input_, output_}, 1, 1);
  }

  std::string state_dir(const std::string& name) const {
    const std::string dir = ::testing::TempDir() + group_ + "-state-" + name;
    std::filesystem::remove_all(dir);
    return dir;
  }

  sft::StatefulAppOptions options(const std::string& dir, const std::string& guarantee,
                                  std::vector<std::string> extra = {}) const {
    extra.insert(extra.end(), {"--commit-every", std::to_string(kEvery)});
    if (guarantee == "exactly_once") extra.insert(extra.end(), {"--producer-config", kTxnTimeout});
    return {.brokers = brokers_,
            .input = input_,
            .output = output_,
            .group = group_,
            .state_dir = dir,
            .guarantee = guarantee,
            .commit_interval_ms = 600000,  // only --commit-every checkpoints
            .extra_args = std::move(extra)};
  }

  std::unique_ptr<ChildProcess> start(AppKind kind, const sft::StatefulAppOptions& o,
                                      const std::string& run) {
    return kind == AppKind::counter ? sft::start_counter_app(o, run)
                                    : sft::start_window_app(o, kWindow, run);
  }

  // The changelog topics of the group's stores (one partition each).
  std::vector<std::string> changelogs(sft::KafkaProbe& probe) const {
    return probe.topics_with_prefix("changelog__" + group_ + "--");
  }

  // Whether some changelog holds a transaction that is still open.
  bool changelog_transaction_open(sft::KafkaProbe& probe) const {
    for (const auto& c : changelogs(probe)) {
      if (probe.stable_end_offsets(c, 1) != probe.end_offsets(c, 1)) return true;
    }
    return false;
  }

  // Waits until the group committed `offset` on the input; fails the test when `app` exits.
  void wait_committed(sft::KafkaProbe& probe, ChildProcess& app, std::int64_t offset,
                      const std::string& what) {
    std::int64_t committed = -1;
    const bool ok = sft::wait_until(
        [&] {
          committed = probe.committed(input_, 1)[0];
          return committed >= offset || !app.running();
        },
        120s, 100ms);
    ASSERT_TRUE(ok && committed >= offset)
        << what << ": committed offset " << committed << ", want " << offset << "\n"
        << app.log_tail();
  }

  // Run 1: one checkpoint commits, the second dies after its changelog records were
  // acknowledged and before its offsets or transaction committed.
  void run_until_crash(AppKind kind, sft::KafkaProbe& probe, const std::string& dir,
                       const std::string& guarantee) {
    auto app = start(kind, options(dir, guarantee, {"--crash-at", "checkpoint.flushed:2"}), "run1");
    const auto st = app->wait_for_exit(120s);
    ASSERT_TRUE(st.has_value()) << "run 1 did not reach its crash point\n" << app->log_tail();
    ASSERT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL)
        << "run 1: " << sft::describe_wait_status(*st) << "\n"
        << app->log_tail();
    ASSERT_EQ(sft::log_count(*app, "crash point 'checkpoint.flushed'"), 1u) << app->log_tail();
    ASSERT_EQ(probe.committed(input_, 1)[0], kEvery) << "run 1 committed one checkpoint";
    if (guarantee == "exactly_once") {
      ASSERT_TRUE(changelog_transaction_open(probe))
          << "run 1 died without an open transaction in its changelogs";
    }
  }

  // Run 2 on `dir`: takes over, processes up to `until` and stops gracefully.
  std::unique_ptr<ChildProcess> run_to(AppKind kind, sft::KafkaProbe& probe, const std::string& dir,
                                       const std::string& guarantee, std::int64_t until,
                                       const std::string& name) {
    auto app = start(kind, options(dir, guarantee), name);
    wait_committed(probe, *app, until, name);
    if (::testing::Test::HasFatalFailure()) return app;
    sft::stop_gracefully(*app, name);
    return app;
  }

  static inline const sft::WindowParams kWindow{.window_ms = 1000, .grace_ms = 200};
  std::string brokers_;
  std::string input_, output_, group_;
  Clock::time_point started_;
};

// ---------------------------------------------------------------------------------------------
// Key-value state (counter_app: a running count per (key, word))

class CounterHandover : public ChangelogHandover {
 public:
  void run(const std::string& guarantee) {
    make_topics("handover-kv-" + std::string(guarantee == "exactly_once" ? "eos" : "alo"));
    const std::uint64_t seed = sft::test_seed();
    info("seed " + std::to_string(seed));
    const auto inputs = sft::make_counter_inputs(4 * kEvery, seed, /*keys=*/5);
    sft::KafkaProbe probe(brokers_, group_);
    sft::Feeder<sft::CounterInput> feeder(brokers_, input_, inputs);

    feeder.produce_now(2 * kEvery);
    ASSERT_TRUE(feeder.flush(30s));
    ASSERT_NO_FATAL_FAILURE(run_until_crash(AppKind::counter, probe, state_dir("A"), guarantee));

    feeder.produce_now(kEvery);
    ASSERT_TRUE(feeder.flush(30s));
    const auto run1_died = Clock::now();
    auto run2 = run_to(AppKind::counter, probe, state_dir("B"), guarantee, 3 * kEvery, "run2");
    ASSERT_FALSE(HasFatalFailure());
    info("run 2 took over and committed " + std::to_string(3 * kEvery) + " inputs " +
         std::to_string(seconds_since(run1_died)) + " s after run 1 died");

    feeder.produce_now(kEvery);
    ASSERT_TRUE(feeder.flush(30s));
    auto run3 = run_to(AppKind::counter, probe, state_dir("C"), guarantee, 4 * kEvery, "run3");
    ASSERT_FALSE(HasFatalFailure());
    if (guarantee == "exactly_once") {
      // Run 2 found run 1's transaction open and waited for it; nothing was open for run 3.
      EXPECT_EQ(sft::log_count(*run2, "has a transaction open at offset"), 1u) << run2->log_tail();
      EXPECT_EQ(sft::log_count(*run3, "has a transaction open at offset"), 0u) << run3->log_tail();
    }

    sft::CommittedReader reader(brokers_, output_, 1);
    std::string why;
    ASSERT_TRUE(sft::wait_settled(probe, reader, output_, 1, 90s, &why)) << why;
    const auto check = sft::check_counter_outputs(inputs, reader.snapshot());
    info("check: " + check.summary());
    if (guarantee == "exactly_once") {
      EXPECT_TRUE(check.exactly_once()) << "exactly-once violated: " << check.summary() << "\n"
                                        << run3->log_tail();
    } else {
      // Inputs after run 1's first checkpoint are processed twice, each time on the state of
      // the committed inputs before them: repeated outputs, never a wrong count.
      EXPECT_TRUE(check.at_least_once() && check.wrong_counts == 0 && check.over_final == 0)
          << "at-least-once violated: " << check.summary() << "\n"
          << run3->log_tail();
    }
  }
};

TEST_F(CounterHandover, ExactlyOnceFreshOwnerRestoresPastADeadTransaction) {
  run("exactly_once");
}

TEST_F(CounterHandover, AtLeastOnceFreshOwnerAppliesOnlyCommittedCheckpoints) {
  run("at_least_once");
}

// ---------------------------------------------------------------------------------------------
// Window state (window_app: tumbling 1 s windows, sum and count per key, final())

TEST_F(ChangelogHandover, ExactlyOnceWindowStateRestoresPastADeadTransaction) {
  make_topics("handover-win");
  const std::uint64_t seed = sft::test_seed();
  info("seed " + std::to_string(seed));
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  // 4 keys x 99 records (~10 records per window), then one closing record per key: 400
  // inputs, 4 whole checkpoints.
  const sft::WindowInputSpec spec{.keys = 4,
                                  .records_per_key = kEvery - 1,
                                  .base_ms = now_ms - 3600 * 1000,
                                  .step_ms = 100,
                                  .jitter_ms = 150,
                                  .seed = seed};
  auto inputs = sft::make_window_inputs(spec, kWindow);
  const auto expected = sft::expected_windows(inputs, kWindow);
  const auto n_inputs = static_cast<std::int64_t>(inputs.size());
  ASSERT_EQ(n_inputs, 4 * kEvery);
  sft::KafkaProbe probe(brokers_, group_);
  sft::Feeder<sft::WindowInput> feeder(brokers_, input_, std::move(inputs));

  feeder.produce_now(2 * kEvery);
  ASSERT_TRUE(feeder.flush(30s));
  ASSERT_NO_FATAL_FAILURE(run_until_crash(AppKind::window, probe, state_dir("A"), "exactly_once"));

  feeder.produce_now(kEvery);
  ASSERT_TRUE(feeder.flush(30s));
  auto run2 = run_to(AppKind::window, probe, state_dir("B"), "exactly_once", 3 * kEvery, "run2");
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(sft::log_count(*run2, "has a transaction open at offset"), 1u) << run2->log_tail();

  ASSERT_TRUE(feeder.finish(30s));  // the rest, with the records that close every window
  auto run3 = run_to(AppKind::window, probe, state_dir("C"), "exactly_once", n_inputs, "run3");
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(sft::log_count(*run3, "has a transaction open at offset"), 0u) << run3->log_tail();

  sft::CommittedReader reader(brokers_, output_, 1);
  std::string why;
  ASSERT_TRUE(sft::wait_settled(probe, reader, output_, 1, 90s, &why)) << why;
  const auto check = sft::check_window_outputs(expected, reader.snapshot(), kWindow);
  info("check: " + check.summary());
  EXPECT_GT(check.expected, 30);
  EXPECT_TRUE(check.exactly_once()) << "exactly-once violated: " << check.summary() << "\n"
                                    << run3->log_tail();
}

// ---------------------------------------------------------------------------------------------
// CK-05: a restart on the same state directory fences its predecessor at once

TEST_F(ChangelogHandover, RestartOnTheSameStateDirectoryFencesThePredecessorAtOnce) {
  make_topics("handover-fence");
  const auto inputs = sft::make_counter_inputs(3 * kEvery, sft::test_seed(), /*keys=*/5);
  sft::KafkaProbe probe(brokers_, group_);
  sft::Feeder<sft::CounterInput> feeder(brokers_, input_, inputs);
  feeder.produce_now(2 * kEvery);
  ASSERT_TRUE(feeder.flush(30s));
  const std::string dir = state_dir("A");
  ASSERT_NO_FATAL_FAILURE(run_until_crash(AppKind::counter, probe, dir, "exactly_once"));
  const auto run1_died = Clock::now();

  // Run 2 on the same directory: the same transactional id, so init_transactions aborts run
  // 1's transaction before anything is restored or consumed.
  auto run2 = start(AppKind::counter, options(dir, "exactly_once"), "run2");
  ASSERT_TRUE(sft::wait_for_log(*run2, "a predecessor's open transaction is aborted at start", 60s))
      << run2->log_tail();
  ASSERT_TRUE(sft::wait_until([&] { return !changelog_transaction_open(probe); }, 60s, 100ms));
  const double ended_after = seconds_since(run1_died);
  info("run 1's transaction ended " + std::to_string(ended_after) + " s after it died");
  // Its timeout is 20 s (and the coordinator looks for timed-out transactions every 10 s):
  // ending well before that means run 2 fenced it.
  EXPECT_LT(ended_after, 10.0);
  feeder.produce_now(kEvery);
  ASSERT_TRUE(feeder.flush(30s));
  wait_committed(probe, *run2, 3 * kEvery, "run 2");
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(sft::log_count(*run2, "has a transaction open at offset"), 0u) << run2->log_tail();
  ASSERT_NO_FATAL_FAILURE(sft::stop_gracefully(*run2, "run 2"));

  sft::CommittedReader reader(brokers_, output_, 1);
  std::string why;
  ASSERT_TRUE(sft::wait_settled(probe, reader, output_, 1, 60s, &why)) << why;
  const auto check = sft::check_counter_outputs(inputs, reader.snapshot());
  info("check: " + check.summary());
  EXPECT_TRUE(check.exactly_once()) << check.summary();
}

}  // namespace
