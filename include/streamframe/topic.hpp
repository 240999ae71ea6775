// Topic: a Kafka topic as a pipeline sees it — name, serdes, creation config (APP-18).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "streamframe/record.hpp"
#include "streamframe/serde.hpp"

namespace streamframe {

// Partitions, replication and extra topic config used when the topic is created.
struct TopicConfig {
  int num_partitions = 1;
  int replication_factor = 1;
  std::map<std::string, std::string> extra_config{};
};

// (value, headers, kafka timestamp, timestamp type) -> row timestamp in ms (TOP-12).
using TimestampExtractor =
    std::function<std::int64_t(const Value&, const Headers&, std::int64_t, TimestampType)>;

// A serde given by built-in name ("json", "bytes", ...) or as an object.
template <class T>
struct SerdeRef {
  SerdeRef(const char* name) : name(name) {}
  SerdeRef(std::string name) : name(std::move(name)) {}
  SerdeRef(std::shared_ptr<const T> object) : object(std::move(object)) {}
  std::string name;
  std::shared_ptr<const T> object;
};

struct TopicOptions {
  SerdeRef<Deserializer> value_deserializer = "json";
  SerdeRef<Deserializer> key_deserializer = "bytes";
  SerdeRef<Serializer> value_serializer = "json";
  SerdeRef<Serializer> key_serializer = "bytes";
  // Unset => the topic is created with TopicConfig{} (1 partition, replication factor 1).
  std::optional<TopicConfig> config{};
  TimestampExtractor timestamp_extractor{};
};

// Cheap to copy; all copies refer to one definition.
class Topic {
 public:
  struct Definition {
    std::string name;
    TopicConfig config;
    std::shared_ptr<const Deserializer> value_deserializer;
    std::shared_ptr<const Deserializer> key_deserializer;
    std::shared_ptr<const Serializer> value_serializer;
    std::shared_ptr<const Serializer> key_serializer;
    TimestampExtractor timestamp_extractor;
  };

  explicit Topic(std::shared_ptr<const Definition> def) : def_(std::move(def)) {}
  const std::string& name() const noexcept { return def_->name; }
  const TopicConfig& config() const noexcept { return def_->config; }
  const Definition& definition() const noexcept { return *def_; }
  // Builds a definition from options, resolving serdes by name (unknown name => ConfigError,
  // name empty or > 249 characters => ConfigError).
  [[nodiscard]] static Topic make(std::string name, const TopicOptions& options);

 private:
  std::shared_ptr<const Definition> def_;
};

}  // namespace streamframe
