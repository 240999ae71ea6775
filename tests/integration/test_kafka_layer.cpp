// Kafka layer against a real broker (STREAMFRAME_TEST_BROKERS, started by scripts/kafka).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kafka/admin.hpp"
#include "kafka/config.hpp"
#include "kafka/consumer.hpp"
#include "kafka/producer.hpp"
#include "streamframe/errors.hpp"
#include "support/broker_fixture.hpp"
#include "support/kafka_test_support.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using streamframe::kafka::Admin;
using streamframe::kafka::Config;
using streamframe::kafka::Consumer;
using streamframe::kafka::DeliveryReport;
using streamframe::kafka::Message;
using streamframe::kafka::Producer;
using streamframe::kafka::RebalanceHandler;
using streamframe::kafka::TopicPartition;
using streamframe::kafka::testing::consume;
using streamframe::kafka::testing::java_partition;
using streamframe::kafka::testing::unique_name;
using Clock = std::chrono::steady_clock;

class KafkaLayer : public streamframe::kafka::testing::RealBrokerTest {
 protected:
  Config producer_config(const Config& extra = {}) const {
    return streamframe::kafka::merge(base_producer_config(), extra);
  }
  Config consumer_config(const std::string& group, const Config& extra = {}) const {
    return streamframe::kafka::merge(base_consumer_config(group), extra);
  }
};

TEST_F(KafkaLayer, AdminCreateDescribeExistsDelete) {
  EXPECT_TRUE(admin_->wait_until_reachable(10s));
  const std::string topic = unique_name("admin");
  ASSERT_TRUE(admin_->create_topic(
      topic, 3, 1, {{"cleanup.policy", "compact"}, {"retention.ms", "123456"}}, 60s));
  EXPECT_FALSE(admin_->create_topic(topic, 3, 1, {}, 60s));  // exists: not an error

  std::optional<int> count;
  const auto deadline = Clock::now() + 30s;  // metadata propagates asynchronously
  while (!(count = admin_->partition_count(topic, 10s)) && Clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(count, 3);
  const auto description = admin_->describe_topic(topic, 10s);
  ASSERT_TRUE(description.has_value());
  EXPECT_EQ(description->replication_factor, 1);
  EXPECT_TRUE(admin_->topic_exists(topic, 10s));
  const auto config = admin_->topic_config(topic, 30s);
  EXPECT_EQ(config.at("cleanup.policy"), "compact");
  EXPECT_EQ(config.at("retention.ms"), "123456");

  const std::string missing = unique_name("missing");
  EXPECT_EQ(admin_->partition_count(missing, 10s), std::nullopt);
  EXPECT_FALSE(admin_->topic_exists(missing, 10s));
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(admin_->topic_exists(missing, 10s));  // describing did not create it
  EXPECT_THROW(admin_->topic_config(missing, 30s), streamframe::KafkaError);

  EXPECT_TRUE(admin_->delete_topic(topic, 30s));
  bool gone = false;
  const auto gone_deadline = Clock::now() + 30s;
  while (!(gone = !admin_->topic_exists(topic, 10s)) && Clock::now() < gone_deadline) {
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(gone);
  EXPECT_FALSE(admin_->delete_topic(missing, 30s));

  try {
    admin_->create_topic(unique_name("bad"), 1, 7, {}, 30s);  // rf > brokers
    FAIL() << "expected KafkaError";
  } catch (const streamframe::KafkaError& e) {
    EXPECT_EQ(e.code(), RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR) << e.what();
  }
}

TEST_F(KafkaLayer, KeyedMessagesLandOnTheJavaMurmur2PartitionAndNullKeysOnOne) {
  constexpr int kPartitions = 5;
  const std::string topic = make_topic("murmur", kPartitions);
  std::map<std::intptr_t, std::int32_t> landed;
  Producer producer(producer_config(), [&](const DeliveryReport& r) {
    ASSERT_EQ(r.error_code, 0) << r.error;
    landed[reinterpret_cast<std::intptr_t>(r.opaque)] = r.partition;
  });
  std::vector<std::string> keys;
  for (int i = 0; i < 200; ++i) keys.push_back("user-" + std::to_string(i * 31));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    producer.produce(topic, -1, keys[i], "v", 0, nullptr, reinterpret_cast<void*>(i + 1));
  }
  for (std::size_t i = 0; i < 50; ++i) {
    producer.produce(topic, -1, std::nullopt, "v", 0, nullptr, reinterpret_cast<void*>(10000 + i));
  }
  ASSERT_TRUE(producer.flush(30s));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(landed[static_cast<std::intptr_t>(i + 1)], java_partition(keys[i], kPartitions))
        << keys[i];
  }
  std::set<std::int32_t> null_partitions;
  for (std::size_t i = 0; i < 50; ++i) null_partitions.insert(landed[10000 + i]);
  EXPECT_EQ(null_partitions.size(), 1u);
}

