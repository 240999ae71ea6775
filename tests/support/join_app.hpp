// Running tests/apps/join_app (an as-of and an interval join of two topics) as a child process
// against a real broker, and the data contract the joins' exactly-once test judges it by.
//
// Input: per key, left records {"l": <id>} at even timestamps and right records {"r": <id>}
// at odd ones, 20 ms apart per side with a jitter below 10 ms, so a key's records of one side
// are in timestamp order and no left and right record share a timestamp. Each side is produced
// in timestamp order over all keys, so every partition is too, and the application (which
// reads the two topics in timestamp order, KAF-04) processes the records of a key in
// timestamp order whatever its restarts: the joins' outputs are then determined.
//
// Outputs, value {"l": <id>, "r": <id>} with the left record's key:
//   as-of: for each left record, the right record of its key with the largest timestamp below
//          it (none: no output), message timestamp = the left record's;
//   interval: each pair of a key with left_ts - backward <= right_ts <= left_ts + forward,
//          message timestamp = the later of the two (the arrival that made the pair).
//
// Outputs are parsed with simdjson, not with the library under test.
#pragma once

#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "support/app_process.hpp"
#include "support/child_process.hpp"
#include "support/eos_observer.hpp"  // RawOutput

#ifndef STREAMFRAME_JOIN_APP
#error "STREAMFRAME_JOIN_APP (path of streamframe_join_app) is set by tests/apps/CMakeLists.txt"
#endif

