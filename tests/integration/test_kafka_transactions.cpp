// Transactional producer of the Kafka layer against a real broker (STREAMFRAME_TEST_BROKERS):
// commit / abort visibility under read_committed, offsets sent to a transaction, and zombie
// fencing. Every wait is bounded; "nothing visible" is proven by reading up to a committed
// marker record produced after the records in question.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
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
using streamframe::KafkaError;
using streamframe::kafka::Admin;
using streamframe::kafka::Config;
using streamframe::kafka::Consumer;
using streamframe::kafka::Message;
using streamframe::kafka::Producer;
using streamframe::kafka::TopicPartition;
using streamframe::kafka::testing::consume;
using streamframe::kafka::testing::unique_name;
using Clock = std::chrono::steady_clock;

constexpr auto kTxnTimeout = 30s;  // bound of every transaction call
constexpr auto kReadLimit = 30s;   // bound of every read

std::string value_of(const Message& m) {
  return std::string(m.value().value_or(""));
}

class KafkaTransactions : public streamframe::kafka::testing::RealBrokerTest {
 protected:
  Config producer_config(const std::string& transactional_id) const {
    Config c = base_producer_config();
    if (!transactional_id.empty()) {
      c.emplace_back("transactional.id", transactional_id);
      c.emplace_back("transaction.timeout.ms", "60000");
    }
    return c;
  }

  Config consumer_config(const std::string& group, const std::string& isolation) const {
    Config c = base_consumer_config(group);
    c.emplace_back("isolation.level", isolation);
    return c;
  }

  // Reads partition 0 of `topic` from the start with `isolation` until a record with value
  // `marker` arrives (or kReadLimit passes: test failure). Returns the values before it.
  std::vector<std::string> read_until_marker(const std::string& topic, const std::string& marker,
                                             const std::string& isolation) {
    Consumer consumer(consumer_config(unique_name("txn-reader"), isolation));
    consumer.assign({{topic, 0, RD_KAFKA_OFFSET_BEGINNING}});
    std::vector<std::string> values;
    std::vector<Message> batch;
    const auto deadline = Clock::now() + kReadLimit;
    while (Clock::now() < deadline) {
      batch.clear();
      consumer.poll_batch(batch, 1000, 100ms);
      for (const Message& m : batch) {
        if (m.end_of_partition()) continue;
        if (value_of(m) == marker) return values;
        values.push_back(value_of(m));
      }
    }
    ADD_FAILURE() << "marker '" << marker << "' not seen on " << topic << " (" << isolation
                  << ") within " << kReadLimit.count() << " s; got " << values.size()
                  << " record(s) before giving up";
    return values;
  }

  // Commits one transaction holding only `marker`, with a fresh transactional.id.
  void commit_marker(const std::string& topic, const std::string& marker) {
    Producer producer(producer_config(unique_name("txn-marker")));
    producer.init_transactions(kTxnTimeout);
    producer.begin_transaction();
    producer.produce(topic, 0, std::nullopt, marker);
    producer.commit_transaction(kTxnTimeout);
  }

  static void produce_values(Producer& producer, const std::string& topic,
                             const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) {
      producer.produce(topic, 0, std::nullopt, prefix + std::to_string(i));
    }
  }

  static std::vector<std::string> expected_values(const std::string& prefix, int n) {
    std::vector<std::string> v;
    for (int i = 0; i < n; ++i) v.push_back(prefix + std::to_string(i));
    return v;
  }
};

TEST_F(KafkaTransactions, CommittedRecordsAreVisibleToReadCommitted) {
  const std::string topic = make_topic("txn-commit");
  Producer producer(producer_config(unique_name("txn-commit")));
  ASSERT_TRUE(producer.transactional());
  producer.init_transactions(kTxnTimeout);
  producer.begin_transaction();
  EXPECT_TRUE(producer.in_transaction());
  produce_values(producer, topic, "c", 10);
  producer.commit_transaction(kTxnTimeout);
  EXPECT_FALSE(producer.in_transaction());
  EXPECT_EQ(producer.delivered(), 10u);
  EXPECT_EQ(producer.failed(), 0u);

  Consumer reader(consumer_config(unique_name("txn-commit-reader"), "read_committed"));
  reader.assign({{topic, 0, RD_KAFKA_OFFSET_BEGINNING}});
  const std::vector<Message> got = consume(reader, 10, kReadLimit);
  ASSERT_EQ(got.size(), 10u) << "read_committed consumer did not see the committed records";
  std::vector<std::string> values;
  for (const Message& m : got) values.push_back(value_of(m));
  EXPECT_EQ(values, expected_values("c", 10));
}

