// Process-level robustness of the processing guarantees (CK-02..CK-06, ST-04/05, APP-15) with
// state: tests/apps/counter_app (per-key word counts in state, one output per (input, word)
// carrying the count) runs as a child process against a real Kafka and is SIGKILLed,
// rebalanced, restarted without its state directory, and run through broker failures.
//
// The judge is an outside observer: inputs are produced and read back, outputs read with a
// read_committed consumer and committed offsets fetched, all through librdkafka's C API;
// outputs are parsed with simdjson. Exactly-once: every (input, word) has exactly one visible
// output and its count is the input's rank among the inputs with that key containing that
// word (so every (key, word) counts 1..n with no gap and no repeat). At-least-once: every
// (input, word) has an output and every (key, word) shows each count 1..n.
//
// Killed instances leave open transactions behind: read_committed readers see nothing past
// them until the transaction coordinator aborts them (transaction.timeout.ms 10 s, checked
// every 10 s by the broker), so outputs become visible up to ~20 s after a kill. The tests wait
// for the group's committed offsets instead and read the output once no transaction is open.
//
// Seeded randomness (kill moments, commit intervals, input): set STREAMFRAME_TEST_SEED to
// repeat a run; the seed is printed.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/alerts_app.hpp"  // wait_until
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
using sft::ChildProcess;
using sft::CommittedReader;
using sft::consumed_at_stop;
using sft::CounterAppOptions;
using sft::CounterInput;
using Feeder = sft::Feeder<CounterInput>;
using sft::info;
using sft::kill_hard;
using sft::RawOutput;
using sft::restored_records;
using sft::seconds_since;
using sft::stop_gracefully;
using sft::test_seed;
using sft::raw::create_topics;
using sft::raw::make_client;
using sft::raw::make_conf;
using sft::raw::RkPtr;

constexpr int kPartitions = 4;

std::int64_t sum(const std::vector<std::int64_t>& v) {
  std::int64_t s = 0;
  for (auto x : v) s += x < 0 ? 0 : x;
  return s;
}

// The broker id (= scripts/kafka node number) coordinating `group`: the leader of the
// __consumer_offsets partition abs(javaHashCode(group)) % partitions, as Kafka places groups.
int group_coordinator(const std::string& brokers, const std::string& group) {
  RkPtr rk = make_client(RD_KAFKA_PRODUCER,
                         make_conf({{"bootstrap.servers", brokers}, {"log_level", "2"}}));
  std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
      rd_kafka_topic_new(rk.get(), "__consumer_offsets", nullptr), &rd_kafka_topic_destroy);
  const rd_kafka_metadata_t* md = nullptr;
  if (const auto rc = rd_kafka_metadata(rk.get(), 0, rkt.get(), &md, 10000); rc) {
    throw std::runtime_error(std::string("metadata of __consumer_offsets: ") +
                             rd_kafka_err2str(rc));
  }
  std::unique_ptr<const rd_kafka_metadata_t, decltype(&rd_kafka_metadata_destroy)> holder(
      md, &rd_kafka_metadata_destroy);
  if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
    throw std::runtime_error("no metadata for __consumer_offsets");
  }
  std::uint32_t h = 0;
  for (unsigned char c : group) h = 31 * h + c;
  const auto hash = static_cast<std::int32_t>(h);
  const std::int64_t abs = hash == INT32_MIN ? 0 : (hash < 0 ? -std::int64_t{hash} : hash);
  const int partition = static_cast<int>(abs % md->topics[0].partition_cnt);
  for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
    if (md->topics[0].partitions[i].id == partition) return md->topics[0].partitions[i].leader;
  }
  throw std::runtime_error("__consumer_offsets partition " + std::to_string(partition) +
                           " not in the metadata");
}

// The input topic as the app consumes it: every record in (partition, offset) order, so
// per key in processing order. `offsets` gets (partition, offset) of each.
std::vector<CounterInput> read_inputs(
    sft::KafkaProbe& probe, const std::string& topic,
    std::vector<std::pair<int, std::int64_t>>* offsets = nullptr) {
  const auto records = probe.read_all(topic, kPartitions, 60s);
  std::vector<CounterInput> out;
  out.reserve(records.size());
  simdjson::dom::parser parser;
  for (const auto& r : records) {
    CounterInput in;
    if (!r.key || !r.value) throw std::runtime_error("input record without key or value");
    in.key = *r.key;
    simdjson::dom::element doc = parser.parse(*r.value);
    in.id = doc["id"].get_int64().value();
    for (auto w : doc["words"].get_array()) in.words.emplace_back(std::string_view(w.get_string()));
    out.push_back(std::move(in));
    if (offsets) offsets->emplace_back(r.partition, r.offset);
  }
  return out;
}

