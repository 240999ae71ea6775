// Global aggregation (EXT-05), through the public API: sdf.aggregate({...}) run by TestDriver
// from message bytes to produced bytes. The changelog and its restore are tested against the
// real broker (StateRecovery.AggregateIsRestoredFromItsChangelog).

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "streamframe/streamframe.hpp"

namespace streamframe {
namespace {

std::vector<std::string> values_of(const std::vector<TestOutput>& outputs) {
  std::vector<std::string> v;
  for (const auto& o : outputs) v.push_back(o.value.value_or("<null>"));
  return v;
}

const Topic kIn = Topic::make("orders", {});
const Topic kOut = Topic::make("totals", {});

TEST(Aggregate, EmitsEachKeysRunningResultsInDeclarationOrderWithKeyAndTimestamp) {
  auto root = StreamingDataFrame::standalone(kIn);
  root.aggregate({{"total", agg::sum("price")},
                  {"n", agg::count()},
                  {"avg", agg::mean("price")},
                  {"low", agg::min("price")},
                  {"high", agg::max("price")},
                  {"first", agg::first("item")},
                  {"last", agg::last("item")}})
      .to_topic(kOut);

  TestDriver driver(root);
  driver.pipe(0, "alice", R"({"price":10,"item":"a"})", 1000, {{"h", "1"}});
  driver.pipe(0, "bob", R"({"price":3,"item":"b"})", 1500);
  driver.pipe(0, "alice", R"({"price":4,"item":"c"})", 2000);
  driver.pipe(0, "alice", R"({"price":null,"item":"d"})", 2500);  // a null price counts, no sum

  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 4u);
  EXPECT_EQ(values_of(outputs),
            (std::vector<std::string>{
                R"({"total":10,"n":1,"avg":10.0,"low":10,"high":10,"first":"a","last":"a"})",
                R"({"total":3,"n":1,"avg":3.0,"low":3,"high":3,"first":"b","last":"b"})",
                R"({"total":14,"n":2,"avg":7.0,"low":4,"high":10,"first":"a","last":"c"})",
                R"({"total":14,"n":3,"avg":7.0,"low":4,"high":10,"first":"a","last":"d"})"}));
  EXPECT_EQ(outputs[0].key, std::optional<std::string>("alice"));
  EXPECT_EQ(outputs[1].key, std::optional<std::string>("bob"));
  EXPECT_EQ(outputs[2].timestamp, 2000);
  EXPECT_TRUE(outputs[0].headers.empty());  // EXT-05: no headers
}

TEST(Aggregate, ANullValueDeletesTheKeysAggregateAndEmitsNull) {
  auto root = StreamingDataFrame::standalone(kIn);
  root.aggregate({{"total", agg::sum("price")}}).to_topic(kOut);

  TestDriver driver(root);
  driver.pipe(0, "alice", R"({"price":10})", 1000);
  driver.pipe(0, "bob", R"({"price":1})", 1000);
  driver.pipe(0, "alice", std::nullopt, 2000);  // a tombstone
  driver.pipe(0, "alice", R"({"price":5})", 3000);
  driver.pipe(0, "bob", R"({"price":1})", 3000);
  const auto outputs = driver.take_outputs();
  EXPECT_EQ(values_of(outputs),
            (std::vector<std::string>{R"({"total":10})", R"({"total":1})", "<null>",
                                      R"({"total":5})", R"({"total":2})"}));
  // The null result is a tombstone for its key, as a KTable's delete is.
  EXPECT_EQ(outputs[2].key, std::optional<std::string>("alice"));
  EXPECT_EQ(outputs[2].value, std::nullopt);
}

TEST(Aggregate, ARecordWithANullKeyIsSkipped) {
  auto root = StreamingDataFrame::standalone(kIn);
  root.aggregate({{"n", agg::count()}}).to_topic(kOut);
  TestDriver driver(root);
  driver.pipe(0, std::nullopt, R"({"price":1})", 1000);
  driver.pipe(0, "a", R"({"price":1})", 1000);
  EXPECT_EQ(values_of(driver.take_outputs()), (std::vector<std::string>{R"({"n":1})"}));
}

TEST(Aggregate, EachPartitionKeepsItsOwnAggregates) {
  auto root = StreamingDataFrame::standalone(kIn);
  root.aggregate({{"n", agg::count()}}).to_topic(kOut);
  TestDriver driver(root, {.partitions = 2});
  driver.pipe(0, "a", "{}", 1000);
  driver.pipe(1, "a", "{}", 1000);
  driver.pipe(0, "a", "{}", 1000);
  EXPECT_EQ(values_of(driver.take_outputs()),
            (std::vector<std::string>{R"({"n":1})", R"({"n":1})", R"({"n":2})"}));
}

TEST(Aggregate, AFailingRecordLeavesTheAggregateAsItWas) {
  auto root = StreamingDataFrame::standalone(kIn);
  root.aggregate({{"n", agg::count()}, {"total", agg::sum("price")}}).to_topic(kOut);
  TestDriver driver(root);
  driver.pipe(0, "a", R"({"price":1})", 1000);
  // count() succeeds, sum() cannot add a string to a number: neither column is stored.
  EXPECT_THROW(driver.pipe(0, "a", R"({"price":"x"})", 1000), ValueTypeError);
  EXPECT_THROW(driver.pipe(0, "a", R"([1, 2])", 1000), ValueTypeError);  // no column to read
  driver.pipe(0, "a", R"({"price":2})", 1000);
  EXPECT_EQ(values_of(driver.take_outputs()),
            (std::vector<std::string>{R"({"n":1,"total":1})", R"({"n":2,"total":3})"}));
}

TEST(Aggregate, ReduceAndCustomAggregatorsKeepTheirAccumulatorAcrossCheckpoints) {
  struct Product final : Aggregator {
    Product() : Aggregator("x") {}
    std::string state_suffix() const override { return "product"; }
    Value initialize() const override { return Value(1); }
    Value agg(const Value& acc, const Value& input, std::int64_t) const override {
      return Value(acc.as_int() * input.as_int());
    }
    Value result(const Value& acc) const override { return acc; }
  };
  auto root = StreamingDataFrame::standalone(kIn);
  root.aggregate({{"joined", agg::reduce(
                                 [](const Value& acc, const Value& v) {
                                   return Value(acc.as_string() + "," + v["x"].to_json());
                                 },
                                 [](const Value& v) { return Value(v["x"].to_json()); })},
                  {"product", agg::custom(std::make_shared<Product>())}})
      .to_topic(kOut);
  // Every record also goes through a checkpoint and the stored form.
  TestDriver driver(root, {.checkpoint_every = 1, .reload_state = true});
  driver.pipe(0, "k", R"({"x":2})", 1000);
  driver.pipe(0, "k", R"({"x":3})", 2000);
  driver.pipe(0, "k", R"({"x":4})", 3000);
  EXPECT_EQ(
      values_of(driver.take_outputs()),
      (std::vector<std::string>{R"({"joined":"2","product":2})", R"({"joined":"2,3","product":6})",
                                R"({"joined":"2,3,4","product":24})"}));
}

TEST(Aggregate, NamedAggregatesOfOneStreamAreIndependent) {
  auto root = StreamingDataFrame::standalone(kIn);
  root.aggregate({{"n", agg::count()}}, {.name = "all"}).to_topic(kOut);
  auto big = root[root["price"] > 5];
  big.aggregate({{"n", agg::count()}}, {.name = "big"}).to_topic(Topic::make("big", {}));
  TestDriver driver(root);
  driver.pipe(0, "a", R"({"price":1})", 1000);
  driver.pipe(0, "a", R"({"price":9})", 1000);
  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 3u);
  EXPECT_EQ(outputs[0].topic, "totals");
  EXPECT_EQ(outputs[0].value, std::optional<std::string>(R"({"n":1})"));
  EXPECT_EQ(outputs[1].value, std::optional<std::string>(R"({"n":2})"));
  EXPECT_EQ(outputs[2].topic, "big");
  EXPECT_EQ(outputs[2].value, std::optional<std::string>(R"({"n":1})"));
}

TEST(Aggregate, BadDeclarationsAreConfigErrors) {
  auto sdf = StreamingDataFrame::standalone(kIn);
  EXPECT_THROW((void)sdf.aggregate({}), ConfigError);
  EXPECT_THROW((void)sdf.aggregate({{"", agg::count()}}), ConfigError);
  EXPECT_THROW((void)sdf.aggregate({{"n", agg::count()}, {"n", agg::sum()}}), ConfigError);
  try {
    (void)sdf.aggregate({{"all", agg::collect()}});
    ADD_FAILURE() << "a collector was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'all' is a collector"), std::string::npos) << e.what();
  }
  (void)sdf.aggregate({{"n", agg::count()}});
  // A second unnamed aggregate would share the first one's store.
  EXPECT_THROW((void)sdf.aggregate({{"m", agg::count()}}), ConfigError);
  (void)sdf.aggregate({{"m", agg::count()}}, {.name = "other"});
}

}  // namespace
}  // namespace streamframe
