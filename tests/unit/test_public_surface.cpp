// Public API that had no test of its own, where no broker is needed to prove the point: print
// (SDF-08), producer_poll_timeout validation (§1), IgnoreMessage (TOP-10), serializer extra_headers
// (TOP-13) and to_topic with a topic-choosing callable and key= (SDF-09). IgnoreMessage,
// extra_headers and to_topic run through the TestDriver. The Kafka side of the same features is in
// tests/integration/test_app_surface.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "dataframe/access.hpp"
#include "dataframe/graph.hpp"
#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

// Runs `fn` with stdout captured and returns what it printed.
template <class Fn>
std::string captured_stdout(Fn&& fn) {
  ::testing::internal::CaptureStdout();
  fn();
  return ::testing::internal::GetCapturedStdout();
}

// ---------------------------------------------------------------------------------------------
// print (SDF-08)

TEST(Print, PrettyByDefaultCompactOnRequestAndTheRecordGoesOn) {
  auto root = StreamingDataFrame::standalone(Topic::make("print-in", {}));
  auto& printed = root.print();
  EXPECT_EQ(&printed, &root) << "print() works in place and returns its own frame";
  const Value value = Value::object({{"a", 1}, {"b", Value::array({"x", 2.5})}});
  std::vector<Row> rows;
  const std::string pretty = captured_stdout([&] { rows = root.test(value); });
  EXPECT_EQ(pretty,
            "{\n"
            "  \"a\": 1,\n"
            "  \"b\": [\n"
            "    \"x\",\n"
            "    2.5\n"
            "  ]\n"
            "}\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].value, value);  // forwarded unchanged

  auto compact = StreamingDataFrame::standalone(Topic::make("print-in", {}));
  compact.print({.pretty = false});
  EXPECT_EQ(captured_stdout([&] { (void)compact.test(value); }), "{\"a\":1,\"b\":[\"x\",2.5]}\n");
  // One line per record, in processing order; non-object values print as they are.
  EXPECT_EQ(captured_stdout([&] {
              (void)compact.test(Value(7));
              (void)compact.test(Value("text"));
              (void)compact.test(Value());
            }),
            "7\n\"text\"\nnull\n");
}

TEST(Print, MetadataShowsKeyTimestampAndHeaders) {
  auto root = StreamingDataFrame::standalone(Topic::make("print-in", {}));
  root.print({.pretty = false, .metadata = true});
  const std::string line = captured_stdout([&] {
    (void)root.test(Value::object({{"t", 21.5}}), Value("sensor-1"), 1700000000123,
                    {{"trace", "abc"}, {"dup", "1"}, {"dup", "2"}});
  });
  EXPECT_EQ(line,
            "{\"value\":{\"t\":21.5},\"key\":\"sensor-1\",\"timestamp\":1700000000123,"
            "\"headers\":[[\"trace\",\"abc\"],[\"dup\",\"1\"],[\"dup\",\"2\"]]}\n");
  // A null key and no headers.
  EXPECT_EQ(captured_stdout([&] { (void)root.test(Value(1), Value(), 5); }),
            "{\"value\":1,\"key\":null,\"timestamp\":5,\"headers\":[]}\n");

  auto pretty = StreamingDataFrame::standalone(Topic::make("print-in", {}));
  pretty.print({.metadata = true});
  EXPECT_EQ(captured_stdout([&] {
              (void)pretty.test(Value(1), Value("k"), 9, {{"h", "v"}});
            }),
            "{\n"
            "  \"value\": 1,\n"
            "  \"key\": \"k\",\n"
            "  \"timestamp\": 9,\n"
            "  \"headers\": [\n"
            "    [\n"
            "      \"h\",\n"
            "      \"v\"\n"
            "    ]\n"
            "  ]\n"
            "}\n");
}

TEST(Print, PrintsWhatReachesItInTheRunLoop) {
  Application app(test::embedded_config("print-run"));
  const Topic in = app.topic("print-run-in");
  auto sdf = app.dataframe(in);
  sdf = sdf[sdf["keep"]];
  sdf.print({.pretty = false, .metadata = true});
  {
    Producer producer = app.get_producer();
    producer.produce("print-run-in", "k1", R"({"keep":true,"n":1})", 1000, {{"h", "1"}});
    producer.produce("print-run-in", "k2", R"({"keep":false,"n":2})", 2000);
    producer.produce("print-run-in", std::nullopt, R"({"keep":true,"n":3})", 3000);
    ASSERT_TRUE(producer.flush(10s));
  }
  std::vector<Value> outputs;
  const std::string printed =
      captured_stdout([&] { outputs = app.run({.timeout = 30s, .count = 2}); });
  EXPECT_EQ(outputs.size(), 2u);
  EXPECT_EQ(printed,
            "{\"value\":{\"keep\":true,\"n\":1},\"key\":\"k1\",\"timestamp\":1000,"
            "\"headers\":[[\"h\",\"1\"]]}\n"
            "{\"value\":{\"keep\":true,\"n\":3},\"key\":null,\"timestamp\":3000,"
            "\"headers\":[]}\n");
}

// ---------------------------------------------------------------------------------------------
// producer_poll_timeout (§1, APP-11..16): validated at construction.

TEST(ProducerPollTimeout, DefaultsToZeroAndNegativeIsAConfigError) {
  EXPECT_EQ(ApplicationConfig{}.producer_poll_timeout, 0ms);
  auto cfg = test::embedded_config("ppt");
  cfg.producer_poll_timeout = -1ms;
  try {
    Application app(cfg);
    FAIL() << "a negative producer_poll_timeout was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("producer_poll_timeout"), std::string::npos) << e.what();
  }
  cfg.producer_poll_timeout = 250ms;
  Application app(cfg);
  EXPECT_EQ(app.config().producer_poll_timeout, 250ms);
}

// ---------------------------------------------------------------------------------------------
// IgnoreMessage (TOP-10) through the TestDriver: dropped, later messages go on, on both the
// decoding path and the forwarding path.

// JSON, except that a value "ignore-me" (valid JSON: a string) is dropped (TOP-10). Claims to
// round-trip with any serializer, so a plain to_topic() pipeline takes the forwarding path.
class IgnoringJson final : public Deserializer {
 public:
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    if (data == "\"ignore-me\"") throw IgnoreMessage();
    out.push_back(json::parse(data));
  }
  std::string_view name() const override { return "ignoring-json"; }
  bool round_trips_with(const Serializer&) const override { return true; }
};

