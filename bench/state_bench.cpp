// streamframe_bench_state: the cost of state on a real Kafka broker (bench/README.md, "State").
//
// Word count. One input topic is filled with N JSON records {"id":n,"words":[...]} keyed by
// ~1000 distinct keys. Per run, four cases read the whole topic from the beginning (fresh
// consumer group, fresh state directory, fresh changelog) and write a fresh output topic
// through the same pipeline shape:
//     apply(split the words, expand=true) -> apply(count) -> to_topic(out)
//   (a) stateful count per (key, word), at_least_once, default commit interval (5 s);
//   (b) the same, exactly_once, commit interval 100 ms;
//   (c) the same, exactly_once, default commit interval;
//   (d) stateless: the count step returns count = 1 without touching state, at_least_once.
// Throughput = N input records / (first input processed -> the consumer group's committed
// offsets of the input reach N). That last instant is when the final checkpoint has made
// every output durable (at-least-once: flushed, then committed) or visible (exactly-once: the
// transaction holding the offsets committed), so the cases end at the same, comparable point.
//
// Restore. A second input topic is filled with K records of distinct keys, the stateful
// counter runs over it once (K state keys, K changelog records), then, per run, the local
// state directory is deleted, a few new records are appended to the input and the app starts
// again: it restores every partition from the changelog before it processes the new records.
// Measured: keys/s of the restore (per partition and in total, from the library's INFO log
// lines), the time from the application's start until the first new record is processed,
// and, as a ceiling, how fast a plain librdkafka consumer with the restorer's settings reads
// the same changelog.
//
// Checkpoint cost against state size (case k). Per K in --checkpoint-keys: the counter runs
// once over K records of distinct keys (K state keys, as for the restore), then over U more
// records on keys drawn at random from all K, with a checkpoint every C messages
// (commit_every, at_least_once), reading the same state directory. Measured from the
// library's DEBUG line of each checkpoint: its time in all and its parts (before the flush:
// operators and changelogs; waiting for acknowledgements; offset commit and store writes).
// A checkpoint that touches only what changed takes the same time at every K.

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/types.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
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
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench_driver.hpp"
#include "bench_util.hpp"
#include "streamframe/streamframe.hpp"

namespace {

using namespace streamframe::bench;

namespace sf = streamframe;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Input data

// Word-count input: {"id":n,"words":["w1","w2",...]} keyed "user-<n % keys>", the words drawn
// uniformly from a fixed vocabulary of made-up words 3 to 9 letters long.
class WordRecords {
 public:
  WordRecords(std::uint64_t seed, std::size_t vocabulary, int words_per_record, int keys)
      : seed_(seed), words_per_record_(words_per_record), keys_(keys) {
    static constexpr std::array<std::string_view, 16> syllables{"ka", "lo", "mi", "ne", "ru", "sa",
                                                                "ti", "vo", "be", "da", "fu", "go",
                                                                "hi", "ju", "pe", "zo"};
    std::mt19937_64 rng(seed ^ 0x5eedu);
    while (words_.size() < vocabulary) {
      std::string w;
      const int n = std::uniform_int_distribution<int>(2, 4)(rng);
      for (int i = 0; i < n; ++i) w += syllables[rng() % syllables.size()];
      if (rng() % 2) w.pop_back();  // odd lengths too
      if (std::find(words_.begin(), words_.end(), w) == words_.end()) words_.push_back(w);
    }
  }

  void make(std::uint64_t i, std::string& key, std::string& value) const {
    // Record i's own stream: reproducible whichever order records are made in.
    RecordRng rng(seed_, i);
    key.clear();
    fmt::format_to(std::back_inserter(key), "user-{}", i % static_cast<std::uint64_t>(keys_));
    value.clear();
    fmt::format_to(std::back_inserter(value), R"({{"id":{},"words":[)", i);
    for (int w = 0; w < words_per_record_; ++w) {
      if (w > 0) value += ',';
      value += '"';
      value += words_[rng() % words_.size()];
      value += '"';
    }
    value += "]}";
  }

 private:
  std::uint64_t seed_;
  int words_per_record_;
  int keys_;
  std::vector<std::string> words_;
};

// ---------------------------------------------------------------------------------------------
// The library's log: the restore lines are the measurement of the restore

// Registered as the "streamframe" spdlog logger before any Application exists, so the library
// logs through it (LOG-01: an existing logger is left alone). Keeps the restore lines with the
// instant they were logged, and passes warnings and the restore lines on to stderr.
struct RestoreLine {
  Clock::time_point at;
  bool done = false;  // "restored store ..." (else "restoring store ... (N records)")
  int partition = -1;
  std::int64_t records = 0;  // done: applied; start: records to replay
  std::int64_t skipped = 0;
  double seconds = 0;  // done: as the library measured it
};

// "checkpoint: N messages, P partition offsets; X ms in all: before the flush A ms, waiting
// for acknowledgements B ms, offset commit and stores C ms" (DEBUG).
struct CheckpointLine {
  std::int64_t messages = 0;
  double total_ms = 0;
  double before_flush_ms = 0;
  double acks_ms = 0;
  double commit_ms = 0;
};

class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<RestoreLine> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(lines_, {});
  }
  std::vector<CheckpointLine> take_checkpoints() {
    std::lock_guard lock(mutex_);
    return std::exchange(checkpoints_, {});
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string text(msg.payload.data(), msg.payload.size());
    if (text.rfind("checkpoint: ", 0) == 0) {
      CheckpointLine c;
      long long n = 0;
      const auto stores = text.rfind("and stores ");
      if (stores != std::string::npos &&
          std::sscanf(text.c_str(),
                      "checkpoint: %lld messages, %*d partition offsets; %lf ms in all: before the "
                      "flush %lf ms, waiting for acknowledgements %lf ms",
                      &n, &c.total_ms, &c.before_flush_ms, &c.acks_ms) == 4) {
        c.messages = n;
        c.commit_ms = std::strtod(text.c_str() + stores + 11, nullptr);
        checkpoints_.push_back(c);
      }
      return;
    }
    const bool restore = text.rfind("restor", 0) == 0;
    if (restore) parse(text);
    if (restore || msg.level >= spdlog::level::warn) {
      spdlog::memory_buf_t formatted;
      formatter_->format(msg, formatted);
      std::fwrite(formatted.data(), 1, formatted.size(), stderr);
    }
  }
  void flush_() override { std::fflush(stderr); }

 private:
  void parse(const std::string& text) {
    RestoreLine line;
    line.at = Clock::now();
    long long a = 0;
    long long b = 0;
    double secs = 0;
    // "restored store 'S' partition P: A records applied, B skipped in X s (R/s)"
    if (std::sscanf(text.c_str(),
                    "restored store '%*[^']' partition %d: %lld records applied, %lld "
                    "skipped in %lf s",
                    &line.partition, &a, &b, &secs) == 4) {
      line.done = true;
      line.records = a;
      line.skipped = b;
      line.seconds = secs;
      lines_.push_back(line);
      return;
    }
    // "restoring store 'S' partition P from 'T' offset A" (logged when the replay starts; the
    // end is not known yet)
    if (std::sscanf(text.c_str(), "restoring store '%*[^']' partition %d from '%*[^']' offset %lld",
                    &line.partition, &a) == 2) {
      line.records = 0;
      lines_.push_back(line);
    }
  }

  std::vector<RestoreLine> lines_;
  std::vector<CheckpointLine> checkpoints_;
};

