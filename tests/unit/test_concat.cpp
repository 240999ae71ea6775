// concat (SDF-13) of frames of different topics through the public API, run by TestDriver and
// by the run loop on the embedded broker: each topic's records continue below the merge with
// their own message context; co-partitioned topics share one task per partition number
// (TOP-15), so state right after the merge sees both topics' records, and the run loop takes
// them in timestamp order (KAF-04); state over topics of different partition counts is
// TopicPartitionsMismatch. The real-broker runs are in tests/integration/test_concat.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

using namespace std::chrono_literals;

namespace streamframe {
namespace {

const Topic kEu = Topic::make("orders-eu", {.config = TopicConfig{.num_partitions = 2}});
const Topic kUs = Topic::make("orders-us", {.config = TopicConfig{.num_partitions = 3}});
const Topic kAll = Topic::make("orders-all", {});

TEST(ConcatTopics, RecordsOfBothTopicsContinueBelowTheMerge) {
  auto eu = StreamingDataFrame::standalone(kEu);
  auto us = StreamingDataFrame::standalone(kUs);
  auto eu_marked = eu.apply([](const Value& v) {
    Value out = v;
    out["region"] = Value("eu");
    return out;
  });
  auto all = eu_marked.concat(us[us["amount"] > 10]);
  all["topic"] =
      all.apply([](const Value&) { return Value(StreamingDataFrame::message_context().topic); });
  all.to_topic(kAll);

  // Only the merged frame is given: the driver finds the other input through the merge.
  TestDriver driver({all});
  driver.pipe(kEu, Value::object({{"amount", 5}}), Value("o-1"), 1000);
  driver.pipe(kUs, Value::object({{"amount", 50}}), Value("o-2"), 1001);
  driver.pipe(kUs, Value::object({{"amount", 7}}), Value("o-3"), 1002);  // filtered out
  driver.pipe(kEu, Value::object({{"amount", 30}}), Value("o-4"), 1003);
  const auto out = driver.output(kAll);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].value.to_json(), R"({"amount":5,"region":"eu","topic":"orders-eu"})");
  EXPECT_EQ(out[0].key, Value(std::string("o-1")));
  EXPECT_EQ(out[1].value.to_json(), R"({"amount":50,"topic":"orders-us"})");
  EXPECT_EQ(out[1].timestamp, 1001);
  EXPECT_EQ(out[2].value.to_json(), R"({"amount":30,"region":"eu","topic":"orders-eu"})");

  // sdf.test() cannot know which topic a record comes from.
  EXPECT_THROW((void)all.test(Value::object({{"amount", 1}})), ConfigError);
}

// Both topics' partition N run in one task: an aggregate right after the merge counts the
// records of both under one key, and so does a window.
TEST(ConcatTopics, StateRightAfterTheMergeSeesBothTopics) {
  const Topic eu_topic = Topic::make("eu", {.config = TopicConfig{.num_partitions = 2}});
  const Topic us_topic = Topic::make("us", {.config = TopicConfig{.num_partitions = 2}});
  auto eu = StreamingDataFrame::standalone(eu_topic);
  auto us = StreamingDataFrame::standalone(us_topic);
  auto all = eu.concat(us);
  all.aggregate({{"n", agg::count()}, {"total", agg::sum("amount")}}).to_topic(kAll);
  all.tumbling_window(std::chrono::seconds(10))
      .count()
      .final()
      .to_topic(Topic::make("windows", {}));
  TestDriver driver({all});
  driver.pipe(eu_topic, Value::object({{"amount", 5}}), Value("ann"), 1000);
  driver.pipe(us_topic, Value::object({{"amount", 7}}), Value("ann"), 2000);
  driver.pipe(us_topic, Value::object({{"amount", 1}}), Value("bob"), 3000);
  driver.pipe(eu_topic, Value::object({{"amount", 2}}), Value("ann"), 12000);
  std::vector<std::string> ann;
  for (const auto& r : driver.output(kAll)) {
    if (r.key == Value(std::string("ann"))) ann.push_back(r.value.to_json());
  }
  EXPECT_EQ(ann, (std::vector<std::string>{R"({"n":1,"total":5})", R"({"n":2,"total":12})",
                                           R"({"n":3,"total":14})"}));
  // The window [0, 10 s) of "ann" closed on the eu record at 12 s with both topics' records.
  const auto windows = driver.output(Topic::make("windows", {}));
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0].key, Value(std::string("ann")));
  EXPECT_EQ(windows[0].value.to_json(), R"({"start":0,"end":10000,"value":2})");
}

