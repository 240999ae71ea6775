// A preconfigured Kafka consumer for reading topics from user code (APP-23), e.g. a test
// reading what a pipeline wrote, as Quix Streams' app.get_consumer() gives. Pipelines
// themselves consume through app.dataframe().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "streamframe/record.hpp"

namespace streamframe {

// One message as poll() returns it (a copy: it outlives the next poll).
struct ConsumedMessage {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> key;    // nullopt: a null key
  std::optional<std::string> value;  // nullopt: a tombstone
  std::int64_t timestamp = 0;        // ms
  Headers headers;
};

// A group member with the application's broker address, consumer group, auto_offset_reset,
// isolation level (read_committed) and consumer_extra_config. Offsets are committed only once
// stored: store_offsets() marks a message processed, and the periodic auto-commit (on by
// default) or commit() sends what was stored, so a message read but not stored is read again
// by the group's next member (at-least-once, as Quix Streams' consumer does). One thread uses
// it at a time.
class Consumer {
 public:
  class Impl;
  explicit Consumer(std::unique_ptr<Impl> impl);
  Consumer(Consumer&&) noexcept;
  Consumer& operator=(Consumer&&) noexcept;
  ~Consumer();  // close()s, logging instead of throwing

  // Joins the group for these topics (replacing an earlier subscription). A topic that does
  // not exist gets no partitions until it does.
  void subscribe(const std::vector<std::string>& topics);
  // The next message, or nullopt when none came within `timeout`. A fatal consumer error
  // (auto_offset_reset "error" without a committed offset, a group the broker refuses)
  // throws KafkaError.
  std::optional<ConsumedMessage> poll(std::chrono::milliseconds timeout);
  // Marks `message` processed: its offset + 1 is what the next commit sends for its partition.
  void store_offsets(const ConsumedMessage& message);
  // Commits the stored offsets now (synchronously); a no-op when none are stored. Throws
  // KafkaError when the broker refuses the commit.
  void commit();
  // Stores and commits `message`'s offset + 1 now.
  void commit(const ConsumedMessage& message);
  // The partitions this member holds now.
  std::vector<std::pair<std::string, std::int32_t>> assignment() const;
  // Commits the stored offsets (with auto-commit on) and leaves the group. Idempotent; any
  // other call after it throws InvalidOperation.
  void close();

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamframe
