// Deferred at-least-once checkpoints (src/app/checkpoint.hpp), against the real broker: a
// checkpoint with no state changes sets its offsets aside and processing goes on; they are
// committed once every output produced before them is acknowledged. What must hold: at no
// moment are more inputs committed than outputs acknowledged (CK-02's order); a stateful
// pipeline still waits at its checkpoints (its changelog and store writes need the order of
// all five steps); a crash after the acknowledgements and before the commit processes the
// records again (at-least-once), and nothing is lost.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration/test_app_helpers.hpp"
#include "support/alerts_app.hpp"
#include "support/child_process.hpp"
#include "support/kafka_probe.hpp"

namespace streamframe::apptest {
namespace {

using streamframe::test::unique_name;
namespace sft = streamframe::test;

constexpr int kPartitions = 2;

std::int64_t sum(const std::vector<std::int64_t>& v) {
  std::int64_t s = 0;
  for (auto x : v) s += x < 0 ? 0 : x;
  return s;
}

// `n` JSON records {"id": i} keyed by i % 16 on `topic`.
void produce_ids(Application& app, const std::string& topic, int n) {
  Producer producer = app.get_producer();
  for (int i = 0; i < n; ++i) {
    producer.produce(topic, "k" + std::to_string(i % 16), Value::object({{"id", i}}).to_json());
  }
  ASSERT_TRUE(producer.flush(30s));
}

// While `running`, compares the group's committed inputs with the outputs acknowledged after
// that read: an output is acknowledged once it is below the high watermark (one replica), and
// a deferred checkpoint commits only after its outputs are, so committed <= acknowledged at
// every sample. Also counts the samples that saw a commit before the end.
struct CommitWatcher {
  CommitWatcher(const std::string& group, std::string in, std::string out, std::int64_t n)
      : probe(brokers(), group), input(std::move(in)), output(std::move(out)), total(n) {
    thread = std::thread([this] {
      while (running.load()) {
        const std::int64_t committed = sum(probe.committed(input, kPartitions));
        const std::int64_t acknowledged = probe.total_end(output, kPartitions);
        ++samples;
        if (committed > acknowledged && violations++ == 0) {
          first_violation = std::to_string(committed) + " inputs committed, " +
                            std::to_string(acknowledged) + " outputs acknowledged";
        }
        if (committed > 0 && committed < total) ++mid_run_commits;
        std::this_thread::sleep_for(1ms);
      }
    });
  }
  void stop() {
    running = false;
    if (thread.joinable()) thread.join();
  }
  ~CommitWatcher() { stop(); }

  sft::KafkaProbe probe;
  std::string input;
  std::string output;
  std::int64_t total;
  std::atomic<bool> running{true};
  std::thread thread;
  int samples = 0;
  int violations = 0;
  int mid_run_commits = 0;
  std::string first_violation;
};

// A stateless pipeline: its checkpoints are deferred, the committed offsets never run ahead
// of the acknowledged outputs, and every input has exactly one output (no failure, no
// rebalance: nothing is processed twice).
TEST(DeferredCheckpoint, StatelessCheckpointsCommitBehindTheAcknowledgedOutputs) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("dc-in");
  const std::string out = unique_name("dc-out");
  const std::string group = unique_name("dc-grp");
  create_topic(in, kPartitions);
  create_topic(out, kPartitions);
  constexpr int n = 10000;
  ApplicationConfig config = base_config(group);
  config.commit_interval = 20ms;
  // Outputs wait 100 ms in the producer before they are sent, so a commit that did not wait
  // for their acknowledgements would run ahead of them for long enough to be seen.
  config.producer_extra_config = {{"linger.ms", "100"}};
  Application app(std::move(config));
  produce_ids(app, in, n);
  auto sdf = app.dataframe(app.topic(in));
  // Paced (about 20,000 records/s at most), so the run lasts long enough for the watcher to
  // see checkpoints before the end.
  sdf = sdf.apply([](const Value& v) {
    std::this_thread::sleep_for(50us);
    return v;
  });
  sdf.to_topic(app.topic(out));

  CommitWatcher watcher(group, in, out, n);
  ASSERT_EQ(app.run({.timeout = 30s, .count = n}).size(), std::size_t{n});
  watcher.stop();
  const RunStats stats = app.stats();
  std::cout << "[ info     ] checkpoints " << stats.checkpoints << " (deferred "
            << stats.checkpoints_deferred << "); watcher: " << watcher.samples << " samples, "
            << watcher.mid_run_commits << " with a commit before the end\n";
  EXPECT_EQ(watcher.violations, 0) << "first: " << watcher.first_violation;
  EXPECT_GT(stats.checkpoints_deferred, 2u);
  EXPECT_GE(stats.checkpoints, stats.checkpoints_deferred);
  EXPECT_GT(watcher.mid_run_commits, 0) << "no commit was seen before the end";
  EXPECT_EQ(stats.checkpoints_aborted, 0u);

