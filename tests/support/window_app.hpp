// Running tests/apps/window_app (per-key tumbling windows, sum and count, final(); see
// window_app.cpp) as a child process against a real broker, and the data contract the windows'
// exactly-once test judges it by: the input records it feeds, the windows they must produce
// and the check of the output topic against them.
//
// Input: JSON {"v": <int>, "k": "key-NN"} keyed by "key-NN", with an explicit message timestamp.
// Per key the timestamps start at a phase below one window and advance by `step_ms` with a jitter
// below `jitter_ms`, so records arrive out of order but never later than the grace allows when
// grace_ms >= jitter_ms - step_ms (closing by key) or grace_ms >= window_ms + jitter_ms
// (closing by partition: the keys' phases count too). Each key ends with one record far
// enough ahead (2 windows + grace) to close all of its windows; that record's own window
// stays open and must not appear, with either closing strategy.
//
// Output per closed window: key = the input key, message timestamp = window start,
// value {"sum": <sum of v>, "n": <records>, "start": <ms>, "end": <ms>}.
//
// Outputs are parsed with simdjson, not with the library under test.
#pragma once

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "support/app_process.hpp"
#include "support/child_process.hpp"
#include "support/eos_observer.hpp"  // RawOutput

#ifndef STREAMFRAME_WINDOW_APP
#error "STREAMFRAME_WINDOW_APP (path of streamframe_window_app) is set by tests/apps/CMakeLists.txt"
#endif

namespace streamframe::test {

inline std::string window_app_path() {
  return STREAMFRAME_WINDOW_APP;
}

// The window of the app (its own options, after the common ones).
struct WindowParams {
  std::int64_t window_ms = 1000;
  std::int64_t grace_ms = 0;
  std::string closing = "key";       // or "partition"
  std::int64_t idle_timeout_ms = 0;  // idle closing (EXT-02); 0 = off
};

inline std::vector<std::string> window_app_args(const WindowParams& w) {
  return {"--window-ms",       std::to_string(w.window_ms),
          "--grace-ms",        std::to_string(w.grace_ms),
          "--closing",         w.closing,
          "--idle-timeout-ms", std::to_string(w.idle_timeout_ms)};
}

// Starts the app with `w` appended to `o`'s arguments; its stdout and stderr go to
// <gtest temp dir>/<group>-<run_name>.log.
inline std::unique_ptr<ChildProcess> start_window_app(StatefulAppOptions o, const WindowParams& w,
                                                      const std::string& run_name) {
  const auto args = window_app_args(w);
  o.extra_args.insert(o.extra_args.end(), args.begin(), args.end());
  return start_stateful_app(window_app_path(), o, run_name);
}

// ---------------------------------------------------------------------------------------------
// Data

struct WindowInput {
  std::string key;
  std::int64_t v = 0;
  std::int64_t timestamp = 0;  // the message timestamp, ms
  // The key is in the value too, for the app's --group-by (re-keying by "k" keeps the key).
  std::string json() const { return R"({"v":)" + std::to_string(v) + R"(,"k":")" + key + "\"}"; }
};

struct WindowInputSpec {
  int keys = 32;
  std::int64_t records_per_key = 3125;
  std::int64_t base_ms = 0;  // timestamps start here (plus a per-key phase below the window)
  std::int64_t step_ms = 100;
  std::int64_t jitter_ms = 150;  // added to each timestamp: [0, jitter_ms)
  std::uint64_t seed = 1;
};

// The feed in produce order: round r holds record r of every key (keys shuffled per round),
// then one closing record per key at its largest timestamp + 2 windows + grace. Values are
// 1..1000 (the closing records: 0). Deterministic for a spec.
inline std::vector<WindowInput> make_window_inputs(const WindowInputSpec& s,
                                                   const WindowParams& w) {
  std::mt19937_64 rng(s.seed);
  std::vector<std::string> names;
  std::vector<std::int64_t> phase, max_ts;
  for (int k = 0; k < s.keys; ++k) {
    char name[16];
    std::snprintf(name, sizeof name, "key-%02d", k);
    names.emplace_back(name);
    phase.push_back(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(w.window_ms)));
    max_ts.push_back(0);
  }
  std::vector<WindowInput> out;
  out.reserve(static_cast<std::size_t>(s.keys * s.records_per_key + s.keys));
  std::vector<int> order(static_cast<std::size_t>(s.keys));
  std::iota(order.begin(), order.end(), 0);
  for (std::int64_t r = 0; r < s.records_per_key; ++r) {
    std::shuffle(order.begin(), order.end(), rng);
    for (int k : order) {
      const auto i = static_cast<std::size_t>(k);
      WindowInput in;
      in.key = names[i];
      in.v = 1 + static_cast<std::int64_t>(rng() % 1000);
      in.timestamp = s.base_ms + phase[i] + r * s.step_ms +
                     static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(s.jitter_ms));
      max_ts[i] = std::max(max_ts[i], in.timestamp);
      out.push_back(std::move(in));
    }
  }
  for (int k = 0; k < s.keys; ++k) {
    const auto i = static_cast<std::size_t>(k);
    out.push_back(WindowInput{names[i], 0, max_ts[i] + 2 * w.window_ms + w.grace_ms});
  }
  return out;
}

inline std::int64_t window_start(std::int64_t ts, std::int64_t window_ms) {
  return ts - ((ts % window_ms) + window_ms) % window_ms;
}

struct WindowResult {
  std::int64_t sum = 0;
  std::int64_t n = 0;
};
using WindowId = std::pair<std::string, std::int64_t>;  // (key, start)