TEST_F(KafkaTransactions, AbortedRecordsAreHiddenFromReadCommittedOnly) {
  const std::string topic = make_topic("txn-abort");
  Producer producer(producer_config(unique_name("txn-abort")));
  producer.init_transactions(kTxnTimeout);
  producer.begin_transaction();
  produce_values(producer, topic, "a", 10);
  // Make sure the records reach the log before the abort (abort would purge queued ones).
  ASSERT_TRUE(producer.flush(kTxnTimeout));
  EXPECT_EQ(producer.delivered(), 10u);
  producer.abort_transaction(kTxnTimeout);
  EXPECT_FALSE(producer.in_transaction());

  // The same producer continues after an abort.
  producer.begin_transaction();
  producer.produce(topic, 0, std::nullopt, "marker");
  producer.commit_transaction(kTxnTimeout);

  EXPECT_EQ(read_until_marker(topic, "marker", "read_committed"), std::vector<std::string>{})
      << "read_committed saw aborted records";
  EXPECT_EQ(read_until_marker(topic, "marker", "read_uncommitted"), expected_values("a", 10));
}

TEST_F(KafkaTransactions, OffsetsSentToTheTransactionCommitOnlyWithIt) {
  const std::string input = make_topic("txn-ctp-in");
  const std::string output = make_topic("txn-ctp-out");
  const std::string group = unique_name("txn-ctp-group");
  {
    Producer plain(producer_config(""));
    produce_values(plain, input, "in", 10);
    ASSERT_TRUE(plain.flush(kTxnTimeout));
  }
  Consumer consumer(consumer_config(group, "read_committed"));
  consumer.subscribe({input});
  Producer producer(producer_config(unique_name("txn-ctp")));
  producer.init_transactions(kTxnTimeout);

  // Round 1: transform the first 5 records and commit with their offsets.
  std::vector<Message> got = consume(consumer, 5, kReadLimit);
  ASSERT_GE(got.size(), 5u) << "input not consumed within " << kReadLimit.count() << " s";
  got.resize(5);  // the batch may hold more; only 5 are processed in this transaction
  producer.begin_transaction();
  for (const Message& m : got) {
    producer.produce(output, 0, std::nullopt, "out-" + value_of(m));
  }
  const std::int64_t first_next = got.back().offset() + 1;
  EXPECT_EQ(first_next, 5);
  producer.send_offsets_to_transaction({{input, 0, first_next}}, consumer, kTxnTimeout);
  producer.commit_transaction(kTxnTimeout);
  EXPECT_EQ(consumer.committed({{input, 0}}, 10s).at(0).offset, 5)
      << "offsets sent to a committed transaction were not committed";

  // Round 2: transform the rest, send their offsets, abort: the committed offset stays.
  consumer.seek({input, 0, 5}, 10s);
  got = consume(consumer, 5, kReadLimit);
  ASSERT_EQ(got.size(), 5u);
  producer.begin_transaction();
  for (const Message& m : got) {
    producer.produce(output, 0, std::nullopt, "out-" + value_of(m));
  }
  producer.send_offsets_to_transaction({{input, 0, got.back().offset() + 1}}, consumer,
                                       kTxnTimeout);
  producer.abort_transaction(kTxnTimeout);
  EXPECT_EQ(consumer.committed({{input, 0}}, 10s).at(0).offset, 5)
      << "offsets sent to an aborted transaction were committed";
  consumer.close();

  commit_marker(output, "marker");
  EXPECT_EQ(read_until_marker(output, "marker", "read_committed"),
            (std::vector<std::string>{"out-in0", "out-in1", "out-in2", "out-in3", "out-in4"}));
}