// TOP-15: a task owns one partition number of every topic of the concat, so state there needs
// equal partition counts: refused where it is declared, whichever comes first, the state or the
// concat. Nothing stateful needs no such thing, and a group_by after the merge puts both topics'
// records in one repartition topic, where the aggregate after it counts them together.
TEST(ConcatTopics, StateNeedsEqualPartitionCounts) {
  auto eu = StreamingDataFrame::standalone(kEu);  // 2 partitions
  auto us = StreamingDataFrame::standalone(kUs);  // 3 partitions
  auto all = eu.concat(us);
  EXPECT_THROW((void)all.aggregate({{"n", agg::count()}}), TopicPartitionsMismatch);
  EXPECT_THROW((void)all.tumbling_window(std::chrono::seconds(10)).count().final(),
               TopicPartitionsMismatch);
  EXPECT_THROW((void)all.apply([](const Value& v, State&) { return v; }), TopicPartitionsMismatch);
  EXPECT_THROW(all.register_store(), TopicPartitionsMismatch);
  {
    auto eu2 = StreamingDataFrame::standalone(kEu);
    auto counted = eu2.apply([](const Value& v, State&) { return v; });
    EXPECT_THROW((void)counted.concat(StreamingDataFrame::standalone(kUs)),
                 TopicPartitionsMismatch);
  }

  all.group_by("customer").aggregate({{"n", agg::count()}}).to_topic(kAll);
  TestDriver driver({eu, us});
  driver.pipe(kEu, Value::object({{"customer", "ann"}}), Value("o-1"), 1);
  driver.pipe(kUs, Value::object({{"customer", "ann"}}), Value("o-2"), 2);
  driver.pipe(kUs, Value::object({{"customer", "bob"}}), Value("o-3"), 3);
  driver.pipe(kEu, Value::object({{"customer", "ann"}}), Value("o-4"), 4);
  std::map<std::string, std::string> last;
  for (const auto& r : driver.output(kAll)) last[r.key.as_string()] = r.value.to_json();
  EXPECT_EQ(last,
            (std::map<std::string, std::string>{{"ann", R"({"n":3})"}, {"bob", R"({"n":1})"}}));
}

// KAF-04 in the run loop: both topics were filled before the run, one after the other, yet
// each partition's records reach the pipeline in timestamp order across the two topics (a
// tie goes to the topic declared first), and an aggregate right after the merge keeps one
// running count per key over both. The buffer limit is small, so full buffers pause and
// resume their partitions on the way.
TEST(ConcatTopics, TheRunLoopTakesBothTopicsInTimestampOrder) {
  ApplicationConfig cfg = test::embedded_config("concat-order");
  cfg.max_partition_buffer_size = 5;
  Application app(cfg);
  const auto part = TopicOptions{.config = TopicConfig{.num_partitions = 2}};
  const Topic a = app.topic("concat-order-a", part);
  const Topic b = app.topic("concat-order-b", part);
  constexpr int kPerTopic = 60;
  {
    Producer producer = app.get_producer();
    // a: even timestamps, b: odd ones and every tenth equal to a's; all of a first.
    for (int i = 0; i < kPerTopic; ++i) {
      producer.produce(a, Value::object({{"from", "a"}, {"i", i}}),
                       Value("k-" + std::to_string(i % 4)), 1000 + 2 * i);
    }
    for (int i = 0; i < kPerTopic; ++i) {
      producer.produce(b, Value::object({{"from", "b"}, {"i", i}}),
                       Value("k-" + std::to_string(i % 4)), 1000 + 2 * i + (i % 10 == 0 ? 0 : 1));
    }
    ASSERT_TRUE(producer.flush(30s));
  }
  auto all = app.dataframe(a).concat(app.dataframe(b));
  (void)all.aggregate({{"n", agg::count()}});
  const auto rows = app.run({.timeout = 20s, .count = 2 * kPerTopic, .metadata = true});
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(2 * kPerTopic));
  std::map<std::int64_t, std::vector<std::pair<std::int64_t, std::string>>> by_partition;
  std::map<std::string, std::int64_t> last_count;
  for (const auto& r : rows) {
    by_partition[r["_partition"].as_int()].emplace_back(r["_timestamp"].as_int(),
                                                        r["_topic"].as_string());
    const std::string key = r["_key"].as_string();
    // Running counts per key rise by one over both topics.
    EXPECT_EQ(r["n"].as_int(), last_count[key] + 1) << key;
    last_count[key] = r["n"].as_int();
  }
  for (const auto& [partition, seen] : by_partition) {
    for (std::size_t i = 1; i < seen.size(); ++i) {
      EXPECT_LE(seen[i - 1].first, seen[i].first) << "partition " << partition << " at " << i;
      if (seen[i - 1].first == seen[i].first) {
        EXPECT_EQ(seen[i - 1].second, "concat-order-a") << "a tie goes to the topic declared first";
      }
    }
  }
  std::int64_t total = 0;
  for (const auto& [key, n] : last_count) total += n;
  EXPECT_EQ(total, 2 * kPerTopic);
}

// KAF-04's idle rule: a topic of the concat that has nothing to read does not hold back the
// other one's records once the fetcher reported its end.
TEST(ConcatTopics, AnEmptyTopicDoesNotHoldTheOtherBack) {
  Application app(test::embedded_config("concat-idle"));
  const Topic a = app.topic("concat-idle-a");
  const Topic b = app.topic("concat-idle-b");
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < 10; ++i)
      producer.produce(a, Value::object({{"i", i}}), Value("k"), 1000 + i);
    ASSERT_TRUE(producer.flush(30s));
  }
  (void)app.dataframe(a).concat(app.dataframe(b)).aggregate({{"n", agg::count()}});
  const auto rows = app.run({.timeout = 20s, .count = 10});
  ASSERT_EQ(rows.size(), 10u);
  EXPECT_EQ(rows.back()["n"].as_int(), 10);
}

TEST(ConcatTopics, FramesOfDifferentApplicationsAreRefused) {
  Application one(test::embedded_config("concat-a"));
  Application two(test::embedded_config("concat-b"));
  auto a = one.dataframe(one.topic("concat-a-in"));
  auto b = two.dataframe(two.topic("concat-b-in"));
  EXPECT_THROW((void)a.concat(b), InvalidOperation);
}

}  // namespace
}  // namespace streamframe
