// Run modes and checkpoint options against the real broker: run({count, metadata}) and
// resumption (APP-20), run({timeout}), commit_every / commit_interval (APP-04/05, CK-02/03),
// on_message_processed (APP-16), auto_offset_reset (APP-03).
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

std::string record(int i) {
  return Value::object({{"i", i}, {"temperature", i}}).to_json();
}

void feed(Application& app, const std::string& topic, int from, int to,
          std::int32_t partition = -1) {
  Producer producer = app.get_producer();
  for (int i = from; i < to; ++i) {
    producer.produce(topic, "k" + std::to_string(i), record(i), 0, {}, partition);
  }
  ASSERT_TRUE(producer.flush(30s));
}

std::vector<int> ids_of(const std::vector<Value>& outputs) {
  std::vector<int> ids;
  for (const auto& v : outputs) ids.push_back(static_cast<int>(v["i"].as_int()));
  return ids;
}

// run({.count}) returns exactly the outputs of the first N messages; a second run() on the
// same app and a run() of a new app in the group continue after them with no repeat or gap.
TEST(AppRunModes, CountReturnsOutputsAndRunsResumeWithoutRepeatsOrGaps) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("count-in");
  const std::string group = streamframe::test::unique_name("count-grp");
  create_topic(in, 1);
  {
    Application app(base_config(group));
    feed(app, in, 0, 12);
    auto sdf = app.dataframe(app.topic(in));
    sdf["double"] = sdf["i"] * 2;

    const auto first = app.run({.count = 4});
    EXPECT_EQ(ids_of(first), range(0, 4));
    for (const auto& v : first) EXPECT_EQ(v["double"], Value(v["i"].as_int() * 2));
    EXPECT_EQ(committed_offset(group, in), 4);

    const auto second = app.run({.count = 5});
    EXPECT_EQ(ids_of(second), range(4, 9));
    EXPECT_EQ(committed_offset(group, in), 9);
    EXPECT_EQ(app.stats().messages_consumed, 9u);
  }
  {
    Application app(base_config(group));
    (void)app.dataframe(app.topic(in));
    const auto third = app.run({.timeout = 3s, .count = 100});
    EXPECT_EQ(ids_of(third), range(9, 12));
    EXPECT_EQ(committed_offset(group, in), 12);
  }
}

