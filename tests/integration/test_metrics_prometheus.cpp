// EXT-08 against real servers: a real Prometheus (scripts/prometheus, Debian's prometheus)
// scrapes an application consuming from the real broker, and its HTTP API answers for the
// lag and throughput series; readiness follows a restore held open by a transaction a
// producer left open on the changelog (CK-07), so "restoring => not ready" is seen for as long
// as the test decides, not for a few lucky milliseconds; liveness through an outage of a
// cluster of the test's own (HealthOutage: live until broker_availability_timeout ends the run,
// then not live).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "integration/test_app_helpers.hpp"
#include "kafka/producer.hpp"
#include "streamframe/streamframe.hpp"
#include "support/http_client.hpp"
#include "support/kafka_cluster.hpp"
#include "support/prometheus_text.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using namespace streamframe;
using namespace streamframe::apptest;
namespace sft = streamframe::test;

// The values of an instant query's result, one per series; empty when there is none (or the
// query failed: the failure is reported).
std::vector<double> query(const std::string& prometheus, const std::string& expr) {
  const auto [host, port] = sft::split_address(prometheus);
  const auto r = sft::http_get(host, port, "/api/v1/query?query=" + sft::url_encode(expr));
  if (r.status != 200) {
    ADD_FAILURE() << "query '" << expr << "': HTTP " << r.status << " " << r.error << r.body;
    return {};
  }
  std::vector<double> values;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r.body).get(doc) != simdjson::SUCCESS) {
    ADD_FAILURE() << "not JSON: " << r.body;
    return {};
  }
  for (simdjson::dom::element series : doc["data"]["result"].get_array()) {
    const std::string_view v = series["value"].at(1).get_string().value();
    values.push_back(std::stod(std::string(v)));
  }
  return values;
}

double single(const std::string& prometheus, const std::string& expr) {
  const auto v = query(prometheus, expr);
  return v.size() == 1 ? v[0] : -1;
}

// Registers 127.0.0.1:`port` as a scrape target (scripts/prometheus' file discovery); the
// file goes when the test ends.
class ScrapeTarget {
 public:
  ScrapeTarget(const std::string& name, int port) {
    const auto dir =
        std::filesystem::path(*sft::env_value("STREAMFRAME_PROMETHEUS_DIR")) / "targets";
    path_ = dir / (name + ".json");
    const auto tmp = dir / (name + ".json.tmp");
    std::ofstream(tmp) << R"([{"targets": ["127.0.0.1:)" << port << R"("], "labels": {"test": ")"
                       << name << R"("}}])";
    std::filesystem::rename(tmp, path_);
  }
  ~ScrapeTarget() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }

 private:
  std::filesystem::path path_;
};

#define REQUIRE_TEST_PROMETHEUS()                                                         \
  do {                                                                                    \
    if (!sft::env_value("STREAMFRAME_TEST_PROMETHEUS") ||                                 \
        !sft::env_value("STREAMFRAME_PROMETHEUS_DIR")) {                                  \
      GTEST_SKIP() << "STREAMFRAME_TEST_PROMETHEUS / STREAMFRAME_PROMETHEUS_DIR not set"; \
    }                                                                                     \
  } while (0)

