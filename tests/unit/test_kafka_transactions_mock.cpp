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
#include <string>

#include "kafka/config.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "streamframe/errors.hpp"
#include "support/kafka_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using streamframe::KafkaError;
using streamframe::kafka::Config;
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

}  // namespace
