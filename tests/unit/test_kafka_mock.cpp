// Kafka layer against librdkafka's in-process mock cluster (no real broker).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kafka/admin.hpp"
#include "kafka/config.hpp"
#include "kafka/consumer.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "streamframe/errors.hpp"
#include "support/kafka_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using streamframe::kafka::Admin;
using streamframe::kafka::Config;
using streamframe::kafka::Consumer;
using streamframe::kafka::DeliveryReport;
using streamframe::kafka::Message;
using streamframe::kafka::MockCluster;
using streamframe::kafka::Producer;
using streamframe::kafka::RebalanceHandler;
using streamframe::kafka::TopicPartition;
using Clock = std::chrono::steady_clock;
using streamframe::kafka::testing::consume;
using streamframe::kafka::testing::java_murmur2;
using streamframe::kafka::testing::java_partition;
using streamframe::kafka::testing::unique_name;

class KafkaMock : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new MockCluster(1); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  static Config producer_config(const Config& extra = {}) {
    Config c = streamframe::kafka::default_producer_config();
    c.emplace_back("bootstrap.servers", cluster_->bootstrap_servers());
    return streamframe::kafka::merge(c, extra);
  }

  static Config consumer_config(const std::string& group, const Config& extra = {}) {
    Config c = streamframe::kafka::merge(streamframe::kafka::default_consumer_config(),
                                         streamframe::kafka::embedded_consumer_overrides());
    c.emplace_back("bootstrap.servers", cluster_->bootstrap_servers());
    c.emplace_back("group.id", group);
    c.emplace_back("auto.offset.reset", "earliest");
    return streamframe::kafka::merge(c, extra);
  }

  static MockCluster* cluster_;
};

MockCluster* KafkaMock::cluster_ = nullptr;

// ---- configuration -----------------------------------------------------------------------

TEST(KafkaConfig, BadKeyOrValueThrowsConfigErrorNamingTheKey) {
  try {
    streamframe::kafka::make_conf({{"no.such.setting", "1"}});
    FAIL() << "expected ConfigError";
  } catch (const streamframe::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.setting"), std::string::npos) << e.what();
  }
  try {
    streamframe::kafka::make_conf({{"enable.idempotence", "maybe"}});
    FAIL() << "expected ConfigError";
  } catch (const streamframe::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("enable.idempotence"), std::string::npos) << e.what();
  }
}

TEST(KafkaConfig, DefaultsFollowSemantics) {
  using streamframe::kafka::get_option;
  const Config consumer = streamframe::kafka::default_consumer_config();
  const Config producer = streamframe::kafka::default_producer_config();
  EXPECT_NO_THROW(streamframe::kafka::make_conf(consumer));
  EXPECT_NO_THROW(streamframe::kafka::make_conf(producer));
  EXPECT_EQ(get_option(consumer, "enable.auto.commit"), "false");
  EXPECT_EQ(get_option(consumer, "enable.auto.offset.store"), "false");
  EXPECT_EQ(get_option(consumer, "partition.assignment.strategy"), "range");
  EXPECT_EQ(get_option(consumer, "isolation.level"), "read_committed");
  EXPECT_EQ(get_option(consumer, "max.poll.interval.ms"), "300000");
  EXPECT_EQ(get_option(consumer, "fetch.queue.backoff.ms").has_value(),
            streamframe::kafka::option_supported("fetch.queue.backoff.ms"));
  EXPECT_EQ(get_option(producer, "partitioner"), "murmur2");
  EXPECT_EQ(get_option(producer, "enable.idempotence"), "true");
  EXPECT_TRUE(streamframe::kafka::option_supported("queued.min.messages"));
  EXPECT_FALSE(streamframe::kafka::option_supported("no.such.setting"));
}

TEST(KafkaConfig, SetOptionReplacesEveryEntryOfAKey) {
  Config c{{"a", "1"}, {"b", "2"}, {"a", "3"}};
  streamframe::kafka::set_option(c, "a", "9");
  EXPECT_EQ(c, (Config{{"a", "9"}, {"b", "2"}}));
  streamframe::kafka::set_option(c, "c", "4");
  EXPECT_EQ(streamframe::kafka::get_option(c, "c"), "4");
}

