// Another Kafka cluster as a source (SRC-05; Quix Streams' KafkaReplicatorSource): copies a
// topic of that cluster into the application's, message for message.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "streamframe/source.hpp"
#include "streamframe/topic.hpp"

namespace streamframe {

struct KafkaReplicatorSourceOptions {
  // The topic to copy, on the other cluster.
  std::string topic{};
  // The other cluster's bootstrap servers.
  std::string broker_address{};
  // Where a partition without a committed offset starts: "latest" (Quix Streams' default) or
  // "earliest"; anything else => ConfigError.
  std::string auto_offset_reset = "latest";
  // More librdkafka settings of the consumer on the other cluster (security, fetch sizes...).
  std::map<std::string, std::string> consumer_extra_config{};
  // The consumed offsets are committed (after everything produced before them is
  // acknowledged) this often, and after every commit_every messages when > 0.
  std::chrono::milliseconds commit_interval = std::chrono::seconds(5);
  std::int64_t commit_every = 0;
  // How the application reads the copies (the source writes the bytes as they are).
  SerdeRef<Deserializer> value_deserializer = "json";
  SerdeRef<Deserializer> key_deserializer = "bytes";
  std::chrono::milliseconds shutdown_timeout = std::chrono::seconds(10);
};

// Consumes `topic` of the other cluster in the consumer group "source-<name>" there, with that
// group's own committed offsets, and produces each message (key, value, headers, timestamp)
// to the same partition of its topic here, "source__<name>", created with the other topic's
// partition count. Offsets are committed only after the copies are acknowledged: after a crash
// the messages since the last commit are copied again (at-least-once). Several processes
// running the same source share the partitions through the group.
class KafkaReplicatorSource : public Source {
 public:
  KafkaReplicatorSource(std::string name, KafkaReplicatorSourceOptions options);
  ~KafkaReplicatorSource() override;
  void setup() override;
  void run() override;
  void cleanup(bool failed) override;
  // Asks the other cluster for the topic's partition count (ConfigError when it has no such
  // topic within 30 s).
  TopicOptions default_topic_options() const override;
  // Messages copied (produced) so far.
  std::uint64_t copied() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamframe
