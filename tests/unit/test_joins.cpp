// Joins (SEMANTICS §9) through the public API, beyond the golden cases
// (tests/golden/joins/*.test): the run loop on the embedded broker reading both sides in
// timestamp order (KAF-04), the checks made when a join is declared, and the store the right
// side keeps.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <utility>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

using namespace std::chrono_literals;

namespace streamframe {
namespace {

// Orders (left) take the customer record (right) that was current at their time. Every
// customer record is produced before every order, so only the run loop's timestamp order
// across the two topics (KAF-04) lets the orders find them.
TEST(AsofJoin, TheRunLoopEnrichesEachRecordWithTheRightValueOfItsTime) {
  Application app(test::embedded_config("asof-run"));
  const auto two = TopicOptions{.config = TopicConfig{.num_partitions = 2}};
  const Topic customers = app.topic("asof-customers", two);
  const Topic orders = app.topic("asof-orders", two);
  {
    Producer producer = app.get_producer();
    producer.produce(customers, Value::object({{"name", "Ann"}, {"tier", "gold"}}), Value("c1"),
                     1000);
    producer.produce(customers, Value::object({{"tier", "platinum"}, {"name", "Ann"}}), Value("c1"),
                     5000);
    producer.produce(customers, Value::object({{"name", "Bob"}, {"tier", "silver"}}), Value("c2"),
                     2000);
    producer.produce(orders, Value::object({{"amount", 10}}), Value("c1"), 1500);
    producer.produce(orders, Value::object({{"amount", 20}}), Value("c1"), 6000);
    producer.produce(orders, Value::object({{"amount", 5}}), Value("c2"), 1000);  // before Bob
    producer.produce(orders, Value::object({{"amount", 7}}), Value("c2"), 3000);
    ASSERT_TRUE(producer.flush(30s));
  }
  (void)app.dataframe(orders).join_asof(app.dataframe(customers));
  const auto rows = app.run({.timeout = 20s, .count = 3, .metadata = true});
  ASSERT_EQ(rows.size(), 3u);
  std::map<std::pair<std::string, std::int64_t>, std::string> got;
  for (const auto& r : rows) {
    Value v = r;
    std::string key = v["_key"].as_string();
    std::int64_t ts = v["_timestamp"].as_int();
    EXPECT_EQ(v["_topic"].as_string(), "asof-orders") << "an output is a left record";
    for (const char* meta : {"_key", "_timestamp", "_topic", "_partition", "_offset", "_headers"}) {
      v.as_object().erase(meta);
    }
    got[{key, ts}] = v.to_json();
  }
  EXPECT_EQ(got[std::make_pair(std::string("c1"), std::int64_t{1500})],
            R"({"amount":10,"name":"Ann","tier":"gold"})");
  EXPECT_EQ(got[std::make_pair(std::string("c1"), std::int64_t{6000})],
            R"({"amount":20,"tier":"platinum","name":"Ann"})");
  EXPECT_EQ(got[std::make_pair(std::string("c2"), std::int64_t{3000})],
            R"({"amount":7,"name":"Bob","tier":"silver"})");
}

TEST(AsofJoin, SidesWithDifferentPartitionCountsAreAMismatch) {
  const auto left = StreamingDataFrame::standalone(
      Topic::make("asof-l", {.config = TopicConfig{.num_partitions = 2}}));
  const auto right = StreamingDataFrame::standalone(
      Topic::make("asof-r", {.config = TopicConfig{.num_partitions = 3}}));
  EXPECT_THROW((void)left.join_asof(right), TopicPartitionsMismatch);
  // Nothing was linked: the right frame can still be joined with a matching one.
  const auto same = StreamingDataFrame::standalone(
      Topic::make("asof-r2", {.config = TopicConfig{.num_partitions = 3}}));
  EXPECT_NO_THROW((void)same.join_asof(right));
}

TEST(AsofJoin, OptionsAreCheckedWhenTheJoinIsDeclared) {
  const Topic l = Topic::make("asof-opt-l", {});
  const Topic r = Topic::make("asof-opt-r", {});
  const auto left = StreamingDataFrame::standalone(l);
  const auto right = StreamingDataFrame::standalone(r);
  EXPECT_THROW((void)left.join_asof(right, {.how = JoinHow::right}), ConfigError);
  EXPECT_THROW((void)left.join_asof(right, {.how = JoinHow::outer}), ConfigError);
  EXPECT_THROW((void)left.join_asof(right, {.grace = -1ms}), ConfigError);
  EXPECT_THROW((void)left.join_asof(right, {.name = ""}), ConfigError);
  (void)left.join_asof(right);
  // The right stream's store "join" is taken: a second join needs another name.
  EXPECT_THROW((void)left.join_asof(right), ConfigError);
  EXPECT_NO_THROW((void)left.join_asof(right, {.name = "join2"}));
}

// ERR-01: what the merge throws fails the left record that was being joined; the next one
// goes on.
TEST(AsofJoin, AMergeFunctionErrorIsAProcessingErrorOfTheLeftRecord) {
  const Topic l = Topic::make("asof-err-l", {});
  const Topic r = Topic::make("asof-err-r", {});
  const auto left = StreamingDataFrame::standalone(l);
  const auto right = StreamingDataFrame::standalone(r);
  auto joined = left.join_asof(right, {.merge = [](const Value& a, const Value& b) -> Value {
                                 if (a["bad"].truthy()) throw ValueTypeError("bad left");
                                 Value out = a;
                                 out["right"] = b;
                                 return out;
                               }});
  TestDriver driver({joined}, {.partitions = 1});
  driver.pipe(r, Value::object({{"x", 1}}), Value("k"), 10);
  EXPECT_THROW(driver.pipe(l, Value::object({{"bad", true}}), Value("k"), 20), ValueTypeError);
  driver.pipe(l, Value::object({{"bad", false}}), Value("k"), 20);
  const auto rows = driver.take_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].value.to_json(), R"({"bad":false,"right":{"x":1}})");
}

}  // namespace
}  // namespace streamframe
