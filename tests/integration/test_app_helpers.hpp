// Helpers for the Application integration tests (test_app_*.cpp) against the real broker in
// STREAMFRAME_TEST_BROKERS. Everything that checks the library's work (topic creation,
// committed offsets, reading output topics) goes through librdkafka's C API directly, so a
// test never uses the code under test to judge it.
#pragma once

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/test_env.hpp"
#include "support/topic_ready.hpp"

namespace streamframe::apptest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline std::string brokers() {
  return streamframe::test::test_brokers().value_or("");
}

// The configuration every test app starts from (the brief's common settings).
inline ApplicationConfig base_config(const std::string& group) {
  ApplicationConfig c;
  c.broker_address = brokers();
  c.consumer_group = group;
  c.auto_offset_reset = AutoOffsetReset::earliest;
  c.loglevel = "WARNING";
  c.install_signal_handlers = false;
  return c;
}

// from, from + 1, ..., to - 1.
inline std::vector<int> range(int from, int to) {
  std::vector<int> r;
  for (int i = from; i < to; ++i) r.push_back(i);
  return r;
}

// Polls `pred` every 50 ms until it holds or `timeout` passes; returns its last result.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// Raw librdkafka clients

struct RkDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Rk = std::unique_ptr<rd_kafka_t, RkDeleter>;

inline Rk make_client(rd_kafka_type_t type,
                      const std::vector<std::pair<std::string, std::string>>& settings) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : settings) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("conf " + k + ": " + err);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  }
  return Rk(rk);
}

// Partition count from metadata; nullopt when the topic does not exist.
inline std::optional<int> partition_count(const std::string& topic) {
  Rk rk = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers()}});
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk.get(), 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("metadata request failed");
  }
  std::optional<int> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      out = md->topics[i].partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(md);
  return out;
}

namespace detail_ {
// Runs one admin request and returns its result event (caller destroys it).
template <class Submit>
rd_kafka_event_t* admin_call(rd_kafka_t* rk, rd_kafka_admin_op_t op, Submit submit) {
  char err[512];
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, op);
  rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, err, sizeof err);
  rd_kafka_AdminOptions_set_request_timeout(opts, 30000, err, sizeof err);
  submit(opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 60000);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  if (ev == nullptr) throw std::runtime_error("admin request timed out");
  if (rd_kafka_event_error(ev)) {
    std::string msg = rd_kafka_event_error_string(ev);
    rd_kafka_event_destroy(ev);
    throw std::runtime_error("admin request failed: " + msg);
  }
  return ev;
}
}  // namespace detail_

// Creates a topic (replication factor 1) and waits until its metadata shows it.
inline void create_topic(const std::string& name, int partitions,
                         const std::map<std::string, std::string>& config = {}) {
  Rk rk = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers()}});
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(name.c_str(), partitions, 1, err, sizeof err);
  if (nt == nullptr) throw std::runtime_error(err);
  for (const auto& [k, v] : config) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  rd_kafka_event_t* ev = detail_::admin_call(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS,
                                             [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                               rd_kafka_CreateTopics(rk.get(), &nt, 1, o, q);
                                             });
  size_t n = 0;
  const rd_kafka_topic_result_t** res =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
  std::string error;
  if (n == 1 && rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error = rd_kafka_topic_result_error_string(res[0]);
  }
  rd_kafka_event_destroy(ev);
  rd_kafka_NewTopic_destroy(nt);
  if (!error.empty()) throw std::runtime_error("create topic " + name + ": " + error);
  if (!eventually([&] { return partition_count(name) == partitions; }, 30s)) {
    throw std::runtime_error("topic " + name + " did not appear");
  }
  streamframe::test::wait_until_every_broker_lists(brokers(), {name}, partitions);
}

