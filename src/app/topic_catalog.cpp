#include "app/topic_catalog.hpp"

#include <algorithm>

#include "core/logging.hpp"
#include "dataframe/graph.hpp"
#include "kafka/codes.hpp"
#include "kafka/mock_cluster.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {
namespace {

bool is_unreachable(int code) {
  return code == kafka::code::transport || code == kafka::code::timed_out ||
         code == kafka::code::all_brokers_down || code == kafka::code::resolve;
}

KafkaError not_listed(const std::string& what, std::chrono::milliseconds timeout) {
  return KafkaError(kafka::code::timed_out,
                    what + " was created but metadata did not list it within " +
                        std::to_string(timeout.count()) + " ms",
                    true, false);
}

}  // namespace

TopicCatalog::TopicCatalog(TopicCatalogSettings settings, kafka::MockCluster* mock)
    : settings_(std::move(settings)), mock_(mock) {}

kafka::Admin& TopicCatalog::admin() {
  if (!admin_) admin_ = std::make_unique<kafka::Admin>(settings_.admin_config);
  return *admin_;
}

bool TopicCatalog::reachable() {
  if (mock_ != nullptr) return true;
  if (admin().wait_until_reachable(settings_.request_timeout)) return true;
  admin().throw_if_refused();  // APP-17: a refusal says why
  return false;
}

Topic TopicCatalog::ensure(std::string name, const TopicOptions& options, bool internal) {
  Topic t = Topic::make(std::move(name), options);
  const auto& cfg = t.config();
  if (mock_) {
    // The mock cluster has no admin API; its own call creates topics (DESIGN "Brokers").
    if (!mock_topics_.count(t.name())) {
      mock_->create_topic(t.name(), cfg.num_partitions, cfg.replication_factor);
      mock_topics_.insert(t.name());
    }
    return t;
  }
  std::optional<kafka::TopicDescription> existing;
  try {
    existing = admin().describe_topic(t.name(), settings_.request_timeout);
  } catch (const KafkaError& e) {
    // Usually the first call that needs the broker: say which address was not reachable.
    if (!is_unreachable(e.code())) throw;
    throw KafkaBrokerUnavailableError(
        e.code(),
        "no Kafka broker reachable at '" + settings_.bootstrap + "' within " +
            std::to_string(settings_.request_timeout.count()) + " ms: " + e.what(),
        true, false);
  }
  if (existing) {
    if (internal && existing->partitions != cfg.num_partitions) {
      throw TopicConfigurationMismatch(
          "internal topic '" + t.name() + "' has " + std::to_string(existing->partitions) +
          " partitions but the pipeline needs " + std::to_string(cfg.num_partitions) +
          " (the partition count of its input changed?); delete it to start over");
    }
    // The topic's real partitions, replication and retention, not the defaults of a
    // definition made without a config: what group_by derives its repartition topics from
    // (TOP-14).
    std::map<std::string, std::string> retention;
    if (!internal) {
      try {
        const auto actual = admin().topic_config(t.name(), settings_.request_timeout);
        for (const char* key : kInheritedTopicConfig) {
          const auto it = actual.find(key);
          if (it != actual.end() && !cfg.extra_config.count(key)) {
            retention.emplace(key, it->second);
          }
        }
      } catch (const KafkaError& e) {
        // E.g. no DescribeConfigs permission: internal topics then get the broker's defaults.
        logger()->info(
            "topic '{}': its retention settings could not be read ({}); topics "
            "derived from it get the broker's defaults",
            t.name(), e.what());
      }
    }
    if (existing->partitions != cfg.num_partitions ||
        existing->replication_factor != cfg.replication_factor || !retention.empty()) {
      auto def = std::make_shared<Topic::Definition>(t.definition());
      def->config.num_partitions = existing->partitions;
      if (existing->replication_factor > 0) {
        def->config.replication_factor = existing->replication_factor;
      }
      def->config.extra_config.insert(retention.begin(), retention.end());
      t = Topic(std::move(def));
    }
    return t;
  }
  if (!settings_.auto_create_topics && !internal) {
    throw TopicNotFound("topic '" + t.name() + "' does not exist and auto_create_topics is off");
  }
  admin().create_topic(t.name(), cfg.num_partitions, cfg.replication_factor, cfg.extra_config,
                       settings_.topic_create_timeout);
  // Returned only once metadata lists it, so a producer or consumer started next finds it.
  if (!admin().wait_for_topic(t.name(), settings_.topic_create_timeout)) {
    throw not_listed("topic '" + t.name() + "'", settings_.topic_create_timeout);
  }
  logger()->info("created topic '{}' ({} partitions, replication factor {})", t.name(),
                 cfg.num_partitions, cfg.replication_factor);
  return t;
}

