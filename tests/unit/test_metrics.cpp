// EXT-08 on the embedded broker: what /metrics counts after a run, the health endpoints'
// answers in each state, a port that cannot be bound, and docs/operations.md's metrics table
// against the code's list. (Prometheus scraping a running app over a real broker:
// integration/test_metrics_prometheus.cpp.)
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "app/metrics.hpp"
#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"
#include "support/http_client.hpp"
#include "support/prometheus_text.hpp"

namespace {

using namespace std::chrono_literals;
using namespace streamframe;
using streamframe::test::embedded_config;
using streamframe::test::free_tcp_port;
using streamframe::test::http_get;
using streamframe::test::sample_sum;

std::string scrape(int port) {
  const auto r = http_get("127.0.0.1", port, "/metrics");
  EXPECT_EQ(r.status, 200) << r.error;
  return r.body;
}

ApplicationConfig metrics_config(const std::string& group, int port) {
  ApplicationConfig cfg = embedded_config(group);
  cfg.metrics_port = port;
  cfg.metrics_bind_address = "127.0.0.1";
  return cfg;
}

TEST(MetricsReference, OperationsDocTableMatchesTheCode) {
  constexpr const char* kBegin = "<!-- metrics-reference:begin";
  constexpr const char* kEnd = "<!-- metrics-reference:end -->";
  std::ifstream in(STREAMFRAME_OPERATIONS_DOC);
  ASSERT_TRUE(in) << "cannot read " << STREAMFRAME_OPERATIONS_DOC;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string doc = buffer.str();
  const auto begin = doc.find(kBegin);
  ASSERT_NE(begin, std::string::npos) << "no '" << kBegin << "' marker in docs/operations.md";
  const auto table = doc.find("-->\n", begin);
  ASSERT_NE(table, std::string::npos);
  const auto start = table + 4;
  const auto end = doc.find(kEnd, start);
  ASSERT_NE(end, std::string::npos) << "no '" << kEnd << "' marker in docs/operations.md";
  const std::string expected = detail::metric_reference_markdown();
  const std::string actual = doc.substr(start, end - start);
  if (actual != expected && std::getenv("STREAMFRAME_UPDATE_DOCS") != nullptr) {
    std::ofstream out(STREAMFRAME_OPERATIONS_DOC, std::ios::trunc);
    out << doc.substr(0, start) << expected << doc.substr(end);
    GTEST_SKIP() << "rewrote the table in " << STREAMFRAME_OPERATIONS_DOC;
  }
  EXPECT_EQ(actual, expected) << "docs/operations.md's metrics table is out of date; rerun this "
                                 "test with STREAMFRAME_UPDATE_DOCS=1 to regenerate it";
}

TEST(Metrics, ScrapeCountsWhatTheRunDid) {
  const int port = free_tcp_port();
  ASSERT_GT(port, 0);
  ApplicationConfig cfg = metrics_config("metrics-count", port);
  cfg.on_processing_error = [](const std::exception&, const ErrorContext&) {
    return ErrorAction::skip;
  };
  Application app(cfg);
  const Topic in = app.topic("metrics-in", {.config = TopicConfig{.num_partitions = 2}});
  const Topic out = app.topic("metrics-out");
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < 40; ++i) producer.produce(in, Value(i), Value("k" + std::to_string(i)));
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(in);
  sdf = sdf.apply([](const Value& v) {
    if (v.as_int() % 10 == 0) throw std::runtime_error("a tenth fails");
    return v;
  });
  sdf.to_topic(out);
  (void)app.run({.timeout = 1s, .collect = false});

  const std::string text = scrape(port);
  EXPECT_EQ(sample_sum(text, "streamframe_records_consumed_total",
                       {{"topic", "metrics-in"}, {"worker", "0"}}),
            40)
      << text;
  EXPECT_GE(sample_sum(text, "streamframe_records_consumed_total", {{"partition", "0"}}), 1)
      << text;
  EXPECT_GE(sample_sum(text, "streamframe_records_consumed_total", {{"partition", "1"}}), 1)
      << text;
  EXPECT_EQ(sample_sum(text, "streamframe_records_produced_total", {{"topic", "metrics-out"}}), 36)
      << text;
  EXPECT_EQ(sample_sum(text, "streamframe_processing_errors_total",
                       {{"stage", "processing"}, {"action", "skip"}}),
            4)
      << text;
  EXPECT_GE(sample_sum(text, "streamframe_checkpoints_total", {{"result", "committed"}}), 1)
      << text;
  EXPECT_GE(sample_sum(text, "streamframe_checkpoint_duration_seconds_count"), 1) << text;
  // The run is over: nothing measures a lag any more.
  EXPECT_EQ(sample_sum(text, "streamframe_consumer_lag"), -1) << text;

  // A second run continues the counters.
  {
    Producer producer = app.get_producer();
    for (int i = 1; i <= 5; ++i) producer.produce(in, Value(i), Value("k"));
    ASSERT_TRUE(producer.flush(30s));
  }
  (void)app.run({.timeout = 1s, .collect = false});
  EXPECT_EQ(sample_sum(scrape(port), "streamframe_records_consumed_total"), 45);
}

