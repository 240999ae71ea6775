// The embedded broker: librdkafka's in-process mock cluster (EXT-09).
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <string>

#include "kafka/config.hpp"
#include "kafka/types.hpp"

namespace streamframe::kafka {

// Facts about librdkafka 2.0.2's mock cluster (DESIGN.md, Brokers):
// - It listens on 127.0.0.1 ports; any Kafka client in or outside the process (e.g.
//   `kcat -b <bootstrap_servers()> -L`) can connect while the MockCluster lives.
// - Topics must be created with create_topic(); the Admin API (CreateTopics, DeleteTopics,
//   DescribeConfigs) times out. A metadata request that allows auto-creation creates an
//   unknown topic with 4 partitions.
// - Each partition keeps about 5 MiB or 100,000 batches and silently drops older data.
// - A group rebalance takes about session.timeout.ms - 1 s; a fetch with no data waits the
//   full fetch.wait.max.ms: see embedded_consumer_overrides().
// - No read-committed filtering of aborted transactions, no fencing, no compaction;
//   offsets sent in a transaction are not stored; offsets_for_times returns -1.
// Clients connected to it should be destroyed before it.
class MockCluster {
 public:
  explicit MockCluster(int brokers = 1);
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;
  ~MockCluster();

  // "127.0.0.1:port[,...]" for bootstrap.servers.
  const std::string& bootstrap_servers() const noexcept { return bootstrap_servers_; }

  // true if created, false if it existed already; KafkaError otherwise.
  bool create_topic(const std::string& name, int partitions, int replication_factor = 1);

  // For error injection in tests (rd_kafka_mock_push_request_errors, broker down/up, ...).
  rd_kafka_mock_cluster_t* handle() const noexcept { return cluster_.get(); }

 private:
  KafkaPtr rk_;  // required by rd_kafka_mock_cluster_new; declared first, destroyed last
  MockClusterPtr cluster_;
  std::string bootstrap_servers_;
};

// Consumer settings for the embedded broker, applied over the defaults: quick rebalances
// (session.timeout.ms=6000, heartbeat.interval.ms=1500) and short empty fetches
// (fetch.wait.max.ms=5).
Config embedded_consumer_overrides();

}  // namespace streamframe::kafka
