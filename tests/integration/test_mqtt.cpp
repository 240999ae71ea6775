// MQTTSource and MQTTSink (SRC-06, SNK-05) against a real MQTT broker (scripts/mosquitto;
// STREAMFRAME_TEST_MQTT) and a real Kafka: topic filters with wildcards, keys by MQTT topic or
// "_key", timestamps, QoS 0 and 1, TLS with the broker's own CA (and a refused certificate),
// the sink's topic per key and its acknowledgements, and the
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

// The test broker's TLS listener, trusted through the CA file scripts/mosquitto made.
MQTTConnection tls_connection(const std::string& client_id) {
  const std::string a = *sft::test_mqtt_tls();
  MQTTConnection c = connection(client_id);
  c.server = a.substr(0, a.rfind(':'));
  c.port = std::stoi(a.substr(a.rfind(':') + 1));
  c.tls_enabled = true;
  c.tls_ca_file = *sft::test_mqtt_ca();
  return c;
}
std::vector<std::string> tls_client_args() {
  const std::string a = *sft::test_mqtt_tls();
  return {"--cafile", *sft::test_mqtt_ca(),      "-h", a.substr(0, a.rfind(':')),
          "-p",       a.substr(a.rfind(':') + 1)};
}

// A subscriber that stays connected (over TLS): the broker queues QoS 0 messages for no absent
// session, so a QoS 0 publisher's messages reach only a subscriber that is there.
class LiveTlsSubscriber {
 public:
  explicit LiveTlsSubscriber(const std::string& filter)
      : child_(argv(filter), ::testing::TempDir() + sft::unique_name("mqsub") + ".log") {}

  // Publishes probes under `probe_topic` (inside the filter) until one arrives.
  bool ready(const std::string& probe_topic) {
    return eventually(
        [&] {
          auto args = tls_client_args();
          args.insert(args.begin(), "mosquitto_pub");
          for (const char* a : {"-q", "0", "-t", probe_topic.c_str(), "-m", "{}"})
            args.push_back(a);
          (void)sft::run_command(args, "", 10s);
          return child_.log().find(probe_topic) != std::string::npos;
        },
        20s);
  }
  // Its "topic payload" lines under `prefix`, once `n` of them arrived or `timeout` passed.
  std::vector<std::string> lines(const std::string& prefix, std::size_t n,
                                 std::chrono::seconds timeout) {
    std::vector<std::string> out;
    (void)eventually(
        [&] {
          out.clear();
          std::istringstream in(child_.log());
          for (std::string l; std::getline(in, l);) {
            if (l.rfind(prefix, 0) == 0) out.push_back(l);
          }
          return out.size() >= n;
        },
        timeout);
    return out;
  }
  std::string log_tail() const { return child_.log_tail(); }

 private:
  static std::vector<std::string> argv(const std::string& filter) {
    auto args = tls_client_args();
    args.insert(args.begin(), "mosquitto_sub");
    for (const char* a : {"-q", "0", "-v", "-t"}) args.push_back(a);
    args.push_back(filter);
    return args;
  }
  sft::ChildProcess child_;
};

// QoS 0 over TLS: every record reaches a connected subscriber under <topic_root>/<key>, and
// flush() lets offsets commit only once the messages were written to the connection (all 60
// counted by published() when run() returns).
TEST(MQTTSink, AtQoS0OverTlsPublishesEveryRecord) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_MQTT_TLS();
  const std::string root = sft::unique_name("mq-tls-sink");
  const std::string input = sft::unique_name("mq-tls-in");
  create_topic(input, 1);
  std::vector<RawRecord> records;
  for (int i = 0; i < 60; ++i) {
    records.push_back(
        {"dev" + std::to_string(i % 3), R"({"id":)" + std::to_string(i) + "}", 0, {}});
  }
  produce_raw(input, records, 0);
  LiveTlsSubscriber sub(root + "/#");
  ASSERT_TRUE(sub.ready(root + "/probe")) << sub.log_tail();
  MQTTSinkOptions o;
  o.connection = tls_connection(root + "-sink");
  o.topic_root = root + "/out";
  o.qos = 0;
  auto sink = std::make_shared<MQTTSink>(o);
  auto config = base_config(sft::unique_name("mq-grp"));
  config.commit_every = 25;
  Application app(config);
  app.dataframe(app.topic(input)).sink(sink);
  (void)app.run({.timeout = 3s});
  EXPECT_EQ(sink->published(), 60u);
  const auto lines = sub.lines(root + "/out/", 60, 20s);
  ASSERT_EQ(lines.size(), 60u) << sub.log_tail();
  std::set<std::int64_t> ids;
  for (const auto& l : lines) {
    const auto space = l.find(' ');
    const Value v = Value::from_json(l.substr(space + 1));
    ids.insert(v["id"].as_int());
    EXPECT_EQ(l.substr(0, space), root + "/out/dev" + std::to_string(v["id"].as_int() % 3)) << l;
  }
  EXPECT_EQ(ids.size(), 60u);
  EXPECT_EQ(committed_offset(config.consumer_group, input, 0), 60);
}

// A source over TLS trusting the test CA reads what is published there; one that trusts only
// the system's CA store is refused at setup with a TLS error (the certificate is verified).
TEST(MQTTSource, ReadsOverTlsAndRefusesACertificateItsCAsDoNotVouchFor) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_MQTT_TLS();
  const std::string root = sft::unique_name("mq-tls-src");
  {
    MQTTSourceOptions untrusted;
    untrusted.connection = tls_connection(root + "-untrusted");
    untrusted.connection.tls_ca_file.clear();  // the system's CA certificates
    untrusted.topic = root + "/#";
    MQTTSource source(untrusted);
    try {
      source.setup();
      ADD_FAILURE() << "connected to a broker whose certificate no trusted CA signed";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("TLS"), std::string::npos) << e.what();
    }
  }
  MQTTSourceOptions o;
  o.connection = tls_connection(root + "-source");
  o.topic = root + "/#";
  auto source = std::make_shared<MQTTSource>(o);
  auto rows = std::make_shared<ListSink>();
  Application app(base_config(sft::unique_name("mq-grp")));
  app.dataframe(source).sink(rows);
  std::thread runner([&] { (void)app.run(); });
  auto publish = [&](const std::string& topic, const std::string& lines) {
    auto args = tls_client_args();
    args.insert(args.begin(), "mosquitto_pub");
    for (const char* a : {"-q", "1", "-t", topic.c_str(), "-l"}) args.push_back(a);
    const auto r = sft::run_command(args, lines, 30s);
    EXPECT_TRUE(r.ok()) << r.describe();
  };
  const bool subscribed = eventually(
      [&] {
        publish(root + "/probe", "{\"probe\":1}\n");
        return rows->size() > 0;
      },
      30s);
  EXPECT_TRUE(subscribed);
  const std::size_t probes = rows->size();
  publish(root + "/a", "{\"t\":1}\n{\"t\":2}\n{\"t\":3}\n");
  const bool all = eventually([&] { return rows->size() >= probes + 3; }, 30s);
  app.stop();
  runner.join();
  ASSERT_TRUE(all) << rows->size();
  std::set<std::int64_t> ts;
  for (const auto& r : rows->rows()) {
    if (const Value* t = r.find("t")) ts.insert(t->as_int());
  }
  EXPECT_EQ(ts, (std::set<std::int64_t>{1, 2, 3}));
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
