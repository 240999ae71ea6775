// MQTTSource and MQTTSink (SRC-06, SNK-05) against a real MQTT broker (scripts/mosquitto;
// STREAMFRAME_TEST_MQTT) and a real Kafka: topic filters with wildcards, keys by MQTT topic or
// "_key", timestamps, QoS 0 and 1, the sink's topic per key and its acknowledgements, and the
// broker stopped for 10 s under a running source and a running sink (nothing lost, both
// reconnect). The test's own MQTT client is Debian's mosquitto_pub / mosquitto_sub.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/test_app_helpers.hpp"
#include "streamframe/mqtt.hpp"
#include "support/child_process.hpp"

namespace streamframe::apptest {
namespace {

namespace sft = streamframe::test;

struct Address {
  std::string host;
  std::string port;
};

Address mqtt_address() {
  const std::string a = *sft::test_mqtt();
  const auto colon = a.rfind(':');
  return {a.substr(0, colon), a.substr(colon + 1)};
}

MQTTConnection connection(const std::string& client_id) {
  const auto a = mqtt_address();
  MQTTConnection c;
  c.client_id = client_id;
  c.server = a.host;
  c.port = std::stoi(a.port);
  c.tls_enabled = false;
  c.reconnect_delay_min = 200ms;
  c.reconnect_delay_max = 1s;
  return c;
}

// mosquitto_pub -l: one message per line of `lines` to `topic`.
void publish_lines(const std::string& topic, const std::vector<std::string>& lines, int qos = 1) {
  const auto a = mqtt_address();
  std::string input;
  for (const auto& l : lines) input += l + "\n";
  const auto r = sft::run_command(
      {"mosquitto_pub", "-h", a.host, "-p", a.port, "-q", std::to_string(qos), "-t", topic, "-l"},
      input, 30s);
  ASSERT_TRUE(r.ok()) << r.describe();
}

// Runs scripts/mosquitto (a broker outage).
void mosquitto_script(const std::string& command) {
  ASSERT_NE(std::getenv("STREAMFRAME_MOSQUITTO_DIR"), nullptr)
      << "STREAMFRAME_MOSQUITTO_DIR must name the test broker's run dir (scripts/test sets it)";
  const std::string cmd =
      std::string(STREAMFRAME_MOSQUITTO_SCRIPT) + " " + command + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// A persistent QoS 1 subscription of the test's own: made once (so the broker queues for it),
// then drained.
class Subscriber {
 public:
  explicit Subscriber(std::string filter)
      : filter_(std::move(filter)), id_(sft::unique_name("sub")) {
    const auto r = run({"-E"}, 10s);  // subscribe and leave: the session stays
    EXPECT_TRUE(r.ok()) << r.describe();
  }
  // "topic payload" lines until `n` arrived or `timeout` passed.
  std::vector<std::string> take(std::size_t n, std::chrono::seconds timeout) {
    const auto r =
        run({"-v", "-C", std::to_string(n), "-W", std::to_string(timeout.count())}, timeout + 5s);
    std::vector<std::string> lines;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }

 private:
  sft::CommandResult run(std::vector<std::string> extra, std::chrono::milliseconds timeout) {
    const auto a = mqtt_address();
    std::vector<std::string> argv{
        "mosquitto_sub", "-h", a.host, "-p", a.port, "-q", "1", "-c", "-i", id_, "-t", filter_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return sft::run_command(argv, "", timeout);
  }
  std::string filter_, id_;
};

TEST(MQTTConnectors, BadOptionsAreConfigErrors) {
  MQTTSourceOptions s;
  s.connection.client_id = "x";
  s.topic = "t";
  s.qos = 2;
  EXPECT_THROW(MQTTSource{s}, ConfigError);
  s.qos = 1;
  s.connection.version = "4";
  EXPECT_THROW(MQTTSource{s}, ConfigError);
  s.connection.version = "5";
  s.connection.client_id = "";
  EXPECT_THROW(MQTTSource{s}, ConfigError);
  MQTTSinkOptions k;
  k.connection.client_id = "y";
  EXPECT_THROW(MQTTSink{k}, ConfigError);  // no topic_root
  k.topic_root = "r";
  k.qos = 2;
  EXPECT_THROW(MQTTSink{k}, ConfigError);
}

TEST(MQTTSource, ProducesEveryMessageOfTheFilterKeyedByTopic) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_MQTT();
  const std::string root = sft::unique_name("mq-src");
  MQTTSourceOptions o;
  o.connection = connection(root + "-source");
  o.topic = root + "/sensors/#";
  auto source = std::make_shared<MQTTSource>(o);
  auto rows = std::make_shared<ListSink>(ListSinkOptions{.metadata = true});
  auto config = base_config(sft::unique_name("mq-grp"));
  // The payload that is not JSON goes to Kafka as it is, where the topic's JSON deserializer
  // refuses it: a consumer error, skipped here.
  std::mutex mu;
  std::vector<std::string> consumer_errors;
  config.on_consumer_error = [&](const std::exception& e, const ErrorContext&) {
    std::lock_guard lock(mu);
    consumer_errors.push_back(std::string(typeid(e).name()) + ": " + e.what());
    return ErrorAction::skip;
  };
  Application app(config);
  app.dataframe(source).sink(rows);
  std::thread runner([&] { (void)app.run(); });
  // Until the source's subscription exists, what is published is not for it: probe first.
  const bool subscribed = eventually(
      [&] {
        publish_lines(root + "/sensors/probe", {R"({"probe":1})"}, 0);
        return rows->size() > 0;
      },
      30s);
  EXPECT_TRUE(subscribed);
  const std::size_t probes = rows->size();
  publish_lines(root + "/sensors/a", {R"({"t":1})", R"({"t":2,"_key":"custom"})",
                                      R"({"t":3,"_timestamp":1700000000000})"});
  publish_lines(root + "/sensors/b/c", {R"({"t":4})", R"({"t":5,"_key":7})"}, 0);
  publish_lines(root + "/other", {R"({"t":99})"});  // outside the filter
  publish_lines(root + "/sensors/raw", {"not json"});
  const bool all = eventually(
      [&] {
        std::lock_guard lock(mu);
        return rows->size() >= probes + 5 && !consumer_errors.empty();
      },
      30s);
  std::this_thread::sleep_for(500ms);  // anything more (the filtered one) would show up now
  app.stop();
  runner.join();
  ASSERT_TRUE(all) << rows->size();
  std::map<std::string, Value> by_t;
  std::vector<Value> not_json;
  for (const auto& r : rows->rows()) {
    if (r.find("probe") != nullptr) continue;
    if (const Value* t = r.find("t")) {
      by_t[t->to_json()] = r;
    } else {
      not_json.push_back(r);
    }
  }
  ASSERT_EQ(by_t.size(), 5u);
  EXPECT_EQ(by_t["1"]["_key"].as_string(), root + "/sensors/a");
  EXPECT_EQ(by_t["2"]["_key"].as_string(), "custom");
  EXPECT_EQ(by_t["3"]["_timestamp"].as_int(), 1700000000000);
  EXPECT_GT(by_t["1"]["_timestamp"].as_int(), 1700000000000);  // the arrival's wall clock
  EXPECT_EQ(by_t["4"]["_key"].as_string(), root + "/sensors/b/c");
  // A number in "_key" keys the message by its JSON text (the row's "_key" is the payload's
  // field, which the value's fields override in a metadata row, as in Quix Streams).
  bool keyed_by_number = false;
  for (const auto& m : read_topic("source__" + o.connection.client_id)) {
    if (m.value && m.value->find(R"("t":5)") != std::string::npos) keyed_by_number = m.key == "7";
  }
  EXPECT_TRUE(keyed_by_number);
  EXPECT_EQ(by_t.count("99"), 0u);
  EXPECT_TRUE(not_json.empty());
  ASSERT_EQ(consumer_errors.size(), 1u);
  EXPECT_NE(consumer_errors[0].find("SerializationError"), std::string::npos) << consumer_errors[0];
  EXPECT_GE(source->messages(), probes + 6);
}

TEST(MQTTSink, PublishesEachRecordToTopicRootSlashKey) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_MQTT();
  const std::string root = sft::unique_name("mq-sink");
  const std::string input = sft::unique_name("mq-sink-in");
  create_topic(input, 2);
  Subscriber sub(root + "/#");
  for (int p = 0; p < 2; ++p) {
    std::vector<RawRecord> records;
    for (int i = 0; i < 50; ++i) {
      records.push_back(
          {"dev" + std::to_string(i % 5), R"({"id":)" + std::to_string(p * 50 + i) + "}", 0, {}});
    }
    produce_raw(input, records, p);
  }
  MQTTSinkOptions o;
  o.connection = connection(root + "-sink");
  o.topic_root = root;
  auto sink = std::make_shared<MQTTSink>(o);
  auto config = base_config(sft::unique_name("mq-grp"));
  config.commit_every = 30;
  Application app(config);
  app.dataframe(app.topic(input)).sink(sink);
  (void)app.run({.timeout = 3s});
  EXPECT_EQ(sink->published(), 100u);
  const auto lines = sub.take(100, 20s);
  ASSERT_EQ(lines.size(), 100u);
  std::set<std::string> ids;
  for (const auto& l : lines) {
    const auto space = l.find(' ');
    const std::string topic = l.substr(0, space);
    const Value v = Value::from_json(l.substr(space + 1));
    ids.insert(v["id"].to_json());
    const int id = static_cast<int>(v["id"].as_int());
    EXPECT_EQ(topic, root + "/dev" + std::to_string(id % 50 % 5)) << l;
  }
  EXPECT_EQ(ids.size(), 100u);
}

// The broker goes away for 10 s while a source reads from it and a sink publishes to it: the
// source reconnects and renews its persistent session (the QoS 1 messages published once the
// broker is back and before the source reconnected were queued for it), the sink's checkpoints
// back off and replay, and nothing is lost on either side.
TEST(MQTTOutage, TheBrokerDownForTenSecondsLosesNothing) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_MQTT();
  const std::string root = sft::unique_name("mq-out");
  Subscriber sub(root + "/out/#");
  MQTTSourceOptions so;
  so.connection = connection(root + "-source");
  so.topic = root + "/in/#";
  auto source = std::make_shared<MQTTSource>(so);
  MQTTSinkOptions ko;
  ko.connection = connection(root + "-sink");
  ko.topic_root = root + "/out";
  ko.retry_after = 500ms;
  ko.flush_timeout = 2s;
  auto sink = std::make_shared<MQTTSink>(ko);
  auto rows = std::make_shared<ListSink>();
  auto config = base_config(sft::unique_name("mq-grp"));
  config.commit_interval = 200ms;
  Application app(config);
  auto sdf = app.dataframe(source);
  sdf.sink(rows);
  sdf.sink(sink);
  std::thread runner([&] { (void)app.run(); });
  const auto ids = [](int from, int n) {
    std::vector<std::string> lines;
    for (int i = from; i < from + n; ++i) lines.push_back(R"({"id":)" + std::to_string(i) + "}");
    return lines;
  };
  const bool subscribed = eventually(
      [&] {
        publish_lines(root + "/in/probe", {R"({"id":-1})"}, 0);
        return rows->size() > 0;
      },
      30s);
  ASSERT_TRUE(subscribed);
  publish_lines(root + "/in/a", ids(0, 50));
  ASSERT_TRUE(eventually([&] { return source->messages() >= 50; }, 30s));
  mosquitto_script("stop");
  std::this_thread::sleep_for(10s);
  mosquitto_script("start");
  publish_lines(root + "/in/a", ids(50, 50));  // the source may not be back yet: queued
  const bool all_in = eventually(
      [&] {
        std::set<std::int64_t> seen;
        for (const auto& r : rows->rows()) seen.insert(r["id"].as_int());
        return seen.size() >= 101;  // 100 ids and the probe's -1
      },
      60s);
  // The sink's subscriber gets every id at least once (QoS 1 and replays: maybe twice).
  std::set<std::int64_t> out;
  for (int tries = 0; tries < 3 && out.size() < 100; ++tries) {
    for (const auto& l : sub.take(500, 5s)) {
      const Value v = Value::from_json(l.substr(l.find(' ') + 1));
      if (v["id"].as_int() >= 0) out.insert(v["id"].as_int());
    }
  }
  app.stop();
  runner.join();
  EXPECT_TRUE(all_in) << rows->size() << " rows";
  EXPECT_GE(source->reconnects(), 1u);
  EXPECT_GE(sink->reconnects(), 1u);
  EXPECT_EQ(out.size(), 100u);
}

}  // namespace
}  // namespace streamframe::apptest
