// The application's topics on its broker: finds or creates input, output and internal topics
// (TOP-01..04, TOP-14), the changelogs of the pipeline's stores and the dead-letter topic, and
// deletes internal topics. One job, kept apart from the run loop: every admin call of an
// Application goes through here.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "kafka/admin.hpp"
#include "kafka/config.hpp"
#include "streamframe/topic.hpp"

namespace streamframe::kafka {
class MockCluster;
}

namespace streamframe::detail {

class Graph;

struct TopicCatalogSettings {
  std::string bootstrap;       // for error messages
  kafka::Config admin_config;  // bootstrap.servers, client.id
  std::string consumer_group;  // names the changelogs
  std::chrono::milliseconds request_timeout{};
  std::chrono::milliseconds topic_create_timeout{};
  bool auto_create_topics = true;
};

// (stream id, store) -> changelog topic, as the workers take it.
using ChangelogMap = std::map<std::pair<std::string, std::string>, std::string>;

class TopicCatalog {
 public:
  // `mock`: the embedded broker, which has no admin API (topics are created through its own
  // call); null for a real broker. Not owned.
  TopicCatalog(TopicCatalogSettings settings, kafka::MockCluster* mock);

  // Finds or creates `name`. The returned topic carries an existing topic's real partition
  // count and replication factor. `internal`: a topic of the pipeline's own (group_by's
  // repartition topics), created even with auto_create_topics off, whose partition count
  // must be what the pipeline derived (TopicConfigurationMismatch otherwise).
  Topic ensure(std::string name, const TopicOptions& options, bool internal = false);

  // False when no broker answered within the request timeout (always true when embedded).
  bool reachable();

  std::string changelog_name(const std::string& stream_id, const std::string& store) const;

  // TOP-14: one compacted changelog per (stream, store) of the stateful graphs, partitioned
  // like the stream's source; created when absent, a partition mismatch is an error.
  ChangelogMap prepare_changelogs(const std::vector<std::shared_ptr<Graph>>& graphs);

  // SDF-12: a group_by declared on a one-partition topic re-keys in place, which is right only
  // while the topic has one partition: one that has more now => TopicConfigurationMismatch.
  void check_in_place_group_by(const std::vector<std::shared_ptr<Graph>>& graphs);

  // TOP-15: the topics of a concat of different topics with state share tasks, so they need
  // equal partition counts on the broker now => else TopicPartitionsMismatch.
  void check_co_partitioned(const std::vector<std::shared_ptr<Graph>>& graphs);

  // EXT-03: the dead-letter topic carries the original bytes.
  static TopicOptions dead_letter_options();

  // APP-08: creates the dead-letter topic when absent, before any message can need it.
  void prepare_dead_letter_topic(const std::string& name,
                                 const std::vector<std::shared_ptr<Graph>>& graphs);

  // The repartition topics and changelogs of `graphs`, and the topics in `more` (stateful
  // sources' changelogs), deleted where they exist; returns the names deleted.
  std::vector<std::string> delete_internal_topics(const std::vector<std::shared_ptr<Graph>>& graphs,
                                                  const std::vector<std::string>& more = {});

 private:
  kafka::Admin& admin();

  TopicCatalogSettings settings_;
  kafka::MockCluster* mock_;
  std::unique_ptr<kafka::Admin> admin_;
  std::unordered_set<std::string> mock_topics_;
};

}  // namespace streamframe::detail
