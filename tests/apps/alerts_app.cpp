// alerts_app: the README pipeline as a standalone program, for the process-level acceptance
// tests (tests/integration/test_kcat_pipeline.cpp, test_at_least_once_kill.cpp,
// test_process_signals.cpp), which run it as a child process against a real broker.
//
//   sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
//   sdf = sdf[sdf["temperature_F"] > 150];      // left out with --no-filter
//   sdf.to_topic(output);
//
// It runs until SIGTERM or SIGINT (graceful stop with a final checkpoint, APP-21).
// Exit codes: 0 graceful stop; 130 a second SIGINT (Interrupted, nothing committed);
// 1 any other error (printed on stderr); 2 bad command line.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <streamframe/streamframe.hpp>
#include <string>
#include <thread>
#include <vector>

namespace sf = streamframe;

namespace {

sf::AutoOffsetReset parse_reset(const std::string& name) {
  if (name == "earliest") return sf::AutoOffsetReset::earliest;
  if (name == "error") return sf::AutoOffsetReset::error;
  return sf::AutoOffsetReset::latest;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"streamframe alerts app: the README temperature pipeline against a Kafka broker"};
  std::string brokers;
  std::string input;
  std::string output;
  std::string group;
  std::int64_t commit_interval_ms = 5000;
  std::int64_t request_timeout_ms = 30000;
  std::string offset_reset = "earliest";
  std::string loglevel = "INFO";
  std::vector<std::string> consumer_config;
  bool no_filter = false;
  std::int64_t pace_us = 0;
  cli.add_option("--brokers", brokers, "bootstrap servers (host:port[,host:port])")->required();
  cli.add_option("--input", input, "topic of temperature readings (JSON)")->required();
  cli.add_option("--output", output, "topic the alerts go to")->required();
  cli.add_option("--group", group, "consumer group")->required();
  cli.add_option("--commit-interval-ms", commit_interval_ms, "checkpoint interval (default 5000)")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--request-timeout-ms", request_timeout_ms,
                 "broker request timeout, also bounds the start-up reachability check "
                 "(default 30000)")
      ->check(CLI::PositiveNumber);
  cli.add_option("--auto-offset-reset", offset_reset, "earliest (default), latest or error")
      ->check(CLI::IsMember({"earliest", "latest", "error"}));
  cli.add_option("--loglevel", loglevel, "DEBUG, INFO (default), WARNING, ERROR, CRITICAL");
  cli.add_option("--consumer-config", consumer_config,
                 "extra consumer setting name=value (repeatable), e.g. session.timeout.ms=6000");
  cli.add_flag("--no-filter", no_filter, "send every reading to the output, not only alerts");
  // A crash at a chosen step of the library's protocols (src/core/crash_point.hpp).
  cli.add_option_function<std::string>(
      "--crash-at",
      [](const std::string& point) { ::setenv("STREAMFRAME_TEST_CRASH_AT", point.c_str(), 1); },
      "<point>[:<n>]: SIGKILL this process the n-th time it passes the library's crash point");
  cli.add_option("--pace-us", pace_us,
                 "sleep this long per reading (0, the default: full speed), so a test can stop "
                 "the app while it is still in the middle of its input");
  CLI11_PARSE(cli, argc, argv);

  std::map<std::string, std::string> consumer_extra;
  for (const auto& setting : consumer_config) {
    const auto eq = setting.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "alerts_app: --consumer-config wants name=value, got '%s'\n",
                   setting.c_str());
      return 2;
    }
    consumer_extra[setting.substr(0, eq)] = setting.substr(eq + 1);
  }

  try {
    sf::Application app({.broker_address = brokers,
                         .consumer_group = group,
                         .auto_offset_reset = parse_reset(offset_reset),
                         .commit_interval = std::chrono::milliseconds(commit_interval_ms),
                         .request_timeout = std::chrono::milliseconds(request_timeout_ms),
                         .consumer_extra_config = consumer_extra,
                         .loglevel = loglevel});
    auto readings = app.topic(input);
    auto alerts = app.topic(output);

    auto sdf = app.dataframe(readings);
    if (pace_us > 0) {
      sdf = sdf.update([pace = std::chrono::microseconds(pace_us)](sf::Value&) {
        std::this_thread::sleep_for(pace);
      });
    }
    sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
    if (!no_filter) sdf = sdf[sdf["temperature_F"] > 150];
    sdf.to_topic(alerts);

    try {
      app.run();
    } catch (...) {
      const auto s = app.stats();
      std::fprintf(stderr,
                   "alerts_app: failed after consumed=%llu produced=%llu checkpoints=%llu\n",
                   static_cast<unsigned long long>(s.messages_consumed),
                   static_cast<unsigned long long>(s.records_produced),
                   static_cast<unsigned long long>(s.checkpoints));
      throw;
    }
    const auto s = app.stats();
    std::printf("alerts_app: stopped consumed=%llu produced=%llu checkpoints=%llu\n",
                static_cast<unsigned long long>(s.messages_consumed),
                static_cast<unsigned long long>(s.records_produced),
                static_cast<unsigned long long>(s.checkpoints));
    return 0;
  } catch (const sf::Interrupted& e) {
    std::fprintf(stderr, "alerts_app: Interrupted: %s\n", e.what());
    return 130;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "alerts_app: error: %s\n", e.what());
    return 1;
  }
}
