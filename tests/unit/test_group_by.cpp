// group_by (SDF-12, EXT-04) through the public API: re-keying through a repartition topic,
// run in-process by TestDriver (every hop before pipe() returns), and in place on a topic of
// one partition. The real-broker hop, under both guarantees, is tested in
// tests/integration/test_group_by.cpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamframe/streamframe.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

const Topic kIn = Topic::make("clicks", {.config = TopicConfig{.num_partitions = 3}});
const Topic kOut = Topic::make("per-user", {});
const Topic kSingle = Topic::make("one-partition", {});  // TopicConfig's default: 1 partition

std::map<std::string, std::string> last_by_key(const std::vector<TestOutput>& outputs) {
  std::map<std::string, std::string> m;
  for (const auto& o : outputs) m[o.key.value_or("<null>")] = o.value.value_or("<null>");
  return m;
}

TEST(GroupBy, ReKeysByAColumnSoStateIsPerNewKey) {
  auto root = StreamingDataFrame::standalone(kIn);
  root.group_by("user").aggregate({{"clicks", agg::count()}}).to_topic(kOut);

  // Records of one user arrive under different device keys and on different partitions.
  TestDriver driver(root, {.partitions = 3});
  driver.pipe(0, "dev-1", R"({"user":"ann"})", 1000);
  driver.pipe(1, "dev-2", R"({"user":"ann"})", 1001);
  driver.pipe(2, "dev-3", R"({"user":"bob"})", 1002);
  driver.pipe(2, "dev-1", R"({"user":"ann"})", 1003);
  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 4u);
  // The new key is the column's value (the output topic's bytes serializer writes a string
  // as its bytes).
  EXPECT_EQ(outputs[3].key, std::optional<std::string>("ann"));
  EXPECT_EQ(outputs[3].value, std::optional<std::string>(R"({"clicks":3})"));
  EXPECT_EQ(outputs[3].timestamp, 1003);
  EXPECT_EQ(last_by_key(outputs), (std::map<std::string, std::string>{{"ann", R"({"clicks":3})"},
                                                                      {"bob", R"({"clicks":1})"}}));
  EXPECT_EQ(driver.produced(), 4u);  // the repartition records are not outputs
}

// A group_by right after the input sends the message's own value bytes to the repartition
// topic (a row nothing changed need not be serialized again), and a to_topic right after the
// hop forwards them unchanged too (only the key is re-encoded, from the hop's JSON to the
// output's `bytes`): the output holds the input's bytes, spacing and all. A group_by after
// anything else serializes the row it gets.
TEST(GroupBy, AnUnchangedRowGoesThroughTheHopAsItsOriginalBytes) {
  const std::string original = R"({ "user" : "ann",  "n": 1.50 })";
  {
    auto root = StreamingDataFrame::standalone(kIn);
    root.group_by("user").to_topic(kOut);
    TestDriver driver(root, {.partitions = 3});
    driver.pipe(0, "dev-1", original, 1000);
    const auto out = driver.take_outputs();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].value, original);
    // The hop's JSON key, written by the output's `bytes` key serializer.
    EXPECT_EQ(out[0].key, std::optional<std::string>("ann"));
  }
  {
    auto root = StreamingDataFrame::standalone(kIn);
    root[root["n"] > 0].group_by("user").to_topic(kOut);
    TestDriver driver(root, {.partitions = 3});
    driver.pipe(0, "dev-1", original, 1000);
    const auto out = driver.take_outputs();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].value, std::optional<std::string>(R"({"user":"ann","n":1.5})"));
  }
}

// The hop's JSON key goes to the output's key format: a plain string straight from its bytes,
// one with escapes through a parse, and a key the output's serializer cannot write (a number
// to `str`) reaches the error path as a to_topic's serialization error would, not a record.
TEST(GroupBy, TheHopsKeyIsWrittenInTheOutputsKeyFormat) {
  const Topic out = Topic::make("per-user-str", {.key_serializer = "str"});
  auto root = StreamingDataFrame::standalone(kIn);
  root.group_by("user").to_topic(out);
  TestDriver driver(root, {.partitions = 3});
  driver.pipe(0, "dev-1", R"({"user":"ann"})", 1000);
  driver.pipe(1, "dev-2", R"({"user":"say \"hi\""})", 1001);
  driver.pipe(2, "dev-3", R"({"user":"jos\u00e9"})", 1002);
  driver.pipe(0, "dev-4", "{\"user\":\"caf\xc3\xa9\"}", 1003);
  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 4u);
  std::vector<std::string> keys;
  for (const auto& o : outputs) keys.push_back(o.key.value_or("<null>"));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"ann", "caf\xc3\xa9", "jos\xc3\xa9", "say \"hi\""}));
  EXPECT_THROW(driver.pipe(1, "dev-5", R"({"user":7})", 1004), SerializationError);
}