// .count counts outputs (records leaving a leaf), checked per whole message: a message that
// expands into 3 records is finished even when the limit falls inside it.
TEST(AppRunModes, CountCountsOutputsPerWholeMessage) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("countx-in");
  const std::string group = streamframe::test::unique_name("countx-grp");
  create_topic(in, 1);
  Application app(base_config(group));
  feed(app, in, 0, 3);
  auto sdf = app.dataframe(app.topic(in));
  sdf = sdf.apply(
      [](const Value& v) {
        const auto i = v["i"].as_int();
        return Value::array({Value::object({{"i", i}, {"n", 0}}),
                             Value::object({{"i", i}, {"n", 1}}),
                             Value::object({{"i", i}, {"n", 2}})});
      },
      {.expand = true});
  const auto outputs = app.run({.count = 4});
  ASSERT_EQ(outputs.size(), 6u);  // two whole messages
  EXPECT_EQ(ids_of(outputs), (std::vector<int>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(committed_offset(group, in), 2);
}

// .metadata prepends _key, _timestamp, _headers, _topic, _partition, _offset; non-object
// values come back as {"_value": v}.
TEST(AppRunModes, MetadataFields) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("meta-in");
  const std::string group = streamframe::test::unique_name("meta-grp");
  create_topic(in, 2);
  Application app(base_config(group));
  {
    Producer producer = app.get_producer();
    producer.produce(in, "alpha", R"({"a":1})", 1700000000001, {{"h1", "v1"}, {"h1", "v2"}}, 1);
    producer.produce(in, std::nullopt, "42", 1700000000002, {}, 1);
    producer.produce(in, "gamma", R"("text")", 1700000000003, {{"bin", std::string("\x00\x01", 2)}},
                     1);
    ASSERT_TRUE(producer.flush(30s));
  }
  (void)app.dataframe(app.topic(in));
  const auto outputs = app.run({.count = 3, .metadata = true});
  ASSERT_EQ(outputs.size(), 3u);

  const std::vector<std::string> meta_keys{"_key",   "_timestamp", "_headers",
                                           "_topic", "_partition", "_offset"};
  auto expect_layout = [&](const Value& v, const std::string& last) {
    ASSERT_TRUE(v.is_object());
    std::vector<std::string> keys;
    for (const auto& [k, _] : v.as_object()) keys.push_back(k);
    auto expected = meta_keys;
    expected.push_back(last);
    EXPECT_EQ(keys, expected) << v.to_json();
  };
  expect_layout(outputs[0], "a");
  EXPECT_EQ(outputs[0]["_key"], Value("alpha"));
  EXPECT_EQ(outputs[0]["_timestamp"], Value(1700000000001LL));
  EXPECT_EQ(outputs[0]["_headers"],
            Value::array({Value::array({"h1", "v1"}), Value::array({"h1", "v2"})}));
  EXPECT_EQ(outputs[0]["_topic"], Value(in));
  EXPECT_EQ(outputs[0]["_partition"], Value(1));
  EXPECT_EQ(outputs[0]["_offset"], Value(0));
  EXPECT_EQ(outputs[0]["a"], Value(1));

  expect_layout(outputs[1], "_value");
  EXPECT_TRUE(outputs[1]["_key"].is_null());
  EXPECT_EQ(outputs[1]["_timestamp"], Value(1700000000002LL));
  EXPECT_EQ(outputs[1]["_headers"], Value::array());
  EXPECT_EQ(outputs[1]["_offset"], Value(1));
  EXPECT_EQ(outputs[1]["_value"], Value(42));

  expect_layout(outputs[2], "_value");
  EXPECT_EQ(outputs[2]["_headers"],
            Value::array({Value::array({"bin", std::string("\x00\x01", 2)})}));
  EXPECT_EQ(outputs[2]["_offset"], Value(2));
  EXPECT_EQ(outputs[2]["_value"], Value("text"));

  // Without .metadata: plain values, non-objects wrapped.
  feed(app, in, 0, 1, 0);
  const auto plain = app.run({.count = 1});
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0], Value::from_json(record(0)));
}

// run({.timeout}) stops once no message came for `timeout`, returning what it collected.
TEST(AppRunModes, TimeoutStopsAfterIdlePeriod) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("idle-in");
  const std::string group = streamframe::test::unique_name("idle-grp");
  create_topic(in, 1);
  Application app(base_config(group));
  feed(app, in, 0, 3);
  (void)app.dataframe(app.topic(in));

  auto start = Clock::now();
  const auto outputs = app.run({.timeout = 1500ms});
  const double elapsed = seconds_since(start);
  EXPECT_EQ(ids_of(outputs), range(0, 3));
  EXPECT_GE(elapsed, 1.5);
  EXPECT_LT(elapsed, 12.0);
  EXPECT_EQ(committed_offset(group, in), 3);  // final checkpoint

  // Messages keep the run alive: the idle timer restarts on each one.
  std::atomic<bool> feeding{true};
  std::thread feeder([&] {
    Producer producer = app.get_producer();
    for (int i = 3; i < 9 && feeding; ++i) {
      std::this_thread::sleep_for(500ms);
      producer.produce(in, "k", record(i));
      producer.flush(10s);
    }
  });
  start = Clock::now();
  const auto more = app.run({.timeout = 1500ms});
  const double elapsed2 = seconds_since(start);
  feeding = false;
  feeder.join();
  EXPECT_EQ(ids_of(more), range(3, 9));
  EXPECT_GE(elapsed2, 3.0 + 1.5);  // 6 messages 500 ms apart, then 1.5 s idle
  EXPECT_LT(elapsed2, 20.0);

  // Nothing to read: stops ~timeout after the assignment, returns nothing.
  start = Clock::now();
  EXPECT_TRUE(app.run({.timeout = 1s}).empty());
  EXPECT_LT(seconds_since(start), 12.0);
}

