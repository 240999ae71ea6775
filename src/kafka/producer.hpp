// Producer over librdkafka's C API.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/bytes_hash.hpp"
#include "kafka/config.hpp"
#include "kafka/types.hpp"
#include "streamframe/record.hpp"

namespace streamframe::kafka {

class OAuthTokenSource;

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

class Consumer;

// Thread contract: one thread at a time calls produce / poll / flush / close and the
// transaction calls; outstanding() and the counters may be read from any thread. Not movable
// (librdkafka holds `this`).
//
// Transactions (exactly-once, SEMANTICS CK-05): with `transactional.id` in the config the
// producer is transactional: call init_transactions() once, then per checkpoint
// begin_transaction(), produce(), send_offsets_to_transaction(), commit_transaction() (or
// abort_transaction()). Every transaction call throws KafkaError carrying librdkafka's flags:
//   retriable()           the call may be repeated (e.g. timed out; commit may still succeed);
//   txn_requires_abort()  the transaction failed: abort_transaction(), then begin a new one;
//   fatal()               the producer is unusable (e.g. fenced): destroy it, never commit.
// Fencing (another producer with the same transactional.id called init_transactions; the
// coordinator then aborts this one's open transaction) is fatal. Verified against Kafka 3.9.1
// with librdkafka 2.0.2 (tests/integration/test_kafka_transactions.cpp): the zombie learns it
// from its next broker request (a ProduceRequest answered INVALID_PRODUCER_EPOCH, or the
// EndTxn of commit/abort), librdkafka raises the instance-fatal error
// RD_KAFKA_RESP_ERR__FENCED, and from then on every transaction call throws KafkaError with
// code() == RD_KAFKA_RESP_ERR__FENCED, fatal() true, retriable() and txn_requires_abort()
// false (the txn API returns _FENCED itself, not _FATAL). produce() / poll() / flush() get
// _FATAL from librdkafka; this layer reports the underlying fatal error instead, so they
// throw the same _FENCED KafkaError. The broker's code appears only in the message text.
// Delivery reports are no proof of commit: a zombie's records are reported delivered (they
// are in the log) and stay invisible to read_committed readers.
//
// Delivery reports of messages purged by abort_transaction() fail with _PURGE_QUEUE /
// _PURGE_INFLIGHT; a delivery-handler exception raised for them is not thrown by the abort
// but by the next poll() / flush() / commit_transaction().
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

  // Aborts an open transaction (transactional producer, not fenced), then flushes for up to
  // `timeout`, purges what is still queued (their reports fail with
  // RD_KAFKA_RESP_ERR__PURGE_QUEUE / _PURGE_INFLIGHT) and destroys the handle. Idempotent.
  // The delivery handler must outlive this call (the destructor calls close()).
  void close(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  bool closed() const noexcept { return !rk_; }
  // Whether librdkafka reported "all brokers down" since the last call (served by poll/flush).
  bool take_all_brokers_down() noexcept {
    return all_brokers_down_.exchange(false, std::memory_order_relaxed);
  }

  rd_kafka_t* handle() const noexcept { return rk_.get(); }

  // ---- transactions (only with transactional.id; otherwise they throw InvalidOperation) ----

  bool transactional() const noexcept { return transactional_; }
  // Whether begin_transaction() succeeded and neither commit nor abort has completed since.
  bool in_transaction() const noexcept { return in_transaction_; }

  // Registers the transactional.id with the coordinator (fencing older instances with the
  // same id and aborting their open transaction). Once per producer; may be retried when
  // the error is retriable.
  void init_transactions(std::chrono::milliseconds timeout);
  void begin_transaction();
  // Adds the consumer offsets (the NEXT offset to read per partition) to the transaction,
  // committed for the consumer's group only if the transaction commits. An empty list is a
  // no-op. Takes the consumer's group metadata at the call.
  //
  // librdkafka ignores this call's timeout while the group coordinator is unreachable
  // (librdkafka #5456, still open in 2.14): it blocks until the coordinator is back, which
  // with every broker down is forever. So the call runs on a helper thread, and the caller
  // waits for it, calling `while_waiting` every 100 ms (it may throw, e.g. to end the wait
  // when the brokers have been down too long). If the call has not returned `timeout` + 2 s
  // after it began, or `while_waiting` throws, the producer is abandoned: the helper thread
  // takes the handle and destroys it once librdkafka returns, and this Producer is closed.
  // A timeout then throws KafkaError RD_KAFKA_RESP_ERR__TIMED_OUT with fatal() set (the
  // broker aborts the open transaction after transaction.timeout.ms).
  void send_offsets_to_transaction(const std::vector<TopicPartition>& offsets,
                                   const Consumer& consumer, std::chrono::milliseconds timeout,
                                   const std::function<void()>& while_waiting = {});
  // Handles given up by send_offsets_to_transaction whose librdkafka call has not returned yet
  // (process-wide).
  static int abandoned_in_flight() noexcept;
  // Flushes the messages of the transaction, then commits it. A retriable error (e.g. a
  // timeout) leaves the outcome open: call commit again or abort.
  void commit_transaction(std::chrono::milliseconds timeout);
  // Purges queued messages, waits for in-flight ones, and aborts the transaction.
  void abort_transaction(std::chrono::milliseconds timeout);
  // close() (and the destructor) abort a transaction still open, within close's timeout.

 private:
  using NameHash = ::streamframe::detail::BytesHash;

  static void delivery_trampoline(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void error_trampoline(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  void on_delivery(const rd_kafka_message_t& m);
  rd_kafka_topic_t* topic_handle(std::string_view topic);
  void rethrow_pending();
  rd_kafka_t* require_open(const char* operation) const;
  rd_kafka_t* require_transactional(const char* operation) const;
  void check_txn_result(rd_kafka_error_t* error, const char* operation);
  // Hands the handle to a helper thread still blocked in librdkafka (see
  // send_offsets_to_transaction); this Producer is closed afterwards.
  KafkaPtr abandon();

  DeliveryHandler handler_;
  QueueFullPolicy queue_full_;
  // Before rk_: the handle may ask for a token until it is destroyed.
  std::shared_ptr<OAuthTokenSource> token_source_;
  KafkaPtr rk_;
  // Declared after rk_: topic handles are destroyed before the instance.
  std::unordered_map<std::string, TopicPtr, NameHash, std::equal_to<>> topics_;
  rd_kafka_topic_t* last_topic_ = nullptr;  // one-entry cache in front of topics_
  std::string_view last_topic_name_;        // points into the topics_ key
  std::vector<rd_kafka_vu_t> args_;         // produceva arguments, reused
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<bool> all_brokers_down_{false};
  std::exception_ptr pending_;  // first delivery-handler exception not yet rethrown
  bool fatal_ = false;          // librdkafka raised a fatal error (idempotence broken, fenced)
  bool transactional_ = false;  // transactional.id is set
  bool in_transaction_ = false;
};

}  // namespace streamframe::kafka