// Grows an existing topic to `total` partitions and waits until every broker lists them.
inline void add_partitions(const std::string& name, int total) {
  Rk rk = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers()}});
  char err[512];
  rd_kafka_NewPartitions_t* np =
      rd_kafka_NewPartitions_new(name.c_str(), static_cast<std::size_t>(total), err, sizeof err);
  if (np == nullptr) throw std::runtime_error(err);
  rd_kafka_event_t* ev = detail_::admin_call(rk.get(), RD_KAFKA_ADMIN_OP_CREATEPARTITIONS,
                                             [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                               rd_kafka_CreatePartitions(rk.get(), &np, 1, o, q);
                                             });
  size_t n = 0;
  const rd_kafka_topic_result_t** res =
      rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
  std::string error;
  if (n == 1 && rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error = rd_kafka_topic_result_error_string(res[0]);
  }
  rd_kafka_event_destroy(ev);
  rd_kafka_NewPartitions_destroy(np);
  if (!error.empty()) throw std::runtime_error("add partitions to " + name + ": " + error);
  streamframe::test::wait_until_every_broker_lists(brokers(), {name}, total);
}

inline void delete_topic(const std::string& name) {
  Rk rk = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers()}});
  rd_kafka_DeleteTopic_t* dt = rd_kafka_DeleteTopic_new(name.c_str());
  rd_kafka_event_t* ev = detail_::admin_call(rk.get(), RD_KAFKA_ADMIN_OP_DELETETOPICS,
                                             [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                               rd_kafka_DeleteTopics(rk.get(), &dt, 1, o, q);
                                             });
  rd_kafka_event_destroy(ev);
  rd_kafka_DeleteTopic_destroy(dt);
}

// The topic-level setting `key` of `topic` as the broker reports it (DescribeConfigs).
inline std::optional<std::string> topic_config_value(const std::string& topic,
                                                     const std::string& key) {
  Rk rk = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers()}});
  rd_kafka_ConfigResource_t* res =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_event_t* ev = detail_::admin_call(rk.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS,
                                             [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                               rd_kafka_DescribeConfigs(rk.get(), &res, 1, o, q);
                                             });
  size_t n = 0;
  const rd_kafka_ConfigResource_t** results =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
  std::optional<std::string> out;
  if (n == 1) {
    size_t entries = 0;
    const rd_kafka_ConfigEntry_t** configs = rd_kafka_ConfigResource_configs(results[0], &entries);
    for (size_t i = 0; i < entries; ++i) {
      if (key == rd_kafka_ConfigEntry_name(configs[i]) && rd_kafka_ConfigEntry_value(configs[i])) {
        out = rd_kafka_ConfigEntry_value(configs[i]);
      }
    }
  }
  rd_kafka_event_destroy(ev);
  rd_kafka_ConfigResource_destroy(res);
  return out;
}

// The group's committed offset of topic[partition]; RD_KAFKA_OFFSET_INVALID (-1001) if none.
inline std::int64_t committed_offset(const std::string& group, const std::string& topic,
                                     std::int32_t partition = 0) {
  Rk rk = make_client(
      RD_KAFKA_CONSUMER,
      {{"bootstrap.servers", brokers()}, {"group.id", group}, {"enable.auto.commit", "false"}});
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), partition);
  const rd_kafka_resp_err_t err = rd_kafka_committed(rk.get(), list, 15000);
  const std::int64_t offset = list->elems[0].offset;
  const rd_kafka_resp_err_t perr = list->elems[0].err;
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_consumer_close(rk.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || perr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("committed(): ") + rd_kafka_err2str(err ? err : perr));
  }
  return offset;
}

// One message to produce with produce_raw().
struct RawRecord {
  std::optional<std::string> key;    // nullopt = null key
  std::optional<std::string> value;  // nullopt = tombstone
  std::int64_t timestamp = 0;        // 0 = now
  Headers headers;                   // a nullopt value is produced as a null value
};

