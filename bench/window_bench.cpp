// streamframe_bench_windows: what time windows cost on a real Kafka broker (bench/README.md,
// "Windows").
//
// Two input topics are filled with JSON records {"v":<number>} whose message timestamps
// advance with the record number (a fixed number of records per millisecond, spread over the
// keys round-robin), followed by one "closing" record per key far enough in the future to close
// every window the data opened, so that every window the data touched is emitted during the run
// and the expected output is known exactly. Per run, each case reads its whole input from the
// beginning (fresh consumer group, fresh state directory, fresh changelog) and writes a fresh
// output topic, at-least-once with the default commit interval:
//   (d)    input T, stateless: apply(identity) -> to_topic (parse, map, serialize): the baseline;
//   (t)    input T, tumbling_window(1 s).agg({"mean": mean("v")}).final() -> to_topic;
//   (h1)   input H, tumbling_window(100 ms).agg({"n": count()}).final(): the hopping cases'
//          baseline (hopping needs step < duration, so duration/step = 1 is a tumbling window);
//   (h10)  input H, hopping_window(1 s, 100 ms), same aggregation;
//   (h100) input H, hopping_window(10 s, 100 ms), same aggregation.
// Throughput = input records / (first input record processed -> the consumer group's committed
// offsets of the input reach the input's size: the final checkpoint made every output and
// changelog record durable). Ratios t/d, h10/h1 and h100/h1 are taken within one run.

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "streamframe/streamframe.hpp"

#ifndef STREAMFRAME_SOURCE_DIR
#define STREAMFRAME_SOURCE_DIR "."
#endif

namespace {

using namespace streamframe::bench;

namespace sf = streamframe;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Input data

// One input topic: `records` data records, record i keyed "<prefix><i % keys>" with timestamp
// base + i / per_ms, then one closing record per key (key j) at `closing_ts`.
struct InputSpec {
  char id = 't';  // 't' (cases d, t) or 'h' (cases h1, h10, h100)
  std::string topic;
  std::uint64_t records = 0;
  int keys = 0;
  std::int64_t per_ms = 1;  // data records per millisecond of event time
  std::int64_t base_ts = 0;
  std::int64_t closing_ts = 0;
  std::uint64_t seed = 42;

  std::uint64_t total() const { return records + static_cast<std::uint64_t>(keys); }
  std::int64_t last_data_ts() const {
    return base_ts + static_cast<std::int64_t>(records - 1) / per_ms;
  }
  bool closing(std::uint64_t i) const { return i >= records; }
  std::uint64_t key_of(std::uint64_t i) const {
    return closing(i) ? i - records : i % static_cast<std::uint64_t>(keys);
  }
  std::int64_t ts_of(std::uint64_t i) const {
    return closing(i) ? closing_ts : base_ts + static_cast<std::int64_t>(i) / per_ms;
  }
  // v in tenths, -50.0 .. 149.9; closing records carry 0.
  std::int64_t tenths_of(std::uint64_t i) const {
    if (closing(i)) return 0;
    std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + i * 0xD1B54A32D192ED03ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<std::int64_t>(z % 2000) - 500;
  }
  std::string key_prefix() const { return std::string(1, id) + "-"; }

