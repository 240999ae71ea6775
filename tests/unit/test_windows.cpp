// Windows through the public API: declaration checks, the worked example of WIN-09, bad input
// (null keys, negative timestamps, a throwing aggregator) and the run loop's parts (state
// kept across runs, idle closing on the application clock). The rule-by-rule cases are in
// tests/golden/windows.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dataframe/test_harness.hpp"
#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"
#include "support/expect_error.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;
using test::expect_error;

ApplicationConfig embedded(const std::string& group) {
  return test::embedded_config(group);
}

std::vector<std::string> texts(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.value.to_json());
  return out;
}

TEST(Windows, WorkedExampleOfWin09) {
  Application app(embedded("win-09"));
  auto sdf = app.dataframe(app.topic("win09-in"));
  auto out = sdf.tumbling_window(10s).sum().final();
  EXPECT_TRUE(out.test(Value(2), Value("k"), 500).empty());
  EXPECT_TRUE(out.test(Value(3), Value("k"), 9999).empty());
  const auto rows = out.test(Value(100), Value("k"), 10000);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].value.to_json(), R"({"start":0,"end":10000,"value":5})");
  EXPECT_EQ(rows[0].key, Value("k"));
  EXPECT_EQ(rows[0].timestamp, 0);
  EXPECT_TRUE(rows[0].headers.empty());
}

TEST(Windows, IssueExampleAggColumnsThenBounds) {
  Application app(embedded("win-agg"));
  auto sdf = app.dataframe(app.topic("win-agg-in"));
  auto out = sdf.tumbling_window(10s, {.grace = 1s})
                 .agg({{"avg", agg::mean("temperature")},
                       {"max", agg::max("temperature")},
                       {"n", agg::count()}})
                 .final();
  (void)out.test(Value::object({{"temperature", 20}}), Value("s1"), 1000);
  (void)out.test(Value::object({{"temperature", 30}}), Value("s1"), 9000);
  EXPECT_TRUE(out.test(Value::object({{"temperature", 0}}), Value("s1"), 10999).empty());
  EXPECT_EQ(texts(out.test(Value::object({{"temperature", 0}}), Value("s1"), 11000)),
            std::vector<std::string>{R"({"avg":25.0,"max":30,"n":2,"start":0,"end":10000})"});
}

TEST(Windows, InvalidParametersFailAtDeclarationNamingTheParameter) {
  Application app(embedded("win-params"));
  auto sdf = app.dataframe(app.topic("win-params-in"));
  expect_error<ConfigError>([&] { (void)sdf.tumbling_window(0ms); },
                            "duration must be at least 1 ms");
  expect_error<ConfigError>([&] { (void)sdf.tumbling_window(-5ms); }, "duration");
  expect_error<ConfigError>([&] { (void)sdf.tumbling_window(1s, {.grace = -1ms}); },
                            "grace must not be negative");
  expect_error<ConfigError>([&] { (void)sdf.hopping_window(10s, 10s); },
                            "step must be more than 0");
  expect_error<ConfigError>([&] { (void)sdf.hopping_window(10s, 0s); }, "step");
  expect_error<ConfigError>([&] { (void)sdf.hopping_window(10s, 11s); }, "step");
  expect_error<ConfigError>([&] { (void)sdf.hopping_window(0s, 1s); }, "duration");
  expect_error<ConfigError>([&] { (void)sdf.sliding_window(0s); }, "duration");
  expect_error<ConfigError>(
      [&] {
        (void)sdf.sliding_window(
            1s, {.before_update = [](const Value&, const Value&, const Value&, std::int64_t,
                                     const Headers&) { return false; }});
      },
      "triggers");
  expect_error<ConfigError>([&] { (void)sdf.tumbling_count_window(1); },
                            "count must be at least 2");
  expect_error<ConfigError>([&] { (void)sdf.sliding_count_window(0); }, "count");
  expect_error<ConfigError>([&] { (void)sdf.hopping_count_window(5, 0); }, "step");
  expect_error<ConfigError>([&] { (void)sdf.hopping_count_window(5, 5); }, "step");
  expect_error<ConfigError>([&] { (void)sdf.session_window(0ms); }, "gap must be at least 1 ms");
  expect_error<ConfigError>([&] { (void)sdf.session_window(1s, {.grace = -1s}); }, "grace");
}

