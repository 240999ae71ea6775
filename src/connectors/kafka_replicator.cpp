// KafkaReplicatorSource: a consumer of the other cluster in the group "source-<name>" there,
// copying each message to the same partition here through the source's producer. The
// consumed offsets are committed to the other cluster only after a flush of the producer
// returned, so a commit never covers a copy that is not acknowledged.
#include "streamframe/kafka_replicator.hpp"

#include <atomic>
#include <map>
#include <vector>

#include "core/logging.hpp"
#include "kafka/admin.hpp"
#include "kafka/config.hpp"
#include "kafka/consumer.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

namespace {

using Clock = std::chrono::steady_clock;

kafka::Config other_cluster_config(const KafkaReplicatorSourceOptions& o,
                                   const std::string& group) {
  kafka::Config c = kafka::default_consumer_config();
  c.emplace_back("bootstrap.servers", o.broker_address);
  c.emplace_back("group.id", group);
  c.emplace_back("auto.offset.reset", o.auto_offset_reset);
  c.emplace_back("enable.auto.commit", "false");
  for (const auto& [k, v] : o.consumer_extra_config) c.emplace_back(k, v);
  return c;
}

}  // namespace

struct KafkaReplicatorSource::Impl {
  KafkaReplicatorSourceOptions o;
  std::string group;
  std::unique_ptr<kafka::Consumer> consumer;
  // The next offset to commit per partition, for what was produced since the last commit.
  std::map<std::int32_t, std::int64_t> pending;
  std::int64_t since_commit = 0;
  Clock::time_point last_commit = Clock::now();
  std::atomic<std::uint64_t> copied{0};
};

KafkaReplicatorSource::KafkaReplicatorSource(std::string name, KafkaReplicatorSourceOptions options)
    : Source(name, options.shutdown_timeout), impl_(std::make_unique<Impl>()) {
  impl_->o = std::move(options);
  impl_->group = "source-" + name;
  const auto& o = impl_->o;
  if (o.topic.empty()) throw ConfigError("KafkaReplicatorSource: topic is required");
  if (o.broker_address.empty()) {
    throw ConfigError("KafkaReplicatorSource: broker_address (the other cluster) is required");
  }
  if (o.auto_offset_reset != "latest" && o.auto_offset_reset != "earliest") {
    throw ConfigError(
        "KafkaReplicatorSource: auto_offset_reset must be \"latest\" or "
        "\"earliest\", not \"" +
        o.auto_offset_reset + "\"");
  }
  if (o.commit_interval.count() <= 0 && o.commit_every <= 0) {
    throw ConfigError("KafkaReplicatorSource: set commit_interval or commit_every");
  }
}

KafkaReplicatorSource::~KafkaReplicatorSource() = default;

TopicOptions KafkaReplicatorSource::default_topic_options() const {
  TopicOptions t;
  t.key_serializer = "bytes";
  t.value_serializer = "bytes";
  t.key_deserializer = impl_->o.key_deserializer;
  t.value_deserializer = impl_->o.value_deserializer;
  kafka::Config admin_config{{"bootstrap.servers", impl_->o.broker_address}};
  for (const auto& [k, v] : impl_->o.consumer_extra_config) {
    // Connection and security settings apply to the admin client too; consumer-only ones not.
    if (k.starts_with("security.") || k.starts_with("sasl.") || k.starts_with("ssl.")) {
      admin_config.emplace_back(k, v);
    }
  }
  kafka::Admin admin(admin_config);
  const auto partitions = admin.partition_count(impl_->o.topic, std::chrono::seconds(30));
  if (!partitions) {
    throw ConfigError("KafkaReplicatorSource '" + name() + "': the cluster at " +
                      impl_->o.broker_address + " has no topic '" + impl_->o.topic + "'");
  }
  t.config = TopicConfig{.num_partitions = *partitions};
  return t;
}

void KafkaReplicatorSource::setup() {
  auto& impl = *impl_;
  kafka::RebalanceHandler handler;
  // Before partitions go to another member: what was copied from them is committed.
  handler.on_revoke = [this](const std::vector<kafka::TopicPartition>& revoked) {
    auto& i = *impl_;
    std::vector<kafka::TopicPartition> commit;
    for (const auto& tp : revoked) {
      auto it = i.pending.find(tp.partition);
      if (it == i.pending.end()) continue;
      commit.push_back({i.o.topic, tp.partition, it->second});
      i.pending.erase(it);
    }
    if (commit.empty()) return;
    flush(shutdown_timeout());
    i.consumer->commit(commit);
  };
  handler.on_lost = [this](const std::vector<kafka::TopicPartition>& lost) {
    for (const auto& tp : lost) impl_->pending.erase(tp.partition);
  };
  impl.consumer =
      std::make_unique<kafka::Consumer>(other_cluster_config(impl.o, impl.group), handler);
  impl.consumer->subscribe({impl.o.topic});
  impl.last_commit = Clock::now();
}

void KafkaReplicatorSource::run() {
  auto& impl = *impl_;
  std::vector<kafka::Message> batch;
  while (running()) {
    batch.clear();
    impl.consumer->poll_batch(batch, 1000, std::chrono::milliseconds(100));
    for (const auto& m : batch) {
      if (m.end_of_partition()) continue;
      produce(m.value(), m.key(), m.headers(), m.partition(), m.timestamp());
      impl.pending[m.partition()] = m.offset() + 1;
      ++impl.since_commit;
      ++impl.copied;
    }
    const bool due = (impl.o.commit_every > 0 && impl.since_commit >= impl.o.commit_every) ||
                     (impl.o.commit_interval.count() > 0 &&
                      Clock::now() - impl.last_commit >= impl.o.commit_interval);
    if (due && !impl.pending.empty()) {
      flush(shutdown_timeout());
      std::vector<kafka::TopicPartition> commit;
      for (const auto& [p, next] : impl.pending) commit.push_back({impl.o.topic, p, next});
      impl.consumer->commit(commit);
      impl.pending.clear();
      impl.since_commit = 0;
    }
    if (due) impl.last_commit = Clock::now();
  }
}

void KafkaReplicatorSource::cleanup(bool failed) {
  auto& impl = *impl_;
  if (impl.consumer) {
    if (!failed && !impl.pending.empty()) {
      try {
        flush(shutdown_timeout() / 2);
        std::vector<kafka::TopicPartition> commit;
        for (const auto& [p, next] : impl.pending) commit.push_back({impl.o.topic, p, next});
        impl.consumer->commit(commit);
        impl.pending.clear();
      } catch (const std::exception& e) {
        // The copies are acknowledged or not; either way the next run copies them again.
        detail::logger()->warn("KafkaReplicatorSource '{}': final commit failed: {}", name(),
                               e.what());
      }
    }
    try {
      impl.consumer->close();
    } catch (const std::exception& e) {
      detail::logger()->warn("KafkaReplicatorSource '{}': closing the consumer: {}", name(),
                             e.what());
    }
    impl.consumer.reset();
  }
  Source::cleanup(failed);
}

std::uint64_t KafkaReplicatorSource::copied() const {
  return impl_->copied.load();
}

}  // namespace streamframe
