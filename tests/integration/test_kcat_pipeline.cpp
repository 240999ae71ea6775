// Acceptance (issue 2): the README pipeline, running as its own process (tests/apps/
// alerts_app) against the real broker, with kcat as the outside client on both ends. kcat
// produces JSON with keys and headers; kcat reads the alerts back and we check values
// (incl. the computed temperature_F, in TOP-05's JSON form), keys, timestamps and headers.
// Then SIGTERM: the app exits 0 and its final checkpoint commits every input (CK-03).
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "streamframe/serde.hpp"
#include "support/alerts_app.hpp"
#include "support/child_process.hpp"
#include "support/kafka_probe.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
namespace sft = streamframe::test;

// One message as kcat prints it with kFormat.
struct KcatRecord {
  long key_len = -1;  // -1 = null key
  std::string key;
  std::int64_t timestamp = -1;
  std::string headers;  // kcat's "name=value,name=value"
  int partition = -1;
  std::int64_t offset = -1;
  std::string value;
};

// key length, key, timestamp, headers, partition, offset, value. Compact JSON never holds a
// raw tab or newline, and no key or header here does.
constexpr const char* kFormat = "%K\t%k\t%T\t%h\t%p\t%o\t%s\n";

std::vector<KcatRecord> parse_kcat(const std::string& text) {
  std::vector<KcatRecord> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> f;
    std::size_t start = 0;
    for (int i = 0; i < 6; ++i) {
      const auto tab = line.find('\t', start);
      if (tab == std::string::npos) throw std::runtime_error("bad kcat line: " + line);
      f.push_back(line.substr(start, tab - start));
      start = tab + 1;
    }
    f.push_back(line.substr(start));
    KcatRecord r;
    r.key_len = std::stol(f[0]);
    r.key = f[1];
    r.timestamp = std::stoll(f[2]);
    r.headers = f[3];
    r.partition = std::stoi(f[4]);
    r.offset = std::stoll(f[5]);
    r.value = f[6];
    out.push_back(std::move(r));
  }
  return out;
}

std::string sensor_of(const std::string& json) {
  return streamframe::json::parse(json)["sensor"].as_string();
}

class KcatPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_BROKERS();
    brokers_ = *sft::test_brokers();
    const auto which = sft::run_command({"kcat", "-V"}, "", 10s);
    ASSERT_TRUE(which.ok()) << "kcat is required (scripts/setup installs it): " << which.describe();
  }

  // kcat -P: one message per line; with `keyed`, "key:value" lines (-K:). `headers` go on
  // every message of this call.
  void kcat_produce(const std::string& topic, const std::vector<std::string>& lines, bool keyed,
                    const std::vector<std::string>& headers) {
    std::vector<std::string> argv{"kcat", "-P", "-b", brokers_, "-t", topic};
    if (keyed) argv.push_back("-K:");
    for (const auto& h : headers) {
      argv.push_back("-H");
      argv.push_back(h);
    }
    std::string input;
    for (const auto& l : lines) input += l + "\n";
    const auto r = sft::run_command(argv, input, 30s);
    ASSERT_TRUE(r.ok()) << "kcat -P failed: " << r.describe();
  }

  std::vector<KcatRecord> kcat_consume_all(const std::string& topic) {
    const auto r = sft::run_command(
        {"kcat", "-C", "-b", brokers_, "-t", topic, "-o", "beginning", "-e", "-f", kFormat}, "",
        60s);
    if (!r.ok()) throw std::runtime_error("kcat -C failed: " + r.describe());
    return parse_kcat(r.out);
  }

  std::string brokers_;
};