TEST(Windows, AggregationDeclarationErrors) {
  Application app(embedded("win-aggerr"));
  auto sdf = app.dataframe(app.topic("win-aggerr-in"));
  auto w = sdf.tumbling_window(1s);
  expect_error<ConfigError>([&] { (void)w.agg({{"start", agg::count()}}); }, "reserved");
  expect_error<ConfigError>([&] { (void)w.agg({{"end", agg::count()}}); }, "reserved");
  expect_error<ConfigError>([&] { (void)w.agg({}); }, "at least one");
  expect_error<ConfigError>(
      [&] {
        (void)w.agg({{"n", agg::count()}, {"n", agg::sum()}});
      },
      "twice");
  expect_error<InvalidOperation>([&] { (void)w.collect().current(); }, "final()");
  expect_error<ConfigError>(
      [&] {
        (void)sdf.session_window(1s)
            .reduce([](const Value& a, const Value& b) { return Value(a.as_int() + b.as_int()); },
                    [](const Value& v) { return v; })
            .final();
      },
      "cannot merge");
  expect_error<ConfigError>(
      [&] {
        (void)sdf.sliding_window(1s).sum().final({.closing_strategy = ClosingStrategy::partition});
      },
      "closing strategy");
  expect_error<ConfigError>(
      [&] { (void)sdf.tumbling_count_window(3).sum().final({.idle_timeout = 1s}); }, "idle");
  // WIN-12: one store per window; the same name twice on a stream is refused.
  (void)sdf.tumbling_window(1s).sum().final();
  expect_error<ConfigError>([&] { (void)sdf.tumbling_window(1s).sum().final(); }, "used twice");
  EXPECT_NO_THROW(sdf.tumbling_window(1s, {.name = "other"}).sum().final());
  EXPECT_NO_THROW(sdf.tumbling_window(1s).count().final());
}

TEST(Windows, NullKeysAreSkippedAndNegativeTimestampsAreErrors) {
  Application app(embedded("win-bad"));
  auto sdf = app.dataframe(app.topic("win-bad-in"));
  auto out = sdf.tumbling_window(10ms).count().final();
  EXPECT_TRUE(out.test(Value(1), Value(), 5).empty());
  expect_error<InvalidTimestamp>([&] { (void)out.test(Value(1), Value("k"), -1); }, "negative");
  (void)out.test(Value(1), Value("k"), 5);
  // The null-key record counted in no window: only k's record is in [0, 10).
  EXPECT_EQ(texts(out.test(Value(1), Value("k"), 10)),
            std::vector<std::string>{R"({"start":0,"end":10,"value":1})"});
}

// A user aggregator that throws on one input.
class Fragile final : public Aggregator {
 public:
  Fragile() : Aggregator("v") {}
  std::string state_suffix() const override { return "fragile"; }
  Value initialize() const override { return Value(0); }
  Value agg(const Value& acc, const Value& input, std::int64_t) const override {
    if (input == Value(13)) throw std::runtime_error("unlucky input");
    return Value(acc.as_int() + input.as_int());
  }
  Value result(const Value& acc) const override { return acc; }
};

// Runs the pipeline on the embedded broker: records (key, value, ts) are produced first.
struct Input {
  const char* key;
  Value value;
  std::int64_t ts;
};

void produce_all(Application& app, const Topic& topic, const std::vector<Input>& inputs) {
  Producer p = app.get_producer();
  for (const auto& in : inputs) {
    p.produce(topic, in.value, in.key ? Value(in.key) : Value(), in.ts);
  }
  ASSERT_TRUE(p.flush(10s));
}