TEST(KafkaMurmur2, ReferenceMatchesJavaClientVectors) {
  // Apache Kafka clients UtilsTest.testMurmur2.
  EXPECT_EQ(java_murmur2("21"), -973932308);
  EXPECT_EQ(java_murmur2("foobar"), -790332482);
  EXPECT_EQ(java_murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(java_murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(java_murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(java_murmur2("abc"), 479470107);
}

// ---- producer ----------------------------------------------------------------------------

TEST_F(KafkaMock, KeyedMessagesLandOnTheJavaMurmur2Partition) {
  const std::string topic = unique_name("murmur");
  constexpr int kPartitions = 7;
  ASSERT_TRUE(cluster_->create_topic(topic, kPartitions));

  std::map<std::intptr_t, std::int32_t> landed;  // message index -> partition
  Producer producer(producer_config(), [&](const DeliveryReport& r) {
    ASSERT_EQ(r.error_code, 0) << r.error;
    landed[reinterpret_cast<std::intptr_t>(r.opaque)] = r.partition;
  });
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) keys.push_back("key-" + std::to_string(i * 7919));
  keys.push_back("");  // an empty (not null) key is hashed too
  for (std::size_t i = 0; i < keys.size(); ++i) {
    producer.produce(topic, -1, keys[i], "v", 0, nullptr, reinterpret_cast<void*>(i + 1));
  }
  ASSERT_TRUE(producer.flush(10s));
  ASSERT_EQ(landed.size(), keys.size());
  std::set<std::int32_t> used;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::int32_t partition = landed[static_cast<std::intptr_t>(i + 1)];
    EXPECT_EQ(partition, java_partition(keys[i], kPartitions)) << "key '" << keys[i] << "'";
    used.insert(partition);
  }
  EXPECT_EQ(used.size(), static_cast<std::size_t>(kPartitions));
  EXPECT_EQ(producer.delivered(), keys.size());
  EXPECT_EQ(producer.failed(), 0u);
}

TEST_F(KafkaMock, NullKeysLandOnOneFixedPartition) {
  const std::string topic = unique_name("nullkey");
  ASSERT_TRUE(cluster_->create_topic(topic, 6));
  std::set<std::int32_t> partitions;
  for (int instance = 0; instance < 2; ++instance) {  // fixed across producer instances too
    Producer producer(producer_config(), [&](const DeliveryReport& r) {
      ASSERT_EQ(r.error_code, 0) << r.error;
      partitions.insert(r.partition);
    });
    for (int i = 0; i < 100; ++i) {
      producer.produce(topic, -1, std::nullopt, "v" + std::to_string(i));
      if (i % 10 == 0) std::this_thread::sleep_for(2ms);  // spans several batches / lingers
    }
    ASSERT_TRUE(producer.flush(10s));
  }
  EXPECT_EQ(partitions.size(), 1u);
}

TEST_F(KafkaMock, QueueFullIsRetriedByPollingThenFailsWithQueueFull) {
  const std::string topic = unique_name("qfull");
  ASSERT_TRUE(cluster_->create_topic(topic, 1));
  const Config tiny_queue = producer_config({{"queue.buffering.max.messages", "5"}});

  // Retry path: far more messages than the queue holds; produce() waits for room.
  {
    Producer producer(tiny_queue);
    for (int i = 0; i < 500; ++i) producer.produce(topic, 0, "k", "value");
    ASSERT_TRUE(producer.flush(10s));
    EXPECT_EQ(producer.delivered(), 500u);
  }

  // Exhausted path: the broker is down, nothing is delivered, the queue stays full.
  rd_kafka_mock_broker_set_down(cluster_->handle(), 1);
  Producer producer(tiny_queue, {}, streamframe::kafka::QueueFullPolicy{300ms, 3});
  const auto start = Clock::now();
  int enqueued = 0;
  try {
    for (; enqueued < 100; ++enqueued) producer.produce(topic, 0, "k", "value");
    FAIL() << "expected QUEUE_FULL";
  } catch (const streamframe::KafkaError& e) {
    EXPECT_EQ(e.code(), RD_KAFKA_RESP_ERR__QUEUE_FULL) << e.what();
    EXPECT_TRUE(e.retriable());
    EXPECT_NE(std::string(e.what()).find(topic), std::string::npos) << e.what();
  }
  EXPECT_EQ(enqueued, 5);
  EXPECT_LT(Clock::now() - start, 2s);
  rd_kafka_mock_broker_set_up(cluster_->handle(), 1);
  EXPECT_TRUE(producer.flush(20s));
  EXPECT_EQ(producer.delivered(), 5u);
}

TEST_F(KafkaMock, DeliveryHandlerExceptionIsRethrownFromFlush) {
  const std::string topic = unique_name("drthrow");
  ASSERT_TRUE(cluster_->create_topic(topic, 1));
  Producer producer(producer_config(),
                    [](const DeliveryReport&) { throw std::runtime_error("boom"); });
  producer.produce(topic, 0, "k", "v");
  EXPECT_THROW(producer.flush(10s), std::runtime_error);
  EXPECT_EQ(producer.delivered(), 1u);
}

TEST_F(KafkaMock, FatalProducerErrorSurfacesAsFatalKafkaError) {
  const std::string topic = unique_name("fatal");
  ASSERT_TRUE(cluster_->create_topic(topic, 1));
  Producer producer(producer_config());
  producer.produce(topic, 0, "k", "v");
  ASSERT_TRUE(producer.flush(10s));
  ASSERT_EQ(
      rd_kafka_test_fatal_error(producer.handle(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                "injected by the test"),
      RD_KAFKA_RESP_ERR_NO_ERROR);
  try {
    producer.poll(100ms);
    producer.produce(topic, 0, "k", "v");
    FAIL() << "expected a fatal KafkaError";
  } catch (const streamframe::KafkaError& e) {
    EXPECT_TRUE(e.fatal()) << e.what();
    EXPECT_EQ(e.code(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER) << e.what();
    EXPECT_NE(std::string(e.what()).find("injected by the test"), std::string::npos) << e.what();
  }
}

// ---- consumer ----------------------------------------------------------------------------

TEST_F(KafkaMock, ProduceConsumeCommitAndResumeFromCommittedOffset) {
  const std::string topic = unique_name("roundtrip");
  const std::string group = unique_name("group");
  constexpr int kPartitions = 3;
  constexpr int kFirst = 3000;
  constexpr int kSecond = 500;
  ASSERT_TRUE(cluster_->create_topic(topic, kPartitions));

  Producer producer(producer_config());
  // A null value and an empty one are different things to Kafka: both come back as they went.
  const streamframe::Headers headers{{"h1", "a"},
                                     {"null", std::nullopt},
                                     {"empty", ""},
                                     {"h1", "b"},
                                     {"bin", std::string("\0\1", 2)}};
  // The reusing form overwrites what the buffer held before, a null over a value included.
  streamframe::Headers reused{{"stale", "s"},      {"null", "was a value"},
                              {"x", std::nullopt}, {"y", "y"},
                              {"z", "z"},          {"extra", "e"}};
  for (int i = 0; i < kFirst; ++i) {
    const std::string key = "key-" + std::to_string(i % 50);
    if (i == 0) {
      producer.produce(topic, -1, key, std::nullopt, 1234567, &headers);  // tombstone
    } else if (i == 1) {
      producer.produce(topic, 2, std::nullopt, "null-key");
    } else {
      producer.produce(topic, -1, key, "value-" + std::to_string(i));
    }
  }
  ASSERT_TRUE(producer.flush(10s));

  std::vector<std::vector<TopicPartition>> assigned;
  RebalanceHandler handler;
  handler.on_assign = [&](const std::vector<TopicPartition>& tps) { assigned.push_back(tps); };
  std::map<std::int32_t, std::int64_t> next_offset;
  {
    Consumer consumer(consumer_config(group), handler);
    EXPECT_EQ(consumer.group_id(), group);
    consumer.subscribe({topic});
    const auto t0 = Clock::now();
    auto got = consume(consumer, kFirst, 30s);
    std::cout << "[ info ] first consume incl. group join: "
              << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
              << " ms\n";
    ASSERT_EQ(got.size(), static_cast<std::size_t>(kFirst));
    ASSERT_EQ(assigned.size(), 1u);
    EXPECT_EQ(assigned[0].size(), static_cast<std::size_t>(kPartitions));
    EXPECT_FALSE(consumer.memberid().empty());

    std::set<std::string> values;
    for (const Message& m : got) {
      EXPECT_EQ(m.topic(), topic);
      auto key = m.key();
      auto value = m.value();
      if (!value) {  // the tombstone
        ASSERT_TRUE(key.has_value());
        EXPECT_EQ(*key, "key-0");
        EXPECT_EQ(m.headers(), headers);
        m.headers(reused);
        EXPECT_EQ(reused, headers);
        EXPECT_EQ(m.timestamp(), 1234567);
        EXPECT_EQ(m.timestamp_type(), streamframe::TimestampType::create_time);
        // The last of repeated names; a null value reads as none.
        EXPECT_EQ(m.last_header("h1"), std::optional<std::string_view>("b"));
        EXPECT_EQ(m.last_header("empty"), std::optional<std::string_view>(""));
        EXPECT_EQ(m.last_header("null"), std::nullopt);
        EXPECT_EQ(m.last_header("absent"), std::nullopt);
      } else if (!key) {
        EXPECT_EQ(*value, "null-key");
        EXPECT_EQ(m.partition(), 2);
      } else {
        EXPECT_EQ(m.partition(), java_partition(*key, kPartitions));
        EXPECT_TRUE(m.headers().empty());
        streamframe::Headers none{{"left", "over"}};
        m.headers(none);
        EXPECT_TRUE(none.empty());
        values.emplace(*value);
      }
      next_offset[m.partition()] = std::max(next_offset[m.partition()], m.offset() + 1);
    }
    EXPECT_EQ(values.size(), static_cast<std::size_t>(kFirst - 2));

    std::vector<TopicPartition> offsets;
    for (const auto& [partition, offset] : next_offset)
      offsets.push_back({topic, partition, offset});
    consumer.commit(offsets);
    EXPECT_EQ(consumer.committed(offsets, 5s), offsets);
    EXPECT_EQ(consumer.position(offsets), offsets);
    consumer.close();
    EXPECT_TRUE(consumer.closed());
    EXPECT_NO_THROW(consumer.close());  // idempotent
    EXPECT_THROW(consumer.assignment(), streamframe::InvalidOperation);
  }

  for (int i = 0; i < kSecond; ++i) {
    producer.produce(topic, -1, "second-" + std::to_string(i), "second");
  }
  ASSERT_TRUE(producer.flush(10s));

  Consumer consumer(consumer_config(group));
  consumer.subscribe({topic});
  auto got = consume(consumer, kSecond, 15s);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kSecond));
  EXPECT_TRUE(consume(consumer, 1, 500ms).empty());  // nothing before the committed offsets
  std::map<std::int32_t, std::int64_t> first_offset;
  for (const Message& m : got) {
    EXPECT_EQ(m.value(), "second");
    if (!first_offset.count(m.partition())) first_offset[m.partition()] = m.offset();
  }
  for (const auto& [partition, offset] : first_offset) {
    EXPECT_EQ(offset, next_offset[partition]) << "partition " << partition;
  }
}

// A detached message (kept in a buffer of time-aligned consumption) owns copies of its bytes
// and headers: every field reads as before, after moves, and after the consumer that returned
// it is gone (ASan would see a view left pointing into librdkafka's memory).
TEST_F(KafkaMock, DetachedMessagesKeepEverythingAndOutliveTheirConsumer) {
  const std::string topic = unique_name("detach");
  ASSERT_TRUE(cluster_->create_topic(topic, 1));
  const streamframe::Headers headers{{"h1", "a"},
                                     {"null", std::nullopt},
                                     {"empty", ""},
                                     {"h1", "b"},
                                     {"bin", std::string("\0\1", 2)}};
  {
    Producer producer(producer_config());
    producer.produce(topic, 0, "k0", "v0", 1000, &headers);
    producer.produce(topic, 0, "k1", std::nullopt, 1001);  // tombstone
    producer.produce(topic, 0, std::nullopt, "no key", 1002);
    producer.produce(topic, 0, "", "", 1003);  // empty, not null
    ASSERT_TRUE(producer.flush(10s));
  }
  std::vector<Message> kept;
  {
    Consumer consumer(consumer_config(unique_name("group")));
    consumer.subscribe({topic});
    auto got = consume(consumer, 4, 30s);
    ASSERT_EQ(got.size(), 4u);
    for (Message& m : got) {
      EXPECT_TRUE(m.detach());
      EXPECT_FALSE(m.detach());  // once
      kept.push_back(std::move(m));
    }
    consumer.close();
  }
  kept.shrink_to_fit();  // moves them once more
  ASSERT_EQ(kept.size(), 4u);
  for (std::size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i].topic(), topic);
    EXPECT_EQ(kept[i].partition(), 0);
    EXPECT_EQ(kept[i].offset(), static_cast<std::int64_t>(i));
    EXPECT_EQ(kept[i].timestamp(), 1000 + static_cast<std::int64_t>(i));
  }
  EXPECT_EQ(kept[0].key(), "k0");
  EXPECT_EQ(kept[0].value(), "v0");
  EXPECT_EQ(kept[0].size(), 2u);
  EXPECT_EQ(kept[0].headers(), headers);
  streamframe::Headers reused{{"stale", "s"}};
  kept[0].headers(reused);
  EXPECT_EQ(reused, headers);
  EXPECT_EQ(kept[0].last_header("h1"), std::optional<std::string_view>("b"));
  EXPECT_EQ(kept[0].last_header("empty"), std::optional<std::string_view>(""));
  EXPECT_EQ(kept[0].last_header("null"), std::nullopt);
  EXPECT_EQ(kept[0].last_header("absent"), std::nullopt);
  EXPECT_EQ(kept[1].key(), "k1");
  EXPECT_EQ(kept[1].value(), std::nullopt);
  EXPECT_TRUE(kept[1].headers().empty());
  EXPECT_EQ(kept[2].key(), std::nullopt);
  EXPECT_EQ(kept[2].value(), "no key");
  EXPECT_EQ(kept[3].key(), std::optional<std::string_view>(""));
  EXPECT_EQ(kept[3].value(), std::optional<std::string_view>(""));
}

TEST_F(KafkaMock, RevokeHandlerRunsBeforeUnassignAndMayCommit) {
  const std::string topic = unique_name("revoke");
  const std::string group = unique_name("group");
  ASSERT_TRUE(cluster_->create_topic(topic, 2));
  Producer producer(producer_config());
  for (int i = 0; i < 20; ++i) producer.produce(topic, i % 2, "k", "v");
  ASSERT_TRUE(producer.flush(10s));

  Consumer* self = nullptr;
  std::vector<TopicPartition> assignment_in_assign;
  std::vector<TopicPartition> assignment_in_revoke;
  std::vector<TopicPartition> revoked;
  std::vector<Message> got;
  RebalanceHandler handler;
  handler.on_assign = [&](const std::vector<TopicPartition>&) {
    assignment_in_assign = self->assignment();
  };
  handler.on_revoke = [&](const std::vector<TopicPartition>& tps) {
    revoked = tps;
    assignment_in_revoke = self->assignment();
    std::vector<TopicPartition> offsets;
    for (const Message& m : got) offsets.push_back({topic, m.partition(), m.offset() + 1});
    self->commit(offsets);  // checkpoint from inside the revoke
  };
  Consumer consumer(consumer_config(group), handler);
  self = &consumer;
  consumer.subscribe({topic});
  got = consume(consumer, 20, 20s);
  ASSERT_EQ(got.size(), 20u);
  EXPECT_EQ(assignment_in_assign.size(), 2u);
  consumer.close();  // leaving the group revokes
  EXPECT_EQ(revoked.size(), 2u);
  EXPECT_EQ(assignment_in_revoke.size(), 2u);

  Consumer again(consumer_config(group));
  const auto committed = again.committed({{topic, 0}, {topic, 1}}, 5s);
  EXPECT_EQ(committed, (std::vector<TopicPartition>{{topic, 0, 10}, {topic, 1, 10}}));
}

