// Windowed aggregates: per-sensor 10-second temperature summaries.
//
// Readings (event time = the Kafka message timestamp) go through a tumbling 10 s window with
// 1 s grace; each window is emitted once when it closes, as
// {"avg", "max", "n", "start", "end"} keyed by the sensor. A late reading (after its window
// closed) is reported through on_late. With --idle-ms the last window of a quiet sensor
// stream is closed once nothing has arrived for that long (idle closing).
//
//   temperature_windows                               # embedded broker, generated readings
//   temperature_windows --broker localhost:9092 --exactly-once --state-dir /tmp/tw
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <streamframe/streamframe.hpp>
#include <string>

using namespace std::chrono_literals;
namespace sf = streamframe;

int main(int argc, char** argv) {
  CLI::App cli{"streamframe windows: 10-second temperature summaries per sensor"};
  std::string broker = "embedded";
  std::string state_dir = "state";
  bool exactly_once = false;
  int readings = 600;
  long idle_ms = 2000;
  cli.add_option("--broker", broker, "broker address, or \"embedded\" (default)");
  cli.add_option("--state-dir", state_dir, "where the RocksDB stores live (default ./state)");
  cli.add_flag("--exactly-once", exactly_once, "processing_guarantee = exactly_once (real broker)");
  cli.add_option("--readings", readings, "readings to generate per sensor (default 600)");
  cli.add_option("--idle-ms", idle_ms, "close windows after this much quiet time (0 = never)");
  CLI11_PARSE(cli, argc, argv);

  try {
    sf::Application app({.broker_address = broker,
                         .consumer_group = "temperature-windows",
                         .state_dir = state_dir,
                         .auto_offset_reset = sf::AutoOffsetReset::earliest,
                         .processing_guarantee = exactly_once
                                                     ? sf::ProcessingGuarantee::exactly_once
                                                     : sf::ProcessingGuarantee::at_least_once,
                         .commit_interval = 1s});
    auto input = app.topic("temperature", {.config = sf::TopicConfig{.num_partitions = 2}});
    auto output = app.topic("temperature-10s", {.config = sf::TopicConfig{.num_partitions = 2}});

    {
      // One reading per sensor every 100 ms of event time, starting at a round timestamp.
      auto producer = app.get_producer();
      const std::int64_t t0 = 1'700'000'000'000;
      for (int i = 0; i < readings; ++i) {
        for (int s = 0; s < 3; ++s) {
          const double temperature = 20.0 + s * 5 + (i % 37) * 0.25;
          producer.produce(input, sf::Value::object({{"temperature", temperature}}),
                           sf::Value("sensor-" + std::to_string(s)), t0 + i * 100);
        }
      }
      producer.flush(30s);
    }

    app.dataframe(input)
        .tumbling_window(10s, {.grace = 1s,
                               .on_late =
                                   [](const sf::LateRecord& late) {
                                     std::printf("late reading at %lld for window [%lld, %lld)\n",
                                                 static_cast<long long>(late.timestamp),
                                                 static_cast<long long>(late.start),
                                                 static_cast<long long>(late.end));
                                     return false;
                                   }})
        .agg({{"avg", sf::agg::mean("temperature")},
              {"max", sf::agg::max("temperature")},
              {"n", sf::agg::count()}})
        .final({.idle_timeout = std::chrono::milliseconds(idle_ms)})
        .print({.pretty = false, .metadata = true})
        .to_topic(output);

    // Stop once the app has been idle for a while (a production app just calls run()).
    app.run({.timeout = std::chrono::milliseconds(idle_ms) + 3s, .collect = false});
    std::printf("temperature_windows: %llu readings, %llu windows produced, %llu checkpoints\n",
                static_cast<unsigned long long>(app.stats().messages_consumed),
                static_cast<unsigned long long>(app.stats().records_produced),
                static_cast<unsigned long long>(app.stats().checkpoints));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "temperature_windows: error: %s\n", e.what());
    return 1;
  }
}
