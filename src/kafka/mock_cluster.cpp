#include "kafka/mock_cluster.hpp"

#include <fmt/format.h>

#include <array>

#include "kafka/error.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::kafka {

MockCluster::MockCluster(int brokers) {
  if (brokers < 1)
    throw ConfigError(fmt::format("mock cluster needs >= 1 broker, got {}", brokers));
  // The handle only does the mock cluster's bookkeeping; it never connects anywhere, so
  // it has no bootstrap.servers (log_level 4 hides the notice librdkafka logs about that).
  ConfPtr conf = make_conf({{"client.id", "streamframe-embedded-broker"}, {"log_level", "4"}});
  std::array<char, 512> errstr{};
  rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr.data(), errstr.size()));
  if (!rk_) {
    throw KafkaError(RD_KAFKA_RESP_ERR__FAIL,
                     fmt::format("cannot create the embedded broker's handle: {}", errstr.data()));
  }
  (void)conf.release();  // rd_kafka_new took ownership

  cluster_.reset(rd_kafka_mock_cluster_new(rk_.get(), brokers));
  if (!cluster_) {
    throw KafkaError(RD_KAFKA_RESP_ERR__FAIL,
                     fmt::format("cannot start the embedded broker ({} broker(s))", brokers));
  }
  bootstrap_servers_ = rd_kafka_mock_cluster_bootstraps(cluster_.get());
}

MockCluster::~MockCluster() {
  cluster_.reset();
  rk_.reset();
}

bool MockCluster::create_topic(const std::string& name, int partitions, int replication_factor) {
  const rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(cluster_.get(), name.c_str(), partitions, replication_factor);
  if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return false;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw_error(err, fmt::format("creating topic '{}' ({} partitions) on the embedded broker", name,
                                 partitions));
  }
  return true;
}

Config embedded_consumer_overrides() {
  return Config{
      {"session.timeout.ms", "6000"},
      {"heartbeat.interval.ms", "1500"},
      {"fetch.wait.max.ms", "5"},
  };
}

}  // namespace streamframe::kafka
