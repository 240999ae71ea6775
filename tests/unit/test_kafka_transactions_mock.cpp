// Transactional producer API on librdkafka's mock cluster: call sequencing and the mapping
// of librdkafka's transaction errors (flags, fenced) to KafkaError. The mock has no
// read-committed filtering and no real fencing, so nothing here checks exactly-once
// visibility (see tests/integration/test_kafka_transactions.cpp); fencing is simulated by an
// injected broker error.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "kafka/config.hpp"
#include "kafka/consumer.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "streamframe/errors.hpp"
#include "support/kafka_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using streamframe::KafkaError;
using streamframe::kafka::Config;
using streamframe::kafka::Consumer;
using streamframe::kafka::MockCluster;
using streamframe::kafka::Producer;
using streamframe::kafka::testing::unique_name;

// Kafka protocol API keys (librdkafka keeps its RD_KAFKAP_* constants private).
constexpr std::int16_t kApiEndTxn = 26;

class KafkaTxnMock : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<MockCluster>(1);
    topic_ = unique_name("txn-mock");
    cluster_->create_topic(topic_, 1);
  }

  Config producer_config(const std::string& transactional_id) const {
    Config c = streamframe::kafka::default_producer_config();
    c.emplace_back("bootstrap.servers", cluster_->bootstrap_servers());
    c.emplace_back("transactional.id", transactional_id);
    return c;
  }

  std::unique_ptr<MockCluster> cluster_;
  std::string topic_;
};

TEST_F(KafkaTxnMock, CommitAndAbortCycle) {
  Producer producer(producer_config(unique_name("txn-mock")));
  ASSERT_TRUE(producer.transactional());
  producer.init_transactions(10s);
  for (int round = 0; round < 3; ++round) {
    producer.begin_transaction();
    EXPECT_TRUE(producer.in_transaction());
    producer.produce(topic_, 0, std::nullopt, "v" + std::to_string(round));
    if (round == 1) {
      producer.abort_transaction(10s);
    } else {
      producer.commit_transaction(10s);
    }
    EXPECT_FALSE(producer.in_transaction());
  }
  // Committed transactions flush their messages; the aborted one's message was either
  // delivered before the abort or purged.
  EXPECT_GE(producer.delivered(), 2u);
  EXPECT_EQ(producer.delivered() + producer.failed(), 3u);
}

TEST_F(KafkaTxnMock, CallOutOfSequenceIsAPlainStateError) {
  Producer producer(producer_config(unique_name("txn-mock")));
  try {
    producer.begin_transaction();  // before init_transactions
    FAIL() << "begin_transaction before init_transactions succeeded";
  } catch (const KafkaError& e) {
    EXPECT_EQ(e.code(), RD_KAFKA_RESP_ERR__STATE) << e.what();
    EXPECT_FALSE(e.fatal()) << e.what();
    EXPECT_FALSE(e.retriable()) << e.what();
    EXPECT_NE(std::string(e.what()).find("begin_transaction"), std::string::npos) << e.what();
  }
  producer.init_transactions(10s);
  EXPECT_THROW(producer.commit_transaction(1s), KafkaError);  // no transaction begun
  producer.begin_transaction();
  producer.commit_transaction(10s);
}

