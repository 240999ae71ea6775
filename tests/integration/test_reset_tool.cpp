// streamframe-reset (issue 18) against the real broker, run as the program an operator runs:
// a dry run changes nothing; a reset moves the committed offsets, deletes the changelogs and
// the local state, and the application then processes its input again from empty state; a
// running application is refused; offsets by time and by duration; `inspect`.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "integration/test_app_helpers.hpp"
#include "kafka/admin.hpp"
#include "streamframe/streamframe.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using namespace streamframe;
using namespace streamframe::apptest;
namespace sft = streamframe::test;

struct ToolResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs streamframe-reset with `args` (names in the tests are shell-safe).
ToolResult run_tool(const std::string& args, const std::string& bootstrap = brokers()) {
  const std::string cmd = std::string("'") + STREAMFRAME_RESET_TOOL + "' --bootstrap-servers '" +
                          bootstrap + "' " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {};
  ToolResult r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::map<std::pair<std::string, int>, std::int64_t> committed(const std::string& group) {
  kafka::Admin admin({{"bootstrap.servers", brokers()}});
  std::map<std::pair<std::string, int>, std::int64_t> out;
  for (const auto& tp : admin.group_offsets(group, 30s)) out[{tp.topic, tp.partition}] = tp.offset;
  return out;
}

bool topic_exists(const std::string& topic) {
  kafka::Admin admin({{"bootstrap.servers", brokers()}});
  return admin.topic_exists(topic, 30s);
}

std::string iso8601(std::int64_t ms) {
  const std::time_t secs = ms / 1000;
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(buf) + "." + std::to_string(1000 + ms % 1000).substr(1) + "Z";
}

// A stateful app: counts records per key and emits {"key", "n"}.
struct CountingApp {
  CountingApp(const std::string& group, const std::string& topic, const std::string& state_dir) {
    ApplicationConfig cfg = base_config(group);
    cfg.state_dir = state_dir;
    app = std::make_unique<Application>(cfg);
    in = app->topic(topic, {.config = TopicConfig{.num_partitions = 2}});
    auto sdf = app->dataframe(*in);
    (void)sdf.apply([](const Value& v, State& state) {
      const std::int64_t n = state.get("n", Value(0)).as_int() + 1;
      state.set("n", Value(n));
      return Value::object({{"key", v["k"]}, {"n", Value(n)}});
    });
  }
  std::unique_ptr<Application> app;
  std::optional<Topic> in;
};

TEST(ResetTool, DryRunChangesNothingThenResetReprocessesFromEmptyState) {
  REQUIRE_TEST_BROKERS();
  const std::string group = sft::unique_name("reset");
  const std::string topic = group + "-in";
  const auto state_dir = std::filesystem::path(::testing::TempDir()) / (group + "-state");
  {
    CountingApp a(group, topic, state_dir.string());
    Producer producer = a.app->get_producer();
    for (int i = 0; i < 20; ++i) {
      producer.produce(*a.in, Value::object({{"k", "k" + std::to_string(i % 4)}}),
                       Value("k" + std::to_string(i % 4)));
    }
    ASSERT_TRUE(producer.flush(30s));
    const auto out = a.app->run({.timeout = 30s, .count = 20});
    ASSERT_EQ(out.size(), 20u);
  }
  const auto before = committed(group);
  ASSERT_EQ(before.size(), 2u);
  const std::string changelog = "changelog__" + group + "--" + topic + "--default";
  ASSERT_TRUE(topic_exists(changelog));
  ASSERT_TRUE(std::filesystem::exists(state_dir / group));

  const auto inspect =
      run_tool("--application-id " + group + " --state-dir '" + state_dir.string() + "' inspect");
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_NE(inspect.output.find("state Empty, 0 member(s)"), std::string::npos) << inspect.output;
  EXPECT_NE(inspect.output.find(topic + "[0]: committed " + std::to_string(before.at({topic, 0})) +
                                ", end "),
            std::string::npos)
      << inspect.output;
  EXPECT_NE(inspect.output.find("store 'default' of stream '" + topic + "': " + changelog),
            std::string::npos)
      << inspect.output;
  EXPECT_NE(inspect.output.find("local state " + (state_dir / group).string()), std::string::npos)
      << inspect.output;

  const auto dry =
      run_tool("--application-id " + group + " --state-dir '" + state_dir.string() + "' --dry-run");
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find(topic + "[0]: " + std::to_string(before.at({topic, 0})) + " -> 0"),
            std::string::npos)
      << dry.output;
  EXPECT_NE(dry.output.find(changelog), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("dry run: nothing was changed"), std::string::npos) << dry.output;
  EXPECT_EQ(committed(group), before);
  EXPECT_TRUE(topic_exists(changelog));
  EXPECT_TRUE(std::filesystem::exists(state_dir / group));

  const auto reset = run_tool("--application-id " + group + " --state-dir '" + state_dir.string() +
                              "' --to-earliest");
  ASSERT_EQ(reset.exit_code, 0) << reset.output;
  const auto after = committed(group);
  EXPECT_EQ(after.at({topic, 0}), 0);
  EXPECT_EQ(after.at({topic, 1}), 0);
  EXPECT_TRUE(eventually([&] { return !topic_exists(changelog); }, 30s)) << changelog;
  EXPECT_FALSE(std::filesystem::exists(state_dir / group));

  // The application starts over: every record again, counted from empty state (each key's
  // counts are 1..5 again, not 6..10).
  CountingApp again(group, topic, state_dir.string());
  const auto out = again.app->run({.timeout = 30s, .count = 20});
  ASSERT_EQ(out.size(), 20u);
  std::int64_t max_n = 0;
  for (const auto& v : out) max_n = std::max(max_n, v["n"].as_int());
  EXPECT_EQ(max_n, 5);
  std::filesystem::remove_all(state_dir);
}

