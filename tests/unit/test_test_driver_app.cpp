// TestDriver over a whole application (EXT-07): several input topics, pipelines that feed
// each other through topics, group_by hops, decoded outputs per topic, and the driver's clock
// for idle closing. No broker: the application is declared on the embedded one and the driver
// never connects to it.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;
using test::embedded_config;

std::vector<std::string> values_json(const std::vector<TestRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.value.to_json());
  return out;
}

TEST(TestDriverApp, RunsEveryPipelineOfTheApplicationAndDecodesOutputsPerTopic) {
  Application app(embedded_config("driver-app"));
  const Topic orders_out = app.topic("big-orders");
  const Topic payments_out = app.topic("payments-eur");
  auto orders = app.dataframe(app.topic("orders"));
  orders = orders[orders["amount"] > 100];
  orders.to_topic(orders_out);
  auto payments = app.dataframe(app.topic("payments"));
  payments["eur"] = payments["cents"] / 100;
  payments.to_topic(payments_out);

  TestDriver driver(app, {.partitions = 2});
  driver.pipe_raw("orders", 0, "o-1", R"({"amount":50})", 1000);
  driver.pipe_raw("orders", 1, "o-2", R"({"amount":150})", 1001);
  driver.pipe_raw("payments", 1, "p-1", R"({"cents":250})", 1002);

  const auto big = driver.output(orders_out);
  ASSERT_EQ(big.size(), 1u);
  EXPECT_EQ(big[0].key, Value(std::string("o-2")));
  EXPECT_EQ(big[0].value.to_json(), R"({"amount":150})");
  EXPECT_EQ(big[0].timestamp, 1001);
  EXPECT_TRUE(driver.output(orders_out).empty()) << "output() takes what it returns";

  const auto eur = driver.output(payments_out);
  ASSERT_EQ(eur.size(), 1u);
  EXPECT_EQ(eur[0].key, Value(std::string("p-1")));
  EXPECT_EQ(eur[0].value.to_json(), R"({"cents":250,"eur":2.5})");
  EXPECT_TRUE(driver.take_outputs().empty()) << "output() removed them from take_outputs()";
  EXPECT_EQ(driver.produced(), 2u);
}

TEST(TestDriverApp, PipeSerializesAndPartitionsLikeAProducerAndOutputsCarryTheirPlace) {
  Application app(embedded_config("driver-values"));
  TopicOptions four;
  four.config = TopicConfig{.num_partitions = 4};
  const Topic in = app.topic("events", four);
  const Topic out = app.topic("events-out", four);
  auto sdf = app.dataframe(in);
  sdf["seen"] = true;
  sdf.to_topic(out);
  const Topic deletes_out = app.topic("deletes-out");
  app.dataframe(app.topic("deletes")).to_topic(deletes_out);

  // partitions 0: each input topic has its own count (4 here).
  TestDriver driver(app, {.start_time = 5000});
  EXPECT_EQ(driver.clock(), 5000);
  std::vector<std::int32_t> partitions;
  for (const char* key : {"a", "b", "c", "d", "e", "f", "a"}) {
    driver.pipe(in, Value::object({{"k", key}}), Value(key));
    partitions.push_back(driver.output(out).back().partition);
  }
  // The producer's murmur2 partitioner: the same key, the same partition; several used.
  EXPECT_EQ(partitions.front(), partitions.back());
  EXPECT_GT(std::set<std::int32_t>(partitions.begin(), partitions.end()).size(), 1u);

  driver.pipe(in, Value::object({{"k", "x"}}), Value("x"), 42, {}, 3);
  driver.pipe(in, Value::object({{"k", "a"}}), Value("a"));
  const auto recs = driver.output(out);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].timestamp, 42);
  EXPECT_EQ(recs[1].timestamp, 5000) << "no timestamp: the driver's clock";
  EXPECT_EQ(recs[1].value.to_json(), R"({"k":"a","seen":true})");
  EXPECT_EQ(recs[1].partition, partitions.front());
  // Offsets count what output() returned per partition, in produced order.
  const auto before = std::count(partitions.begin(), partitions.end(), partitions.front()) +
                      (recs[0].partition == partitions.front() ? 1 : 0);
  EXPECT_EQ(recs[1].offset, before);
  EXPECT_EQ(recs[0].key, Value(std::string("x")));

  // A null value is a tombstone, a null key no key; a partition outside the topic is refused.
  driver.pipe(app.topic("deletes"), Value(), Value("a"));
  driver.pipe(app.topic("deletes"), Value::object({{"n", 1}}));
  const auto deletes = driver.output(deletes_out);
  ASSERT_EQ(deletes.size(), 2u);
  EXPECT_EQ(deletes[0].key, Value(std::string("a")));
  EXPECT_TRUE(deletes[0].value.is_null()) << "a tombstone decodes to null";
  EXPECT_TRUE(deletes[1].key.is_null());
  EXPECT_EQ(deletes[1].value.to_json(), R"({"n":1})");
  EXPECT_THROW(driver.pipe(in, Value::object({}), Value("a"), 1, {}, 4), InvalidOperation);
}