// scripts/kafka <args> against a cluster of the test's own, timed.
void control(sft::KafkaCluster& cluster, const std::string& args) {
  const auto t0 = Clock::now();
  cluster.control(args);
  info("scripts/kafka " + args + ": " + std::to_string(seconds_since(t0)) + " s");
}

// ---------------------------------------------------------------------------------------------

class ExactlyOnce : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_BROKERS();
    brokers_ = *sft::test_brokers();
    started_ = Clock::now();
  }

  void TearDown() override { info("test time " + std::to_string(seconds_since(started_)) + " s"); }

  // Input and output topics (kPartitions each) and a group on `brokers`.
  void make_topics(const std::string& brokers, const std::string& prefix, int rf = 1,
                   const std::map<std::string, std::string>& config = {}) {
    input_ = sft::unique_name(prefix + "-in");
    output_ = sft::unique_name(prefix + "-out");
    group_ = sft::unique_name(prefix + "-group");
    create_topics(brokers, {input_, output_}, kPartitions, rf, config);
  }

  std::string state_dir(const std::string& name) {
    const std::string dir = ::testing::TempDir() + group_ + "-" + name;
    std::filesystem::remove_all(dir);
    return dir;
  }

  CounterAppOptions options(const std::string& brokers, const std::string& state,
                            const std::string& guarantee = "exactly_once",
                            long commit_interval_ms = 200) {
    return CounterAppOptions{.brokers = brokers,
                             .input = input_,
                             .output = output_,
                             .group = group_,
                             .state_dir = state,
                             .guarantee = guarantee,
                             .commit_interval_ms = commit_interval_ms};
  }

  // Test 7: the only broker dies for longer than broker_availability_timeout.
  void run_all_brokers_down(const std::string& prefix, long commit_interval_ms) {
    constexpr std::int64_t kRecords = 100000;  // more than is fed before the broker dies
    const auto cluster_started = Clock::now();
    sft::KafkaCluster cluster(1);
    const std::string brokers = cluster.address();
    info("1-node cluster at " + brokers + " ready in " +
         std::to_string(seconds_since(cluster_started)) + " s");
    make_topics(brokers, prefix);
    sft::KafkaProbe probe(brokers, group_);
    auto reader = std::make_unique<CommittedReader>(brokers, output_, kPartitions);
    Feeder feeder(brokers, input_, sft::make_counter_inputs(kRecords, 7));
    feeder.produce_now(5000);
    ASSERT_TRUE(feeder.flush(30s));
    feeder.start_paced(2500);

    auto opts = options(brokers, state_dir("state"), "exactly_once", commit_interval_ms);
    opts.extra_args = {"--broker-availability-timeout-ms", "5000", "--request-timeout-ms", "10000"};
    auto app = sft::start_counter_app(opts, "run");
    ASSERT_TRUE(sft::wait_for_log(*app, "partitions assigned: 4", 60s)) << app->log_tail();
    std::this_thread::sleep_for(2500ms);
    ASSERT_GT(probe.total_end(output_, kPartitions), 0) << app->log_tail();

    ASSERT_NO_THROW(control(cluster, "kill-broker 1"));
    const auto down = Clock::now();
    feeder.stop();  // what it has not delivered yet goes out once the broker is back
    const auto st = app->wait_for_exit(90s);
    ASSERT_TRUE(st.has_value()) << "the app still runs 90 s after the only broker died\n"
                                << app->log_tail();
    const double exit_after = seconds_since(down);
    info("the app exited " + std::to_string(exit_after) +
         " s after the broker was killed: " + sft::describe_wait_status(*st));
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 1) << sft::describe_wait_status(*st) << "\n"
                                                         << app->log_tail();
    const std::string log = app->log();
    EXPECT_TRUE(log.find("KafkaBrokerUnavailableError") != std::string::npos ||
                log.find("broker_availability_timeout") != std::string::npos)
        << "the error does not name KafkaBrokerUnavailableError\n"
        << app->log_tail();
    EXPECT_GE(exit_after, 4.5) << "exited before broker_availability_timeout passed";
    EXPECT_LE(exit_after, 30.0) << "took far longer than broker_availability_timeout";

    ASSERT_NO_THROW(control(cluster, "start-broker 1"));
    ASSERT_TRUE(feeder.flush(60s)) << "the feeder's records were not delivered after the restart";
    ASSERT_EQ(feeder.failed(), 0) << feeder.first_error();

    // Which inputs are below the committed offsets.
    std::vector<std::pair<int, std::int64_t>> offsets;
    const auto inputs = read_inputs(probe, input_, &offsets);
    ASSERT_EQ(inputs.size(), feeder.produced());
    const auto committed = probe.committed(input_, kPartitions);
    std::vector<bool> below(static_cast<std::size_t>(kRecords), false);
    std::int64_t n_below = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto [p, off] = offsets[i];
      if (off < committed[static_cast<std::size_t>(p)]) {
        below[static_cast<std::size_t>(inputs[i].id)] = true;
        ++n_below;
      }
    }
    info("inputs " + std::to_string(inputs.size()) + ", committed by the group " +
         std::to_string(n_below));
    EXPECT_GT(n_below, 0) << "nothing was committed before the broker died";
    std::string why;
    ASSERT_TRUE(wait_settled(probe, *reader, 60s, &why)) << why;
    const auto check = sft::check_counter_outputs(inputs, reader->snapshot(), &below);
    info("check against the committed inputs: " + check.summary());
    EXPECT_EQ(check.missing, 0) << "committed offsets beyond the processed inputs: "
                                << check.summary();
    EXPECT_TRUE(check.exactly_once()) << check.summary();
  }

  // Waits (bounded) until the group has committed every input, i.e. everything produced was
  // processed and checkpointed. False on timeout or when an app in `apps` exited.
  bool wait_all_committed(sft::KafkaProbe& probe, const std::vector<ChildProcess*>& apps,
                          std::chrono::milliseconds timeout, std::string* why) {
    return sft::wait_all_committed(probe, input_, kPartitions, apps, timeout, why);
  }

  // Waits (bounded) until no transaction is open on the output topic (last stable offset =
  // end offset) and the reader has read up to the end of every partition.
  bool wait_settled(sft::KafkaProbe& probe, CommittedReader& reader,
                    std::chrono::milliseconds timeout, std::string* why) {
    return sft::wait_settled(probe, reader, output_, kPartitions, timeout, why);
  }

  // Reads the inputs back, waits until no transaction is open and judges the outputs.
  sft::CounterCheck judge(sft::KafkaProbe& probe, CommittedReader& reader,
                          std::size_t expected_inputs) {
    std::string why;
    EXPECT_TRUE(wait_settled(probe, reader, 60s, &why))
        << "the output topic did not settle within 60 s: " << why;
    const auto inputs = read_inputs(probe, input_);
    EXPECT_EQ(inputs.size(), expected_inputs) << "the input topic does not hold what was fed";
    const auto outputs = reader.snapshot();
    auto check = sft::check_counter_outputs(inputs, outputs);
    info("check: " + check.summary());
    ::testing::Test::RecordProperty("outputs", std::to_string(check.outputs));
    ::testing::Test::RecordProperty("duplicates", std::to_string(check.duplicates));
    return check;
  }

  std::string brokers_;
  std::string input_, output_, group_;
  Clock::time_point started_;
};

