// The outside observer of the process-level exactly-once tests, written directly against
// librdkafka's C API so it shares no code with the library under test: topic creation, a
// feeder of input records, a read_committed reader of a whole topic, and bounded waits for a
// group to commit all its input and for an output topic to settle (no open transaction, read
// to its end).
#pragma once

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/alerts_app.hpp"  // wait_until
#include "support/child_process.hpp"
#include "support/kafka_probe.hpp"
#include "support/test_env.hpp"
#include "support/topic_ready.hpp"

namespace streamframe::test {

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// A progress line in the test's output.
inline void info(const std::string& line) {
  std::cout << "[ info     ] " << line << std::endl;
}

// One record of an output topic (raw), as a reader saw it.
struct RawOutput {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t timestamp = -1;  // the Kafka message timestamp
};

// ---------------------------------------------------------------------------------------------
// Raw librdkafka clients (independent of the library under test)

namespace raw {

struct RkDestroy {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using RkPtr = std::unique_ptr<rd_kafka_t, RkDestroy>;

inline rd_kafka_conf_t* make_conf(
    const std::vector<std::pair<std::string, std::string>>& settings) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : settings) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("config " + k + ": " + err);
    }
  }
  return conf;
}

inline RkPtr make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  }
  return RkPtr(rk);
}