TEST_F(KafkaLayer, ProduceConsumeCommitAndResumeFromCommittedOffset) {
  const std::string topic = make_topic("roundtrip", 3);
  const std::string group = unique_name("group");
  Producer producer(producer_config());
  // A null header value stays null and an empty one empty, through a real broker.
  const streamframe::Headers headers{{"h", "1"}, {"null", std::nullopt}, {"empty", ""}, {"h", "2"}};
  for (int i = 0; i < 2000; ++i) {
    producer.produce(topic, -1, "key-" + std::to_string(i % 40), "value-" + std::to_string(i),
                     1700000000000 + i, i == 0 ? &headers : nullptr);
  }
  ASSERT_TRUE(producer.flush(30s));
  EXPECT_EQ(producer.delivered(), 2000u);

  std::map<std::int32_t, std::int64_t> next_offset;
  {
    Consumer consumer(consumer_config(group));
    consumer.subscribe({topic});
    auto got = consume(consumer, 2000, 60s);
    ASSERT_EQ(got.size(), 2000u);
    std::set<std::string> values;
    for (const Message& m : got) {
      values.emplace(*m.value());
      const auto key = m.key();
      ASSERT_TRUE(key.has_value());
      EXPECT_EQ(m.partition(), java_partition(*key, 3));
      if (*m.value() == "value-0") {
        EXPECT_EQ(m.headers(), headers);
        EXPECT_EQ(m.timestamp(), 1700000000000);
      }
      next_offset[m.partition()] = std::max(next_offset[m.partition()], m.offset() + 1);
    }
    EXPECT_EQ(values.size(), 2000u);
    std::vector<TopicPartition> offsets;
    for (const auto& [p, o] : next_offset) offsets.push_back({topic, p, o});
    consumer.commit(offsets);
    EXPECT_EQ(consumer.committed(offsets, 10s), offsets);
    const auto [low, high] = consumer.query_watermarks(topic, 0, 10s);
    EXPECT_EQ(low, 0);
    EXPECT_EQ(high, next_offset[0]);
  }

  for (int i = 0; i < 300; ++i) producer.produce(topic, -1, "k" + std::to_string(i), "second");
  ASSERT_TRUE(producer.flush(30s));

  Consumer consumer(consumer_config(group));
  consumer.subscribe({topic});
  auto got = consume(consumer, 300, 60s);
  ASSERT_EQ(got.size(), 300u);
  std::map<std::int32_t, std::int64_t> first;
  for (const Message& m : got) {
    EXPECT_EQ(m.value(), "second");
    if (!first.count(m.partition())) first[m.partition()] = m.offset();
  }
  for (const auto& [p, o] : first) EXPECT_EQ(o, next_offset[p]) << "partition " << p;
  EXPECT_TRUE(consume(consumer, 1, 1s).empty());
}

