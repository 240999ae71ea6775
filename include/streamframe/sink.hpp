// Sinks: terminal destinations of a pipeline other than Kafka topics (SNK-01).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "streamframe/record.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void setup() {}
  virtual void add(const Value& value, const Value& key, std::int64_t timestamp,
                   const Headers& headers, const std::string& topic, std::int32_t partition,
                   std::int64_t offset) = 0;
  // Called at every checkpoint before offsets are committed; a throw aborts the checkpoint.
  virtual void flush() {}
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