// Sends one CreateTopics request for `topics` (destroyed here) and returns "" or what failed.
inline std::string submit_create_topics(rd_kafka_t* rk, std::vector<rd_kafka_NewTopic_t*> topics) {
  char err[512];
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, err, sizeof err);
  rd_kafka_AdminOptions_set_request_timeout(opts, 30000, err, sizeof err);
  rd_kafka_CreateTopics(rk, topics.data(), topics.size(), opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 60000);
  std::string error;
  if (ev == nullptr) {
    error = "CreateTopics timed out";
  } else if (rd_kafka_event_error(ev)) {
    error = rd_kafka_event_error_string(ev);
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      if (rd_kafka_topic_result_error(res[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        error += std::string(rd_kafka_topic_result_name(res[i])) + ": " +
                 rd_kafka_topic_result_error_string(res[i]) + "; ";
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  for (auto* nt : topics) rd_kafka_NewTopic_destroy(nt);
  return error;
}

// Waits up to 30 s until the metadata shows `name` with `partitions` partitions, each with
// a leader that `leader_ok` accepts.
template <class LeaderOk>
inline bool wait_for_leaders(rd_kafka_t* rk, const std::string& name, int partitions,
                             LeaderOk leader_ok) {
  return wait_until(
      [&] {
        const rd_kafka_metadata_t* md = nullptr;
        std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
            rd_kafka_topic_new(rk, name.c_str(), nullptr), &rd_kafka_topic_destroy);
        if (rd_kafka_metadata(rk, 0, rkt.get(), &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
          return false;
        bool ok = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                  md->topics[0].partition_cnt == partitions;
        for (int p = 0; ok && p < md->topics[0].partition_cnt; ++p) {
          ok = leader_ok(md->topics[0].partitions[p].leader);
        }
        rd_kafka_metadata_destroy(md);
        return ok;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(100));
}

// Creates topics with the given partitions, replication factor and config, and waits until
// the metadata shows every partition with a leader.
inline void create_topics(const std::string& brokers, const std::vector<std::string>& names,
                          int partitions, int replication_factor,
                          const std::map<std::string, std::string>& config = {}) {
  RkPtr rk = make_client(RD_KAFKA_PRODUCER, make_conf({{"bootstrap.servers", brokers}}));
  char err[512];
  std::vector<rd_kafka_NewTopic_t*> topics;
  for (const auto& name : names) {
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(name.c_str(), partitions, replication_factor, err, sizeof err);
    if (nt == nullptr) throw std::runtime_error(std::string("NewTopic: ") + err);
    for (const auto& [k, v] : config) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
    topics.push_back(nt);
  }
  const std::string error = submit_create_topics(rk.get(), std::move(topics));
  if (!error.empty()) throw std::runtime_error("create topics: " + error);
  for (const auto& name : names) {
    if (!wait_for_leaders(rk.get(), name, partitions, [](std::int32_t l) { return l >= 0; })) {
      throw std::runtime_error("topic " + name + " has no leaders after 30 s");
    }
  }
  wait_until_every_broker_lists(brokers, names, partitions);
}

// Creates a one-partition topic whose replicas are the given broker node ids (the first is
// the preferred leader), for tests that need to know which broker a partition lives on.
inline void create_topic_on(const std::string& brokers, const std::string& name,
                            const std::vector<std::int32_t>& replicas,
                            const std::map<std::string, std::string>& config = {}) {
  RkPtr rk = make_client(RD_KAFKA_PRODUCER, make_conf({{"bootstrap.servers", brokers}}));
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(name.c_str(), 1, -1, err, sizeof err);
  if (nt == nullptr) throw std::runtime_error(std::string("NewTopic: ") + err);
  std::vector<std::int32_t> ids = replicas;
  if (rd_kafka_NewTopic_set_replica_assignment(nt, 0, ids.data(), ids.size(), err, sizeof err)) {
    rd_kafka_NewTopic_destroy(nt);
    throw std::runtime_error(std::string("replica assignment: ") + err);
  }
  for (const auto& [k, v] : config) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  const std::string error = submit_create_topics(rk.get(), {nt});
  if (!error.empty()) throw std::runtime_error("create topic " + name + ": " + error);
  const std::int32_t leader = replicas.front();
  if (!wait_for_leaders(rk.get(), name, 1, [&](std::int32_t l) { return l == leader; })) {
    throw std::runtime_error("topic " + name + " has no leader on its first replica");
  }
  wait_until_every_broker_lists(brokers, {name}, 1);
}

}  // namespace raw

// Produces inputs to a topic, in order, with an idempotent producer (keys partitioned by
// murmur2 like Java clients): some at once, the rest at a steady rate in the background. An
// Input has a string `key` and `json()`, its value; one with an `int64 timestamp` member is
// produced with that message timestamp (ms), others with the producer's current time.
template <class Input>
class Feeder {
 public:
  Feeder(const std::string& brokers, std::string topic, std::vector<Input> inputs)
      : topic_(std::move(topic)), inputs_(std::move(inputs)) {
    rd_kafka_conf_t* conf =
        raw::make_conf({{"bootstrap.servers", brokers},
                        {"enable.idempotence", "true"},
                        {"linger.ms", "5"},
                        {"partitioner", "murmur2_random"},
                        {"message.timeout.ms", "120000"},
                        // Connection errors while brokers are down are expected;
                        // delivery failures are counted and asserted on.
                        {"log_level", "2"}});
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* self) {
      auto* f = static_cast<Feeder*>(self);
      if (m->err) {
        std::lock_guard lock(f->mutex_);
        if (f->failed_++ == 0) f->first_error_ = rd_kafka_err2str(m->err);
      }
    });
    rk_ = raw::make_client(RD_KAFKA_PRODUCER, conf);
  }
  ~Feeder() { stop(); }
  Feeder(const Feeder&) = delete;
  Feeder& operator=(const Feeder&) = delete;

  // Produces the next `n` inputs now (the background pacing must not run).
  void produce_now(std::size_t n) {
    const std::size_t end = std::min(inputs_.size(), next_ + n);
    while (next_ < end) produce_one();
    rd_kafka_poll(rk_.get(), 0);
  }

  // Produces the remaining inputs at `per_second` in the background until stop() or finish().
  void start_paced(double per_second) {
    pacing_ = true;
    thread_ = std::thread([this, per_second] {
      const auto started = std::chrono::steady_clock::now();
      const std::size_t base = next_;
      while (pacing_ && next_ < inputs_.size()) {
        const auto due = base + static_cast<std::size_t>(seconds_since(started) * per_second);
        while (next_ < std::min(due, inputs_.size())) produce_one();
        rd_kafka_poll(rk_.get(), 20);
      }
    });
  }

  // Stops the pacing without producing the rest.
  void stop() {
    pacing_ = false;
    if (thread_.joinable()) thread_.join();
  }

  // Stops the pacing, produces everything not produced yet and waits for the acknowledgements.
  bool finish(std::chrono::milliseconds timeout) {
    stop();
    produce_now(inputs_.size());
    return flush(timeout);
  }

  bool flush(std::chrono::milliseconds timeout) {
    return rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count())) ==
           RD_KAFKA_RESP_ERR_NO_ERROR;
  }

  std::size_t produced() const { return next_; }
  std::size_t total() const { return inputs_.size(); }
  std::int64_t failed() {
    std::lock_guard lock(mutex_);
    return failed_;
  }
  std::string first_error() {
    std::lock_guard lock(mutex_);
    return first_error_;
  }

 private:
  void produce_one() {
    const Input& in = inputs_[next_];
    const std::string value = in.json();
    std::int64_t timestamp = 0;  // 0: now
    if constexpr (requires { in.timestamp; }) timestamp = in.timestamp;
    for (;;) {
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_.get(), RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_KEY(in.key.data(), in.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_TIMESTAMP(timestamp), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        throw std::runtime_error(std::string("feeder produce: ") + rd_kafka_err2str(err));
      }
      rd_kafka_poll(rk_.get(), 10);
    }
    ++next_;
  }

  std::string topic_;
  std::vector<Input> inputs_;
  raw::RkPtr rk_;
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> pacing_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::int64_t failed_ = 0;
  std::string first_error_;
};