TEST_F(KafkaMock, HandlerExceptionIsRethrownFromPollBatchAfterAssigning) {
  const std::string topic = unique_name("assignthrow");
  ASSERT_TRUE(cluster_->create_topic(topic, 1));
  RebalanceHandler handler;
  handler.on_assign = [](const std::vector<TopicPartition>&) {
    throw std::runtime_error("on_assign failed");
  };
  Consumer consumer(consumer_config(unique_name("group")), handler);
  consumer.subscribe({topic});
  std::vector<Message> batch;
  bool thrown = false;
  const auto deadline = Clock::now() + 20s;
  while (!thrown && Clock::now() < deadline) {
    try {
      consumer.poll_batch(batch, 100, 100ms);
    } catch (const std::runtime_error& e) {
      thrown = std::string(e.what()) == "on_assign failed";
    }
  }
  EXPECT_TRUE(thrown);
  EXPECT_EQ(consumer.assignment().size(), 1u);  // the protocol step still happened
}

TEST_F(KafkaMock, PauseAndResume) {
  const std::string topic = unique_name("pause");
  ASSERT_TRUE(cluster_->create_topic(topic, 2));
  Producer producer(producer_config());
  Consumer consumer(consumer_config(unique_name("group")));
  consumer.subscribe({topic});
  // Join the group first (nothing to read yet).
  std::vector<Message> batch;
  const auto deadline = Clock::now() + 20s;
  while (consumer.assignment().size() < 2 && Clock::now() < deadline) {
    consumer.poll_batch(batch, 100, 100ms);
  }
  ASSERT_EQ(consumer.assignment().size(), 2u);
  consumer.pause({{topic, 0}});

  for (int i = 0; i < 50; ++i) producer.produce(topic, i % 2, "k", std::to_string(i));
  ASSERT_TRUE(producer.flush(10s));

  auto got = consume(consumer, 50, 1500ms);
  EXPECT_EQ(got.size(), 25u);
  for (const Message& m : got) EXPECT_EQ(m.partition(), 1);

  consumer.resume({{topic, 0}});
  got = consume(consumer, 25, 10s);
  ASSERT_EQ(got.size(), 25u);
  for (const Message& m : got) EXPECT_EQ(m.partition(), 0);
}