// 1. Exactly-once across 10 SIGKILLs at random moments (the acceptance test):
// 200,000 inputs on 4 partitions, 20,000 of them before the first start and the rest at
// 2,500/s while the app is killed and restarted (so kills land in processing and open
// transactions, and may land in commits, recovery or group joins), the rest at once after the
// last kill. Each run uses a random commit interval in 100..500 ms and the same state directory.
TEST_F(ExactlyOnce, ExactlyOnceSurvivesRepeatedSigkill) {
  constexpr std::int64_t kRecords = 200000;
  constexpr int kKills = 10;
  const std::uint64_t seed = test_seed();
  info("seed " + std::to_string(seed) +
       " (repeat with STREAMFRAME_TEST_SEED=" + std::to_string(seed) + ")");
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);
  make_topics(brokers_, "eos-kill");
  const std::string state = state_dir("state");
  sft::KafkaProbe probe(brokers_, group_);
  CommittedReader reader(brokers_, output_, kPartitions);

  auto inputs = sft::make_counter_inputs(kRecords, seed);
  const std::int64_t expected = sft::expected_output_count(inputs);
  Feeder feeder(brokers_, input_, std::move(inputs));
  feeder.produce_now(20000);
  ASSERT_TRUE(feeder.flush(30s));
  feeder.start_paced(2500);

  // Two of the kills (random ones) at a random moment after the start: in start-up, group
  // join or recovery; the others at a random moment in the 3 s after the run's first own
  // checkpoint. (Killing at a fixed delay after the assignment measured the machine's load, not
  // the library: on a loaded machine a run could still be restoring when it died, and too few
  // runs produced output for the kills to prove anything.)
  std::vector<bool> early(kKills + 1, false);
  for (int marked = 0; marked < 2;) {
    const auto k = static_cast<std::size_t>(1 + rng() % kKills);
    if (!early[k]) {
      early[k] = true;
      ++marked;
    }
  }
  int runs_with_output = 0;
  for (int k = 1; k <= kKills; ++k) {
    auto opts = options(brokers_, state, "exactly_once", 100 + static_cast<long>(rng() % 401));
    const std::int64_t out_before = probe.total_end(output_, kPartitions);
    const std::int64_t committed_before = probe.total_committed(input_, kPartitions);
    const auto run_started = Clock::now();
    auto app = sft::start_counter_app(opts, "run" + std::to_string(k));
    std::string when;
    std::chrono::milliseconds delay{0};
    if (early[static_cast<std::size_t>(k)]) {
      delay = std::chrono::milliseconds(200 + rng() % 3800);
      when = "after start";
    } else {
      ASSERT_TRUE(sft::wait_for_own_commit(
          *app, "partitions assigned: 4",
          [&] { return probe.total_committed(input_, kPartitions); }, committed_before,
          [&] { return static_cast<std::int64_t>(feeder.produced()) == kRecords; },
          "run " + std::to_string(k)));
      delay = std::chrono::milliseconds(rng() % 3000);
      when = "after its first commit (" + std::to_string(seconds_since(run_started)) + " s)";
    }
    std::this_thread::sleep_for(delay);
    ASSERT_NO_FATAL_FAILURE(kill_hard(*app, "run " + std::to_string(k)));
    const std::int64_t out_after = probe.total_end(output_, kPartitions);
    if (out_after > out_before) ++runs_with_output;
    info("kill " + std::to_string(k) + ": " + std::to_string(delay.count()) + " ms " + when +
         ", commit interval " + std::to_string(opts.commit_interval_ms) + " ms, run " +
         std::to_string(seconds_since(run_started)) + " s, output log grew by " +
         std::to_string(out_after - out_before) + ", inputs fed " +
         std::to_string(feeder.produced()) + ", committed by the group " +
         std::to_string(probe.total_committed(input_, kPartitions)) + ", committed read " +
         std::to_string(reader.count()));
  }
  // The kills must have hit running processing, or they prove little.
  EXPECT_GE(runs_with_output, kKills / 2)
      << "fewer than half of the killed runs produced anything before the kill";
  RecordProperty("runs_with_output", std::to_string(runs_with_output));

  // Final run: the rest of the input at once, then a graceful stop.
  auto last = sft::start_counter_app(options(brokers_, state), "final");
  ASSERT_TRUE(feeder.finish(60s)) << "the feeder's records were not acknowledged";
  // (A SIGTERM before run() installed its handlers would kill it.)
  ASSERT_TRUE(sft::wait_for_log(*last, "partitions assigned: 4", 60s)) << last->log_tail();
  ASSERT_EQ(feeder.failed(), 0) << feeder.first_error();
  const auto final_started = Clock::now();
  std::string why;
  ASSERT_TRUE(wait_all_committed(probe, {last.get()}, 120s, &why))
      << "the final run did not commit all input: " << why << "\n"
      << last->log_tail();
  info("final run committed everything " + std::to_string(seconds_since(final_started)) +
       " s after the last input was fed");
  ASSERT_NO_FATAL_FAILURE(stop_gracefully(*last, "final run"));

  const auto check = judge(probe, reader, static_cast<std::size_t>(kRecords));
  EXPECT_EQ(check.expected, expected);
  EXPECT_TRUE(check.exactly_once())
      << "exactly-once violated (seed " << seed << "): " << check.summary() << "\n"
      << last->log_tail();
}