TEST_F(KcatPipeline, AlertsWithKeysTimestampsAndHeadersThenGracefulSigterm) {
  const std::string input = sft::unique_name("kcat-readings");
  const std::string output = sft::unique_name("kcat-alerts");
  const std::string group = sft::unique_name("kcat-group");
  sft::create_topics(brokers_, {input, output}, 1);

  // A long interval: the only checkpoint is the one SIGTERM's graceful stop makes.
  auto app = sft::start_alerts_app({.brokers = brokers_,
                                    .input = input,
                                    .output = output,
                                    .group = group,
                                    .commit_interval_ms = 600000},
                                   "run");

  // Four kcat calls (so four header sets and distinct produce times). The expected alerts
  // are written out by hand: temperature_F = t * 9 / 5 + 32 in double, "/" always double
  // (SER-02), printed shortest-round-trip with ".0" kept when integral (TOP-05).
  kcat_produce(
      input,
      {R"(s-1:{"sensor":"s-1","temperature":70})", R"(s-2:{"sensor":"s-2","temperature":65})",
       R"(s-3:{"sensor":"s-3","temperature":65.6,"meta":{"site":"a:b","tags":[1,2.5,"x",null,true]}})"},
      true, {"source=kcat", "trace-id=t-1", "source=dup"});
  kcat_produce(input,
               {R"(s-4:{"sensor":"s-4","temperature":-40})",
                R"(s-5:{"sensor":"s-5","temperature":100,"note":"été ☃ \"hot\""})",
                R"(s-6:{"sensor":"s-6","temperature":65.555})"},
               true, {});
  kcat_produce(input, {R"({"sensor":"s-7","temperature":80.5})"}, false, {"unit=celsius"});
  kcat_produce(
      input,
      {R"(s-8:{"temperature":150,"sensor":"s-8"})", R"(s-9:{"sensor":"s-9","temperature":66})",
       R"(:{"sensor":"s-10","temperature":90})"},
      true, {"unit=celsius", "trace-id=t-3"});
  constexpr std::int64_t kInputs = 10;

  struct Expected {
    std::string sensor;
    long key_len;
    std::string key;
    std::string headers;
    std::string value;
  };
  const std::vector<Expected> expected{
      {"s-1", 3, "s-1", "source=kcat,trace-id=t-1,source=dup",
       R"({"sensor":"s-1","temperature":70,"temperature_F":158.0})"},
      {"s-3", 3, "s-3", "source=kcat,trace-id=t-1,source=dup",
       R"({"sensor":"s-3","temperature":65.6,"meta":{"site":"a:b","tags":[1,2.5,"x",null,true]},"temperature_F":150.07999999999998})"},
      {"s-5", 3, "s-5", "",
       R"({"sensor":"s-5","temperature":100,"note":"été ☃ \"hot\"","temperature_F":212.0})"},
      {"s-7", -1, "", "unit=celsius",
       R"({"sensor":"s-7","temperature":80.5,"temperature_F":176.9})"},
      {"s-8", 3, "s-8", "unit=celsius,trace-id=t-3",
       R"({"temperature":150,"sensor":"s-8","temperature_F":302.0})"},
      {"s-9", 3, "s-9", "unit=celsius,trace-id=t-3",
       R"({"sensor":"s-9","temperature":66,"temperature_F":150.8})"},
      {"s-10", 0, "", "unit=celsius,trace-id=t-3",
       R"({"sensor":"s-10","temperature":90,"temperature_F":194.0})"},
  };

  // The inputs as the broker stored them: their timestamps are what the alerts must carry.
  const auto inputs = kcat_consume_all(input);
  ASSERT_EQ(static_cast<std::int64_t>(inputs.size()), kInputs);
  std::map<std::string, KcatRecord> input_by_sensor;
  for (const auto& r : inputs) input_by_sensor[sensor_of(r.value)] = r;
  ASSERT_EQ(input_by_sensor.size(), static_cast<std::size_t>(kInputs));

  sft::KafkaProbe probe(brokers_, group);
  const bool arrived = sft::wait_until(
      [&] { return probe.total_end(output, 1) >= static_cast<std::int64_t>(expected.size()); },
      90s);
  ASSERT_TRUE(arrived) << "the alerts did not reach '" << output << "' within 90 s (end offset "
                       << probe.total_end(output, 1) << ", want " << expected.size() << ")\n"
                       << app->log_tail();

  const auto alerts = kcat_consume_all(output);
  ASSERT_EQ(alerts.size(), expected.size()) << app->log_tail();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("alert " + std::to_string(i) + " (" + expected[i].sensor + ")");
    const auto& got = alerts[i];
    const auto& in = input_by_sensor.at(expected[i].sensor);
    // One input partition is processed in offset order, so the alerts keep the input order.
    EXPECT_EQ(got.value, expected[i].value);
    EXPECT_EQ(got.key_len, expected[i].key_len);
    EXPECT_EQ(got.key, expected[i].key);
    EXPECT_EQ(in.key_len, expected[i].key_len) << "kcat produced another key than intended";
    EXPECT_EQ(got.headers, expected[i].headers);
    EXPECT_EQ(got.headers, in.headers);
    EXPECT_EQ(got.timestamp, in.timestamp) << "the alert must carry its reading's timestamp";
  }

  // Nothing committed before the stop: the interval is 10 minutes.
  const auto before = probe.committed(input, 1);
  EXPECT_EQ(before[0], RD_KAFKA_OFFSET_INVALID) << "a checkpoint happened before the stop";

  const auto stop_started = std::chrono::steady_clock::now();
  app->signal(SIGTERM);
  const auto status = app->wait_for_exit(30s);
  ASSERT_TRUE(status.has_value()) << "the app did not stop within 30 s of SIGTERM\n"
                                  << app->log_tail();
  const double stop_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - stop_started).count();
  std::cout << "[ info     ] graceful stop took " << stop_s << " s\n";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "SIGTERM must stop the app gracefully: " << sft::describe_wait_status(*status) << "\n"
      << app->log_tail();
  EXPECT_NE(app->log().find("alerts_app: stopped consumed=10 produced=7"), std::string::npos)
      << app->log_tail();

  // CK-03: the shutdown checkpoint committed every input (offset = next to read).
  const auto committed = probe.committed(input, 1);
  EXPECT_EQ(committed[0], kInputs) << "committed offset after the graceful stop";
  // And no alert was produced after the ones checked above.
  EXPECT_EQ(probe.total_end(output, 1), static_cast<std::int64_t>(expected.size()));
}

}  // namespace
