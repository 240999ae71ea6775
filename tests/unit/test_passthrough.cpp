// The forwarding path: a pipeline that only sends messages on unchanged produces their
// original bytes (no parse, no re-serialization), yet bad input still reaches the error path.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "kafka/consumer.hpp"
#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace sf = streamframe;
using namespace std::chrono_literals;

namespace {

sf::ApplicationConfig config(const std::string& group) {
  return sf::test::embedded_config(group);
}

// Reads every value of `topic` (1 partition) from the application's embedded broker.
std::vector<std::string> read_all(sf::Application& app, const std::string& topic,
                                  std::size_t want) {
  streamframe::kafka::Consumer consumer({{"bootstrap.servers", app.bootstrap_servers()},
                                         {"group.id", "reader-" + topic},
                                         {"auto.offset.reset", "earliest"},
                                         {"fetch.wait.max.ms", "5"}});
  consumer.assign({{topic, 0, RD_KAFKA_OFFSET_BEGINNING}});
  std::vector<std::string> values;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  std::vector<streamframe::kafka::Message> batch;
  while (values.size() < want && std::chrono::steady_clock::now() < deadline) {
    batch.clear();
    consumer.poll_batch(batch, 100, 100ms);
    for (auto& m : batch) {
      if (m.end_of_partition()) continue;
      values.emplace_back(m.value().value_or(""));
    }
  }
  return values;
}

TEST(Passthrough, ForwardsOriginalBytes) {
  sf::Application app(config("pt-bytes"));
  auto in = app.topic("pt-in");
  auto out = app.topic("pt-out");
  app.dataframe(in).to_topic(out);
  auto producer = app.get_producer();
  // Whitespace and number spelling would change if the value were parsed and written again.
  const std::vector<std::string> inputs = {R"({ "a" : 1.50 })", R"([1,  2])", R"("x")"};
  for (const auto& v : inputs)
    producer.produce("pt-in", std::string_view("k"), std::string_view(v));
  ASSERT_TRUE(producer.flush(10s));

  app.run({.count = inputs.size(), .collect = false});
  EXPECT_EQ(read_all(app, "pt-out", inputs.size()), inputs);
}

TEST(Passthrough, MalformedInputStillStopsByDefault) {
  sf::Application app(config("pt-bad"));
  auto in = app.topic("pt-in");
  app.dataframe(in).to_topic(app.topic("pt-out"));
  auto producer = app.get_producer();
  producer.produce("pt-in", std::nullopt, std::string_view(R"({"ok":1})"));
  producer.produce("pt-in", std::nullopt, std::string_view(R"({"broken":)"));
  ASSERT_TRUE(producer.flush(10s));
  try {
    app.run({.count = 5, .collect = false});
    FAIL() << "expected SerializationError";
  } catch (const sf::SerializationError& e) {
    EXPECT_EQ(e.topic(), "pt-in");
    EXPECT_EQ(e.offset(), 1);
  }
}

TEST(Passthrough, MalformedInputSkippedByCallback) {
  auto c = config("pt-skip");
  int calls = 0;
  c.on_consumer_error = [&](const std::exception&, const sf::ErrorContext& ctx) {
    ++calls;
    EXPECT_NE(ctx.message, nullptr);
    return sf::ErrorAction::skip;
  };
  sf::Application app(c);
  auto in = app.topic("pt-in");
  app.dataframe(in).to_topic(app.topic("pt-out"));
  auto producer = app.get_producer();
  for (const char* v : {R"({"n":1})", "not json", R"({"n":3})"}) {
    producer.produce("pt-in", std::nullopt, std::string_view(v));
  }
  ASSERT_TRUE(producer.flush(10s));
  app.run({.count = 2, .collect = false});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(app.stats().errors_skipped, 1u);
  EXPECT_EQ(read_all(app, "pt-out", 2), (std::vector<std::string>{R"({"n":1})", R"({"n":3})"}));
}

TEST(Passthrough, ChangedValueIsReserialized) {
  sf::Application app(config("pt-changed"));
  auto in = app.topic("pt-in");
  auto sdf = app.dataframe(in);
  sdf["b"] = 2;
  sdf.to_topic(app.topic("pt-out"));
  auto producer = app.get_producer();
  producer.produce("pt-in", std::nullopt, std::string_view(R"({ "a" : 1.50 })"));
  ASSERT_TRUE(producer.flush(10s));
  app.run({.count = 1, .collect = false});
  EXPECT_EQ(read_all(app, "pt-out", 1), (std::vector<std::string>{R"({"a":1.5,"b":2})"}));
}

}  // namespace

// A key whose format differs between input and output (JSON in, `string` out, as after a
// group_by hop) is decoded and written again while the value bytes still go out as read; a
// key the output's serializer refuses takes the decoding path and is a processing error
// there, with its callback, as a to_topic of a decoded record would be.
TEST(Passthrough, KeyInAnotherFormatIsReencodedAndARefusedOneIsAProcessingError) {
  sf::ApplicationConfig c = config("passthrough-key");
  std::vector<std::string> errors;
  c.on_processing_error = [&](const std::exception& e, const sf::ErrorContext&) {
    errors.emplace_back(e.what());
    return sf::ErrorAction::skip;
  };
  sf::Application app(c);
  const auto in = app.topic("passthrough-key-in", {.key_deserializer = "json"});
  const auto out = app.topic("passthrough-key-out", {.key_serializer = "string"});
  app.dataframe(in).to_topic(out);
  const std::string value = R"({ "spaced" : 1.50 })";
  {
    auto producer = app.get_producer();
    producer.produce(in.name(), R"("ann")", value, 1000);
    producer.produce(in.name(), "42", value, 1001);  // a number: `string` refuses it
    producer.produce(in.name(), R"("bob")", value, 1002);
    ASSERT_TRUE(producer.flush(10s));
  }
  (void)app.run({.timeout = 5s, .count = 2, .collect = false});
  EXPECT_EQ(read_all(app, out.name(), 2), (std::vector<std::string>{value, value}));
  ASSERT_EQ(errors.size(), 1u);
  // The output's serializer names the refusal, at the message's place.
  EXPECT_NE(errors[0].find("expected string, got int"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("offset 1"), std::string::npos) << errors[0];
}
