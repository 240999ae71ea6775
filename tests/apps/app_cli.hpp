// What the test programs under tests/apps share: the command line of a stateful app (brokers,
// topics, group, state directory, guarantee, commit interval, client settings), the
// ApplicationConfig built from it, the "stopped" statistics line the tests parse, and the
// mapping of errors to exit codes (0 graceful stop; 1 error, its type name first on stderr;
// 2 bad command line; 130 second SIGINT).
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <streamframe/streamframe.hpp>
#include <string>
#include <typeinfo>
#include <vector>

namespace streamframe::test_apps {

struct StatefulAppCli {
  std::string brokers, input, output, group, state_dir, guarantee = "at_least_once";
  std::int64_t commit_interval_ms = 1000;
  std::int64_t commit_every = 0;
  std::int64_t broker_timeout_ms = 120000;
  std::int64_t request_timeout_ms = 30000;
  int workers = 1;
  std::string loglevel = "INFO";
  std::vector<std::string> consumer_config, producer_config;

  void add_to(CLI::App& cli) {
    cli.add_option("--brokers", brokers)->required();
    cli.add_option("--input", input)->required();
    cli.add_option("--output", output)->required();
    cli.add_option("--group", group)->required();
    cli.add_option("--state-dir", state_dir)->required();
    cli.add_option("--guarantee", guarantee)
        ->check(CLI::IsMember({"at_least_once", "exactly_once"}));
    cli.add_option("--commit-interval-ms", commit_interval_ms);
    cli.add_option("--commit-every", commit_every, "checkpoint after this many messages (0 = off)");
    // A crash at a chosen step of the library's protocols (src/core/crash_point.hpp).
    cli.add_option_function<std::string>(
        "--crash-at",
        [](const std::string& point) { ::setenv("STREAMFRAME_TEST_CRASH_AT", point.c_str(), 1); },
        "<point>[:<n>]: SIGKILL this process the n-th time it passes the library's crash point");
    cli.add_option("--broker-availability-timeout-ms", broker_timeout_ms);
    cli.add_option("--request-timeout-ms", request_timeout_ms);
    cli.add_option("--workers", workers);
    cli.add_option("--loglevel", loglevel);
    cli.add_option("--consumer-config", consumer_config, "name=value (repeatable)");
    cli.add_option("--producer-config", producer_config, "name=value (repeatable)");
  }

  // Throws CLI::ValidationError for a client setting that is not name=value.
  ApplicationConfig config() const {
    return {.broker_address = brokers,
            .consumer_group = group,
            .state_dir = state_dir,
            .auto_offset_reset = AutoOffsetReset::earliest,
            .processing_guarantee = guarantee == "exactly_once"
                                        ? ProcessingGuarantee::exactly_once
                                        : ProcessingGuarantee::at_least_once,
            .commit_interval = std::chrono::milliseconds(commit_interval_ms),
            .commit_every = commit_every,
            .request_timeout = std::chrono::milliseconds(request_timeout_ms),
            .producer_extra_config = to_map(producer_config),
            .consumer_extra_config = to_map(consumer_config),
            .loglevel = loglevel,
            .broker_availability_timeout = std::chrono::milliseconds(broker_timeout_ms),
            .num_workers = workers};
  }

  static std::map<std::string, std::string> to_map(const std::vector<std::string>& settings) {
    std::map<std::string, std::string> out;
    for (const auto& s : settings) {
      const auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0) throw CLI::ValidationError("want name=value: " + s);
      out[s.substr(0, eq)] = s.substr(eq + 1);
    }
    return out;
  }
};

// "<name>: stopped consumed=N produced=N checkpoints=N" on stdout after a graceful stop.
inline void print_stopped(const char* name, const Application& app) {
  const auto s = app.stats();
  std::printf("%s: stopped consumed=%llu produced=%llu checkpoints=%llu\n", name,
              static_cast<unsigned long long>(s.messages_consumed),
              static_cast<unsigned long long>(s.records_produced),
              static_cast<unsigned long long>(s.checkpoints));
}

// Runs `body` (which returns the exit code) and turns what it throws into an exit code.
inline int run_guarded(const char* name, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Interrupted& e) {
    std::fprintf(stderr, "%s: Interrupted: %s\n", name, e.what());
    return 130;
  } catch (const CLI::Error& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s: %s\n", name, typeid(e).name(), e.what());
    return 1;
  }
}

}  // namespace streamframe::test_apps
