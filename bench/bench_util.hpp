// What the benchmark programs share: librdkafka handles, topic administration, filling an
// input topic, watching a consumer group's commits, describing the machine and its load,
// formatting numbers and times, the results file. Header-only: each program is one
// translation unit.
#pragma once

#include <arpa/inet.h>
#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "streamframe/value.hpp"

namespace streamframe::bench {

using Clock = std::chrono::steady_clock;
using Settings = std::vector<std::pair<std::string, std::string>>;

class BenchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// librdkafka handles

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* rkt) const { rd_kafka_topic_destroy(rkt); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* ev) const { rd_kafka_event_destroy(ev); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using AdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

// The raw pass-through's clients (e2e_bench case (a), the nexmark suite's ceiling): the
// settings streamframe's own clients use (range assignment, read_committed, manual commit;
// idempotent murmur2 producer, linger.ms=5, batches of 10000) with the consumer's prefetch
// limits at their maximums: librdkafka < 2.4 stops fetching for a fixed 1 s whenever the local
// queue reaches either limit (librdkafka #2879), so at the maximums the pass-through never
// waits on that backoff.
inline Settings raw_consumer_settings(const std::string& brokers, const std::string& group) {
  return {{"bootstrap.servers", brokers},
          {"group.id", group},
          {"auto.offset.reset", "earliest"},
          {"enable.auto.commit", "false"},
          {"enable.auto.offset.store", "false"},
          {"enable.partition.eof", "false"},
          {"partition.assignment.strategy", "range"},
          {"isolation.level", "read_committed"},
          {"queued.min.messages", "10000000"},
          {"queued.max.messages.kbytes", "2097151"},
          {"max.partition.fetch.bytes", "4194304"},
          {"fetch.max.bytes", "52428800"},
          {"fetch.wait.max.ms", "100"}};
}

inline Settings raw_producer_settings(const std::string& brokers) {
  return {{"bootstrap.servers", brokers},
          {"enable.idempotence", "true"},
          {"partitioner", "murmur2"},
          {"linger.ms", "5"},
          {"batch.num.messages", "10000"},
          {"queue.buffering.max.messages", "1000000"},
          {"queue.buffering.max.kbytes", "1048576"}};
}

// splitmix64 seeded with (seed, n): record n's own random stream, reproducible whichever order
// records are made in, and cheap (a Mersenne Twister seeded per record costs more than
// producing the record).
class RecordRng {
 public:
  RecordRng(std::uint64_t seed, std::uint64_t n)
      : state_(seed * 0x9E3779B97F4A7C15ull + n * 0xD1B54A32D192ED03ull) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t operator()() { return next(); }
  // Uniform in [0, n) (the modulo bias is far below anything a benchmark could see).
  std::int64_t below(std::int64_t n) { return static_cast<std::int64_t>(next() % n); }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

inline ConfPtr make_conf(const Settings& settings) {
  ConfPtr conf(rd_kafka_conf_new());
  std::array<char, 512> errstr{};
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr.data(), errstr.size()) !=
        RD_KAFKA_CONF_OK) {
      throw BenchError(fmt::format("librdkafka setting {}={}: {}", key, value, errstr.data()));
    }
  }
  return conf;
}

// rd_kafka_new takes the configuration only when it succeeds.
inline KafkaPtr make_client(rd_kafka_type_t type, ConfPtr conf) {
  std::array<char, 512> errstr{};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr.data(), errstr.size());
  if (rk == nullptr) throw BenchError(fmt::format("rd_kafka_new: {}", errstr.data()));
  conf.release();
  return KafkaPtr(rk);
}

inline TopicPtr make_topic(rd_kafka_t* rk, const std::string& name) {
  TopicPtr rkt(rd_kafka_topic_new(rk, name.c_str(), nullptr));
  if (!rkt) {
    throw BenchError(
        fmt::format("rd_kafka_topic_new({}): {}", name, rd_kafka_err2str(rd_kafka_last_error())));
  }
  return rkt;
}

