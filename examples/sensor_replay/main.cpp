// Sources and sinks: replay a CSV file of sensor readings into Kafka with CSVSource, average
// them per sensor in 10-second windows, and write the averages to a "table" through a
// BatchingSink that refuses its first batch with SinkBackpressureError, as a busy database
// would: the application pauses, replays from the last checkpoint and loses nothing.
//
//   sensor_replay                                   # embedded broker, a generated file
//   sensor_replay --broker localhost:9092 --csv readings.csv
//
// The file's columns: sensor, ts (ms), celsius.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <streamframe/streamframe.hpp>
#include <string>

using namespace std::chrono_literals;
namespace sf = streamframe;

namespace {

// Stands in for a database table: one row per (sensor, window start), written in batches.
class AveragesTable : public sf::BatchingSink {
 public:
  void write(const sf::SinkBatch& batch) override {
    std::lock_guard lock(mutex_);
    if (!refused_once_) {
      refused_once_ = true;
      std::printf("sensor_replay: the table is busy, retry in 500 ms (%zu rows refused)\n",
                  batch.size());
      throw sf::SinkBackpressureError(500ms);
    }
    for (const auto& item : batch.items()) {
      // An upsert by key: a replayed row replaces the one written before.
      rows_[{item.key.as_string(), item.value["start"].as_int()}] = item.value["avg"].as_double();
    }
  }
  std::map<std::pair<std::string, std::int64_t>, double> rows() const {
    std::lock_guard lock(mutex_);
    return rows_;
  }

 private:
  mutable std::mutex mutex_;
  bool refused_once_ = false;
  std::map<std::pair<std::string, std::int64_t>, double> rows_;
};

// Two sensors, one reading per second for a minute.
std::string write_demo_file() {
  const auto path = std::filesystem::temp_directory_path() / "streamframe-sensor-replay.csv";
  std::ofstream out(path);
  out << "sensor,ts,celsius\n";
  for (int i = 0; i < 60; ++i) {
    out << "boiler," << 1'700'000'000'000 + i * 1000 << "," << 80 + i % 10 << "\n";
    out << "attic," << 1'700'000'000'000 + i * 1000 << "," << 15 + i % 4 << ".5\n";
  }
  return path.string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"streamframe sensor replay: CSV -> 10 s averages -> a batching sink"};
  std::string broker = "embedded";
  std::string csv;
  cli.add_option("--broker", broker, "broker address, or \"embedded\" (default)");
  cli.add_option("--csv", csv, "the CSV file to replay (default: a generated one)");
  CLI11_PARSE(cli, argc, argv);
  if (csv.empty()) csv = write_demo_file();

  try {
    sf::Application app({.broker_address = broker,
                         .consumer_group = "sensor-replay",
                         .auto_offset_reset = sf::AutoOffsetReset::earliest,
                         .commit_interval = 1s});
    sf::CSVSourceOptions options;
    options.key_extractor = [](const sf::Value& row) { return row["sensor"]; };
    options.timestamp_extractor = [](const sf::Value& row) {
      return std::stoll(row["ts"].as_string());
    };
    auto readings = app.dataframe(std::make_shared<sf::CSVSource>(csv, "readings", options));
    // CSV fields are strings.
    readings["celsius"] = readings["celsius"].apply(
        [](const sf::Value& v) { return sf::Value(std::stod(v.as_string())); });
    auto table = std::make_shared<AveragesTable>();
    readings.tumbling_window(10s)
        .agg({{"avg", sf::agg::mean("celsius")}, {"n", sf::agg::count()}})
        .final()
        .sink(table);

    app.run({.timeout = 3s, .collect = false});
    const auto rows = table->rows();
    std::printf("sensor_replay: %zu windows written after %llu back-off(s):", rows.size(),
                static_cast<unsigned long long>(app.stats().checkpoints_aborted));
    for (const auto& [key, avg] : rows) {
      if (key.second == 1'700'000'000'000) std::printf(" %s %.2f", key.first.c_str(), avg);
    }
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sensor_replay: error: %s\n", e.what());
    return 1;
  }
}