// Reads a topic from the beginning with isolation.level=read_committed in a background thread
// and keeps every record, as a downstream exactly-once consumer would see them.
class CommittedReader {
 public:
  CommittedReader(const std::string& brokers, const std::string& topic, int partitions)
      : topic_(topic), eof_(static_cast<std::size_t>(partitions), -1) {
    rk_ =
        raw::make_client(RD_KAFKA_CONSUMER, raw::make_conf({{"bootstrap.servers", brokers},
                                                            {"group.id", unique_name("eos-reader")},
                                                            {"enable.auto.commit", "false"},
                                                            {"enable.auto.offset.store", "false"},
                                                            {"enable.partition.eof", "true"},
                                                            {"isolation.level", "read_committed"},
                                                            {"auto.offset.reset", "earliest"},
                                                            {"log_level", "2"}}));
    rd_kafka_poll_set_consumer(rk_.get());
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    const auto rc = rd_kafka_assign(rk_.get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error(std::string("reader assign: ") + rd_kafka_err2str(rc));
    }
    thread_ = std::thread([this] { loop(); });
  }
  ~CommittedReader() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
    rd_kafka_consumer_close(rk_.get());
  }
  CommittedReader(const CommittedReader&) = delete;
  CommittedReader& operator=(const CommittedReader&) = delete;

  std::int64_t count() const { return count_; }
  std::vector<RawOutput> snapshot() const {
    std::lock_guard lock(mutex_);
    return records_;
  }
  std::vector<std::int64_t> eof_offsets() const {
    std::lock_guard lock(mutex_);
    return eof_;
  }
  std::string last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
  }

  // Last stable offset of each partition (ListOffsets with read_committed): below the first
  // open transaction, equal to the end offset when none is open.
  std::vector<std::int64_t> stable_ends() {
    std::vector<std::int64_t> out;
    for (std::size_t p = 0; p < eof_.size(); ++p) {
      std::int64_t low = -1, high = -1;
      const auto rc = rd_kafka_query_watermark_offsets(
          rk_.get(), topic_.c_str(), static_cast<std::int32_t>(p), &low, &high, 10000);
      if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("read_committed end offsets of '" + topic_ +
                                 "': " + rd_kafka_err2str(rc));
      }
      out.push_back(high);
    }
    return out;
  }

 private:
  void loop() {
    while (running_) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 100);
      if (m == nullptr) continue;
      std::lock_guard lock(mutex_);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        auto& e = eof_.at(static_cast<std::size_t>(m->partition));
        e = std::max(e, m->offset);
      } else if (m->err) {
        last_error_ = rd_kafka_message_errstr(m);
      } else {
        RawOutput r;
        r.partition = m->partition;
        r.offset = m->offset;
        r.timestamp = rd_kafka_message_timestamp(m, nullptr);
        if (m->key) r.key.emplace(static_cast<const char*>(m->key), m->key_len);
        if (m->payload) r.value.emplace(static_cast<const char*>(m->payload), m->len);
        records_.push_back(std::move(r));
        ++count_;
      }
      rd_kafka_message_destroy(m);
    }
  }

  std::string topic_;
  raw::RkPtr rk_;
  mutable std::mutex mutex_;
  std::vector<RawOutput> records_;
  std::vector<std::int64_t> eof_;
  std::string last_error_;
  std::atomic<std::int64_t> count_{0};
  std::atomic<bool> running_{true};
  std::thread thread_;
};

