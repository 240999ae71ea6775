// A preconfigured Kafka producer for feeding topics from user code (APP-23), e.g. test data
// or a quickstart generator. Pipelines themselves produce through to_topic().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "streamframe/record.hpp"
#include "streamframe/topic.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

class Producer {
 public:
  class Impl;
  explicit Producer(std::unique_ptr<Impl> impl);
  Producer(Producer&&) noexcept;
  Producer& operator=(Producer&&) noexcept;
  ~Producer();  // flushes for up to 30 s

  // Raw bytes. nullopt key = null key; nullopt value = tombstone; partition -1 = by key
  // (murmur2, as Java clients do). Blocks briefly when the local queue is full.
  void produce(std::string_view topic, std::optional<std::string_view> key,
               std::optional<std::string_view> value, std::int64_t timestamp = 0,
               const Headers& headers = {}, std::int32_t partition = -1);
  // Serializes with the topic's serializers; the value serializer's extra_headers() are
  // appended after `headers` (TOP-13), as to_topic() does.
  void produce(const Topic& topic, const Value& value, const Value& key = Value(),
               std::int64_t timestamp = 0, const Headers& headers = {});
  // Waits until everything produced is acknowledged; false on timeout. Throws KafkaError if a
  // delivery failed since the last flush.
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::uint64_t delivered() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamframe
