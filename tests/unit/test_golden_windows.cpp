// Golden (data-driven) tests of windows and aggregations (SEMANTICS §7, §8, EXT-02).
//
// The cases live in tests/golden/windows/*.test (format: tests/golden/README.md); this runner
// knows no case: it parses every file, builds the pipeline a case names through the public API,
// feeds its input through sdf.test() / sdf.test_idle() and compares what each input line
// produced with the `> ` lines written under it, so both the outputs and the moment they are
// emitted are checked. Each case runs twice: once plainly, once with the window state
// reloaded from its store before every record.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dataframe/test_harness.hpp"
#include "streamframe/streamframe.hpp"
#include "support/golden_text.hpp"

#ifndef STREAMFRAME_GOLDEN_DIR
#error "STREAMFRAME_GOLDEN_DIR must name tests/golden (see tests/CMakeLists.txt)"
#endif

namespace streamframe {
namespace {

namespace fs = std::filesystem;
using namespace golden;  // NOLINT(google-build-using-namespace): the runners' shared helpers
using std::chrono::milliseconds;

constexpr std::size_t kMinimumCases = 60;

// ---------------------------------------------------------------------------------------------
// Case files
// ---------------------------------------------------------------------------------------------

struct Step {
  // `definition` is the pseudo-step building the pipeline (its `> ` lines come right after
  // `input:`); the others are input lines.
  enum class Kind { definition, record, advance, tick } kind = Kind::definition;
  int line = 0;
  std::string text;                 // the input line, whitespace collapsed (for transcripts)
  std::vector<std::string> expect;  // canonical expected output lines
  Value key;
  std::int64_t timestamp = 0;
  std::string value_json;  // record
  std::int64_t ms = 0;     // advance / tick
};

struct GoldenCase {
  std::string file;  // relative to the golden directory
  int line = 0;      // of `case:`
  std::string name;
  std::string window;
  std::string aggregate;
  std::string emit;
  std::string options;
  std::vector<Step> steps;  // steps[0] is the definition
};

void parse_file(const fs::path& path, const std::string& rel, std::vector<GoldenCase>& cases,
                std::vector<std::string>& errors) {
  std::ifstream in(path);
  if (!in) {
    errors.push_back(rel + ": cannot open");
    return;
  }
  enum class Section { none, header, input } section = Section::none;
  GoldenCase current;
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
        current = GoldenCase{};
        current.file = rel;
        current.line = lineno;
        current.name = trim(line.substr(5));
        if (current.name.empty()) fail("case without a name");
        section = Section::header;
        broken = false;
        continue;
      }
      if (section == Section::none) {
        fail("text outside a case: " + line);
        continue;
      }
      if (line == "end") {
        if (section != Section::input) fail("'end' before 'input:'");
        if (current.window.empty()) fail("case without 'window:'");
        if (current.aggregate.empty()) fail("case without 'aggregate:'");
        if (current.emit.empty()) fail("case without 'emit:'");
        if (!broken) cases.push_back(current);
        section = Section::none;
        continue;
      }
      if (line == "input:") {
        if (section != Section::header) fail("second 'input:'");
        section = Section::input;
        Step definition;
        definition.line = lineno;
        definition.text = "(pipeline definition)";
        current.steps.push_back(std::move(definition));
        continue;
      }
      if (section == Section::header) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) {
          fail("expected 'field: value': " + line);
          continue;
        }
        const std::string field = trim(line.substr(0, colon));
        const std::string value = trim(line.substr(colon + 1));
        if (field == "window")
          current.window = value;
        else if (field == "aggregate")
          current.aggregate = value;
        else if (field == "emit")
          current.emit = value;
        else if (field == "options")
          current.options = value;
        else
          fail("unknown field '" + field + "'");
        continue;
      }
      // input section
      if (line[0] == '>') {
        current.steps.back().expect.push_back(canonical_expect(trim(line.substr(1))));
        continue;
      }
      Step step;
      step.line = lineno;
      step.text = collapse(line);
      const auto tokens = split_ws(line);
      if ((tokens[0] == "advance" || tokens[0] == "tick") && tokens.size() == 2) {
        step.kind = tokens[0] == "advance" ? Step::Kind::advance : Step::Kind::tick;
        step.ms = parse_int(tokens[1], tokens[0]);
      } else {
        std::string key, ts, json;
        if (!take_two(line, key, ts, json) || json.empty()) {
          fail("input line needs '<key> <timestamp> <json>': " + line);
          continue;
        }
        step.kind = Step::Kind::record;
        step.key = parse_key(key);
        step.timestamp = parse_int(ts, "timestamp");
        Value::from_json(json);  // a typo in a case fails here, not as a "wrong output"
        step.value_json = json;
      }
      current.steps.push_back(std::move(step));
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }
  if (section != Section::none) fail("file ends inside a case (missing 'end')");
}

const Loaded<GoldenCase>& loaded() {
  static const Loaded<GoldenCase> all =
      load_cases<GoldenCase>(STREAMFRAME_GOLDEN_DIR, "windows", parse_file);
  return all;
}

// ---------------------------------------------------------------------------------------------
// Named functions the cases may use
// ---------------------------------------------------------------------------------------------

// SER-02-like addition for the runner's reducers: int+int => int, numbers => double,
// string+string => string.
Value add(const Value& a, const Value& b) {
  if (a.is_int() && b.is_int()) return Value(a.as_int() + b.as_int());
  if (a.is_number() && b.is_number()) return Value(a.as_double() + b.as_double());
  if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
  throw ValueTypeError("golden runner: cannot add " + std::string(a.type_name()) + " and " +
                       std::string(b.type_name()));
}

// custom_sumsq[_nomerge]: sum of squares of the non-null inputs (state suffix "sumsq").
class SumOfSquares : public Aggregator {
 public:
  SumOfSquares(std::optional<std::string> column, bool mergeable)
      : Aggregator(std::move(column)), mergeable_(mergeable) {}
  std::string state_suffix() const override { return "sumsq"; }
  Value initialize() const override { return Value(0); }
  Value agg(const Value& acc, const Value& input, std::int64_t) const override {
    if (input.is_null()) return acc;
    return add(acc, input.is_int() ? Value(input.as_int() * input.as_int())
                                   : Value(input.as_double() * input.as_double()));
  }
  Value result(const Value& acc) const override { return acc; }
  bool can_merge() const override { return mergeable_; }
  Value merge(const Value& a, const Value& b) const override { return add(a, b); }

 private:
  bool mergeable_;
};

// custom_count_items: a Collector whose result is the number of items it was given.
class CountItems : public Collector {
 public:
  using Collector::Collector;
  Value result(Array items) const override {
    return Value(static_cast<std::int64_t>(items.size()));
  }
};

struct ReduceFns {
  ReduceFn reducer;
  InitializeFn initializer;
  MergeFn merger;
};

std::optional<ReduceFns> reduce_fns(const std::string& name) {
  // reduce_add: init = v, acc + v; reduce_concat: the same on strings (add() joins them).
  auto init = [](const Value& v) { return v; };
  auto plus = [](const Value& a, const Value& b) { return add(a, b); };
  if (name == "reduce_add" || name == "reduce_concat") return ReduceFns{plus, init, plus};
  if (name == "reduce_add_nomerge") return ReduceFns{plus, init, nullptr};
  // reduce_list: init = [v], acc + [v] (keeps arrival order visible).
  if (name == "reduce_list") {
    auto list_init = [](const Value& v) { return Value(Array{v}); };
    auto append = [](const Value& acc, const Value& v) {
      Array a = acc.as_array();
      a.push_back(v);
      return Value(std::move(a));
    };
    auto concat = [](const Value& a, const Value& b) {
      Array out = a.as_array();
      for (const auto& x : b.as_array()) out.push_back(x);
      return Value(std::move(out));
    };
    return ReduceFns{append, list_init, concat};
  }
  return std::nullopt;
}

Aggregation make_aggregation(const std::string& spec) {
  std::string func = spec;
  std::optional<std::string> column;
  if (const auto c = spec.find(':'); c != std::string::npos) {
    func = spec.substr(0, c);
    column = spec.substr(c + 1);
  }
  if (func == "count") return agg::count(column);
  if (func == "sum") return agg::sum(column);
  if (func == "mean") return agg::mean(column);
  if (func == "min") return agg::min(column);
  if (func == "max") return agg::max(column);
  if (func == "earliest") return agg::earliest(column);
  if (func == "latest") return agg::latest(column);
  if (func == "first") return agg::first(column);
  if (func == "last") return agg::last(column);
  if (func == "collect") return agg::collect(column);
  if (func == "custom_sumsq")
    return agg::custom(std::make_shared<const SumOfSquares>(column, true));
  if (func == "custom_sumsq_nomerge")
    return agg::custom(std::make_shared<const SumOfSquares>(column, false));
  if (func == "custom_count_items") return agg::custom(std::make_shared<const CountItems>(column));
  if (auto r = reduce_fns(func)) {
    if (column) throw CaseError("reduce takes no column: " + spec);
    return agg::reduce(r->reducer, r->initializer, r->merger);
  }
  throw CaseError("unknown aggregation '" + spec + "'");
}

// Triggers: "<src>[.<field>]<op><number>", src = result | record, op = >= <= > < ==.
// A missing field or a non-number compares false.
WindowTriggerFn make_trigger(const std::string& spec) {
  static const char* ops[] = {">=", "<=", "==", ">", "<"};
  for (const char* op : ops) {
    const auto at = spec.find(op);
    if (at == std::string::npos) continue;
    const std::string lhs = spec.substr(0, at);
    const std::string o = op;
    const double rhs = std::stod(spec.substr(at + o.size()));
    std::string src = lhs, field;
    if (const auto dot = lhs.find('.'); dot != std::string::npos) {
      src = lhs.substr(0, dot);
      field = lhs.substr(dot + 1);
    }
    if (src != "result" && src != "record") break;
    const bool on_result = src == "result";
    return [on_result, field, o, rhs](const Value& result, const Value& value, const Value&,
                                      std::int64_t, const Headers&) {
      const Value& base = on_result ? result : value;
      const Value* x = field.empty() ? &base : base.find(field);
      if (x == nullptr || !x->is_number()) return false;
      const double v = x->as_double();
      if (o == ">=") return v >= rhs;
      if (o == "<=") return v <= rhs;
      if (o == "==") return v == rhs;
      if (o == ">") return v > rhs;
      return v < rhs;
    };
  }
  throw CaseError("bad trigger '" + spec + "'");
}

// ---------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------

// "key=value" options after the positional tokens of a header line.
struct Options {
  std::vector<std::string> positional;
  std::map<std::string, std::string> named;

  explicit Options(const std::string& text) {
    for (const auto& t : split_ws(text)) {
      const auto eq = t.find('=');
      // Trigger specs contain '=' too ("result.value>=3"): only the first '=' splits.
      if (eq == std::string::npos)
        positional.push_back(t);
      else
        named[t.substr(0, eq)] = t.substr(eq + 1);
    }
  }
  std::optional<std::string> take(const std::string& k) {
    auto it = named.find(k);
    if (it == named.end()) return std::nullopt;
    std::string v = it->second;
    named.erase(it);
    return v;
  }
  void expect_consumed(const std::string& where) const {
    if (!named.empty())
      throw CaseError("unknown option '" + named.begin()->first + "' in " + where);
  }
};

// Collects what one step produced: on_late calls as they happen, then the rows returned.
struct Recorder {
  std::vector<std::string> lines;
  std::vector<std::string> late_fields;  // empty: on_late not set
  bool late_return = true;

  void late(const LateRecord& r) {
    std::string line = "late " + key_text(r.key);
    for (const auto& f : late_fields) {
      line += " " + f + "=";
      if (f == "ts")
        line += std::to_string(r.timestamp);
      else if (f == "start")
        line += std::to_string(r.start);
      else if (f == "end")
        line += std::to_string(r.end);
      else if (f == "late_by")
        line += std::to_string(r.late_by_ms);
      else if (f == "store")
        line += r.store_name;
      else if (f == "value")
        line += r.value.to_json();
    }
    lines.push_back(line);
  }
  void rows(const std::vector<Row>& rows) {
    for (const auto& row : rows)
      lines.push_back(key_text(row.key) + " " + std::to_string(row.timestamp) + " " +
                      row.value.to_json());
  }
};

StreamingDataFrame build(const StreamingDataFrame& sdf, const GoldenCase& c, Recorder& rec) {
  // options: on_late / on_late_return / before_update / after_update
  Options opts(c.options);
  OnLateFn on_late;
  if (auto v = opts.take("on_late")) {
    std::string fields = *v == "record" ? "ts,start,end,late_by" : *v;
    std::istringstream in(fields);
    for (std::string f; std::getline(in, f, ',');) {
      if (f != "ts" && f != "start" && f != "end" && f != "late_by" && f != "store" && f != "value")
        throw CaseError("unknown on_late field '" + f + "'");
      rec.late_fields.push_back(f);
    }
    on_late = [&rec](const LateRecord& r) {
      rec.late(r);
      return rec.late_return;
    };
  }
  if (auto v = opts.take("on_late_return")) rec.late_return = *v == "true";
  WindowTriggerFn before, after;
  if (auto v = opts.take("before_update")) before = make_trigger(*v);
  if (auto v = opts.take("after_update")) after = make_trigger(*v);
  opts.expect_consumed("options");
  if (!opts.positional.empty()) throw CaseError("stray option '" + opts.positional[0] + "'");

  // window: <type> <params...> [grace=ms] [name=prefix]
  Options w(c.window);
  if (w.positional.empty()) throw CaseError("window: needs a type");
  const std::string type = w.positional[0];
  auto param = [&](std::size_t i) -> std::int64_t {
    if (w.positional.size() <= i) throw CaseError("window " + type + " needs more parameters");
    return parse_int(w.positional[i], "window parameter");
  };
  std::int64_t grace_ms = 0;
  if (auto g = w.take("grace")) grace_ms = parse_int(*g, "grace");
  const std::string name = w.take("name").value_or("");
  w.expect_consumed("window");

  auto window_options = [&] {
    WindowOptions o;
    o.grace = milliseconds(grace_ms);
    o.name = name;
    o.on_late = on_late;
    o.before_update = before;
    o.after_update = after;
    return o;
  };
  std::optional<WindowDefinition> def;
  if (type == "tumbling") {
    def = sdf.tumbling_window(milliseconds(param(1)), window_options());
  } else if (type == "hopping") {
    def = sdf.hopping_window(milliseconds(param(1)), milliseconds(param(2)), window_options());
  } else if (type == "sliding") {
    def = sdf.sliding_window(milliseconds(param(1)), window_options());
  } else if (type == "session") {
    if (before || after) throw CaseError("session windows take no triggers in the API");
    SessionWindowOptions o;
    o.grace = milliseconds(grace_ms);
    o.name = name;
    o.on_late = on_late;
    def = sdf.session_window(milliseconds(param(1)), o);
  } else if (type == "tumbling_count" || type == "hopping_count" || type == "sliding_count") {
    if (before || after || on_late || grace_ms != 0)
      throw CaseError("count windows take no grace, on_late or triggers in the API");
    CountWindowOptions o;
    o.name = name;
    if (type == "tumbling_count")
      def = sdf.tumbling_count_window(param(1), o);
    else if (type == "hopping_count")
      def = sdf.hopping_count_window(param(1), param(2), o);
    else
      def = sdf.sliding_count_window(param(1), o);
  } else {
    throw CaseError("unknown window type '" + type + "'");
  }

  // aggregate: <single> | agg <col>=<func>[:<column>] ...
  const auto a = split_ws(c.aggregate);
  if (a.empty()) throw CaseError("aggregate: is empty");
  std::optional<WindowedAggregation> wa;
  if (a[0] == "agg") {
    std::vector<std::pair<std::string, Aggregation>> columns;
    for (std::size_t i = 1; i < a.size(); ++i) {
      const auto eq = a[i].find('=');
      if (eq == std::string::npos) throw CaseError("agg column needs name=func: " + a[i]);
      columns.emplace_back(a[i].substr(0, eq), make_aggregation(a[i].substr(eq + 1)));
    }
    wa = def->agg(std::move(columns));
  } else {
    if (a.size() != 1) throw CaseError("single aggregation takes one word: " + c.aggregate);
    const std::string& f = a[0];
    if (f == "sum")
      wa = def->sum();
    else if (f == "count")
      wa = def->count();
    else if (f == "mean")
      wa = def->mean();
    else if (f == "min")
      wa = def->min();
    else if (f == "max")
      wa = def->max();
    else if (f == "collect")
      wa = def->collect();
    else if (auto r = reduce_fns(f))
      wa = def->reduce(r->reducer, r->initializer, r->merger);
    else
      throw CaseError("unknown single aggregation '" + f + "'");
  }

  // emit: final|current [strategy=key|partition] [idle=ms]
  Options e(c.emit);
  if (e.positional.size() != 1) throw CaseError("emit: needs final or current");
  EmitOptions eo;
  if (auto s = e.take("strategy")) {
    if (*s == "partition")
      eo.closing_strategy = ClosingStrategy::partition;
    else if (*s != "key")
      throw CaseError("unknown strategy '" + *s + "'");
  }
  if (auto i = e.take("idle")) eo.idle_timeout = milliseconds(parse_int(*i, "idle"));
  e.expect_consumed("emit");
  if (e.positional[0] == "final") return wa->final(eo);
  if (e.positional[0] == "current") return wa->current(eo);
  throw CaseError("emit: needs final or current, got '" + e.positional[0] + "'");
}

