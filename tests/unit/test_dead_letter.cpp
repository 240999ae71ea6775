// Dead-letter topic on the embedded broker (EXT-03, ERR-01): once per message however many of
// its rows fail, the default action without a callback, the forwarding path, and the
// configuration errors. The real-broker tests (both guarantees, every header, partitions,
// transactions) are in tests/integration/test_dead_letter.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"
#include "support/kafka_probe.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;
using test::embedded_config;
using ProbedHeaders = std::vector<std::pair<std::string, std::optional<std::string>>>;

// Yields one row per element of a JSON array (TOP-11).
class ArrayRowsDeserializer final : public Deserializer {
 public:
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    const Value parsed = json::parse(data);  // kept: a loop over a temporary's array dangles
    for (const auto& v : parsed.as_array()) out.push_back(v);
  }
  std::string_view name() const override { return "array-rows"; }
};

// The value of the last header called `name`; nullopt when there is none.
std::optional<std::string> header(const ProbedHeaders& headers, const std::string& name) {
  std::optional<std::string> out;
  for (const auto& [k, v] : headers) {
    if (k == name) out = v.value_or("<null>");
  }
  return out;
}

struct Calls {
  std::vector<std::string> what;
  std::vector<std::int64_t> offsets;
  ErrorCallback make(ErrorAction action) {
    return [this, action](const std::exception& e, const ErrorContext& ctx) {
      what.emplace_back(e.what());
      offsets.push_back(ctx.message != nullptr ? ctx.message->offset : -1);
      return action;
    };
  }
};

TEST(DeadLetterEmbedded, SeveralFailingRowsOfOneMessageAreDeadLetteredOnce) {
  auto cfg = embedded_config("dl-rows");
  cfg.dead_letter_topic = "dl-rows-dlq";
  Calls calls;
  cfg.on_processing_error = calls.make(ErrorAction::dead_letter);
  Application app(cfg);
  TopicOptions rows;
  rows.value_deserializer =
      std::shared_ptr<const Deserializer>(std::make_shared<ArrayRowsDeserializer>());
  const Topic in = app.topic("dl-rows-in", rows);
  const std::string bad = R"([{"t":1},{"t":"x"},{"t":"y"},{"t":4}])";
  const Headers headers{{"trace", "t-1"}, {"n", std::nullopt}, {"e", ""}};
  {
    Producer producer = app.get_producer();
    producer.produce("dl-rows-in", std::string_view("k0"), std::string_view(bad), 1111, headers);
    producer.produce("dl-rows-in", std::string_view("k1"), std::string_view(R"([{"t":5}])"), 2222);
    ASSERT_TRUE(producer.flush(10s));
  }
  auto sdf = app.dataframe(in);
  sdf["u"] = sdf["t"] * 2;
  // The rows around the failing ones are processed (dead_letter goes on as skip does).
  const auto out = app.run({.timeout = 10s, .count = 3});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]["u"], Value(2));
  EXPECT_EQ(out[1]["u"], Value(8));
  EXPECT_EQ(out[2]["u"], Value(10));
  // The callback hears about each failing row; the message goes out once, with the first error.
  ASSERT_EQ(calls.what.size(), 2u);
  EXPECT_EQ(calls.offsets, (std::vector<std::int64_t>{0, 0}));
  EXPECT_EQ(app.stats().dead_lettered, 1u);
  EXPECT_EQ(app.stats().errors_skipped, 0u);

  test::KafkaProbe probe(app.bootstrap_servers());
  const auto dead = probe.read_all("dl-rows-dlq", 1, 20s);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].key, std::optional<std::string>("k0"));
  EXPECT_EQ(dead[0].value, std::optional<std::string>(bad));
  EXPECT_EQ(dead[0].timestamp, 1111);
  ProbedHeaders want(headers.begin(), headers.end());
  want.emplace_back("streamframe.error.stage", "processing");
  want.emplace_back("streamframe.error.type", "ValueTypeError");
  want.emplace_back("streamframe.error.message", calls.what[0]);
  want.emplace_back("streamframe.source.topic", "dl-rows-in");
  want.emplace_back("streamframe.source.partition", "0");
  want.emplace_back("streamframe.source.offset", "0");
  EXPECT_EQ(dead[0].headers, want);
}

