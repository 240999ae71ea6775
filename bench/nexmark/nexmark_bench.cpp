// streamframe_bench_nexmark: streamframe's side of the peer benchmark suite
// (bench/nexmark/SPEC.md; bench/README.md, "Peers"). bench/nexmark/driver.py runs it and the
// peers and measures them all the same way from outside; this program only does things:
//   generate     fill an input topic with the deterministic Nexmark / words / temperature data
//   run          one workload on streamframe against the broker, until SIGTERM
//   passthrough  raw librdkafka consume -> produce, no parsing (the ceiling), until SIGTERM
//   engine       one workload in-process (TestDriver), timed, no broker
//   digest       count and order-independent hash of a topic's records, for the agreement check
//   latency      input at a fixed rate stamped with the current time; output latency percentiles
//   version      versions as JSON

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../bench_driver.hpp"
#include "generator.hpp"
#include "streamframe/streamframe.hpp"
#include "workloads.hpp"

namespace sf = streamframe;
namespace nx = streamframe::bench::nexmark;
using streamframe::bench::BenchError;
using streamframe::bench::Clock;
using streamframe::bench::make_client;
using streamframe::bench::make_conf;
using streamframe::bench::make_topic;

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop.store(true);
}

void install_stop_signals() {
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
}

std::string json_line(const sf::Value& v) {
  std::string out;
  sf::json::write(v, out);
  return out;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------------
// Output digest: the same for equal multisets of (key, value) whatever the order, the system
// or its JSON formatting (objects with sorted keys, every number as the shortest double).

void canonical(const sf::Value& v, std::string& out) {
  switch (v.type()) {
    case sf::Value::Type::integer:
      fmt::format_to(std::back_inserter(out), "{}", static_cast<double>(v.as_int()));
      return;
    case sf::Value::Type::floating:
      fmt::format_to(std::back_inserter(out), "{}", v.as_double());
      return;
    case sf::Value::Type::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.as_array()) {
        if (!first) out += ',';
        first = false;
        canonical(e, out);
      }
      out += ']';
      return;
    }
    case sf::Value::Type::object: {
      std::vector<const sf::Object::Entry*> entries;
      for (const auto& e : v.as_object()) entries.push_back(&e);
      std::sort(entries.begin(), entries.end(),
                [](const auto* a, const auto* b) { return a->first < b->first; });
      out += '{';
      bool first = true;
      for (const auto* e : entries) {
        if (!first) out += ',';
        first = false;
        sf::json::write(sf::Value(e->first), out);
        out += ':';
        canonical(e->second, out);
      }
      out += '}';
      return;
    }
    default:
      sf::json::write(v, out);
  }
}

// With `table` set, the outputs are a table's updates (nx::table_output): only each key's last
// value counts (the records of one key are in one partition, in the order they were made), and
// the digest is over those last values; count() still counts every record.
class Digest {
 public:
  explicit Digest(bool table = false) : table_(table) {}

  void add(std::optional<std::string_view> key, std::optional<std::string_view> value) {
    buf_.clear();
    if (key) buf_.append(*key);
    buf_ += '\0';
    const std::size_t key_end = buf_.size();
    if (value) {
      canonical(sf::json::parse(*value), buf_);
    } else {
      buf_ += "<null>";
    }
    ++count_;
    if (table_) {
      last_[buf_.substr(0, key_end)] = buf_.substr(key_end);
    } else {
      mix(buf_);
    }
  }
  std::uint64_t count() const { return count_; }
  // Keys of a table (0 otherwise).
  std::uint64_t keys() const { return last_.size(); }
  std::string hex() {
    if (table_) {
      sum_ = squares_ = 0;
      for (const auto& [key, value] : last_) mix(key + value);
    }
    return fmt::format("{:016x}{:016x}", sum_, squares_);
  }

 private:
  void mix(std::string_view record) {
    const std::size_t h = std::hash<std::string_view>{}(record);
    sum_ += h;
    // A second, differently weighted sum: a pair of swapped records cannot cancel in both.
    squares_ += h * (h | 1);
  }