// Every window that must close, with its result: all windows of the data records (the closing
// records, v = 0 and last per key, are left out; their windows stay open).
inline std::map<WindowId, WindowResult> expected_windows(const std::vector<WindowInput>& inputs,
                                                         const WindowParams& w) {
  std::map<std::string, std::int64_t> last_of;  // index of each key's closing record
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    last_of[inputs[i].key] = static_cast<std::int64_t>(i);
  }
  std::map<WindowId, WindowResult> out;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& in = inputs[i];
    if (last_of[in.key] == static_cast<std::int64_t>(i)) continue;
    auto& r = out[{in.key, window_start(in.timestamp, w.window_ms)}];
    r.sum += in.v;
    ++r.n;
  }
  return out;
}

// The result of judging the output topic against the expected windows.
struct WindowCheck {
  std::int64_t expected = 0;          // windows that must close
  std::int64_t outputs = 0;           // records read
  std::int64_t malformed = 0;         // no key or value, unparsable, fields missing
  std::int64_t unexpected = 0;        // (key, start) of no expected window
  std::int64_t missing = 0;           // expected windows without any output
  std::int64_t duplicates = 0;        // outputs beyond the first per window
  std::int64_t wrong_values = 0;      // outputs whose sum, n or end differ from the expected
  std::int64_t wrong_timestamps = 0;  // outputs whose message timestamp is not the start
  std::vector<std::string> examples;  // the first problems, for the failure message

  bool exactly_once() const {
    return malformed == 0 && unexpected == 0 && missing == 0 && duplicates == 0 &&
           wrong_values == 0 && wrong_timestamps == 0 && outputs == expected;
  }
  // Duplicates allowed, but every copy right.
  bool at_least_once() const {
    return malformed == 0 && unexpected == 0 && missing == 0 && wrong_values == 0 &&
           wrong_timestamps == 0;
  }
  std::string summary() const {
    std::string s = "expected windows " + std::to_string(expected) + ", outputs read " +
                    std::to_string(outputs) + ", malformed " + std::to_string(malformed) +
                    ", unexpected " + std::to_string(unexpected) + ", missing " +
                    std::to_string(missing) + ", duplicates " + std::to_string(duplicates) +
                    ", wrong values " + std::to_string(wrong_values) + ", wrong timestamps " +
                    std::to_string(wrong_timestamps);
    for (const auto& e : examples) s += "\n  " + e;
    return s;
  }
};

namespace detail {
// An integral JSON number (an integer, or a float with an integral value).
inline bool json_integer(simdjson::dom::element e, std::int64_t& out) {
  if (e.is_int64()) {
    out = e.get_int64().value();
    return true;
  }
  if (e.is_uint64()) {
    out = static_cast<std::int64_t>(e.get_uint64().value());
    return true;
  }
  if (e.is_double()) {
    const double d = e.get_double().value();
    if (std::nearbyint(d) != d) return false;
    out = static_cast<std::int64_t>(d);
    return true;
  }
  return false;
}
}  // namespace detail

inline WindowCheck check_window_outputs(const std::map<WindowId, WindowResult>& expected,
                                        const std::vector<RawOutput>& outputs,
                                        const WindowParams& w) {
  WindowCheck c;
  c.expected = static_cast<std::int64_t>(expected.size());
  std::size_t noted = 0;  // of the outputs' problems; missing windows get 8 more lines
  auto note = [&](const std::string& what) {
    if (noted++ < 12) c.examples.push_back(what);
  };
  std::map<WindowId, int> seen;
  simdjson::dom::parser parser;
  for (const auto& o : outputs) {
    ++c.outputs;
    const std::string where = "partition " + std::to_string(o.partition) + " offset " +
                              std::to_string(o.offset) + " timestamp " +
                              std::to_string(o.timestamp) + ": ";
    if (!o.value || !o.key) {
      ++c.malformed;
      note(where + "output without key or value");
      continue;
    }
    std::int64_t sum = 0, n = 0, start = 0, end = 0;
    bool ok = false;
    try {
      simdjson::dom::element doc = parser.parse(*o.value);
      ok = detail::json_integer(doc["sum"].value(), sum) &&
           detail::json_integer(doc["n"].value(), n) &&
           detail::json_integer(doc["start"].value(), start) &&
           detail::json_integer(doc["end"].value(), end);
    } catch (const std::exception&) {
      ok = false;
    }
    if (!ok) {
      ++c.malformed;
      note(where + "unparsable output " + *o.value + " (key " + *o.key + ")");
      continue;
    }
    const WindowId id{*o.key, start};
    const auto it = expected.find(id);
    if (it == expected.end()) {
      ++c.unexpected;
      note(where + "output " + *o.value + " (key " + *o.key + ") is no expected window");
      continue;
    }
    if (++seen[id] > 1) {
      ++c.duplicates;
      note(where + "duplicate output " + *o.value + " (key " + *o.key + ", copy " +
           std::to_string(seen[id]) + ")");
    }
    if (sum != it->second.sum || n != it->second.n || end != start + w.window_ms) {
      ++c.wrong_values;
      note(where + "output " + *o.value + " (key " + *o.key + ") should be sum " +
           std::to_string(it->second.sum) + " n " + std::to_string(it->second.n) + " end " +
           std::to_string(start + w.window_ms));
    }
    if (o.timestamp != start) {
      ++c.wrong_timestamps;
      note(where + "output " + *o.value + " (key " + *o.key +
           ") has a message timestamp other than its start");
    }
  }
  for (const auto& [id, r] : expected) {
    if (seen.count(id) == 0 && ++c.missing <= 8) {
      c.examples.push_back("no output for window key " + id.first + " start " +
                           std::to_string(id.second) + " (expected sum " + std::to_string(r.sum) +
                           " n " + std::to_string(r.n) + ")");
    }
  }
  return c;
}

}  // namespace streamframe::test