// 2. At-least-once across SIGKILLs: 50,000 inputs and 3 kills (fewer than the exactly-once
// test, to keep the suite's time down: without transactions there is nothing new to learn
// from more kills). No (input, word) without output, every count 1..n present; duplicates
// are allowed and reported.
TEST_F(ExactlyOnce, AtLeastOnceSurvivesRepeatedSigkill) {
  constexpr std::int64_t kRecords = 50000;
  constexpr int kKills = 3;
  const std::uint64_t seed = test_seed();
  info("seed " + std::to_string(seed) +
       " (repeat with STREAMFRAME_TEST_SEED=" + std::to_string(seed) + ")");
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);
  make_topics(brokers_, "alo-kill");
  const std::string state = state_dir("state");
  sft::KafkaProbe probe(brokers_, group_);
  CommittedReader reader(brokers_, output_, kPartitions);

  Feeder feeder(brokers_, input_, sft::make_counter_inputs(kRecords, seed));
  feeder.produce_now(5000);
  ASSERT_TRUE(feeder.flush(30s));
  feeder.start_paced(2500);

  for (int k = 1; k <= kKills; ++k) {
    auto opts = options(brokers_, state, "at_least_once", 100 + static_cast<long>(rng() % 401));
    const std::int64_t out_before = probe.total_end(output_, kPartitions);
    const auto run_started = Clock::now();
    auto app = sft::start_counter_app(opts, "run" + std::to_string(k));
    ASSERT_TRUE(sft::wait_for_log(*app, "partitions assigned: 4", 60s))
        << "run " << k << " got no assignment within 60 s\n"
        << app->log_tail();
    // The kill lands at a random point of a run that is producing: an assignment is followed by
    // restores first, which under the sanitizers took longer than the shortest delay below.
    ASSERT_TRUE(
        sft::wait_until([&] { return probe.total_end(output_, kPartitions) > out_before; }, 60s))
        << "run " << k << " produced nothing within 60 s of its assignment\n"
        << app->log_tail();
    const auto delay = std::chrono::milliseconds(500 + rng() % 2500);
    std::this_thread::sleep_for(delay);
    ASSERT_NO_FATAL_FAILURE(kill_hard(*app, "run " + std::to_string(k)));
    const std::int64_t out_after = probe.total_end(output_, kPartitions);
    EXPECT_GT(out_after, out_before) << "run " << k << " produced nothing before the kill";
    info("kill " + std::to_string(k) + ": " + std::to_string(delay.count()) +
         " ms after assignment, commit interval " + std::to_string(opts.commit_interval_ms) +
         " ms, run " + std::to_string(seconds_since(run_started)) + " s, outputs " +
         std::to_string(out_after - out_before) + ", inputs fed " +
         std::to_string(feeder.produced()));
  }

  auto last = sft::start_counter_app(options(brokers_, state, "at_least_once"), "final");
  ASSERT_TRUE(feeder.finish(60s));
  ASSERT_TRUE(sft::wait_for_log(*last, "partitions assigned: 4", 60s)) << last->log_tail();
  ASSERT_EQ(feeder.failed(), 0) << feeder.first_error();
  std::string why;
  ASSERT_TRUE(wait_all_committed(probe, {last.get()}, 120s, &why))
      << "the final run did not commit all input: " << why << "\n"
      << last->log_tail();
  ASSERT_NO_FATAL_FAILURE(stop_gracefully(*last, "final run"));

  const auto check = judge(probe, reader, static_cast<std::size_t>(kRecords));
  info("at-least-once: " + std::to_string(check.duplicates) + " duplicate outputs, " +
       std::to_string(check.wrong_counts) + " outputs with a count other than the exact one");
  EXPECT_TRUE(check.at_least_once())
      << "at-least-once violated (seed " << seed << "): " << check.summary() << "\n"
      << last->log_tail();
}

