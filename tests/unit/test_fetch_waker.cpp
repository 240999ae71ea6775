// The consumer keeps librdkafka < 2.4's fetcher busy while a backlog lasts (kafka/fetch_waker.hpp):
// with a local queue far smaller than the input, every message still arrives once and in order,
// the fetcher is woken while polls come back full, and not at all while the consumer is idle.
// On a librdkafka that bounds its own queue-full backoff (fetch.queue.backoff.ms) there is no
// waker, and these check that none runs.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "kafka/config.hpp"
#include "kafka/consumer.hpp"
#include "kafka/fetch_waker.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "support/kafka_test_support.hpp"

namespace streamframe::kafka {
namespace {

using namespace std::chrono_literals;
using testing::unique_name;

TEST(FetchWaker, ASmallQueueStillDeliversEveryMessageOnceAndInOrder) {
  MockCluster cluster(1);
  const std::string topic = unique_name("waker");
  constexpr int kPartitions = 2;
  constexpr int kMessages = 3000;
  ASSERT_TRUE(cluster.create_topic(topic, kPartitions));
  {
    Config pc = default_producer_config();
    pc.emplace_back("bootstrap.servers", cluster.bootstrap_servers());
    Producer producer(pc);
    for (int i = 0; i < kMessages; ++i) {
      producer.produce(topic, i % kPartitions, std::nullopt, std::to_string(i / kPartitions));
    }
    ASSERT_TRUE(producer.flush(10s));
  }

  // A queue of about 100 messages, filled by fetches of about 1 KiB per partition: the
  // fetcher stops many times over the input, and a poll of 50 finds its batch full.
  Config cc = merge(default_consumer_config(), embedded_consumer_overrides());
  cc.emplace_back("bootstrap.servers", cluster.bootstrap_servers());
  cc.emplace_back("group.id", unique_name("waker-group"));
  cc.emplace_back("auto.offset.reset", "earliest");
  set_option(cc, "queued.min.messages", "100");
  set_option(cc, "fetch.message.max.bytes", "1024");
  Consumer consumer(cc);
  consumer.assign({{topic, 0, RD_KAFKA_OFFSET_BEGINNING}, {topic, 1, RD_KAFKA_OFFSET_BEGINNING}});

  std::map<std::int32_t, int> next;  // per partition: the value expected next
  int received = 0;
  std::vector<Message> batch;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (received < kMessages && std::chrono::steady_clock::now() < deadline) {
    // A slower reader than the fetcher: the queue fills up to its limit between polls, so
    // polls of 50 come back full (a backlog) and the fetcher stops on a full queue.
    std::this_thread::sleep_for(10ms);
    batch.clear();
    consumer.poll_batch(batch, 50, 100ms);
    for (const Message& m : batch) {
      ASSERT_TRUE(m.value().has_value());
      EXPECT_EQ(std::string(*m.value()), std::to_string(next[m.partition()]))
          << "partition " << m.partition() << " offset " << m.offset();
      ++next[m.partition()];
      ++received;
    }
  }
  ASSERT_EQ(received, kMessages);
  EXPECT_EQ(next[0], kMessages / kPartitions);
  EXPECT_EQ(next[1], kMessages / kPartitions);

  if (FetchWaker::needed()) {
    EXPECT_GT(consumer.fetch_wakes(), 0u)
        << "the fetcher was never woken although polls came back full";
  } else {
    EXPECT_EQ(consumer.fetch_wakes(), 0u);
  }

  // Idle: nothing more to read, polls come back empty, no requests are made (after the tick
  // that may still answer the last full poll).
  for (int i = 0; i < 3; ++i) {
    batch.clear();
    consumer.poll_batch(batch, 50, 100ms);
    EXPECT_TRUE(batch.empty()) << batch.front().offset();
  }
  const std::uint64_t woken = consumer.fetch_wakes();
  for (int i = 0; i < 5; ++i) {  // several wake intervals
    batch.clear();
    consumer.poll_batch(batch, 50, 100ms);
    EXPECT_TRUE(batch.empty()) << batch.front().offset();
  }
  EXPECT_EQ(consumer.fetch_wakes(), woken);
}

}  // namespace
}  // namespace streamframe::kafka
