// Topic administration and broker reachability over librdkafka's Admin API and metadata.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kafka/config.hpp"
#include "kafka/types.hpp"

namespace streamframe::kafka {

class OAuthTokenSource;

struct TopicDescription {
  int partitions = 0;
  int replication_factor = 0;  // replicas of partition 0
};

// A consumer group as DescribeConsumerGroups reports it.
struct GroupDescription {
  std::string state;  // librdkafka's name: Empty, Stable, PreparingRebalance, Dead, ...
  std::size_t members = 0;
};

// Owns a dedicated producer-type handle (allow.auto.create.topics=false). Describing a topic
// never creates it: topic metadata is read with an all-topics request (see describe_topic).
//
// Against the embedded mock cluster only the metadata-based calls work (describe_topic,
// partition_count, topic_exists, wait_until_reachable); CreateTopics/DeleteTopics/
// DescribeConfigs time out there (DESIGN: Brokers) — use MockCluster::create_topic.
class Admin {
 public:
  // `config` needs bootstrap.servers (plus security settings, if any).
  explicit Admin(const Config& config);
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // true if created, false if it already existed; KafkaError otherwise. `config` holds
  // topic-level settings (cleanup.policy, retention.ms, ...). The broker is asked to finish
  // the creation within `timeout`.
  bool create_topic(const std::string& name, int partitions, int replication_factor,
                    const std::map<std::string, std::string>& config,
                    std::chrono::milliseconds timeout);

  // true if deleted, false if it did not exist; KafkaError otherwise.
  bool delete_topic(const std::string& name, std::chrono::milliseconds timeout);

  // Partition count and replication factor from metadata; nullopt if the topic does not
  // exist. Throws KafkaError when the brokers do not answer within `timeout`. Uses an
  // all-topics metadata request (a named-topic request auto-creates on brokers that allow
  // it when librdkafka cannot send Metadata v4+, e.g. the mock cluster): fine for
  // occasional calls, not for a hot path on a cluster with very many topics.
  std::optional<TopicDescription> describe_topic(const std::string& name,
                                                 std::chrono::milliseconds timeout);
  std::optional<int> partition_count(const std::string& name, std::chrono::milliseconds timeout);
  bool topic_exists(const std::string& name, std::chrono::milliseconds timeout);

  // describe_topic until the topic shows with partitions, for up to `timeout`; nullopt if it
  // never does. For a topic known to exist (just created, or seen a moment ago): in a
  // cluster each broker learns new topics from the controller a little later, and a
  // metadata request may go to one that has not yet.
  std::optional<TopicDescription> wait_for_topic(const std::string& name,
                                                 std::chrono::milliseconds timeout);

  // The topic's effective configuration (DescribeConfigs): name -> value; entries without a
  // value (sensitive) are left out. KafkaError if the topic does not exist.
  std::map<std::string, std::string> topic_config(const std::string& name,
                                                  std::chrono::milliseconds timeout);

  // Every topic of the cluster (internal ones like __consumer_offsets left out) and its
  // partition count, from one all-topics metadata request.
  std::map<std::string, int> topics(std::chrono::milliseconds timeout);

  // The group's state and member count; a group the cluster does not know reports Dead
  // with no members. KafkaError when the coordinator does not answer.
  GroupDescription describe_group(const std::string& group, std::chrono::milliseconds timeout);
  // Every offset the group has committed (ListConsumerGroupOffsets), in tp.offset.
  std::vector<TopicPartition> group_offsets(const std::string& group,
                                            std::chrono::milliseconds timeout);
  // Sets the group's committed offsets (AlterConsumerGroupOffsets); the broker refuses it for
  // a group with active members. A partition's error throws, naming it.
  void alter_group_offsets(const std::string& group, const std::vector<TopicPartition>& offsets,
                           std::chrono::milliseconds timeout);

  // Whether some broker answers a metadata request within `timeout`. Never waits longer
  // (plus a few ms), never throws for an unreachable cluster.
  bool wait_until_reachable(std::chrono::milliseconds timeout);

  rd_kafka_t* handle() const noexcept { return rk_.get(); }

  // APP-17: a broker refused the connection for good (SASL authentication failed, TLS
  // handshake failed: wrong password, unknown CA, expired certificate): throws
  // KafkaAuthenticationError with librdkafka's reason, which names the broker. librdkafka
  // itself only retries forever, so every call here checks this while it waits.
  void throw_if_refused() const;

 private:
  EventPtr run(rd_kafka_event_type_t expected, std::chrono::milliseconds timeout,
               const std::string& what, rd_kafka_queue_t* queue);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  // A metadata request (all topics, or the brokers only) answered before `deadline`, into
  // `out`; else the last error, or the refusal's code as soon as one is reported.
  rd_kafka_resp_err_t metadata_until(bool all_topics,
                                     std::chrono::steady_clock::time_point deadline,
                                     MetadataPtr& out);
  // An all-topics metadata request answered within `timeout`; KafkaError (or
  // KafkaAuthenticationError) naming `what` otherwise.
  MetadataPtr all_topics_metadata(std::chrono::milliseconds timeout, const std::string& what);

  std::string bootstrap_;
  mutable std::mutex refused_mutex_;
  int refused_code_ = 0;
  std::string refused_reason_;
  std::shared_ptr<OAuthTokenSource> token_source_;
  KafkaPtr rk_;  // last: destroyed first, so no error callback sees the members gone
};

}  // namespace streamframe::kafka
