// Public API that had no test, against the real broker: producer_poll_timeout (§1, APP-25).
// Outputs, headers, partitions and committed offsets are read back with raw librdkafka clients
// (test_app_helpers.hpp).
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

using streamframe::test::unique_name;

// ---------------------------------------------------------------------------------------------
// producer_poll_timeout (§1, APP-25)

// A producer_poll_timeout far longer than the test: an idle loop (nothing awaiting a delivery
// report) must not wait for it, and every record is processed and produced in order. (A loop
// that waited the full timeout whenever no event came would hang here until the test times
// out.)
TEST(AppSurface, LongProducerPollTimeoutProcessesEverything) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("ppt-in");
  const std::string out = unique_name("ppt-out");
  const std::string group = unique_name("ppt-grp");
  create_topic(in, 1);
  create_topic(out, 1);
  auto cfg = base_config(group);
  cfg.producer_poll_timeout = std::chrono::minutes(10);
  Application app(cfg);
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < 50; ++i) producer.produce(in, "k", Value::object({{"i", i}}).to_json());
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(app.topic(in));
  sdf["j"] = sdf["i"] + 1;
  sdf.to_topic(app.topic(out));
  app.run({.timeout = 3s, .collect = false});
  const auto messages = read_topic(out);
  ASSERT_EQ(messages.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(Value::from_json(*messages[i].value), Value::object({{"i", i}, {"j", i + 1}}));
  }
  EXPECT_EQ(committed_offset(group, in), 50);
  EXPECT_EQ(app.stats().records_produced, 50u);
}

// With producer_poll_timeout > 0 the loop waits for the delivery report of what a message
// produced before it takes the next message (APP-25: serve producer callbacks, then take the
// next message). Observable: a delivery failure of message 0's output reaches
// on_producer_error before message 1 is processed, although message 1 is in the topic before
// message 0's output is even sent (linger.ms 1000). Message 1 is produced from inside the
// callback for message 0, so it cannot be in message 0's batch. No checkpoint runs in between
// (its flush would serve the report too).
TEST(AppSurface, ProducerPollTimeoutServesDeliveryReportsBeforeTheNextMessage) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("pptdr-in");
  const std::string out = unique_name("pptdr-out");
  const std::string group = unique_name("pptdr-grp");
  create_topic(in, 1);
  create_topic(out, 1, {{"max.message.bytes", "2000"}});
  auto cfg = base_config(group);
  cfg.commit_interval = std::chrono::hours(1);
  cfg.producer_poll_timeout = 30s;
  cfg.producer_extra_config = {{"linger.ms", "1000"}};
  std::vector<std::string> events;
  Application* running = nullptr;
  std::unique_ptr<Producer> feeder;
  cfg.on_message_processed = [&](const std::string&, std::int32_t, std::int64_t offset) {
    events.push_back("processed " + std::to_string(offset));
    if (offset == 0) {
      feeder->produce(in, "k", R"({"i":1})");
      if (!feeder->flush(30s)) events.push_back("feeding message 1 timed out");
    } else {
      running->stop();
    }
  };
  cfg.on_producer_error = [&](const std::exception& e, const ErrorContext&) {
    const auto* ke = dynamic_cast<const KafkaError*>(&e);
    events.push_back(ke != nullptr && ke->code() == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
                         ? "delivery failed"
                         : std::string("unexpected producer error: ") + e.what());
    return ErrorAction::skip;
  };
  Application app(cfg);
  running = &app;
  feeder = std::make_unique<Producer>(app.get_producer());
  feeder->produce(in, "k", R"({"i":0})");
  ASSERT_TRUE(feeder->flush(30s));
  auto sdf = app.dataframe(app.topic(in));
  // Message 0's output is far over the output topic's 2000 bytes: the broker refuses it.
  sdf = sdf.apply([](const Value& v) {
    Value r = v;
    if (v["i"].as_int() == 0) r["pad"] = std::string(10000, 'p');
    return r;
  });
  sdf.to_topic(app.topic(out));
  app.run({.timeout = 60s, .collect = false});
  EXPECT_EQ(events, (std::vector<std::string>{"processed 0", "delivery failed", "processed 1"}));
  EXPECT_EQ(committed_offset(group, in), 2);
  const auto messages = read_topic(out);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].value, R"({"i":1})");
}

}  // namespace
}  // namespace streamframe::apptest