// ERR-01: without a callback the error is logged, then dead-lettered since a dead-letter topic
// is set; the app goes on.
TEST(DeadLetterEmbedded, WithoutCallbackTheErrorIsDeadLetteredWhenTheTopicIsSet) {
  auto cfg = embedded_config("dl-default");
  cfg.dead_letter_topic = "dl-default-dlq";
  Application app(cfg);
  const Topic in = app.topic("dl-default-in");
  {
    Producer producer = app.get_producer();
    producer.produce("dl-default-in", std::string_view("a"), std::string_view(R"({"t":1})"));
    producer.produce("dl-default-in", std::string_view("b"), std::string_view(R"({"t":)"));
    producer.produce("dl-default-in", std::string_view("c"), std::string_view(R"({"t":"z"})"));
    producer.produce("dl-default-in", std::string_view("d"), std::string_view(R"({"t":4})"));
    ASSERT_TRUE(producer.flush(10s));
  }
  auto sdf = app.dataframe(in);
  sdf["u"] = sdf["t"] * 2;
  const auto out = app.run({.timeout = 10s, .count = 2});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["u"], Value(2));
  EXPECT_EQ(out[1]["u"], Value(8));
  EXPECT_EQ(app.stats().dead_lettered, 2u);

  test::KafkaProbe probe(app.bootstrap_servers());
  const auto dead = probe.read_all("dl-default-dlq", 1, 20s);
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_EQ(dead[0].key, std::optional<std::string>("b"));
  EXPECT_EQ(header(dead[0].headers, "streamframe.error.stage"), "deserialization");
  EXPECT_EQ(header(dead[0].headers, "streamframe.error.type"), "SerializationError");
  EXPECT_EQ(header(dead[0].headers, "streamframe.source.offset"), "1");
  EXPECT_EQ(dead[1].key, std::optional<std::string>("c"));
  EXPECT_EQ(header(dead[1].headers, "streamframe.error.stage"), "processing");
  EXPECT_EQ(header(dead[1].headers, "streamframe.error.type"), "ValueTypeError");
  EXPECT_EQ(header(dead[1].headers, "streamframe.source.offset"), "2");
}

// The forwarding path (messages produced unchanged) validates its input: a failure there is a
// deserialization error and is dead-lettered like one.
TEST(DeadLetterEmbedded, ForwardingPathDeadLettersInvalidInput) {
  auto cfg = embedded_config("dl-fwd");
  cfg.dead_letter_topic = "dl-fwd-dlq";
  Calls calls;
  cfg.on_consumer_error = calls.make(ErrorAction::dead_letter);
  Application app(cfg);
  const Topic in = app.topic("dl-fwd-in");
  const Topic out = app.topic("dl-fwd-out");
  {
    Producer producer = app.get_producer();
    producer.produce("dl-fwd-in", std::string_view("a"), std::string_view(R"({"t":1})"));
    producer.produce("dl-fwd-in", std::string_view("b"), std::string_view("not json"), 0,
                     {{"h", std::nullopt}});
    producer.produce("dl-fwd-in", std::string_view("c"), std::string_view(R"({"t":3})"));
    ASSERT_TRUE(producer.flush(10s));
  }
  app.dataframe(in).to_topic(out);
  app.run({.timeout = 1s, .collect = false});  // not collecting: the forwarding path
  EXPECT_EQ(calls.offsets, (std::vector<std::int64_t>{1}));
  EXPECT_EQ(app.stats().dead_lettered, 1u);

  test::KafkaProbe probe(app.bootstrap_servers());
  const auto forwarded = probe.read_all("dl-fwd-out", 1, 20s);
  ASSERT_EQ(forwarded.size(), 2u);
  EXPECT_EQ(forwarded[0].value, std::optional<std::string>(R"({"t":1})"));
  EXPECT_EQ(forwarded[1].value, std::optional<std::string>(R"({"t":3})"));
  const auto dead = probe.read_all("dl-fwd-dlq", 1, 20s);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].value, std::optional<std::string>("not json"));
  ASSERT_FALSE(dead[0].headers.empty());
  EXPECT_EQ(dead[0].headers[0],
            (std::pair<std::string, std::optional<std::string>>("h", std::nullopt)));
  EXPECT_EQ(header(dead[0].headers, "streamframe.error.stage"), "deserialization");
  EXPECT_EQ(header(dead[0].headers, "streamframe.error.type"), "SerializationError");
}