inline std::string command_output(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 256> buf{};
  while (fgets(buf.data(), static_cast<int>(buf.size()), pipe) != nullptr) out += buf.data();
  pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

struct Machine {
  long nproc = 0;
  std::string model;
  double mem_gb = 0;
};

inline Machine machine_info() {
  Machine m;
  m.nproc = sysconf(_SC_NPROCESSORS_ONLN);
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        m.model = line.substr(line.find_first_not_of(" \t", colon + 1));
      }
      break;
    }
  }
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("MemTotal:", 0) == 0) {
      const double kb = std::strtod(line.c_str() + 9, nullptr);
      m.mem_gb = std::round(kb / (1024.0 * 1024.0) * 10) / 10;
      break;
    }
  }
  return m;
}

inline double load_average_1m() {
  double load = 0;
  std::ifstream in("/proc/loadavg");
  in >> load;
  return load;
}

inline double clock_ticks(std::uint64_t ticks) {
  static const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(ticks) / hz;
}

// utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15).
inline double process_cpu(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  std::uint64_t utime = 0;
  std::uint64_t stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return clock_ticks(utime + stime);
}

inline std::string iso8601_utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

inline double round_to(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}

// 1234567 -> "1,234,567".
inline std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

inline double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

inline std::uint64_t per_second(double count, double seconds) {
  return seconds > 0 ? static_cast<std::uint64_t>(std::llround(count / seconds)) : 0;
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// ---------------------------------------------------------------------------------------------
// Topics

// Topic administration and record counting through one long-lived client.
class Admin {
 public:
  explicit Admin(const std::string& brokers)
      : rk_(make_client(RD_KAFKA_PRODUCER, make_conf({{"bootstrap.servers", brokers}}))) {}

  // `configs`: topic settings, e.g. retention.ms=-1 for records stamped long ago.
  void create_topics(const std::vector<std::string>& names, int partitions,
                     const std::map<std::string, std::string>& configs = {}) {
    std::vector<rd_kafka_NewTopic_t*> topics;
    struct Cleanup {
      std::vector<rd_kafka_NewTopic_t*>& t;
      ~Cleanup() { rd_kafka_NewTopic_destroy_array(t.data(), t.size()); }
    } cleanup{topics};
    std::array<char, 512> errstr{};
    for (const auto& name : names) {
      rd_kafka_NewTopic_t* t =
          rd_kafka_NewTopic_new(name.c_str(), partitions, 1, errstr.data(), errstr.size());
      if (t == nullptr) throw BenchError(fmt::format("topic {}: {}", name, errstr.data()));
      topics.push_back(t);
      for (const auto& [key, value] : configs) {
        if (rd_kafka_NewTopic_set_config(t, key.c_str(), value.c_str()) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          throw BenchError(fmt::format("topic {}: setting {}={}", name, key, value));
        }
      }
    }
    AdminOptionsPtr options(rd_kafka_AdminOptions_new(rk_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
    // Wait until the controller has created them, not only accepted the request.
    rd_kafka_AdminOptions_set_operation_timeout(options.get(), 30000, errstr.data(), errstr.size());
    QueuePtr queue(rd_kafka_queue_new(rk_.get()));
    rd_kafka_CreateTopics(rk_.get(), topics.data(), topics.size(), options.get(), queue.get());
    EventPtr ev(rd_kafka_queue_poll(queue.get(), 90000));
    if (!ev) throw BenchError("CreateTopics: no answer within 90 s");
    if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw BenchError(fmt::format("CreateTopics: {}", rd_kafka_event_error_string(ev.get())));
    }
    std::size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &count);
    for (std::size_t i = 0; i < count; ++i) {
      const auto err = rd_kafka_topic_result_error(results[i]);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        throw BenchError(fmt::format("creating topic {}: {}",
                                     rd_kafka_topic_result_name(results[i]),
                                     rd_kafka_topic_result_error_string(results[i])));
      }
    }
    for (const auto& name : names) wait_for_leaders(name, partitions);
  }

  // Topics that do not exist (a case that failed before creating its changelog) are ignored.
  void delete_topics(const std::vector<std::string>& names) {
    if (names.empty()) return;
    std::vector<rd_kafka_DeleteTopic_t*> topics;
    for (const auto& name : names) topics.push_back(rd_kafka_DeleteTopic_new(name.c_str()));
    QueuePtr queue(rd_kafka_queue_new(rk_.get()));
    rd_kafka_DeleteTopics(rk_.get(), topics.data(), topics.size(), nullptr, queue.get());
    rd_kafka_DeleteTopic_destroy_array(topics.data(), topics.size());
    EventPtr ev(rd_kafka_queue_poll(queue.get(), 60000));
    if (!ev || rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fmt::print(stderr, "warning: deleting the bench topics failed: {}\n",
                 ev ? rd_kafka_event_error_string(ev.get()) : "no answer within 60 s");
    }
  }

  // End offset minus start offset per partition. For topics written without transactions by
  // idempotent producers offsets are dense, so the sum is the number of records.
  std::vector<std::int64_t> partition_sizes(const std::string& topic, int partitions) {
    std::vector<std::int64_t> sizes;
    for (int p = 0; p < partitions; ++p) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      const auto err =
          rd_kafka_query_watermark_offsets(rk_.get(), topic.c_str(), p, &low, &high, 10000);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw BenchError(fmt::format("watermarks of {}[{}]: {}", topic, p, rd_kafka_err2str(err)));
      }
      sizes.push_back(high - low);
    }
    return sizes;
  }

  std::uint64_t record_count(const std::string& topic, int partitions) {
    std::uint64_t total = 0;
    for (auto n : partition_sizes(topic, partitions)) total += static_cast<std::uint64_t>(n);
    return total;
  }

  // Names of the topics that start with `prefix` (e.g. the changelogs an application created
  // for its stores, whose names the bench does not spell out).
  std::vector<std::string> topics_with_prefix(const std::string& prefix) {
    const rd_kafka_metadata_t* md = nullptr;
    const auto err = rd_kafka_metadata(rk_.get(), 1, nullptr, &md, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw BenchError(fmt::format("listing topics: {}", rd_kafka_err2str(err)));
    }
    std::vector<std::string> names;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const std::string name = md->topics[i].topic;
      if (name.rfind(prefix, 0) == 0) names.push_back(name);
    }
    rd_kafka_metadata_destroy(md);
    return names;
  }

 private:
  // A freshly created topic's partitions get their leaders a moment after CreateTopics answers.
  void wait_for_leaders(const std::string& name, int partitions) {
    TopicPtr rkt = make_topic(rk_.get(), name);
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    for (;;) {
      const rd_kafka_metadata_t* md = nullptr;
      bool ready = false;
      if (rd_kafka_metadata(rk_.get(), 0, rkt.get(), &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ready = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[0].partition_cnt == partitions;
        for (int i = 0; ready && i < md->topics[0].partition_cnt; ++i) {
          ready = md->topics[0].partitions[i].leader >= 0;
        }
        rd_kafka_metadata_destroy(md);
      }
      if (ready) return;
      if (Clock::now() > deadline) {
        throw BenchError(
            fmt::format("topic {} has no leader for every partition after 30 s", name));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  KafkaPtr rk_;
};

// ---------------------------------------------------------------------------------------------
// Filling an input topic

struct FillDeliveries {
  std::uint64_t acked = 0;
  std::uint64_t failed = 0;
  std::string first_error;
};

inline void on_fill_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<FillDeliveries*>(opaque);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (d->failed++ == 0) d->first_error = rd_kafka_err2str(m->err);
    return;
  }
  ++d->acked;
}

// Writes record i's key and value, and its timestamp in ms (left at 0: the producer's clock).
using RecordFn = std::function<void(std::uint64_t i, std::string& key, std::string& value,
                                    std::int64_t& timestamp)>;

// Produces records [first, first + count) with an idempotent murmur2 producer (the
// partitioner the application uses) and waits for every delivery report. Shows its progress
// on a terminal when it fills `progress_from` records or more. Returns seconds.
inline double produce_records(const std::string& brokers, const std::string& topic,
                              std::uint64_t first, std::uint64_t count, const RecordFn& make,
                              std::uint64_t* value_bytes, std::uint64_t progress_from = 100000) {
  FillDeliveries deliveries;
  ConfPtr conf = make_conf({{"bootstrap.servers", brokers},
                            {"enable.idempotence", "true"},
                            {"partitioner", "murmur2"},
                            {"linger.ms", "20"},
                            {"batch.num.messages", "10000"},
                            {"batch.size", "1000000"},
                            {"compression.type", "none"},
                            {"queue.buffering.max.messages", "1000000"},
                            {"queue.buffering.max.kbytes", "1048576"}});
  rd_kafka_conf_set_dr_msg_cb(conf.get(), on_fill_delivery);
  rd_kafka_conf_set_opaque(conf.get(), &deliveries);
  KafkaPtr producer = make_client(RD_KAFKA_PRODUCER, std::move(conf));
  TopicPtr rkt = make_topic(producer.get(), topic);
  std::string key;
  std::string value;
  const auto start = Clock::now();
  const bool progress = isatty(STDERR_FILENO) != 0 && count >= progress_from;
  const std::uint64_t progress_step = std::max<std::uint64_t>(count / 10, 1);
  for (std::uint64_t n = 0; n < count; ++n) {
    std::int64_t timestamp = 0;
    make(first + n, key, value, timestamp);
    if (value_bytes != nullptr) *value_bytes += value.size();
    for (;;) {
      const auto err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_RKT(rkt.get()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(value.data(), value.size()),
          RD_KAFKA_V_TIMESTAMP(timestamp), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        throw BenchError(fmt::format("producing input record {}: {}", n, rd_kafka_err2str(err)));
      }
      rd_kafka_poll(producer.get(), 10);
    }
    if ((n & 0xfff) == 0) rd_kafka_poll(producer.get(), 0);
    if (deliveries.failed > 0) {
      throw BenchError(fmt::format("input delivery failed: {}", deliveries.first_error));
    }
    if (progress && (n + 1) % progress_step == 0) {
      fmt::print(stderr, "\r  filling {}: {:3}%", topic, (n + 1) * 100 / count);
    }
  }
  rd_kafka_flush(producer.get(), 300000);
  if (progress) fmt::print(stderr, "\n");
  if (deliveries.failed > 0 || deliveries.acked != count) {
    throw BenchError(fmt::format("input: {} of {} records acknowledged, {} failed ({})",
                                 deliveries.acked, count, deliveries.failed,
                                 deliveries.first_error));
  }
  return seconds_between(start, Clock::now());
}

// ---------------------------------------------------------------------------------------------
// Reading a topic back

// Hands every record of `topic` to `fn`, read from the beginning of each partition to its end
// by a read_committed consumer (transaction markers and aborted records are not records).
// Untimed: for checking outputs after a case.
inline void for_each_record(const std::string& brokers, const std::string& topic, int partitions,
                            const std::function<void(const rd_kafka_message_t&)>& fn) {
  KafkaPtr rk = make_client(RD_KAFKA_CONSUMER, make_conf({{"bootstrap.servers", brokers},
                                                          {"group.id", "bench-read-back"},
                                                          {"enable.auto.commit", "false"},
                                                          {"enable.partition.eof", "true"},
                                                          {"isolation.level", "read_committed"},
                                                          {"queued.min.messages", "1000000"}}));
  rd_kafka_poll_set_consumer(rk.get());
  PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  if (rd_kafka_assign(rk.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw BenchError(fmt::format("reading {}: assign failed", topic));
  }
  QueuePtr queue(rd_kafka_queue_get_consumer(rk.get()));
  int at_end = 0;
  std::array<rd_kafka_message_t*, 4096> batch{};
  auto last = Clock::now();
  while (at_end < partitions) {
    const ssize_t n = rd_kafka_consume_batch_queue(queue.get(), 200, batch.data(), batch.size());
    for (ssize_t i = 0; i < n; ++i) {
      MessagePtr m(batch[static_cast<std::size_t>(i)]);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        ++at_end;
      } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        fn(*m);
      }
    }
    if (n > 0) last = Clock::now();
    if (Clock::now() - last > std::chrono::seconds(30)) {
      throw BenchError(fmt::format("reading {}: nothing for 30 s", topic));
    }
  }
  rd_kafka_assign(rk.get(), nullptr);
}