// Waits (bounded) until `group` (the probe's) has committed every record of `input`, i.e.
// everything produced was processed and checkpointed. False on timeout or when an app in
// `apps` exited, with the reason in `why`.
inline bool wait_all_committed(KafkaProbe& probe, const std::string& input, int partitions,
                               const std::vector<ChildProcess*>& apps,
                               std::chrono::milliseconds timeout, std::string* why) {
  const auto ends = probe.end_offsets(input, partitions);
  std::vector<std::int64_t> committed;
  bool exited = false;
  const bool ok = wait_until(
      [&] {
        for (auto* a : apps) {
          if (!a->running()) exited = true;
        }
        if (exited) return true;
        committed = probe.committed(input, partitions);
        return committed == ends;
      },
      timeout, std::chrono::milliseconds(200));
  if (ok && !exited) return true;
  auto total = [](const std::vector<std::int64_t>& v) {
    std::int64_t s = 0;
    for (auto x : v) s += x < 0 ? 0 : x;
    return s;
  };
  *why = (exited ? "an app exited" : "timed out") + std::string(": committed ") +
         std::to_string(total(committed)) + " of " + std::to_string(total(ends)) + " inputs";
  return false;
}

// Waits (bounded) until no transaction is open on `output` (last stable offset = end offset)
// and the reader has read up to the end of every partition. False on timeout, with the
// offsets in `why`.
inline bool wait_settled(KafkaProbe& probe, CommittedReader& reader, const std::string& output,
                         int partitions, std::chrono::milliseconds timeout, std::string* why) {
  std::vector<std::int64_t> ends, stable, eof;
  const auto t0 = std::chrono::steady_clock::now();
  const bool ok = wait_until(
      [&] {
        ends = probe.end_offsets(output, partitions);
        stable = reader.stable_ends();
        eof = reader.eof_offsets();
        if (stable != ends) return false;
        for (int p = 0; p < partitions; ++p) {
          if (eof[p] < ends[p]) return false;
        }
        return true;
      },
      timeout, std::chrono::milliseconds(200));
  if (ok) {
    info("output settled (no open transaction, read to the end) after " +
         std::to_string(seconds_since(t0)) + " s");
    return true;
  }
  auto show = [](const std::vector<std::int64_t>& v) {
    std::string s;
    for (auto x : v) {
      s += ' ';
      s += std::to_string(x);
    }
    return s;
  };
  *why = "end offsets" + show(ends) + ", last stable offsets" + show(stable) + ", reader at" +
         show(eof) + "; reader error: " + reader.last_error();
  return false;
}

}  // namespace streamframe::test
