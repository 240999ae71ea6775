// What the benchmark programs share beyond bench_util.hpp, around the cases they measure: the
// options every program takes, where a run comes from (commit, machine, load), the fields every
// results line has, running one streamframe application over a whole input until its consumer
// group's committed offsets reach the input's size, the within-run ratio summaries, and the end
// of a bench (results file, topics, state). Header-only: each program is one translation unit.
#pragma once

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "streamframe/streamframe.hpp"

#ifndef STREAMFRAME_SOURCE_DIR
#define STREAMFRAME_SOURCE_DIR "."
#endif

namespace streamframe::bench {

using KeyValues = std::map<std::string, std::string>;

// A case's watcher is armed this many input records before the end.
constexpr std::uint64_t k_arm_before_end = 2000;

// ---------------------------------------------------------------------------------------------
// Options

// --broker-pid, --app-consumer-config and --app-producer-config, the last options of every
// program; the help texts of the latter two say which applications get the settings.
inline void add_client_options(CLI::App& cli, std::string& broker_pid,
                               std::vector<std::string>& app_consumer_config,
                               std::vector<std::string>& app_producer_config,
                               const std::string& consumer_help, const std::string& producer_help) {
  cli.add_option("--broker-pid", broker_pid,
                 "pid of a local broker: its CPU time is recorded, and what neither it nor the "
                 "bench used is reported as other load");
  const auto key_value = [](const std::string& s) {
    return s.find('=') == std::string::npos || s.front() == '=' ? "expected key=value"
                                                                : std::string();
  };
  cli.add_option("--app-consumer-config", app_consumer_config, consumer_help)
      ->delimiter(',')
      ->check(key_value);
  cli.add_option("--app-producer-config", app_producer_config, producer_help)
      ->delimiter(',')
      ->check(key_value);
}

// "key=value" strings (checked by add_client_options) as a map.
inline KeyValues key_values(const std::vector<std::string>& settings) {
  KeyValues kv;
  for (const auto& s : settings) kv[s.substr(0, s.find('='))] = s.substr(s.find('=') + 1);
  return kv;
}

// ---------------------------------------------------------------------------------------------
// Where a run comes from

struct Provenance {
  std::string commit;
  bool dirty = false;
  Machine machine;
  double load_1m = 0;
};

// The checkout's commit (read at run time from STREAMFRAME_SOURCE_DIR), the machine, the load.
inline void read_provenance(Provenance& p) {
  p.machine = machine_info();
  p.load_1m = load_average_1m();
  const std::string git = std::string("git -C '") + STREAMFRAME_SOURCE_DIR + "' ";
  p.commit = command_output(git + "rev-parse --short HEAD 2>/dev/null");
  if (p.commit.empty()) p.commit = "unknown";
  p.dirty = !command_output(git + "status --porcelain --untracked-files=no 2>/dev/null").empty();
}

inline std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Names this run's topics, groups and state apart from any other's: "<seconds>-<pid>".
inline std::string make_run_id(std::int64_t now_s) {
  return fmt::format("{}-{}", now_s, getpid());
}

// On stderr: what runs against which broker, and a warning when the machine is busy already.
inline void print_banner(const std::string& bench, const std::string& brokers,
                         const Provenance& p) {
  fmt::print(stderr, "streamframe {} bench: broker {}, commit {}{}, librdkafka {}\n", bench,
             brokers, p.commit, p.dirty ? " (+ uncommitted changes)" : "", rd_kafka_version_str());
  if (p.load_1m > 0.5) {
    fmt::print(stderr, "warning: load average {:.2f} before the bench; numbers may be noisy\n",
               p.load_1m);
  }
}

// "commit <hash>[+dirty], <n> x <cpu model>, <mem> GB, librdkafka <version>".
inline std::string provenance_text(const Provenance& p) {
  return fmt::format("commit {}{}, {} x {}, {:.1f} GB, librdkafka {}", p.commit,
                     p.dirty ? "+dirty" : "", p.machine.nproc, p.machine.model, p.machine.mem_gb,
                     rd_kafka_version_str());
}

// ---------------------------------------------------------------------------------------------
// Results lines

// The fields every results line starts with; `ratios` stand between records_per_s and commit.
inline Object line_head(const std::string& bench, const std::string& case_id, std::uint64_t records,
                        double seconds, std::vector<std::pair<std::string, Value>> ratios,
                        const Provenance& p, const std::string& date) {
  Object line{
      {"bench", Value(bench)},
      {"case", Value(case_id)},
      {"records", Value(static_cast<long long>(records))},
      {"seconds", Value(round_to(seconds, 6))},
      {"records_per_s",
       Value(static_cast<long long>(per_second(static_cast<double>(records), seconds)))},
  };
  for (auto& [key, value] : ratios) line.set(key, std::move(value));
  line.set("commit", Value(p.commit));
  line.set("date", Value(date));
  line.set("machine", Value(Object{{"nproc", Value(static_cast<long long>(p.machine.nproc))},
                                   {"model", Value(p.machine.model)},
                                   {"mem_gb", Value(p.machine.mem_gb)}}));
  return line;
}

// The CPU use of the case and the load around it.
inline void set_cpu_fields(Object& line, const CpuUse& cpu) {
  line.set("cpu", cpu_json(cpu));
  line.set("noisy", Value(cpu.noisy()));
  line.set("load_1m_before", Value(round_to(cpu.load_1m_before, 2)));
  line.set("load_1m_after", Value(round_to(cpu.load_1m_after, 2)));
}

// The extra client settings the applications ran with, when there were any.
inline void set_app_config_fields(Object& line, const KeyValues& consumer,
                                  const KeyValues& producer) {
  const auto settings = [](const KeyValues& kv) {
    Object o;
    for (const auto& [k, v] : kv) o.set(k, Value(v));
    return Value(std::move(o));
  };
  if (!consumer.empty()) line.set("app_consumer_config", settings(consumer));
  if (!producer.empty()) line.set("app_producer_config", settings(producer));
}

// The fields every results line ends with.
inline void set_tail_fields(Object& line, const Provenance& p) {
  line.set("dirty", Value(p.dirty));
  line.set("load_1m", Value(p.load_1m));
  line.set("librdkafka", Value(rd_kafka_version_str()));
}

// ---------------------------------------------------------------------------------------------
// One application over a whole input

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"); 0 when unreadable.
inline std::uint64_t proc_status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0)
      return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return 0;
}