  void make(std::uint64_t i, std::string& key, std::string& value, std::int64_t& ts) const {
    key.clear();
    fmt::format_to(std::back_inserter(key), "{}{}", key_prefix(), key_of(i));
    const std::int64_t t = tenths_of(i);
    value.clear();
    fmt::format_to(std::back_inserter(value), R"({{"v":{}{}.{}}})", t < 0 ? "-" : "",
                   std::llabs(t) / 10, std::llabs(t) % 10);
    ts = ts_of(i);
  }
};

// ---------------------------------------------------------------------------------------------
// Cases

enum class Kind { stateless, tumbling, hopping };

struct CaseSpec {
  std::string id;
  char input = 't';
  Kind kind = Kind::stateless;
  std::int64_t duration_ms = 0;
  std::int64_t step_ms = 0;  // = duration for tumbling
  std::string aggregation;   // as printed
  std::string ratio_to;      // the case this one is compared with ("" = none)
};

std::string describe(const CaseSpec& c) {
  switch (c.kind) {
    case Kind::stateless:
      return "stateless apply(identity)";
    case Kind::tumbling:
      return fmt::format("tumbling {} ms, {}", c.duration_ms, c.aggregation);
    case Kind::hopping:
      return fmt::format("hopping {} ms / {} ms, {}", c.duration_ms, c.step_ms, c.aggregation);
  }
  return "";
}

// What the data records of `in` must produce under `c`: every window a data record falls in,
// each once (the closing records close them all; their own windows never close). Window
// membership per WIN-02/WIN-03: tumbling [s, s+d), s = ts - ts mod d; hopping every
// [k*step, k*step + d) with k*step <= ts < k*step + d, k >= 0.
struct Expected {
  std::uint64_t outputs = 0;
  // Hopping/tumbling count: the sum of "n" over all outputs (each record once per window).
  std::uint64_t count_sum = 0;
  // Tumbling mean: per (key, window start) the sum of v in tenths and the count.
  std::unordered_map<std::string, std::pair<std::int64_t, std::int64_t>> means;
};

Expected expected_outputs(const InputSpec& in, const CaseSpec& c, bool with_means) {
  Expected e;
  if (c.kind == Kind::stateless) {
    e.outputs = in.total();
    return e;
  }
  // Timestamps never decrease within a key, so the windows of a key's records form ranges that
  // only move forward: a record adds the windows (in step units) above the key's highest so far.
  std::vector<std::int64_t> highest(static_cast<std::size_t>(in.keys), -1);
  for (std::uint64_t i = 0; i < in.records; ++i) {
    const std::int64_t ts = in.ts_of(i);
    const std::int64_t hi = ts / c.step_ms;
    const std::int64_t lo =
        std::max<std::int64_t>(0, ts >= c.duration_ms ? (ts - c.duration_ms) / c.step_ms + 1 : 0);
    auto& h = highest[in.key_of(i)];
    if (hi > h) {
      e.outputs += static_cast<std::uint64_t>(hi - std::max(lo - 1, h));
      h = hi;
    }
    e.count_sum += static_cast<std::uint64_t>(hi - lo + 1);
    if (with_means) {
      auto& [sum, n] =
          e.means[fmt::format("{}{}/{}", in.key_prefix(), in.key_of(i), hi * c.step_ms)];
      sum += in.tenths_of(i);
      ++n;
    }
  }
  return e;
}

void build_pipeline(sf::Application& app, const sf::Topic& in, const sf::Topic& out,
                    const CaseSpec& c) {
  auto sdf = app.dataframe(in);
  using std::chrono::milliseconds;
  switch (c.kind) {
    case Kind::stateless:
      sdf.apply([](const sf::Value& v) { return v; }).to_topic(out);
      return;
    case Kind::tumbling:
      if (c.input == 't') {
        sdf.tumbling_window(milliseconds(c.duration_ms))
            .agg({{"mean", sf::agg::mean("v")}})
            .final()
            .to_topic(out);
      } else {
        sdf.tumbling_window(milliseconds(c.duration_ms))
            .agg({{"n", sf::agg::count()}})
            .final()
            .to_topic(out);
      }
      return;
    case Kind::hopping:
      sdf.hopping_window(milliseconds(c.duration_ms), milliseconds(c.step_ms))
          .agg({{"n", sf::agg::count()}})
          .final()
          .to_topic(out);
      return;
  }
}

struct CaseResult {
  double seconds = 0;  // first input processed -> end_by
  std::string end_by;  // "committed" or "run_return" (the watcher saw nothing: upper bound)
  std::optional<double> committed;
  std::optional<double> last_processed;
  std::optional<double> run_returned;
  std::uint64_t processed = 0;
  std::uint64_t outputs = 0;  // counted in the output topic afterwards
  std::uint64_t outputs_expected = 0;
  std::uint64_t records_produced = 0;  // the app's delivery reports: outputs + changelog
  std::uint64_t checkpoints = 0;
  std::uint64_t null_keys_skipped = 0;
  std::uint64_t stalls = 0;
  double stall_seconds = 0;
  double longest_stall = 0;
  // The outputs' values read back (window cases): problems found, empty = all as expected.
  std::optional<std::string> value_check;
  CpuUse cpu;
  bool ok() const { return outputs == outputs_expected && (!value_check || value_check->empty()); }
};

constexpr std::uint64_t k_arm_before_end = 2000;

struct Env {
  std::string brokers;
  std::string broker_pid;
  std::filesystem::path state_root;
  std::map<std::string, std::string> consumer_extra;
  std::map<std::string, std::string> producer_extra;
  std::chrono::microseconds stall_threshold{5000};
};

// Runs one case over the whole input and stops the application right after its last input
// record (app.stop() from the processed callback: the final checkpoint follows). The end of the
// measurement is seen from outside, when the group's committed input offsets reach the input's
// size.
CaseResult run_case(const Env& env, const CaseSpec& spec, const InputSpec& input,
                    const std::string& output, const std::string& group, int partitions,
                    std::uint64_t outputs_expected) {
  const std::filesystem::path state_dir = env.state_root / group;
  const std::uint64_t records = input.total();
  CommitWatcher watcher(env.brokers, group, input.topic, partitions,
                        static_cast<std::int64_t>(records));
  std::uint64_t processed = 0;
  Clock::time_point first{};
  Clock::time_point last{};
  Clock::time_point previous{};
  const std::uint64_t mark = records > k_arm_before_end ? records - k_arm_before_end : 1;
  sf::Application* app_ptr = nullptr;

  CpuMeter meter(env.broker_pid);
  CaseResult result;
  result.outputs_expected = outputs_expected;
  {
    sf::ApplicationConfig config;
    config.broker_address = env.brokers;
    config.consumer_group = group;
    config.state_dir = state_dir.string();
    config.auto_offset_reset = sf::AutoOffsetReset::earliest;
    config.processing_guarantee = sf::ProcessingGuarantee::at_least_once;
    config.loglevel = "WARNING";
    config.install_signal_handlers = false;
    config.consumer_extra_config = env.consumer_extra;
    config.producer_extra_config = env.producer_extra;
    const bool stalls = env.stall_threshold.count() > 0;
    config.on_message_processed = [&](const std::string&, std::int32_t, std::int64_t) {
      if (++processed == 1) {
        first = previous = Clock::now();
      } else if (stalls) {
        // One clock read per input record (~25 ns here): the same small cost in every case.
        const auto now = Clock::now();
        if (now - previous >= env.stall_threshold) {
          const double gap = seconds_between(previous, now);
          ++result.stalls;
          result.stall_seconds += gap;
          result.longest_stall = std::max(result.longest_stall, gap);
        }
        previous = now;
      }
      if (processed >= mark) {
        last = Clock::now();
        if (processed == mark) watcher.arm();
        if (processed == records) app_ptr->stop();
      }
    };
    sf::Application app(std::move(config));
    app_ptr = &app;
    sf::TopicOptions topic_options;
    topic_options.config = sf::TopicConfig{.num_partitions = partitions};
    const sf::Topic in = app.topic(input.topic, topic_options);
    const sf::Topic out = app.topic(output, topic_options);
    build_pipeline(app, in, out, spec);
    app.run({.timeout = std::chrono::seconds(60), .count = 0, .collect = false});
    const auto returned = Clock::now();
    const sf::RunStats stats = app.stats();
    if (processed == 0) throw BenchError("no message was processed");
    if (processed < records) {
      throw BenchError(fmt::format("run() ended (idle timeout?) after {} of {} input records",
                                   processed, records));
    }
    result.processed = processed;
    result.records_produced = stats.records_produced;
    result.checkpoints = stats.checkpoints;
    result.null_keys_skipped = stats.null_keys_skipped;
    result.run_returned = seconds_between(first, returned);
    result.last_processed = seconds_between(first, last);
  }
  result.cpu = meter.done();
  if (const auto t = watcher.finish(std::chrono::seconds(10))) {
    result.committed = seconds_between(first, *t);
    result.seconds = *result.committed;
    result.end_by = "committed";
  } else {
    result.seconds = *result.run_returned;
    result.end_by = "run_return";
  }
  std::error_code ec;
  std::filesystem::remove_all(state_dir, ec);
  return result;
}

// Reads a window case's output back and compares it with `e`: every output spans the window's
// duration; counts add up to `count_sum`; means match per (key, start). Returns the problems
// found (empty = none).
std::string check_values(const std::string& brokers, const std::string& topic, int partitions,
                         const CaseSpec& c, const Expected& e) {
  std::uint64_t records = 0;
  std::uint64_t count_sum = 0;
  std::uint64_t bad_span = 0;
  std::uint64_t bad_value = 0;
  std::uint64_t unparsable = 0;
  std::set<std::string> seen;
  std::uint64_t repeated = 0;
  std::string first_problem;
  const auto problem = [&](std::string text) {
    if (first_problem.empty()) first_problem = std::move(text);
  };
  for_each_record(brokers, topic, partitions, [&](const rd_kafka_message_t& m) {
    ++records;
    const std::string_view text(static_cast<const char*>(m.payload), m.len);
    const std::string key =
        m.key != nullptr ? std::string(static_cast<const char*>(m.key), m.key_len) : "(null)";
    sf::Value v;
    try {
      v = sf::Value::from_json(text);
    } catch (const std::exception& ex) {
      ++unparsable;
      problem(fmt::format("unparsable output {:?}: {}", text, ex.what()));
      return;
    }
    const auto* start = v.find("start");
    const auto* end = v.find("end");
    if (start == nullptr || end == nullptr || !start->is_int() || !end->is_int() ||
        end->as_int() - start->as_int() != c.duration_ms) {
      ++bad_span;
      problem(
          fmt::format("output {} of key {}: expected a {} ms window", text, key, c.duration_ms));
      return;
    }
    const std::string id = fmt::format("{}/{}", key, start->as_int());
    if (!seen.insert(id).second) ++repeated;
    if (const auto* n = v.find("n")) {
      if (n->is_int() && n->as_int() > 0) {
        count_sum += static_cast<std::uint64_t>(n->as_int());
      } else {
        ++bad_value;
        problem(fmt::format("output {} of key {}: n is not a positive integer", text, key));
      }
    } else if (const auto* mean = v.find("mean")) {
      const auto it = e.means.find(id);
      if (it == e.means.end() || !mean->is_number()) {
        ++bad_value;
        problem(fmt::format("output {} of key {}: no such window in the input", text, key));
        return;
      }
      const double want =
          static_cast<double>(it->second.first) / 10.0 / static_cast<double>(it->second.second);
      if (std::abs(mean->as_double() - want) > 1e-9 * std::max(1.0, std::abs(want))) {
        ++bad_value;
        problem(fmt::format("output {} of key {}: mean should be {}", text, key, want));
      }
    } else {
      ++bad_value;
      problem(fmt::format("output {} of key {}: no aggregation column", text, key));
    }
  });
  std::string out;
  const auto add = [&](std::string text) { out += (out.empty() ? "" : "; ") + text; };
  if (unparsable) add(fmt::format("{} outputs unparsable", unparsable));
  if (bad_span) add(fmt::format("{} outputs with a wrong start/end", bad_span));
  if (bad_value) add(fmt::format("{} outputs with a wrong value", bad_value));
  if (repeated) add(fmt::format("{} windows emitted more than once", repeated));
  if (c.kind == Kind::hopping || c.input == 'h') {
    if (count_sum != e.count_sum) {
      add(fmt::format("counts add up to {}, expected {}", count_sum, e.count_sum));
    }
  }
  if (!first_problem.empty()) add("first: " + first_problem);
  (void)records;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Results

struct RunContext {
  int partitions = 0;
  std::string commit;
  bool dirty = false;
  Machine machine;
  double load_1m = 0;
  std::map<std::string, std::string> consumer_extra;
  std::map<std::string, std::string> producer_extra;
};

struct Measurement {
  int run = 0;
  CaseSpec spec;
  const InputSpec* input = nullptr;
  CaseResult result;
  std::optional<double> ratio;  // vs spec.ratio_to in the same run
};

std::string json_line(const Measurement& m, const RunContext& ctx) {
  using sf::Value;
  const auto& r = m.result;
  const std::uint64_t records = m.input->total();
  sf::Object line{
      {"bench", Value("windows")},
      {"case", Value(m.spec.id)},
      {"records", Value(static_cast<long long>(records))},
      {"seconds", Value(round_to(r.seconds, 6))},
      {"records_per_s",
       Value(static_cast<long long>(per_second(static_cast<double>(records), r.seconds)))},
      {"ratio", m.ratio ? Value(round_to(*m.ratio, 4)) : Value()},
      {"ratio_vs", m.spec.ratio_to.empty() ? Value() : Value(m.spec.ratio_to)},
      {"commit", Value(ctx.commit)},
      {"date", Value(iso8601_utc_now())},
      {"machine", Value(sf::Object{{"nproc", Value(static_cast<long long>(ctx.machine.nproc))},
                                   {"model", Value(ctx.machine.model)},
                                   {"mem_gb", Value(ctx.machine.mem_gb)}})},
  };
  line.set("run", Value(m.run));
  line.set("partitions", Value(ctx.partitions));
  line.set("input", Value(std::string(1, m.input->id)));
  line.set("data_records", Value(static_cast<long long>(m.input->records)));
  line.set("closing_records", Value(m.input->keys));
  line.set("keys", Value(m.input->keys));
  line.set("records_per_event_ms", Value(static_cast<long long>(m.input->per_ms)));
  const char* kind = m.spec.kind == Kind::stateless  ? "stateless"
                     : m.spec.kind == Kind::tumbling ? "tumbling"
                                                     : "hopping";
  line.set("window", Value(kind));
  if (m.spec.kind != Kind::stateless) {
    line.set("duration_ms", Value(static_cast<long long>(m.spec.duration_ms)));
    line.set("step_ms", Value(static_cast<long long>(m.spec.step_ms)));
    line.set("aggregation", Value(m.spec.aggregation));
  }
  line.set("outputs", Value(static_cast<long long>(r.outputs)));
  line.set("outputs_expected", Value(static_cast<long long>(r.outputs_expected)));
  line.set("outputs_per_s",
           Value(static_cast<long long>(per_second(static_cast<double>(r.outputs), r.seconds))));
  line.set("verified", Value(r.ok()));
  if (r.value_check) line.set("values_checked", Value(r.value_check->empty()));
  line.set("end_by", Value(r.end_by));
  if (r.committed) line.set("seconds_committed", Value(round_to(*r.committed, 6)));
  if (r.last_processed) line.set("seconds_last_processed", Value(round_to(*r.last_processed, 6)));
  if (r.run_returned) line.set("seconds_run_returned", Value(round_to(*r.run_returned, 6)));
  line.set("checkpoints", Value(static_cast<long long>(r.checkpoints)));
  line.set("changelog_records",
           Value(static_cast<long long>(r.records_produced -
                                        std::min(r.records_produced, r.outputs_expected))));
  line.set("stalls", Value(static_cast<long long>(r.stalls)));
  line.set("stall_seconds", Value(round_to(r.stall_seconds, 4)));
  line.set("longest_stall_s", Value(round_to(r.longest_stall, 4)));
  line.set("cpu", cpu_json(r.cpu));
  line.set("noisy", Value(r.cpu.noisy()));
  line.set("load_1m_before", Value(round_to(r.cpu.load_1m_before, 2)));
  line.set("load_1m_after", Value(round_to(r.cpu.load_1m_after, 2)));
  const auto settings = [](const std::map<std::string, std::string>& kv) {
    sf::Object o;
    for (const auto& [k, v] : kv) o.set(k, Value(v));
    return Value(std::move(o));
  };
  if (!ctx.consumer_extra.empty()) line.set("app_consumer_config", settings(ctx.consumer_extra));
  if (!ctx.producer_extra.empty()) line.set("app_producer_config", settings(ctx.producer_extra));
  line.set("dirty", Value(ctx.dirty));
  line.set("load_1m", Value(ctx.load_1m));
  line.set("librdkafka", Value(rd_kafka_version_str()));
  return Value(std::move(line)).to_json();
}

void print_header() {
  fmt::print("{:>3}  {:<5} {:<40} {:>8} {:>10} {:>9} {:>11}  {}\n", "run", "case", "what",
             "seconds", "records/s", "outputs", "ratio", "detail");
}

void print_row(const Measurement& m) {
  const auto& r = m.result;
  std::string detail;
  const auto add = [&](const char* what, const std::optional<double>& t) {
    if (!t) return;
    if (!detail.empty()) detail += ", ";
    detail += fmt::format("{} {:+.0f} ms", what, (*t - r.seconds) * 1000);
  };
  add("last processed", r.last_processed);
  add("run() returned", r.run_returned);
  if (r.end_by != "committed") detail += " (end = run() return)";
  detail += fmt::format("; {} checkpoints; stalled {:.2f} s in {} gaps (longest {:.0f} ms)",
                        r.checkpoints, r.stall_seconds, r.stalls, r.longest_stall * 1000);
  if (m.spec.kind != Kind::stateless) {
    detail +=
        fmt::format(", {} changelog records",
                    grouped(r.records_produced - std::min(r.records_produced, r.outputs_expected)));
  }
  if (r.null_keys_skipped > 0) detail += fmt::format(", {} null keys", r.null_keys_skipped);
  detail += "; " + cpu_text(r.cpu);
  std::string problems;
  if (r.outputs != r.outputs_expected) {
    problems += fmt::format("  MISMATCH: {} outputs, expected {}", grouped(r.outputs),
                            grouped(r.outputs_expected));
  }
  if (r.value_check && !r.value_check->empty()) problems += "  WRONG VALUES: " + *r.value_check;
  const std::uint64_t records = m.input->total();
  fmt::print("{:>3}  {:<5} {:<40} {:>8.3f} {:>10} {:>9} {:>11}  {}{}\n", m.run, m.spec.id,
             describe(m.spec), r.seconds,
             grouped(per_second(static_cast<double>(records), r.seconds)), grouped(r.outputs),
             m.ratio ? fmt::format("{}/{} {:.3f}", m.spec.id, m.spec.ratio_to, *m.ratio)
                     : std::string("-"),
             detail, problems);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "streamframe windows benchmark on a real Kafka broker: tumbling mean vs a stateless "
      "pipeline, hopping windows of 1, 10 and 100 steps"};
  std::string brokers;
  std::uint64_t records = 1'000'000;
  int partitions = 4;
  int t_keys = 10'000;
  std::int64_t t_per_ms = 100;
  std::int64_t t_window_ms = 1000;
  int h_keys = 100;
  std::int64_t h_per_ms = 10;
  std::int64_t h_step_ms = 100;
  int runs = 3;
  std::vector<std::string> only{"d", "t", "h1", "h10", "h100"};
  std::string results_file = std::string(STREAMFRAME_SOURCE_DIR) + "/bench/results/windows.jsonl";
  std::uint64_t seed = 42;
  bool keep_topics = false;
  bool check = true;
  int warmup = 1;
  std::string broker_pid;
  double pause_s = 5.0;
  std::string state_root;
  double stall_ms = 5;
  cli.add_option("--brokers", brokers, "bootstrap servers, host:port[,host:port]")->required();
  cli.add_option("--records", records, "data records per input topic (N)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000}));
  cli.add_option("--partitions", partitions, "partitions of the inputs and outputs")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cli.add_option("--t-keys", t_keys, "input T (cases d, t): distinct keys")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  cli.add_option("--t-per-ms", t_per_ms,
                 "input T: data records per millisecond of event time (over all keys)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000}));
  cli.add_option("--t-window-ms", t_window_ms, "case t: tumbling window duration")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{86'400'000}));
  cli.add_option("--h-keys", h_keys, "input H (cases h1, h10, h100): distinct keys")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  cli.add_option("--h-per-ms", h_per_ms, "input H: data records per millisecond of event time")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000}));
  cli.add_option("--h-step-ms", h_step_ms, "cases h1, h10, h100: step; duration = 1, 10, 100 steps")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{86'400'000}));
  cli.add_option("--runs", runs, "measurements of each case")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cli.add_option("--only", only, "cases: d, t, h1, h10, h100")
      ->delimiter(',')
      ->check(CLI::IsMember({"d", "t", "h1", "h10", "h100"}))
      ->capture_default_str();
  cli.add_option("--warmup", warmup, "untimed passes of case (d) before the runs")
      ->capture_default_str()
      ->check(CLI::Range(0, 10));
  cli.add_option("--pause", pause_s, "seconds to let the machine settle between cases")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  cli.add_option("--state-dir", state_root,
                 "where the applications keep their state (default /tmp/streamframe-bench-windows-"
                 "<id>; deleted at the end)");
  cli.add_option("--results-file", results_file, "JSON lines appended here ('' = none)")
      ->capture_default_str();
  cli.add_option("--stall-ms", stall_ms,
                 "gaps of at least this many ms between two processed input records are counted "
                 "as stalls (0 = off: no clock read per record)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60000.0));
  cli.add_option("--seed", seed, "data generator seed")->capture_default_str();
  cli.add_flag("--keep-topics", keep_topics, "do not delete the bench topics at the end");
  cli.add_flag("!--no-check", check, "do not read the window outputs back to check their values");
  cli.add_option("--broker-pid", broker_pid,
                 "pid of a local broker: its CPU time is recorded, and what neither it nor the "
                 "bench used is reported as other load");
  std::vector<std::string> app_consumer_config;
  std::vector<std::string> app_producer_config;
  const auto key_value = [](const std::string& s) {
    return s.find('=') == std::string::npos || s.front() == '=' ? "expected key=value"
                                                                : std::string();
  };
  cli.add_option("--app-consumer-config", app_consumer_config,
                 "extra librdkafka consumer settings for the applications")
      ->delimiter(',')
      ->check(key_value);
  cli.add_option("--app-producer-config", app_producer_config,
                 "extra librdkafka producer settings for the applications")
      ->delimiter(',')
      ->check(key_value);
  CLI11_PARSE(cli, argc, argv);

  const std::string agg_t = "agg mean(v)";
  const std::string agg_h = "agg count()";
  std::vector<CaseSpec> all{
      {"d", 't', Kind::stateless, 0, 0, "", ""},
      {"t", 't', Kind::tumbling, t_window_ms, t_window_ms, agg_t, "d"},
      {"h1", 'h', Kind::tumbling, h_step_ms, h_step_ms, agg_h, ""},
      {"h10", 'h', Kind::hopping, 10 * h_step_ms, h_step_ms, agg_h, "h1"},
      {"h100", 'h', Kind::hopping, 100 * h_step_ms, h_step_ms, agg_h, "h1"},
  };
  std::vector<CaseSpec> cases;
  for (const auto& c : all) {
    if (std::find(only.begin(), only.end(), c.id) != only.end()) cases.push_back(c);
  }
  const auto wanted_input = [&](char id) {
    return std::any_of(cases.begin(), cases.end(), [&](const auto& c) { return c.input == id; });
  };

  RunContext ctx;
  for (const auto& kv : app_consumer_config) {
    ctx.consumer_extra[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  }
  for (const auto& kv : app_producer_config) {
    ctx.producer_extra[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  }
  ctx.partitions = partitions;
  ctx.machine = machine_info();
  ctx.load_1m = load_average_1m();
  const std::string git = std::string("git -C '") + STREAMFRAME_SOURCE_DIR + "' ";
  ctx.commit = command_output(git + "rev-parse --short HEAD 2>/dev/null");
  if (ctx.commit.empty()) ctx.commit = "unknown";
  ctx.dirty = !command_output(git + "status --porcelain --untracked-files=no 2>/dev/null").empty();

  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const std::string run_id = fmt::format("{}-{}", now_s, getpid());
  const std::string prefix = fmt::format("bench-windows-{}", run_id);
  Env env;
  env.brokers = brokers;
  env.broker_pid = broker_pid;
  env.consumer_extra = ctx.consumer_extra;
  env.producer_extra = ctx.producer_extra;
  env.stall_threshold = std::chrono::microseconds(std::llround(stall_ms * 1000));
  env.state_root = state_root.empty()
                       ? std::filesystem::path("/tmp/streamframe-bench-windows-" + run_id)
                       : std::filesystem::path(state_root) / run_id;

  // Event time starts an hour ago, on a whole minute, so that the broker's time-based retention
  // keeps the data; windows are aligned to the epoch (WIN-02), hence to the start.
  const std::int64_t base_ts = (now_s - 3600) / 60 * 60 * 1000;
  const auto make_input = [&](char id, int keys, std::int64_t per_ms, std::int64_t longest_ms) {
    InputSpec in;
    in.id = id;
    in.topic = fmt::format("{}-{}-in", prefix, id);
    in.records = records;
    in.keys = keys;
    in.per_ms = per_ms;
    in.base_ts = base_ts;
    in.seed = seed;
    // Closes every window holding data: end + grace <= T for end <= last_ts + duration.
    in.closing_ts = in.last_data_ts() + longest_ms + 1;
    return in;
  };
  std::map<char, InputSpec> inputs;
  inputs['t'] = make_input('t', t_keys, t_per_ms, t_window_ms);
  inputs['h'] = make_input('h', h_keys, h_per_ms, 100 * h_step_ms);

  std::vector<std::string> topics;
  std::vector<std::string> lines;
  int failures = 0;

  try {
    Admin admin(brokers);
    fmt::print(stderr, "streamframe windows bench: broker {}, commit {}{}, librdkafka {}\n",
               brokers, ctx.commit, ctx.dirty ? " (+ uncommitted changes)" : "",
               rd_kafka_version_str());
    if (ctx.load_1m > 0.5) {
      fmt::print(stderr, "warning: load average {:.2f} before the bench; numbers may be noisy\n",
                 ctx.load_1m);
    }

    // Inputs, and what each case must output.
    std::map<char, double> value_bytes;
    for (auto& [id, in] : inputs) {
      if (!wanted_input(id)) continue;
      topics.push_back(in.topic);
      admin.create_topics({in.topic}, partitions);
      std::uint64_t bytes = 0;
      const double s = produce_records(
          brokers, in.topic, 0, in.total(),
          [&in = in](std::uint64_t i, std::string& k, std::string& v, std::int64_t& ts) {
            in.make(i, k, v, ts);
          },
          &bytes);
      if (const auto n = admin.record_count(in.topic, partitions); n != in.total()) {
        throw BenchError(
            fmt::format("input {} holds {} records, expected {}", in.topic, n, in.total()));
      }
      value_bytes[id] = static_cast<double>(bytes) / static_cast<double>(in.total());
      fmt::print(stderr, "  input {}: {} records in {:.1f} s\n", id, grouped(in.total()), s);
    }
    std::map<std::string, Expected> expected;
    for (const auto& c : cases) {
      expected[c.id] = expected_outputs(inputs[c.input], c, check && c.id == "t");
    }

    fmt::print("\nstreamframe windows: {} partitions, at_least_once, commit interval 5 s\n",
               partitions);
    for (const auto& [id, in] : inputs) {
      if (!wanted_input(id)) continue;
      fmt::print(
          "input {}: {} records {{\"v\":<number>}} (~{:.0f} B) keyed {}0..{}{}, {} per ms of "
          "event time ({:.1f} s), then {} closing records (one per key, {} ms later)\n",
          id, grouped(in.records), value_bytes[id], in.key_prefix(), in.key_prefix(), in.keys - 1,
          in.per_ms, static_cast<double>(in.last_data_ts() - in.base_ts + 1) / 1000.0,
          grouped(in.keys), in.closing_ts - in.last_data_ts());
    }
    for (const auto& c : cases) {
      fmt::print("case {:<5} {} on input {}: {} outputs expected\n", c.id, describe(c), c.input,
                 grouped(expected[c.id].outputs));
    }
    for (const auto& [what, kv] :
         {std::pair{"consumer", &ctx.consumer_extra}, std::pair{"producer", &ctx.producer_extra}}) {
      if (kv->empty()) continue;
      std::string text;
      for (const auto& [k, v] : *kv) text += fmt::format("{}{}={}", text.empty() ? "" : ",", k, v);
      fmt::print("app {} config: {}\n", what, text);
    }
    fmt::print("commit {}{}, {} x {}, {:.1f} GB, librdkafka {}\n\n", ctx.commit,
               ctx.dirty ? "+dirty" : "", ctx.machine.nproc, ctx.machine.model, ctx.machine.mem_gb,
               rd_kafka_version_str());
    std::fflush(stdout);

    // Warm-up: the stateless case over input T, untimed (the fresh broker's JIT, the page cache).
    if (wanted_input('t')) {
      for (int w = 1; w <= warmup; ++w) {
        const std::string out = fmt::format("{}-warmup{}-out", prefix, w);
        topics.push_back(out);
        admin.create_topics({out}, partitions);
        const CaseResult r =
            run_case(env, all[0], inputs['t'], out, fmt::format("{}-warmup{}", prefix, w),
                     partitions, inputs['t'].total());
        fmt::print(stderr, "  warm-up {}: {:.2f} s\n", w, r.seconds);
      }
    }

    print_header();
    std::vector<Measurement> measurements;
    for (int run = 1; run <= runs; ++run) {
      std::map<std::string, std::string> out_topics;
      std::vector<std::string> new_topics;
      for (const auto& c : cases) {
        out_topics[c.id] = fmt::format("{}-run{}-{}-out", prefix, run, c.id);
        new_topics.push_back(out_topics[c.id]);
        topics.push_back(out_topics[c.id]);
      }
      admin.create_topics(new_topics, partitions);
      std::map<std::string, double> seconds;
      for (const auto& c : cases) {
        std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
        const std::string group = fmt::format("{}-run{}-{}", prefix, run, c.id);
        Measurement m;
        m.run = run;
        m.spec = c;
        m.input = &inputs[c.input];
        try {
          m.result = run_case(env, c, inputs[c.input], out_topics[c.id], group, partitions,
                              expected[c.id].outputs);
          m.result.outputs = admin.record_count(out_topics[c.id], partitions);
          if (check && c.kind != Kind::stateless) {
            m.result.value_check =
                check_values(brokers, out_topics[c.id], partitions, c, expected[c.id]);
          }
        } catch (const std::exception& e) {
          ++failures;
          fmt::print("{:>3}  {:<5} {:<40} FAILED: {}\n", run, c.id, describe(c), e.what());
          std::fflush(stdout);
          continue;
        }
        if (!m.result.ok()) ++failures;
        seconds[c.id] = m.result.seconds;
        if (!c.ratio_to.empty() && seconds.count(c.ratio_to)) {
          m.ratio = seconds[c.ratio_to] / m.result.seconds;  // same input size: throughput ratio
        }
        print_row(m);
        lines.push_back(json_line(m, ctx));
        measurements.push_back(m);
      }
    }

    // Medians over the runs: throughput per case, and the within-run ratios, over all runs and
    // over the runs in which neither case of the ratio was NOISY.
    fmt::print("\nmedian of {} run(s)\n", runs);
    const auto runs_of = [](const std::vector<double>& v) {
      std::string s;
      for (double x : v) s += fmt::format("{}{:.3f}", s.empty() ? "" : ", ", x);
      return s;
    };
    for (const auto& c : cases) {
      std::vector<double> secs;
      std::vector<double> ratios;
      std::vector<double> quiet;
      std::set<std::uint64_t> outputs;
      for (const auto& m : measurements) {
        if (m.spec.id != c.id) continue;
        secs.push_back(m.result.seconds);
        outputs.insert(m.result.outputs);
        if (!m.ratio) continue;
        ratios.push_back(*m.ratio);
        const auto base = std::find_if(measurements.begin(), measurements.end(), [&](auto& b) {
          return b.run == m.run && b.spec.id == c.ratio_to;
        });
        if (!m.result.cpu.noisy() && base != measurements.end() && !base->result.cpu.noisy()) {
          quiet.push_back(*m.ratio);
        }
      }
      if (secs.empty()) continue;
      const double s = median(secs);
      const std::uint64_t total = inputs[c.input].total();
      std::string ratio;
      if (!ratios.empty()) {
        ratio = fmt::format("{}/{} {:.3f} ({})", c.id, c.ratio_to, median(ratios), runs_of(ratios));
        if (quiet.size() != ratios.size()) {
          ratio += quiet.empty() ? std::string("; no run without NOISY")
                                 : fmt::format("; without NOISY runs {:.3f} ({})", median(quiet),
                                               runs_of(quiet));
        }
      }
      std::string outs = grouped(*outputs.begin());
      if (outputs.size() > 1) {
        outs = "DIFFER between runs:";
        for (auto n : outputs) outs += " " + grouped(n);
        ++failures;
      }
      fmt::print("     {:<5} {:<40} {:>8.3f} {:>10} records/s, {} outputs  {}\n", c.id, describe(c),
                 s, grouped(per_second(static_cast<double>(total), s)), outs, ratio);
    }
    fmt::print(
        "\n(seconds: first input record processed -> the group's committed input offsets reach the "
        "input's size; records/s = input records (data + closing) / seconds; x/y = (y) seconds / "
        "(x) seconds in the same run)\n");
    std::fflush(stdout);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    ++failures;
  }
  std::fflush(stdout);
  append_lines(results_file, lines, failures);
  if (!keep_topics) {
    try {
      Admin admin(brokers);
      // The changelogs of the window stores: changelog__<group>--<input>--<store>.
      for (auto& t : admin.topics_with_prefix("changelog__" + prefix)) topics.push_back(t);
      admin.delete_topics(topics);
    } catch (const std::exception& e) {
      fmt::print(stderr, "warning: deleting the bench topics: {}\n", e.what());
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(env.state_root, ec);
  return failures == 0 ? 0 : 1;
}
