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

#include "bench_driver.hpp"
#include "bench_util.hpp"
#include "streamframe/streamframe.hpp"

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

// A window case also reads its outputs back: the problems found, empty = all as expected.
struct CaseResult : AppCaseResult {
  std::optional<std::string> value_check;
  bool ok() const { return AppCaseResult::ok() && (!value_check || value_check->empty()); }
};

// Runs one case over the whole input and stops the application right after its last input
// record (app.stop() from the processed callback: the final checkpoint follows). The end of the
// measurement is seen from outside, when the group's committed input offsets reach the input's
// size.
CaseResult run_case(const AppEnv& env, const CaseSpec& spec, const InputSpec& input,
                    const std::string& output, const std::string& group, int partitions,
                    std::uint64_t outputs_expected) {
  AppCase c;
  c.input = input.topic;
  c.output = output;
  c.group = group;
  c.partitions = partitions;
  c.records = input.total();
  c.timeout = std::chrono::seconds(60);
  c.stop_after_last = true;
  CaseResult result;
  static_cast<AppCaseResult&>(result) =
      run_app_case(env, c, outputs_expected,
                   [&](sf::Application& app, const sf::Topic& in, const sf::Topic& out) {
                     build_pipeline(app, in, out, spec);
                   });
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

struct RunContext : Provenance {
  int partitions = 0;
  std::size_t memory_budget_mib = 0;  // 0 = the library's default
  KeyValues consumer_extra;
  KeyValues producer_extra;
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
  sf::Object line =
      line_head("windows", m.spec.id, records, r.seconds,
                {{"ratio", m.ratio ? Value(round_to(*m.ratio, 4)) : Value()},
                 {"ratio_vs", m.spec.ratio_to.empty() ? Value() : Value(m.spec.ratio_to)}},
                ctx, iso8601_utc_now());
  line.set("run", Value(m.run));
  line.set("partitions", Value(ctx.partitions));
  if (ctx.memory_budget_mib > 0) {
    line.set("state_memory_budget_mib", Value(static_cast<long long>(ctx.memory_budget_mib)));
  }
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
  set_end_fields(line, r);
  line.set("changelog_records", Value(static_cast<long long>(r.changelog_records())));
  set_stall_fields(line, r);
  set_cpu_fields(line, r.cpu);
  set_app_config_fields(line, ctx.consumer_extra, ctx.producer_extra);
  set_tail_fields(line, ctx);
  return Value(std::move(line)).to_json();
}

void print_header() {
  fmt::print("{:>3}  {:<5} {:<40} {:>8} {:>10} {:>9} {:>11}  {}\n", "run", "case", "what",
             "seconds", "records/s", "outputs", "ratio", "detail");
}

void print_row(const Measurement& m) {
  const auto& r = m.result;
  std::string detail = app_case_detail(r, m.spec.kind != Kind::stateless);
  if (r.null_keys_skipped > 0) detail += fmt::format(", {} null keys", r.null_keys_skipped);
  detail += "; " + cpu_text(r.cpu);
  detail += fmt::format("; peak RSS +{:.0f} MiB", r.peak_rss_growth_mib);
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
  std::size_t memory_budget_mib = 0;
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
  cli.add_option("--state-memory-budget-mib", memory_budget_mib,
                 "the applications' state_memory_budget in MiB (0 = the library's default)")
      ->capture_default_str();
  cli.add_option("--stall-ms", stall_ms,
                 "gaps of at least this many ms between two processed input records are counted "
                 "as stalls (0 = off: no clock read per record)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60000.0));
  cli.add_option("--seed", seed, "data generator seed")->capture_default_str();
  cli.add_flag("--keep-topics", keep_topics, "do not delete the bench topics at the end");
  cli.add_flag("!--no-check", check, "do not read the window outputs back to check their values");
  std::vector<std::string> app_consumer_config;
  std::vector<std::string> app_producer_config;
  add_client_options(cli, broker_pid, app_consumer_config, app_producer_config,
                     "extra librdkafka consumer settings for the applications",
                     "extra librdkafka producer settings for the applications");
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
  ctx.consumer_extra = key_values(app_consumer_config);
  ctx.producer_extra = key_values(app_producer_config);
  ctx.partitions = partitions;
  ctx.memory_budget_mib = memory_budget_mib;
  read_provenance(ctx);

  const std::int64_t now_s = unix_seconds();
  const std::string run_id = make_run_id(now_s);
  const std::string prefix = fmt::format("bench-windows-{}", run_id);
  AppEnv env;
  env.brokers = brokers;
  env.broker_pid = broker_pid;
  env.consumer_extra = ctx.consumer_extra;
  env.producer_extra = ctx.producer_extra;
  env.stall_threshold = std::chrono::microseconds(std::llround(stall_ms * 1000));
  env.state_memory_budget = memory_budget_mib * 1024 * 1024;
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
    print_banner("windows", brokers, ctx);

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
    fmt::print("{}\n\n", provenance_text(ctx));
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
        ratio = fmt::format("{}/{} {}", c.id, c.ratio_to, ratio_summary(ratios, quiet));
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
  // The changelogs of the window stores: changelog__<group>--<input>--<store>.
  return finish_bench(results_file, lines, failures, keep_topics, brokers, topics,
                      "changelog__" + prefix, env.state_root);
}
