// Running tests/apps/counter_app (a stateful word counter, see counter_app.cpp) as a child
// process against a real broker, and the data contract the state and exactly-once tests judge
// it by: the input records they feed, the outputs it writes and the checks over them.
//
// Input: JSON {"id": <int>, "words": [<string>...]} keyed by a string key. For every word of a
// record the app adds one to the state counter (key, word) and produces
// {"id": id, "word": word, "count": n} with the same key. Inputs with one key share a
// partition, so they are processed in their offset order: the output of (id, word) must carry
// the rank of that input among the inputs with that key containing that word (1, 2, 3...).
//
// Outputs are parsed with simdjson, not with the library under test.
#pragma once

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/app_process.hpp"
#include "support/child_process.hpp"
#include "support/eos_observer.hpp"  // RawOutput

#ifndef STREAMFRAME_COUNTER_APP
#error \
    "STREAMFRAME_COUNTER_APP (path of streamframe_counter_app) is set by tests/apps/CMakeLists.txt"
#endif

namespace streamframe::test {

inline std::string counter_app_path() {
  return STREAMFRAME_COUNTER_APP;
}

using CounterAppOptions = StatefulAppOptions;

inline std::vector<std::string> counter_app_argv(const CounterAppOptions& o) {
  return stateful_app_argv(counter_app_path(), o);
}

// Starts the app; its stdout and stderr go to <gtest temp dir>/<group>-<run_name>.log.
inline std::unique_ptr<ChildProcess> start_counter_app(const CounterAppOptions& o,
                                                       const std::string& run_name) {
  return start_stateful_app(counter_app_path(), o, run_name);
}

// ---------------------------------------------------------------------------------------------
// Data

struct CounterInput {
  std::int64_t id = 0;
  std::string key;
  std::vector<std::string> words;  // distinct
  std::string json() const {
    std::string s = R"({"id":)" + std::to_string(id) + R"(,"words":[)";
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (i) s += ',';
      s += '"' + words[i] + '"';
    }
    return s + "]}";
  }
};

// `n` inputs with ids first_id.., keys "user-0".."user-<keys-1>", one or two distinct words
// each from a vocabulary of eight; deterministic for a seed.
inline std::vector<CounterInput> make_counter_inputs(std::int64_t n, std::uint64_t seed,
                                                     int keys = 50, std::int64_t first_id = 0) {
  static const char* const kVocabulary[] = {"apple", "birch", "cedar", "daisy",
                                            "elm",   "fern",  "gorse", "heather"};
  std::mt19937_64 rng(seed);
  std::vector<CounterInput> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    CounterInput in;
    in.id = first_id + i;
    in.key = "user-" + std::to_string(rng() % static_cast<std::uint64_t>(keys));
    const std::size_t a = rng() % 8;
    in.words.push_back(kVocabulary[a]);
    if (rng() % 2) {
      const std::size_t b = (a + 1 + rng() % 7) % 8;  // != a
      in.words.push_back(kVocabulary[b]);
    }
    out.push_back(std::move(in));
  }
  return out;
}

inline std::int64_t expected_output_count(const std::vector<CounterInput>& inputs) {
  std::int64_t n = 0;
  for (const auto& in : inputs) n += static_cast<std::int64_t>(in.words.size());
  return n;
}

// The result of judging the outputs against the inputs in their topic order.
struct CounterCheck {
  std::int64_t inputs = 0;
  std::int64_t expected = 0;          // one output per (input, word)
  std::int64_t outputs = 0;           // records read
  std::int64_t malformed = 0;         // unparsable, unknown id or word, wrong key
  std::int64_t missing = 0;           // (input, word) pairs without any output
  std::int64_t duplicates = 0;        // outputs beyond the first per (input, word)
  std::int64_t wrong_counts = 0;      // outputs whose count is not the expected rank
  std::int64_t short_final = 0;       // (key, word) whose largest count is below n
  std::int64_t over_final = 0;        // (key, word) whose largest count is above n
  std::int64_t count_gaps = 0;        // (key, word) where some count in 1..n never appears
  std::vector<std::string> examples;  // the first problems, for the failure message

  bool exactly_once() const {
    return malformed == 0 && missing == 0 && duplicates == 0 && wrong_counts == 0 &&
           short_final == 0 && over_final == 0 && count_gaps == 0 && outputs == expected;
  }
  bool at_least_once() const {
    return malformed == 0 && missing == 0 && short_final == 0 && count_gaps == 0;
  }
  std::string summary() const {
    std::string s =
        "inputs " + std::to_string(inputs) + ", expected outputs " + std::to_string(expected) +
        ", outputs read " + std::to_string(outputs) + ", malformed " + std::to_string(malformed) +
        ", missing " + std::to_string(missing) + ", duplicates " + std::to_string(duplicates) +
        ", wrong counts " + std::to_string(wrong_counts) + ", (key,word) with final count < n " +
        std::to_string(short_final) + ", > n " + std::to_string(over_final) +
        ", (key,word) with a gap in 1..n " + std::to_string(count_gaps);
    for (const auto& e : examples) s += "\n  " + e;
    return s;
  }
};

