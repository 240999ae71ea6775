// StreamingDataFrame operations through the public API and sdf.test() (no Kafka traffic: the
// embedded broker only backs topic declarations).
#include <gtest/gtest.h>

#include <streamframe/streamframe.hpp>

namespace sf = streamframe;
using sf::Value;

namespace {

// One embedded-broker application for the whole suite (its start and stop cost about a
// second); each test roots its frames at topics of its own.
sf::Application& shared_app() {
  static sf::Application app({.broker_address = "embedded", .loglevel = "ERROR"});
  return app;
}

std::string fresh_topic_name() {
  static int n = 0;
  return "input-" + std::to_string(++n);
}

class DataFrameTest : public ::testing::Test {
 protected:
  sf::Application& app = shared_app();
  sf::Topic input = app.topic(fresh_topic_name());
  sf::StreamingDataFrame sdf = app.dataframe(input);
  sf::StreamingDataFrame other_frame() { return app.dataframe(app.topic(fresh_topic_name())); }

  static Value reading(double celsius) {
    return Value::object({{"sensor", "s1"}, {"temperature", celsius}});
  }
};

TEST_F(DataFrameTest, ReadmePipelineConvertsAndFilters) {
  sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
  sdf = sdf[sdf["temperature_F"] > 150];

  auto hot = sdf.test(reading(70.0));
  ASSERT_EQ(hot.size(), 1u);
  EXPECT_DOUBLE_EQ(hot[0].value["temperature_F"].as_double(), 158.0);
  EXPECT_EQ(hot[0].value["sensor"], Value("s1"));
  // Column order: existing columns first, the new one appended.
  auto it = hot[0].value.as_object().begin();
  EXPECT_EQ(it->first, "sensor");

  EXPECT_TRUE(sdf.test(reading(20.0)).empty());
}

TEST_F(DataFrameTest, IntegerArithmeticStaysInteger) {
  sdf["f"] = sdf["c"] * 9 / 5 + 32;  // '/' is always double (SER-02)
  sdf["twice"] = sdf["c"] * 2;
  auto out = sdf.test(Value::object({{"c", 100}}));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].value["f"].is_double());
  EXPECT_TRUE(out[0].value["twice"].is_int());
  EXPECT_EQ(out[0].value["twice"].as_int(), 200);
}

TEST_F(DataFrameTest, ApplyReplacesValueAndKeepsMetadata) {
  auto out = sdf.apply([](const Value& v) { return Value(v["x"].as_int() + 1); })
                 .test(Value::object({{"x", 41}}), Value("k"), 1234, {{"h", "v"}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, Value(42));
  EXPECT_EQ(out[0].key, Value("k"));
  EXPECT_EQ(out[0].timestamp, 1234);
  ASSERT_EQ(out[0].headers.size(), 1u);
  EXPECT_EQ(out[0].headers[0].second, "v");
}

TEST_F(DataFrameTest, ApplyWithMetadataSeesKeyAndTimestamp) {
  auto out = sdf.apply([](const Value& v, const Value& key, std::int64_t ts, const sf::Headers&) {
                  return Value::object({{"v", v}, {"key", key}, {"ts", ts}});
                })
                 .test(Value(1), Value("abc"), 99);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value["key"], Value("abc"));
  EXPECT_EQ(out[0].value["ts"], Value(99));
}

TEST_F(DataFrameTest, ExpandEmitsEachElementInOrder) {
  auto words = sdf.apply(
      [](const Value& v) {
        sf::Array out;
        for (const auto& w : v["words"].as_array()) out.push_back(w);
        return Value(std::move(out));
      },
      {.expand = true});
  auto out = words.test(Value::object({{"words", Value::array({"a", "b", "c"})}}));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].value, Value("a"));
  EXPECT_EQ(out[2].value, Value("c"));
}

TEST_F(DataFrameTest, ExpandOfNonArrayIsValueTypeError) {
  auto bad = sdf.apply([](const Value&) { return Value(1); }, {.expand = true});
  EXPECT_THROW(bad.test(Value(0)), sf::ValueTypeError);
}

TEST_F(DataFrameTest, UpdateMutatesInPlace) {
  sdf.update([](Value& v) { v["seen"] = true; });
  auto out = sdf.test(Value::object({{"a", 1}}));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value["seen"], Value(true));
}

TEST_F(DataFrameTest, FilterWithCallableAndTruthiness) {
  auto evens = sdf.filter([](const Value& v) { return v["n"].as_int() % 2 == 0; });
  EXPECT_EQ(evens.test(Value::object({{"n", 2}})).size(), 1u);
  EXPECT_TRUE(evens.test(Value::object({{"n", 3}})).empty());
  // A callable returning a Value filters by truthiness.
  auto truthy = other_frame().filter([](const Value& v) { return v["s"]; });
  EXPECT_TRUE(truthy.test(Value::object({{"s", ""}})).empty());
  EXPECT_EQ(truthy.test(Value::object({{"s", "x"}})).size(), 1u);
}

