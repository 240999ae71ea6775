// app.get_consumer() (APP-24) against a real Kafka: a member of the application's consumer
// group that commits only what was stored, so the group's next member reads everything that
// was not (at-least-once); auto-commit on close; what it refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

namespace sft = streamframe::test;

// Polls until `n` messages came or `timeout` passed, then once more for a second: a message
// beyond `n` shows up as an extra element.
std::vector<ConsumedMessage> poll_n(Consumer& consumer, std::size_t n,
                                    std::chrono::seconds timeout) {
  std::vector<ConsumedMessage> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    if (auto m = consumer.poll(500ms)) out.push_back(std::move(*m));
  }
  if (auto m = consumer.poll(1s)) out.push_back(std::move(*m));
  return out;
}

TEST(GetConsumer, CommitsOnlyStoredOffsetsAndTheGroupResumesThere) {
  REQUIRE_TEST_BROKERS();
  const std::string topic = sft::unique_name("gc-in");
  create_topic(topic, 2);
  for (int p = 0; p < 2; ++p) {
    std::vector<RawRecord> records;
    for (int i = 0; i < 5; ++i) {
      const std::string id = std::to_string(p * 5 + i);
      records.push_back({"k" + id,
                         R"({"id":)" + id + "}",
                         1700000000000 + p * 5 + i,
                         {{"h", std::string("v") + id}}});
    }
    produce_raw(topic, records, p);
  }
  const auto config = base_config(sft::unique_name("gc-grp"));
  Application app(config);
  {
    Consumer consumer = app.get_consumer(/*auto_commit_enable=*/false);
    consumer.subscribe({topic});
    const auto messages = poll_n(consumer, 10, 30s);
    ASSERT_EQ(messages.size(), 10u);
    std::map<std::string, ConsumedMessage> by_key;
    for (const auto& m : messages) by_key[m.key.value_or("")] = m;
    const ConsumedMessage& seven = by_key.at("k7");
    EXPECT_EQ(seven.topic, topic);
    EXPECT_EQ(seven.partition, 1);
    EXPECT_EQ(seven.offset, 2);
    EXPECT_EQ(seven.value, std::optional<std::string>(R"({"id":7})"));
    EXPECT_EQ(seven.timestamp, 1700000000007);
    ASSERT_EQ(seven.headers.size(), 1u);
    EXPECT_EQ(seven.headers[0].first, "h");
    EXPECT_EQ(seven.headers[0].second, std::optional<std::string>("v7"));
    EXPECT_EQ(consumer.assignment().size(), 2u);

    // Read is not committed: only what is stored is.
    for (const auto& m : messages) {
      if (m.offset < 3) consumer.store_offsets(m);
    }
    consumer.commit();
    EXPECT_EQ(committed_offset(config.consumer_group, topic, 0), 3);
    EXPECT_EQ(committed_offset(config.consumer_group, topic, 1), 3);
    consumer.commit(by_key.at("k3"));  // partition 0, offset 3
    EXPECT_EQ(committed_offset(config.consumer_group, topic, 0), 4);
    ConsumedMessage elsewhere;  // a partition the topic does not have
    elsewhere.topic = topic;
    elsewhere.partition = 7;
    EXPECT_THROW(consumer.store_offsets(elsewhere), KafkaError);
  }  // closed without auto-commit: nothing more is committed
  EXPECT_EQ(committed_offset(config.consumer_group, topic, 1), 3);

  // The group's next member reads exactly what was not committed: offset 4 of partition 0,
  // offsets 3 and 4 of partition 1; with auto-commit, what it stores is committed at close.
  Consumer consumer = app.get_consumer();
  consumer.subscribe({topic});
  const auto rest = poll_n(consumer, 3, 30s);
  std::vector<std::string> keys;
  for (const auto& m : rest) {
    keys.push_back(m.key.value_or(""));
    consumer.store_offsets(m);
  }
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"k4", "k8", "k9"}));
  consumer.close();
  consumer.close();  // idempotent
  EXPECT_EQ(committed_offset(config.consumer_group, topic, 0), 5);
  EXPECT_EQ(committed_offset(config.consumer_group, topic, 1), 5);
  EXPECT_THROW((void)consumer.poll(10ms), InvalidOperation);
}

}  // namespace
}  // namespace streamframe::apptest