TEST_F(KafkaLayer, PauseResumeAndSeek) {
  const std::string topic = make_topic("pause", 2);
  Producer producer(producer_config());
  Consumer consumer(consumer_config(unique_name("group")));
  consumer.subscribe({topic});
  std::vector<Message> batch;
  const auto deadline = Clock::now() + 60s;
  while (consumer.assignment().size() < 2 && Clock::now() < deadline) {
    consumer.poll_batch(batch, 100, 100ms);
  }
  ASSERT_EQ(consumer.assignment().size(), 2u);
  consumer.pause({{topic, 0}});
  for (int i = 0; i < 40; ++i) producer.produce(topic, i % 2, "k", std::to_string(i));
  ASSERT_TRUE(producer.flush(30s));

  auto got = consume(consumer, 40, 3s);
  EXPECT_EQ(got.size(), 20u);
  for (const Message& m : got) EXPECT_EQ(m.partition(), 1);
  consumer.resume({{topic, 0}});
  got = consume(consumer, 20, 30s);
  ASSERT_EQ(got.size(), 20u);
  for (const Message& m : got) EXPECT_EQ(m.partition(), 0);
  EXPECT_EQ(consumer.get_watermarks(topic, 0).second, 20);

  consumer.seek({topic, 0, 15}, 10s);
  got = consume(consumer, 5, 30s);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got.front().offset(), 15);
  EXPECT_EQ(consumer.position({{topic, 0}}), (std::vector<TopicPartition>{{topic, 0, 20}}));
}

// read_batch (the restorer's reader: a static assignment, one batch call per read) returns
// every record of an assigned partition once and in order, reports the partition's end, does
// not wait for a full batch when fewer records are there, stops at an unassign, and refuses
// a subscribed consumer.
TEST_F(KafkaLayer, ReadBatchOfAStaticAssignment) {
  const std::string topic = make_topic("readbatch", 2);
  Producer producer(producer_config());
  for (int i = 0; i < 2500; ++i) producer.produce(topic, 0, "k", std::to_string(i));
  for (int i = 0; i < 10; ++i) producer.produce(topic, 1, "k", "other");
  ASSERT_TRUE(producer.flush(30s));

  Consumer consumer(consumer_config(
      unique_name("group"), {{"enable.partition.eof", "true"}, {"auto.offset.reset", "earliest"}}));
  consumer.assign({{topic, 0, 100}});
  std::vector<Message> got;
  bool ended = false;
  int calls = 0;
  const auto deadline = Clock::now() + 60s;
  while (!ended && Clock::now() < deadline) {
    std::vector<Message> batch;
    const auto started = Clock::now();
    const std::size_t n = consumer.read_batch(batch, 1000, 2s);
    ++calls;
    ASSERT_EQ(n, batch.size());
    ASSERT_LE(n, 1000u);
    // Only what is there: a short batch does not sit out the timeout.
    if (n > 0 && n < 1000) EXPECT_LT(Clock::now() - started, 1500ms);
    for (Message& m : batch) {
      m.throw_if_error();
      if (m.end_of_partition()) {
        EXPECT_EQ(m.offset(), 2500);
        ended = true;
        continue;
      }
      got.push_back(std::move(m));
    }
  }
  ASSERT_TRUE(ended);
  EXPECT_GE(calls, 3);  // 2,400 records in batches of at most 1,000
  ASSERT_EQ(got.size(), 2400u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].partition(), 0);
    EXPECT_EQ(got[i].offset(), static_cast<std::int64_t>(100 + i));
    EXPECT_EQ(got[i].value(), std::to_string(100 + i));
  }

  // Another partition after an unassign: nothing of the first comes back.
  consumer.assign({});
  consumer.assign({{topic, 1, 0}});
  std::vector<Message> second;
  ended = false;
  while (!ended && Clock::now() < deadline) {
    std::vector<Message> batch;
    consumer.read_batch(batch, 1000, 2s);
    for (Message& m : batch) {
      m.throw_if_error();
      if (m.end_of_partition()) {
        ended = m.partition() == 1;
        continue;
      }
      second.push_back(std::move(m));
    }
  }
  ASSERT_EQ(second.size(), 10u);
  for (const Message& m : second) EXPECT_EQ(m.value(), "other");

  Consumer subscribed(consumer_config(unique_name("group")));
  subscribed.subscribe({topic});
  std::vector<Message> none;
  EXPECT_THROW(subscribed.read_batch(none, 10, 10ms), streamframe::InvalidOperation);
}

