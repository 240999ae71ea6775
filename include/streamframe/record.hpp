// Record metadata: headers and the Kafka message context a row came from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "streamframe/value.hpp"

namespace streamframe {

// A header's value: raw bytes, or nullopt for a null value. Kafka tells a null value from an
// empty one, and so does streamframe: both pass through unchanged.
using HeaderValue = std::optional<std::string>;
// Headers in order; names may repeat. `{{"a", "b"}, {"c", std::nullopt}}` builds two entries
// (the second with a null value). The optional adds no allocation: a value lives inline in it.
using Headers = std::vector<std::pair<std::string, HeaderValue>>;

// Kafka timestamp type of a consumed message (TOP-12).
enum class TimestampType : int { none = 0, create_time = 1, log_append_time = 2 };

struct MessageContext {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::size_t size = 0;  // serialized value size in bytes
  std::int32_t leader_epoch = -1;
};

// A row leaving a pipeline: what `run({.count=...})`, `sdf.test()` and sinks see.
struct Row {
  Value value;
  Value key;  // null, or the deserialized key (bytes keys become strings of the same bytes)
  std::int64_t timestamp = 0;
  Headers headers;
};

}  // namespace streamframe