TopicOptions ignoring_input() {
  TopicOptions o;
  o.value_deserializer = std::shared_ptr<const Deserializer>(std::make_shared<IgnoringJson>());
  return o;
}

TEST(IgnoreMessageInTestDriver, DropsTheMessageAndGoesOn) {
  const Topic in = Topic::make("ign-in", ignoring_input());
  const Topic out = Topic::make("ign-out", {});
  auto root = StreamingDataFrame::standalone(in);
  root.apply([](const Value& v) {
        return Value::object({{"v", v}, {"offset", StreamingDataFrame::message_context().offset}});
      })
      .to_topic(out);
  TestDriver driver(root);
  driver.pipe(0, "k", "1", 10);
  driver.pipe(0, "k", "\"ignore-me\"", 20);
  driver.pipe(0, "k", "3", 30);
  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].value, R"({"v":1,"offset":0})");
  // The ignored message used offset 1, as it does on Kafka.
  EXPECT_EQ(outputs[1].value, R"({"v":3,"offset":2})");
}

TEST(IgnoreMessageInTestDriver, DropsTheMessageOnTheForwardingPath) {
  const Topic in = Topic::make("ign-in", ignoring_input());
  const Topic out = Topic::make("ign-out", {});
  auto root = StreamingDataFrame::standalone(in);
  root.to_topic(out);
  ASSERT_EQ(detail::Access::graph(root)->passthrough_targets().size(), 1u)
      << "not the forwarding path";
  TestDriver driver(root);
  driver.pipe(0, "k", "1", 10);
  driver.pipe(0, "k", "\"ignore-me\"", 20);
  driver.pipe(0, "k", "3", 30);
  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].value, "1");
  EXPECT_EQ(outputs[1].value, "3");
}