TEST(MetricsPrometheus, PrometheusScrapesTheLagAndThroughputOfARunningApp) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_PROMETHEUS();
  const std::string prometheus = *sft::env_value("STREAMFRAME_TEST_PROMETHEUS");
  const std::string name = sft::unique_name("prom");
  const int port = sft::free_tcp_port();
  ASSERT_GT(port, 0);

  ApplicationConfig cfg = base_config(name);
  cfg.metrics_port = port;
  cfg.metrics_bind_address = "127.0.0.1";
  cfg.commit_interval = 500ms;
  Application app(cfg);
  const Topic in = app.topic(name + "-in", {.config = TopicConfig{.num_partitions = 2}});
  const Topic out = app.topic(name + "-out");
  auto sdf = app.dataframe(in);
  // About 1 ms a record: 4000 records take seconds, so scrapes see a lag building up and
  // going down.
  sdf = sdf.apply([](const Value& v) {
    std::this_thread::sleep_for(1ms);
    return v;
  });
  sdf.to_topic(out);
  BackgroundRun running(app);

  ScrapeTarget target(name, port);
  const std::string sel = "{test=\"" + name + "\"}";
  // Prometheus applies discovered targets every few seconds: the records come once it
  // scrapes, so it sees them wait and go.
  ASSERT_TRUE(eventually([&] { return single(prometheus, "up" + sel) == 1; }, 60s))
      << "Prometheus never scraped the app on port " << port;

  {
    Producer producer = app.get_producer();
    for (int i = 0; i < 4000; ++i) {
      producer.produce(in, Value::object({{"i", i}}), Value("k" + std::to_string(i)));
    }
    ASSERT_TRUE(producer.flush(30s));
  }
  ASSERT_TRUE(eventually(
      [&] {
        return single(prometheus, "sum(streamframe_records_consumed_total" + sel + ")") == 4000;
      },
      90s))
      << "consumed: " << single(prometheus, "sum(streamframe_records_consumed_total" + sel + ")");
  EXPECT_TRUE(eventually(
      [&] {
        return single(prometheus, "sum(streamframe_records_produced_total{test=\"" + name +
                                      "\",topic=\"" + name + "-out\"})") == 4000;
      },
      30s));
  // The lag went up while the records waited, and back to 0 once they were processed.
  EXPECT_GT(single(prometheus, "max(max_over_time(streamframe_consumer_lag" + sel + "[5m]))"), 100);
  EXPECT_TRUE(eventually(
      [&] {
        const auto lags = query(prometheus, "streamframe_consumer_lag" + sel);
        return lags.size() == 2 && lags[0] == 0 && lags[1] == 0;
      },
      30s))
      << "the lag of both partitions did not come back to 0";
  // Throughput: the rate Prometheus computes over the processing (about 1000/s here).
  const double peak_rate =
      single(prometheus,
             "max_over_time(sum(rate(streamframe_records_consumed_total" + sel + "[5s]))[5m:1s])");
  EXPECT_GT(peak_rate, 100) << "peak consumption rate " << peak_rate << "/s";
  EXPECT_GE(single(prometheus, "sum(streamframe_checkpoints_total{test=\"" + name +
                                   "\",result=\"committed\"})"),
            1);
  running.finish();
}

