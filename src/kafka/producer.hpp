// Producer over librdkafka's C API.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kafka/config.hpp"
#include "kafka/types.hpp"
#include "streamframe/record.hpp"

namespace streamframe::kafka {

// Outcome of one produced message. The views are valid only during the handler call.
struct DeliveryReport {
  std::string_view topic;
  std::int32_t partition = -1;
  std::int64_t offset = RD_KAFKA_OFFSET_INVALID;  // set on success
  int error_code = 0;                             // rd_kafka_resp_err_t; 0 = delivered
  std::string_view error;                         // "" when delivered
  void* opaque = nullptr;                         // as passed to produce()
};

// Called from poll() / flush() / close() (or from produce() while it waits on a full queue)
// on the calling thread. An exception it throws is rethrown from that call.
using DeliveryHandler = std::function<void(const DeliveryReport&)>;

// What produce() does when librdkafka's local queue is full (SEMANTICS §1): serve delivery
// reports for up to `timeout` in total and retry, at most `max_tries` attempts.
struct QueueFullPolicy {
  std::chrono::milliseconds timeout{30000};
  int max_tries = 10;
};

// Thread contract: one thread at a time calls produce / poll / flush / close; outstanding()
// and the counters may be read from any thread. Not movable (librdkafka holds `this`).
//
// Later (exactly-once): init_transactions / begin_transaction / send_offsets_to_transaction /
// commit_transaction / abort_transaction are thin calls on handle() whose rd_kafka_error_t
// results go through make_error(const rd_kafka_error_t*) to keep the txn flags.
class Producer {
 public:
  // `config` needs bootstrap.servers; combine with default_producer_config().
  explicit Producer(const Config& config, DeliveryHandler handler = {},
                    QueueFullPolicy queue_full = {});
  ~Producer();  // close(), logging instead of throwing
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues one message; payloads are copied. partition -1 = the configured partitioner
  // (murmur2 of the key by default). key nullopt = null key; value nullopt = tombstone.
  // timestamp_ms 0 = now. Throws KafkaError when the message cannot be enqueued (unknown
  // partition, message too large, queue still full after the QueueFullPolicy, ...).
  void produce(std::string_view topic, std::int32_t partition, std::optional<std::string_view> key,
               std::optional<std::string_view> value, std::int64_t timestamp_ms = 0,
               const Headers* headers = nullptr, void* opaque = nullptr);

  // Serves delivery reports and client errors (logged); waits up to `timeout` for the first
  // event. Returns the number of events served. After a fatal error (e.g. the idempotent
  // producer lost its guarantees) poll, flush and produce throw KafkaError with fatal() set.
  int poll(std::chrono::milliseconds timeout);

  // Waits until every outstanding message is delivered or failed; false on timeout.
  bool flush(std::chrono::milliseconds timeout);

  // Messages enqueued but not yet reported (plus other pending events).
  int outstanding() const;

  std::uint64_t delivered() const noexcept { return delivered_.load(std::memory_order_relaxed); }
  std::uint64_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }

  // Flushes for up to `timeout`, purges what is still queued (their reports fail with
  // RD_KAFKA_RESP_ERR__PURGE_QUEUE / _PURGE_INFLIGHT) and destroys the handle. Idempotent.
  // The delivery handler must outlive this call (the destructor calls close()).
  void close(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  bool closed() const noexcept { return !rk_; }

  rd_kafka_t* handle() const noexcept { return rk_.get(); }

 private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  static void delivery_trampoline(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void error_trampoline(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  void on_delivery(const rd_kafka_message_t& m);
  rd_kafka_topic_t* topic_handle(std::string_view topic);
  void rethrow_pending();
  rd_kafka_t* require_open(const char* operation) const;

  DeliveryHandler handler_;
  QueueFullPolicy queue_full_;
  KafkaPtr rk_;
  // Declared after rk_: topic handles are destroyed before the instance.
  std::unordered_map<std::string, TopicPtr, NameHash, std::equal_to<>> topics_;
  rd_kafka_topic_t* last_topic_ = nullptr;  // one-entry cache in front of topics_
  std::string_view last_topic_name_;        // points into the topics_ key
  std::vector<rd_kafka_vu_t> args_;         // produceva arguments, reused
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::exception_ptr pending_;  // first delivery-handler exception not yet rethrown
  bool fatal_ = false;          // librdkafka raised a fatal error (idempotence broken)
};

}  // namespace streamframe::kafka