// 3. Two instances in one group with their own state directories; one is SIGKILLed while
// both process. The survivor takes over the killed one's partitions, restores their state
// from the changelog (it never held them) and the counts stay exact.
TEST_F(ExactlyOnce, WordCountTwoInstancesOneKilled) {
  constexpr std::int64_t kRecords = 60000;
  make_topics(brokers_, "eos-two");
  sft::KafkaProbe probe(brokers_, group_);
  CommittedReader reader(brokers_, output_, kPartitions);
  Feeder feeder(brokers_, input_, sft::make_counter_inputs(kRecords, 3));
  feeder.produce_now(5000);
  ASSERT_TRUE(feeder.flush(30s));
  feeder.start_paced(2500);

  auto a = sft::start_counter_app(options(brokers_, state_dir("a")), "a");
  ASSERT_TRUE(sft::wait_for_log(*a, "partitions assigned: 4", 60s)) << a->log_tail();
  auto b = sft::start_counter_app(options(brokers_, state_dir("b")), "b");
  ASSERT_TRUE(sft::wait_for_log(*b, "partitions assigned: 2", 60s)) << b->log_tail();
  ASSERT_TRUE(sft::wait_for_log(*a, "partitions assigned: 2", 30s)) << a->log_tail();
  std::this_thread::sleep_for(2500ms);  // both process
  const std::size_t b_log_at_kill = b->log().size();
  const auto committed_at_kill = sum(probe.committed(input_, kPartitions));
  ASSERT_NO_FATAL_FAILURE(kill_hard(*a, "instance a"));
  const auto killed = Clock::now();
  info("instance a SIGKILLed with " + std::to_string(committed_at_kill) +
       " inputs committed by the group, " + std::to_string(feeder.produced()) + " fed");

  // The survivor gets all four partitions once the dead member's session times out.
  ASSERT_TRUE(sft::wait_for_log(*b, "partitions assigned: 4", 60s)) << b->log_tail();
  info("instance b took over after " + std::to_string(seconds_since(killed)) + " s");
  std::this_thread::sleep_for(2000ms);
  ASSERT_TRUE(feeder.finish(60s));
  ASSERT_EQ(feeder.failed(), 0) << feeder.first_error();
  std::string why;
  ASSERT_TRUE(wait_all_committed(probe, {b.get()}, 120s, &why)) << why << "\n" << b->log_tail();
  const std::int64_t restored = restored_records(*b, b_log_at_kill);
  info("instance b restored " + std::to_string(restored) + " changelog records after the takeover");
  EXPECT_GT(restored, 0) << "the survivor did not restore the taken-over partitions' state "
                            "from the changelog\n"
                         << b->log_tail();
  ASSERT_NO_FATAL_FAILURE(stop_gracefully(*b, "instance b"));

  const auto check = judge(probe, reader, static_cast<std::size_t>(kRecords));
  EXPECT_EQ(check.short_final + check.over_final, 0) << "final counts differ from the input's";
  EXPECT_TRUE(check.exactly_once()) << check.summary() << "\n" << b->log_tail();
}