std::string TopicCatalog::changelog_name(const std::string& stream_id,
                                         const std::string& store) const {
  return "changelog__" + settings_.consumer_group + "--" + stream_id + "--" + store;
}

ChangelogMap TopicCatalog::prepare_changelogs(const std::vector<std::shared_ptr<Graph>>& graphs) {
  ChangelogMap out;
  if (mock_) return out;
  for (const auto& g : graphs) {
    if (!g->stateful()) continue;
    // ensure() found or created the source a moment ago: a broker that does not list it yet
    // has not caught up with the controller.
    const auto source = admin().wait_for_topic(g->topic().name(), settings_.request_timeout);
    if (!source) throw TopicNotFound("topic '" + g->topic().name() + "' does not exist");
    for (const auto& store : g->stores()) {
      const std::string name = changelog_name(store.stream_id, store.name);
      auto existing = admin().describe_topic(name, settings_.request_timeout);
      if (!existing) {
        // Absent, or listed only by brokers other than the one asked: creating it then
        // reports that it exists, and the partition check below still runs.
        if (admin().create_topic(name, source->partitions, source->replication_factor,
                                 {{"cleanup.policy", "compact"}}, settings_.topic_create_timeout)) {
          logger()->info("created changelog topic '{}' ({} partitions)", name, source->partitions);
        }
        // Restoring reads its end offsets first: it must be listed by then.
        existing = admin().wait_for_topic(name, settings_.topic_create_timeout);
        if (!existing) {
          throw not_listed("changelog topic '" + name + "'", settings_.topic_create_timeout);
        }
      }
      if (existing->partitions != source->partitions) {
        throw TopicConfigurationMismatch("changelog topic '" + name + "' has " +
                                         std::to_string(existing->partitions) +
                                         " partitions but its source topic '" + g->topic().name() +
                                         "' has " + std::to_string(source->partitions));
      }
      out[{store.stream_id, store.name}] = name;
    }
  }
  return out;
}

void TopicCatalog::check_in_place_group_by(const std::vector<std::shared_ptr<Graph>>& graphs) {
  if (mock_) return;  // the embedded broker's topics are made with the declared count
  for (const auto& g : graphs) {
    if (!g->rekeys_in_place()) continue;
    const auto topic = admin().describe_topic(g->topic().name(), settings_.request_timeout);
    if (topic && topic->partitions != 1) {
      throw TopicConfigurationMismatch(
          "topic '" + g->topic().name() + "' has " + std::to_string(topic->partitions) +
          " partitions, but the pipeline was declared for one, where group_by re-keys in place "
          "without a repartition topic; declare the pipeline again (app.topic() reads the "
          "topic's partition count)");
    }
  }
}

void TopicCatalog::check_co_partitioned(const std::vector<std::shared_ptr<Graph>>& graphs) {
  const auto groups = task_groups(graphs);
  if (std::all_of(groups.begin(), groups.end(), [](const auto& g) { return g.size() < 2; })) {
    return;
  }
  // The topics may have grown since their declaration: the broker's counts decide.
  detail::check_co_partitioned(graphs, groups, [this](const Graph& g) {
    if (mock_) return g.topic().config().num_partitions;
    const auto topic = admin().describe_topic(g.topic().name(), settings_.request_timeout);
    return topic ? topic->partitions : g.topic().config().num_partitions;
  });
}

TopicOptions TopicCatalog::dead_letter_options() {
  TopicOptions o;
  o.value_deserializer = "bytes";
  o.value_serializer = "bytes";
  o.key_deserializer = "bytes";
  o.key_serializer = "bytes";
  return o;
}

void TopicCatalog::prepare_dead_letter_topic(const std::string& name,
                                             const std::vector<std::shared_ptr<Graph>>& graphs) {
  for (const auto& g : graphs) {
    if (g->topic().name() == name) {
      throw ConfigError("dead_letter_topic '" + name +
                        "' is also an input topic: a dead letter would be consumed again");
    }
  }
  try {
    (void)ensure(name, dead_letter_options());
  } catch (const TopicNotFound& e) {
    throw TopicNotFound(std::string("dead_letter_topic: ") + e.what());
  }
}

std::vector<std::string> TopicCatalog::delete_internal_topics(
    const std::vector<std::shared_ptr<Graph>>& graphs, const std::vector<std::string>& more) {
  std::vector<std::string> names = more;
  for (const auto& g : graphs) {
    if (g->upstream()) names.push_back(g->topic().name());  // a repartition topic
    for (const auto& store : g->stores()) {
      names.push_back(changelog_name(store.stream_id, store.name));
    }
  }
  std::vector<std::string> deleted;
  for (const auto& name : names) {
    if (admin().delete_topic(name, settings_.topic_create_timeout)) {
      logger()->info("deleted internal topic '{}'", name);
      deleted.push_back(name);
    }
  }
  return deleted;
}

}  // namespace streamframe::detail
