#include "streamframe/topic.hpp"

#include "streamframe/errors.hpp"

namespace streamframe {
namespace {

template <class T, class Make>
std::shared_ptr<const T> resolve(const SerdeRef<T>& ref, Make make) {
  if (ref.object) return ref.object;
  return make(ref.name);
}

std::shared_ptr<const Serializer> bound_to_topic(std::shared_ptr<const Serializer> serializer,
                                                 const std::string& topic, bool key) {
  if (auto bound = serializer->for_topic(topic, key)) return bound;
  return serializer;
}

}  // namespace

Topic Topic::make(std::string name, const TopicOptions& options) {
  // Kafka itself refuses names over 249 characters, so a longer one can never work.
  if (name.empty() || name.size() > 249) {
    throw ConfigError("topic name must have 1 to 249 characters, got " +
                      std::to_string(name.size()));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) throw ConfigError("topic name '" + name + "' has a character Kafka does not allow");
  }
  auto def = std::make_shared<Definition>();
  def->name = std::move(name);
  def->config = options.config.value_or(TopicConfig{});
  if (def->config.num_partitions < 1 || def->config.replication_factor < 1) {
    throw ConfigError("topic '" + def->name +
                      "': num_partitions and replication_factor must be >= 1");
  }
  def->value_deserializer = resolve(options.value_deserializer, make_deserializer);
  def->key_deserializer = resolve(options.key_deserializer, make_deserializer);
  def->value_serializer =
      bound_to_topic(resolve(options.value_serializer, make_serializer), def->name, false);
  def->key_serializer =
      bound_to_topic(resolve(options.key_serializer, make_serializer), def->name, true);
  def->timestamp_extractor = options.timestamp_extractor;
  return Topic(std::move(def));
}

}  // namespace streamframe
