#include "streamframe/sink.hpp"

#include "dataframe/metadata.hpp"

namespace streamframe {

void ListSink::add(const Value& value, const Value& key, std::int64_t timestamp,
                   const Headers& headers, const std::string& topic, std::int32_t partition,
                   std::int64_t offset) {
  Value row = metadata_
                  ? detail::with_metadata(value, key, timestamp, headers, topic, partition, offset)
                  : value;
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