// ---------------------------------------------------------------------------------------------
// The end of a case: the consumer group's committed offsets

// Takes the instant a sum the case drives up (offsets, read by `probe` through the watcher's own
// client) reaches `target`: idle until armed near the end of the case, then `probe` in a tight
// loop, `interval` apart, on its own thread. `probe` runs once in the constructor, so that the
// client has connected (and found the coordinator or the leaders) before the measurement starts.
class ArmedPoller {
 public:
  using Probe = std::function<std::optional<std::int64_t>()>;

  ArmedPoller(Probe probe, std::int64_t target, std::chrono::microseconds interval)
      : probe_(std::move(probe)), target_(target), interval_(interval) {
    probe_();
    thread_ = std::thread([this] { loop(); });
  }
  ArmedPoller(const ArmedPoller&) = delete;
  ArmedPoller& operator=(const ArmedPoller&) = delete;
  ~ArmedPoller() { stop(); }

  // Cheap; called from the pipeline's thread.
  void arm() noexcept { armed_.store(true, std::memory_order_relaxed); }
  bool armed() const noexcept { return armed_.load(std::memory_order_relaxed); }

  // Waits (up to `timeout`) for the target once armed, stops, and returns when it was seen.
  std::optional<Clock::time_point> finish(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (armed() && !done_.load() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stop();
    if (!done_.load()) return std::nullopt;
    return reached_;
  }

 private:
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  void loop() {
    while (!stop_.load()) {
      if (!armed()) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
        continue;
      }
      const auto sum = probe_();
      if (sum && *sum >= target_) {
        reached_ = Clock::now();
        done_ = true;
        return;
      }
      std::this_thread::sleep_for(interval_);
    }
  }

