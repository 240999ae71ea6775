// The in-memory state of a StatefulSource and its changelog (SRC-03).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kafka/config.hpp"
#include "streamframe/value.hpp"

namespace streamframe::detail {

class SourceStore {
 public:
  // `consumer_config`: bootstrap.servers and the client settings the restore consumer needs.
  SourceStore(std::string changelog, kafka::Config consumer_config);

  // Replaces what is held with the changelog's content, read from its start to its end (the
  // last record of a key wins, a tombstone deletes). Throws KafkaError when the end is not
  // reached within `timeout`, SerializationError naming the offset of a record that is not
  // JSON.
  void restore(std::chrono::milliseconds timeout);

  Value get(const Value& key, Value default_value) const;
  void set(const Value& key, const Value& value);
  void remove(const Value& key);
  bool exists(const Value& key) const;

  // What changed since the last call, as changelog records: the key's JSON, the value's JSON
  // or nullopt (deleted).
  std::vector<std::pair<std::string, std::optional<std::string>>> take_changes();
  const std::string& changelog() const noexcept { return changelog_; }

 private:
  std::string changelog_;
  kafka::Config consumer_config_;
  std::map<std::string, Value> values_;  // by the key's JSON
  std::set<std::string> changed_;
};

}  // namespace streamframe::detail