TEST(TestDriverApp, WhatAPipelineProducesToAnotherPipelinesInputIsProcessedBeforePipeReturns) {
  Application app(embedded_config("driver-chain"));
  const Topic clean = app.topic("readings-clean");
  const Topic counts = app.topic("readings-per-sensor");
  auto raw = app.dataframe(app.topic("readings-raw"));
  raw = raw[raw["ok"] == true];
  raw.to_topic(clean);
  app.dataframe(clean).aggregate({{"n", agg::count()}}).to_topic(counts);

  TestDriver driver(app, {.partitions = 3});
  driver.pipe_raw("readings-raw", 0, "s1", R"({"ok":true})", 10);
  driver.pipe_raw("readings-raw", 1, "s1", R"({"ok":false})", 11);
  driver.pipe_raw("readings-raw", 2, "s1", R"({"ok":true})", 12);
  driver.pipe_raw("readings-raw", 2, "s2", R"({"ok":true})", 13);
  // Both hops ran: the second pipeline counted per key, whichever raw partition it came from.
  EXPECT_EQ(values_json(driver.output(counts)),
            (std::vector<std::string>{R"({"n":1})", R"({"n":2})", R"({"n":1})"}));
  // The intermediate topic is a real topic of the application: also an output.
  EXPECT_EQ(driver.output(clean).size(), 3u);
  // It is an input too, so records can be piped into it directly.
  driver.pipe_raw("readings-clean", 0, "s2", R"({"ok":true})", 14);
  const auto more = driver.output(counts);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].value.to_json(), R"({"n":2})");
}