// ---------------------------------------------------------------------------------------------
// extra_headers (TOP-13) through the TestDriver: appended after the record's own headers, also
// for a pipeline that only forwards (which then does not take the forwarding path).

// JSON with two extra headers on every produced message (TOP-13).
class TaggingJson final : public Serializer {
 public:
  void serialize(const Value& value, std::string& out) const override {
    out.clear();
    json::write(value, out);
  }
  Headers extra_headers() const override {
    return {{"content-type", "application/json"}, {"trace", "from-serializer"}};
  }
  std::string_view name() const override { return "tagging-json"; }
};

TopicOptions tagging_output() {
  TopicOptions o;
  o.value_serializer = std::shared_ptr<const Serializer>(std::make_shared<TaggingJson>());
  return o;
}

TEST(ExtraHeadersInTestDriver, AppendedAfterTheRecordsHeaders) {
  const Topic in = Topic::make("xh-in", ignoring_input());
  const Topic out = Topic::make("xh-out", tagging_output());
  auto root = StreamingDataFrame::standalone(in);
  root.to_topic(out);
  EXPECT_TRUE(detail::Access::graph(root)->passthrough_targets().empty())
      << "a serializer with extra headers must not be bypassed";
  TestDriver driver(root);
  driver.pipe(0, "k", R"({"a":  1})", 10, {{"trace", "from-input"}, {"x", "1"}});
  driver.pipe(0, "k", R"({"a":2})", 20);
  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].value, R"({"a":1})");  // serialized again, not the original bytes
  EXPECT_EQ(outputs[0].headers, (Headers{{"trace", "from-input"},
                                         {"x", "1"},
                                         {"content-type", "application/json"},
                                         {"trace", "from-serializer"}}));
  EXPECT_EQ(outputs[1].headers,
            (Headers{{"content-type", "application/json"}, {"trace", "from-serializer"}}));
}

// ---------------------------------------------------------------------------------------------
// to_topic (SDF-09) through the TestDriver: a callable choosing the topic, and key=.

TEST(ToTopicInTestDriver, CallableChoosesTheTopicAndKeyChangesOnlyTheKey) {
  const Topic in = Topic::make("tt-in", {});
  const Topic hot = Topic::make("tt-hot", {});
  const Topic cold = Topic::make("tt-cold", {});
  TopicOptions string_keys;
  string_keys.key_serializer = "string";
  const Topic rekeyed = Topic::make("tt-rekeyed", string_keys);
  auto root = StreamingDataFrame::standalone(in);
  root.to_topic([&](const Value& v, const Value&, std::int64_t, const Headers&) {
    return v["t"].as_double() > 30 ? hot : cold;
  });
  root.to_topic(rekeyed, [](const Value& v) { return v["sensor"]; });

  TestDriver driver(root);
  driver.pipe(0, "k1", R"({"sensor":"s-1","t":35.5})", 100, {{"h", "1"}});
  driver.pipe(0, "k2", R"({"sensor":"s-2","t":20})", 200);
  const auto outputs = driver.take_outputs();
  ASSERT_EQ(outputs.size(), 4u);
  EXPECT_EQ(outputs[0].topic, "tt-hot");
  EXPECT_EQ(outputs[0].key, "k1");
  EXPECT_EQ(outputs[1].topic, "tt-rekeyed");
  EXPECT_EQ(outputs[1].key, "s-1");
  EXPECT_EQ(outputs[1].value, R"({"sensor":"s-1","t":35.5})");
  EXPECT_EQ(outputs[1].timestamp, 100);
  EXPECT_EQ(outputs[1].headers, (Headers{{"h", "1"}}));
  EXPECT_EQ(outputs[2].topic, "tt-cold");
  EXPECT_EQ(outputs[2].key, "k2");
  EXPECT_EQ(outputs[3].topic, "tt-rekeyed");
  EXPECT_EQ(outputs[3].key, "s-2");
  // to_topic works in place (the two calls chain); the record leaving it keeps its own key.
  const auto rows = driver.take_rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].key, Value("k1"));
  EXPECT_EQ(rows[1].key, Value("k2"));
}

}  // namespace
}  // namespace streamframe