TEST_F(KafkaMock, PauseResumeMidStreamNeitherSkipsNorRepeats) {
  // Pausing drops what librdkafka prefetched for the partition; resuming must continue
  // right after the last message returned (2.0.x had offset skips in its batch APIs), and
  // promptly (Consumer::resume wakes the fetcher, which 2.0.2 alone leaves idle up to 1 s).
  const std::string topic = unique_name("pausegap");
  ASSERT_TRUE(cluster_->create_topic(topic, 1));
  Producer producer(producer_config());
  for (int i = 0; i < 120; ++i) producer.produce(topic, 0, "k", std::to_string(i));
  ASSERT_TRUE(producer.flush(10s));

  Consumer consumer(consumer_config(unique_name("group")));
  consumer.subscribe({topic});
  std::vector<std::int64_t> offsets;
  std::vector<Message> batch;
  const auto deadline = Clock::now() + 30s;
  int round = 0;
  Clock::time_point first_message{};
  while (offsets.size() < 120 && Clock::now() < deadline) {
    batch.clear();
    consumer.poll_batch(batch, 7, 100ms);  // small batches: most of the data is prefetched
    for (const Message& m : batch) {
      if (!m.end_of_partition()) offsets.push_back(m.offset());
    }
    if (first_message == Clock::time_point{} && !offsets.empty()) first_message = Clock::now();
    if (!batch.empty() && ++round % 3 == 0) {
      consumer.pause({{topic, 0}});
      batch.clear();
      consumer.poll_batch(batch, 100, 5ms);
      EXPECT_TRUE(batch.empty());
      consumer.resume({{topic, 0}});
    }
  }
  ASSERT_EQ(offsets.size(), 120u);
  EXPECT_LT(Clock::now() - first_message, 3s);  // ~6 resumes: well under 1 s each
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    ASSERT_EQ(offsets[i], static_cast<std::int64_t>(i));
  }
}