// Produces `records` to partition `partition` of `topic` in order with a plain librdkafka
// producer (not the library under test) and waits for every acknowledgement.
inline void produce_raw(const std::string& topic, const std::vector<RawRecord>& records,
                        std::int32_t partition = 0) {
  Rk rk = make_client(RD_KAFKA_PRODUCER,
                      {{"bootstrap.servers", brokers()}, {"enable.idempotence", "true"}});
  for (const auto& r : records) {
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(r.headers.size());
    for (const auto& [name, value] : r.headers) {
      rd_kafka_header_add(hdrs, name.c_str(), -1, value ? value->data() : nullptr,
                          value ? static_cast<ssize_t>(value->size()) : 0);
    }
    // A null pointer is a null key or value; an empty string's data() is never null.
    const void* key = r.key ? r.key->data() : nullptr;
    const std::size_t key_size = r.key ? r.key->size() : 0;
    void* value = r.value ? const_cast<char*>(r.value->data()) : nullptr;
    const std::size_t value_size = r.value ? r.value->size() : 0;
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, key_size), RD_KAFKA_V_VALUE(value, value_size),
        RD_KAFKA_V_TIMESTAMP(r.timestamp), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(hdrs);  // owned by the message only when produced
      throw std::runtime_error(std::string("produce_raw: ") + rd_kafka_err2str(err));
    }
  }
  if (rd_kafka_flush(rk.get(), 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("produce_raw: not acknowledged within 30 s");
  }
}

// One message as read back from a topic.
struct Msg {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t timestamp = 0;
  rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  Headers headers;
};

enum class Isolation { read_uncommitted, read_committed };

// Reads every message of `topic` (all partitions) up to the high watermarks seen at the call,
// in (partition, offset) order. Fails the calling test on timeout. A partition counts as read
// when the reader reaches its end: transaction markers take offsets but are never returned
// as messages. With read_committed, call it once no transaction is open on the topic (one
// whose commit is still being written is waited for).
inline std::vector<Msg> read_topic(const std::string& topic,
                                   std::chrono::milliseconds timeout = 30s,
                                   Isolation isolation = Isolation::read_uncommitted) {
  // In a cluster the broker asked may not list yet a topic the app created a moment ago (each
  // broker learns of it from the controller on its own time): seen once on 3 brokers with a
  // changelog read right after the run that made it.
  std::optional<int> parts;
  (void)eventually([&] { return (parts = partition_count(topic)).has_value(); }, 10s);
  if (!parts) throw std::runtime_error("read_topic: no topic " + topic + " after 10 s");
  const bool committed = isolation == Isolation::read_committed;
  Rk rk = make_client(RD_KAFKA_CONSUMER,
                      {{"bootstrap.servers", brokers()},
                       {"group.id", streamframe::test::unique_name("reader")},
                       {"enable.auto.commit", "false"},
                       {"enable.partition.eof", "true"},
                       {"isolation.level", committed ? "read_committed" : "read_uncommitted"},
                       {"fetch.message.max.bytes", "10485760"}});
  // The watermarks come from a read_uncommitted client: asked with read_committed, the broker
  // answers the last stable offset, which stays before a transaction whose commit markers are
  // still being written when the producer's commit has already returned; the reader would then
  // stop before that transaction's records. Reading up to the high watermark waits for them.
  Rk probe =
      make_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", brokers()},
                                      {"group.id", streamframe::test::unique_name("reader-probe")},
                                      {"isolation.level", "read_uncommitted"}});
  std::vector<std::int64_t> high(*parts, 0);
  std::vector<std::int64_t> next(*parts, 0);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(*parts);
  for (int p = 0; p < *parts; ++p) {
    std::int64_t lo = 0, hi = 0;
    // In a cluster, the broker this new client asks first may not list a topic created a
    // moment ago, and librdkafka keeps that answer until a refresh: ask by name and retry.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    rd_kafka_resp_err_t rc;
    while ((rc = rd_kafka_query_watermark_offsets(probe.get(), topic.c_str(), p, &lo, &hi,
                                                  10000)) != RD_KAFKA_RESP_ERR_NO_ERROR &&
           std::chrono::steady_clock::now() < deadline) {
      std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
          rd_kafka_topic_new(probe.get(), topic.c_str(), nullptr), &rd_kafka_topic_destroy);
      const rd_kafka_metadata_t* md = nullptr;
      if (rd_kafka_metadata(probe.get(), 0, rkt.get(), &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
      }
      std::this_thread::sleep_for(100ms);
    }
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_topic_partition_list_destroy(list);
      throw std::runtime_error("watermarks of " + topic + ": " + rd_kafka_err2str(rc));
    }
    high[p] = hi;
    next[p] = lo;
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = lo;
  }
  rd_kafka_assign(rk.get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<Msg> out;
  auto done = [&] {
    for (int p = 0; p < *parts; ++p)
      if (next[p] < high[p]) return false;
    return true;
  };
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= deadline) {
      ADD_FAILURE() << "read_topic(" << topic << ") timed out after " << out.size() << " messages";
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 200);
    if (m == nullptr) continue;
    if (m->err) {
      // The end of a partition may be a transaction marker, never returned as a message.
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->offset >= high[m->partition]) {
        next[m->partition] = m->offset;
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    Msg msg;
    msg.partition = m->partition;
    msg.offset = m->offset;
    if (m->key) msg.key.emplace(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) msg.value.emplace(static_cast<const char*>(m->payload), m->len);
    msg.timestamp = rd_kafka_message_timestamp(m, &msg.timestamp_type);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* val;
      size_t size;
      for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); ++i) {
        HeaderValue bytes;  // null stays null
        if (val != nullptr) bytes.emplace(static_cast<const char*>(val), size);
        msg.headers.emplace_back(name, std::move(bytes));
      }
    }
    next[m->partition] = m->offset + 1;
    rd_kafka_message_destroy(m);
    if (msg.offset < high[msg.partition]) out.push_back(std::move(msg));
  }
  rd_kafka_consumer_close(rk.get());
  std::stable_sort(out.begin(), out.end(), [](const Msg& a, const Msg& b) {
    return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
  });
  return out;
}

