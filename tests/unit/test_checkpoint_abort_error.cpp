// An exactly-once checkpoint whose transaction fails and whose abort then fails too must report
// why the transaction failed. The abort's own error (here the producer fenced while aborting,
// raised by the poll between abort attempts) once replaced it, so a repartition topic deleted
// under a running application ended run() with "fenced by a newer instance" and no word of the
// topic (seen in CI on a real broker).
//
// The embedded broker has no read-committed filtering, so the application refuses exactly-once
// on it; this drives the checkpoint directly with a transactional producer. The broker answers
// the commit's EndTxn with an error librdkafka makes abortable, and the abort's with
// PRODUCER_FENCED.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "app/assignment.hpp"
#include "app/checkpoint.hpp"
#include "app/worker_settings.hpp"
#include "kafka/broker_watch.hpp"
#include "kafka/config.hpp"
#include "kafka/consumer.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "streamframe/errors.hpp"
#include "support/kafka_test_support.hpp"

namespace streamframe::detail {
namespace {

using namespace std::chrono_literals;
using kafka::testing::unique_name;

constexpr std::int16_t kApiEndTxn = 26;

// No pipeline: nothing is sent or emitted through the tasks.
class NoOutput final : public TaskOutput {
 public:
  void send(const std::string&, std::optional<std::string_view>, std::optional<std::string_view>,
            std::int64_t, const Headers*) override {}
  void emit(Row&, const MessageContext&, std::uint32_t) override {}
};

TEST(CheckpointAbortError, AFailedAbortKeepsTheReasonTheTransactionFailed) {
  kafka::MockCluster cluster(1);
  const std::string topic = unique_name("ckpt-abort");
  cluster.create_topic(topic, 1);

  kafka::Config producer_config = kafka::default_producer_config();
  producer_config.emplace_back("bootstrap.servers", cluster.bootstrap_servers());
  producer_config.emplace_back("transactional.id", unique_name("ckpt-abort-txn"));
  kafka::Producer producer(producer_config);
  producer.init_transactions(10s);
  kafka::Config consumer_config = kafka::default_consumer_config();
  consumer_config.emplace_back("bootstrap.servers", cluster.bootstrap_servers());
  consumer_config.emplace_back("group.id", unique_name("ckpt-abort-group"));
  kafka::Consumer consumer(consumer_config);
  kafka::BrokerWatch brokers(consumer, producer, 0ms);

  ApplicationConfig config;
  config.request_timeout = 5s;
  WorkerSettings settings;
  settings.app = &config;
  settings.exactly_once = true;
  NoOutput output;
  Assignment assignment(settings, output);
  PendingError pending;
  RunStats stats;
  OutputAcks acks;
  Checkpoint checkpoint(config, /*exactly_once=*/true, assignment, producer, consumer, brokers,
                        acks, {}, pending, stats);

  checkpoint.ensure_transaction();
  producer.produce(topic, 0, std::nullopt, "in the transaction");
  checkpoint.note_operator_changes();  // something to commit without input offsets
  rd_kafka_mock_push_request_errors(cluster.handle(), kApiEndTxn, 2,
                                    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                                    RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
  std::optional<KafkaError> error;
  try {
    checkpoint.commit(std::chrono::steady_clock::now() + 20s);
  } catch (const KafkaError& e) {
    error = e;
  }
  ASSERT_TRUE(error) << "the checkpoint succeeded although its transaction failed";
  const std::string what = error->what();
  // The reason first: the commit's own failure.
  EXPECT_NE(what.find("the transaction did not commit"), std::string::npos) << what;
  EXPECT_NE(what.find("Unknown topic or partition"), std::string::npos) << what;
  // Then the abort's.
  EXPECT_NE(what.find("aborting it failed too"), std::string::npos) << what;
  EXPECT_NE(what.find("fenced"), std::string::npos) << what;
  // A fenced producer cannot go on: the application must stop, not retry.
  EXPECT_TRUE(error->fatal()) << what;
  EXPECT_FALSE(error->retriable()) << what;
}

}  // namespace
}  // namespace streamframe::detail