namespace streamframe::test {

struct JoinParams {
  std::string right;        // the right input topic (StatefulAppOptions::input is the left)
  std::string asof_output;  // StatefulAppOptions::output is the interval join's
  std::int64_t backward_ms = 0;
  std::int64_t forward_ms = 0;
};

inline std::unique_ptr<ChildProcess> start_join_app(StatefulAppOptions o, const JoinParams& j,
                                                    const std::string& run_name) {
  const std::vector<std::string> args{"--right",       j.right,
                                      "--asof-output", j.asof_output,
                                      "--backward-ms", std::to_string(j.backward_ms),
                                      "--forward-ms",  std::to_string(j.forward_ms)};
  o.extra_args.insert(o.extra_args.end(), args.begin(), args.end());
  return start_stateful_app(STREAMFRAME_JOIN_APP, o, run_name);
}

struct JoinInput {
  std::string key;
  std::string field;  // "l" or "r"
  std::int64_t id = 0;
  std::int64_t timestamp = 0;
  std::string json() const { return "{\"" + field + "\":" + std::to_string(id) + "}"; }
};

struct JoinInputs {
  std::vector<JoinInput> left, right;  // each in timestamp order
};

inline JoinInputs make_join_inputs(int keys, int per_key, std::int64_t base_ms,
                                   std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  JoinInputs in;
  for (int k = 0; k < keys; ++k) {
    char name[16];
    std::snprintf(name, sizeof name, "key-%02d", k);
    for (int i = 0; i < per_key; ++i) {
      const std::int64_t slot = base_ms + 20 * static_cast<std::int64_t>(i);
      in.left.push_back({name, "l", 0, slot + 2 * static_cast<std::int64_t>(rng() % 5)});
      in.right.push_back({name, "r", 0, slot + 1 + 2 * static_cast<std::int64_t>(rng() % 5)});
    }
  }
  for (auto* side : {&in.left, &in.right}) {
    std::stable_sort(side->begin(), side->end(), [](const JoinInput& a, const JoinInput& b) {
      return a.timestamp < b.timestamp;
    });
    for (std::size_t i = 0; i < side->size(); ++i) (*side)[i].id = static_cast<std::int64_t>(i);
  }
  return in;
}

// (key, left id, right id) -> the output's message timestamp.
using JoinPairs = std::map<std::tuple<std::string, std::int64_t, std::int64_t>, std::int64_t>;

inline std::map<std::string, std::vector<const JoinInput*>> by_key(
    const std::vector<JoinInput>& side) {
  std::map<std::string, std::vector<const JoinInput*>> out;
  for (const auto& r : side) out[r.key].push_back(&r);
  return out;
}

inline JoinPairs expected_asof(const JoinInputs& in) {
  JoinPairs out;
  auto rights = by_key(in.right);
  for (const auto& l : in.left) {
    const JoinInput* match = nullptr;
    for (const JoinInput* r : rights[l.key]) {
      if (r->timestamp < l.timestamp) match = r;  // a key's right records are in time order
    }
    if (match != nullptr) out[{l.key, l.id, match->id}] = l.timestamp;
  }
  return out;
}

inline JoinPairs expected_interval(const JoinInputs& in, const JoinParams& j) {
  JoinPairs out;
  auto rights = by_key(in.right);
  for (const auto& l : in.left) {
    for (const JoinInput* r : rights[l.key]) {
      if (r->timestamp >= l.timestamp - j.backward_ms &&
          r->timestamp <= l.timestamp + j.forward_ms) {
        out[{l.key, l.id, r->id}] = std::max(l.timestamp, r->timestamp);
      }
    }
  }
  return out;
}

struct JoinCheck {
  std::int64_t expected = 0, outputs = 0, malformed = 0, unexpected = 0, missing = 0,
               duplicates = 0, wrong_timestamps = 0;
  std::vector<std::string> examples;
  bool exactly_once() const {
    return malformed == 0 && unexpected == 0 && missing == 0 && duplicates == 0 &&
           wrong_timestamps == 0 && outputs == expected;
  }
  std::string summary() const {
    std::string s = "expected " + std::to_string(expected) + ", outputs " +
                    std::to_string(outputs) + ", malformed " + std::to_string(malformed) +
                    ", unexpected " + std::to_string(unexpected) + ", missing " +
                    std::to_string(missing) + ", duplicates " + std::to_string(duplicates) +
                    ", wrong timestamps " + std::to_string(wrong_timestamps);
    for (const auto& e : examples) s += "\n  " + e;
    return s;
  }
};

inline JoinCheck check_join_outputs(const JoinPairs& expected,
                                    const std::vector<RawOutput>& outputs) {
  JoinCheck c;
  c.expected = static_cast<std::int64_t>(expected.size());
  auto note = [&](const std::string& what) {
    if (c.examples.size() < 12) c.examples.push_back(what);
  };
  std::map<std::tuple<std::string, std::int64_t, std::int64_t>, int> seen;
  simdjson::dom::parser parser;
  for (const auto& o : outputs) {
    ++c.outputs;
    const std::string where =
        "partition " + std::to_string(o.partition) + " offset " + std::to_string(o.offset) + ": ";
    std::int64_t l = 0, r = 0;
    bool ok = o.key && o.value;
    if (ok) {
      try {
        simdjson::dom::element doc = parser.parse(*o.value);
        ok = doc["l"].is_int64() && doc["r"].is_int64() && doc.get_object().size() == 2;
        if (ok) {
          l = doc["l"].get_int64().value();
          r = doc["r"].get_int64().value();
        }
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok) {
      ++c.malformed;
      note(where + "malformed output " + o.value.value_or("<null>"));
      continue;
    }
    const auto id = std::make_tuple(*o.key, l, r);
    const auto it = expected.find(id);
    if (it == expected.end()) {
      ++c.unexpected;
      note(where + "unexpected pair " + *o.value + " (key " + *o.key + ")");
      continue;
    }
    if (++seen[id] > 1) {
      ++c.duplicates;
      note(where + "duplicate pair " + *o.value + " (key " + *o.key + ")");
    }
    if (o.timestamp != it->second) {
      ++c.wrong_timestamps;
      note(where + "pair " + *o.value + " at " + std::to_string(o.timestamp) + ", expected " +
           std::to_string(it->second));
    }
  }
  for (const auto& [id, ts] : expected) {
    if (seen.count(id) == 0 && ++c.missing <= 8) {
      note("missing pair key " + std::get<0>(id) + " l " + std::to_string(std::get<1>(id)) + " r " +
           std::to_string(std::get<2>(id)));
    }
  }
  return c;
}

}  // namespace streamframe::test