// What a call threw, kept by value for assertions.
// app.run() (no limits) on a thread of its own, for tests that watch a running application
// from outside; the destructor stops it and waits. finish() stops it and rethrows what run()
// threw.
class BackgroundRun {
 public:
  explicit BackgroundRun(Application& app)
      : app_(app), thread_([this] {
          try {
            (void)app_.run();
          } catch (...) {
            error_ = std::current_exception();
          }
        }) {}
  ~BackgroundRun() {
    app_.stop();
    if (thread_.joinable()) thread_.join();
  }
  BackgroundRun(const BackgroundRun&) = delete;
  BackgroundRun& operator=(const BackgroundRun&) = delete;
  // Waits for run() to return by itself (an error ends it), without stopping it.
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  void finish() {
    app_.stop();
    join();
    if (error_) std::rethrow_exception(error_);
  }
  std::exception_ptr error() const { return error_; }

 private:
  Application& app_;
  std::exception_ptr error_;
  std::thread thread_;  // last: started once the members it uses exist
};

struct CaughtError {
  bool thrown = false;
  bool is_streamframe_error = false;  // derives from streamframe::Error
  std::type_index type = typeid(void);
  std::string what;
  bool has_origin = false;
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  int kafka_code = 0;
  bool kafka_fatal = false;
};

inline CaughtError describe(const std::exception& e) {
  CaughtError c;
  c.thrown = true;
  c.type = typeid(e);
  c.what = e.what();
  if (const auto* sf = dynamic_cast<const Error*>(&e)) {
    c.is_streamframe_error = true;
    c.has_origin = sf->has_origin();
    c.topic = sf->topic();
    c.partition = sf->partition();
    c.offset = sf->offset();
  }
  if (const auto* ke = dynamic_cast<const KafkaError*>(&e)) {
    c.kafka_code = ke->code();
    c.kafka_fatal = ke->fatal();
  }
  return c;
}

template <class Fn>
CaughtError capture_error(Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return describe(e);
  } catch (...) {
    CaughtError c;
    c.thrown = true;
    c.what = "<not a std::exception>";
    return c;
  }
  return {};
}

