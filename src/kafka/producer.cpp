#include "kafka/producer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "kafka/consumer.hpp"
#include "kafka/error.hpp"
#include "kafka/handles.hpp"
#include "kafka/logging.hpp"
#include "kafka/oauth.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::kafka {

namespace {

int to_ms(std::chrono::milliseconds timeout) {
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(timeout.count(), 0, INT_MAX));
}

// librdkafka treats a null pointer as a null key/value, so an empty but present key or value
// needs a non-null pointer.
void* bytes_ptr(std::string_view bytes) {
  static char empty = 0;
  return bytes.data() != nullptr ? const_cast<char*>(bytes.data()) : &empty;
}

}  // namespace

Producer::Producer(const Config& config, DeliveryHandler handler, QueueFullPolicy queue_full)
    : handler_(std::move(handler)), queue_full_(queue_full) {
  ConfPtr conf = make_conf(config);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Producer::delivery_trampoline);
  rd_kafka_conf_set_error_cb(conf.get(), &Producer::error_trampoline);

  std::array<char, 512> errstr{};
  rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr.data(), errstr.size()));
  if (!rk_) throw ConfigError(fmt::format("cannot create Kafka producer: {}", errstr.data()));
  (void)conf.release();  // rd_kafka_new took ownership
  token_source_ = adopt_handle(rk_.get(), config);
  transactional_ = !get_option(config, "transactional.id").value_or("").empty();
}

Producer::~Producer() {
  try {
    close();
  } catch (const std::exception& e) {
    streamframe_logger()->error("closing Kafka producer: {}", e.what());
  }
}

rd_kafka_t* Producer::require_open(const char* operation) const {
  if (!rk_) throw InvalidOperation(fmt::format("Kafka producer is closed (in {})", operation));
  return rk_.get();
}

rd_kafka_topic_t* Producer::topic_handle(std::string_view topic) {
  if (last_topic_ != nullptr && topic == last_topic_name_) return last_topic_;
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    std::string name(topic);
    // No topic conf: the handle uses the default topic conf built from the Config
    // (partitioner etc.).
    TopicPtr handle(rd_kafka_topic_new(rk_.get(), name.c_str(), nullptr));
    if (!handle) {
      throw_error(rd_kafka_last_error(), fmt::format("creating a handle for topic '{}'", name));
    }
    it = topics_.emplace(std::move(name), std::move(handle)).first;
  }
  last_topic_ = it->second.get();
  last_topic_name_ = it->first;
  return last_topic_;
}