TEST_F(KafkaTransactions, ZombieIsFencedAndItsRecordsNeverBecomeVisible) {
  const std::string topic = make_topic("txn-fence");
  const std::string id = unique_name("txn-fence");
  Producer zombie(producer_config(id));
  zombie.init_transactions(kTxnTimeout);
  zombie.begin_transaction();
  produce_values(zombie, topic, "z", 5);
  ASSERT_TRUE(zombie.flush(kTxnTimeout));
  EXPECT_EQ(zombie.delivered(), 5u);

  // A second instance with the same transactional.id fences the first one and aborts its
  // open transaction.
  const auto t0 = Clock::now();
  Producer successor(producer_config(id));
  successor.init_transactions(kTxnTimeout);
  std::cout << "[ txn ] successor init_transactions took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
            << " ms\n";

  // The zombie's next transactional operations fail fatally (fenced); it never commits.
  zombie.produce(topic, 0, std::nullopt, "z-late");
  std::optional<KafkaError> fenced;
  try {
    zombie.commit_transaction(kTxnTimeout);
  } catch (const KafkaError& e) {
    fenced = e;
  }
  ASSERT_TRUE(fenced) << "the fenced producer's commit succeeded";
  std::cout << "[ txn ] fenced commit: code " << fenced->code() << " ("
            << rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(fenced->code()))
            << "), fatal=" << fenced->fatal() << ", retriable=" << fenced->retriable()
            << ", txn_requires_abort=" << fenced->txn_requires_abort() << ": " << fenced->what()
            << "\n";
  EXPECT_TRUE(fenced->fatal());
  EXPECT_FALSE(fenced->retriable());
  EXPECT_EQ(fenced->code(), RD_KAFKA_RESP_ERR__FENCED);
  EXPECT_FALSE(zombie.in_transaction());
  // Still fatal on every later call.
  try {
    zombie.abort_transaction(kTxnTimeout);
    ADD_FAILURE() << "abort on a fenced producer succeeded";
  } catch (const KafkaError& e) {
    EXPECT_TRUE(e.fatal()) << e.what();
    EXPECT_EQ(e.code(), RD_KAFKA_RESP_ERR__FENCED) << e.what();
  }
  try {
    zombie.begin_transaction();
    ADD_FAILURE() << "begin on a fenced producer succeeded";
  } catch (const KafkaError& e) {
    EXPECT_TRUE(e.fatal()) << e.what();
  }
  for (const char* call : {"produce", "poll", "flush"}) {
    try {
      if (std::string(call) == "produce") zombie.produce(topic, 0, std::nullopt, "z-later");
      if (std::string(call) == "poll") zombie.poll(0ms);
      if (std::string(call) == "flush") zombie.flush(1s);
      ADD_FAILURE() << call << " on a fenced producer succeeded";
    } catch (const KafkaError& e) {
      EXPECT_TRUE(e.fatal()) << call << ": " << e.what();
      EXPECT_EQ(e.code(), RD_KAFKA_RESP_ERR__FENCED) << call << ": " << e.what();
    }
  }

  // The successor works normally; read_committed sees only its records.
  successor.begin_transaction();
  successor.produce(topic, 0, std::nullopt, "s0");
  successor.produce(topic, 0, std::nullopt, "marker");
  successor.commit_transaction(kTxnTimeout);
  EXPECT_EQ(read_until_marker(topic, "marker", "read_committed"), std::vector<std::string>{"s0"});
  // The zombie's records did reach the log (aborted), visible to read_uncommitted only.
  const std::vector<std::string> uncommitted =
      read_until_marker(topic, "marker", "read_uncommitted");
  EXPECT_GE(uncommitted.size(), 6u);
}

// The zombie sends nothing after being fenced: its commit (EndTxn with the old epoch) is
// what reports the fencing.
TEST_F(KafkaTransactions, ZombieCommitWithoutNewRecordsIsFenced) {
  const std::string topic = make_topic("txn-fence2");
  const std::string id = unique_name("txn-fence2");
  Producer zombie(producer_config(id));
  zombie.init_transactions(kTxnTimeout);
  zombie.begin_transaction();
  produce_values(zombie, topic, "z", 3);
  ASSERT_TRUE(zombie.flush(kTxnTimeout));

  Producer successor(producer_config(id));
  successor.init_transactions(kTxnTimeout);
  try {
    zombie.commit_transaction(kTxnTimeout);
    FAIL() << "the fenced producer's commit succeeded";
  } catch (const KafkaError& e) {
    std::cout << "[ txn ] fenced EndTxn: code " << e.code() << " ("
              << rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(e.code()))
              << "), fatal=" << e.fatal() << ": " << e.what() << "\n";
    EXPECT_TRUE(e.fatal()) << e.what();
    EXPECT_EQ(e.code(), RD_KAFKA_RESP_ERR__FENCED) << e.what();
  }
  commit_marker(topic, "marker");
  EXPECT_EQ(read_until_marker(topic, "marker", "read_committed"), std::vector<std::string>{});
}

// Closing (destroying) a producer with an open transaction aborts it: read_committed readers
// are not held up until the broker's transaction timeout.
TEST_F(KafkaTransactions, CloseAbortsTheOpenTransaction) {
  const std::string topic = make_topic("txn-close");
  {
    Producer producer(producer_config(unique_name("txn-close")));
    producer.init_transactions(kTxnTimeout);
    producer.begin_transaction();
    produce_values(producer, topic, "x", 5);
    ASSERT_TRUE(producer.flush(kTxnTimeout));
    producer.close(10s);
    EXPECT_FALSE(producer.in_transaction());
  }
  const auto t0 = Clock::now();
  commit_marker(topic, "marker");
  // With the transaction left open (60 s timeout) the marker would stay invisible past the
  // read limit (30 s).
  EXPECT_EQ(read_until_marker(topic, "marker", "read_committed"), std::vector<std::string>{});
  EXPECT_LT(Clock::now() - t0, 20s);
}

TEST_F(KafkaTransactions, TransactionCallsNeedATransactionalProducer) {
  Producer plain(producer_config(""));
  EXPECT_FALSE(plain.transactional());
  EXPECT_THROW(plain.init_transactions(1s), streamframe::InvalidOperation);
  EXPECT_THROW(plain.begin_transaction(), streamframe::InvalidOperation);
  EXPECT_THROW(plain.commit_transaction(1s), streamframe::InvalidOperation);
  EXPECT_THROW(plain.abort_transaction(1s), streamframe::InvalidOperation);
}

}  // namespace