// 4. Rebalances under load: two instances run, a third joins (eager rebalance: every member
// checkpoints on revoke and re-prepares its state) and later leaves gracefully (SIGTERM).
TEST_F(ExactlyOnce, RebalanceWhileProcessing) {
  constexpr std::int64_t kRecords = 60000;
  make_topics(brokers_, "eos-rebalance");
  sft::KafkaProbe probe(brokers_, group_);
  CommittedReader reader(brokers_, output_, kPartitions);
  Feeder feeder(brokers_, input_, sft::make_counter_inputs(kRecords, 4));
  feeder.produce_now(5000);
  ASSERT_TRUE(feeder.flush(30s));
  feeder.start_paced(2500);

  auto a = sft::start_counter_app(options(brokers_, state_dir("a")), "a");
  ASSERT_TRUE(sft::wait_for_log(*a, "partitions assigned: 4", 60s)) << a->log_tail();
  auto b = sft::start_counter_app(options(brokers_, state_dir("b")), "b");
  ASSERT_TRUE(sft::wait_for_log(*b, "partitions assigned: 2", 60s)) << b->log_tail();
  std::this_thread::sleep_for(2000ms);

  const auto joined = Clock::now();
  auto c = sft::start_counter_app(options(brokers_, state_dir("c")), "c");
  const bool c_assigned = sft::wait_until(
      [&] {
        return sft::log_count(*c, "partitions assigned: 1") +
                   sft::log_count(*c, "partitions assigned: 2") >
               0;
      },
      60s);
  ASSERT_TRUE(c_assigned) << "the third instance got no partitions\n" << c->log_tail();
  info("third instance assigned after " + std::to_string(seconds_since(joined)) + " s");
  std::this_thread::sleep_for(3000ms);
  ASSERT_NO_FATAL_FAILURE(stop_gracefully(*c, "instance c"));
  const std::int64_t c_consumed = consumed_at_stop(*c);
  info("third instance left; it consumed " + std::to_string(c_consumed) + " inputs");
  EXPECT_GT(c_consumed, 0) << "the third instance processed nothing\n" << c->log_tail();
  std::this_thread::sleep_for(2000ms);

  ASSERT_TRUE(feeder.finish(60s));
  ASSERT_EQ(feeder.failed(), 0) << feeder.first_error();
  std::string why;
  ASSERT_TRUE(wait_all_committed(probe, {a.get(), b.get()}, 120s, &why)) << why << "\n"
                                                                         << a->log_tail() << "\n"
                                                                         << b->log_tail();
  ASSERT_NO_FATAL_FAILURE(stop_gracefully(*a, "instance a"));
  ASSERT_NO_FATAL_FAILURE(stop_gracefully(*b, "instance b"));

  const auto check = judge(probe, reader, static_cast<std::size_t>(kRecords));
  EXPECT_TRUE(check.exactly_once()) << check.summary() << "\n"
                                    << a->log_tail() << "\n"
                                    << b->log_tail() << "\n"
                                    << c->log_tail();
}