TEST_F(KafkaLayer, RebalanceRevokesBeforeReassigningAndDropsRevokedMessages) {
  constexpr int kPartitions = 4;
  const std::string topic = make_topic("rebalance", kPartitions);
  const std::string group = unique_name("group");
  Producer producer(producer_config());
  auto produce_some = [&] {
    for (int i = 0; i < 200; ++i) producer.produce(topic, i % kPartitions, "k", "v");
    producer.poll(0ms);
  };
  std::set<std::int32_t> a_owned;
  std::vector<std::string> a_events;
  Consumer* a_self = nullptr;
  RebalanceHandler handler;
  handler.on_assign = [&](const std::vector<TopicPartition>& tps) {
    for (const auto& tp : tps) a_owned.insert(tp.partition);
    a_events.push_back("assign " + std::to_string(tps.size()));
  };
  handler.on_revoke = [&](const std::vector<TopicPartition>& tps) {
    EXPECT_EQ(a_self->assignment().size(), tps.size());  // still assigned while revoking
    for (const auto& tp : tps) a_owned.erase(tp.partition);
    a_events.push_back("revoke " + std::to_string(tps.size()));
  };
  Consumer a(consumer_config(group), handler);
  a_self = &a;
  a.subscribe({topic});
  std::vector<Message> batch;
  int violations = 0;
  auto poll_a = [&] {
    batch.clear();
    a.poll_batch(batch, 500, 20ms);
    for (const Message& m : batch) {
      if (!m.end_of_partition() && !a_owned.count(m.partition())) ++violations;
    }
  };
  auto deadline = Clock::now() + 60s;
  while (a_owned.size() < kPartitions && Clock::now() < deadline) {
    produce_some();
    poll_a();
  }
  ASSERT_EQ(a_owned.size(), static_cast<std::size_t>(kPartitions));

  Consumer b(consumer_config(group));
  b.subscribe({topic});
  std::vector<Message> b_batch;
  deadline = Clock::now() + 60s;
  while ((a_owned.size() != kPartitions / 2 || b.assignment().size() != kPartitions / 2) &&
         Clock::now() < deadline) {
    produce_some();
    poll_a();
    b_batch.clear();
    b.poll_batch(b_batch, 500, 20ms);
  }
  ASSERT_EQ(a_owned.size(), static_cast<std::size_t>(kPartitions / 2));
  ASSERT_GE(a_events.size(), 3u);
  EXPECT_EQ(a_events[1], "revoke 4");
  EXPECT_EQ(a_events[2], "assign 2");
  for (int i = 0; i < 20; ++i) {
    produce_some();
    poll_a();
  }
  EXPECT_EQ(violations, 0);
}

TEST_F(KafkaLayer, ThroughputProduceThenConsume) {
  const std::string topic = make_topic("tput", 8);
  constexpr int kMessages = 500000;
  const std::string value(100, 'x');
  Producer producer(producer_config());
  auto t0 = Clock::now();
  for (int i = 0; i < kMessages; ++i) {
    producer.produce(topic, -1, "key-" + std::to_string(i % 10000), value);
    if ((i & 1023) == 0) producer.poll(0ms);
  }
  ASSERT_TRUE(producer.flush(120s));
  const double produce_s = std::chrono::duration<double>(Clock::now() - t0).count();

  Consumer consumer(consumer_config(unique_name("group")));
  consumer.subscribe({topic});
  std::vector<Message> batch;
  std::size_t got = 0;
  const auto join_deadline = Clock::now() + 60s;
  while (got == 0 && Clock::now() < join_deadline) {
    batch.clear();
    got += consumer.poll_batch(batch, 10000, 100ms);
  }
  t0 = Clock::now();
  const auto deadline = t0 + 120s;
  while (got < static_cast<std::size_t>(kMessages) && Clock::now() < deadline) {
    batch.clear();
    got += consumer.poll_batch(batch, 10000, 100ms);
  }
  const double consume_s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(got, static_cast<std::size_t>(kMessages));
  std::cout << "[ info ] broker: produce " << static_cast<long>(kMessages / produce_s)
            << " msg/s, consume " << static_cast<long>(kMessages / consume_s) << " msg/s ("
            << kMessages << " x " << value.size() << " B, idempotent, acks=all)\n";
}

}  // namespace