// Starts measuring the process's peak memory afresh: what malloc keeps of earlier phases goes
// back to the system, and the kernel's peak (VmHWM) is reset to the current RSS. Returns that
// RSS in KiB.
inline std::uint64_t reset_peak_rss() {
  (void)malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";
  return proc_status_kib("VmRSS");
}

struct AppEnv {
  std::string brokers;
  std::string broker_pid;
  std::filesystem::path state_root;
  KeyValues consumer_extra;
  KeyValues producer_extra;
  std::chrono::microseconds stall_threshold{5000};
  std::size_t state_memory_budget = 0;  // 0 = the library's default
};

struct AppCase {
  std::string input;
  std::string output;
  std::string group;
  int partitions = 1;
  std::uint64_t records = 0;  // in the input
  ProcessingGuarantee guarantee = ProcessingGuarantee::at_least_once;
  std::optional<std::chrono::milliseconds> commit_interval;  // unset: the library's default
  // run() with this idle timeout and count; with stop_after_last, app.stop() right after the
  // last input record instead (the final checkpoint follows).
  std::chrono::milliseconds timeout{60000};
  std::uint64_t count = 0;
  bool stop_after_last = false;
};

struct AppCaseResult {
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
  // Gaps of at least the stall threshold between two consecutive processed input records
  // (checkpoints, waits for input): how long the pipeline stood still.
  std::uint64_t stalls = 0;
  double stall_seconds = 0;
  double longest_stall = 0;
  // How far the process's RSS rose above what it was when the application was made, at its
  // peak (the application's state, clients and buffers; the bench's own data was already
  // resident).
  double peak_rss_growth_mib = 0;
  CpuUse cpu;
  bool ok() const { return outputs == outputs_expected; }
  std::uint64_t changelog_records() const {
    return records_produced - std::min(records_produced, outputs_expected);
  }
};

using BuildPipeline = std::function<void(Application&, const Topic& in, const Topic& out)>;

