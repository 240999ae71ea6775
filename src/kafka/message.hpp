// A consumed Kafka message as the layers above the Kafka layer see it: plain fields read once
// when the consumer takes the message, views of its key and value bytes, headers read on
// demand. Nothing here needs librdkafka's header, so code above src/kafka never includes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "streamframe/errors.hpp"
#include "streamframe/record.hpp"

struct rd_kafka_message_s;

namespace streamframe::kafka {

class HandleRefs;

// Identifies a message's topic within one consumer without comparing names: equal for every
// message of the same topic (librdkafka keeps one topic object per name). Only for lookups.
using TopicId = const void*;

// Owns the underlying librdkafka message (its key, value and headers live there), so the
// views stay valid for the Message's lifetime. It may outlive the Consumer that returned it.
// Move-only.
class Message {
  // Only the Consumer makes messages; the key lets it construct them in place in its output
  // vector (emplace_back needs a public constructor).
  struct Key {
    explicit Key() = default;
  };

 public:
  Message() = default;
  // Takes `raw` and one reference on `owner` (may be null). Reads the plain fields once;
  // `topic` is the name of raw's topic (the caller may know it from an earlier message).
  Message(Key, rd_kafka_message_s* raw, HandleRefs* owner, std::string_view topic) noexcept;
  ~Message();
  Message(Message&& other) noexcept;
  Message& operator=(Message&& other) noexcept;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  std::string_view topic() const noexcept { return topic_; }
  TopicId topic_id() const noexcept { return topic_id_; }
  std::int32_t partition() const noexcept { return partition_; }
  std::int64_t offset() const noexcept { return offset_; }
  // Key bytes; nullopt for a null key.
  std::optional<std::string_view> key() const noexcept {
    if (key_ == nullptr) return std::nullopt;
    return std::string_view(key_, key_size_);
  }
  // Value bytes; nullopt for a tombstone (null value).
  std::optional<std::string_view> value() const noexcept {
    if (value_ == nullptr) return std::nullopt;
    return std::string_view(value_, value_size_);
  }
  // Serialized value size in bytes (0 for a tombstone).
  std::size_t size() const noexcept { return value_size_; }
  // Kafka timestamp in ms (-1 when the record has none) and its type.
  std::int64_t timestamp() const noexcept { return timestamp_; }
  TimestampType timestamp_type() const noexcept { return timestamp_type_; }

  // Not a record: the consumer reached the end of the partition (offset() is where the next
  // record will be). Only with enable.partition.eof=true.
  bool end_of_partition() const noexcept { return end_of_partition_; }
  // Not a record: an error that stops the consumer (auto_offset_reset=error without a
  // committed offset, a fatal consumer error), classified by Consumer::poll_batch and kept in
  // its place in the batch, so what comes before it (and the assignment's preparation) goes
  // first. Every other in-band error is logged by poll_batch and never reaches its caller.
  const KafkaError* error() const noexcept { return error_.get(); }
  // Throws error() when set.
  void throw_if_error() const {
    if (error_) throw *error_;
  }

  // Copies the headers (empty when there are none); a null value stays nullopt. Throws
  // KafkaError when librdkafka cannot parse them.
  Headers headers() const;
  // The same into `out`, reusing its entries and their strings' capacity: a hot path that
  // keeps `out` across messages allocates nothing once warm.
  void headers(Headers& out) const;
  // The value of the last header named `name`, as a view into the message; nullopt when
  // there is none, its value is null, or the headers cannot be parsed.
  std::optional<std::string_view> last_header(const char* name) const noexcept;

  // For a message kept past the next polls (a buffer of time-aligned consumption): copies its
  // key, value, headers and topic name into memory of its own and releases the librdkafka
  // message. librdkafka keeps the whole fetch response a message came in (the records of
  // every partition fetched with it) until the response's last message is destroyed, so a
  // few thousand kept messages can hold hundreds of MiB. False (and nothing changed) when the
  // headers cannot be parsed: the error surfaces where the headers are read, as before.
  bool detach() noexcept;

 private:
  friend class Consumer;
  struct Detached {
    std::string topic;
    std::string bytes;  // the key, then the value
    Headers headers;
  };
  void release() noexcept;

  rd_kafka_message_s* raw_ = nullptr;
  HandleRefs* owner_ = nullptr;
  std::string_view topic_;
  TopicId topic_id_ = nullptr;
  const char* key_ = nullptr;
  const char* value_ = nullptr;
  std::size_t key_size_ = 0;
  std::size_t value_size_ = 0;
  std::int64_t offset_ = -1;
  std::int64_t timestamp_ = -1;
  std::int32_t partition_ = -1;
  TimestampType timestamp_type_ = TimestampType::none;
  bool end_of_partition_ = false;
  std::unique_ptr<KafkaError> error_;
  std::unique_ptr<Detached> detached_;  // after detach(): what the views point at
};

}  // namespace streamframe::kafka