TEST(TestDriverApp, GroupByHopsRunInProcessAndTheirTopicsAreNotInputsOrOutputs) {
  Application app(embedded_config("driver-group-by"));
  const Topic totals = app.topic("totals");
  app.dataframe(app.topic("orders-by-id", {.config = TopicConfig{.num_partitions = 2}}))
      .group_by("customer")
      .aggregate({{"total", agg::sum("amount")}})
      .to_topic(totals);

  TestDriver driver(app, {.partitions = 2});
  driver.pipe_raw("orders-by-id", 0, "o-1", R"({"customer":"c-7","amount":12})", 1000);
  driver.pipe_raw("orders-by-id", 1, "o-2", R"({"customer":"c-7","amount":30})", 1001);
  const auto out = driver.output(totals);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].key, Value(std::string("c-7")));
  EXPECT_EQ(out[1].value.to_json(), R"({"total":42})");
  EXPECT_EQ(driver.produced(), 2u) << "the repartition records are not outputs";

  const std::string repartition = "repartition__driver-group-by--orders-by-id--customer";
  try {
    driver.pipe_raw(repartition, 0, "c-7", R"({"amount":1})", 1002);
    FAIL() << "piping into a repartition topic must be refused";
  } catch (const InvalidOperation& e) {
    EXPECT_NE(std::string(e.what()).find("repartition topic"), std::string::npos) << e.what();
  }
  try {
    driver.pipe_raw("no-such-topic", 0, "k", "{}", 1);
    FAIL() << "piping into a topic no pipeline reads must be refused";
  } catch (const InvalidOperation& e) {
    EXPECT_NE(std::string(e.what()).find("inputs: 'orders-by-id'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(driver.pipe_raw("orders-by-id", 2, "k", "{}", 1), InvalidOperation);
}

TEST(TestDriverApp, AdvanceClockClosesIdleWindowsAndFeedsWhatTheyProduce) {
  Application app(embedded_config("driver-clock"));
  const Topic minutes = app.topic("clicks-per-minute");
  const Topic busy = app.topic("busy-minutes");
  app.dataframe(app.topic("clicks"))
      .tumbling_window(60s)
      .count()
      .final({.idle_timeout = 30s})
      .to_topic(minutes);
  auto per_minute = app.dataframe(minutes);
  per_minute = per_minute[per_minute["value"] >= 2];
  per_minute.to_topic(busy);

  TestDriver driver(app);
  EXPECT_EQ(driver.clock(), 0);
  driver.pipe_raw("clicks", 0, "page-1", "{}", 1000);
  driver.pipe_raw("clicks", 0, "page-1", "{}", 2000);
  EXPECT_TRUE(driver.take_outputs().empty()) << "stream time is still inside the window";

  driver.advance_clock(29s);
  EXPECT_TRUE(driver.take_outputs().empty()) << "not idle for 30 s yet";

  driver.advance_clock(61s);  // quiet for 90 s: stream time counts as 2 s + 90 s
  EXPECT_EQ(driver.clock(), 90000);
  const auto closed = driver.output(minutes);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].value.to_json(), R"({"start":0,"end":60000,"value":2})");
  // The closed window went on to the next pipeline before advance_clock() returned.
  EXPECT_EQ(values_json(driver.output(busy)),
            (std::vector<std::string>{R"({"start":0,"end":60000,"value":2})"}));

  EXPECT_THROW(driver.advance_clock(-1ms), InvalidOperation);
}

TEST(TestDriverApp, APipelineThatFeedsItselfIsAnErrorNotAHang) {
  Application app(embedded_config("driver-loop"));
  const Topic loop = app.topic("loop");
  app.dataframe(loop).to_topic(loop);
  std::uint64_t seen = 0;
  TestDriver driver(app, {.collect_rows = false},
                    [&](const std::string&, auto, auto, std::int64_t) { ++seen; });
  try {
    driver.pipe_raw("loop", 0, "k", "{}", 1);
    FAIL() << "a pipeline that produces to its own input never becomes quiet";
  } catch (const InvalidOperation& e) {
    EXPECT_NE(std::string(e.what()).find("feeds itself"), std::string::npos) << e.what();
  }
  EXPECT_GE(seen, 1'000'000u);
}

TEST(TestDriverApp, AnApplicationWithoutPipelinesOrTwoFramesOfOneTopicAreRefused) {
  Application empty(embedded_config("driver-empty"));
  EXPECT_THROW(TestDriver{empty}, InvalidOperation);

  // Two standalone pipelines of one topic name are two graphs: which one a record goes to
  // would be a guess.
  const Topic in = Topic::make("in", {});
  auto a = StreamingDataFrame::standalone(in);
  auto b = StreamingDataFrame::standalone(in);
  EXPECT_THROW((TestDriver{std::vector<StreamingDataFrame>{a, b}}), InvalidOperation);
  // Two frames of one pipeline are that pipeline once.
  auto branch = a[a["x"] > 1];
  TestDriver driver(std::vector<StreamingDataFrame>{a, branch});
  driver.pipe_raw("in", 0, "k", R"({"x":2})", 1);
  EXPECT_EQ(driver.take_rows().size(), 1u);  // the branch's row: its leaf
}

}  // namespace
}  // namespace streamframe