TEST(ResetTool, RefusesWhileTheApplicationRuns) {
  REQUIRE_TEST_BROKERS();
  const std::string group = sft::unique_name("reset-busy");
  const std::string topic = group + "-in";
  ApplicationConfig cfg = base_config(group);
  cfg.commit_interval = 200ms;
  Application app(cfg);
  const Topic in = app.topic(topic);
  {
    Producer producer = app.get_producer();
    producer.produce(in, Value::object({{"i", 1}}), Value("k"));
    ASSERT_TRUE(producer.flush(30s));
  }
  std::atomic<int> processed{0};
  (void)app.dataframe(in).apply([&](const Value& v) {
    ++processed;
    return v;
  });
  BackgroundRun running(app);
  ASSERT_TRUE(
      eventually([&] { return processed.load() == 1 && committed(group).size() == 1; }, 60s));
  const auto before = committed(group);
  const auto r = run_tool("--application-id " + group);
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("active member(s)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nothing was changed"), std::string::npos) << r.output;
  EXPECT_EQ(committed(group), before);
}

TEST(ResetTool, ToATimeADurationAgoOrTheEnd) {
  REQUIRE_TEST_BROKERS();
  const std::string group = sft::unique_name("reset-time");
  const std::string topic = group + "-in";
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  // Ten records a minute apart, the last one 10 minutes ago.
  const std::int64_t t0 = now - 20 * 60000;
  {
    Application app(base_config(group));
    const Topic in = app.topic(topic);
    Producer producer = app.get_producer();
    for (int i = 0; i < 10; ++i) {
      producer.produce(in, Value::object({{"i", i}}), Value("k"), t0 + i * 60000);
    }
    ASSERT_TRUE(producer.flush(30s));
    (void)app.dataframe(in);
    ASSERT_EQ(app.run({.timeout = 30s, .count = 10}).size(), 10u);
  }
  ASSERT_EQ(committed(group).at({topic, 0}), 10);

  // The first record at or after record 4's time (to the ms), in another time zone's notation.
  const std::int64_t t4 = t0 + 4 * 60000;
  auto r = run_tool("--application-id " + group + " --to-datetime " + iso8601(t4));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(committed(group).at({topic, 0}), 4) << r.output;
  r = run_tool("--application-id " + group + " --to-datetime " + iso8601(t4 + 1));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(committed(group).at({topic, 0}), 5) << r.output;

  // 15 minutes ago: records 5.. (record 5 is 15 min ago minus the time the test took).
  r = run_tool("--application-id " + group + " --by-duration PT15M30S");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(committed(group).at({topic, 0}), 5) << r.output;
  r = run_tool("--application-id " + group + " --by-duration 1h");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(committed(group).at({topic, 0}), 0) << r.output;
  // Later than every record: the end.
  r = run_tool("--application-id " + group + " --by-duration 1m");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(committed(group).at({topic, 0}), 10) << r.output;
  r = run_tool("--application-id " + group + " --to-earliest");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(committed(group).at({topic, 0}), 0);
  r = run_tool("--application-id " + group + " --to-latest");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(committed(group).at({topic, 0}), 10);

  // Bad input: a clear error, nothing changed.
  r = run_tool("--application-id " + group + " --to-datetime yesterday");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--to-datetime 'yesterday'"), std::string::npos) << r.output;
  r = run_tool("--application-id " + group + " --to-latest --to-earliest");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("excludes"), std::string::npos) << r.output;
  EXPECT_EQ(committed(group).at({topic, 0}), 10);
}

TEST(ResetTool, AnUnreachableClusterIsAClearErrorWithinTheTimeout) {
  REQUIRE_TEST_BROKERS();
  const auto started = Clock::now();
  const auto r = run_tool("--application-id nobody --timeout-ms 2000", "127.0.0.1:1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("error: no Kafka broker reachable at '127.0.0.1:1' within 2000 ms"),
            std::string::npos)
      << r.output;
  EXPECT_LT(seconds_since(started), 10);
}

}  // namespace
