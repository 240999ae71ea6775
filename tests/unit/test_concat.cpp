// concat (SDF-13) of frames of different topics through the public API, run by TestDriver:
// each topic's records continue below the merge with their own message context; state right
// after the merge is refused until co-partitioned tasks and time-aligned consumption (KAF-04)
// exist, and group_by after the merge re-keys both topics' records into one stream that may
// keep state. The real-broker run under exactly-once is in tests/integration/test_concat.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

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

// State right after the merge would need both topics' partition N in one task, in timestamp
// order: refused at the declaration. A group_by after the merge puts both topics' records in
// one repartition topic, and the aggregate after it counts them together.
TEST(ConcatTopics, StateNeedsAGroupByAfterTheMerge) {
  auto eu = StreamingDataFrame::standalone(kEu);
  auto us = StreamingDataFrame::standalone(kUs);
  auto all = eu.concat(us);
  EXPECT_THROW((void)all.aggregate({{"n", agg::count()}}), InvalidOperation);
  EXPECT_THROW((void)all.tumbling_window(std::chrono::seconds(10)).count().final(),
               InvalidOperation);
  EXPECT_THROW((void)all.apply([](const Value& v, State&) { return v; }), InvalidOperation);

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

TEST(ConcatTopics, FramesOfDifferentApplicationsAreRefused) {
  Application one(test::embedded_config("concat-a"));
  Application two(test::embedded_config("concat-b"));
  auto a = one.dataframe(one.topic("concat-a-in"));
  auto b = two.dataframe(two.topic("concat-b-in"));
  EXPECT_THROW((void)a.concat(b), InvalidOperation);
}

}  // namespace
}  // namespace streamframe