void Producer::produce(std::string_view topic, std::int32_t partition,
                       std::optional<std::string_view> key, std::optional<std::string_view> value,
                       std::int64_t timestamp_ms, const Headers* headers, void* opaque) {
  rd_kafka_t* rk = require_open("produce");
  rd_kafka_topic_t* rkt = topic_handle(topic);

  // Sized once and then only written: an emplace_back per argument (value-initialising each
  // and checking capacity) cost about 160 instructions per record.
  const std::size_t most = 7 + (headers != nullptr ? headers->size() : 0);
  if (args_.size() < most) args_.resize(most);
  std::size_t n = 0;
  auto arg = [this, &n](rd_kafka_vtype_t type) -> rd_kafka_vu_t& {
    rd_kafka_vu_t& vu = args_[n++];
    vu.vtype = type;
    return vu;
  };
  arg(RD_KAFKA_VTYPE_RKT).u.rkt = rkt;
  arg(RD_KAFKA_VTYPE_PARTITION).u.i32 = partition;
  arg(RD_KAFKA_VTYPE_MSGFLAGS).u.i = RD_KAFKA_MSG_F_COPY;
  if (key) {
    rd_kafka_vu_t& vu = arg(RD_KAFKA_VTYPE_KEY);
    vu.u.mem.ptr = bytes_ptr(*key);
    vu.u.mem.size = key->size();
  }
  if (value) {
    rd_kafka_vu_t& vu = arg(RD_KAFKA_VTYPE_VALUE);
    vu.u.mem.ptr = bytes_ptr(*value);
    vu.u.mem.size = value->size();
  }
  if (timestamp_ms != 0) arg(RD_KAFKA_VTYPE_TIMESTAMP).u.i64 = timestamp_ms;
  if (opaque != nullptr) arg(RD_KAFKA_VTYPE_OPAQUE).u.ptr = opaque;
  if (headers != nullptr) {
    for (const auto& [name, bytes] : *headers) {
      rd_kafka_vu_t& vu = arg(RD_KAFKA_VTYPE_HEADER);
      vu.u.header.name = name.c_str();
      // librdkafka writes a null pointer as a null value (length -1 on the wire) and any
      // other pointer, even to 0 bytes, as a value: std::string::data() is never null.
      vu.u.header.val = bytes ? bytes->data() : nullptr;
      vu.u.header.size = bytes ? static_cast<ssize_t>(bytes->size()) : 0;
    }
  }

  using Clock = std::chrono::steady_clock;
  // Read the clock only once the queue is full: a clock read per record was ~2 % of a
  // group_by hop's run loop (bench/README.md).
  Clock::time_point deadline{};
  for (int attempt = 1;; ++attempt) {
    ErrorPtr error{rd_kafka_produceva(rk, args_.data(), n)};
    if (!error) return;
    if (attempt == 1) deadline = Clock::now() + queue_full_.timeout;
    if (rd_kafka_error_code(error.get()) == RD_KAFKA_RESP_ERR__FATAL) {
      throw_error(RD_KAFKA_RESP_ERR__FATAL, fmt::format("producing to topic '{}'", topic), rk);
    }
    const bool queue_full = rd_kafka_error_code(error.get()) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!queue_full || attempt >= queue_full_.max_tries || left.count() <= 0) {
      throw_error(
          error.get(),
          fmt::format("producing to topic '{}' partition {}{}", topic, partition,
                      queue_full ? fmt::format(" after {} attempt(s)", attempt) : std::string()));
    }
    // Serve delivery reports to make room (returns as soon as some are served); a report
    // handler's exception surfaces here.
    const auto per_try = queue_full_.timeout / std::max(queue_full_.max_tries, 1);
    rd_kafka_poll(rk, to_ms(std::clamp(per_try, std::chrono::milliseconds(1), left)));
    rethrow_pending();
  }
}