  // run() returned after its final checkpoint, which is never deferred: it completes a
  // deferred one first, so every input is committed, and every output is there once. (The
  // counts cannot tell: when a deferred checkpoint came due right after the last record, it
  // holds every offset and the final one, finding nothing of its own, is not counted; an ASan
  // run of this test saw 50 checkpoints, all deferred, with every input committed.)
  sft::KafkaProbe probe(brokers(), group);
  EXPECT_EQ(sum(probe.committed(in, kPartitions)), n);
  const auto outputs = read_topic(out);
  ASSERT_EQ(outputs.size(), std::size_t{n});
  std::set<std::int64_t> ids;
  for (const auto& m : outputs) ids.insert(json::parse(*m.value)["id"].as_int());
  EXPECT_EQ(ids.size(), std::size_t{n});
}

// A pipeline with state: every checkpoint waits for its acknowledgements (none deferred), and
// its results are exact.
TEST(DeferredCheckpoint, CheckpointsWithStateChangesAreNotDeferred) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("dcs-in");
  const std::string out = unique_name("dcs-out");
  const std::string group = unique_name("dcs-grp");
  create_topic(in, kPartitions);
  create_topic(out, kPartitions);
  constexpr int n = 4000;
  ApplicationConfig config = base_config(group);
  config.commit_interval = 20ms;
  Application app(std::move(config));
  produce_ids(app, in, n);
  auto sdf = app.dataframe(app.topic(in));
  sdf = sdf.apply([](const Value& v, State& state) {
    std::this_thread::sleep_for(200us);
    const std::int64_t seen = state.get("seen", Value(0)).as_int() + 1;
    state.set("seen", Value(seen));
    return Value::object({{"id", v["id"]}, {"seen", Value(seen)}});
  });
  sdf.to_topic(app.topic(out));
  ASSERT_EQ(app.run({.timeout = 30s, .count = n}).size(), std::size_t{n});
  const RunStats stats = app.stats();
  EXPECT_GT(stats.checkpoints, 2u);
  EXPECT_EQ(stats.checkpoints_deferred, 0u);
  // Per key (16 keys), "seen" counts 1, 2, ... in input order: the state was kept exactly.
  std::map<std::string, std::vector<std::int64_t>> seen;
  for (const auto& m : read_topic(out)) {
    ASSERT_TRUE(m.key && m.value);
    seen[*m.key].push_back(json::parse(*m.value)["seen"].as_int());
  }
  ASSERT_EQ(seen.size(), 16u);
  for (const auto& [key, counts] : seen) {
    ASSERT_EQ(counts.size(), std::size_t{n / 16}) << key;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      ASSERT_EQ(counts[i], static_cast<std::int64_t>(i) + 1) << key << " output " << i;
    }
  }
}

// An output of a deferred checkpoint that is never delivered (on_producer_error raises): the
// run stops with the delivery error and that checkpoint's offsets are not committed, though
// its other outputs were acknowledged; committing them would lose the record.
TEST(DeferredCheckpoint, AnOutputLostAfterTheCheckpointKeepsItsOffsetsUncommitted) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("dcl-in");
  const std::string out = unique_name("dcl-out");
  const std::string group = unique_name("dcl-grp");
  create_topic(in, 1);
  create_topic(out, 1, {{"max.message.bytes", "2000"}});
  ApplicationConfig config = base_config(group);
  config.commit_every = 3;
  // One record per produce request, so only the oversized one fails; sent 200 ms after it
  // is produced, so the checkpoint after the third record is deferred before any answer.
  config.producer_extra_config = {{"batch.num.messages", "1"}, {"linger.ms", "200"}};
  Application app(std::move(config));
  produce_ids(app, in, 3);
  auto sdf = app.dataframe(app.topic(in));
  sdf = sdf.apply([](const Value& v) {
    Value r = v;
    if (v["id"].as_int() == 1) r["pad"] = std::string(10000, 'p');
    return r;
  });
  sdf.to_topic(app.topic(out));
  const CaughtError e = capture_error([&] { app.run({.timeout = 20s}); });
  ASSERT_TRUE(e.thrown) << "run() returned without an error";
  EXPECT_EQ(e.kafka_code, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) << e.what;
  EXPECT_EQ(app.stats().checkpoints, 0u);
  EXPECT_EQ(committed_offset(group, in), RD_KAFKA_OFFSET_INVALID);
  std::set<std::int64_t> ids;
  for (const auto& m : read_topic(out)) ids.insert(json::parse(*m.value)["id"].as_int());
  EXPECT_EQ(ids, (std::set<std::int64_t>{0, 2}));
}