TEST(WindowsApp, ThrowingAggregatorReachesTheProcessingErrorCallbackNamingWindowAndKey) {
  auto config = embedded("win-fragile");
  std::vector<std::string> errors;
  config.on_processing_error = [&](const std::exception& e, const ErrorContext&) {
    errors.push_back(e.what());
    return ErrorAction::skip;
  };
  Application app(config);
  const Topic in = app.topic("win-fragile-in");
  (void)app.dataframe(in)
      .tumbling_window(1s)
      .agg({{"total", agg::custom(std::make_shared<Fragile>())}, {"n", agg::count("v")}})
      .final();
  produce_all(app, in,
              {{"a", Value::object({{"v", 1}}), 1000},
               {"a", Value::object({{"v", 13}}), 1100},
               {"b", Value::object({{"v", 5}}), 1200},
               {"a", Value::object({{"v", 2}}), 1300},
               {"a", Value::object({{"v", 0}}), 2000},
               {"b", Value::object({{"v", 0}}), 2000}});
  auto out = app.run({.timeout = 3s, .count = 2});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("window [1000, 2000"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("\"a\""), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("unlucky input"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("'total'"), std::string::npos) << errors[0];
  ASSERT_EQ(out.size(), 2u);
  // The failing record left a's window as it was: 1 + 2 in total. Its count saw the record
  // before the aggregator threw (ERR-01: writes made before an error stay).
  std::vector<std::string> got;
  for (const auto& v : out) got.push_back(v.to_json());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{R"({"total":3,"n":2,"start":1000,"end":2000})",
                                           R"({"total":5,"n":1,"start":1000,"end":2000})"}));
  EXPECT_EQ(app.stats().errors_skipped, 1u);
}

TEST(WindowsApp, NullKeysAreCountedInRunStats) {
  Application app(embedded("win-nullkey"));
  const Topic in = app.topic("win-nullkey-in");
  (void)app.dataframe(in).tumbling_window(1s).count().final();
  produce_all(app, in,
              {{nullptr, Value(1), 1000},
               {"k", Value(1), 1000},
               {nullptr, Value(1), 1500},
               {"k", Value(1), 2000}});
  auto out = app.run({.timeout = 3s, .count = 1});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to_json(), R"({"start":1000,"end":2000,"value":1})");
  EXPECT_EQ(app.stats().null_keys_skipped, 2u);
}

// The window state is written back at checkpoints and read again in a later run (stores
// outlive run() on the embedded broker; the in-memory windows do not).
TEST(WindowsApp, WindowsContinueAcrossRuns) {
  Application app(embedded("win-runs"));
  const Topic in = app.topic("win-runs-in", {.config = TopicConfig{.num_partitions = 2}});
  (void)app.dataframe(in)
      .hopping_window(1000ms, 500ms)
      .agg({{"sum", agg::sum("v")}, {"items", agg::collect("v")}})
      .final();
  produce_all(app, in,
              {{"a", Value::object({{"v", 1}}), 1000},
               {"b", Value::object({{"v", 10}}), 1200},
               {"a", Value::object({{"v", 2}}), 1400}});
  auto out = app.run({.timeout = 2s});
  EXPECT_TRUE(out.empty());
  produce_all(app, in,
              {{"a", Value::object({{"v", 4}}), 1600},
               {"a", Value::object({{"v", 0}}), 5000},
               {"b", Value::object({{"v", 0}}), 5000}});
  out = app.run({.timeout = 3s, .count = 5});
  std::vector<std::string> got;
  for (const auto& v : out) got.push_back(v.to_json());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{
                     R"({"sum":10,"items":[10],"start":1000,"end":2000})",
                     R"({"sum":10,"items":[10],"start":500,"end":1500})",
                     R"({"sum":3,"items":[1,2],"start":500,"end":1500})",
                     R"({"sum":4,"items":[4],"start":1500,"end":2500})",
                     R"({"sum":7,"items":[1,2,4],"start":1000,"end":2000})",
                 }))
      << "got " << got.size();
}

// EXT-02 through the run loop: a quiet partition's last window closes once the application
// clock has moved on by idle_timeout; the clock is the test's own.
TEST(WindowsApp, IdleClosingOnTheApplicationClock) {
  auto config = embedded("win-idle");
  auto now = std::make_shared<std::atomic<std::int64_t>>(1'000'000);
  auto processed = std::make_shared<std::atomic<int>>(0);
  config.clock = [now] { return now->load(); };
  config.on_message_processed = [processed](const std::string&, std::int32_t, std::int64_t) {
    ++*processed;
  };
  Application app(config);
  const Topic in = app.topic("win-idle-in");
  (void)app.dataframe(in).tumbling_window(10s).sum().final({.idle_timeout = 30s});
  produce_all(app, in, {{"k", Value(2), 1000}, {"k", Value(3), 4000}});
  std::thread advance([&] {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (processed->load() < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    // Not yet idle long enough: nothing may close.
    *now += 29'000;
    std::this_thread::sleep_for(500ms);
    *now += 1'000;
  });
  const auto started = std::chrono::steady_clock::now();
  auto out = app.run({.timeout = 5s, .count = 1});
  advance.join();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to_json(), R"({"start":0,"end":10000,"value":5})");
  // It closed after the second advance, not the first.
  EXPECT_GE(std::chrono::steady_clock::now() - started, 500ms);
}