  Probe probe_;
  std::int64_t target_;
  std::chrono::microseconds interval_;
  std::atomic<bool> armed_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  Clock::time_point reached_{};  // written before done_ is set, read after the join
  std::thread thread_;
};

// Watches, from outside the application, the offsets its consumer group has committed for the
// input topic, in a tight loop once armed near the end, and takes the instant they sum to
// `target` (the input's record count: offsets are dense). At-least-once commits them after the
// producer flush (every output and changelog record acknowledged); exactly-once commits them in
// the transaction, and the coordinator materializes them when the transaction commits, i.e.
// when the outputs become visible to read_committed readers. read_uncommitted here: librdkafka
// then does not ask for "stable" offsets, so pending transactional offsets are not waited for
// but simply not reported until they are committed.
class CommitWatcher {
 public:
  CommitWatcher(const std::string& brokers, const std::string& group, const std::string& topic,
                int partitions, std::int64_t target)
      : rk_(make_client(RD_KAFKA_CONSUMER, make_conf({{"bootstrap.servers", brokers},
                                                      {"group.id", group},
                                                      {"enable.auto.commit", "false"},
                                                      {"isolation.level", "read_uncommitted"}}))),
        topic_(topic),
        partitions_(partitions),
        poller_([this] { return committed_sum(); }, target, std::chrono::microseconds(200)) {}