TEST_F(KafkaMock, WatermarksSeekAndPosition) {
  const std::string topic = unique_name("wm");
  ASSERT_TRUE(cluster_->create_topic(topic, 2));
  Producer producer(producer_config());
  for (int i = 0; i < 10; ++i) producer.produce(topic, 0, "k", std::to_string(i));
  ASSERT_TRUE(producer.flush(10s));

  Consumer consumer(consumer_config(unique_name("group")));
  EXPECT_EQ(consumer.query_watermarks(topic, 0, 5s),
            (std::pair<std::int64_t, std::int64_t>{0, 10}));
  EXPECT_EQ(consumer.query_watermarks(topic, 1, 5s), (std::pair<std::int64_t, std::int64_t>{0, 0}));
  EXPECT_THROW(consumer.query_watermarks(topic, 9, 2s), streamframe::KafkaError);
  // All partitions in one request; offsets given in are ignored (the answer is the log start).
  EXPECT_EQ(consumer.query_low_watermarks({{topic, 0, 7}, {topic, 1, 3}}, 5s),
            (std::vector<TopicPartition>{{topic, 0, 0}, {topic, 1, 0}}));
  EXPECT_TRUE(consumer.query_low_watermarks({}, 5s).empty());
  EXPECT_THROW(consumer.query_low_watermarks({{topic, 0}, {topic, 9}}, 2s),
               streamframe::KafkaError);

  consumer.subscribe({topic});
  auto got = consume(consumer, 10, 20s);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(consumer.get_watermarks(topic, 0).second, 10);
  EXPECT_EQ(consumer.position({{topic, 0}}), (std::vector<TopicPartition>{{topic, 0, 10}}));

  consumer.seek({topic, 0, 4}, 5s);
  got = consume(consumer, 6, 10s);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got.front().offset(), 4);
  EXPECT_EQ(got.back().offset(), 9);
}

TEST_F(KafkaMock, PartitionEofComesBackInBand) {
  const std::string topic = unique_name("eof");
  ASSERT_TRUE(cluster_->create_topic(topic, 2));
  Producer producer(producer_config());
  producer.produce(topic, 0, "k", "v");
  ASSERT_TRUE(producer.flush(10s));

  Consumer consumer(consumer_config(unique_name("group"), {{"enable.partition.eof", "true"}}));
  consumer.subscribe({topic});
  std::set<std::int32_t> eof;
  int good = 0;
  std::vector<Message> batch;
  const auto deadline = Clock::now() + 20s;
  while (eof.size() < 2 && Clock::now() < deadline) {
    batch.clear();
    consumer.poll_batch(batch, 100, 100ms);
    for (const Message& m : batch) {
      if (m.end_of_partition()) {
        eof.insert(m.partition());
        EXPECT_EQ(m.topic(), topic);
        EXPECT_EQ(m.key(), std::nullopt);
        EXPECT_EQ(m.value(), std::nullopt);
      } else if (!m.end_of_partition()) {
        ++good;
      }
    }
  }
  EXPECT_EQ(eof, (std::set<std::int32_t>{0, 1}));
  EXPECT_EQ(good, 1);
}