// EXT-02 after a restart: windows left open by a run that ended are closed by idle closing in
// the next run even when their partition receives nothing more (the window state is built
// when the partition is ready, not on its first record).
TEST(WindowsApp, IdleClosingClosesWhatAnEarlierRunLeftOpen) {
  auto config = embedded("win-idle-restart");
  const std::string dir =
      ::testing::TempDir() + "win-idle-restart-" +
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  config.state_dir = dir;
  auto now = std::make_shared<std::atomic<std::int64_t>>(1'000'000);
  config.clock = [now] { return now->load(); };
  Application app(config);
  const Topic in = app.topic("win-idle-restart-in");
  (void)app.dataframe(in).tumbling_window(10s).sum().final({.idle_timeout = 30s});
  produce_all(app, in, {{"k", Value(2), 1000}, {"k", Value(3), 4000}});
  // Run 1: the clock stands still, so the window stays open; the input is committed.
  EXPECT_TRUE(app.run({.timeout = 1s}).empty());
  ASSERT_EQ(app.stats().messages_consumed, 2u);
  // Run 2 consumes nothing; the clock moves on by more than idle_timeout.
  std::thread advance([&] {
    std::this_thread::sleep_for(500ms);
    *now += 31'000;
  });
  auto out = app.run({.timeout = 3s, .count = 1});
  advance.join();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to_json(), R"({"start":0,"end":10000,"value":5})");
  EXPECT_EQ(app.stats().messages_consumed, 2u) << "run 2 consumed the input again";
  std::filesystem::remove_all(dir);
}

TEST(Windows, IdleClosingWithSdfTest) {
  auto config = embedded("win-idle-test");
  std::int64_t now = 0;
  config.clock = [&now] { return now; };
  Application app(config);
  auto sdf = app.dataframe(app.topic("win-idle-test-in"));
  auto out = sdf.tumbling_window(10s).count().final({.idle_timeout = 5s});
  (void)out.test(Value(1), Value("a"), 1000);
  now += 4999;
  EXPECT_TRUE(out.test_idle().empty());
  now += 1;
  // T_eff = 1000 + 5000 < 10000: still open.
  EXPECT_TRUE(out.test_idle().empty());
  now += 4000;
  // T_eff = 1000 + 9000 = 10000 = end: closes.
  EXPECT_EQ(texts(out.test_idle()),
            std::vector<std::string>{R"({"start":0,"end":10000,"value":1})"});
  // Every key's stream time is now >= 10000: a record for [0, 10000) is late.
  EXPECT_TRUE(out.test(Value(1), Value("b"), 9000).empty());
  EXPECT_TRUE(out.test_idle().empty());
}

// WIN-12: accumulators are stored by `<column>/<state_suffix>`; state written with other
// aggregations keeps the ones still declared and starts the new ones from scratch. (Two
// pipelines share one sdf.test() state here, as a redeployed app shares its store.)
TEST(Windows, ChangedAggregationsKeepTheAccumulatorsTheyShare) {
  Application app(embedded("win-change"));
  auto before = app.dataframe(app.topic("win-change-a"))
                    .tumbling_window(1s, {.name = "w"})
                    .agg({{"sum", agg::sum("v")}, {"n", agg::count()}, {"xs", agg::collect("v")}})
                    .final();
  (void)before.test(Value::object({{"v", 1}}), Value("k"), 1000);
  (void)before.test(Value::object({{"v", 2}}), Value("k"), 1100);
  auto after = app.dataframe(app.topic("win-change-b"))
                   .tumbling_window(1s, {.name = "w"})
                   .agg({{"max", agg::max("v")}, {"sum", agg::sum("v")}, {"xs", agg::collect("v")}})
                   .final();
  detail::test_harness(after).adopt_stores(detail::test_harness(before));
  detail::test_harness(after).reload_state = true;
  EXPECT_TRUE(after.test(Value::object({{"v", 5}}), Value("k"), 1200).empty());
  EXPECT_EQ(texts(after.test(Value::object({{"v", 0}}), Value("k"), 2000)),
            std::vector<std::string>{R"({"max":5,"sum":8,"xs":[1,2,5],"start":1000,"end":2000})"});
}

}  // namespace
}  // namespace streamframe