TEST(MetricsPrometheus, NotReadyWhileRestoringAndReadyOnceRestored) {
  REQUIRE_TEST_BROKERS();
  const std::string group = sft::unique_name("ready");
  const std::string topic = group + "-in";
  const auto state1 = std::filesystem::path(::testing::TempDir()) / (group + "-1");
  const auto state2 = std::filesystem::path(::testing::TempDir()) / (group + "-2");
  // A first run leaves one key in the store and its changelog.
  {
    ApplicationConfig cfg = base_config(group);
    cfg.state_dir = state1.string();
    Application app(cfg);
    const Topic in = app.topic(topic);
    {
      Producer producer = app.get_producer();
      producer.produce(in, Value::object({{"i", 1}}), Value("k"));
      ASSERT_TRUE(producer.flush(30s));
    }
    auto sdf = app.dataframe(in);
    sdf = sdf.apply([](const Value& v, State& state) {
      state.set("seen", Value(1));
      return v;
    });
    ASSERT_EQ(app.run({.timeout = 30s, .count = 1}).size(), 1u);
  }
  const std::string changelog = "changelog__" + group + "--" + topic + "--default";
  // A producer opens a transaction on the changelog and leaves it open: a restore from it
  // waits for the transaction to end (CK-07).
  kafka::Producer open_txn({{"bootstrap.servers", brokers()},
                            {"transactional.id", group + "-open"},
                            {"transaction.timeout.ms", "60000"}});
  open_txn.init_transactions(30s);
  open_txn.begin_transaction();
  open_txn.produce(changelog, 0, std::string_view("k"), std::string_view("x"));
  ASSERT_TRUE(open_txn.flush(30s));

  // A second process on an empty state directory restores the changelog.
  const int port = sft::free_tcp_port();
  ApplicationConfig cfg = base_config(group);
  cfg.state_dir = state2.string();
  cfg.metrics_port = port;
  cfg.metrics_bind_address = "127.0.0.1";
  Application app(cfg);
  auto sdf = app.dataframe(app.topic(topic));
  sdf = sdf.apply([](const Value& v, State&) { return v; });
  BackgroundRun running(app);

  sft::HttpResponse ready;
  ASSERT_TRUE(eventually(
      [&] {
        ready = sft::http_get("127.0.0.1", port, "/health/ready");
        return ready.status == 503 && ready.body.find("restoring") != std::string::npos;
      },
      60s))
      << "never seen restoring: " << ready.status << " " << ready.body << ready.error;
  // Still so a while later: the restore waits for the open transaction.
  std::this_thread::sleep_for(2s);
  ready = sft::http_get("127.0.0.1", port, "/health/ready");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_EQ(sft::http_get("127.0.0.1", port, "/health/live").status, 200)
      << "a restore that waits is alive";
  const std::string during = sft::http_get("127.0.0.1", port, "/metrics").body;
  const std::map<std::string, std::string> store{{"store", "default"}, {"partition", "0"}};
  EXPECT_EQ(sft::sample_sum(during, "streamframe_restore_remaining_records", store), 1) << during;

  open_txn.abort_transaction(30s);
  ASSERT_TRUE(eventually(
      [&] {
        ready = sft::http_get("127.0.0.1", port, "/health/ready");
        return ready.status == 200;
      },
      60s))
      << "not ready after the restore: " << ready.body;
  const std::string after = sft::http_get("127.0.0.1", port, "/metrics").body;
  EXPECT_EQ(sft::sample_sum(after, "streamframe_restore_remaining_records", store), 0) << after;
  EXPECT_EQ(sft::sample_sum(after, "streamframe_restored_records_total", store), 1) << after;
  running.finish();
  std::filesystem::remove_all(state1);
  std::filesystem::remove_all(state2);
}

TEST(HealthOutage, LiveThroughAnOutageUntilTheAvailabilityTimeoutThenNot) {
  REQUIRE_TEST_BROKERS();  // a cluster of its own, but only where the integration tier runs
  sft::KafkaCluster cluster(1);
  const std::string group = sft::unique_name("outage-health");
  const int port = sft::free_tcp_port();
  ApplicationConfig cfg = base_config(group);
  cfg.broker_address = cluster.address();
  cfg.metrics_port = port;
  cfg.metrics_bind_address = "127.0.0.1";
  cfg.broker_availability_timeout = 8s;
  cfg.request_timeout = 5s;
  Application app(cfg);
  auto sdf = app.dataframe(app.topic(group + "-in"));
  BackgroundRun running(app);
  sft::HttpResponse r;
  ASSERT_TRUE(eventually(
      [&] {
        r = sft::http_get("127.0.0.1", port, "/health/ready");
        return r.status == 200;
      },
      60s))
      << r.status << " " << r.body;

  cluster.control("kill-broker 1");
  const auto down = Clock::now();
  // Within the availability timeout the app waits for the brokers: alive.
  while (seconds_since(down) < 4) {
    r = sft::http_get("127.0.0.1", port, "/health/live");
    ASSERT_EQ(r.status, 200) << "not live " << seconds_since(down)
                             << " s into the outage: " << r.body;
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(eventually(
      [&] {
        r = sft::http_get("127.0.0.1", port, "/health/live");
        return r.status == 503;
      },
      60s))
      << "still live " << seconds_since(down) << " s into the outage: " << r.body;
  const double after = seconds_since(down);
  EXPECT_GE(after, 8) << "not live before broker_availability_timeout passed";
  EXPECT_NE(r.body.find("run() ended with an error"), std::string::npos) << r.body;
  running.join();
  ASSERT_TRUE(running.error());
  EXPECT_THROW(std::rethrow_exception(running.error()), KafkaBrokerUnavailableError);
}

}  // namespace
