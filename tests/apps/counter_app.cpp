// counter_app: a stateful pipeline as a standalone program, for the state and exactly-once
// acceptance tests (tests/integration/test_state_*.cpp), which run it as a child process
// against a real broker and kill it.
//
// Input: JSON {"id": <int>, "words": [<string>...]} keyed by any key. For every word of a
// record the app adds one to the state counter of (message key, word) and produces
//   {"id": id, "word": word, "count": <count after this record>}
// with the message's key. Under exactly-once every (key, word) has outputs counting 1, 2, 3...
// with no gap and no repeat, and the last count equals the number of inputs containing it.
//
// It runs until SIGTERM/SIGINT. Exit codes: 0 graceful stop; 1 error (message on stderr, the
// error's type name first); 2 bad command line; 130 second SIGINT.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <streamframe/streamframe.hpp>
#include <string>
#include <typeinfo>
#include <vector>

namespace sf = streamframe;

int main(int argc, char** argv) {
  CLI::App cli{"streamframe counter app: per-key word counts in state"};
  std::string brokers, input, output, group, state_dir, guarantee = "at_least_once";
  std::int64_t commit_interval_ms = 1000;
  std::int64_t broker_timeout_ms = 120000;
  std::int64_t request_timeout_ms = 30000;
  int workers = 1;
  std::string loglevel = "INFO";
  std::vector<std::string> consumer_config, producer_config;
  cli.add_option("--brokers", brokers)->required();
  cli.add_option("--input", input)->required();
  cli.add_option("--output", output)->required();
  cli.add_option("--group", group)->required();
  cli.add_option("--state-dir", state_dir)->required();
  cli.add_option("--guarantee", guarantee)->check(CLI::IsMember({"at_least_once", "exactly_once"}));
  cli.add_option("--commit-interval-ms", commit_interval_ms);
  cli.add_option("--broker-availability-timeout-ms", broker_timeout_ms);
  cli.add_option("--request-timeout-ms", request_timeout_ms);
  cli.add_option("--workers", workers);
  cli.add_option("--loglevel", loglevel);
  cli.add_option("--consumer-config", consumer_config, "name=value (repeatable)");
  cli.add_option("--producer-config", producer_config, "name=value (repeatable)");
  CLI11_PARSE(cli, argc, argv);

  auto to_map = [](const std::vector<std::string>& settings) {
    std::map<std::string, std::string> out;
    for (const auto& s : settings) {
      const auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0) throw CLI::ValidationError("want name=value: " + s);
      out[s.substr(0, eq)] = s.substr(eq + 1);
    }
    return out;
  };

  try {
    sf::Application app(
        {.broker_address = brokers,
         .consumer_group = group,
         .state_dir = state_dir,
         .auto_offset_reset = sf::AutoOffsetReset::earliest,
         .processing_guarantee = guarantee == "exactly_once"
                                     ? sf::ProcessingGuarantee::exactly_once
                                     : sf::ProcessingGuarantee::at_least_once,
         .commit_interval = std::chrono::milliseconds(commit_interval_ms),
         .request_timeout = std::chrono::milliseconds(request_timeout_ms),
         .producer_extra_config = to_map(producer_config),
         .consumer_extra_config = to_map(consumer_config),
         .loglevel = loglevel,
         .broker_availability_timeout = std::chrono::milliseconds(broker_timeout_ms),
         .num_workers = workers});
    auto sdf = app.dataframe(app.topic(input));
    sdf.apply(
           [](const sf::Value& v) {
             sf::Array out;
             for (const auto& w : v["words"].as_array()) {
               out.push_back(sf::Value::object({{"id", v["id"]}, {"word", w}}));
             }
             return sf::Value(std::move(out));
           },
           {.expand = true})
        .apply([](const sf::Value& v, sf::State& state) {
          const auto n = state.get(v["word"], sf::Value(0)).as_int() + 1;
          state.set(v["word"], sf::Value(n));
          return sf::Value::object({{"id", v["id"]}, {"word", v["word"]}, {"count", n}});
        })
        .to_topic(app.topic(output));
    app.run();
    const auto s = app.stats();
    std::printf("counter_app: stopped consumed=%llu produced=%llu checkpoints=%llu\n",
                static_cast<unsigned long long>(s.messages_consumed),
                static_cast<unsigned long long>(s.records_produced),
                static_cast<unsigned long long>(s.checkpoints));
    return 0;
  } catch (const sf::Interrupted& e) {
    std::fprintf(stderr, "counter_app: Interrupted: %s\n", e.what());
    return 130;
  } catch (const CLI::Error& e) {
    std::fprintf(stderr, "counter_app: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "counter_app: error: %s: %s\n", typeid(e).name(), e.what());
    return 1;
  }
}