std::shared_ptr<CaptureSink> install_logger() {
  auto sink = std::make_shared<CaptureSink>();
  auto logger = std::make_shared<spdlog::logger>("streamframe", sink);
  logger->set_pattern("[%Y-%m-%d %H:%M:%S,%e] [%l] [%n] : %v");
  spdlog::register_logger(logger);
  return sink;
}

// ---------------------------------------------------------------------------------------------
// Output of exactly-once cases

// Counts the records a read_committed consumer sees in `topic` (for exactly-once outputs,
// whose offsets also hold transaction markers). Untimed.
std::uint64_t count_committed_records(const std::string& brokers, const std::string& topic,
                                      int partitions) {
  std::uint64_t count = 0;
  for_each_record(brokers, topic, partitions, [&](const rd_kafka_message_t&) { ++count; });
  return count;
}

// ---------------------------------------------------------------------------------------------
// Word count cases

struct CaseSpec {
  char id = 'a';
  bool stateful = true;
  bool exactly_once = false;
  std::chrono::milliseconds commit_interval{5000};
};

// (b)'s commit interval: 100 ms unless --b-commit-ms says otherwise.
std::chrono::milliseconds g_b_commit_interval{100};

std::vector<CaseSpec> all_cases() {
  return {
      {'a', true, false, std::chrono::milliseconds(5000)},
      {'b', true, true, g_b_commit_interval},
      {'c', true, true, std::chrono::milliseconds(5000)},
      {'d', false, false, std::chrono::milliseconds(5000)},
      // At-least-once at (b)'s interval: what exactly-once costs at the same commit rate.
      {'e', true, false, g_b_commit_interval},
  };
}

std::string describe_case(char c) {
  switch (c) {
    case 'a':
      return "stateful count, at_least_once, commit 5 s";
    case 'b':
      return fmt::format("stateful count, exactly_once, commit {} ms", g_b_commit_interval.count());
    case 'c':
      return "stateful count, exactly_once, commit 5 s";
    case 'e':
      return fmt::format("stateful count, at_least_once, commit {} ms",
                         g_b_commit_interval.count());
    default:
      return "stateless (count = 1), at_least_once, 5 s";
  }
}

// The counter pipeline. `sink` empty: the count step is the leaf (nothing produced).
void build_counter(sf::Application& app, const sf::Topic& in, const std::optional<sf::Topic>& out,
                   bool stateful) {
  auto words = app.dataframe(in).apply(
      [](const sf::Value& v) {
        sf::Array rows;
        const auto& list = v["words"].as_array();
        rows.reserve(list.size());
        for (const auto& w : list)
          rows.push_back(sf::Value::object({{"id", v["id"]}, {"word", w}}));
        return sf::Value(std::move(rows));
      },
      {.expand = true});
  auto counted = stateful ? words.apply([](const sf::Value& v, sf::State& state) {
    const auto& word = v["word"];
    const std::int64_t n = state.get(word, sf::Value(0)).as_int() + 1;
    state.set(word, sf::Value(n));
    return sf::Value::object({{"id", v["id"]}, {"word", word}, {"count", sf::Value(n)}});
  })
                          : words.apply([](const sf::Value& v) {
                              return sf::Value::object(
                                  {{"id", v["id"]}, {"word", v["word"]}, {"count", sf::Value(1)}});
                            });
  if (out) counted.to_topic(*out);
}

using CaseResult = AppCaseResult;

CaseResult run_count_case(const AppEnv& env, const CaseSpec& spec, const std::string& input,
                          const std::string& output, const std::string& group, int partitions,
                          std::uint64_t records, std::uint64_t outputs_expected) {
  AppCase c;
  c.input = input;
  c.output = output;
  c.group = group;
  c.partitions = partitions;
  c.records = records;
  c.guarantee = spec.exactly_once ? sf::ProcessingGuarantee::exactly_once
                                  : sf::ProcessingGuarantee::at_least_once;
  c.commit_interval = spec.commit_interval;
  c.timeout = std::chrono::seconds(30);
  c.count = outputs_expected;
  return run_app_case(env, c, outputs_expected,
                      [&](sf::Application& app, const sf::Topic& in, const sf::Topic& out) {
                        build_counter(app, in, out, spec.stateful);
                      });
}

// ---------------------------------------------------------------------------------------------
// Restore

// The restore input: K records of distinct keys "k-<i>" (zero-padded), one word each, so the
// counter holds K state keys and its changelog K records.
std::string restore_key(std::uint64_t i) {
  return fmt::format("k-{:09}", i);
}

// A record of the restore input's shape: key "k-<key_index>", id `id`, one word.
void keyed_record(std::uint64_t key_index, std::uint64_t id, std::string& key, std::string& value) {
  key = restore_key(key_index);
  value.clear();
  fmt::format_to(std::back_inserter(value), R"({{"id":{},"words":["w"]}})", id);
}

void restore_record(std::uint64_t i, std::string& key, std::string& value, std::int64_t&) {
  keyed_record(i, i, key, value);
}

struct PartitionRestore {
  int partition = -1;
  std::int64_t applied = 0;
  std::int64_t skipped = 0;
  double seconds = 0;  // first log line of the partition -> its "restored" line
  double library_seconds = 0;
};

struct RestoreRun {
  int run = 0;
  std::vector<PartitionRestore> partitions;
  std::int64_t applied = 0;
  double restore_seconds = 0;     // first "restoring" line -> last "restored" line
  double between_partitions = 0;  // restore_seconds minus the partitions' own restore times
  double start_to_restore = 0;    // Application constructed -> first "restoring" line
  double start_to_first = 0;      // Application constructed -> first new record processed
  double run_to_first = 0;        // run() called -> first new record processed
  double restore_end_to_first = 0;
  double start_to_returned = 0;
  std::uint64_t new_records = 0;
  std::uint64_t verified = 0;  // outputs whose count is 2 (restored 1 + this record)
  CpuUse cpu;
  bool ok = false;
};

struct RawRead {
  std::vector<std::pair<std::uint64_t, double>> partitions;  // records, seconds
  std::uint64_t records = 0;
  double seconds = 0;
  CpuUse cpu;
};