// Judges `outputs` against `inputs`, which must be in the order the app consumes them per key
// (the input topic's offset order; for a single producer that is the order produced).
// `restrict_to`, if given, names the input ids whose outputs are expected (e.g. those below
// the committed offsets); outputs of other inputs then count as malformed.
inline CounterCheck check_counter_outputs(const std::vector<CounterInput>& inputs,
                                          const std::vector<RawOutput>& outputs,
                                          const std::vector<bool>* restrict_to = nullptr) {
  CounterCheck c;
  auto note = [&](const std::string& what) {
    if (c.examples.size() < 12) c.examples.push_back(what);
  };
  // Expected rank of every (input, word) and n of every (key, word).
  struct Expected {
    std::int64_t rank = 0;
    std::string key;
    int seen = 0;
  };
  std::map<std::pair<std::int64_t, std::string>, Expected> expected;
  std::map<std::pair<std::string, std::string>, std::int64_t> n_of;
  for (const auto& in : inputs) {
    if (restrict_to && (in.id < 0 || static_cast<std::size_t>(in.id) >= restrict_to->size() ||
                        !(*restrict_to)[static_cast<std::size_t>(in.id)])) {
      continue;
    }
    ++c.inputs;
    for (const auto& w : in.words) {
      const std::int64_t rank = ++n_of[{in.key, w}];
      expected[{in.id, w}] = Expected{rank, in.key, 0};
      ++c.expected;
    }
  }
  std::map<std::pair<std::string, std::string>, std::vector<std::int64_t>> counts_of;
  simdjson::dom::parser parser;
  for (const auto& o : outputs) {
    ++c.outputs;
    const std::string where =
        "partition " + std::to_string(o.partition) + " offset " + std::to_string(o.offset) + ": ";
    if (!o.value || !o.key) {
      ++c.malformed;
      note(where + "output without key or value");
      continue;
    }
    std::int64_t id = 0, count = 0;
    std::string word;
    try {
      simdjson::dom::element doc = parser.parse(*o.value);
      id = doc["id"].get_int64().value();
      word = std::string(doc["word"].get_string().value());
      count = doc["count"].get_int64().value();
    } catch (const std::exception& e) {
      ++c.malformed;
      note(where + "unparsable output " + *o.value + " (" + e.what() + ")");
      continue;
    }
    auto it = expected.find({id, word});
    if (it == expected.end() || it->second.key != *o.key) {
      ++c.malformed;
      note(where + "output " + *o.value + " with key " + *o.key +
           " matches no expected (input, word)");
      continue;
    }
    if (++it->second.seen > 1) {
      ++c.duplicates;
      note(where + "duplicate output " + *o.value + " (key " + *o.key + ")");
    }
    if (count != it->second.rank) {
      ++c.wrong_counts;
      note(where + "output " + *o.value + " (key " + *o.key + ") should have count " +
           std::to_string(it->second.rank));
    }
    counts_of[{*o.key, word}].push_back(count);
  }
  for (const auto& [k, e] : expected) {
    if (e.seen == 0) {
      ++c.missing;
      note("no output for input id " + std::to_string(k.first) + " word " + k.second + " (key " +
           e.key + ", expected count " + std::to_string(e.rank) + ")");
    }
  }
  for (const auto& [kw, n] : n_of) {
    auto& counts = counts_of[kw];
    std::sort(counts.begin(), counts.end());
    const std::int64_t top = counts.empty() ? 0 : counts.back();
    if (top < n) {
      ++c.short_final;
      note("key " + kw.first + " word " + kw.second + ": final count " + std::to_string(top) +
           " < " + std::to_string(n));
    } else if (top > n) {
      ++c.over_final;
      note("key " + kw.first + " word " + kw.second + ": final count " + std::to_string(top) +
           " > " + std::to_string(n));
    }
    std::int64_t want = 1;
    for (std::int64_t v : counts) {
      if (v == want) ++want;
      if (want > n) break;
    }
    if (want <= n) {
      ++c.count_gaps;
      note("key " + kw.first + " word " + kw.second + ": count " + std::to_string(want) +
           " never appears (n = " + std::to_string(n) + ")");
    }
  }
  return c;
}

}  // namespace streamframe::test