// 5. The state directory is deleted between two runs: the second run restores the counts
// from the changelog and continues them (ST-05).
TEST_F(ExactlyOnce, DeletedStateDirectoryIsRestored) {
  constexpr std::int64_t kFirst = 20000;
  constexpr std::int64_t kSecond = 20000;
  make_topics(brokers_, "eos-statedir");
  const std::string state = state_dir("state");
  sft::KafkaProbe probe(brokers_, group_);
  CommittedReader reader(brokers_, output_, kPartitions);
  Feeder feeder(brokers_, input_, sft::make_counter_inputs(kFirst + kSecond, 5));
  feeder.produce_now(kFirst);
  ASSERT_TRUE(feeder.flush(30s));

  std::string why;
  {
    auto first = sft::start_counter_app(options(brokers_, state), "first");
    ASSERT_TRUE(sft::wait_for_log(*first, "partitions assigned: 4", 60s)) << first->log_tail();
    ASSERT_TRUE(wait_all_committed(probe, {first.get()}, 90s, &why)) << why << "\n"
                                                                     << first->log_tail();
    ASSERT_NO_FATAL_FAILURE(stop_gracefully(*first, "first run"));
  }
  const auto group_dir = std::filesystem::path(state) / group_;
  ASSERT_TRUE(std::filesystem::exists(group_dir)) << "no state under " << group_dir;
  std::size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(group_dir)) {
    files += e.is_regular_file() ? 1 : 0;
  }
  ASSERT_GT(files, 0u) << "the first run left no state files under " << group_dir;
  std::filesystem::remove_all(state);
  info("deleted the state directory (" + std::to_string(files) + " files)");

  feeder.produce_now(kSecond);
  ASSERT_TRUE(feeder.flush(30s));
  ASSERT_EQ(feeder.failed(), 0) << feeder.first_error();
  auto second = sft::start_counter_app(options(brokers_, state), "second");
  ASSERT_TRUE(sft::wait_for_log(*second, "partitions assigned: 4", 60s)) << second->log_tail();
  ASSERT_TRUE(wait_all_committed(probe, {second.get()}, 90s, &why)) << why << "\n"
                                                                    << second->log_tail();
  const std::int64_t restored = restored_records(*second);
  info("the second run restored " + std::to_string(restored) + " changelog records");
  EXPECT_GT(restored, 0) << "the second run restored nothing from the changelog\n"
                         << second->log_tail();
  ASSERT_NO_FATAL_FAILURE(stop_gracefully(*second, "second run"));
  EXPECT_EQ(consumed_at_stop(*second), kSecond)
      << "the second run should consume exactly the new inputs\n"
      << second->log_tail();

  const auto check = judge(probe, reader, static_cast<std::size_t>(kFirst + kSecond));
  EXPECT_TRUE(check.exactly_once()) << check.summary() << "\n" << second->log_tail();
}