// In-band errors are classified inside poll_batch: auto.offset.reset=error without a committed
// offset comes back in its place as a fatal KafkaError naming the topic, not as a record.
TEST_F(KafkaMock, AutoOffsetResetErrorIsAFatalErrorInBand) {
  const std::string topic = unique_name("reset-error");
  ASSERT_TRUE(cluster_->create_topic(topic, 1));
  Producer producer(producer_config());
  producer.produce(topic, 0, "k", "v");
  ASSERT_TRUE(producer.flush(10s));

  Consumer consumer(consumer_config(unique_name("group"), {{"auto.offset.reset", "error"}}));
  consumer.subscribe({topic});
  std::vector<Message> batch;
  const auto deadline = Clock::now() + 20s;
  while (batch.empty() && Clock::now() < deadline) consumer.poll_batch(batch, 100, 100ms);
  ASSERT_EQ(batch.size(), 1u);
  const streamframe::KafkaError* error = batch[0].error();
  ASSERT_NE(error, nullptr) << "offset " << batch[0].offset();
  EXPECT_TRUE(error->fatal());
  EXPECT_NE(std::string(error->what()).find(topic), std::string::npos) << error->what();
  EXPECT_EQ(batch[0].value(), std::nullopt);
  EXPECT_THROW(batch[0].throw_if_error(), streamframe::KafkaError);
}

TEST(KafkaConsumer, InstanceLevelErrorsAreCollected) {
  Consumer consumer({{"bootstrap.servers", "127.0.0.1:1"}, {"group.id", unique_name("group")}});
  consumer.subscribe({"anything"});
  std::vector<streamframe::kafka::ClientError> errors;
  std::vector<Message> batch;
  const auto deadline = Clock::now() + 10s;
  while (errors.empty() && Clock::now() < deadline) {
    consumer.poll_batch(batch, 10, 100ms);
    errors = consumer.take_client_errors();
  }
  ASSERT_FALSE(errors.empty());
  EXPECT_TRUE(errors[0].code == RD_KAFKA_RESP_ERR__TRANSPORT ||
              errors[0].code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
      << errors[0].code << " " << errors[0].reason;
  EXPECT_FALSE(errors[0].fatal);
  EXPECT_TRUE(batch.empty());
  const auto start = Clock::now();
  consumer.close();
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST_F(KafkaMock, NoMessageOfARevokedPartitionAfterItsRevoke) {
  const std::string topic = unique_name("rebalance");
  const std::string group = unique_name("group");
  constexpr int kPartitions = 4;
  ASSERT_TRUE(cluster_->create_topic(topic, kPartitions));
  Producer producer(producer_config());
  auto produce_some = [&] {
    for (int i = 0; i < 400; ++i) producer.produce(topic, i % kPartitions, "k", "v");
    producer.poll(0ms);
  };

  // Consumer A's view of its assignment, maintained from its handlers only.
  std::set<std::int32_t> a_owned;
  std::vector<std::string> a_events;
  RebalanceHandler a_handler;
  a_handler.on_assign = [&](const std::vector<TopicPartition>& tps) {
    for (const auto& tp : tps) a_owned.insert(tp.partition);
    a_events.push_back("assign " + std::to_string(tps.size()));
  };
  a_handler.on_revoke = [&](const std::vector<TopicPartition>& tps) {
    for (const auto& tp : tps) a_owned.erase(tp.partition);
    a_events.push_back("revoke " + std::to_string(tps.size()));
  };
  Consumer a(consumer_config(group), a_handler);
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
  auto deadline = Clock::now() + 20s;
  while (a_owned.size() < kPartitions && Clock::now() < deadline) {
    produce_some();
    poll_a();
  }
  ASSERT_EQ(a_owned.size(), static_cast<std::size_t>(kPartitions));

  // B joins: A must revoke everything (eager), then gets half back. Keep data flowing.
  Consumer b(consumer_config(group));
  b.subscribe({topic});
  std::vector<Message> b_batch;
  const auto t0 = Clock::now();
  deadline = Clock::now() + 30s;
  while ((a_owned.size() != kPartitions / 2 || b.assignment().size() != kPartitions / 2) &&
         Clock::now() < deadline) {
    produce_some();
    poll_a();
    b_batch.clear();
    b.poll_batch(b_batch, 500, 20ms);
  }
  std::cout << "[ info ] rebalance with a second member took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
            << " ms\n";
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

// ---- admin, reachability, external clients -----------------------------------------------

TEST_F(KafkaMock, AdminDescribesWithoutAutoCreating) {
  const std::string topic = unique_name("admin");
  ASSERT_TRUE(cluster_->create_topic(topic, 5));
  EXPECT_FALSE(cluster_->create_topic(topic, 5));
  Admin admin({{"bootstrap.servers", cluster_->bootstrap_servers()}});
  EXPECT_TRUE(admin.wait_until_reachable(5s));
  EXPECT_EQ(admin.partition_count(topic, 5s), 5);
  const auto description = admin.describe_topic(topic, 5s);
  ASSERT_TRUE(description.has_value());
  EXPECT_EQ(description->replication_factor, 1);

  const std::string missing = unique_name("missing");
  EXPECT_EQ(admin.partition_count(missing, 5s), std::nullopt);
  EXPECT_FALSE(admin.topic_exists(missing, 5s));
  // Still absent: the metadata requests did not auto-create it (the mock would, with 4).
  EXPECT_TRUE(cluster_->create_topic(missing, 2));
  EXPECT_EQ(admin.partition_count(missing, 5s), 2);
}

TEST_F(KafkaMock, AdminWaitsForATopicThatAppearsLate) {
  Admin admin({{"bootstrap.servers", cluster_->bootstrap_servers()}});
  ASSERT_TRUE(admin.wait_until_reachable(5s));
  const std::string never = unique_name("never");
  const auto start = Clock::now();
  EXPECT_EQ(admin.wait_for_topic(never, 600ms), std::nullopt);
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 3s);

  // A topic that shows up while the wait is on: the wait returns it, not nullopt.
  const std::string late = unique_name("late");
  std::thread creator([&] {
    std::this_thread::sleep_for(300ms);
    cluster_->create_topic(late, 3);
  });
  const auto description = admin.wait_for_topic(late, 10s);
  creator.join();
  ASSERT_TRUE(description.has_value());
  EXPECT_EQ(description->partitions, 3);
}

TEST(KafkaAdmin, UnreachableBrokerReturnsFalseWithinTheTimeout) {
  Admin admin({{"bootstrap.servers", "127.0.0.1:1"}, {"log_level", "0"}});
  const auto start = Clock::now();
  EXPECT_FALSE(admin.wait_until_reachable(800ms));
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 790ms);
  EXPECT_LT(took, 2s);
}

TEST_F(KafkaMock, ExternalKcatCanConnect) {
  if (std::system("command -v kcat >/dev/null 2>&1") != 0) GTEST_SKIP() << "kcat not installed";
  const std::string topic = unique_name("kcat");
  ASSERT_TRUE(cluster_->create_topic(topic, 3));
  const std::string command =
      "kcat -b " + cluster_->bootstrap_servers() + " -L -t " + topic + " -m 5 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  ASSERT_TRUE(pipe);
  std::string output;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe.get())) output.append(buf, n);
  EXPECT_NE(output.find("topic \"" + topic + "\" with 3 partitions"), std::string::npos) << output;
}