// Runs a case and returns, per step (definition first), the output lines it produced.
// Throws CaseError for a malformed case.
std::vector<std::vector<std::string>> run_case(const GoldenCase& c, bool reload_state) {
  auto now = std::make_shared<std::int64_t>(0);
  ApplicationConfig config;
  config.broker_address = "embedded";
  config.consumer_group = "golden";
  config.loglevel = "ERROR";
  config.install_signal_handlers = false;
  config.clock = [now] { return *now; };
  Application app(config);
  auto sdf = app.dataframe(app.topic("golden-input"));

  std::vector<std::vector<std::string>> produced(c.steps.size());
  Recorder rec;
  std::optional<StreamingDataFrame> out;
  try {
    out = build(sdf, c, rec);
  } catch (const CaseError&) {
    throw;
  } catch (const Error& e) {
    // A definition error ends the case: there is no pipeline to feed.
    produced[0].push_back("error " + error_name(e));
    return produced;
  }
  if (reload_state) detail::test_harness(*out).reload_state = true;

  for (std::size_t i = 1; i < c.steps.size(); ++i) {
    const Step& step = c.steps[i];
    rec.lines.clear();
    try {
      switch (step.kind) {
        case Step::Kind::record:
          rec.rows(out->test(Value::from_json(step.value_json), step.key, step.timestamp));
          break;
        case Step::Kind::advance:
          *now += step.ms;
          rec.rows(out->test_idle());
          break;
        case Step::Kind::tick:
          *now += step.ms;
          break;
        case Step::Kind::definition:
          break;
      }
    } catch (const Error& e) {
      rec.lines.push_back("error " + error_name(e));
    }
    produced[i] = std::move(rec.lines);
  }
  return produced;
}

// The input lines with what each produced under it ("> ..."), as compared and as shown.
void check_case(const GoldenCase& c, bool reload_state) {
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
                  << "\n  window: " << c.window << "\n  aggregate: " << c.aggregate
                  << "\n  emit: " << c.emit << (c.options.empty() ? "" : "\n  options: ")
                  << c.options << "\nexpected:\n"
                  << listing(want) << "actual:\n"
                  << listing(got) << "diff (- expected, + actual):\n"
                  << diff(want, got);
  }
}

class GoldenWindows : public ::testing::TestWithParam<std::size_t> {};

TEST(GoldenWindowsFiles, ParseCleanlyAndHoldEnoughCases) {
  const auto& l = loaded();
  for (const auto& e : l.errors) ADD_FAILURE() << "golden file error: " << e;
  EXPECT_FALSE(l.files.empty()) << "no *.test file under " << STREAMFRAME_GOLDEN_DIR "/windows";
  EXPECT_GE(l.cases.size(), kMinimumCases)
      << "only " << l.cases.size() << " golden cases found under " << STREAMFRAME_GOLDEN_DIR
      << "/windows: a broken glob or parser must not pass";
  // Case names are how failures are reported; keep them unique.
  std::map<std::string, std::string> seen;
  for (const auto& c : l.cases) {
    auto [it, fresh] = seen.emplace(c.name, c.file + ":" + std::to_string(c.line));
    EXPECT_TRUE(fresh) << "case name '" << c.name << "' at " << c.file << ":" << c.line
                       << " repeats " << it->second;
  }
}

TEST_P(GoldenWindows, Case) {
  check_case(loaded().cases.at(GetParam()), false);
}

TEST_P(GoldenWindows, CaseReloadingState) {
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

INSTANTIATE_TEST_SUITE_P(Golden, GoldenWindows, ::testing::ValuesIn(case_indexes()),
                         case_test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GoldenWindows);

}  // namespace
}  // namespace streamframe
