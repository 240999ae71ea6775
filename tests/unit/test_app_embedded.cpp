// Application construction rules and the embedded broker (EXT-09, APP-01/02, issue 2 §5),
// without a real Kafka: exactly-once refused, broker address from argument or environment,
// an outside client (kcat) talking to the embedded broker, a run({count}) pipeline end to end.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "app/access.hpp"
#include "kafka/mock_cluster.hpp"
#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

// Sets (or unsets, with nullopt) an environment variable for the scope, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

using test::embedded_config;

struct ChildResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command as a child process (bounded by `timeout` via coreutils timeout) and
// returns its exit code and output.
ChildResult run_child(const std::string& command, int timeout_s = 30) {
  ChildResult r;
  const std::string full = "timeout " + std::to_string(timeout_s) + " " + command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool have_kcat() {
  return run_child("kcat -V", 10).exit_code == 0;
}

TEST(AppEmbedded, ExactlyOnceIsRefusedAtConstruction) {
  auto cfg = embedded_config("eos");
  cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
  try {
    Application app(cfg);
    FAIL() << "exactly_once on the embedded broker was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("exactly_once"), std::string::npos) << e.what();
  }
  // at_least_once on the embedded broker is fine.
  EXPECT_NO_THROW(Application{embedded_config("alo")});
}

TEST(AppEmbedded, MissingBrokerAddressWithoutEnvIsConfigError) {
  ScopedEnv env("STREAMFRAME_BROKER_ADDRESS", std::nullopt);
  ApplicationConfig cfg;
  cfg.loglevel = "ERROR";
  try {
    Application app(cfg);
    FAIL() << "an empty broker_address was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("STREAMFRAME_BROKER_ADDRESS"), std::string::npos)
        << e.what();
  }
  // An empty env value counts as unset.
  ScopedEnv empty("STREAMFRAME_BROKER_ADDRESS", std::string());
  EXPECT_THROW(Application{cfg}, ConfigError);
}

TEST(AppEmbedded, BrokerAddressAndGroupComeFromEnvironment) {
  {
    ScopedEnv env("STREAMFRAME_BROKER_ADDRESS", std::string("10.11.12.13:9092"));
    ScopedEnv group("STREAMFRAME_CONSUMER_GROUP", std::string("group-from-env"));
    ApplicationConfig cfg;
    cfg.loglevel = "ERROR";
    Application app(cfg);  // does not connect
    EXPECT_EQ(app.config().broker_address, "10.11.12.13:9092");
    EXPECT_EQ(app.bootstrap_servers(), "10.11.12.13:9092");
    EXPECT_EQ(app.config().consumer_group, "group-from-env");

    // Arguments win over the environment.
    cfg.broker_address = "10.0.0.1:9093";
    cfg.consumer_group = "explicit";
    Application explicit_app(cfg);
    EXPECT_EQ(explicit_app.config().broker_address, "10.0.0.1:9093");
    EXPECT_EQ(explicit_app.config().consumer_group, "explicit");
  }
  {
    ScopedEnv env("STREAMFRAME_BROKER_ADDRESS", std::string("embedded"));
    ScopedEnv group("STREAMFRAME_CONSUMER_GROUP", std::nullopt);
    ApplicationConfig cfg;
    cfg.loglevel = "ERROR";
    Application app(cfg);
    EXPECT_EQ(app.config().broker_address, "embedded");
    EXPECT_EQ(app.bootstrap_servers().rfind("127.0.0.1:", 0), 0u) << app.bootstrap_servers();
    EXPECT_EQ(app.config().consumer_group, "streamframe-default");
  }
}

// The embedded broker's address accepts an outside client while the app lives: kcat lists the
// declared topics, produces into one, and the app consumes what kcat produced.
TEST(AppEmbedded, KcatTalksToTheEmbeddedBroker) {
  ASSERT_TRUE(have_kcat()) << "kcat is required (scripts/setup installs it)";
  Application app(embedded_config("kcat-grp"));
  const std::string addr = app.bootstrap_servers();
  ASSERT_EQ(addr.rfind("127.0.0.1:", 0), 0u) << addr;
  TopicOptions three;
  three.config = TopicConfig{3, 1, {}};
  const Topic alpha = app.topic("alpha-readings", three);
  app.topic("beta-alerts");

  const ChildResult listing = run_child("kcat -b " + addr + " -L -m 10");
  ASSERT_EQ(listing.exit_code, 0) << listing.output;
  EXPECT_NE(listing.output.find("topic \"alpha-readings\" with 3 partitions"), std::string::npos)
      << listing.output;
  EXPECT_NE(listing.output.find("topic \"beta-alerts\" with 1 partitions"), std::string::npos)
      << listing.output;

  char path[] = "/tmp/streamframe-kcat-input-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string lines = "a:{\"n\":1}\nb:{\"n\":2}\nc:{\"n\":3}\n";
  ASSERT_EQ(::write(fd, lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
  ::close(fd);
  const ChildResult produced =
      run_child("kcat -b " + addr + " -P -t alpha-readings -K: -p 0 -l " + path);
  ::unlink(path);
  ASSERT_EQ(produced.exit_code, 0) << produced.output;

  auto sdf = app.dataframe(alpha);
  sdf["m"] = sdf["n"] * 10;
  const auto outputs = app.run({.timeout = 20s, .count = 3, .metadata = true});
  ASSERT_EQ(outputs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(outputs[i]["_key"], Value(std::string(1, char('a' + i))));
    EXPECT_EQ(outputs[i]["n"], Value(i + 1));
    EXPECT_EQ(outputs[i]["m"], Value((i + 1) * 10));
    EXPECT_EQ(outputs[i]["_partition"], Value(0));
  }
}

// The pipeline on the embedded broker: run({count}) returns the alerts, and they are
// in the output topic (read by kcat).
// group_by on the embedded broker: the repartition topic is made in the mock cluster and
// consumed back by the same run.
TEST(AppEmbedded, GroupByHopsThroughARepartitionTopic) {
  Application app(embedded_config("gb-grp"));
  const Topic in = app.topic("page-views", {.config = TopicConfig{.num_partitions = 2}});
  {
    Producer producer = app.get_producer();
    const std::vector<std::string> users{"ann", "bob", "ann", "ann", "bob"};
    for (std::size_t i = 0; i < users.size(); ++i) {
      producer.produce(in, Value::object({{"user", users[i]}}),
                       Value("device-" + std::to_string(i)));
    }
    ASSERT_TRUE(producer.flush(30s));
  }
  (void)app.dataframe(in).group_by("user").aggregate(
      {{"user", agg::last("user")}, {"views", agg::count()}});
  const auto rows = app.run({.timeout = 20s, .count = 5});
  ASSERT_EQ(rows.size(), 5u);
  // Each user's count rises one by one, whatever partition its device keys were on.
  std::map<std::string, std::vector<std::int64_t>> views;
  for (const auto& r : rows) views[r["user"].as_string()].push_back(r["views"].as_int());
  EXPECT_EQ(views,
            (std::map<std::string, std::vector<std::int64_t>>{
                {"ann", {1, 2, 3}},
                {"bob", {1, 2}}}));  // The embedded broker has no admin API to delete topics with.
  EXPECT_THROW((void)app.delete_internal_topics(), InvalidOperation);
}

TEST(AppEmbedded, PipelineEndToEndWithCount) {
  Application app(embedded_config("e2e-grp"));
  const Topic in = app.topic("temperature-celsius");
  const Topic out = app.topic("temperature-alerts");
  {
    Producer producer = app.get_producer();
    const std::vector<int> temps{20, 70, 66, 100, 65, 90};  // F: 68, 158, 150.8, 212, 149, 194
    for (std::size_t i = 0; i < temps.size(); ++i) {
      producer.produce(in, Value::object({{"id", int(i)}, {"temperature", temps[i]}}),
                       Value("sensor-" + std::to_string(i)), 1700000000000 + std::int64_t(i));
    }
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(in);
  sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
  sdf = sdf[sdf["temperature_F"] > 150];
  sdf.to_topic(out);

  const auto alerts = app.run({.timeout = 20s, .count = 4});
  ASSERT_EQ(alerts.size(), 4u);
  const std::vector<int> ids{1, 2, 3, 5};
  const std::vector<double> fahrenheit{158.0, 150.8, 212.0, 194.0};
  for (std::size_t k = 0; k < alerts.size(); ++k) {
    EXPECT_EQ(alerts[k]["id"], Value(ids[k]));
    EXPECT_DOUBLE_EQ(alerts[k]["temperature_F"].as_double(), fahrenheit[k]);
  }
  EXPECT_EQ(app.stats().messages_consumed, 6u);

  if (have_kcat()) {
    const ChildResult read =
        run_child("kcat -b " + app.bootstrap_servers() +
                  " -C -t temperature-alerts -o beginning -e -q -f '%k|%T|%s\\n'");
    ASSERT_EQ(read.exit_code, 0) << read.output;
    EXPECT_NE(read.output.find(
                  "sensor-1|1700000000001|{\"id\":1,\"temperature\":70,\"temperature_F\":158.0}"),
              std::string::npos)
        << read.output;
    EXPECT_NE(read.output.find("sensor-5|1700000000005|"), std::string::npos) << read.output;
    EXPECT_EQ(read.output.find("sensor-0|"), std::string::npos) << read.output;
    EXPECT_EQ(read.output.find("sensor-4|"), std::string::npos) << read.output;
  }
}

// app.get_consumer() (APP-24) on the embedded broker reads what a pipeline wrote, as a test of
// a Quix Streams program does; tests/integration/test_get_consumer.cpp covers its commits.
TEST(AppEmbedded, GetConsumerReadsWhatThePipelineWrote) {
  Application app(embedded_config("gc-grp"));
  const Topic in = app.topic("gc-in");
  const Topic out = app.topic("gc-out");
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < 5; ++i) {
      producer.produce(in, Value::object({{"t", i}}), Value("k" + std::to_string(i)),
                       1700000000000 + i);
    }
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(in);
  sdf["t2"] = sdf["t"] * 2;
  sdf.to_topic(out);
  ASSERT_EQ(app.run({.timeout = 20s, .count = 5}).size(), 5u);

  Consumer consumer = app.get_consumer();
  consumer.subscribe({"gc-out"});
  std::vector<ConsumedMessage> read;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (read.size() < 5 && std::chrono::steady_clock::now() < deadline) {
    if (auto m = consumer.poll(200ms)) read.push_back(std::move(*m));
  }
  ASSERT_EQ(read.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(read[i].key, std::optional<std::string>("k" + std::to_string(i)));
    EXPECT_EQ(Value::from_json(read[i].value.value_or("null"))["t2"], Value(2 * i));
    EXPECT_EQ(read[i].timestamp, 1700000000000 + i);
  }
  EXPECT_FALSE(consumer.poll(300ms).has_value());
  consumer.close();
  EXPECT_THROW(consumer.subscribe({"gc-out"}), InvalidOperation);
}

// set_label(): a frame's label goes to the frames derived from it until one sets its own, and
// run() reports for each collected output the label of the leaf it left, with two workers
// collecting at once (outputs and labels stay index for index).
TEST(AppEmbedded, RunReportsTheLabelOfTheFrameEachOutputLeft) {
  ApplicationConfig cfg = embedded_config("label-grp");
  cfg.num_workers = 2;
  Application app(cfg);
  const Topic in = app.topic("label-in", {.config = TopicConfig{.num_partitions = 2}});
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < 40; ++i) producer.produce(in, Value(i), Value("k" + std::to_string(i)));
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(in);
  sdf.set_label(7);
  (void)sdf.filter([](const Value& v) { return v.as_int() % 2 == 0; }).apply([](const Value& v) {
    return Value::object({{"even", v}});
  });
  auto odd = sdf.filter([](const Value& v) { return v.as_int() % 2 == 1; });
  EXPECT_EQ(odd.label(), 7u);
  odd.set_label(9);
  (void)odd.apply([](const Value& v) { return Value::object({{"odd", v}}); });
  std::vector<std::uint32_t> labels{42};  // cleared by run()
  const auto out = app.run({.timeout = 20s, .count = 40, .output_labels = &labels});
  ASSERT_EQ(out.size(), 40u);
  ASSERT_EQ(labels.size(), out.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(labels[i], out[i].contains("even") ? 7u : 9u) << out[i].to_json();
  }
}

struct TimedRun {
  std::vector<Value> out;
  std::chrono::steady_clock::duration took{};
};

// Produces {"i": 0..n-1} to `in` (a flush after each when `one_set_each`: the embedded broker
// answers a fetch with one message set, so each record then takes a fetch of its own), holds
// the broker's next fetch responses back by `delays` in turn, and runs a plain dataframe of
// `in` with a 500 ms timeout.
TimedRun run_with_slow_fetches(const std::string& name, int n, bool one_set_each,
                               std::initializer_list<int> delays_ms) {
  Application app(embedded_config(name));
  const Topic in = app.topic(name + "-in");
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < n; ++i) {
      producer.produce(in, Value::object({{"i", i}}), Value("k"));
      if (one_set_each) EXPECT_TRUE(producer.flush(10s));
    }
    EXPECT_TRUE(producer.flush(10s));
  }
  kafka::MockCluster* cluster = detail::ApplicationAccess::embedded_cluster(app);
  EXPECT_NE(cluster, nullptr);
  if (cluster == nullptr) return {};
  constexpr std::int16_t kApiFetch = 1;
  for (const int delay : delays_ms) {
    EXPECT_EQ(rd_kafka_mock_broker_push_request_error_rtts(cluster->handle(), 1, kApiFetch, 1,
                                                           RD_KAFKA_RESP_ERR_NO_ERROR, delay),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  (void)app.dataframe(in);
  const auto t0 = std::chrono::steady_clock::now();
  TimedRun run;
  run.out = app.run({.timeout = 500ms});
  run.took = std::chrono::steady_clock::now() - t0;
  return run;
}

// run({.timeout}) stops after that long without a message, but only once the fetcher has
// reported the end of every assigned partition: a first fetch slower than the timeout (a
// loaded machine, a distant broker) must not end the run before the topic's messages are
// read. The embedded broker holds the first fetch response back for 2.5 s.
TEST(RunTimeout, ASlowFirstFetchIsNotIdleness) {
  const TimedRun run = run_with_slow_fetches("slow-fetch", 3, false, {2500});
  ASSERT_EQ(run.out.size(), 3u);
  EXPECT_EQ(run.out[2]["i"], Value(2));
  // The delay was really there (the run could not have read the messages sooner).
  EXPECT_GE(run.took, 2500ms);
}

// A known high watermark is not the end: the fetcher learns it from the first fetch response,
// before the rest of the partition has reached the consumer. Three records take three
// fetches; the second is held back for 2.5 s, long after the first record was processed.
// Before the idle check waited for the partition's end report, the run returned 1 record.
TEST(RunTimeout, RecordsBehindAKnownHighWatermarkAreNotIdleness) {
  const TimedRun run = run_with_slow_fetches("slow-second-fetch", 3, true, {0, 2500});
  ASSERT_EQ(run.out.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run.out[i]["i"], Value(i));
  EXPECT_GE(run.took, 2500ms);
}

}  // namespace
}  // namespace streamframe