// A crash between the deferred checkpoint's acknowledgements and its commit: the restart
// processes those records again (duplicates, allowed) and every input has an output.
TEST(DeferredCheckpoint, CrashBeforeTheDeferredCommitProcessesTheRecordsAgain) {
  REQUIRE_TEST_BROKERS();
  const std::string input = unique_name("dcc-in");
  const std::string output = unique_name("dcc-out");
  const std::string group = unique_name("dcc-grp");
  sft::create_topics(brokers(), {input, output}, kPartitions);
  constexpr std::int64_t n = 20000;
  {
    Application feeder(base_config(group));
    Producer producer = feeder.get_producer();
    for (std::int64_t id = 0; id < n; ++id) {
      const std::string sensor = "sensor-" + std::to_string(id % 8);
      producer.produce(
          input, sensor,
          R"({"id":)" + std::to_string(id) + R"(,"sensor":")" + sensor + R"(","temperature":20})");
    }
    ASSERT_TRUE(producer.flush(30s));
  }
  sft::AlertsAppOptions options{.brokers = brokers(),
                                .input = input,
                                .output = output,
                                .group = group,
                                .commit_interval_ms = 50,
                                .no_filter = true,
                                .pace_us = 20,
                                .extra_args = {"--consumer-config", "session.timeout.ms=6000"}};
  sft::AlertsAppOptions crashing = options;
  crashing.extra_args.insert(crashing.extra_args.end(),
                             {"--crash-at", "checkpoint.deferred.acknowledged:4"});
  auto first = sft::start_alerts_app(crashing, "run1");
  const auto crashed = first->wait_for_exit(60s);
  ASSERT_TRUE(crashed.has_value()) << "the first run did not crash within 60 s\n"
                                   << first->log_tail();
  ASSERT_TRUE(WIFSIGNALED(*crashed) && WTERMSIG(*crashed) == SIGKILL)
      << sft::describe_wait_status(*crashed) << "\n"
      << first->log_tail();
  sft::KafkaProbe probe(brokers(), group);
  const std::int64_t committed_at_crash = sum(probe.committed(input, kPartitions));
  const std::int64_t outputs_at_crash = probe.total_end(output, kPartitions);
  std::cout << "[ info     ] crashed with " << committed_at_crash << " inputs committed, "
            << outputs_at_crash << " outputs\n";
  // The crash came after the fourth deferred checkpoint's outputs were acknowledged and
  // before its commit: those outputs are in the topic, their inputs not committed.
  ASSERT_LT(committed_at_crash, outputs_at_crash);
  ASSERT_LT(committed_at_crash, n);

  auto second = sft::start_alerts_app(options, "run2");
  const auto input_ends = probe.end_offsets(input, kPartitions);
  const bool caught_up = sft::wait_until(
      [&] { return !second->running() || probe.committed(input, kPartitions) == input_ends; }, 90s,
      50ms);
  ASSERT_TRUE(caught_up && second->running()) << second->log_tail();
  second->signal(SIGTERM);
  const auto stopped = second->wait_for_exit(30s);
  ASSERT_TRUE(stopped.has_value() && WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0)
      << second->log_tail();

  std::vector<int> count(static_cast<std::size_t>(n), 0);
  const auto outputs = probe.read_all(output, kPartitions, 60s);
  for (const auto& m : outputs) {
    ASSERT_TRUE(m.value.has_value());
    ++count[static_cast<std::size_t>(json::parse(*m.value)["id"].as_int())];
  }
  std::int64_t missing = 0;
  std::int64_t again = 0;
  for (const int c : count) {
    missing += c == 0 ? 1 : 0;
    again += c > 1 ? 1 : 0;
  }
  std::cout << "[ info     ] " << outputs.size() << " outputs, " << again
            << " inputs output twice, " << missing << " missing\n";
  EXPECT_EQ(missing, 0);
  // The restart began at the last commit: the crashed checkpoint's records came again.
  EXPECT_GE(again, outputs_at_crash - committed_at_crash);
}

}  // namespace
}  // namespace streamframe::apptest