// JSON with a count of how each value was decoded: whole, or only the column asked for.
class CountingJson final : public Deserializer {
 public:
  void deserialize(std::string_view data, const Headers& headers,
                   std::vector<Value>& out) const override {
    ++whole;
    json_->deserialize(data, headers, out);
  }
  bool deserialize_column(std::string_view data, const Headers& headers, std::string_view column,
                          std::vector<Value>& out) const override {
    ++columns;
    last_column = std::string(column);
    return json_->deserialize_column(data, headers, column, out);
  }
  bool round_trips_with(const Serializer& serializer) const override {
    return serializer.name() == "json";
  }
  bool reads_headers() const override { return false; }
  std::string_view name() const override { return "counting-json"; }

  mutable int whole = 0;
  mutable int columns = 0;
  mutable std::string last_column;

 private:
  std::shared_ptr<const Deserializer> json_ = make_deserializer("json");
};

// A group_by by a column right after the input reads nothing of the value but that column
// (the message's own bytes go to the repartition topic), so only the column is decoded. Any
// other use of the value decodes it whole.
TEST(GroupBy, RightAfterTheInputOnlyTheColumnIsDecoded) {
  const std::string original = R"({"page":"shop/a","user":"ann","n":1})";
  const auto run = [&](const std::function<void(StreamingDataFrame&)>& declare) {
    auto counting = std::make_shared<CountingJson>();
    const Topic in =
        Topic::make("clicks", {.value_deserializer = std::shared_ptr<const Deserializer>(counting),
                               .config = TopicConfig{.num_partitions = 3}});
    auto root = StreamingDataFrame::standalone(in);
    declare(root);
    TestDriver driver(root, {.partitions = 3});
    driver.pipe(0, "dev-1", original, 1000);
    driver.pipe(1, "dev-2", R"({"user":"bob"})", 1001);
    return std::make_pair(counting, driver.take_outputs());
  };

  auto [by_column, outputs] = run([](StreamingDataFrame& root) {
    root.group_by("user").aggregate({{"n", agg::count()}}).to_topic(kOut);
  });
  EXPECT_EQ(by_column->columns, 2);
  EXPECT_EQ(by_column->whole, 0);
  EXPECT_EQ(by_column->last_column, "user");
  EXPECT_EQ(last_by_key(outputs),
            (std::map<std::string, std::string>{{"ann", R"({"n":1})"}, {"bob", R"({"n":1})"}}));
  // Downstream of the hop the record is whole: its own bytes went through.
  auto [forwarded, forwarded_out] =
      run([](StreamingDataFrame& root) { root.group_by("user").to_topic(kOut); });
  EXPECT_EQ(forwarded->whole, 0);
  ASSERT_EQ(forwarded_out.size(), 2u);
  EXPECT_EQ(forwarded_out[0].value, original);

  const std::vector<std::function<void(StreamingDataFrame&)>> whole_value{
      // A callable may read anything.
      [](StreamingDataFrame& root) {
        root.group_by([](const Value& v) { return v["user"]; }, "u").to_topic(kOut);
      },
      // The group_by gets the row after a filter read it.
      [](StreamingDataFrame& root) {
        root[root["user"] != "nobody"].group_by("user").to_topic(kOut);
      },
      // Another branch of the input reads the value too.
      [](StreamingDataFrame& root) {
        root.group_by("user").to_topic(kOut);
        root.to_topic(Topic::make("copy", {}));
      },
  };
  for (std::size_t i = 0; i < whole_value.size(); ++i) {
    auto [counting, unused] = run(whole_value[i]);
    EXPECT_EQ(counting->columns, 0) << i;
    EXPECT_EQ(counting->whole, 2) << i;
  }
}