// commit_every=3 with a long commit_interval: a checkpoint after every 3rd message. Observed
// from on_message_processed, which runs after a message and before the checkpoint check.
TEST(AppRunModes, CommitEveryCommitsAfterNMessages) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("every-in");
  const std::string group = streamframe::test::unique_name("every-grp");
  create_topic(in, 1);
  std::map<std::int64_t, std::int64_t> committed_at;  // processed offset -> committed then
  auto cfg = base_config(group);
  cfg.commit_every = 3;
  cfg.commit_interval = std::chrono::hours(1);
  cfg.on_message_processed = [&](const std::string& topic, std::int32_t partition,
                                 std::int64_t offset) {
    committed_at[offset] = committed_offset(group, topic, partition);
  };
  Application app(cfg);
  feed(app, in, 0, 10);
  (void)app.dataframe(app.topic(in));
  const auto outputs = app.run({.count = 10});
  EXPECT_EQ(outputs.size(), 10u);
  ASSERT_EQ(committed_at.size(), 10u);
  for (const auto& [offset, committed] : committed_at) {
    const std::int64_t expected = offset < 3 ? RD_KAFKA_OFFSET_INVALID : (offset / 3) * 3;
    EXPECT_EQ(committed, expected) << "while processing offset " << offset;
  }
  EXPECT_EQ(app.stats().checkpoints, 4u);  // after 3, 6, 9 and the final one
  EXPECT_EQ(committed_offset(group, in), 10);
}

// commit_every=0 and a long commit_interval: nothing is committed until the final checkpoint.
TEST(AppRunModes, LongCommitIntervalCommitsOnlyAtTheEnd) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("interval-in");
  const std::string group = streamframe::test::unique_name("interval-grp");
  create_topic(in, 1);
  std::vector<std::int64_t> seen;
  auto cfg = base_config(group);
  cfg.commit_interval = std::chrono::hours(1);
  cfg.on_message_processed = [&](const std::string& topic, std::int32_t partition, std::int64_t) {
    seen.push_back(committed_offset(group, topic, partition));
  };
  Application app(cfg);
  feed(app, in, 0, 5);
  (void)app.dataframe(app.topic(in));
  EXPECT_EQ(app.run({.count = 5}).size(), 5u);
  EXPECT_EQ(seen, std::vector<std::int64_t>(5, RD_KAFKA_OFFSET_INVALID));
  EXPECT_EQ(app.stats().checkpoints, 1u);
  EXPECT_EQ(committed_offset(group, in), 5);
}

// on_message_processed: once per message with its topic, partition and offset, in offset
// order within a partition, also for a message the pipeline filtered out.
TEST(AppRunModes, OnMessageProcessedOncePerMessage) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("processed-in");
  const std::string group = streamframe::test::unique_name("processed-grp");
  create_topic(in, 3);
  std::vector<std::tuple<std::string, std::int32_t, std::int64_t>> calls;
  auto cfg = base_config(group);
  cfg.on_message_processed = [&](const std::string& t, std::int32_t p, std::int64_t o) {
    calls.emplace_back(t, p, o);
  };
  Application app(cfg);
  feed(app, in, 0, 15);
  auto sdf = app.dataframe(app.topic(in));
  sdf = sdf[sdf["i"] % 2 == 0];  // odd records leave no output but are processed
  const auto outputs = app.run({.timeout = 3s});
  EXPECT_EQ(outputs.size(), 8u);

  std::set<std::tuple<std::string, std::int32_t, std::int64_t>> expected;
  for (const auto& m : read_topic(in)) expected.emplace(in, m.partition, m.offset);
  ASSERT_EQ(expected.size(), 15u);
  const std::set<std::tuple<std::string, std::int32_t, std::int64_t>> got(calls.begin(),
                                                                          calls.end());
  EXPECT_EQ(calls.size(), 15u);  // no duplicates
  EXPECT_EQ(got, expected);
  std::map<std::int32_t, std::int64_t> last;
  for (const auto& [t, p, o] : calls) {
    if (last.count(p)) {
      EXPECT_GT(o, last[p]) << "partition " << p;
    }
    last[p] = o;
  }
}

