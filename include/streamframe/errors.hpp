// Error types of streamframe (SEMANTICS ERR-03). Every error derives from streamframe::Error.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>

namespace streamframe {

// Base of every streamframe error. An error raised while handling a Kafka message gets the
// message's origin attached (`set_origin`) so a user can find it again: what() then ends with
// "(topic 't', partition p, offset o)".
class Error : public std::exception {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

  void set_origin(const std::string& topic, int32_t partition, int64_t offset) {
    if (has_origin_) return;
    has_origin_ = true;
    topic_ = topic;
    partition_ = partition;
    offset_ = offset;
    message_ += " (topic '" + topic + "', partition " + std::to_string(partition) + ", offset " +
                std::to_string(offset) + ")";
  }
  bool has_origin() const noexcept { return has_origin_; }
  const std::string& topic() const noexcept { return topic_; }
  int32_t partition() const noexcept { return partition_; }
  int64_t offset() const noexcept { return offset_; }

 private:
  std::string message_;
  bool has_origin_ = false;
  std::string topic_;
  int32_t partition_ = -1;
  int64_t offset_ = -1;
};

// NOLINTBEGIN(bugprone-macro-parentheses): `Name` is a class name, which takes no parentheses.
#define STREAMFRAME_DEFINE_ERROR(Name) \
  class Name : public Error {          \
   public:                             \
    using Error::Error;                \
  };
// NOLINTEND(bugprone-macro-parentheses)

STREAMFRAME_DEFINE_ERROR(ConfigError)
STREAMFRAME_DEFINE_ERROR(InvalidOperation)
STREAMFRAME_DEFINE_ERROR(ColumnDoesNotExist)
STREAMFRAME_DEFINE_ERROR(InvalidColumnReference)
STREAMFRAME_DEFINE_ERROR(ValueTypeError)
STREAMFRAME_DEFINE_ERROR(ArithmeticError)
STREAMFRAME_DEFINE_ERROR(OverlappingColumns)
STREAMFRAME_DEFINE_ERROR(SerializationError)
STREAMFRAME_DEFINE_ERROR(TopicNotFound)
STREAMFRAME_DEFINE_ERROR(TopicPartitionsMismatch)
STREAMFRAME_DEFINE_ERROR(TopicConfigurationMismatch)
// SDF-12: the same group_by operation twice on one stream.
STREAMFRAME_DEFINE_ERROR(GroupByDuplicate)
STREAMFRAME_DEFINE_ERROR(InvalidStoredOffset)
// A state store's files are damaged (ST-08): the caller may delete and rebuild it.
STREAMFRAME_DEFINE_ERROR(RocksDBCorruptedError)
// APP-10: a stateful partition's committed offset is below the topic's low watermark.
STREAMFRAME_DEFINE_ERROR(StateRecoveryOffsetOutOfRange)
STREAMFRAME_DEFINE_ERROR(IncompatibleStateStoreError)
STREAMFRAME_DEFINE_ERROR(CheckpointProducerTimeout)
STREAMFRAME_DEFINE_ERROR(CheckpointConsumerCommitError)
STREAMFRAME_DEFINE_ERROR(Interrupted)
// A window got a record whose timestamp is negative or missing (windows need event time).
STREAMFRAME_DEFINE_ERROR(InvalidTimestamp)
// A user aggregator, reducer or collector threw; the message names the window and key.
STREAMFRAME_DEFINE_ERROR(AggregationError)
// A lookup join's query failed (JOIN-05); the message names the field and the database's error.
STREAMFRAME_DEFINE_ERROR(LookupError)
// A lookup join's database cannot be reached (at start: after connection_timeout; while
// running: after reconnect_timeout).
STREAMFRAME_DEFINE_ERROR(LookupConnectionError)

#undef STREAMFRAME_DEFINE_ERROR

// SRC-04: a source failed; the application stopped gracefully (final checkpoint) before
// run() threw this. cause() is what the source threw.
class SourceException : public Error {
 public:
  using Error::Error;
  SourceException(std::string message, std::string source, std::exception_ptr cause)
      : Error(std::move(message)), source_(std::move(source)), cause_(std::move(cause)) {}
  const std::string& source_name() const noexcept { return source_; }
  std::exception_ptr cause() const noexcept { return cause_; }

 private:
  std::string source_;
  std::exception_ptr cause_;
};

// SNK-03: thrown by a sink's write() or flush() when its destination cannot take more now.
// The application then drops what every sink holds (on_paused), commits nothing, moves every
// partition back to the last checkpoint and pauses them for retry_after: the records come
// again, nothing is lost.
class SinkBackpressureError : public Error {
 public:
  explicit SinkBackpressureError(std::chrono::milliseconds retry_after, std::string message = {})
      : Error(message.empty()
                  ? "sink backpressure: retry after " + std::to_string(retry_after.count()) + " ms"
                  : std::move(message)),
        retry_after_(retry_after) {}
  std::chrono::milliseconds retry_after() const noexcept { return retry_after_; }

 private:
  std::chrono::milliseconds retry_after_;
};

// Thrown by a deserializer to drop a message on purpose (TOP-10): the offset is still stored.
class IgnoreMessage : public Error {
 public:
  IgnoreMessage() : Error("message ignored") {}
  using Error::Error;
};

// A Kafka (librdkafka) error. `code` is librdkafka's rd_kafka_resp_err_t value; the flags
// come from librdkafka so callers can decide between retry, abort and stop.
class KafkaError : public Error {
 public:
  KafkaError(int code, const std::string& message, bool retriable = false, bool fatal = false,
             bool txn_requires_abort = false)
      : Error(message),
        code_(code),
        retriable_(retriable),
        fatal_(fatal),
        txn_requires_abort_(txn_requires_abort) {}

  int code() const noexcept { return code_; }
  bool retriable() const noexcept { return retriable_; }
  bool fatal() const noexcept { return fatal_; }
  bool txn_requires_abort() const noexcept { return txn_requires_abort_; }

 private:
  int code_;
  bool retriable_;
  bool fatal_;
  bool txn_requires_abort_;
};

class KafkaBrokerUnavailableError : public KafkaError {
 public:
  using KafkaError::KafkaError;
};

// APP-17: the brokers refused the connection: SASL authentication failed (wrong credentials,
// mechanism not enabled) or the TLS handshake failed (unknown CA, expired or mismatched
// certificate). The message names the broker and librdkafka's reason, never a secret.
class KafkaAuthenticationError : public KafkaError {
 public:
  using KafkaError::KafkaError;
};

}  // namespace streamframe