  bool table_;
  std::string buf_;
  std::unordered_map<std::string, std::string> last_;  // key + '\0' -> canonical value
  std::uint64_t sum_ = 0;
  std::uint64_t squares_ = 0;
  std::uint64_t count_ = 0;
};

// ---------------------------------------------------------------------------------------------
// generate

struct Delivered {
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> failed{0};
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Delivered*>(opaque);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (d->failed++ == 0) d->first_error = rd_kafka_err2str(m->err);
    return;
  }
  ++d->acked;
}

streamframe::bench::KafkaPtr make_input_producer(const std::string& brokers, Delivered& d,
                                                 const char* linger_ms) {
  auto conf = make_conf({{"bootstrap.servers", brokers},
                         {"enable.idempotence", "true"},
                         {"linger.ms", linger_ms},
                         // Java clients send at once (TCP_NODELAY); librdkafka waits for Nagle.
                         {"socket.nagle.disable", "true"},
                         {"batch.num.messages", "10000"},
                         {"batch.size", "1000000"},
                         {"compression.type", "none"},
                         {"queue.buffering.max.messages", "1000000"},
                         {"queue.buffering.max.kbytes", "1048576"}});
  rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
  rd_kafka_conf_set_opaque(conf.get(), &d);
  return make_client(RD_KAFKA_PRODUCER, std::move(conf));
}

