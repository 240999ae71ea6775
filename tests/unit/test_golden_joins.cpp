// Golden (data-driven) tests of the stream joins (SEMANTICS §9, EXT-04).
//
// The cases live in tests/golden/joins/*.test (format: tests/golden/README.md). The runner
// declares two one-partition topics, builds the join a case names through the public API,
// feeds the lines to the TestDriver in file order (L: the left topic, R: the right topic,
// S: the one topic of a self-join) and compares what each line produced with the `> ` lines
// under it. Each case runs twice: plainly, and with the join state reloaded from its store
// before every record.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/golden_text.hpp"

#ifndef STREAMFRAME_GOLDEN_DIR
#error "STREAMFRAME_GOLDEN_DIR must name tests/golden (see tests/CMakeLists.txt)"
#endif

namespace streamframe {
namespace {

namespace fs = std::filesystem;
using namespace golden;  // NOLINT(google-build-using-namespace): the runners' shared helpers

constexpr std::size_t kMinimumCases = 80;  // asof and interval

struct Step {
  enum class Kind { definition, record, checkpoint } kind = Kind::definition;
  char side = 'L';  // L, R or S
  std::string text;
  std::vector<std::string> expect;
  Value key;
  std::int64_t timestamp = 0;
  std::string value_json;
};

struct JoinCase {
  std::string file;
  int line = 0;
  std::string name;
  std::string join;
  std::vector<Step> steps;  // steps[0] is the definition
};

void parse_file(const fs::path& path, const std::string& rel, std::vector<JoinCase>& cases,
                std::vector<std::string>& errors) {
  std::ifstream in(path);
  if (!in) {
    errors.push_back(rel + ": cannot open");
    return;
  }
  enum class Section { none, header, input } section = Section::none;
  JoinCase current;
  std::string raw;
  int lineno = 0;
  bool broken = false;
  auto fail = [&](const std::string& why) {
    errors.push_back(rel + ":" + std::to_string(lineno) + ": " + why);
    broken = true;
  };
  while (std::getline(in, raw)) {
    ++lineno;
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    try {
      if (line.rfind("case:", 0) == 0) {
        if (section != Section::none) fail("'case:' inside a case (missing 'end')");
        current = JoinCase{};
        current.file = rel;
        current.line = lineno;
        current.name = trim(line.substr(5));
        if (current.name.empty()) fail("case without a name");
        section = Section::header;
        broken = false;
      } else if (section == Section::none) {
        fail("text outside a case: " + line);
      } else if (line == "end") {
        if (section != Section::input) fail("'end' before 'input:'");
        if (current.join.empty()) fail("case without 'join:'");
        if (!broken) cases.push_back(current);
        section = Section::none;
      } else if (line == "input:") {
        if (section != Section::header) fail("second 'input:'");
        section = Section::input;
        Step definition;
        definition.text = "(join definition)";
        current.steps.push_back(std::move(definition));
      } else if (section == Section::header) {
        if (line.rfind("join:", 0) != 0) {
          fail("expected 'join: ...': " + line);
          continue;
        }
        current.join = trim(line.substr(5));
      } else if (line[0] == '>') {
        current.steps.back().expect.push_back(canonical_expect(trim(line.substr(1))));
      } else {
        Step step;
        step.text = collapse(line);
        if (line == "checkpoint") {
          step.kind = Step::Kind::checkpoint;
        } else {
          std::string side, rest, key, ts, json;
          if (!take_two(line, side, key, rest) || (side != "L" && side != "R" && side != "S") ||
              !take_two(key + " " + rest, key, ts, json) || json.empty()) {
            fail("input line needs 'L|R|S <key> <timestamp> <json>': " + line);
            continue;
          }
          step.kind = Step::Kind::record;
          step.side = side[0];
          step.key = parse_key(key);
          step.timestamp = parse_int(ts, "timestamp");
          Value::from_json(json);  // a typo in a case fails here, not as a "wrong output"
          step.value_json = json;
        }
        current.steps.push_back(std::move(step));
      }
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }
  if (section != Section::none) fail("file ends inside a case (missing 'end')");
}

const Loaded<JoinCase>& loaded() {
  static const Loaded<JoinCase> all =
      load_cases<JoinCase>(STREAMFRAME_GOLDEN_DIR, "joins", parse_file);
  return all;
}

// `join: asof|interval [how=..] [on_merge=raise|keep-left|keep-right|custom] [grace=ms]
// [backward=ms] [forward=ms] [name=..] [self]`.
struct JoinDefinition {
  bool interval = false;
  bool self = false;
  JoinAsofOptions asof;
  JoinIntervalOptions iv;
};

JoinDefinition parse_join(const std::string& text) {
  const auto tokens = split_ws(text);
  if (tokens.empty() || (tokens[0] != "asof" && tokens[0] != "interval")) {
    throw CaseError("join: 'asof' or 'interval'");
  }
  JoinDefinition d;
  d.interval = tokens[0] == "interval";
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    const auto eq = t.find('=');
    const std::string name = t.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : t.substr(eq + 1);
    if (t == "self") {
      d.self = true;
    } else if (name == "how") {
      if (value == "inner")
        d.asof.how = JoinHow::inner;
      else if (value == "left")
        d.asof.how = JoinHow::left;
      else if (value == "right")
        d.asof.how = JoinHow::right;
      else if (value == "outer")
        d.asof.how = JoinHow::outer;
      else
        throw CaseError("unknown how '" + value + "'");
    } else if (name == "on_merge") {
      if (value == "raise")
        d.asof.on_merge = OnMerge::raise;
      else if (value == "keep-left")
        d.asof.on_merge = OnMerge::keep_left;
      else if (value == "keep-right")
        d.asof.on_merge = OnMerge::keep_right;
      else if (value == "custom")
        d.asof.merge = [](const Value& l, const Value& r) {
          return Value::object({{"l", l}, {"r", r}});
        };
      else
        throw CaseError("unknown on_merge '" + value + "'");
    } else if (name == "grace") {
      d.asof.grace = std::chrono::milliseconds(parse_int(value, "grace"));
    } else if (name == "backward" && d.interval) {
      d.iv.backward = std::chrono::milliseconds(parse_int(value, "backward"));
    } else if (name == "forward" && d.interval) {
      d.iv.forward = std::chrono::milliseconds(parse_int(value, "forward"));
    } else if (name == "name") {
      d.asof.name = value;
    } else {
      throw CaseError("unknown join option '" + t + "'");
    }
  }
  // The options both joins have are parsed into the as-of ones.
  d.iv.how = d.asof.how;
  d.iv.on_merge = d.asof.on_merge;
  d.iv.merge = d.asof.merge;
  d.iv.grace = d.asof.grace;
  d.iv.name = d.asof.name;
  return d;
}

std::vector<std::vector<std::string>> run_case(const JoinCase& c, bool reload_state) {
  const JoinDefinition def = parse_join(c.join);
  const TopicOptions one_partition{.config = TopicConfig{.num_partitions = 1}};
  const Topic left_topic = Topic::make("golden-left", one_partition);
  const Topic right_topic = Topic::make("golden-right", one_partition);
  std::vector<std::vector<std::string>> produced(c.steps.size());
  std::optional<StreamingDataFrame> out;
  // Standalone frames: the right one must outlive the run (a merge only names its feeders).
  const auto right = StreamingDataFrame::standalone(right_topic);
  try {
    auto left = StreamingDataFrame::standalone(left_topic);
    const StreamingDataFrame& other = def.self ? left : right;
    out = def.interval ? left.join_interval(other, def.iv) : left.join_asof(other, def.asof);
  } catch (const Error& e) {
    produced[0].push_back("error " + error_name(e));
    return produced;
  }
  TestDriver driver({*out}, {.partitions = 1, .checkpoint_every = 0, .reload_state = reload_state});
  for (std::size_t i = 1; i < c.steps.size(); ++i) {
    const Step& step = c.steps[i];
    try {
      if (step.kind == Step::Kind::checkpoint) {
        driver.checkpoint();
      } else {
        if (def.self != (step.side == 'S')) {
          throw CaseError("'S' lines go with 'self', 'L' and 'R' without it");
        }
        const Topic& topic = step.side == 'R' ? right_topic : left_topic;
        driver.pipe(topic, Value::from_json(step.value_json), step.key, step.timestamp);
      }
    } catch (const CaseError&) {
      throw;
    } catch (const Error& e) {
      // As sdf.test(): what the failing record emitted before its error is not shown.
      (void)driver.take_rows();
      produced[i].push_back("error " + error_name(e));
    }
    for (const Row& row : driver.take_rows()) {
      produced[i].push_back(key_text(row.key) + " " + std::to_string(row.timestamp) + " " +
                            row.value.to_json());
    }
  }
  return produced;
}

void check_case(const JoinCase& c, bool reload_state) {
  SCOPED_TRACE(c.file + ":" + std::to_string(c.line) + ": " + c.name);
  std::vector<std::vector<std::string>> actual;
  try {
    actual = run_case(c, reload_state);
  } catch (const CaseError& e) {
    FAIL() << "malformed case " << c.file << ":" << c.line << " '" << c.name << "': " << e.what();
  } catch (const std::exception& e) {
    FAIL() << c.file << ":" << c.line << " '" << c.name
           << "': unexpected exception escaped the runner: " << error_name(e) << ": " << e.what();
  }
  std::vector<std::vector<std::string>> expected;
  for (const auto& step : c.steps) expected.push_back(step.expect);
  if (actual != expected) {
    const auto want = transcript(c, expected);
    const auto got = transcript(c, actual);
    ADD_FAILURE() << c.file << ":" << c.line << ": case '" << c.name << "'"
                  << (reload_state ? " (state reloaded before every record)" : "")
                  << "\n  join: " << c.join << "\nexpected:\n"
                  << listing(want) << "actual:\n"
                  << listing(got) << "diff (- expected, + actual):\n"
                  << diff(want, got);
  }
}

class GoldenJoins : public ::testing::TestWithParam<std::size_t> {};

TEST(GoldenJoinsFiles, ParseCleanlyAndHoldEnoughCases) {
  const auto& l = loaded();
  for (const auto& e : l.errors) ADD_FAILURE() << "golden file error: " << e;
  EXPECT_FALSE(l.files.empty()) << "no *.test file under " << STREAMFRAME_GOLDEN_DIR "/joins";
  EXPECT_GE(l.cases.size(), kMinimumCases)
      << "only " << l.cases.size() << " golden cases found under " << STREAMFRAME_GOLDEN_DIR
      << "/joins: a broken glob or parser must not pass";
  std::map<std::string, std::string> seen;
  for (const auto& c : l.cases) {
    auto [it, fresh] = seen.emplace(c.name, c.file + ":" + std::to_string(c.line));
    EXPECT_TRUE(fresh) << "case name '" << c.name << "' at " << c.file << ":" << c.line
                       << " repeats " << it->second;
  }
}

TEST_P(GoldenJoins, Case) {
  check_case(loaded().cases.at(GetParam()), false);
}

TEST_P(GoldenJoins, CaseReloadingState) {
  check_case(loaded().cases.at(GetParam()), true);
}

std::vector<std::size_t> case_indexes() {
  std::vector<std::size_t> v(loaded().cases.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

std::string case_test_name(const ::testing::TestParamInfo<std::size_t>& info) {
  const auto& c = loaded().cases.at(info.param);
  return golden::case_test_name(c.file, c.line, c.name);
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenJoins, ::testing::ValuesIn(case_indexes()), case_test_name);

}  // namespace
}  // namespace streamframe