TEST(Metrics, LateRecordsAreCountedByWindowStore) {
  const int port = free_tcp_port();
  Application app(metrics_config("metrics-late", port));
  const Topic in = app.topic("metrics-late-in");
  {
    Producer producer = app.get_producer();
    for (const std::int64_t ts : {1000, 25000, 3000, 4000, 26000}) {
      producer.produce(in, Value::object({{"x", 1}}), Value("k"), ts);
    }
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(in);
  (void)sdf.tumbling_window(10s).count().final();
  (void)app.run({.timeout = 1s, .collect = false});
  const std::string text = scrape(port);
  EXPECT_EQ(sample_sum(text, "streamframe_late_records_dropped_total"), 2) << text;
  EXPECT_EQ(sample_sum(text, "streamframe_late_records_dropped_total",
                       {{"store", "tumbling_window_10000_count"}}),
            2)
      << text;
}

TEST(Health, LiveAndReadyWhileRunningAndAfter) {
  const int port = free_tcp_port();
  Application app(metrics_config("health-states", port));
  const Topic in = app.topic("health-in");
  {
    Producer producer = app.get_producer();
    producer.produce(in, Value(1), Value("k"));
    ASSERT_TRUE(producer.flush(30s));
  }
  test::HttpResponse live_inside;
  test::HttpResponse ready_inside;
  auto sdf = app.dataframe(in);
  sdf = sdf.apply([&](const Value& v) {
    // The worker is inside its loop, partitions assigned and prepared.
    live_inside = http_get("127.0.0.1", port, "/health/live");
    ready_inside = http_get("127.0.0.1", port, "/health/ready");
    return v;
  });
  (void)app.run({.timeout = 20s, .count = 1});
  EXPECT_EQ(live_inside.status, 200) << live_inside.body << live_inside.error;
  EXPECT_EQ(ready_inside.status, 200) << ready_inside.body << ready_inside.error;
  EXPECT_NE(ready_inside.body.find("\"up\""), std::string::npos) << ready_inside.body;

  // A graceful end: still live (the process may be stopping), no longer ready.
  const auto live_after = http_get("127.0.0.1", port, "/health/live");
  const auto ready_after = http_get("127.0.0.1", port, "/health/ready");
  EXPECT_EQ(live_after.status, 200) << live_after.body;
  EXPECT_EQ(ready_after.status, 503) << ready_after.body;
  EXPECT_NE(ready_after.body.find("not running"), std::string::npos) << ready_after.body;
  // Only GET and HEAD; nothing but the three paths.
  EXPECT_EQ(http_get("127.0.0.1", port, "/").status, 404);
  EXPECT_EQ(http_get("127.0.0.1", port, "/metrics/x").status, 404);
}

TEST(Health, ALoopThatStopsTurningIsNotLive) {
  const int port = free_tcp_port();
  ApplicationConfig cfg = metrics_config("health-stuck", port);
  cfg.liveness_timeout = 300ms;
  Application app(cfg);
  const Topic in = app.topic("health-stuck-in");
  {
    Producer producer = app.get_producer();
    producer.produce(in, Value(1), Value("k"));
    ASSERT_TRUE(producer.flush(30s));
  }
  test::HttpResponse live_stuck;
  auto sdf = app.dataframe(in);
  sdf = sdf.apply([&](const Value& v) {
    std::this_thread::sleep_for(700ms);  // a callback that hangs
    live_stuck = http_get("127.0.0.1", port, "/health/live");
    return v;
  });
  (void)app.run({.timeout = 20s, .count = 1});
  EXPECT_EQ(live_stuck.status, 503) << live_stuck.body << live_stuck.error;
  EXPECT_NE(live_stuck.body.find("worker 0's loop has not turned"), std::string::npos)
      << live_stuck.body;
}

TEST(Health, ARunThatFailedIsNotLive) {
  const int port = free_tcp_port();
  Application app(metrics_config("health-failed", port));
  const Topic in = app.topic("health-failed-in");
  {
    Producer producer = app.get_producer();
    producer.produce(in, Value(1), Value("k"));
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(in);
  sdf = sdf.apply([](const Value&) -> Value { throw std::runtime_error("the pipeline broke"); });
  EXPECT_ANY_THROW((void)app.run({.timeout = 20s, .count = 1}));
  const auto live = http_get("127.0.0.1", port, "/health/live");
  EXPECT_EQ(live.status, 503) << live.body;
  EXPECT_NE(live.body.find("the pipeline broke"), std::string::npos) << live.body;
  EXPECT_EQ(http_get("127.0.0.1", port, "/health/ready").status, 503);
}

TEST(Metrics, APortInUseIsAConfigErrorNamingIt) {
  // Something else listens on the port.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);

  ApplicationConfig cfg = metrics_config("metrics-port-busy", port);
  cfg.metrics_bind_address = "0.0.0.0";
  Application app(cfg);
  auto sdf = app.dataframe(app.topic("metrics-busy-in"));
  try {
    (void)app.run({.timeout = 1s});
    ADD_FAILURE() << "run() started with its metrics port in use";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("metrics_port " + std::to_string(port)), std::string::npos)
        << e.what();
  }
  ::close(fd);
  EXPECT_THROW(Application(metrics_config("metrics-port-bad", 70000)), ConfigError);
}

// civetweb's mg_init_library() is not thread-safe. The endpoints' server starts with the first
// run(), often on a thread of the program's, and a program's own first use of civetweb at that
// moment (the Prometheus integration test's HTTP client, once in CI) corrupted civetweb's
// global mutex: glibc aborted on "mutex->__data.__owner == 0". Constructing an Application
// with a metrics port now sets civetweb up on the constructing thread. Checked in a fresh
// process (the threadsafe death-test style runs this binary again), where nothing set it up
// before; mg_exit_library() answers 1 only when it was set up, 0 otherwise.
TEST(Metrics, ConstructingTheAppSetsUpTheHttpLibraryOnItsThread) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        if (mg_exit_library() != 0) std::_Exit(2);  // set up already: nothing to check
        Application app(metrics_config("civetweb-setup", free_tcp_port()));
        std::_Exit(mg_exit_library() == 1 ? 0 : 3);
      },
      testing::ExitedWithCode(0), "");
}

}  // namespace
