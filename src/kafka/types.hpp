// Plain types and RAII handles of the Kafka layer (private to the library).
//
// Every librdkafka C object the layer owns lives in a std::unique_ptr whose deleter calls the
// matching *_destroy function, so no code path destroys a handle by hand.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamframe/record.hpp"

namespace streamframe::kafka {

// A deleter calling librdkafka's destroy function `Fn` for a non-null pointer.
template <auto Fn>
struct Destroy {
  template <typename T>
  void operator()(T* p) const noexcept {
    if (p != nullptr) Fn(p);
  }
};

// rd_kafka_t: owners with consumer semantics (Consumer) close before they reset this pointer.
using KafkaPtr = std::unique_ptr<rd_kafka_t, Destroy<rd_kafka_destroy>>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, Destroy<rd_kafka_conf_destroy>>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, Destroy<rd_kafka_topic_destroy>>;
using TopicPartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t,
                                              Destroy<rd_kafka_topic_partition_list_destroy>>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, Destroy<rd_kafka_headers_destroy>>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, Destroy<rd_kafka_error_destroy>>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, Destroy<rd_kafka_queue_destroy>>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, Destroy<rd_kafka_event_destroy>>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, Destroy<rd_kafka_metadata_destroy>>;
using AdminOptionsPtr =
    std::unique_ptr<rd_kafka_AdminOptions_t, Destroy<rd_kafka_AdminOptions_destroy>>;
using NewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, Destroy<rd_kafka_NewTopic_destroy>>;
using DeleteTopicPtr =
    std::unique_ptr<rd_kafka_DeleteTopic_t, Destroy<rd_kafka_DeleteTopic_destroy>>;
using ConfigResourcePtr =
    std::unique_ptr<rd_kafka_ConfigResource_t, Destroy<rd_kafka_ConfigResource_destroy>>;
using MockClusterPtr =
    std::unique_ptr<rd_kafka_mock_cluster_t, Destroy<rd_kafka_mock_cluster_destroy>>;
// A consumer's group metadata (group id, generation, member id) for
// Producer::send_offsets_to_transaction; from Consumer::group_metadata().
using GroupMetadataPtr = std::unique_ptr<rd_kafka_consumer_group_metadata_t,
                                         Destroy<rd_kafka_consumer_group_metadata_destroy>>;

// rd_kafka_destroy() on a thread of its own, waited for up to 10 s. librdkafka 2.0.2's destroy
// of a consumer can wait forever for one of its broker threads after a topic it read was
// deleted (seen when a repartition topic was deleted under a running app; the thread's
// reference count never drops). Past the wait the handle is left to its thread, a leak that
// is logged, rather than a run() that never returns.
void destroy_bounded(rd_kafka_t* rk) noexcept;

// Shared ownership of an rd_kafka_t between its owner (Consumer) and the messages taken from
// it. rd_kafka_destroy() blocks until every message of the instance is destroyed, so a
// message outliving its consumer would hang the consumer's close; instead the handle is
// destroyed when the last of them goes (owner released, last message destroyed).
class HandleRefs {
 public:
  explicit HandleRefs(rd_kafka_t* rk) noexcept : rk_(rk) {}
  HandleRefs(const HandleRefs&) = delete;
  HandleRefs& operator=(const HandleRefs&) = delete;

  rd_kafka_t* handle() const noexcept { return rk_; }
  void add() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Drops one reference; the last one destroys the handle and this object.
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      destroy_bounded(rk_);
      delete this;
    }
  }

 private:
  ~HandleRefs() = default;
  rd_kafka_t* rk_;
  std::atomic<std::size_t> refs_{1};  // the owner's reference
};

// A topic partition with an offset. Offsets given to and returned by the layer follow Kafka:
// a committed offset or position is the NEXT offset to read. RD_KAFKA_OFFSET_INVALID (-1001)
// means "none" (no committed offset, unknown position).
struct TopicPartition {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = RD_KAFKA_OFFSET_INVALID;

  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
};

// Conversions to and from librdkafka's partition list. `to_c_list` copies offsets too.
TopicPartitionListPtr to_c_list(const std::vector<TopicPartition>& tps);
std::vector<TopicPartition> from_c_list(const rd_kafka_topic_partition_list_t* list);

// ---- librdkafka message accessors (for the Kafka layer; above it, see kafka::Message) ----

// Key bytes; nullopt for a null key.
inline std::optional<std::string_view> message_key(const rd_kafka_message_t& m) noexcept {
  if (m.key == nullptr) return std::nullopt;
  return std::string_view(static_cast<const char*>(m.key), m.key_len);
}

// Value bytes; nullopt for a tombstone (null value).
inline std::optional<std::string_view> message_value(const rd_kafka_message_t& m) noexcept {
  if (m.payload == nullptr) return std::nullopt;
  return std::string_view(static_cast<const char*>(m.payload), m.len);
}

// Topic name, or "" when the message (an instance-level error) has no topic.
inline std::string_view message_topic(const rd_kafka_message_t& m) noexcept {
  return m.rkt != nullptr ? std::string_view(rd_kafka_topic_name(m.rkt)) : std::string_view();
}

// Kafka timestamp in ms (-1 if none) and its type.
inline std::int64_t message_timestamp(const rd_kafka_message_t& m,
                                      TimestampType* type = nullptr) noexcept {
  rd_kafka_timestamp_type_t t = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const std::int64_t ts = rd_kafka_message_timestamp(&m, &t);
  if (type != nullptr) *type = static_cast<TimestampType>(static_cast<int>(t));
  return ts;
}

// Copies the message's headers (empty when it has none); a null value stays nullopt. Throws
// KafkaError when librdkafka cannot parse them.
Headers message_headers(const rd_kafka_message_t& m);
// The same into `out`, reusing its entries and their strings' capacity: a hot path that
// keeps `out` across messages allocates nothing once it has seen as many headers as bytes.
void message_headers(const rd_kafka_message_t& m, Headers& out);

}  // namespace streamframe::kafka
