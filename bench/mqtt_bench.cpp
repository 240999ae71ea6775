// MQTT -> Kafka: MQTTSource's records/s against its ceiling, `mosquitto_sub | kcat -P` moving
// the same messages from the same broker into the same Kafka, in the same run (issue 17).
//
// Both read messages the broker already holds: each reader's persistent QoS 1 session is made
// first (subscribe, leave), then N messages are published once, and the broker queues them for
// every session. Each reader then connects and the clock runs until all N are in Kafka
// (acknowledged by it: kcat exits after producing its input; the source's producer is flushed).
#include <fmt/format.h>
#include <mosquitto.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "streamframe/streamframe.hpp"

namespace sf = streamframe;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::pair<std::string, int> split(const std::string& address) {
  const auto colon = address.rfind(':');
  return {address.substr(0, colon), std::stoi(address.substr(colon + 1))};
}

void run(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

// Publishes n readings of `size` bytes to <root>/s<i % 64> at QoS 1 and waits for the broker's
// acknowledgements.
void publish(const std::string& host, int port, const std::string& root, int n, int size) {
  mosquitto_lib_init();
  int acked = 0;
  mosquitto* m = mosquitto_new(nullptr, true, &acked);
  mosquitto_publish_callback_set(m, [](mosquitto*, void* a, int) { ++*static_cast<int*>(a); });
  if (mosquitto_connect(m, host.c_str(), port, 60) != MOSQ_ERR_SUCCESS) {
    throw std::runtime_error("publisher: cannot connect");
  }
  mosquitto_loop_start(m);
  std::string payload;
  for (int i = 0; i < n; ++i) {
    payload = fmt::format(R"({{"id":{},"celsius":{},"pad":"{}"}})", i, 20 + i % 17,
                          std::string(static_cast<std::size_t>(std::max(0, size - 40)), 'x'));
    const std::string topic = root + "/s" + std::to_string(i % 64);
    if (mosquitto_publish(m, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                          payload.data(), 1, false) != MOSQ_ERR_SUCCESS) {
      throw std::runtime_error("publisher: publish failed");
    }
  }
  for (int i = 0; i < 60000 && acked < n; ++i) std::this_thread::sleep_for(1ms);
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);
  mosquitto_destroy(m);
  if (acked < n)
    throw std::runtime_error(fmt::format("publisher: {} of {} acknowledged", acked, n));
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"MQTT -> Kafka: MQTTSource vs mosquitto_sub | kcat -P"};
  std::string brokers, mqtt;
  int n = 100000, size = 100, runs = 3;
  std::string results_file = "bench/results/sinks.jsonl";
  cli.add_option("--brokers", brokers, "Kafka bootstrap servers")->required();
  cli.add_option("--mqtt", mqtt, "MQTT broker host:port")->required();
  cli.add_option("--messages", n, "messages per run");
  cli.add_option("--size", size, "payload bytes (about)");
  cli.add_option("--runs", runs, "runs (the median is reported)");
  cli.add_option("--results-file", results_file, "JSON lines appended here ('' = none)");
  CLI11_PARSE(cli, argc, argv);
  const auto [host, port] = split(mqtt);

  std::vector<double> source_rates, kcat_rates;
  for (int r = 0; r < runs; ++r) {
    const std::string tag = fmt::format("mqb-{}-{}", ::getpid(), r);
    const std::string root = tag + "/in";
    const std::string sub_id = tag + "-sub";
    const std::string kcat_topic = tag + "-kcat";
    sf::MQTTSourceOptions o;
    o.connection.client_id = tag + "-source";
    o.connection.server = host;
    o.connection.port = port;
    o.connection.tls_enabled = false;
    o.topic = root + "/#";
    const std::string sub =
        fmt::format("mosquitto_sub -h {} -p {} -q 1 -c -i {} -t '{}/#'", host, port, sub_id, root);

    {
      // kcat's topic, as the application creates the source's: one partition.
      sf::Application admin(
          {.broker_address = brokers, .consumer_group = tag + "-admin", .loglevel = "WARNING"});
      (void)admin.topic(kcat_topic, {.config = sf::TopicConfig{}});
    }
    // The sessions (the source's under its client id), then the messages the broker queues
    // for both.
    run(sub + " -E");
    run(fmt::format("mosquitto_sub -h {} -p {} -q 1 -c -i {} -t '{}/#' -E", host, port,
                    o.connection.client_id, root));
    publish(host, port, root, n, size);

    // The ceiling: mosquitto_sub prints each payload on a line, kcat produces each line.
    const auto k0 = Clock::now();
    run(fmt::format("{} -C {} | kcat -P -b {} -t {} -X topic.metadata.refresh.interval.ms=1000",
                    sub, n, brokers, kcat_topic));
    const double kcat_s = std::chrono::duration<double>(Clock::now() - k0).count();

    // streamframe: the source alone, stopped once all n are produced and flushed.
    sf::Application app({.broker_address = brokers,
                         .consumer_group = tag + "-group",
                         .loglevel = "WARNING",
                         .install_signal_handlers = false});
    auto source = std::make_shared<sf::MQTTSource>(o);
    (void)app.add_source(source);
    const auto s0 = Clock::now();
    std::thread stopper([&] {
      while (source->messages() < static_cast<std::uint64_t>(n)) std::this_thread::sleep_for(1ms);
      app.stop();  // the source's cleanup flushes its producer before run() returns
    });
    (void)app.run();
    stopper.join();
    const double source_s = std::chrono::duration<double>(Clock::now() - s0).count();
    source_rates.push_back(n / source_s);
    kcat_rates.push_back(n / kcat_s);
    fmt::print("run {}: MQTTSource {:.0f} msg/s, mosquitto_sub | kcat {:.0f} msg/s\n", r + 1,
               n / source_s, n / kcat_s);
  }
  const double s = median(source_rates), k = median(kcat_rates);
  fmt::print(
      "MQTT -> Kafka, {} messages of ~{} bytes, median of {}: MQTTSource {:.0f} msg/s, "
      "mosquitto_sub | kcat {:.0f} msg/s, ratio {:.2f}\n",
      n, size, runs, s, k, s / k);
  if (!results_file.empty()) {
    std::ofstream(results_file, std::ios::app) << fmt::format(
        R"({{"bench":"mqtt_to_kafka","messages":{},"size":{},"runs":{},"source_msgs_per_s":{:.0f},"kcat_msgs_per_s":{:.0f},"ratio":{:.3f}}})"
        "\n",
        n, size, runs, s, k, s / k);
  }
  return 0;
}