// streamframe.error.message holds at most 4096 bytes, cut before a UTF-8 sequence rather than
// inside it; streamframe.error.type names the error's type without the namespace, and an
// exception not derived from streamframe::Error arrives as Error.
TEST(DeadLetterEmbedded, ErrorHeadersNameTheTypeAndCutLongMessages) {
  auto cfg = embedded_config("dl-long");
  cfg.dead_letter_topic = "dl-long-dlq";
  cfg.on_processing_error = [](const std::exception&, const ErrorContext&) {
    return ErrorAction::dead_letter;
  };
  Application app(cfg);
  const Topic in = app.topic("dl-long-in");
  {
    Producer producer = app.get_producer();
    producer.produce("dl-long-in", std::string_view("long"), std::string_view(R"({"t":1})"));
    producer.produce("dl-long-in", std::string_view("std"), std::string_view(R"({"t":2})"));
    ASSERT_TRUE(producer.flush(10s));
  }
  // 4095 ASCII bytes, then a 2-byte character across the 4096-byte limit.
  const std::string long_text = std::string(4095, 'a') + "\xc3\xa9" + std::string(100, 'b');
  auto sdf = app.dataframe(in);
  sdf = sdf.apply([&](const Value& v) -> Value {
    if (v["t"] == Value(1)) throw ArithmeticError(long_text);
    throw std::runtime_error("plain");
  });
  app.run({.timeout = 1s, .collect = false});
  EXPECT_EQ(app.stats().dead_lettered, 2u);

  test::KafkaProbe probe(app.bootstrap_servers());
  const auto dead = probe.read_all("dl-long-dlq", 1, 20s);
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_EQ(header(dead[0].headers, "streamframe.error.type"), "ArithmeticError");
  EXPECT_EQ(header(dead[0].headers, "streamframe.error.message"), std::string(4095, 'a'));
  EXPECT_EQ(header(dead[1].headers, "streamframe.error.type"), "Error");
  const auto plain = header(dead[1].headers, "streamframe.error.message");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->rfind("processing failed: plain", 0), 0u) << *plain;
}

// A callback answering dead_letter with no dead-letter topic cannot be caught before it runs:
// run() stops with a ConfigError naming the missing setting, nothing dead-lettered.
TEST(DeadLetterEmbedded, DeadLetterWithoutTopicStopsNamingTheSetting) {
  auto cfg = embedded_config("dl-missing");
  Calls calls;
  cfg.on_processing_error = calls.make(ErrorAction::dead_letter);
  Application app(cfg);
  const Topic in = app.topic("dl-missing-in");
  {
    Producer producer = app.get_producer();
    producer.produce("dl-missing-in", std::string_view("a"), std::string_view(R"({"t":"x"})"));
    ASSERT_TRUE(producer.flush(10s));
  }
  auto sdf = app.dataframe(in);
  sdf["u"] = sdf["t"] * 2;
  try {
    app.run({.timeout = 10s, .count = 1});
    ADD_FAILURE() << "run() returned";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dead_letter_topic"), std::string::npos) << what;
    EXPECT_NE(what.find("(topic 'dl-missing-in', partition 0, offset 0)"), std::string::npos)
        << what;
  }
  EXPECT_EQ(calls.what.size(), 1u);
  EXPECT_EQ(app.stats().dead_lettered, 0u);
}

TEST(DeadLetterEmbedded, BadTopicNamesAreConfigErrors) {
  for (const std::string& name : {std::string(), std::string("bad name"), std::string(250, 'x')}) {
    auto cfg = embedded_config("dl-names");
    cfg.dead_letter_topic = name;
    try {
      Application app(cfg);
      ADD_FAILURE() << "accepted dead_letter_topic '" << name << "'";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("dead_letter_topic"), std::string::npos) << e.what();
    }
  }
  // An input topic cannot be its own dead-letter topic: checked once the pipeline is known.
  auto cfg = embedded_config("dl-loop");
  cfg.dead_letter_topic = "dl-loop-in";
  Application app(cfg);
  app.dataframe(app.topic("dl-loop-in")).to_topic(app.topic("dl-loop-out"));
  EXPECT_THROW(app.run({.timeout = 1s}), ConfigError);
}

}  // namespace
}  // namespace streamframe
