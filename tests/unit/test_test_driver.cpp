// TestDriver and StreamingDataFrame::standalone: whole pipelines, to_topic() included, run
// in-process from message bytes to produced bytes, one state per input partition.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "streamframe/streamframe.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> values_of(const std::vector<TestOutput>& outputs) {
  std::vector<std::string> v;
  for (const auto& o : outputs) v.push_back(o.value.value_or("<null>"));
  return v;
}

TEST(TestDriver, RunsTheReadmePipelineFromBytesToBytes) {
  const Topic in = Topic::make("celsius", {});
  const Topic out = Topic::make("alerts", {});
  auto root = StreamingDataFrame::standalone(in);
  auto sdf = root;
  sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
  sdf = sdf[sdf["temperature_F"] > 150];
  sdf.to_topic(out);

  TestDriver driver(root);
  driver.pipe(0, "s1", R"({"temperature":20})", 1000);
  driver.pipe(0, "s2", R"({"temperature":70})", 2000);
  driver.pipe(0, std::nullopt, R"({"temperature":100.5})", 3000);

  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].topic, "alerts");
  EXPECT_EQ(outputs[0].key, std::optional<std::string>("s2"));
  EXPECT_EQ(outputs[0].timestamp, 2000);
  EXPECT_EQ(outputs[1].key, std::nullopt);
  EXPECT_EQ(values_of(outputs),
            (std::vector<std::string>{R"({"temperature":70,"temperature_F":158.0})",
                                      R"({"temperature":100.5,"temperature_F":212.9})"}));
  EXPECT_EQ(driver.produced(), 2u);
  EXPECT_TRUE(driver.take_outputs().empty());  // taken
  EXPECT_EQ(driver.take_rows().size(), 2u);    // the to_topic leaf's rows, as sdf.test() has them

  TestDriver quiet(root, {.collect_rows = false});
  quiet.pipe(0, "s2", R"({"temperature":70})", 2000);
  EXPECT_EQ(quiet.take_outputs().size(), 1u);
  EXPECT_TRUE(quiet.take_rows().empty());
}

TEST(TestDriver, EachPartitionHasItsOwnStreamTimeAndState) {
  const Topic in = Topic::make("bids", {});
  const Topic out = Topic::make("counts", {});
  auto root = StreamingDataFrame::standalone(in);
  root.tumbling_window(10s)
      .count()
      .final({.closing_strategy = ClosingStrategy::partition})
      .to_topic(out);

  TestDriver driver(root, {.partitions = 2});
  driver.pipe(0, "a", "{}", 1000);
  driver.pipe(1, "b", "{}", 2000);
  // Partition 0 moves past the first window's end: only its own window closes.
  driver.pipe(0, "c", "{}", 10000);
  auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].key, std::optional<std::string>("a"));
  EXPECT_EQ(outputs[0].value, std::optional<std::string>(R"({"start":0,"end":10000,"value":1})"));
  EXPECT_EQ(outputs[0].timestamp, 0);  // a window result carries its start

  driver.pipe(1, "b", "{}", 25000);
  outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].key, std::optional<std::string>("b"));
}

TEST(TestDriver, StateContinuesAcrossCheckpoints) {
  const Topic in = Topic::make("words", {});
  const Topic out = Topic::make("counts", {});
  auto root = StreamingDataFrame::standalone(in);
  root.apply([](const Value& v, State& state) {
        const std::int64_t n = state.get(v["w"], Value(0)).as_int() + 1;
        state.set(v["w"], Value(n));
        return Value(n);
      })
      .to_topic(out);

  std::vector<std::string> seen;
  TestDriver driver(
      root, {.partitions = 1, .checkpoint_every = 2},
      [&](const std::string& topic, std::optional<std::string_view> key,
          std::optional<std::string_view> value, std::int64_t) {
        EXPECT_EQ(topic, "counts");
        seen.push_back(std::string(key.value_or("")) + "=" + std::string(value.value_or("")));
      });
  for (int i = 0; i < 5; ++i) driver.pipe(0, "k", R"({"w":"x"})", i);
  driver.checkpoint();
  driver.pipe(0, "k", R"({"w":"x"})", 9);
  driver.pipe(0, "other", R"({"w":"x"})", 10);  // state is scoped to the message key
  EXPECT_EQ(seen, (std::vector<std::string>{"k=1", "k=2", "k=3", "k=4", "k=5", "k=6", "other=1"}));
  EXPECT_TRUE(driver.take_outputs().empty());  // handed to the callback, not collected
  EXPECT_EQ(driver.produced(), 7u);
}