int Producer::poll(std::chrono::milliseconds timeout) {
  const int served = rd_kafka_poll(require_open("poll"), to_ms(timeout));
  rethrow_pending();
  return served;
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  const rd_kafka_resp_err_t err = rd_kafka_flush(require_open("flush"), to_ms(timeout));
  rethrow_pending();
  return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

int Producer::outstanding() const {
  return rk_ ? rd_kafka_outq_len(rk_.get()) : 0;
}

void Producer::close(std::chrono::milliseconds timeout) {
  if (!rk_) return;
  rd_kafka_t* rk = rk_.get();
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + timeout;
  if (in_transaction_ && !fatal_) {
    // Never leave an open transaction to the broker's transaction timeout: abort it (this
    // purges what it still holds) so read_committed readers move on at once. The abort and
    // the flush below share `timeout`.
    if (ErrorPtr error{rd_kafka_abort_transaction(rk, to_ms(timeout))}) {
      streamframe_logger()->warn("closing Kafka producer: aborting the open transaction: {}",
                                 rd_kafka_error_string(error.get()));
    }
    in_transaction_ = false;
  }
  const auto left_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (rd_kafka_flush(rk, to_ms(left_ms)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const int left = rd_kafka_outq_len(rk);
    streamframe_logger()->warn(
        "closing Kafka producer: {} message(s) not delivered within {} ms are purged", left,
        timeout.count());
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk, 1000);  // serve the purge reports (in-flight ones come back async)
  }
  last_topic_ = nullptr;
  last_topic_name_ = {};
  topics_.clear();
  rk_.reset();
  rethrow_pending();
}

// ---- transactions -------------------------------------------------------------------------

rd_kafka_t* Producer::require_transactional(const char* operation) const {
  rd_kafka_t* rk = require_open(operation);
  if (!transactional_) {
    throw InvalidOperation(
        fmt::format("{} needs a transactional producer (set transactional.id)", operation));
  }
  return rk;
}

void Producer::check_txn_result(rd_kafka_error_t* raw, const char* operation) {
  const ErrorPtr error(raw);
  if (!error) return;
  KafkaError e = make_error(error.get(), fmt::format("Kafka producer {}", operation));
  if (rd_kafka_error_code(error.get()) == RD_KAFKA_RESP_ERR__FATAL) {
    // Name the instance's underlying fatal error (e.g. _FENCED) instead of the generic _FATAL.
    KafkaError underlying = make_error(RD_KAFKA_RESP_ERR__FATAL,
                                       fmt::format("Kafka producer {}", operation), rk_.get());
    e = KafkaError(underlying.code(), underlying.what(), false, true, e.txn_requires_abort());
  }
  if (e.fatal()) {
    fatal_ = true;
    in_transaction_ = false;  // cannot be committed nor aborted any more
  }
  throw e;
}

void Producer::init_transactions(std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_transactional("init_transactions");
  check_txn_result(rd_kafka_init_transactions(rk, to_ms(timeout)), "init_transactions");
}

void Producer::begin_transaction() {
  rd_kafka_t* rk = require_transactional("begin_transaction");
  check_txn_result(rd_kafka_begin_transaction(rk), "begin_transaction");
  in_transaction_ = true;
}

namespace {
// One send_offsets_to_transaction call on its helper thread. Shared by the caller and the
// thread: whichever finishes last frees it.
struct OffsetsCall {
  std::mutex mutex;
  std::condition_variable finished_cv;
  bool finished = false;
  bool abandoned = false;
  rd_kafka_error_t* error = nullptr;
  KafkaPtr rk;  // set when abandoned: the thread destroys the handle after librdkafka returns
};

std::atomic<int> g_abandoned_in_flight{0};
}  // namespace

int Producer::abandoned_in_flight() noexcept {
  return g_abandoned_in_flight.load(std::memory_order_relaxed);
}

void Producer::send_offsets_to_transaction(const std::vector<TopicPartition>& offsets,
                                           const Consumer& consumer,
                                           std::chrono::milliseconds timeout,
                                           const std::function<void()>& while_waiting) {
  rd_kafka_t* rk = require_transactional("send_offsets_to_transaction");
  if (offsets.empty()) return;
  GroupMetadataPtr group = consumer.group_metadata();
  if (!group) {
    throw InvalidOperation("send_offsets_to_transaction needs the consumer's group metadata");
  }
  auto call = std::make_shared<OffsetsCall>();
  // The thread owns everything it passes to librdkafka: the caller may leave first.
  std::thread helper([call, rk, list = to_c_list(offsets), group = std::move(group),
                      ms = to_ms(timeout)]() mutable {
    rd_kafka_error_t* error = rd_kafka_send_offsets_to_transaction(rk, list.get(), group.get(), ms);
    KafkaPtr abandoned_rk;
    {
      const std::lock_guard lock(call->mutex);
      call->finished = true;
      if (call->abandoned) {
        abandoned_rk = std::move(call->rk);
      } else {
        call->error = error;
        error = nullptr;
      }
    }
    call->finished_cv.notify_all();
    if (error != nullptr) rd_kafka_error_destroy(error);
    if (abandoned_rk) {
      abandoned_rk.reset();  // after librdkafka let go of it
      g_abandoned_in_flight.fetch_sub(1, std::memory_order_relaxed);
    }
  });

  using Clock = std::chrono::steady_clock;
  const Clock::time_point give_up = Clock::now() + timeout + std::chrono::seconds(2);
  auto leave = [&](std::unique_lock<std::mutex>& lock) {
    // Still blocked in librdkafka: it keeps the handle and destroys it when it returns.
    call->abandoned = true;
    call->rk = abandon();
    g_abandoned_in_flight.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    helper.detach();
  };
  std::unique_lock lock(call->mutex);
  while (!call->finished) {
    if (Clock::now() >= give_up) {
      leave(lock);
      throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT,
                       fmt::format("Kafka producer send_offsets_to_transaction did not return "
                                   "within {} ms (the group coordinator is unreachable); the "
                                   "producer is closed and its transaction left to the broker's "
                                   "transaction timeout",
                                   timeout.count() + 2000),
                       false, true, false);
    }
    call->finished_cv.wait_for(lock, std::chrono::milliseconds(100));
    if (call->finished || !while_waiting) continue;
    lock.unlock();
    try {
      while_waiting();
    } catch (...) {
      lock.lock();
      if (!call->finished) {
        leave(lock);
      } else {
        lock.unlock();
        helper.join();
        if (call->error != nullptr) rd_kafka_error_destroy(call->error);
      }
      throw;
    }
    lock.lock();
  }
  lock.unlock();
  helper.join();
  check_txn_result(call->error, "send_offsets_to_transaction");
}