void produce_one(rd_kafka_t* producer, rd_kafka_topic_t* rkt, const nx::GeneratedRecord& r,
                 int partitions) {
  const auto partition = static_cast<std::int32_t>(r.id % static_cast<std::uint64_t>(partitions));
  for (;;) {
    const auto err =
        rd_kafka_producev(producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_KEY(const_cast<char*>(r.key.data()), r.key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
                          RD_KAFKA_V_TIMESTAMP(r.timestamp), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      throw BenchError(fmt::format("produce: {}", rd_kafka_err2str(err)));
    }
    rd_kafka_poll(producer, 5);
  }
}

int cmd_generate(const std::string& brokers, const std::string& kind_name, const std::string& topic,
                 std::uint64_t records, int partitions, const nx::GeneratorConfig& gen_config) {
  const nx::Generator gen(nx::parse_kind(kind_name), gen_config);
  streamframe::bench::Admin admin(brokers);
  // The records are stamped with event time in the past (2026-01-01 on): the broker's
  // time-based retention would delete them within minutes.
  admin.create_topics({topic}, partitions, {{"retention.ms", "-1"}});
  Delivered delivered;
  auto producer = make_input_producer(brokers, delivered, "20");
  auto rkt = make_topic(producer.get(), topic);
  nx::GeneratedRecord r;
  std::uint64_t bytes = 0;
  const auto start = Clock::now();
  for (std::uint64_t n = 0; n < records; ++n) {
    gen.make(n, r);
    bytes += r.key.size() + r.value.size();
    produce_one(producer.get(), rkt.get(), r, partitions);
    if ((n & 0xfff) == 0) rd_kafka_poll(producer.get(), 0);
    if (delivered.failed > 0) throw BenchError("input delivery failed: " + delivered.first_error);
  }
  rd_kafka_flush(producer.get(), 300000);
  const double seconds = streamframe::bench::seconds_between(start, Clock::now());
  if (delivered.acked != records) {
    throw BenchError(fmt::format("{} of {} input records acknowledged ({})", delivered.acked.load(),
                                 records, delivered.first_error));
  }
  fmt::print(
      "{}\n",
      json_line(sf::Value::object({{"kind", sf::Value(kind_name)},
                                   {"topic", sf::Value(topic)},
                                   {"records", sf::Value(static_cast<std::int64_t>(records))},
                                   {"bytes", sf::Value(static_cast<std::int64_t>(bytes))},
                                   {"seconds", sf::Value(seconds)}})));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// run

struct RunArgs {
  std::string brokers;
  std::string workload = "q0";
  std::string input;
  std::string output;
  std::string group;
  std::string guarantee = "alo";
  std::string state_dir;
  std::optional<std::int64_t> commit_interval_ms;
  std::string loglevel = "WARNING";
  std::size_t state_memory_budget_mib = 0;  // 0 = the library's default
  std::vector<std::string> consumer_config;
  std::vector<std::string> producer_config;
};

int cmd_run(const RunArgs& a) {
  sf::ApplicationConfig config;
  config.broker_address = a.brokers;
  config.consumer_group = a.group;
  config.auto_offset_reset = sf::AutoOffsetReset::earliest;
  config.processing_guarantee = a.guarantee == "eos" ? sf::ProcessingGuarantee::exactly_once
                                                     : sf::ProcessingGuarantee::at_least_once;
  if (a.commit_interval_ms)
    config.commit_interval = std::chrono::milliseconds(*a.commit_interval_ms);
  if (!a.state_dir.empty()) config.state_dir = a.state_dir;
  if (a.state_memory_budget_mib > 0) {
    config.state_memory_budget = a.state_memory_budget_mib * 1024 * 1024;
  }
  config.loglevel = a.loglevel;
  for (const auto& kv : a.consumer_config)
    config.consumer_extra_config[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  for (const auto& kv : a.producer_config)
    config.producer_extra_config[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  sf::Application app(config);
  const sf::Topic in = app.topic(a.input);
  const sf::Topic out = app.topic(a.output);
  nx::declare_workload(a.workload, app.dataframe(in), out);
  app.run({.collect = false});  // until SIGTERM / SIGINT (the library's handlers)
  return 0;
}

// ---------------------------------------------------------------------------------------------
// passthrough: the ceiling, e2e_bench's case (a) (raw_consumer_settings/raw_producer_settings,
// batched reads) run until SIGTERM.

int cmd_passthrough(const std::string& brokers, const std::string& input, const std::string& output,
                    const std::string& group) {
  install_stop_signals();
  Delivered delivered;
  auto producer = [&] {
    auto conf = make_conf(streamframe::bench::raw_producer_settings(brokers));
    rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
    rd_kafka_conf_set_opaque(conf.get(), &delivered);
    return make_client(RD_KAFKA_PRODUCER, std::move(conf));
  }();
  auto out_rkt = make_topic(producer.get(), output);
  auto consumer = make_client(RD_KAFKA_CONSUMER,
                              make_conf(streamframe::bench::raw_consumer_settings(brokers, group)));
  rd_kafka_poll_set_consumer(consumer.get());
  streamframe::bench::PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), input.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_subscribe(consumer.get(), topics.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw BenchError("subscribe failed");
  }
  streamframe::bench::QueuePtr queue(rd_kafka_queue_get_consumer(consumer.get()));
  std::array<rd_kafka_message_t*, 1024> batch{};
  while (!g_stop.load()) {
    const ssize_t n = rd_kafka_consume_batch_queue(queue.get(), 100, batch.data(), batch.size());
    if (n < 0)
      throw BenchError(fmt::format("consume: {}", rd_kafka_err2str(rd_kafka_last_error())));
    for (ssize_t j = 0; j < n; ++j) {
      rd_kafka_message_t* m = batch[static_cast<std::size_t>(j)];
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const std::int64_t ts = rd_kafka_message_timestamp(m, nullptr);
        for (;;) {
          const auto err = rd_kafka_producev(producer.get(), RD_KAFKA_V_RKT(out_rkt.get()),
                                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                             RD_KAFKA_V_KEY(m->key, m->key_len),
                                             RD_KAFKA_V_VALUE(m->payload, m->len),
                                             RD_KAFKA_V_TIMESTAMP(ts < 0 ? 0 : ts), RD_KAFKA_V_END);
          if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
          if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            throw BenchError(fmt::format("produce: {}", rd_kafka_err2str(err)));
          }
          rd_kafka_poll(producer.get(), 1);
        }
      } else if (rd_kafka_fatal_error(consumer.get(), nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw BenchError(fmt::format("consumer: {}", rd_kafka_message_errstr(m)));
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_poll(producer.get(), 0);
    if (delivered.failed > 0) throw BenchError("delivery failed: " + delivered.first_error);
  }
  rd_kafka_flush(producer.get(), 30000);
  rd_kafka_consumer_close(consumer.get());
  return 0;
}

// ---------------------------------------------------------------------------------------------
// engine: the records are made first (untimed), then fed through TestDriver (timed).

struct Arena {
  std::string bytes;
  struct Entry {
    std::size_t key_at, key_len, value_at, value_len;
    std::int64_t timestamp;
    std::int32_t partition;
  };
  std::vector<Entry> entries;
};

Arena make_records(nx::Kind kind, const nx::GeneratorConfig& gen_config, std::uint64_t records,
                   int partitions) {
  const nx::Generator gen(kind, gen_config);
  Arena a;
  a.entries.reserve(records);
  nx::GeneratedRecord r;
  for (std::uint64_t n = 0; n < records; ++n) {
    gen.make(n, r);
    a.entries.push_back({a.bytes.size(), r.key.size(), a.bytes.size() + r.key.size(),
                         r.value.size(), r.timestamp,
                         static_cast<std::int32_t>(r.id % static_cast<std::uint64_t>(partitions))});
    a.bytes += r.key;
    a.bytes += r.value;
  }
  return a;
}

// One pass of `workload` over the records; `on_output` sees every produced message. Returns
// (seconds, outputs, output bytes).
struct EnginePass {
  double seconds = 0;
  std::uint64_t outputs = 0;
  std::uint64_t output_bytes = 0;
};

EnginePass engine_pass(const std::string& workload, const Arena& arena, int partitions,
                       const std::function<void(std::optional<std::string_view>,
                                                std::optional<std::string_view>)>& on_output) {
  // No Application: nothing may reach for a broker.
  // Declared with the partitions the driver runs, as app.topic() reads them from the broker:
  // a group_by then hops through its repartition topic as on Kafka.
  const sf::Topic in =
      sf::Topic::make("input", {.config = sf::TopicConfig{.num_partitions = partitions}});
  const sf::Topic out = sf::Topic::make("output", {});
  auto root = sf::StreamingDataFrame::standalone(in);
  nx::declare_workload(workload, root, out);
  EnginePass pass;
  // Checkpoints about as often as a 5 s commit interval would at these rates; rows are not
  // kept, only the produced messages are seen.
  sf::TestDriver driver(
      root, {.partitions = partitions, .checkpoint_every = 100000, .collect_rows = false},
      [&](const std::string&, std::optional<std::string_view> key,
          std::optional<std::string_view> value, std::int64_t) {
        pass.output_bytes += value ? value->size() : 0;
        if (on_output) on_output(key, value);
      });
  const auto start = Clock::now();
  for (const auto& e : arena.entries) {
    driver.pipe(e.partition, std::string_view(arena.bytes).substr(e.key_at, e.key_len),
                std::string_view(arena.bytes).substr(e.value_at, e.value_len), e.timestamp);
  }
  driver.checkpoint();
  pass.seconds = streamframe::bench::seconds_between(start, Clock::now());
  pass.outputs = driver.produced();
  return pass;
}

// The timed passes, on their own so callgrind can count them alone
// (--toggle-collect='*timed_engine_pass*'): instructions per record without the generator,
// the digest pass or the start-up (bench/README.md, "Instructions per record").
[[gnu::noinline]] EnginePass timed_engine_pass(const std::string& workload, const Arena& arena,
                                               int partitions) {
  return engine_pass(workload, arena, partitions, nullptr);
}

int cmd_engine(const std::string& workload, std::uint64_t records, int partitions, int runs,
               const nx::GeneratorConfig& gen_config) {
  const Arena arena = make_records(nx::input_kind(workload), gen_config, records, partitions);
  // An untimed first pass hashes the outputs (parsing each again); the timed passes only count.
  Digest digest(nx::table_output(workload));
  engine_pass(workload, arena, partitions,
              [&](std::optional<std::string_view> key, std::optional<std::string_view> value) {
                digest.add(key, value);
              });
  for (int run = 0; run < runs; ++run) {
    const EnginePass pass = timed_engine_pass(workload, arena, partitions);
    if (pass.outputs != digest.count()) {
      throw BenchError(fmt::format("engine {}: {} outputs in run {}, {} in the digest pass",
                                   workload, pass.outputs, run + 1, digest.count()));
    }
    sf::Object line{{"workload", sf::Value(workload)},
                    {"run", sf::Value(run + 1)},
                    {"records", sf::Value(static_cast<std::int64_t>(records))},
                    {"outputs", sf::Value(static_cast<std::int64_t>(pass.outputs))},
                    {"output_bytes", sf::Value(static_cast<std::int64_t>(pass.output_bytes))},
                    {"seconds", sf::Value(pass.seconds)},
                    {"records_per_s", sf::Value(static_cast<double>(records) / pass.seconds)},
                    {"digest", sf::Value(digest.hex())}};
    if (nx::table_output(workload)) {
      line.set("keys", sf::Value(static_cast<std::int64_t>(digest.keys())));
    }
    fmt::print("{}\n", json_line(sf::Value(line)));
    std::fflush(stdout);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// digest

int partition_count(rd_kafka_t* rk, const std::string& topic) {
  auto rkt = make_topic(rk, topic);
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 0, rkt.get(), &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      md == nullptr || md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    throw BenchError("no metadata for topic " + topic);
  }
  const int n = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  return n;
}

int cmd_digest(const std::string& brokers, const std::string& topic, std::uint64_t expect,
               double timeout_s, bool table) {
  auto rk = make_client(RD_KAFKA_CONSUMER, make_conf({{"bootstrap.servers", brokers},
                                                      {"group.id", "bench-digest"},
                                                      {"enable.auto.commit", "false"},
                                                      {"isolation.level", "read_committed"},
                                                      {"queued.min.messages", "1000000"}}));
  rd_kafka_poll_set_consumer(rk.get());
  const int partitions = partition_count(rk.get(), topic);
  streamframe::bench::PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk.get(), list.get());
  streamframe::bench::QueuePtr queue(rd_kafka_queue_get_consumer(rk.get()));
  Digest d(table);
  std::array<rd_kafka_message_t*, 4096> batch{};
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(timeout_s));
  std::string error;
  // Past `expect`, a short wait shows any extra (duplicate) records.
  auto settle_until = Clock::time_point::max();
  while (Clock::now() < std::min(deadline, settle_until)) {
    const ssize_t n = rd_kafka_consume_batch_queue(queue.get(), 100, batch.data(), batch.size());
    for (ssize_t j = 0; j < n; ++j) {
      rd_kafka_message_t* m = batch[static_cast<std::size_t>(j)];
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::optional<std::string_view> key, value;
        if (m->key) key = std::string_view(static_cast<const char*>(m->key), m->key_len);
        if (m->payload) value = std::string_view(static_cast<const char*>(m->payload), m->len);
        try {
          d.add(key, value);
        } catch (const std::exception& e) {
          if (error.empty()) error = e.what();
        }
      }
      rd_kafka_message_destroy(m);
    }
    if (d.count() >= expect && settle_until == Clock::time_point::max()) {
      settle_until = Clock::now() + std::chrono::milliseconds(200);
    }
  }
  rd_kafka_consumer_close(rk.get());
  sf::Object line{{"topic", sf::Value(topic)},
                  {"count", sf::Value(static_cast<std::int64_t>(d.count()))},
                  {"digest", sf::Value(d.hex())}};
  if (table) line.set("keys", sf::Value(static_cast<std::int64_t>(d.keys())));
  if (!error.empty()) line.set("error", sf::Value(error));
  fmt::print("{}\n", json_line(sf::Value(std::move(line))));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// latency

int cmd_latency(const std::string& brokers, const std::string& input, const std::string& output,
                const std::string& workload, double rate, double seconds, double drain_s,
                bool read_committed, int partitions, const nx::GeneratorConfig& gen_config) {
  if (workload != "q0" && workload != "q1") throw BenchError("latency: workload q0 or q1");
  const nx::Generator gen(nx::Kind::nexmark, gen_config);
  std::atomic<std::uint64_t> expected{0};
  std::atomic<bool> sending_done{false};
  std::atomic<std::uint64_t> sent{0};
  std::int64_t warm_until_ms = 0;  // outputs of records stamped before this are not counted

  auto consumer = make_client(
      RD_KAFKA_CONSUMER,
      make_conf({{"bootstrap.servers", brokers},
                 {"group.id", "bench-latency"},
                 {"enable.auto.commit", "false"},
                 {"fetch.wait.max.ms", "5"},
                 {"isolation.level", read_committed ? "read_committed" : "read_uncommitted"}}));
  rd_kafka_poll_set_consumer(consumer.get());
  const int out_partitions = partition_count(consumer.get(), output);
  streamframe::bench::PartitionListPtr list(rd_kafka_topic_partition_list_new(out_partitions));
  for (int p = 0; p < out_partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), output.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(consumer.get(), list.get());
  streamframe::bench::QueuePtr queue(rd_kafka_queue_get_consumer(consumer.get()));

  const std::int64_t start_ms = wall_ms();
  warm_until_ms = start_ms + static_cast<std::int64_t>(seconds * 100);  // the first 10 %
  std::thread sender([&] {
    Delivered delivered;
    auto producer = make_input_producer(brokers, delivered, "1");
    auto rkt = make_topic(producer.get(), input);
    nx::GeneratedRecord r;
    const auto begin = Clock::now();
    const auto total = static_cast<std::uint64_t>(rate * seconds);
    std::uint64_t n = 0;
    while (n < total) {
      const double elapsed = streamframe::bench::seconds_between(begin, Clock::now());
      const auto due = std::min<std::uint64_t>(total, static_cast<std::uint64_t>(elapsed * rate));
      const std::int64_t now = wall_ms();
      for (; n < due; ++n) {
        gen.make(n, r, now);
        produce_one(producer.get(), rkt.get(), r, partitions);
        if ((workload == "q0" || nx::Generator::event_type(n) == nx::Generator::EventType::bid) &&
            now >= warm_until_ms) {
          ++expected;
        }
      }
      sent = n;
      rd_kafka_poll(producer.get(), 0);
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    rd_kafka_flush(producer.get(), 30000);
    sending_done = true;
  });

  std::vector<double> latencies;
  std::uint64_t received_all = 0;
  // Where in the run the tail comes from: per 100 ms of send time (the record's timestamp),
  // the records received and the largest latency among them. A pause (of the system, the
  // broker or this machine) shows as a run of slots whose maximum climbs and falls back.
  struct Slot {
    std::int64_t records = 0;
    double max_ms = 0;
  };
  std::vector<Slot> timeline(static_cast<std::size_t>(seconds * 10) + 1);
  std::array<rd_kafka_message_t*, 1024> batch{};
  auto drain_deadline = Clock::time_point::max();
  for (;;) {
    // What is queued now, without waiting: a batch call with a timeout waits until the batch is
    // full or the timeout passes, and at these rates that wait (up to the timeout) would count
    // as the system's latency. With nothing queued, wait for the next message alone.
    ssize_t n = rd_kafka_consume_batch_queue(queue.get(), 0, batch.data(), batch.size());
    if (n == 0) {
      if (rd_kafka_message_t* m = rd_kafka_consume_queue(queue.get(), 10)) {
        batch[0] = m;
        n = 1;
      }
    }
    const std::int64_t now = wall_ms();
    for (ssize_t j = 0; j < n; ++j) {
      rd_kafka_message_t* m = batch[static_cast<std::size_t>(j)];
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++received_all;
        const std::int64_t ts = rd_kafka_message_timestamp(m, nullptr);
        if (ts >= warm_until_ms) {
          const auto latency = static_cast<double>(now - ts);
          latencies.push_back(latency);
          const auto slot =
              static_cast<std::size_t>(std::max<std::int64_t>(0, ts - start_ms) / 100);
          if (slot < timeline.size()) {
            ++timeline[slot].records;
            timeline[slot].max_ms = std::max(timeline[slot].max_ms, latency);
          }
        }
      }
      rd_kafka_message_destroy(m);
    }
    if (sending_done.load()) {
      if (drain_deadline == Clock::time_point::max()) {
        drain_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(drain_s));
      }
      if (latencies.size() >= expected.load() || Clock::now() > drain_deadline) break;
    }
  }
  sender.join();
  rd_kafka_consumer_close(consumer.get());
  std::sort(latencies.begin(), latencies.end());
  const auto pct = [&](double q) {
    if (latencies.empty()) return -1.0;
    const auto i = static_cast<std::size_t>(q * static_cast<double>(latencies.size() - 1));
    return latencies[i];
  };
  const double send_seconds = static_cast<double>(wall_ms() - start_ms) / 1000.0;
  // The distribution for the report's CDF chart: every percentile, then finer steps in the
  // tail, where the systems differ most ([quantile, ms] pairs).
  sf::Array cdf;
  const auto cdf_point = [&](double q) {
    cdf.push_back(sf::Value(sf::Array{sf::Value(q), sf::Value(pct(q))}));
  };
  for (int i = 0; i <= 99; ++i) cdf_point(i / 100.0);
  for (const double q : {0.995, 0.999, 0.9995, 0.9999, 1.0}) cdf_point(q);
  // [seconds after start_ms (the probe's wall clock, ms since the epoch), records, largest
  // latency ms]; the warm-up is left out.
  sf::Array slots;
  for (std::size_t i = 0; i < timeline.size(); ++i) {
    if (timeline[i].records == 0) continue;
    slots.push_back(
        sf::Value(sf::Array{sf::Value(static_cast<double>(i) / 10.0),
                            sf::Value(timeline[i].records), sf::Value(timeline[i].max_ms)}));
  }
  fmt::print("{}\n", json_line(sf::Value::object(
                         {{"workload", sf::Value(workload)},
                          {"rate", sf::Value(rate)},
                          {"seconds", sf::Value(seconds)},
                          {"sent", sf::Value(static_cast<std::int64_t>(sent.load()))},
                          {"input_rate", sf::Value(static_cast<double>(sent.load()) / seconds)},
                          {"expected", sf::Value(static_cast<std::int64_t>(expected.load()))},
                          {"received", sf::Value(static_cast<std::int64_t>(latencies.size()))},
                          {"received_all", sf::Value(static_cast<std::int64_t>(received_all))},
                          {"p50_ms", sf::Value(pct(0.50))},
                          {"p90_ms", sf::Value(pct(0.90))},
                          {"p99_ms", sf::Value(pct(0.99))},
                          {"p999_ms", sf::Value(pct(0.999))},
                          {"max_ms", sf::Value(latencies.empty() ? -1.0 : latencies.back())},
                          {"wall_seconds", sf::Value(send_seconds)},
                          {"start_ms", sf::Value(start_ms)},
                          {"read_committed", sf::Value(read_committed)},
                          {"cdf", sf::Value(std::move(cdf))},
                          {"timeline", sf::Value(std::move(slots))}})));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"streamframe's side of the peer benchmark suite (bench/nexmark/SPEC.md)"};
  cli.require_subcommand(1);
  nx::GeneratorConfig gen;
  std::string brokers, topic, kind = "nexmark", workload = "q1";
  std::uint64_t records = 100000;
  int partitions = 4;
  int runs = 1;
  const auto add_gen = [&](CLI::App* c) {
    c->add_option("--seed", gen.seed, "generator seed")->capture_default_str();
    c->add_option("--events-per-second", gen.events_per_second, "events per second of event time")
        ->capture_default_str();
  };
  const std::vector<std::string> workloads = nx::workload_names();

  auto* generate = cli.add_subcommand("generate", "fill an input topic");
  generate->add_option("--brokers", brokers)->required();
  generate->add_option("--kind", kind)->check(CLI::IsMember({"nexmark", "words", "temperature"}));
  generate->add_option("--topic", topic)->required();
  generate->add_option("--records", records)->capture_default_str();
  generate->add_option("--partitions", partitions)->capture_default_str();
  add_gen(generate);

  RunArgs run_args;
  auto* run = cli.add_subcommand("run", "run a workload on streamframe until SIGTERM");
  run->add_option("--brokers", run_args.brokers)->required();
  run->add_option("--workload", run_args.workload)->required()->check(CLI::IsMember(workloads));
  run->add_option("--input", run_args.input)->required();
  run->add_option("--output", run_args.output)->required();
  run->add_option("--group", run_args.group)->required();
  run->add_option("--guarantee", run_args.guarantee)->check(CLI::IsMember({"alo", "eos"}));
  run->add_option("--state-dir", run_args.state_dir);
  run->add_option("--commit-interval-ms", run_args.commit_interval_ms);
  run->add_option("--state-memory-budget-mib", run_args.state_memory_budget_mib,
                  "the application's state_memory_budget in MiB (0 = the library's default)");
  run->add_option("--consumer-config", run_args.consumer_config,
                  "extra librdkafka consumer settings k=v")
      ->delimiter(',');
  run->add_option("--producer-config", run_args.producer_config,
                  "extra librdkafka producer settings k=v")
      ->delimiter(',');
  run->add_option("--loglevel", run_args.loglevel, "the library's log level")
      ->capture_default_str();

  std::string input, output, group;
  auto* pass = cli.add_subcommand("passthrough", "raw librdkafka pass-through until SIGTERM");
  pass->add_option("--brokers", brokers)->required();
  pass->add_option("--input", input)->required();
  pass->add_option("--output", output)->required();
  pass->add_option("--group", group)->required();

  auto* engine = cli.add_subcommand("engine", "a workload in-process, timed");
  engine->add_option("--workload", workload)->required()->check(CLI::IsMember(workloads));
  engine->add_option("--records", records)->capture_default_str();
  engine->add_option("--partitions", partitions)->capture_default_str();
  engine->add_option("--runs", runs)->capture_default_str();
  add_gen(engine);

  std::uint64_t expect = 0;
  double timeout_s = 30;
  auto* digest = cli.add_subcommand("digest", "count and hash a topic's records");
  digest->add_option("--brokers", brokers)->required();
  digest->add_option("--topic", topic)->required();
  digest->add_option("--expect", expect)->required();
  digest->add_option("--timeout-s", timeout_s)->capture_default_str();
  bool table = false;
  digest->add_flag("--table", table,
                   "the topic holds a table's updates: hash each key's last value (SPEC.md)");

  double rate = 10000, seconds = 5, drain_s = 10;
  bool read_committed = false;
  auto* latency = cli.add_subcommand("latency", "end-to-end latency at a fixed input rate");
  latency->add_option("--brokers", brokers)->required();
  latency->add_option("--input", input)->required();
  latency->add_option("--output", output)->required();
  latency->add_option("--workload", workload)->capture_default_str();
  latency->add_option("--rate", rate)->required();
  latency->add_option("--seconds", seconds)->capture_default_str();
  latency->add_option("--drain-s", drain_s)->capture_default_str();
  latency->add_option("--partitions", partitions)->capture_default_str();
  latency->add_flag("--read-committed", read_committed);
  add_gen(latency);

  auto* version = cli.add_subcommand("version", "versions as JSON");

  CLI11_PARSE(cli, argc, argv);
  try {
    if (*generate) return cmd_generate(brokers, kind, topic, records, partitions, gen);
    if (*run) return cmd_run(run_args);
    if (*pass) return cmd_passthrough(brokers, input, output, group);
    if (*engine) return cmd_engine(workload, records, partitions, runs, gen);
    if (*digest) return cmd_digest(brokers, topic, expect, timeout_s, table);
    if (*latency) {
      return cmd_latency(brokers, input, output, workload, rate, seconds, drain_s, read_committed,
                         partitions, gen);
    }
    if (*version) {
      streamframe::bench::Provenance p;
      streamframe::bench::read_provenance(p);
      fmt::print("{}\n",
                 json_line(sf::Value::object({{"streamframe", sf::Value(p.commit)},
                                              {"dirty", sf::Value(p.dirty)},
                                              {"librdkafka", sf::Value(rd_kafka_version_str())}})));
      return 0;
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "streamframe_bench_nexmark: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