TEST_F(KafkaTxnMock, FencedCommitIsFatal) {
  Producer producer(producer_config(unique_name("txn-mock")));
  producer.init_transactions(10s);
  producer.begin_transaction();
  producer.produce(topic_, 0, std::nullopt, "v");
  ASSERT_TRUE(producer.flush(10s));
  // The coordinator answers EndTxn as it does for a zombie.
  rd_kafka_mock_push_request_errors(cluster_->handle(), kApiEndTxn, 1,
                                    RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
  std::optional<KafkaError> error;
  try {
    producer.commit_transaction(10s);
  } catch (const KafkaError& e) {
    error = e;
  }
  ASSERT_TRUE(error) << "commit succeeded despite the fenced response";
  EXPECT_TRUE(error->fatal()) << error->what();
  EXPECT_FALSE(error->retriable()) << error->what();
  EXPECT_EQ(error->code(), RD_KAFKA_RESP_ERR__FENCED) << error->what();
  EXPECT_FALSE(producer.in_transaction());
  EXPECT_THROW(producer.begin_transaction(), KafkaError);
  EXPECT_THROW(producer.poll(0ms), KafkaError);
}

// librdkafka ignores send_offsets_to_transaction's timeout while the group coordinator is down
// (librdkafka #5456): the Producer bounds the call itself, gives the handle to the thread still
// blocked in librdkafka and reports a fatal timeout. The handle is destroyed once librdkafka
// returns, i.e. once the coordinator is back.
class KafkaTxnMockCoordinatorDown : public KafkaTxnMock {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<MockCluster>(2);
    topic_ = unique_name("txn-mock");
    cluster_->create_topic(topic_, 1);
    group_ = unique_name("txn-mock-group");
    txn_id_ = unique_name("txn-mock");
    // The transaction coordinator stays up on broker 1; the group's is broker 2.
    rd_kafka_mock_coordinator_set(cluster_->handle(), "transaction", txn_id_.c_str(), 1);
    rd_kafka_mock_coordinator_set(cluster_->handle(), "group", group_.c_str(), 2);
  }

  void TearDown() override {
    // The abandoned call returns once the coordinator is back; the handle must be gone before
    // the cluster is.
    rd_kafka_mock_broker_set_up(cluster_->handle(), 2);
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (Producer::abandoned_in_flight() > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(Producer::abandoned_in_flight(), 0)
        << "the abandoned handle was not released 30 s after the coordinator came back";
  }

  Consumer consumer() const {
    Config c = streamframe::kafka::default_consumer_config();
    c.emplace_back("bootstrap.servers", cluster_->bootstrap_servers());
    c.emplace_back("group.id", group_);
    return Consumer(c);
  }

  std::string group_;
  std::string txn_id_;
};

TEST_F(KafkaTxnMockCoordinatorDown, SendOffsetsGivesUpAfterItsTimeout) {
  Consumer c = consumer();
  Producer producer(producer_config(txn_id_));
  producer.init_transactions(10s);
  producer.begin_transaction();
  producer.produce(topic_, 0, std::nullopt, "v");
  ASSERT_TRUE(producer.flush(10s));
  rd_kafka_mock_broker_set_down(cluster_->handle(), 2);
  int waits = 0;
  const auto start = std::chrono::steady_clock::now();
  std::optional<KafkaError> error;
  try {
    producer.send_offsets_to_transaction({{topic_, 0, 1}}, c, 1s, [&] { ++waits; });
  } catch (const KafkaError& e) {
    error = e;
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(error) << "send_offsets_to_transaction succeeded with the group coordinator down";
  EXPECT_EQ(error->code(), RD_KAFKA_RESP_ERR__TIMED_OUT) << error->what();
  EXPECT_TRUE(error->fatal()) << error->what();
  EXPECT_NE(std::string(error->what()).find("did not return within 3000 ms"), std::string::npos)
      << error->what();
  EXPECT_GE(elapsed, 2.5) << "gave up before timeout + 2 s";
  EXPECT_LT(elapsed, 6.0) << "the call was not bounded";
  EXPECT_GE(waits, 20) << "while_waiting is called every 100 ms";
  EXPECT_TRUE(producer.closed());
  EXPECT_FALSE(producer.in_transaction());
  EXPECT_EQ(Producer::abandoned_in_flight(), 1);
  EXPECT_THROW(producer.begin_transaction(), streamframe::InvalidOperation);
}

TEST_F(KafkaTxnMockCoordinatorDown, AnExceptionFromWhileWaitingEndsTheWait) {
  Consumer c = consumer();
  Producer producer(producer_config(txn_id_));
  producer.init_transactions(10s);
  producer.begin_transaction();
  rd_kafka_mock_broker_set_down(cluster_->handle(), 2);
  int waits = 0;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(producer.send_offsets_to_transaction({{topic_, 0, 1}}, c, 30s,
                                                    [&] {
                                                      if (++waits == 3) {
                                                        throw std::runtime_error("outage");
                                                      }
                                                    }),
               std::runtime_error);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  EXPECT_EQ(waits, 3);
  EXPECT_TRUE(producer.closed());
}

}  // namespace