KafkaPtr Producer::abandon() {
  // Topic handles go before the instance they belong to.
  last_topic_ = nullptr;
  last_topic_name_ = {};
  topics_.clear();
  fatal_ = true;
  in_transaction_ = false;
  return std::move(rk_);
}

void Producer::commit_transaction(std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_transactional("commit_transaction");
  check_txn_result(rd_kafka_commit_transaction(rk, to_ms(timeout)), "commit_transaction");
  in_transaction_ = false;
  rethrow_pending();  // a delivery handler exception raised while the commit flushed
}

void Producer::abort_transaction(std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_transactional("abort_transaction");
  check_txn_result(rd_kafka_abort_transaction(rk, to_ms(timeout)), "abort_transaction");
  in_transaction_ = false;
}

// ---- delivery reports (inside librdkafka C frames: never throw) ---------------------------

void Producer::delivery_trampoline(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  try {
    self->on_delivery(*m);
  } catch (...) {  // must not unwind through librdkafka
    if (!self->pending_) self->pending_ = std::current_exception();
  }
}

void Producer::on_delivery(const rd_kafka_message_t& m) {
  const bool ok = m.err == RD_KAFKA_RESP_ERR_NO_ERROR;
  // Reports are served only by the thread polling this producer, so this is the counters'
  // one writer: a plain load and store, not a locked add (which cost as much as the rest of
  // this function per record). Readers on other threads still see whole values.
  std::atomic<std::uint64_t>& counter = ok ? delivered_ : failed_;
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (!handler_) {
    if (!ok) {
      streamframe_logger()->error("delivery to topic '{}' partition {} failed: {}",
                                  message_topic(m), m.partition, rd_kafka_err2str(m.err));
    }
    return;
  }
  DeliveryReport report;
  report.topic = message_topic(m);
  report.partition = m.partition;
  report.offset = m.offset;
  report.error_code = m.err;
  report.error = ok ? std::string_view() : std::string_view(rd_kafka_err2str(m.err));
  report.opaque = m._private;
  try {
    handler_(report);
  } catch (...) {
    if (!pending_) pending_ = std::current_exception();
  }
}

void Producer::error_trampoline(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  const bool fatal = code == RD_KAFKA_RESP_ERR__FATAL;
  if (fatal) self->fatal_ = true;
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    self->all_brokers_down_.store(true, std::memory_order_relaxed);
  }
  try {
    streamframe_logger()->log(fatal ? spdlog::level::err : spdlog::level::warn,
                              "Kafka producer: {} ({})", reason != nullptr ? reason : "",
                              rd_kafka_err2name(code));
  } catch (...) {  // must not unwind through librdkafka
  }
}

void Producer::rethrow_pending() {
  if (pending_) std::rethrow_exception(std::exchange(pending_, nullptr));
  if (fatal_ && rk_) throw_error(RD_KAFKA_RESP_ERR__FATAL, "Kafka producer", rk_.get());
}

}  // namespace streamframe::kafka