// A plain librdkafka consumer with the restorer's settings reads the changelog partition by
// partition, as the restorer does, and only counts: how fast the records arrive.
RawRead raw_read_changelog(const AppEnv& env, const std::string& changelog, int partitions) {
  CpuMeter meter(env.broker_pid);
  KafkaPtr rk = make_client(RD_KAFKA_CONSUMER, make_conf({{"bootstrap.servers", env.brokers},
                                                          {"group.id", "bench-state-raw-read"},
                                                          {"enable.auto.commit", "false"},
                                                          {"enable.auto.offset.store", "false"},
                                                          {"enable.partition.eof", "true"},
                                                          {"isolation.level", "read_committed"},
                                                          {"auto.offset.reset", "earliest"},
                                                          {"fetch.wait.max.ms", "50"},
                                                          {"queued.min.messages", "200000"}}));
  rd_kafka_poll_set_consumer(rk.get());
  {
    // Connects to the broker and learns the topic's leaders before the clock starts (the
    // restorer's consumer has done both by the time it logs "restoring"): without this the
    // first partition's fetch started about 0.5 s late.
    TopicPtr rkt = make_topic(rk.get(), changelog);
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk.get(), 0, rkt.get(), &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(md);
    }
    for (int p = 0; p < partitions; ++p) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      rd_kafka_query_watermark_offsets(rk.get(), changelog.c_str(), p, &low, &high, 10000);
    }
  }
  RawRead result;
  const auto all_start = Clock::now();
  for (int p = 0; p < partitions; ++p) {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), changelog.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    const auto start = Clock::now();
    if (rd_kafka_assign(rk.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw BenchError("raw read: assign failed");
    }
    std::uint64_t count = 0;
    auto last = Clock::now();
    for (bool eof = false; !eof;) {
      MessagePtr m(rd_kafka_consumer_poll(rk.get(), 500));
      if (!m) {
        if (Clock::now() - last > std::chrono::seconds(30)) {
          throw BenchError("raw read: nothing for 30 s");
        }
        continue;
      }
      last = Clock::now();
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        eof = true;
      } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++count;
      }
    }
    result.partitions.emplace_back(count, seconds_between(start, Clock::now()));
    result.records += count;
    rd_kafka_assign(rk.get(), nullptr);
  }
  result.seconds = seconds_between(all_start, Clock::now());
  result.cpu = meter.done();
  return result;
}

struct FillResult {
  double seconds = 0;  // first input processed -> committed
  std::uint64_t changelog_records = 0;
  CpuUse cpu;
};