// "(topic 't', partition p, offset o)", as Error::set_origin appends it.
inline std::string origin_text(const std::string& topic, std::int32_t partition,
                               std::int64_t offset) {
  return "(topic '" + topic + "', partition " + std::to_string(partition) + ", offset " +
         std::to_string(offset) + ")";
}

// Records every call of an error callback and answers with a fixed action.
struct CallbackLog {
  struct Call {
    CaughtError error;
    bool has_message = false;
    RawMessage message;
    bool has_row = false;
  };
  std::mutex mutex;
  std::vector<Call> calls;

  ErrorCallback make(ErrorAction action) {
    return [this, action](const std::exception& e, const ErrorContext& ctx) {
      Call call;
      call.error = describe(e);
      if (ctx.message) {
        call.has_message = true;
        call.message = *ctx.message;
      }
      call.has_row = ctx.row != nullptr;
      std::lock_guard lock(mutex);
      calls.push_back(std::move(call));
      return action;
    };
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return calls.size();
  }
};

// Java's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), written from the published
// algorithm: seed 0x9747b28c, m 0x5bd1e995, r 24, little-endian 4-byte blocks.
inline std::int32_t java_murmur2(const std::string& data) {
  const std::uint32_t m = 0x5bd1e995u;
  const int r = 24;
  const auto length = static_cast<std::uint32_t>(data.size());
  std::uint32_t h = 0x9747b28cu ^ length;
  const auto* b = reinterpret_cast<const unsigned char*>(data.data());
  const std::uint32_t blocks = length / 4;
  for (std::uint32_t i = 0; i < blocks; ++i) {
    const std::uint32_t i4 = i * 4;
    std::uint32_t k = std::uint32_t(b[i4]) | (std::uint32_t(b[i4 + 1]) << 8) |
                      (std::uint32_t(b[i4 + 2]) << 16) | (std::uint32_t(b[i4 + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const std::uint32_t tail = length & ~3u;
  switch (length % 4) {
    case 3:
      h ^= std::uint32_t(b[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= std::uint32_t(b[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= std::uint32_t(b[tail]);
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<std::int32_t>(h);
}

// The partition a Java producer's default partitioner picks for a non-null key.
inline int java_partition(const std::string& key, int partitions) {
  return static_cast<int>((static_cast<std::uint32_t>(java_murmur2(key)) & 0x7fffffffu) %
                          static_cast<std::uint32_t>(partitions));
}

// A running count per key, read read_committed from `topic` (keys as JSON strings, the count
// in `field`): every key of `expected` counted 1, 2, ..., n exactly once and in order, and no
// other key. For the exactly-once checks of re-keying pipelines.
inline void expect_running_counts(const std::string& topic, const std::string& field,
                                  const std::map<std::string, int>& expected) {
  std::map<std::string, std::vector<std::int64_t>> counts;
  for (const auto& m : read_topic(topic, std::chrono::seconds(30), Isolation::read_committed)) {
    ASSERT_TRUE(m.key && m.value);
    counts[*m.key].push_back(Value::from_json(*m.value)[field].as_int());
  }
  ASSERT_EQ(counts.size(), expected.size());
  for (const auto& [key, n] : expected) {
    const auto& seen = counts["\"" + key + "\""];
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(n)) << key;
    for (int i = 0; i < n; ++i) ASSERT_EQ(seen[i], i + 1) << key << " output " << i;
  }
}

// Runs `fn`, which must throw E; returns a copy of the caught error (fails the test if it
// throws something else or nothing).
template <class E, class Fn>
std::optional<E> expect_throw(Fn&& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected " << typeid(E).name() << ", got " << typeid(e).name() << ": "
                  << e.what();
    return std::nullopt;
  }
  ADD_FAILURE() << "expected " << typeid(E).name() << ", nothing was thrown";
  return std::nullopt;
}

}  // namespace streamframe::apptest