TEST(GroupBy, ByACallableWithANameAndThenAWindow) {
  auto root = StreamingDataFrame::standalone(kIn);
  root.group_by([](const Value& v) { return Value(v["page"].as_string().substr(0, 4)); }, "site")
      .tumbling_window(10s)
      .count()
      .final()
      .to_topic(kOut);
  TestDriver driver(root, {.partitions = 2});
  driver.pipe(0, "u1", R"({"page":"shop/a"})", 1000);
  driver.pipe(1, "u2", R"({"page":"shop/b"})", 2000);
  driver.pipe(0, "u3", R"({"page":"blog/x"})", 3000);
  EXPECT_TRUE(driver.take_outputs().empty());
  // Stream time is per partition of the repartition topic: move both keys' partitions on.
  driver.pipe(0, "u1", R"({"page":"shop/c"})", 20000);
  driver.pipe(0, "u3", R"({"page":"blog/y"})", 20000);
  const auto outputs = last_by_key(driver.take_outputs());
  EXPECT_EQ(outputs,
            (std::map<std::string, std::string>{{"shop", R"({"start":0,"end":10000,"value":2})"},
                                                {"blog", R"({"start":0,"end":10000,"value":1})"}}));
}

TEST(GroupBy, AfterGroupByEachHopHasItsOwnTopic) {
  auto root = StreamingDataFrame::standalone(kIn);
  auto by_user = root.group_by("user");
  by_user.aggregate({{"n", agg::count()}}).to_topic(kOut);
  // EXT-04: group_by of a group_by result, one more hop.
  by_user.group_by("country")
      .aggregate({{"n", agg::count()}}, {.name = "country"})
      .to_topic(Topic::make("per-country", {}));
  TestDriver driver(root, {.partitions = 2});
  driver.pipe(0, "d1", R"({"user":"ann","country":"fr"})", 1);
  driver.pipe(1, "d2", R"({"user":"bob","country":"fr"})", 2);
  driver.pipe(1, "d3", R"({"user":"ann","country":"de"})", 3);
  std::map<std::string, std::string> users;
  std::map<std::string, std::string> countries;
  for (const auto& o : driver.take_outputs()) {
    (o.topic == "per-user" ? users : countries)[*o.key] = *o.value;
  }
  EXPECT_EQ(users,
            (std::map<std::string, std::string>{{"ann", R"({"n":2})"}, {"bob", R"({"n":1})"}}));
  EXPECT_EQ(countries,
            (std::map<std::string, std::string>{{"fr", R"({"n":2})"}, {"de", R"({"n":1})"}}));
}

TEST(GroupBy, BadKeysAreProcessingErrorsAndBadDeclarationsConfigErrors) {
  auto root = StreamingDataFrame::standalone(kIn);
  auto grouped = root.group_by("user");
  grouped.to_topic(kOut);
  TestDriver driver(root);
  EXPECT_THROW(driver.pipe(0, "k", R"({"name":"ann"})", 1), ColumnDoesNotExist);
  EXPECT_THROW(driver.pipe(0, "k", R"([1])", 1), InvalidColumnReference);
  driver.pipe(0, "k", R"({"user":"ann","x":1})", 5);
  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].key, std::optional<std::string>("ann"));
  EXPECT_EQ(outputs[0].value, std::optional<std::string>(R"({"user":"ann","x":1})"));

  auto sdf = StreamingDataFrame::standalone(kIn);
  EXPECT_THROW((void)sdf.group_by(""), ConfigError);
  EXPECT_THROW((void)sdf.group_by([](const Value& v) { return v; }, ""), ConfigError);
  (void)sdf.group_by("user");
  EXPECT_THROW((void)sdf.group_by("user"), GroupByDuplicate);
  EXPECT_THROW((void)sdf.group_by([](const Value& v) { return v["user"]; }, "user"),
               GroupByDuplicate);
  // sdf.test() runs no Kafka hop.
  EXPECT_THROW((void)sdf.test(Value::object({{"user", "ann"}})), InvalidOperation);
}

TEST(GroupBy, AThrowingKeyCallableLeavesNothingBehind) {
  auto root = StreamingDataFrame::standalone(kIn);
  root.group_by(
          [](const Value& v) -> Value {
            if (!v.contains("user")) throw std::runtime_error("no user");
            return v["user"];
          },
          "user")
      .aggregate({{"n", agg::count()}})
      .to_topic(kOut);
  TestDriver driver(root);
  EXPECT_THROW(driver.pipe(0, "k", R"({})", 1), std::runtime_error);
  driver.pipe(0, "k", R"({"user":"ann"})", 2);
  EXPECT_EQ(last_by_key(driver.take_outputs()),
            (std::map<std::string, std::string>{{"ann", R"({"n":1})"}}));
}

