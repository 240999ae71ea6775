#include "streamframe/sink.hpp"

namespace streamframe {

void ListSink::add(const Value& value, const Value& key, std::int64_t timestamp,
                   const Headers& headers, const std::string& topic, std::int32_t partition,
                   std::int64_t offset) {
  Value row = value;
  if (metadata_) {
    Array hdrs;
    for (const auto& [k, v] : headers) hdrs.push_back(Value::array({Value(k), Value(v)}));
    Object obj{{"_key", key},     {"_timestamp", timestamp}, {"_headers", Value(std::move(hdrs))},
               {"_topic", topic}, {"_partition", partition}, {"_offset", offset}};
    if (value.is_object()) {
      for (const auto& [k, v] : value.as_object()) obj.set(k, v);
    } else {
      obj.set("_value", value);
    }
    row = Value(std::move(obj));
  }
  std::lock_guard lock(mutex_);
  rows_.push_back(std::move(row));
}

std::vector<Value> ListSink::rows() const {
  std::lock_guard lock(mutex_);
  return rows_;
}

std::size_t ListSink::size() const {
  std::lock_guard lock(mutex_);
  return rows_.size();
}

}  // namespace streamframe