// auto_offset_reset=earliest: a new group starts at the beginning.
TEST(AppRunModes, AutoOffsetResetEarliest) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("early-in");
  create_topic(in, 1);
  Application app(base_config(streamframe::test::unique_name("early-grp")));
  feed(app, in, 0, 3);
  (void)app.dataframe(app.topic(in));
  EXPECT_EQ(ids_of(app.run({.count = 3})), range(0, 3));
}

// auto_offset_reset=latest: a new group skips what is already in the topic.
TEST(AppRunModes, AutoOffsetResetLatest) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("late-in");
  const std::string group = streamframe::test::unique_name("late-grp");
  create_topic(in, 1);
  auto cfg = base_config(group);
  cfg.auto_offset_reset = AutoOffsetReset::latest;
  Application app(cfg);
  feed(app, in, 0, 5);
  (void)app.dataframe(app.topic(in));
  // Keep producing until the app (which starts at the end) has seen one new record.
  std::atomic<bool> done{false};
  std::thread feeder([&] {
    Producer producer = app.get_producer();
    for (int i = 100; !done && i < 400; ++i) {
      producer.produce(in, "k", record(i));
      producer.flush(10s);
      std::this_thread::sleep_for(100ms);
    }
  });
  const auto outputs = app.run({.timeout = 30s, .count = 1});
  done = true;
  feeder.join();
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_GE(outputs[0]["i"].as_int(), 100) << "read a record from before the app started";
}

// auto_offset_reset=error: no committed offset => fatal KafkaError; with one => normal resume.
TEST(AppRunModes, AutoOffsetResetErrorWithoutCommittedOffsetIsFatal) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("err-in");
  const std::string group = streamframe::test::unique_name("err-grp");
  create_topic(in, 1);
  {
    auto cfg = base_config(group);
    cfg.auto_offset_reset = AutoOffsetReset::error;
    Application app(cfg);
    feed(app, in, 0, 4);
    (void)app.dataframe(app.topic(in));
    const auto start = Clock::now();
    const CaughtError e = capture_error([&] { app.run({.timeout = 20s}); });
    ASSERT_TRUE(e.thrown) << "run() returned without an error";
    EXPECT_LT(seconds_since(start), 20.0);
    EXPECT_EQ(e.type, std::type_index(typeid(KafkaError))) << e.what;
    EXPECT_TRUE(e.kafka_fatal) << e.what;
    EXPECT_NE(e.what.find(in), std::string::npos) << e.what;
  }
  EXPECT_EQ(committed_offset(group, in), RD_KAFKA_OFFSET_INVALID);
  {
    // Commit offset 2 with an earliest app, then the `error` app resumes there.
    Application app(base_config(group));
    (void)app.dataframe(app.topic(in));
    EXPECT_EQ(ids_of(app.run({.count = 2})), range(0, 2));
  }
  {
    auto cfg = base_config(group);
    cfg.auto_offset_reset = AutoOffsetReset::error;
    Application app(cfg);
    (void)app.dataframe(app.topic(in));
    EXPECT_EQ(ids_of(app.run({.timeout = 3s, .count = 2})), range(2, 4));
  }
}

}  // namespace
}  // namespace streamframe::apptest