// ---- throughput (printed, not asserted beyond completion) ---------------------------------

TEST_F(KafkaMock, ThroughputProduceThenConsume) {
  const std::string topic = unique_name("tput");
  constexpr int kPartitions = 16;
  constexpr int kMessages = 400000;  // ~40 MB: stays under the mock's ~5 MiB per partition
  ASSERT_TRUE(cluster_->create_topic(topic, kPartitions));
  const std::string value(64, 'x');

  Producer producer(producer_config());
  auto t0 = Clock::now();
  for (int i = 0; i < kMessages; ++i) {
    producer.produce(topic, -1, "key-" + std::to_string(i % 10000), value);
    if ((i & 1023) == 0) producer.poll(0ms);
  }
  ASSERT_TRUE(producer.flush(60s));
  const double produce_s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(producer.delivered(), static_cast<std::uint64_t>(kMessages));

  Consumer consumer(consumer_config(unique_name("group")));
  consumer.subscribe({topic});
  std::vector<Message> batch;
  batch.reserve(10000);
  std::size_t got = 0;
  // The clock starts at the first message, so the group join is not counted.
  while (got == 0) {
    batch.clear();
    got += consumer.poll_batch(batch, 10000, 100ms);
  }
  t0 = Clock::now();
  const auto deadline = t0 + 60s;
  while (got < static_cast<std::size_t>(kMessages) && Clock::now() < deadline) {
    batch.clear();
    got += consumer.poll_batch(batch, 10000, 100ms);
  }
  const double consume_s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(got, static_cast<std::size_t>(kMessages));
  std::cout << "[ info ] mock: produce " << static_cast<long>(kMessages / produce_s)
            << " msg/s, consume " << static_cast<long>(kMessages / consume_s) << " msg/s ("
            << kMessages << " x " << value.size() << " B)\n";
}

}  // namespace
