// Header values that are null (issue 11 part 7): Kafka tells a null header value from an
// empty one, and so must every path a header takes without a broker: sdf.test(), set_headers,
// the metadata form (`_headers`: null => JSON null), sinks, the TestDriver's forwarding and
// full paths, serializer extra headers, and run() collect mode on the embedded broker.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"
#include "support/kafka_probe.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

// One null, one empty, one ordinary value, and a repeated name.
const Headers kMixed{{"n", std::nullopt}, {"e", ""}, {"v", "x"}, {"n", "again"}};

// [name, value] pairs as the metadata form writes them.
Value mixed_as_value() {
  return Value::array({Value::array({Value("n"), Value()}), Value::array({Value("e"), Value("")}),
                       Value::array({Value("v"), Value("x")}),
                       Value::array({Value("n"), Value("again")})});
}

TEST(NullHeaders, InitialisersOfBothKindsCompile) {
  const Headers h{{"a", "b"}, {"c", std::nullopt}, {"d", std::string()}};
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].second, "b");
  EXPECT_FALSE(h[1].second.has_value());
  ASSERT_TRUE(h[2].second.has_value());
  EXPECT_TRUE(h[2].second->empty());
}

TEST(NullHeaders, SdfTestAndSetHeadersKeepNullApartFromEmpty) {
  const Topic in = Topic::make("nh-in", {});
  auto sdf = StreamingDataFrame::standalone(in);
  Headers seen;
  sdf.set_headers([&](const Value&, const Value&, std::int64_t, const Headers& h) {
    seen = h;
    Headers out = h;
    out.emplace_back("added-null", std::nullopt);
    out.emplace_back("added-empty", "");
    return out;
  });
  auto sink = std::make_shared<ListSink>(ListSinkOptions{.metadata = true});
  sdf.sink(sink);
  const auto rows = sdf.test(Value::object({{"a", 1}}), Value("k"), 5, kMixed);
  EXPECT_EQ(seen, kMixed);
  ASSERT_EQ(rows.size(), 1u);
  Headers expected = kMixed;
  expected.emplace_back("added-null", std::nullopt);
  expected.emplace_back("added-empty", "");
  EXPECT_EQ(rows[0].headers, expected);

  ASSERT_EQ(sink->size(), 1u);
  Value want = mixed_as_value();
  want.as_array().push_back(Value::array({Value("added-null"), Value()}));
  want.as_array().push_back(Value::array({Value("added-empty"), Value("")}));
  EXPECT_EQ(sink->rows()[0]["_headers"], want) << sink->rows()[0].to_json();
  EXPECT_NE(sink->rows()[0].to_json().find(R"(["added-null",null])"), std::string::npos)
      << sink->rows()[0].to_json();
}

// A serializer whose extra headers (TOP-13) include a null value.
class TaggingSerializer final : public Serializer {
 public:
  void serialize(const Value& value, std::string& out) const override {
    out.clear();
    json::write(value, out);
  }
  Headers extra_headers() const override { return {{"tag-null", std::nullopt}, {"tag", ""}}; }
  std::string_view name() const override { return "tagging-json"; }
};

TEST(NullHeaders, TestDriverForwardingAndFullPathsKeepThem) {
  // Forwarding path: the message's own bytes and headers go out.
  {
    const Topic in = Topic::make("nh-fwd-in", {});
    const Topic out = Topic::make("nh-fwd-out", {});
    auto root = StreamingDataFrame::standalone(in);
    root.to_topic(out);
    TestDriver driver(root);
    driver.pipe(0, "k", R"({"a":1})", 10, kMixed);
    const auto outputs = driver.take_outputs();
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_EQ(outputs[0].headers, kMixed);
  }
  // Full path: the value is changed and serialized again; extra headers are appended.
  {
    const Topic in = Topic::make("nh-full-in", {});
    TopicOptions tagged;
    tagged.value_serializer =
        std::shared_ptr<const Serializer>(std::make_shared<TaggingSerializer>());
    const Topic out = Topic::make("nh-full-out", tagged);
    auto root = StreamingDataFrame::standalone(in);
    auto sdf = root;
    sdf["b"] = sdf["a"] * 2;
    sdf.to_topic(out);
    TestDriver driver(root);
    driver.pipe(0, "k", R"({"a":1})", 10, kMixed);
    const auto outputs = driver.take_outputs();
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_EQ(outputs[0].value, std::optional<std::string>(R"({"a":1,"b":2})"));
    Headers expected = kMixed;
    expected.emplace_back("tag-null", std::nullopt);
    expected.emplace_back("tag", "");
    EXPECT_EQ(outputs[0].headers, expected);
  }
}

// Through the embedded broker: run() collect mode shows null as JSON null, and the forwarding
// path's output topic keeps null and empty apart (read with a raw librdkafka reader).
TEST(NullHeaders, EmbeddedBrokerRunKeepsThem) {
  Application app(test::embedded_config("nh-embedded"));
  const Topic in = app.topic("nh-run-in");
  const Topic out = app.topic("nh-run-out");
  {
    Producer producer = app.get_producer();
    producer.produce("nh-run-in", std::string_view("k"), std::string_view(R"({"a":1})"), 42,
                     kMixed);
    ASSERT_TRUE(producer.flush(10s));
  }
  app.dataframe(in).to_topic(out);
  // Not collecting: the forwarding path.
  app.run({.timeout = 1s, .collect = false});
  test::KafkaProbe probe(app.bootstrap_servers());
  const auto forwarded = probe.read_all("nh-run-out", 1, 20s);
  ASSERT_EQ(forwarded.size(), 1u);
  const std::vector<std::pair<std::string, std::optional<std::string>>> want(kMixed.begin(),
                                                                             kMixed.end());
  EXPECT_EQ(forwarded[0].headers, want);

  // Collect mode with metadata takes the full path and shows `_headers`.
  Application again(test::embedded_config("nh-embedded-2"));
  const Topic in2 = again.topic("nh-run-in");
  {
    Producer producer = again.get_producer();
    producer.produce("nh-run-in", std::string_view("k"), std::string_view(R"({"a":1})"), 42,
                     kMixed);
    ASSERT_TRUE(producer.flush(10s));
  }
  auto sdf = again.dataframe(in2);
  sdf["b"] = 2;
  const auto rows = again.run({.timeout = 10s, .count = 1, .metadata = true});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["_headers"], mixed_as_value()) << rows[0].to_json();
}

}  // namespace
}  // namespace streamframe
