// EXT-08 against real servers: a real Prometheus (scripts/prometheus, Debian's prometheus)
// scrapes an application consuming from the real broker, and its HTTP API answers for the
// lag and throughput series; readiness follows a restore held open by a transaction a
// producer left open on the changelog (CK-07), so "restoring => not ready" is seen for as long
// as the test decides, not for a few lucky milliseconds; liveness through an outage of a
// cluster of the test's own (HealthOutage: live until broker_availability_timeout ends the run,
// then not live). Scrapes taken throughout a rebalance stay consistent: every one parses,
// counters never go back, the gauges name only partitions the instance holds, once each.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
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

// The samples of one scrape: series (name and labels as written) => value. Duplicate
// series are counted in `duplicates`; a line that is not a sample makes `malformed` true.
struct Scrape {
  std::map<std::string, double> series;
  int duplicates = 0;
  bool malformed = false;
};

Scrape parse_scrape(const std::string& body) {
  Scrape out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos || space == 0) {
      out.malformed = true;
      continue;
    }
    double value = 0;
    try {
      value = std::stod(line.substr(space + 1));
    } catch (const std::exception&) {
      out.malformed = true;
      continue;
    }
    if (!out.series.emplace(line.substr(0, space), value).second) ++out.duplicates;
  }
  return out;
}

// The partitions `name`'s series of `scrape` carry a sample for.
std::set<std::string> partitions_of(const Scrape& scrape, const std::string& name) {
  std::set<std::string> out;
  for (const auto& [series, value] : scrape.series) {
    if (series.compare(0, name.size() + 1, name + "{") != 0) continue;
    const auto at = series.find("partition=\"");
    if (at == std::string::npos) continue;
    const auto from = at + 11;
    out.insert(series.substr(from, series.find('"', from) - from));
  }
  return out;
}