// Runs the counter (no output topic: the count step is the leaf) once over the whole restore
// input, at_least_once with the default commit interval, so that the changelog holds one
// record per key.
FillResult fill_changelog(const AppEnv& env, const std::string& input, const std::string& group,
                          int partitions, std::uint64_t keys, const std::string& changelog,
                          Admin& admin) {
  CommitWatcher watcher(env.brokers, group, input, partitions, static_cast<std::int64_t>(keys));
  std::uint64_t processed = 0;
  Clock::time_point first{};
  const std::uint64_t mark = keys > k_arm_before_end ? keys - k_arm_before_end : 1;
  CpuMeter meter(env.broker_pid);
  {
    sf::ApplicationConfig config;
    config.broker_address = env.brokers;
    config.consumer_group = group;
    config.state_dir = (env.state_root / group).string();
    config.auto_offset_reset = sf::AutoOffsetReset::earliest;
    config.loglevel = "WARNING";
    config.install_signal_handlers = false;
    config.on_message_processed = [&](const std::string&, std::int32_t, std::int64_t) {
      if (++processed == 1) first = Clock::now();
      if (processed == mark) watcher.arm();
    };
    sf::Application app(std::move(config));
    sf::TopicOptions topic_options;
    topic_options.config = sf::TopicConfig{.num_partitions = partitions};
    build_counter(app, app.topic(input, topic_options), std::nullopt, true);
    app.run({.timeout = std::chrono::seconds(60), .count = keys, .collect = false});
    if (processed < keys) {
      throw BenchError(
          fmt::format("restore fill: run() ended after {} of {} records", processed, keys));
    }
  }
  FillResult r;
  r.cpu = meter.done();
  const auto t = watcher.finish(std::chrono::seconds(10));
  if (!t) throw BenchError("restore fill: the input offsets were never committed");
  r.seconds = seconds_between(first, *t);
  r.changelog_records = admin.record_count(changelog, partitions);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint cost against state size (case k)

struct CheckpointScaleRun {
  std::uint64_t keys = 0;
  std::uint64_t updates = 0;
  std::uint64_t every = 0;
  double fill_seconds = 0;
  double seconds = 0;                       // run() of the update pass
  std::vector<CheckpointLine> checkpoints;  // those of a full `every` messages
  std::uint64_t verified = 0;               // outputs whose count is 1 + the key's updates so far
  std::uint64_t outputs = 0;
  CpuUse cpu;
};

// After fill_changelog() over `keys` distinct keys: appends `updates` records on keys drawn at
// random from all of them and runs the counter over them from the same state directory, a
// checkpoint every `every` messages, logging at DEBUG for the checkpoint lines.
CheckpointScaleRun run_checkpoint_scale(const AppEnv& env, CaptureSink& log,
                                        const std::string& input, const std::string& group,
                                        int partitions, std::uint64_t keys, std::uint64_t updates,
                                        std::uint64_t every, std::uint64_t seed) {
  std::mt19937_64 rng(seed ^ keys);
  std::vector<std::uint64_t> drawn(updates);
  for (auto& k : drawn) k = rng() % keys;
  // Outputs of one key come in input order: the count of update i is 1 (the fill) plus the
  // updates of its key up to i.
  std::vector<std::uint32_t> expected(updates);
  {
    std::unordered_map<std::uint64_t, std::uint32_t> seen;
    for (std::uint64_t i = 0; i < updates; ++i) expected[i] = 1 + ++seen[drawn[i]];
  }
  produce_records(
      env.brokers, input, 0, updates,
      [&](std::uint64_t i, std::string& key, std::string& value, std::int64_t&) {
        keyed_record(drawn[i], keys + i, key, value);
      },
      nullptr);
  (void)log.take_checkpoints();

  CheckpointScaleRun r;
  r.keys = keys;
  r.updates = updates;
  r.every = every;
  CpuMeter meter(env.broker_pid);
  std::vector<sf::Value> outputs;
  const auto started = Clock::now();
  {
    sf::ApplicationConfig config;
    config.broker_address = env.brokers;
    config.consumer_group = group;
    config.state_dir = (env.state_root / group).string();
    config.auto_offset_reset = sf::AutoOffsetReset::earliest;
    config.loglevel = "DEBUG";  // the checkpoint lines
    config.install_signal_handlers = false;
    config.commit_every = static_cast<std::int64_t>(every);
    config.commit_interval = std::chrono::seconds(600);
    sf::Application app(std::move(config));
    sf::TopicOptions topic_options;
    topic_options.config = sf::TopicConfig{.num_partitions = partitions};
    build_counter(app, app.topic(input, topic_options), std::nullopt, true);
    outputs = app.run({.timeout = std::chrono::seconds(60), .count = updates});
  }
  r.seconds = seconds_between(started, Clock::now());
  r.cpu = meter.done();
  r.outputs = outputs.size();
  for (const auto& v : outputs) {
    const auto* id = v.find("id");
    const auto* count = v.find("count");
    if (id == nullptr || count == nullptr || !id->is_int() || !count->is_int()) continue;
    const auto i = static_cast<std::uint64_t>(id->as_int()) - keys;
    if (i < updates && count->as_int() == expected[i]) ++r.verified;
  }
  for (const auto& c : log.take_checkpoints()) {
    // The last one (the final checkpoint at the stop) holds the rest, fewer messages.
    if (static_cast<std::uint64_t>(c.messages) == every) r.checkpoints.push_back(c);
  }
  return r;
}

// One restore: deletes the local state, appends `new_records` records whose keys already have
// a count of 1 in the changelog (a different slice of keys per run), starts the application
// and runs it until it processed them. Every output must count 2.
RestoreRun run_restore(const AppEnv& env, CaptureSink& log, const std::string& input,
                       const std::string& group, int partitions, std::uint64_t keys,
                       std::uint64_t new_records, int run) {
  const std::filesystem::path state_dir = env.state_root / group;
  std::filesystem::remove_all(state_dir / group);  // <state_dir>/<group>: the stores
  const std::uint64_t stride = std::max<std::uint64_t>(keys / new_records, 1);
  const auto offset = static_cast<std::uint64_t>(run - 1) % stride;
  produce_records(
      env.brokers, input, 0, new_records,
      [&](std::uint64_t i, std::string& key, std::string& value, std::int64_t&) {
        keyed_record((i * stride + offset) % keys, keys + i, key, value);
      },
      nullptr);
  (void)log.take();

  RestoreRun r;
  r.run = run;
  r.new_records = new_records;
  Clock::time_point first{};
  std::uint64_t processed = 0;
  CpuMeter meter(env.broker_pid);
  const auto started = Clock::now();
  Clock::time_point run_called{};
  std::vector<sf::Value> outputs;
  {
    sf::ApplicationConfig config;
    config.broker_address = env.brokers;
    config.consumer_group = group;
    config.state_dir = state_dir.string();
    config.auto_offset_reset = sf::AutoOffsetReset::earliest;
    config.loglevel = "INFO";  // the restore lines
    config.install_signal_handlers = false;
    config.on_message_processed = [&](const std::string&, std::int32_t, std::int64_t) {
      if (++processed == 1) first = Clock::now();
    };
    sf::Application app(std::move(config));
    sf::TopicOptions topic_options;
    topic_options.config = sf::TopicConfig{.num_partitions = partitions};
    build_counter(app, app.topic(input, topic_options), std::nullopt, true);
    run_called = Clock::now();
    outputs = app.run({.timeout = std::chrono::seconds(60), .count = new_records});
  }
  const auto returned = Clock::now();
  r.cpu = meter.done();
  if (processed == 0) throw BenchError("restore: no new record was processed");
  for (const auto& v : outputs) {
    if (const auto* c = v.find("count"); c != nullptr && c->is_int() && c->as_int() == 2) {
      ++r.verified;
    }
  }
  const auto lines = log.take();
  std::map<int, Clock::time_point> begun;
  std::optional<Clock::time_point> first_line;
  std::optional<Clock::time_point> last_line;
  for (const auto& line : lines) {
    if (!first_line) first_line = line.at;
    if (!line.done) {
      begun[line.partition] = line.at;
      continue;
    }
    last_line = line.at;
    PartitionRestore p;
    p.partition = line.partition;
    p.applied = line.records;
    p.skipped = line.skipped;
    p.library_seconds = line.seconds;
    p.seconds = begun.count(line.partition) ? seconds_between(begun[line.partition], line.at)
                                            : line.seconds;
    r.applied += p.applied;
    r.partitions.push_back(p);
  }
  std::sort(r.partitions.begin(), r.partitions.end(),
            [](const auto& a, const auto& b) { return a.partition < b.partition; });
  if (first_line && last_line) {
    r.restore_seconds = seconds_between(*first_line, *last_line);
    double own = 0;
    for (const auto& p : r.partitions) own += p.seconds;
    r.between_partitions = std::max(0.0, r.restore_seconds - own);
    r.start_to_restore = seconds_between(started, *first_line);
    r.restore_end_to_first = seconds_between(*last_line, first);
  }
  r.start_to_first = seconds_between(started, first);
  r.run_to_first = seconds_between(run_called, first);
  r.start_to_returned = seconds_between(started, returned);
  r.ok = r.verified == new_records && static_cast<int>(r.partitions.size()) == partitions &&
         r.applied >= static_cast<std::int64_t>(keys);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Results

struct RunContext : Provenance {
  std::uint64_t records = 0;
  int partitions = 0;
  int keys = 0;
  int vocabulary = 0;
  int words_per_record = 0;
  double value_bytes = 0;
  KeyValues consumer_extra;
  KeyValues producer_extra;
};

sf::Object line_head(const RunContext& ctx, const std::string& case_id, std::uint64_t records,
                     double seconds, sf::Value ratio) {
  return line_head("state", case_id, records, seconds, {{"ratio_vs_a", std::move(ratio)}}, ctx,
                   iso8601_utc_now());
}

void line_tail(sf::Object& line, const RunContext& ctx, const CpuUse& cpu) {
  set_cpu_fields(line, cpu);
  set_app_config_fields(line, ctx.consumer_extra, ctx.producer_extra);
  set_tail_fields(line, ctx);
}

struct Measurement {
  int run = 0;
  CaseSpec spec;
  CaseResult result;
  std::optional<double> ratio_vs_a;
};

std::string count_json(const Measurement& m, const RunContext& ctx) {
  using sf::Value;
  const auto& r = m.result;
  sf::Object line = line_head(ctx, std::string(1, m.spec.id), ctx.records, r.seconds,
                              m.ratio_vs_a ? Value(round_to(*m.ratio_vs_a, 4)) : Value());
  line.set("run", Value(m.run));
  line.set("partitions", Value(ctx.partitions));
  line.set("stateful", Value(m.spec.stateful));
  line.set("guarantee", Value(m.spec.exactly_once ? "exactly_once" : "at_least_once"));
  line.set("commit_interval_ms", Value(static_cast<long long>(m.spec.commit_interval.count())));
  line.set("keys", Value(ctx.keys));
  line.set("vocabulary", Value(ctx.vocabulary));
  line.set("words_per_record", Value(ctx.words_per_record));
  line.set("value_bytes", Value(round_to(ctx.value_bytes, 1)));
  line.set("outputs", Value(static_cast<long long>(r.outputs)));
  line.set("outputs_per_s",
           Value(static_cast<long long>(per_second(static_cast<double>(r.outputs), r.seconds))));
  line.set("verified", Value(r.ok()));
  set_end_fields(line, r);
  set_stall_fields(line, r);
  if (m.spec.stateful) {
    line.set("changelog_records", Value(static_cast<long long>(r.changelog_records())));
  }
  line_tail(line, ctx, r.cpu);
  return Value(std::move(line)).to_json();
}

void print_header() {
  fmt::print("{:>3}  {:<4} {:<44} {:>8} {:>10} {:>11} {:>6}  {}\n", "run", "case", "what",
             "seconds", "records/s", "outputs/s", "vs a", "detail");
}

void print_row(const Measurement& m, std::uint64_t records) {
  const auto& r = m.result;
  const std::string detail = app_case_detail(r, m.spec.stateful) + "; " + cpu_text(r.cpu);
  fmt::print("{:>3}  {:<4} {:<44} {:>8.3f} {:>10} {:>11} {:>6}  {}{}\n", m.run, m.spec.id,
             describe_case(m.spec.id), r.seconds,
             grouped(per_second(static_cast<double>(records), r.seconds)),
             grouped(per_second(static_cast<double>(r.outputs), r.seconds)),
             m.ratio_vs_a ? fmt::format("{:.3f}", *m.ratio_vs_a) : std::string("-"), detail,
             r.ok() ? ""
                    : fmt::format("  MISMATCH: {} outputs, expected {}", grouped(r.outputs),
                                  grouped(r.outputs_expected)));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "streamframe state benchmark on a real Kafka broker: stateful word count under "
      "at-least-once and exactly-once vs a stateless pipeline, and changelog restore"};
  std::string brokers;
  std::uint64_t records = 1'000'000;
  int partitions = 4;
  int keys = 1000;
  int vocabulary = 100;
  int words_per_record = 3;
  int runs = 3;
  std::vector<std::string> only{"a", "b", "c", "d", "e", "r"};
  std::string results_file = std::string(STREAMFRAME_SOURCE_DIR) + "/bench/results/state.jsonl";
  std::uint64_t seed = 42;
  bool keep_topics = false;
  int warmup = 1;
  std::string broker_pid;
  double pause_s = 5.0;
  std::uint64_t restore_keys = 5'000'000;
  int restore_partitions = 4;
  int restore_runs = 0;
  std::uint64_t restore_new = 1000;
  std::string state_root;
  cli.add_option("--brokers", brokers, "bootstrap servers, host:port[,host:port]")->required();
  cli.add_option("--records", records, "word count: input records (N)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000}));
  cli.add_option("--partitions", partitions, "word count: partitions of the input and outputs")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cli.add_option("--keys", keys, "word count: distinct message keys")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000'000));
  cli.add_option("--vocabulary", vocabulary, "word count: distinct words")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cli.add_option("--words", words_per_record, "word count: words per input record")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cli.add_option("--runs", runs, "measurements of each word count case")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cli.add_option("--only", only,
                 "cases: a,b,c,d,e (word count), r (restore), k (checkpoint cost against state "
                 "size; not run unless named)")
      ->delimiter(',')
      ->check(CLI::IsMember({"a", "b", "c", "d", "e", "r", "k"}))
      ->capture_default_str();
  std::vector<std::uint64_t> checkpoint_keys{100'000, 1'000'000};
  std::uint64_t checkpoint_updates = 200'000;
  std::uint64_t checkpoint_every = 10'000;
  cli.add_option("--checkpoint-keys", checkpoint_keys, "case k: state sizes (distinct keys)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000}));
  cli.add_option("--checkpoint-updates", checkpoint_updates,
                 "case k: records on random existing keys after the fill")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  cli.add_option("--checkpoint-every", checkpoint_every, "case k: messages per checkpoint")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  cli.add_option("--warmup", warmup, "untimed passes of case (d) before the word count runs")
      ->capture_default_str()
      ->check(CLI::Range(0, 10));
  cli.add_option("--pause", pause_s, "seconds to let the machine settle between cases")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  cli.add_option("--restore-keys", restore_keys, "restore: distinct state keys (K)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000}));
  cli.add_option("--restore-partitions", restore_partitions, "restore: partitions")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cli.add_option("--restore-runs", restore_runs, "restore: measurements (0 = --runs)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  cli.add_option("--restore-new-records", restore_new,
                 "restore: records appended before each restart (processed after the restore)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}));
  cli.add_option("--state-dir", state_root,
                 "where the applications keep their state (default /tmp/streamframe-bench-state-"
                 "<id>; deleted at the end)");
  cli.add_option("--results-file", results_file, "JSON lines appended here ('' = none)")
      ->capture_default_str();
  std::int64_t b_commit_ms = 100;
  cli.add_option("--b-commit-ms", b_commit_ms, "commit interval of case (b), exactly_once")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{600000}));
  double stall_ms = 5;
  cli.add_option("--stall-ms", stall_ms,
                 "word count: gaps of at least this many ms between two processed input records "
                 "are counted as stalls (0 = off: no clock read per record)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60000.0));
  cli.add_option("--seed", seed, "data generator seed")->capture_default_str();
  cli.add_flag("--keep-topics", keep_topics, "do not delete the bench topics at the end");
  std::vector<std::string> app_consumer_config;
  std::vector<std::string> app_producer_config;
  add_client_options(cli, broker_pid, app_consumer_config, app_producer_config,
                     "extra librdkafka consumer settings for the word count applications",
                     "extra librdkafka producer settings for the word count applications");
  CLI11_PARSE(cli, argc, argv);
  if (restore_runs == 0) restore_runs = runs;
  g_b_commit_interval = std::chrono::milliseconds(b_commit_ms);

  const auto wanted = [&](char c) {
    return std::find(only.begin(), only.end(), std::string(1, c)) != only.end();
  };
  std::vector<CaseSpec> cases;
  for (const auto& spec : all_cases()) {
    if (wanted(spec.id)) cases.push_back(spec);
  }

  RunContext ctx;
  ctx.consumer_extra = key_values(app_consumer_config);
  ctx.producer_extra = key_values(app_producer_config);
  ctx.records = records;
  ctx.partitions = partitions;
  ctx.keys = keys;
  ctx.vocabulary = vocabulary;
  ctx.words_per_record = words_per_record;
  read_provenance(ctx);

  const std::string run_id = make_run_id(unix_seconds());
  AppEnv env;
  env.brokers = brokers;
  env.broker_pid = broker_pid;
  env.consumer_extra = ctx.consumer_extra;
  env.producer_extra = ctx.producer_extra;
  env.stall_threshold = std::chrono::microseconds(std::llround(stall_ms * 1000));
  env.state_root = state_root.empty()
                       ? std::filesystem::path("/tmp/streamframe-bench-state-" + run_id)
                       : std::filesystem::path(state_root) / run_id;
  const auto changelog_of = [](const std::string& group, const std::string& input) {
    return "changelog__" + group + "--" + input + "--default";
  };

  const std::shared_ptr<CaptureSink> log = install_logger();
  std::vector<std::string> topics;
  std::vector<std::string> lines;
  int failures = 0;

  try {
    Admin admin(brokers);
    print_banner("state", brokers, ctx);

    // ------------------------------------------------------------------ word count
    if (!cases.empty()) {
      const std::string input = fmt::format("bench-state-{}-in", run_id);
      topics.push_back(input);
      admin.create_topics({input}, partitions);
      const WordRecords gen(seed, static_cast<std::size_t>(vocabulary), words_per_record, keys);
      std::uint64_t value_bytes = 0;
      const double fill_s = produce_records(
          brokers, input, 0, records,
          [&](std::uint64_t i, std::string& k, std::string& v, std::int64_t&) {
            gen.make(i, k, v);
          },
          &value_bytes);
      if (const auto n = admin.record_count(input, partitions); n != records) {
        throw BenchError(fmt::format("input topic holds {} records, expected {}", n, records));
      }
      ctx.value_bytes = static_cast<double>(value_bytes) / static_cast<double>(records);
      const std::uint64_t outputs = records * static_cast<std::uint64_t>(words_per_record);
      fmt::print(stderr, "  {} records ({:.1f} bytes average, {} partitions) in {:.1f} s\n",
                 grouped(records), ctx.value_bytes, partitions, fill_s);

      for (int pass = 1; pass <= warmup; ++pass) {
        const std::string group = fmt::format("bench-state-{}-warm-up{}", run_id, pass);
        const std::string out = group + "-out";
        topics.push_back(out);
        admin.create_topics({out}, partitions);
        const CaseResult warm =
            run_count_case(env, all_cases()[3], input, out, group, partitions, records, outputs);
        fmt::print(stderr, "  warm-up {}/{}: case (d), untimed ({} records/s)\n", pass, warmup,
                   grouped(per_second(static_cast<double>(records), warm.seconds)));
      }

      fmt::print(
          "\nstreamframe state: word count, {} records of ~{:.0f} B JSON, {} words each from {} "
          "({} outputs), {} keys, {} partitions\n{}\n\n",
          grouped(records), ctx.value_bytes, words_per_record, vocabulary, grouped(outputs), keys,
          partitions, provenance_text(ctx));
      print_header();

      std::vector<Measurement> measurements;
      for (int run = 1; run <= runs; ++run) {
        std::map<char, std::string> out_topics;
        std::vector<std::string> new_topics;
        for (const auto& spec : cases) {
          out_topics[spec.id] = fmt::format("bench-state-{}-run{}-{}-out", run_id, run, spec.id);
          new_topics.push_back(out_topics[spec.id]);
          topics.push_back(out_topics[spec.id]);
        }
        admin.create_topics(new_topics, partitions);
        std::optional<double> seconds_a;
        for (const auto& spec : cases) {
          std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
          const std::string group = fmt::format("bench-state-{}-run{}-{}", run_id, run, spec.id);
          if (spec.stateful) topics.push_back(changelog_of(group, input));
          Measurement m;
          m.run = run;
          m.spec = spec;
          try {
            m.result = run_count_case(env, spec, input, out_topics[spec.id], group, partitions,
                                      records, outputs);
            m.result.outputs =
                spec.exactly_once
                    ? count_committed_records(brokers, out_topics[spec.id], partitions)
                    : admin.record_count(out_topics[spec.id], partitions);
          } catch (const std::exception& e) {
            ++failures;
            fmt::print("{:>3}  {:<4} {:<44} FAILED: {}\n", run, spec.id, describe_case(spec.id),
                       e.what());
            std::fflush(stdout);
            continue;
          }
          if (!m.result.ok()) ++failures;
          if (spec.id == 'a') seconds_a = m.result.seconds;
          if (seconds_a) m.ratio_vs_a = *seconds_a / m.result.seconds;
          print_row(m, records);
          lines.push_back(count_json(m, ctx));
          measurements.push_back(m);
        }
      }

      // Medians over the runs: throughput per case, and the within-run ratios, over all runs
      // and over the runs in which neither case of the ratio was NOISY.
      fmt::print("\nmedian of {} run(s)\n", runs);
      std::map<char, std::vector<double>> secs;
      std::map<std::pair<int, char>, const Measurement*> by_run;
      for (const auto& m : measurements) {
        secs[m.spec.id].push_back(m.result.seconds);
        by_run[{m.run, m.spec.id}] = &m;
      }
      struct Ratios {
        std::vector<double> all;
        std::vector<double> quiet;
      };
      // Throughput of `num` relative to `den` (= den seconds / num seconds), run by run.
      const auto ratios = [&](char num, char den) {
        Ratios r;
        for (int run = 1; run <= runs; ++run) {
          const auto n = by_run.find({run, num});
          const auto d = by_run.find({run, den});
          if (n == by_run.end() || d == by_run.end()) continue;
          const double x = d->second->result.seconds / n->second->result.seconds;
          r.all.push_back(x);
          if (!n->second->result.cpu.noisy() && !d->second->result.cpu.noisy()) {
            r.quiet.push_back(x);
          }
        }
        return r;
      };
      const auto show = [](const Ratios& r) { return ratio_summary(r.all, r.quiet); };
      for (const auto& spec : cases) {
        if (secs[spec.id].empty()) continue;
        const double s = median(secs[spec.id]);
        std::string ratio = "-";
        if (spec.id != 'a') {
          const Ratios r = ratios(spec.id, 'a');
          if (!r.all.empty()) ratio = show(r);
        }
        fmt::print("     {:<4} {:<44} {:>8.3f} {:>10} {:>11}  {}/a {}\n", spec.id,
                   describe_case(spec.id), s, grouped(per_second(static_cast<double>(records), s)),
                   grouped(per_second(static_cast<double>(outputs), s)), spec.id, ratio);
      }
      if (const Ratios r = ratios('a', 'd'); !r.all.empty()) {
        fmt::print("     stateful / stateless (a/d): {}\n", show(r));
      }
      if (const Ratios r = ratios('b', 'e'); !r.all.empty()) {
        fmt::print("     exactly_once / at_least_once at {} ms (b/e): {}\n",
                   g_b_commit_interval.count(), show(r));
      }
      fmt::print(
          "\n(seconds: first input processed -> the group's committed input offsets reach N; "
          "records/s = {} input records / seconds; outputs/s = {} outputs / seconds; "
          "x/a = (a) seconds / (x) seconds in the same run)\n",
          grouped(records), grouped(outputs));
      std::fflush(stdout);
    }

    // ------------------------------------------------------------------ restore
    if (wanted('r')) {
      const std::string input = fmt::format("bench-state-{}-restore-in", run_id);
      const std::string group = fmt::format("bench-state-{}-restore", run_id);
      const std::string changelog = changelog_of(group, input);
      topics.push_back(input);
      topics.push_back(changelog);
      admin.create_topics({input}, restore_partitions);
      const double produce_s =
          produce_records(brokers, input, 0, restore_keys, restore_record, nullptr);
      fmt::print(stderr,
                 "  restore input: {} records with distinct keys, {} partitions, in {:.1f} s\n",
                 grouped(restore_keys), restore_partitions, produce_s);
      std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
      const FillResult fill =
          fill_changelog(env, input, group, restore_partitions, restore_keys, changelog, admin);
      fmt::print(
          "\nstreamframe state: restore of {} keys, {} partitions\n"
          "fill: the counter over {} distinct keys (at_least_once, no output) in {:.2f} s = {} "
          "records/s; changelog holds {} records; {}\n\n",
          grouped(restore_keys), restore_partitions, grouped(restore_keys), fill.seconds,
          grouped(per_second(static_cast<double>(restore_keys), fill.seconds)),
          grouped(fill.changelog_records), cpu_text(fill.cpu));
      std::fflush(stdout);
      {
        sf::Object line = line_head(ctx, "restore_fill", restore_keys, fill.seconds, sf::Value());
        line.set("partitions", sf::Value(restore_partitions));
        line.set("changelog_records", sf::Value(static_cast<long long>(fill.changelog_records)));
        line.set("verified", sf::Value(fill.changelog_records >= restore_keys));
        line_tail(line, ctx, fill.cpu);
        lines.push_back(sf::Value(std::move(line)).to_json());
      }
      if (fill.changelog_records < restore_keys) {
        ++failures;
        throw BenchError(fmt::format("the changelog holds {} records, expected {}",
                                     fill.changelog_records, restore_keys));
      }

      std::vector<double> restore_rates;
      std::vector<double> raw_rates;
      std::vector<double> restore_vs_raw;
      std::vector<double> to_first;
      std::vector<double> run_to_first;
      for (int run = 1; run <= restore_runs; ++run) {
        std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
        RawRead raw;
        try {
          raw = raw_read_changelog(env, changelog, restore_partitions);
        } catch (const std::exception& e) {
          ++failures;
          fmt::print("run {}: raw changelog read FAILED: {}\n", run, e.what());
          continue;
        }
        const double raw_rate = static_cast<double>(raw.records) / raw.seconds;
        std::string raw_parts;
        for (const auto& [n, s] : raw.partitions) {
          raw_parts += fmt::format("{}{}", raw_parts.empty() ? "" : ", ",
                                   grouped(per_second(static_cast<double>(n), s)));
        }
        fmt::print(
            "run {}: raw changelog read (librdkafka, restorer settings, partition by "
            "partition): {} records in {:.2f} s = {} records/s (per partition: {}); {}\n",
            run, grouped(raw.records), raw.seconds,
            grouped(per_second(static_cast<double>(raw.records), raw.seconds)), raw_parts,
            cpu_text(raw.cpu));
        {
          sf::Object line = line_head(ctx, "changelog_read", raw.records, raw.seconds, sf::Value());
          line.set("run", sf::Value(run));
          line.set("partitions", sf::Value(restore_partitions));
          sf::Array parts;
          for (const auto& [n, s] : raw.partitions) {
            parts.push_back(sf::Value(sf::Object{
                {"records", sf::Value(static_cast<long long>(n))},
                {"seconds", sf::Value(round_to(s, 4))},
                {"records_per_s",
                 sf::Value(static_cast<long long>(per_second(static_cast<double>(n), s)))}}));
          }
          line.set("per_partition", sf::Value(std::move(parts)));
          line_tail(line, ctx, raw.cpu);
          lines.push_back(sf::Value(std::move(line)).to_json());
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
        RestoreRun r;
        try {
          r = run_restore(env, *log, input, group, restore_partitions, restore_keys, restore_new,
                          run);
        } catch (const std::exception& e) {
          ++failures;
          fmt::print("run {}: restore FAILED: {}\n", run, e.what());
          continue;
        }
        if (!r.ok) ++failures;
        const double rate = static_cast<double>(r.applied) / r.restore_seconds;
        restore_rates.push_back(rate);
        raw_rates.push_back(raw_rate);
        restore_vs_raw.push_back(rate / raw_rate);
        to_first.push_back(r.start_to_first);
        run_to_first.push_back(r.run_to_first);
        fmt::print(
            "run {}: restore {} keys in {:.2f} s = {} keys/s ({:.2f} x the raw read; {:.2f} s "
            "between "
            "partitions); app start -> "
            "restore start {:.2f} s, restore end -> first new record processed {:.3f} s; app "
            "start -> first new record {:.2f} s (run() -> first {:.2f} s); {}/{} outputs count 2; "
            "{}{}\n",
            run, grouped(static_cast<std::uint64_t>(r.applied)), r.restore_seconds,
            grouped(per_second(static_cast<double>(r.applied), r.restore_seconds)), rate / raw_rate,
            r.between_partitions, r.start_to_restore, r.restore_end_to_first, r.start_to_first,
            r.run_to_first, grouped(r.verified), grouped(r.new_records), cpu_text(r.cpu),
            r.ok ? "" : "  NOT VERIFIED");
        for (const auto& p : r.partitions) {
          fmt::print("       partition {}: {} keys in {:.2f} s = {} keys/s (library: {:.2f} s)\n",
                     p.partition, grouped(static_cast<std::uint64_t>(p.applied)), p.seconds,
                     grouped(per_second(static_cast<double>(p.applied), p.seconds)),
                     p.library_seconds);
        }
        std::fflush(stdout);
        sf::Object line = line_head(ctx, "restore", static_cast<std::uint64_t>(r.applied),
                                    r.restore_seconds, sf::Value());
        line.set("run", sf::Value(run));
        line.set("partitions", sf::Value(restore_partitions));
        line.set("keys", sf::Value(static_cast<long long>(restore_keys)));
        line.set("ratio_vs_raw_read", sf::Value(round_to(rate / raw_rate, 4)));
        sf::Array parts;
        for (const auto& p : r.partitions) {
          parts.push_back(sf::Value(
              sf::Object{{"partition", sf::Value(p.partition)},
                         {"applied", sf::Value(static_cast<long long>(p.applied))},
                         {"skipped", sf::Value(static_cast<long long>(p.skipped))},
                         {"seconds", sf::Value(round_to(p.seconds, 4))},
                         {"library_seconds", sf::Value(round_to(p.library_seconds, 4))},
                         {"keys_per_s", sf::Value(static_cast<long long>(per_second(
                                            static_cast<double>(p.applied), p.seconds)))}}));
        }
        line.set("per_partition", sf::Value(std::move(parts)));
        line.set("seconds_between_partitions", sf::Value(round_to(r.between_partitions, 4)));
        line.set("seconds_start_to_restore", sf::Value(round_to(r.start_to_restore, 4)));
        line.set("seconds_restore_end_to_first_processed",
                 sf::Value(round_to(r.restore_end_to_first, 4)));
        line.set("seconds_start_to_first_processed", sf::Value(round_to(r.start_to_first, 4)));
        line.set("seconds_run_to_first_processed", sf::Value(round_to(r.run_to_first, 4)));
        line.set("seconds_start_to_run_returned", sf::Value(round_to(r.start_to_returned, 4)));
        line.set("new_records", sf::Value(static_cast<long long>(r.new_records)));
        line.set("verified", sf::Value(r.ok));
        line_tail(line, ctx, r.cpu);
        lines.push_back(sf::Value(std::move(line)).to_json());
      }
      if (!restore_rates.empty()) {
        fmt::print(
            "\nrestore, median of {} run(s): {} keys/s ({:.3f} x the raw read of {} records/s); "
            "app start -> first new record processed {:.2f} s (run() -> first {:.2f} s)\n",
            restore_rates.size(), grouped(static_cast<std::uint64_t>(median(restore_rates))),
            median(restore_vs_raw), grouped(static_cast<std::uint64_t>(median(raw_rates))),
            median(to_first), median(run_to_first));
        fmt::print(
            "(restore seconds: the library's first 'restoring store' log line -> its last "
            "'restored store' line; keys = records applied; partitions restore one after "
            "another)\n");
      }
    }

    // ------------------------------------------------------------------ checkpoint cost
    if (wanted('k')) {
      std::optional<double> first_median;
      for (const std::uint64_t k : checkpoint_keys) {
        const std::string input = fmt::format("bench-state-{}-ck{}-in", run_id, k);
        const std::string group = fmt::format("bench-state-{}-ck{}", run_id, k);
        const std::string changelog = changelog_of(group, input);
        topics.push_back(input);
        topics.push_back(changelog);
        admin.create_topics({input}, restore_partitions);
        produce_records(brokers, input, 0, k, restore_record, nullptr);
        std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
        const FillResult fill =
            fill_changelog(env, input, group, restore_partitions, k, changelog, admin);
        std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
        CheckpointScaleRun r = run_checkpoint_scale(env, *log, input, group, restore_partitions, k,
                                                    checkpoint_updates, checkpoint_every, seed);
        r.fill_seconds = fill.seconds;
        const bool ok = r.verified == checkpoint_updates && r.outputs == checkpoint_updates &&
                        !r.checkpoints.empty();
        if (!ok) ++failures;
        std::vector<double> total;
        std::vector<double> before;
        std::vector<double> acks;
        std::vector<double> commit;
        for (const auto& c : r.checkpoints) {
          total.push_back(c.total_ms);
          before.push_back(c.before_flush_ms);
          acks.push_back(c.acks_ms);
          commit.push_back(c.commit_ms);
        }
        const auto pct = [](std::vector<double> v, double q) {
          if (v.empty()) return 0.0;
          std::sort(v.begin(), v.end());
          return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
        };
        const double med = total.empty() ? 0.0 : median(total);
        // Keys drawn uniformly: C draws from K keys touch K (1 - e^(-C/K)) distinct keys on
        // average, the entries a checkpoint writes (fewer than C when K is small).
        const double changed =
            static_cast<double>(k) *
            (1.0 - std::exp(-static_cast<double>(checkpoint_every) / static_cast<double>(k)));
        if (!first_median && med > 0) first_median = med;
        fmt::print(
            "\ncheckpoint cost, {} state keys (filled in {:.1f} s), {} updates on random keys, a "
            "checkpoint every {} messages: {} checkpoints, ms median {:.1f} (p90 {:.1f}, max "
            "{:.1f}; {:.2f} x the first size); parts, median ms: before the flush {:.1f}, "
            "acknowledgements {:.1f}, offset commit and stores {:.1f}; {:.2f} us per message, "
            "{:.2f} us per changed key ({} expected per checkpoint); "
            "update pass {:.1f} s; {}/{} outputs verified; {}{}\n",
            grouped(k), fill.seconds, grouped(checkpoint_updates), grouped(checkpoint_every),
            r.checkpoints.size(), med, pct(total, 0.9), pct(total, 1.0),
            first_median ? med / *first_median : 0.0, before.empty() ? 0.0 : median(before),
            acks.empty() ? 0.0 : median(acks), commit.empty() ? 0.0 : median(commit),
            med * 1000.0 / static_cast<double>(checkpoint_every), med * 1000.0 / changed,
            grouped(static_cast<std::uint64_t>(std::llround(changed))), r.seconds,
            grouped(r.verified), grouped(checkpoint_updates), cpu_text(r.cpu),
            ok ? "" : "  NOT VERIFIED");
        std::fflush(stdout);
        sf::Object line =
            line_head(ctx, "checkpoint_cost", checkpoint_updates, r.seconds, sf::Value());
        line.set("keys", sf::Value(static_cast<long long>(k)));
        line.set("partitions", sf::Value(restore_partitions));
        line.set("checkpoint_every", sf::Value(static_cast<long long>(checkpoint_every)));
        line.set("checkpoints", sf::Value(static_cast<long long>(r.checkpoints.size())));
        line.set("checkpoint_ms_median", sf::Value(round_to(med, 3)));
        line.set("changed_keys_per_checkpoint_expected", sf::Value(std::llround(changed)));
        line.set("us_per_changed_key", sf::Value(round_to(med * 1000.0 / changed, 3)));
        line.set("checkpoint_ms_p90", sf::Value(round_to(pct(total, 0.9), 3)));
        line.set("checkpoint_ms_max", sf::Value(round_to(pct(total, 1.0), 3)));
        line.set("before_flush_ms_median",
                 sf::Value(round_to(before.empty() ? 0.0 : median(before), 3)));
        line.set("acks_ms_median", sf::Value(round_to(acks.empty() ? 0.0 : median(acks), 3)));
        line.set("commit_and_stores_ms_median",
                 sf::Value(round_to(commit.empty() ? 0.0 : median(commit), 3)));
        line.set("fill_seconds", sf::Value(round_to(fill.seconds, 3)));
        line.set("verified", sf::Value(ok));
        line_tail(line, ctx, r.cpu);
        lines.push_back(sf::Value(std::move(line)).to_json());
        std::filesystem::remove_all(env.state_root / group);
      }
      fmt::print(
          "(checkpoint ms: the library's DEBUG line of each checkpoint of a full {} messages; "
          "the final one at the stop is left out)\n",
          grouped(checkpoint_every));
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    ++failures;
  }

  return finish_bench(results_file, lines, failures, keep_topics, brokers, topics, "",
                      env.state_root);
}