// One partition: every key already meets in the one task, so group_by re-keys in place, with
// no repartition topic and nothing produced for the hop; what follows is per new key.
TEST(GroupByInPlace, OnePartitionReKeysWithoutARepartitionTopic) {
  auto root = StreamingDataFrame::standalone(kSingle);
  root.group_by("user").aggregate({{"clicks", agg::count()}}).to_topic(kOut);
  TestDriver driver(root);
  driver.pipe(0, "dev-1", R"({"user":"ann"})", 1000);
  driver.pipe(0, "dev-2", R"({"user":"ann"})", 1001);
  driver.pipe(0, "dev-1", R"({"user":"bob"})", 1002);
  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 3u);
  EXPECT_EQ(outputs[1].key, std::optional<std::string>("ann"));
  EXPECT_EQ(outputs[1].value, std::optional<std::string>(R"({"clicks":2})"));
  EXPECT_EQ(outputs[1].timestamp, 1001);
  EXPECT_EQ(outputs[2].key, std::optional<std::string>("bob"));
  EXPECT_EQ(outputs[2].value, std::optional<std::string>(R"({"clicks":1})"));
  for (const auto& o : outputs) EXPECT_EQ(o.topic, "per-user");  // no hop record anywhere
  EXPECT_EQ(driver.produced(), 3u);

  // Nothing goes through Kafka, so sdf.test() runs it too (a callable key as well).
  auto sdf = StreamingDataFrame::standalone(kSingle);
  auto by_site = sdf.group_by([](const Value& v) { return v["page"]; }, "site");
  const auto rows = by_site.test(Value::object({{"page", "shop"}}), Value("u1"), 5);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].key, Value("shop"));
  EXPECT_EQ(rows[0].timestamp, 5);
}

// The stores after an in-place group_by belong to a stream of their own
// (`<stream_id>--groupby--<operation>`): the same store name before and after it holds two
// separate states, one per old key and one per new key.
TEST(GroupByInPlace, StoresBeforeAndAfterTheReKeyAreSeparate) {
  const auto counter = [](const Value& v, State& state) {
    const std::int64_t n = state.get("n", Value(0)).as_int() + 1;
    state.set("n", Value(n));
    Value out = v;
    out.as_object().set(out.contains("by_device") ? "by_user" : "by_device", Value(n));
    return out;
  };
  auto root = StreamingDataFrame::standalone(kSingle);
  root.apply(counter).group_by("user").apply(counter).to_topic(kOut);
  TestDriver driver(root);
  driver.pipe(0, "dev-1", R"({"user":"ann"})", 1);
  driver.pipe(0, "dev-2", R"({"user":"ann"})", 2);
  driver.pipe(0, "dev-1", R"({"user":"bob"})", 3);
  driver.checkpoint();
  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 3u);
  EXPECT_EQ(outputs[0].value,
            std::optional<std::string>(R"({"user":"ann","by_device":1,"by_user":1})"));
  EXPECT_EQ(outputs[1].value,
            std::optional<std::string>(R"({"user":"ann","by_device":1,"by_user":2})"));
  EXPECT_EQ(outputs[2].value,
            std::optional<std::string>(R"({"user":"bob","by_device":2,"by_user":1})"));
}

// The in-place decision is made at the declaration from the topic's partition count: a driver
// running that topic with more partitions would spread one new key over several tasks, so it
// refuses. The same operation twice on one stream is still GroupByDuplicate; on the re-keyed
// stream it is another stream.
TEST(GroupByInPlace, ADriverWithMorePartitionsIsRefusedAndDuplicatesAreCaught) {
  auto root = StreamingDataFrame::standalone(kSingle);
  auto by_user = root.group_by("user");
  by_user.to_topic(kOut);
  try {
    TestDriver driver(root, {.partitions = 2});
    FAIL() << "a one-partition group_by run on 2 partitions must be refused";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'one-partition'"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)root.group_by("user"), GroupByDuplicate);
  (void)by_user.group_by("user");  // a group_by of the re-keyed stream
}

}  // namespace
}  // namespace streamframe