  void arm() noexcept { poller_.arm(); }
  std::optional<Clock::time_point> finish(std::chrono::milliseconds timeout) {
    return poller_.finish(timeout);
  }

 private:
  std::optional<std::int64_t> committed_sum() {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions_));
    for (int p = 0; p < partitions_; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), p);
    }
    if (rd_kafka_committed(rk_.get(), list.get(), 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::nullopt;
    }
    std::int64_t sum = 0;
    for (int i = 0; i < list->cnt; ++i) {
      if (list->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[i].offset > 0) {
        sum += list->elems[i].offset;
      }
    }
    return sum;
  }

  KafkaPtr rk_;
  std::string topic_;
  int partitions_;
  ArmedPoller poller_;  // last: stopped before the client goes
};

// CPU seconds the machine, this process and the broker spent over a case, to tell whether
// something else competed for the cores while it ran.
struct CpuSample {
  Clock::time_point at;
  double machine_busy = 0;  // all CPUs: user, nice and system time
  double self = 0;
  double broker = 0;
};

inline CpuSample sample_cpu(const std::string& broker_pid) {
  CpuSample s;
  s.at = Clock::now();
  std::ifstream in("/proc/stat");
  std::string cpu;
  std::uint64_t user = 0, nice = 0, system = 0;
  in >> cpu >> user >> nice >> system;
  // irq, softirq and steal are left out: loopback traffic is charged to softirq, not to the
  // processes that cause it.
  s.machine_busy = clock_ticks(user + nice + system);
  s.self = process_cpu("self");
  if (!broker_pid.empty()) s.broker = process_cpu(broker_pid);
  return s;
}