TEST_F(DataFrameTest, ProjectionKeepsRequestedOrder) {
  auto proj = sdf[{"b", "a"}];
  auto out = proj.test(Value::object({{"a", 1}, {"b", 2}, {"c", 3}}));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value.to_json(), R"({"b":2,"a":1})");
  EXPECT_THROW(proj.test(Value::object({{"a", 1}})), sf::ColumnDoesNotExist);
}

TEST_F(DataFrameTest, MissingColumnInExpressionIsTyped) {
  sdf["f"] = sdf["temperature"] * 2;
  EXPECT_THROW(sdf.test(Value::object({{"other", 1}})), sf::ColumnDoesNotExist);
}

TEST_F(DataFrameTest, StringTimesNumberIsValueTypeError) {
  sdf["f"] = sdf["temperature"] * 9;
  try {
    (void)sdf.test(Value::object({{"temperature", "hot"}}));
    FAIL() << "expected ValueTypeError";
  } catch (const sf::ValueTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("string"), std::string::npos) << e.what();
  }
}

TEST_F(DataFrameTest, DropAndDropErrors) {
  sdf.drop({"b"});
  EXPECT_EQ(sdf.test(Value::object({{"a", 1}, {"b", 2}}))[0].value.to_json(), R"({"a":1})");
  EXPECT_THROW(sdf.test(Value::object({{"a", 1}})), sf::ColumnDoesNotExist);

  auto other = other_frame();
  other.drop({"zzz"}, sf::DropErrors::ignore);
  EXPECT_EQ(other.test(Value::object({{"a", 1}}))[0].value.to_json(), R"({"a":1})");
}

TEST_F(DataFrameTest, FillMissingAndNullColumns) {
  sdf.fill({"a"}, {{"b", 0}});
  auto out = sdf.test(Value::object({{"b", nullptr}, {"c", 5}}));
  EXPECT_EQ(out[0].value.to_json(), R"({"b":0,"c":5,"a":null})");
  EXPECT_THROW(sdf.fill({}), sf::ConfigError);
}

TEST_F(DataFrameTest, ContainsChecksKeys) {
  auto with_ab = sdf[sdf.contains({"a", "b"})];
  EXPECT_EQ(with_ab.test(Value::object({{"a", 1}, {"b", 2}})).size(), 1u);
  EXPECT_TRUE(with_ab.test(Value::object({{"a", 1}})).empty());
}

TEST_F(DataFrameTest, ColumnFromApplyOfSameFrame) {
  sdf["len"] = sdf.apply(
      [](const Value& v) { return Value(static_cast<std::int64_t>(v["s"].as_string().size())); });
  auto out = sdf.test(Value::object({{"s", "abcd"}}));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value["len"], Value(4));
}

TEST_F(DataFrameTest, ColumnFromApplyOfOtherFrameIsRejected) {
  auto other = other_frame();
  auto applied = other.apply([](const Value& v) { return v; });
  EXPECT_THROW(sdf["x"] = applied, sf::InvalidOperation);
}

TEST_F(DataFrameTest, BranchesGetTheirOwnCopies) {
  auto a = sdf.apply([](const Value& v) {
    Value c = v;
    c["branch"] = "a";
    return c;
  });
  auto b = sdf.update([](Value& v) { v["branch"] = "b"; });
  (void)a;
  (void)b;
  // Two leaves: the apply branch and the in-place update branch.
  auto out = sdf.test(Value::object({{"x", 1}}));
  ASSERT_EQ(out.size(), 2u);
}

TEST_F(DataFrameTest, ForkedBranchesRunInDeclarationOrderWithIndependentValues) {
  auto left = sdf.apply([](const Value& v) {
    Value c = v;
    c["side"] = "left";
    return c;
  });
  auto right = sdf.apply([](const Value& v) {
    Value c = v;
    c["side"] = "right";
    return c;
  });
  auto out = sdf.test(Value::object({{"x", 1}}));
  // sdf itself is not a leaf (it has two children): only the two branches leave.
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].value["side"], Value("left"));
  EXPECT_EQ(out[1].value["side"], Value("right"));
  (void)left;
  (void)right;
}