// reload_state rebuilds operators from their stores before every record: what they hold
// since the last checkpoint is written to the store first, not lost (it was, until operators
// were flushed before the reload).
TEST(TestDriver, ReloadingStateBetweenCheckpointsKeepsWhatTheOperatorsHeld) {
  const Topic in = Topic::make("reload-in", {});
  auto root = StreamingDataFrame::standalone(in);
  auto totals = root.aggregate({{"n", agg::count()}});
  auto windows = root.tumbling_window(10s).count().current();
  TestDriver driver({totals, windows},
                    {.partitions = 1, .checkpoint_every = 0, .reload_state = true});
  for (int i = 0; i < 3; ++i) driver.pipe(in, Value::object({{"x", i}}), Value("k"), 1000 + i);
  std::vector<std::string> got;
  for (const Row& r : driver.take_rows()) got.push_back(r.value.to_json());
  EXPECT_EQ(got, (std::vector<std::string>{R"({"n":1})", R"({"start":0,"end":10000,"value":1})",
                                           R"({"n":2})", R"({"start":0,"end":10000,"value":2})",
                                           R"({"n":3})", R"({"start":0,"end":10000,"value":3})"}));
}

TEST(TestDriver, APurePassThroughForwardsTheOriginalBytesAndStillRejectsBadInput) {
  const Topic in = Topic::make("in", {});
  const Topic out = Topic::make("out", {});
  auto root = StreamingDataFrame::standalone(in);
  root.to_topic(out);

  TestDriver driver(root);
  driver.pipe(0, "k", R"({"a":  1,  "b": [1, 2]})", 5);
  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].value, std::optional<std::string>(R"({"a":  1,  "b": [1, 2]})"));
  EXPECT_THROW(driver.pipe(0, "k", "{not json", 6), SerializationError);
  EXPECT_EQ(driver.produced(), 1u);
}

TEST(TestDriver, ErrorsReachTheCaller) {
  const Topic in = Topic::make("in", {});
  auto root = StreamingDataFrame::standalone(in);
  (void)root.apply([](const Value& v) {
    if (v["bad"].as_bool()) throw std::runtime_error("boom");
    return v;
  });

  TestDriver driver(root, {.partitions = 2});
  EXPECT_THROW(driver.pipe(2, "k", "{}", 0), InvalidOperation);
  EXPECT_THROW(driver.pipe(-1, "k", "{}", 0), InvalidOperation);
  EXPECT_THROW(driver.pipe(0, "k", "{\"bad\":", 0), SerializationError);
  EXPECT_THROW(driver.pipe(1, "k", R"({"bad":true})", 0), std::runtime_error);
  // A leaf without to_topic: rows come back as sdf.test() would return them.
  driver.pipe(1, "k", R"({"bad":false})", 7);
  const auto rows = driver.take_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].timestamp, 7);
  EXPECT_EQ(rows[0].key, Value("k"));
  EXPECT_EQ(driver.produced(), 0u);
}

// A key deserializer yielding one row per byte (TOP-11 allows N rows for values only).
class SplitKeyDeserializer final : public Deserializer {
 public:
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    for (char c : data) out.emplace_back(std::string(1, c));
  }
  std::string_view name() const override { return "split"; }
};

// A key must decode to exactly one value: more is a SerializationError naming the
// deserializer, and the rows of one key never leak into the next message's key.
TEST(TestDriver, AKeyThatDecodesToSeveralRowsIsASerializationError) {
  const std::shared_ptr<const Deserializer> split = std::make_shared<SplitKeyDeserializer>();
  const Topic in = Topic::make("in", {.key_deserializer = split});
  auto root = StreamingDataFrame::standalone(in);
  TestDriver driver(root, {});
  driver.pipe(0, "a", "1", 0);
  try {
    driver.pipe(0, "bc", "2", 0);
    ADD_FAILURE() << "a key of two rows was accepted";
  } catch (const SerializationError& e) {
    EXPECT_EQ(std::string(e.what()),
              "split deserializer: expected exactly one row for a key, got 2");
  }
  driver.pipe(0, "d", "3", 0);
  const auto rows = driver.take_rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].key, Value("a"));
  EXPECT_EQ(rows[1].key, Value("d"));
  EXPECT_EQ(rows[1].value, Value(3));
}

TEST(TestDriver, AnyFrameOfThePipelineRunsTheWholePipeline) {
  const Topic in = Topic::make("in", {});
  auto root = StreamingDataFrame::standalone(in);
  auto child = root.apply([](const Value& v) { return Value(v.as_int() + 1); });
  (void)root.apply([](const Value& v) { return Value(v.as_int() * 10); });
  TestDriver driver(child);
  driver.pipe(0, std::nullopt, "4", 0);
  const auto rows = driver.take_rows();
  ASSERT_EQ(rows.size(), 2u);  // both branches, in declaration order
  EXPECT_EQ(rows[0].value, Value(5));
  EXPECT_EQ(rows[1].value, Value(40));
  EXPECT_THROW({ TestDriver bad(root, {.partitions = -1}); }, InvalidOperation);
  // 0: the topic's own partition count (1 for a definition without a config).
  TestDriver own(root, {.partitions = 0});
  own.pipe(0, std::nullopt, "1", 0);
  EXPECT_THROW(own.pipe(1, std::nullopt, "1", 0), InvalidOperation);
}

TEST(StandaloneFrame, RunsSdfTestWithoutAnApplication) {
  auto root = StreamingDataFrame::standalone(Topic::make("in", {}));
  auto doubled = root.apply([](const Value& v) { return Value(v.as_int() * 2); });
  const auto rows = doubled.test(Value(21));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].value, Value(42));
}

}  // namespace
}  // namespace streamframe