TEST(MetricsPrometheus, ScrapesThroughoutARebalanceStayConsistent) {
  REQUIRE_TEST_BROKERS();
  const std::string name = sft::unique_name("prom-rebalance");
  const int port_a = sft::free_tcp_port();
  ASSERT_GT(port_a, 0);
  const auto config = [&](int port) {
    ApplicationConfig cfg = base_config(name);
    cfg.metrics_port = port;
    cfg.metrics_bind_address = "127.0.0.1";
    cfg.commit_interval = 300ms;
    return cfg;
  };
  const auto pipeline = [&](Application& app) {
    const Topic in = app.topic(name + "-in", {.config = TopicConfig{.num_partitions = 4}});
    // About 1 ms a record: the run is still busy when the second instance joins.
    (void)app.dataframe(in).apply([](const Value& v) {
      std::this_thread::sleep_for(1ms);
      return v;
    });
    return in;
  };
  Application a(config(port_a));
  const Topic in = pipeline(a);
  constexpr int kRecords = 6000;
  {
    Producer producer = a.get_producer();
    for (int i = 0; i < kRecords; ++i) {
      producer.produce(in, Value::object({{"i", i}}), Value("k" + std::to_string(i)));
    }
    ASSERT_TRUE(producer.flush(30s));
  }
  const auto scrape_of = [](int port) {
    const auto r = sft::http_get("127.0.0.1", port, "/metrics");
    return std::pair{r.status, parse_scrape(r.body)};
  };
  const std::string consumed = "streamframe_records_consumed_total";
  const std::string lag = "streamframe_consumer_lag";

  BackgroundRun run_a(a);
  ASSERT_TRUE(
      eventually([&] { return partitions_of(scrape_of(port_a).second, lag).size() == 4; }, 60s))
      << "the first instance never reported the lag of its 4 partitions";

  // Scrapes of the first instance, as fast as it answers, from before the second one joins
  // until the test has seen the rebalance settle.
  std::mutex scrapes_mutex;
  std::vector<std::pair<int, Scrape>> scrapes;
  std::atomic<bool> scraping{true};
  std::atomic<int> phase{0};  // 0 before the join, 1 from it until settled, 2 after
  std::vector<int> phase_of;
  std::thread scraper([&] {
    while (scraping) {
      // A short pause: back to back, the scrapes would take a core from the instances under a
      // loaded machine (ctest -j).
      std::this_thread::sleep_for(2ms);
      auto s = scrape_of(port_a);
      const std::lock_guard lock(scrapes_mutex);
      phase_of.push_back(phase.load());
      scrapes.push_back(std::move(s));
    }
  });

  const int port_b = sft::free_tcp_port();
  ASSERT_GT(port_b, 0);
  phase = 1;
  Application b(config(port_b));
  (void)pipeline(b);
  BackgroundRun run_b(b);
  const bool settled = eventually(
      [&] {
        const auto pa = partitions_of(scrape_of(port_a).second, lag);
        const auto pb = partitions_of(scrape_of(port_b).second, lag);
        return pa.size() == 2 && pb.size() == 2;
      },
      60s);
  phase = 2;
  // Both instances together consumed everything (an instance that consumed nothing has no
  // series yet).
  const auto consumed_by = [&](int port) {
    return std::max(0.0,
                    sft::sample_sum(sft::http_get("127.0.0.1", port, "/metrics").body, consumed));
  };
  const bool done =
      eventually([&] { return consumed_by(port_a) + consumed_by(port_b) >= kRecords; }, 90s);
  scraping = false;
  scraper.join();
  const Scrape end_a = scrape_of(port_a).second;
  const Scrape end_b = scrape_of(port_b).second;
  run_b.finish();
  run_a.finish();
  const auto names = [&](const Scrape& sc) {
    std::string out;
    for (const auto& p : partitions_of(sc, lag)) out += p + " ";
    return out;
  };
  ASSERT_TRUE(settled) << "the rebalance never split the 4 partitions 2 and 2: first holds "
                       << names(end_a) << ", second " << names(end_b) << "; consumed by the first "
                       << sft::sample_sum(sft::http_get("127.0.0.1", port_a, "/metrics").body,
                                          consumed);
  ASSERT_TRUE(done) << "the two instances did not consume all " << kRecords << " records";

  // Each instance's gauges name only its own partitions: together all 4, none twice.
  std::set<std::string> both = partitions_of(end_a, lag);
  for (const auto& p : partitions_of(end_b, lag)) {
    EXPECT_TRUE(both.insert(p).second) << "partition " << p << " in the lag of both instances";
  }
  EXPECT_EQ(both.size(), 4u);

  std::map<std::string, double> last;  // per consumed series, its last value
  int during = 0;
  for (std::size_t i = 0; i < scrapes.size(); ++i) {
    const auto& [status, s] = scrapes[i];
    ASSERT_EQ(status, 200) << "scrape " << i;
    EXPECT_FALSE(s.malformed) << "scrape " << i;
    EXPECT_EQ(s.duplicates, 0) << "scrape " << i;
    if (phase_of[i] == 1) ++during;
    EXPECT_LE(partitions_of(s, lag).size(), 4u) << "scrape " << i;
    for (const auto& [series, value] : s.series) {
      if (series.compare(0, lag.size() + 1, lag + "{") == 0) {
        EXPECT_GE(value, 0) << series << " in scrape " << i;
      }
      if (series.compare(0, consumed.size() + 1, consumed + "{") != 0) continue;
      // A counter never goes back, and never vanishes, through the revocation.
      const auto it = last.find(series);
      if (it != last.end()) {
        EXPECT_GE(value, it->second) << series << " in scrape " << i;
      }
      last[series] = value;
    }
    for (const auto& [series, value] : last) {
      EXPECT_TRUE(s.series.count(series)) << series << " vanished in scrape " << i;
    }
  }
  EXPECT_GT(during, 0) << "no scrape was taken while the rebalance went on";
  std::cout << scrapes.size() << " scrapes, " << during << " during the rebalance\n";
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
