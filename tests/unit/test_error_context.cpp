// What an error callback sees (ERR-01): the raw message, and for processing errors the row as
// it entered the pipeline, on the embedded broker.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace sf = streamframe;
using namespace std::chrono_literals;

namespace {

TEST(ErrorContext, ProcessingErrorSeesRawMessageAndOriginalRow) {
  sf::ApplicationConfig c = sf::test::embedded_config("error-context");
  std::string raw_value;
  std::string raw_key;
  sf::Value row_value;
  std::string error_text;
  c.on_processing_error = [&](const std::exception& e, const sf::ErrorContext& ctx) {
    error_text = e.what();
    if (ctx.message != nullptr) {
      raw_value = ctx.message->value.value_or("");
      raw_key = ctx.message->key.value_or("");
    }
    if (ctx.row != nullptr) row_value = ctx.row->value;
    return sf::ErrorAction::skip;
  };
  sf::Application app(c);
  auto in = app.topic("ec-in");
  auto sdf = app.dataframe(in);
  // The first step replaces the value, so only a re-decoded row can show the original.
  sdf = sdf.apply([](const sf::Value& v) { return sf::Value::object({{"t", v["t"]}}); });
  sdf["f"] = sdf["t"] * 2;

  auto producer = app.get_producer();
  producer.produce("ec-in", std::string_view("k1"), std::string_view(R"({"t":"hot","id":7})"));
  producer.produce("ec-in", std::string_view("k2"), std::string_view(R"({"t":3,"id":8})"));
  ASSERT_TRUE(producer.flush(10s));

  auto out = app.run({.count = 1});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["f"], sf::Value(6));
  EXPECT_EQ(raw_value, R"({"t":"hot","id":7})");
  EXPECT_EQ(raw_key, "k1");
  EXPECT_EQ(row_value, sf::Value::object({{"t", "hot"}, {"id", 7}}));
  EXPECT_NE(error_text.find("(topic 'ec-in', partition 0, offset 0)"), std::string::npos)
      << error_text;
}

// A group_by by a column right after the input decodes only that column; a record without
// it is still reported with its whole value, decoded again for the error.
TEST(ErrorContext, AGroupByMissingItsColumnSeesTheWholeRow) {
  sf::ApplicationConfig c = sf::test::embedded_config("error-context-group-by");
  sf::Value row_value;
  std::string error_text;
  c.on_processing_error = [&](const std::exception& e, const sf::ErrorContext& ctx) {
    error_text = e.what();
    if (ctx.row != nullptr) row_value = ctx.row->value;
    return sf::ErrorAction::skip;
  };
  sf::Application app(c);
  auto in = app.topic("ec-gb-in", {.config = sf::TopicConfig{.num_partitions = 2}});
  (void)app.dataframe(in).group_by("user").aggregate({{"n", sf::agg::count()}});

  auto producer = app.get_producer();
  producer.produce("ec-gb-in", std::string_view("k1"),
                   std::string_view(R"({"name":"ann","id":7,"tags":["a"]})"));
  producer.produce("ec-gb-in", std::string_view("k2"), std::string_view(R"({"user":"bob"})"));
  ASSERT_TRUE(producer.flush(10s));

  auto out = app.run({.timeout = 20s, .count = 1});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], sf::Value::object({{"n", 1}}));
  EXPECT_EQ(row_value,
            sf::Value::object({{"name", "ann"}, {"id", 7}, {"tags", sf::Value::array({"a"})}}));
  EXPECT_NE(error_text.find("column 'user' does not exist"), std::string::npos) << error_text;
}

}  // namespace
