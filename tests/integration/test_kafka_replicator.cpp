// KafkaReplicatorSource (SRC-05) between two real Kafka clusters: the test broker and a second
// one this suite starts with scripts/kafka in a throwaway dir. Every message is copied with
// its key, value, headers, timestamp and partition; the group "source-<name>" on the other
// cluster holds its own committed offsets, so a second run copies only what came after.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "integration/test_app_helpers.hpp"
#include "streamframe/kafka_replicator.hpp"
#include "support/alerts_app.hpp"
#include "support/kafka_probe.hpp"

namespace streamframe::apptest {
namespace {

namespace sft = streamframe::test;

class KafkaReplicator : public ::testing::Test {
 protected:
  // One other cluster for the suite: a single-node KRaft broker on a free port.
  static void SetUpTestSuite() {
    if (!sft::test_brokers()) return;
    dir_ = ::testing::TempDir() + "streamframe-other-kafka-" + std::to_string(::getpid());
    const std::string out = dir_ + ".addr";
    const std::string cmd = "STREAMFRAME_KAFKA_DIR='" + dir_ + "' " + STREAMFRAME_KAFKA_SCRIPT +
                            " start 2>/dev/null | tail -n1 > '" + out + "'";
    if (std::system(cmd.c_str()) == 0) {
      std::ifstream in(out);
      std::getline(in, other_);
    }
  }
  static void TearDownTestSuite() {
    if (dir_.empty()) return;
    const std::string cmd = "STREAMFRAME_KAFKA_DIR='" + dir_ + "' " + STREAMFRAME_KAFKA_SCRIPT +
                            " stop --clean >/dev/null 2>&1";
    (void)std::system(cmd.c_str());
  }
  void SetUp() override {
    REQUIRE_TEST_BROKERS();
    ASSERT_FALSE(other_.empty()) << "the second Kafka (scripts/kafka start in " << dir_
                                 << ") did not start";
  }

  // `n` messages to `topic` on the other cluster, partition i % 3, key k<i>, header h=<i>,
  // timestamp 1700000000000 + i, value {"i": i}.
  static void feed(const std::string& topic, int from, int n) {
    Application app({.broker_address = other_, .consumer_group = "feeder", .loglevel = "WARNING"});
    auto producer = app.get_producer();
    for (int i = from; i < from + n; ++i) {
      producer.produce(topic, "k" + std::to_string(i), R"({"i":)" + std::to_string(i) + "}",
                       1700000000000 + i, {{"h", std::to_string(i)}}, i % 3);
    }
    ASSERT_TRUE(producer.flush(30s));
  }

  static inline std::string dir_, other_;
};

TEST_F(KafkaReplicator, CopiesEveryMessageAndResumesFromItsOwnCommittedOffsets) {
  const std::string topic = sft::unique_name("repl-src");
  const std::string name = sft::unique_name("repl");
  sft::create_topics(other_, {topic}, 3);
  feed(topic, 0, 300);

  KafkaReplicatorSourceOptions o;
  o.topic = topic;
  o.broker_address = other_;
  o.auto_offset_reset = "earliest";
  o.commit_every = 50;
  const auto copy_into = [&](std::size_t expected) {
    auto rows = std::make_shared<ListSink>(ListSinkOptions{.metadata = true});
    Application app(base_config(sft::unique_name("repl-grp")));
    auto source = std::make_shared<KafkaReplicatorSource>(name, o);
    app.dataframe(source).sink(rows);
    std::thread stopper([&] {
      (void)eventually([&] { return rows->size() >= expected; }, 90s);
      std::this_thread::sleep_for(500ms);  // more than expected would show up now
      app.stop();
    });
    (void)app.run();
    stopper.join();
    return rows->rows();
  };

  const auto first = copy_into(300);
  ASSERT_EQ(first.size(), 300U);
  std::map<std::int64_t, Value> by_i;
  for (const auto& r : first) by_i[r["i"].as_int()] = r;
  ASSERT_EQ(by_i.size(), 300U);
  for (const auto& [i, r] : by_i) {
    EXPECT_EQ(r["_key"].as_string(), "k" + std::to_string(i));
    EXPECT_EQ(r["_partition"].as_int(), i % 3) << "record " << i;
    EXPECT_EQ(r["_timestamp"].as_int(), 1700000000000 + i);
    EXPECT_EQ(r["_headers"].to_json(), R"([["h",")" + std::to_string(i) + R"("]])") << i;
  }
  // The target topic has the other's partition count, and the group on the other cluster
  // committed everything it copied.
  EXPECT_EQ(partition_count("source__" + name), 3);
  sft::KafkaProbe probe(other_, "source-" + name);
  EXPECT_EQ(probe.committed(topic, 3), (std::vector<std::int64_t>{100, 100, 100}));

  // A second application: only the messages after the committed offsets are copied, so the
  // copy holds each message once (its new group reads all 330 of them).
  feed(topic, 300, 30);
  const auto second = copy_into(330);
  ASSERT_EQ(second.size(), 330U);
  std::map<std::int64_t, int> times;
  for (const auto& r : second) ++times[r["i"].as_int()];
  ASSERT_EQ(times.size(), 330U);
  for (const auto& [i, n] : times)
    EXPECT_EQ(n, 1) << "message " << i << " copied " << n << " times";
  EXPECT_EQ(probe.committed(topic, 3), (std::vector<std::int64_t>{110, 110, 110}));
}

TEST_F(KafkaReplicator, AMissingTopicOnTheOtherClusterIsAConfigError) {
  KafkaReplicatorSourceOptions o;
  o.topic = sft::unique_name("repl-absent");
  o.broker_address = other_;
  Application app(base_config(sft::unique_name("repl-grp")));
  auto source = std::make_shared<KafkaReplicatorSource>(sft::unique_name("repl"), o);
  EXPECT_THROW((void)app.add_source(source), ConfigError);
  EXPECT_THROW(KafkaReplicatorSource(
                   "x", {.topic = "t", .broker_address = other_, .auto_offset_reset = "smallest"}),
               ConfigError);
}

}  // namespace
}  // namespace streamframe::apptest