// A filter at the head of a branch is asked before the row is copied for it (a dropped row
// costs no copy); what passes still gets its own copy, so a change made below the filter is
// not seen by the branches after it.
TEST_F(DataFrameTest, FilteredBranchesStillGetTheirOwnCopies) {
  auto first = sdf.filter([](const Value& v) { return v["x"].as_int() > 0; }).update([](Value& v) {
    v["seen_by"] = "first";
  });
  auto second = sdf[sdf["x"] > 5].update([](Value& v) { v["seen_by"] = "second"; });
  auto third = sdf.update([](Value& v) { v["last"] = true; });
  (void)first;
  (void)second;
  (void)third;
  auto out = sdf.test(Value::object({{"x", 1}}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].value.to_json(), R"({"x":1,"seen_by":"first"})");
  EXPECT_EQ(out[1].value.to_json(), R"({"x":1,"last":true})");
  out = sdf.test(Value::object({{"x", 9}}));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].value.to_json(), R"({"x":9,"seen_by":"second"})");
  EXPECT_EQ(out[2].value.to_json(), R"({"x":9,"last":true})");
  out = sdf.test(Value::object({{"x", -1}}));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value.to_json(), R"({"x":-1,"last":true})");
}

TEST_F(DataFrameTest, ConcatOfBranchesMergesThem) {
  auto hot = sdf[sdf["t"] > 10];
  auto cold = sdf[sdf["t"] <= 10];
  auto both = hot.apply([](const Value& v) { return v; }).concat(cold);
  both["seen"] = 1;
  EXPECT_EQ(sdf.test(Value::object({{"t", 20}})).size(), 1u);
  EXPECT_EQ(sdf.test(Value::object({{"t", 5}})).size(), 1u);
}

TEST_F(DataFrameTest, SetTimestampAndHeaders) {
  sdf.set_timestamp([](const Value& v, const Value&, std::int64_t, const sf::Headers&) {
    return v["ts"].as_int();
  });
  sdf.set_headers([](const Value&, const Value&, std::int64_t, const sf::Headers& h) {
    sf::Headers out = h;
    out.emplace_back("added", "1");
    return out;
  });
  auto out = sdf.test(Value::object({{"ts", 777}}), Value("k"), 1, {{"orig", "x"}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].timestamp, 777);
  ASSERT_EQ(out[0].headers.size(), 2u);
  EXPECT_EQ(out[0].headers[1].first, "added");
}

TEST_F(DataFrameTest, SinkReceivesRowsWithContext) {
  auto sink = std::make_shared<sf::ListSink>(sf::ListSinkOptions{.metadata = true});
  sdf.sink(sink);
  EXPECT_EQ(sdf.test(Value::object({{"a", 1}}), Value("k"), 5).size(), 1u);
  auto rows = sink->rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["_key"], Value("k"));
  EXPECT_EQ(rows[0]["_topic"], Value(input.name()));
  EXPECT_EQ(rows[0]["a"], Value(1));
}

TEST_F(DataFrameTest, SinkIsABranchOfItsOwnAndLeavesWithANullValue) {
  auto sink = std::make_shared<sf::ListSink>();
  sdf["b"] = sdf["a"] + 1;
  sdf.sink(sink);
  // Defined after sink(): follows sdf, not the sink, and sees the record as sdf left it.
  sdf["c"] = sdf["b"] * 10;
  auto out = sdf.test(Value::object({{"a", 1}}), Value("k"), 5);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].value.is_null()) << "the sink's leaf";
  EXPECT_EQ(out[0].key, Value("k"));
  EXPECT_EQ(out[0].timestamp, 5);
  EXPECT_EQ(out[1].value, Value::object({{"a", 1}, {"b", 2}, {"c", 20}}));
  auto rows = sink->rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], Value::object({{"a", 1}, {"b", 2}}));
}

TEST_F(DataFrameTest, TestRefusesPipelinesThatProduce) {
  sdf.to_topic(app.topic(fresh_topic_name()));
  EXPECT_THROW(sdf.test(Value(1)), sf::InvalidOperation);
}

TEST_F(DataFrameTest, MessageContextOnlyInsideProcessing) {
  EXPECT_THROW(sf::StreamingDataFrame::message_context(), sf::InvalidOperation);
  std::string seen_topic;
  sdf.update([&](Value&) { seen_topic = sf::StreamingDataFrame::message_context().topic; });
  (void)sdf.test(Value(1));
  EXPECT_EQ(seen_topic, input.name());
}

TEST_F(DataFrameTest, SecondRootOnOneTopicIsConfigError) {
  EXPECT_THROW(app.dataframe(input), sf::ConfigError);
}

TEST(Series, IsNotConvertibleToBool) {
  static_assert(!std::is_convertible_v<sf::Series, bool>);
  static_assert(!std::is_convertible_v<sf::StreamingDataFrame, bool>);
}

}  // namespace