// 6. A broker of a 3-node cluster stops (graceful) and starts again while an exactly-once run
// processes. The broker stopped is the app's group coordinator (found from the group's
// __consumer_offsets partition), the hardest case and the same in every run: the group moves
// to another node and the member must keep or regain its membership. Topics have replication
// factor 3 and min.insync.replicas 2 (the cluster's internal topics are RF 3, transaction
// state min ISR 2: scripts/kafka --brokers 3). The app must survive the outage; if it does
// not, that is a failure, and it is started again so the exactly-once check still runs.
TEST_F(ExactlyOnce, BrokerRestartDuringExactlyOnce) {
  constexpr std::int64_t kRecords = 60000;
  const auto cluster_started = Clock::now();
  sft::KafkaCluster cluster(3);
  const std::string brokers = cluster.address();
  info("3-node cluster at " + brokers + " ready in " +
       std::to_string(seconds_since(cluster_started)) + " s");
  const std::map<std::string, std::string> isr2{{"min.insync.replicas", "2"}};
  make_topics(brokers, "eos-broker", 3, isr2);
  // The app would create its changelog with the source's replication factor and the broker's
  // default min.insync.replicas (1); created here (same name scheme, TOP-14) it gets 2 too.
  const std::string changelog = "changelog__" + group_ + "--" + input_ + "--default";
  create_topics(brokers, {changelog}, kPartitions, 3,
                {{"min.insync.replicas", "2"}, {"cleanup.policy", "compact"}});

  sft::KafkaProbe probe(brokers, group_);
  CommittedReader reader(brokers, output_, kPartitions);
  Feeder feeder(brokers, input_, sft::make_counter_inputs(kRecords, 6));
  feeder.produce_now(5000);
  ASSERT_TRUE(feeder.flush(30s));
  feeder.start_paced(2500);

  const auto opts = options(brokers, state_dir("state"));
  auto app = sft::start_counter_app(opts, "run");
  ASSERT_TRUE(sft::wait_for_log(*app, "partitions assigned: 4", 60s)) << app->log_tail();
  std::this_thread::sleep_for(2000ms);
  int node = 0;
  ASSERT_NO_THROW(node = group_coordinator(brokers, group_));
  ASSERT_TRUE(node >= 1 && node <= 3) << "group coordinator " << node;
  const std::string n = std::to_string(node);
  info("the group coordinator is node " + n);
  // Progress is measured with the reader: librdkafka 2.0.2's query_watermark_offsets can hang
  // past its timeout while a partition's cached leader is down (librdkafka #2588, fixed in
  // 2.3.0), so the probe's end offsets are not asked while the broker is down.
  const auto visible_before_stop = reader.count();
  ASSERT_NO_THROW(control(cluster, "stop-broker " + n));
  const auto visible_at_stop = reader.count();
  std::this_thread::sleep_for(6000ms);
  const bool survived_outage = app->running();
  const auto visible_while_down = reader.count();
  ASSERT_NO_THROW(control(cluster, "start-broker " + n));
  std::this_thread::sleep_for(3000ms);
  const bool survived = app->running();
  info("outputs visible to read_committed: " + std::to_string(visible_before_stop) +
       " before the stop, " + std::to_string(visible_at_stop) + " when node " + n + " was down, " +
       std::to_string(visible_while_down) + " 6 s later, " + std::to_string(reader.count()) +
       " 3 s after its restart; inputs fed " + std::to_string(feeder.produced()));
  EXPECT_TRUE(survived_outage) << "the app exited while one broker of three (the group "
                                  "coordinator) was down\n"
                               << app->log_tail(6000);
  EXPECT_TRUE(survived) << "the app exited after the broker's restart\n" << app->log_tail(6000);
  if (survived_outage) {
    EXPECT_GT(visible_while_down, visible_at_stop)
        << "no transaction committed while one broker of three was down";
  }
  if (!survived) {
    info("the app exited (" + sft::describe_wait_status(app->kill_and_reap()) +
         "); starting it again for the exactly-once check");
    app = sft::start_counter_app(opts, "run2");
    ASSERT_TRUE(sft::wait_for_log(*app, "partitions assigned: 4", 60s)) << app->log_tail();
  }

  ASSERT_TRUE(feeder.finish(60s));
  ASSERT_EQ(feeder.failed(), 0) << feeder.first_error();
  std::string why;
  ASSERT_TRUE(wait_all_committed(probe, {app.get()}, 120s, &why)) << why << "\n" << app->log_tail();
  ASSERT_NO_FATAL_FAILURE(stop_gracefully(*app, "app"));
  const auto check = judge(probe, reader, static_cast<std::size_t>(kRecords));
  EXPECT_TRUE(check.exactly_once()) << check.summary() << "\n" << app->log_tail();
}

// 7. The only broker dies for longer than broker_availability_timeout (5 s): the app exits
// with code 1 naming KafkaBrokerUnavailableError (APP-15) within 30 s. With the
// broker back, the group's committed offsets do not go beyond what was processed: every
// input below them has its outputs visible to read_committed readers, and (exactly-once)
// nothing else is visible.
TEST_F(ExactlyOnce, AllBrokersDownLongerThanTimeout) {
  run_all_brokers_down("eos-down", 200);
}

// 7b. The same with a checkpoint after every message (commit_interval 0): the outage then
// nearly always meets a checkpoint's transaction calls rather than the poll loop. Before the
// fix, one in two runs hung for good in send_offsets_to_transaction (librdkafka ignores its
// timeout while the group coordinator is unreachable, librdkafka #5456), and a failed send
// followed by a timed-out abort ended with the checkpoint's error instead of APP-15's.
TEST_F(ExactlyOnce, AllBrokersDownDuringCheckpoints) {
  run_all_brokers_down("eos-down-ck", 0);
}

}  // namespace
