// Quickstart: temperature alerts on the embedded broker — no Kafka installation needed.
//
// A generator thread produces sensor readings (Celsius) into "temperature-celsius"; the
// pipeline converts them to Fahrenheit, keeps readings above 150 °F, prints each alert and
// sends it to "temperature-alerts". After --duration seconds the app stops gracefully (final
// checkpoint) and prints a summary.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <streamframe/streamframe.hpp>
#include <thread>

using namespace std::chrono_literals;
namespace sf = streamframe;

int main(int argc, char** argv) {
  CLI::App cli{"streamframe quickstart: temperature alerts on the embedded broker"};
  double duration_s = 10;
  double rate = 2000;
  std::string broker = "embedded";
  bool quiet = false;
  cli.add_option("--duration", duration_s, "seconds to run before stopping (default 10)");
  cli.add_option("--rate", rate,
                 "readings produced per second, 0 = as fast as possible (default 2000)");
  cli.add_option("--broker", broker, "broker address, or \"embedded\" (default)");
  cli.add_flag("--quiet", quiet, "do not print each alert");
  CLI11_PARSE(cli, argc, argv);

  sf::Application app({.broker_address = broker,
                       .consumer_group = "quickstart",
                       .auto_offset_reset = sf::AutoOffsetReset::earliest,
                       .commit_interval = 1s});
  auto readings =
      app.topic("temperature-celsius", {.config = sf::TopicConfig{.num_partitions = 4}});
  auto alerts = app.topic("temperature-alerts", {.config = sf::TopicConfig{.num_partitions = 4}});

  std::atomic<std::uint64_t> alert_count{0};
  auto sdf = app.dataframe(readings);
  sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
  sdf = sdf[sdf["temperature_F"] > 150];
  sdf.update([&](sf::Value& alert) {
    ++alert_count;
    if (!quiet) {
      std::printf("ALERT %s: %.1f °F\n", alert["sensor"].as_string().c_str(),
                  alert["temperature_F"].as_double());
    }
  });
  sdf.to_topic(alerts);

  // The generator: most readings are normal, about 2% are overheating (> 65.6 °C = 150 °F).
  std::atomic<bool> generating{true};
  std::atomic<std::uint64_t> produced{0};
  std::thread generator([&] {
    auto producer = app.get_producer();
    std::mt19937_64 rng(42);
    std::normal_distribution<double> normal(21.0, 4.0);
    std::uniform_real_distribution<double> hot(66.0, 90.0);
    std::uniform_int_distribution<int> pick(0, 99);
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t i = 0;
    while (generating.load()) {
      const int sensor = static_cast<int>(i % 20);
      const double t = pick(rng) < 2 ? hot(rng) : normal(rng);
      auto reading = sf::Value::object({{"sensor", "sensor-" + std::to_string(sensor)},
                                        {"temperature", std::round(t * 10) / 10},
                                        {"seq", static_cast<std::int64_t>(i)}});
      producer.produce(readings, reading, sf::Value("sensor-" + std::to_string(sensor)));
      ++i;
      produced = i;
      if (rate > 0) {
        const auto due = start + std::chrono::duration<double>(static_cast<double>(i) / rate);
        std::this_thread::sleep_until(due);
      }
    }
    producer.flush(10s);
  });

  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::duration<double>(duration_s));
    generating = false;
    app.stop();
  });

  const auto start = std::chrono::steady_clock::now();
  int rc = 0;
  try {
    app.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quickstart failed: %s\n", e.what());
    rc = 1;
    generating = false;
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stopper.join();
  generator.join();

  const auto stats = app.stats();
  std::printf("\n--- quickstart summary ---\n");
  std::printf("readings produced : %llu\n", static_cast<unsigned long long>(produced.load()));
  std::printf("records in        : %llu\n",
              static_cast<unsigned long long>(stats.messages_consumed));
  std::printf("alerts out        : %llu (acknowledged by the broker: %llu)\n",
              static_cast<unsigned long long>(alert_count.load()),
              static_cast<unsigned long long>(stats.records_produced));
  std::printf("run time          : %.1f s\n", elapsed);
  std::printf("throughput        : %.0f records/s\n",
              static_cast<double>(stats.messages_consumed) / elapsed);
  std::printf("checkpoints       : %llu\n", static_cast<unsigned long long>(stats.checkpoints));
  return rc;
}
