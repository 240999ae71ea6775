// The three runtimes of a pipeline — the run loop against a real broker, TestDriver and
// sdf.test() — all drive one PartitionTask. The same pipeline object and the same input give
// the same outputs (values, keys, timestamps) under each, and a timestamp extractor sees the
// same timestamp type from TestDriver as from the broker's records.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

struct Input {
  std::string key;
  Value value;
  std::int64_t kafka_timestamp;
};

// An output row as text: value (without the run loop's metadata fields), key, timestamp.
std::string text(const Value& value, const Value& key, std::int64_t timestamp) {
  return value.to_json() + " key=" + key.to_json() + " ts=" + std::to_string(timestamp);
}

std::string text_of_collected(const Value& collected) {
  Object plain;
  for (const auto& [name, v] : collected.as_object()) {
    if (!name.starts_with("_")) plain.set(name, v);
  }
  return text(Value(std::move(plain)), collected["_key"], collected["_timestamp"].as_int());
}

void run_three(TimestampType topic_type) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("three-in");
  std::map<std::string, std::string> topic_config;
  if (topic_type == TimestampType::log_append_time) {
    topic_config["message.timestamp.type"] = "LogAppendTime";
  }
  create_topic(in, 1, topic_config);

  const std::int64_t base = 1700000000000;
  std::vector<Input> inputs;
  for (int i = 0; i < 60; ++i) {
    inputs.push_back({"k" + std::to_string(i % 3),
                      Value::object({{"i", i}, {"v", (i * 7) % 11}, {"t", base + i * 300}}),
                      base + 5000000 + i});
  }

  Application app(base_config(streamframe::test::unique_name("three-grp")));
  std::vector<TimestampType>* seen = nullptr;  // the runtime being run records here
  TopicOptions options;
  options.timestamp_extractor = [&](const Value& v, const Headers&, std::int64_t,
                                    TimestampType type) -> std::int64_t {
    if (seen != nullptr) seen->push_back(type);
    return v["t"].as_int();
  };
  auto sdf = app.dataframe(app.topic(in, options));
  sdf["w"] = sdf["v"] * 2;
  sdf = sdf[sdf["w"] > 3];
  // Per-key state outside windows, then a window: both kinds of state in every runtime.
  sdf = sdf.apply([](const Value& v, State& state) {
    const std::int64_t n = state.get("n", Value(0)).as_int() + 1;
    state.set("n", Value(n));
    Value out = v;
    out.as_object().set("seen", Value(n));
    return out;
  });
  const auto out =
      sdf.tumbling_window(std::chrono::seconds(1))
          .agg({{"sum", agg::sum("w")}, {"n", agg::count()}, {"last", agg::latest("seen")}})
          .final();

  // TestDriver: the bytes a consumer would receive, with the topic's timestamp type.
  std::vector<TimestampType> driver_seen;
  std::vector<std::string> driver;
  {
    seen = &driver_seen;
    TestDriver d(out, {.partitions = 1, .checkpoint_every = 7});
    for (const auto& r : inputs) {
      d.pipe(0, r.key, r.value.to_json(), r.kafka_timestamp, {}, topic_type);
    }
    for (const Row& row : d.take_rows()) driver.push_back(text(row.value, row.key, row.timestamp));
    seen = nullptr;
  }
  ASSERT_GT(driver.size(), 10u) << "the pipeline should close many windows";

  // sdf.test(): rows as decoded, with the timestamp the extractor returns.
  std::vector<std::string> harness;
  for (const auto& r : inputs) {
    for (const Row& row : out.test(r.value, Value(r.key), r.value["t"].as_int())) {
      harness.push_back(text(row.value, row.key, row.timestamp));
    }
  }

  // The run loop on the real broker.
  {
    Producer producer = app.get_producer();
    for (const auto& r : inputs) producer.produce(in, r.key, r.value.to_json(), r.kafka_timestamp);
    ASSERT_TRUE(producer.flush(30s));
  }
  std::vector<TimestampType> broker_seen;
  seen = &broker_seen;
  const auto collected = app.run({.timeout = 15s, .count = driver.size(), .metadata = true});
  seen = nullptr;
  std::vector<std::string> broker;
  for (const auto& v : collected) broker.push_back(text_of_collected(v));

  EXPECT_EQ(driver, harness);
  EXPECT_EQ(driver, broker);
  ASSERT_EQ(driver_seen.size(), inputs.size());
  ASSERT_EQ(broker_seen.size(), inputs.size());
  EXPECT_EQ(driver_seen, broker_seen);
  for (const TimestampType t : broker_seen) EXPECT_EQ(t, topic_type);
}

TEST(ThreeRuntimes, AgreeOnACreateTimeTopic) {
  run_three(TimestampType::create_time);
}

TEST(ThreeRuntimes, AgreeOnALogAppendTimeTopic) {
  run_three(TimestampType::log_append_time);
}

}  // namespace
}  // namespace streamframe::apptest
