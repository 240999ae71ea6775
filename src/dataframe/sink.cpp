#include "streamframe/sink.hpp"

#include "dataframe/metadata.hpp"
#include "streamframe/errors.hpp"

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

std::vector<std::span<const SinkItem>> SinkBatch::chunks(std::size_t n) const {
  if (n == 0) throw ConfigError("SinkBatch::chunks(0)");
  std::vector<std::span<const SinkItem>> out;
  for (std::size_t i = 0; i < items_.size(); i += n) {
    out.emplace_back(items_.data() + i, std::min(n, items_.size() - i));
  }
  return out;
}

BatchingSink::Batches& BatchingSink::mine() {
  std::lock_guard lock(mutex_);
  return by_worker_[std::this_thread::get_id()];
}

void BatchingSink::add(const Value& value, const Value& key, std::int64_t timestamp,
                       const Headers& headers, const std::string& topic, std::int32_t partition,
                       std::int64_t offset) {
  Batches& batches = mine();
  auto it = batches.find({topic, partition});
  if (it == batches.end()) {
    it = batches.emplace(std::make_pair(topic, partition), SinkBatch(topic, partition)).first;
  }
  it->second.append(SinkItem{value, key, timestamp, headers, offset});
}

void BatchingSink::flush() {
  // Taken first: a failed write drops the batches too, their records are replayed.
  Batches batches = std::move(mine());
  mine().clear();
  for (const auto& [tp, batch] : batches) {
    if (!batch.empty()) write(batch);
  }
}

void BatchingSink::on_paused() {
  mine().clear();
}

}  // namespace streamframe
