// Sinks: terminal destinations of a pipeline other than Kafka topics (SNK-01).
#pragma once

#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "streamframe/record.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

// A sink's methods are called by the worker that owns the record's partition, on its thread;
// with num_workers > 1 one sink is shared by the workers, so its methods must be thread-safe.
class Sink {
 public:
  virtual ~Sink() = default;
  // Connects to the destination when the application starts. A throw goes to
  // on_client_connect_failure, which rethrows by default (run() then fails); else
  // on_client_connect_success runs.
  virtual void setup() {}
  virtual void on_client_connect_success() {}
  virtual void on_client_connect_failure(std::exception_ptr error) {
    std::rethrow_exception(error);
  }
  virtual void add(const Value& value, const Value& key, std::int64_t timestamp,
                   const Headers& headers, const std::string& topic, std::int32_t partition,
                   std::int64_t offset) = 0;
  // Called at every checkpoint before offsets are committed. SinkBackpressureError => the
  // records since the last checkpoint come again after its retry_after (SNK-03); any other
  // throw aborts the checkpoint and stops the application.
  virtual void flush() {}
  // SNK-03: a sink asked to retry later: drop what was added since the last flush (it will be
  // added again).
  virtual void on_paused() {}
};

// One record of a SinkBatch.
struct SinkItem {
  Value value;
  Value key;
  std::int64_t timestamp = 0;
  Headers headers;
  std::int64_t offset = -1;
};

// The records of one topic partition since the last checkpoint, in offset order (SNK-02).
class SinkBatch {
 public:
  SinkBatch(std::string topic, std::int32_t partition)
      : topic_(std::move(topic)), partition_(partition) {}
  const std::string& topic() const noexcept { return topic_; }
  std::int32_t partition() const noexcept { return partition_; }
  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  const std::vector<SinkItem>& items() const noexcept { return items_; }
  // The items in consecutive runs of at most `n` (the last may be shorter); n = 0 =>
  // ConfigError.
  std::vector<std::span<const SinkItem>> chunks(std::size_t n) const;
  void append(SinkItem item) { items_.push_back(std::move(item)); }

 private:
  std::string topic_;
  std::int32_t partition_;
  std::vector<SinkItem> items_;
};

// A sink that writes in batches (SNK-02): add() keeps one SinkBatch per topic partition, and
// flush() hands each to write() and drops it, written or not (an aborted checkpoint replays
// its records). Implement write(), e.g. one multi-row INSERT per batch; throw
// SinkBackpressureError from it when the destination asks to slow down.
//
// The batches are kept per worker thread: a worker's checkpoint writes (or, on_paused, drops)
// the records of its own partitions only, never those another worker has not checkpointed.
class BatchingSink : public Sink {
 public:
  void add(const Value& value, const Value& key, std::int64_t timestamp, const Headers& headers,
           const std::string& topic, std::int32_t partition, std::int64_t offset) override;
  void flush() override;
  void on_paused() override;

 protected:
  virtual void write(const SinkBatch& batch) = 0;

 private:
  using Batches = std::map<std::pair<std::string, std::int32_t>, SinkBatch>;
  // The calling worker's batches.
  Batches& mine();
  std::mutex mutex_;
  std::map<std::thread::id, Batches> by_worker_;
};

struct ListSinkOptions {
  // Each row becomes an object with _key, _timestamp, _headers, _topic, _partition, _offset
  // prepended to the value's fields.
  bool metadata = false;
};

// Collects rows in memory (SNK-04): `std::make_shared<ListSink>(ListSinkOptions{.metadata =
// true})`. Thread-safe: workers add while another thread reads.
class ListSink : public Sink {
 public:
  explicit ListSink(ListSinkOptions options = {}) : metadata_(options.metadata) {}
  void add(const Value& value, const Value& key, std::int64_t timestamp, const Headers& headers,
           const std::string& topic, std::int32_t partition, std::int64_t offset) override;
  std::vector<Value> rows() const;
  std::size_t size() const;

 private:
  bool metadata_;
  mutable std::mutex mutex_;
  std::vector<Value> rows_;
};

}  // namespace streamframe