// Runs the application `build` makes over the whole input (fresh state directory under the
// env's state root, deleted afterwards). The end of the measurement is seen from outside, when
// the group's committed input offsets reach the input's size.
inline AppCaseResult run_app_case(const AppEnv& env, const AppCase& c,
                                  std::uint64_t outputs_expected, const BuildPipeline& build) {
  const std::filesystem::path state_dir = env.state_root / c.group;
  const std::uint64_t records = c.records;
  CommitWatcher watcher(env.brokers, c.group, c.input, c.partitions,
                        static_cast<std::int64_t>(records));
  std::uint64_t processed = 0;
  Clock::time_point first{};
  Clock::time_point last{};
  Clock::time_point previous{};
  const std::uint64_t mark = records > k_arm_before_end ? records - k_arm_before_end : 1;
  Application* app_ptr = nullptr;

  const std::uint64_t rss_before_kib = reset_peak_rss();
  CpuMeter meter(env.broker_pid);
  AppCaseResult result;
  result.outputs_expected = outputs_expected;
  {
    ApplicationConfig config;
    config.broker_address = env.brokers;
    config.consumer_group = c.group;
    config.state_dir = state_dir.string();
    config.auto_offset_reset = AutoOffsetReset::earliest;
    config.processing_guarantee = c.guarantee;
    if (c.commit_interval) config.commit_interval = *c.commit_interval;
    config.loglevel = "WARNING";
    config.install_signal_handlers = false;
    config.consumer_extra_config = env.consumer_extra;
    config.producer_extra_config = env.producer_extra;
    if (env.state_memory_budget > 0) config.state_memory_budget = env.state_memory_budget;
    const bool stalls = env.stall_threshold.count() > 0;
    const bool stop_after_last = c.stop_after_last;
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
        if (stop_after_last && processed == records) app_ptr->stop();
      }
    };
    Application app(std::move(config));
    app_ptr = &app;
    TopicOptions topic_options;
    topic_options.config = TopicConfig{.num_partitions = c.partitions};
    const Topic in = app.topic(c.input, topic_options);
    const Topic out = app.topic(c.output, topic_options);
    build(app, in, out);
    app.run({.timeout = c.timeout, .count = c.count, .collect = false});
    const auto returned = Clock::now();
    const RunStats stats = app.stats();
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
    const std::uint64_t peak_kib = proc_status_kib("VmHWM");
    result.peak_rss_growth_mib =
        static_cast<double>(peak_kib - std::min(peak_kib, rss_before_kib)) / 1024.0;
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

// How the measurement ended, and the checkpoints (results line fields).
inline void set_end_fields(Object& line, const AppCaseResult& r) {
  line.set("end_by", Value(r.end_by));
  line.set("peak_rss_growth_mib", Value(round_to(r.peak_rss_growth_mib, 1)));
  if (r.committed) line.set("seconds_committed", Value(round_to(*r.committed, 6)));
  if (r.last_processed) line.set("seconds_last_processed", Value(round_to(*r.last_processed, 6)));
  if (r.run_returned) line.set("seconds_run_returned", Value(round_to(*r.run_returned, 6)));
  line.set("checkpoints", Value(static_cast<long long>(r.checkpoints)));
}

inline void set_stall_fields(Object& line, const AppCaseResult& r) {
  line.set("stalls", Value(static_cast<long long>(r.stalls)));
  line.set("stall_seconds", Value(round_to(r.stall_seconds, 4)));
  line.set("longest_stall_s", Value(round_to(r.longest_stall, 4)));
}

// A result row's detail: the other instants relative to the end of the measurement, the
// checkpoints and stalls, and (`changelog`) the changelog records the case wrote.
inline std::string app_case_detail(const AppCaseResult& r, bool changelog) {
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
  if (changelog) detail += fmt::format(", {} changelog records", grouped(r.changelog_records()));
  return detail;
}

// ---------------------------------------------------------------------------------------------
// Summaries

// The median of a within-run ratio and its runs, "1.234 (1.200, 1.234, 1.300)", and when some
// runs were NOISY, the median over the others.
inline std::string ratio_summary(const std::vector<double>& all, const std::vector<double>& quiet) {
  const auto runs_of = [](const std::vector<double>& v) {
    std::string s;
    for (double x : v) s += fmt::format("{}{:.3f}", s.empty() ? "" : ", ", x);
    return s;
  };
  std::string text = fmt::format("{:.3f} ({})", median(all), runs_of(all));
  if (quiet.size() != all.size()) {
    text += quiet.empty()
                ? std::string("; no run without NOISY")
                : fmt::format("; without NOISY runs {:.3f} ({})", median(quiet), runs_of(quiet));
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// The end of a bench

// Appends the results lines, deletes the bench's topics unless they are kept (with those whose
// names start with `topic_prefix`, when given: topics the applications created) and the state
// root (when given). Returns main's exit status.
inline int finish_bench(const std::string& results_file, const std::vector<std::string>& lines,
                        int failures, bool keep_topics, const std::string& brokers,
                        std::vector<std::string> topics, const std::string& topic_prefix = "",
                        const std::filesystem::path& state_root = {}) {
  std::fflush(stdout);
  append_lines(results_file, lines, failures);
  if (!keep_topics) {
    try {
      Admin admin(brokers);
      if (!topic_prefix.empty()) {
        for (auto& t : admin.topics_with_prefix(topic_prefix)) topics.push_back(t);
      }
      admin.delete_topics(topics);
    } catch (const std::exception& e) {
      fmt::print(stderr, "warning: deleting the bench topics: {}\n", e.what());
    }
  }
  if (!state_root.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(state_root, ec);
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace streamframe::bench