struct CpuUse {
  double wall = 0;
  double self = 0;
  double busy = 0;
  std::optional<double> broker;
  std::optional<double> others;  // busy - self - broker: needs the broker's pid
  double load_1m_before = 0;
  double load_1m_after = 0;
  // Other processes used more than 5 % of the machine while the case ran.
  bool noisy() const {
    return others && *others > 0.05 * wall * static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  }
};

inline CpuUse cpu_use(const CpuSample& a, const CpuSample& b, bool have_broker) {
  CpuUse u;
  u.wall = seconds_between(a.at, b.at);
  u.self = b.self - a.self;
  u.busy = b.machine_busy - a.machine_busy;
  if (have_broker) {
    u.broker = b.broker - a.broker;
    u.others = std::max(0.0, u.busy - u.self - *u.broker);
  }
  return u;
}

// Measures CPU use and the load average around a case.
class CpuMeter {
 public:
  explicit CpuMeter(const std::string& broker_pid)
      : broker_pid_(broker_pid), before_(sample_cpu(broker_pid)), load_(load_average_1m()) {}
  CpuUse done() const {
    CpuUse u = cpu_use(before_, sample_cpu(broker_pid_), !broker_pid_.empty());
    u.load_1m_before = load_;
    u.load_1m_after = load_average_1m();
    return u;
  }

 private:
  std::string broker_pid_;
  CpuSample before_;
  double load_;
};

inline Value cpu_json(const CpuUse& cpu) {
  Object o{{"wall_s", Value(round_to(cpu.wall, 3))},
           {"bench_s", Value(round_to(cpu.self, 2))},
           {"machine_busy_s", Value(round_to(cpu.busy, 2))}};
  if (cpu.broker) o.set("broker_s", Value(round_to(*cpu.broker, 2)));
  if (cpu.others) o.set("others_s", Value(round_to(*cpu.others, 2)));
  return Value(std::move(o));
}

inline std::string cpu_text(const CpuUse& cpu) {
  std::string s = fmt::format("cpu s: bench {:.1f}", cpu.self);
  if (cpu.broker) s += fmt::format(", broker {:.1f}, others {:.1f}", *cpu.broker, *cpu.others);
  s += fmt::format("; load {:.2f}", cpu.load_1m_before);
  if (cpu.noisy()) s += "  NOISY";
  return s;
}

// Appends the JSON lines to the results file; counts a failure when it cannot.
inline void append_lines(const std::string& results_file, const std::vector<std::string>& lines,
                         int& failures) {
  if (results_file.empty() || lines.empty()) return;
  const std::filesystem::path path(results_file);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::app);
  for (const auto& l : lines) out << l << '\n';
  if (!out) {
    fmt::print(stderr, "error: cannot append to {}\n", results_file);
    ++failures;
  } else {
    fmt::print(stderr, "appended {} results to {}\n", lines.size(), results_file);
  }
}

// A TCP port nothing listens on now (the kernel's pick of an ephemeral one), for a metrics
// port; 0 when none could be had.
inline int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace streamframe::bench
