// Re-key and aggregate: orders arrive keyed by order id; group_by("customer") re-keys them
// through a repartition topic so that every order of one customer reaches the same partition,
// and aggregate() keeps a running total per customer (with its changelog, so totals survive
// restarts). With --exactly-once on a real broker each total is produced exactly once.
//
//   order_totals                                   # embedded broker, built-in orders
//   order_totals --broker localhost:9092 --exactly-once --state-dir /tmp/orders
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <streamframe/streamframe.hpp>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
namespace sf = streamframe;

int main(int argc, char** argv) {
  CLI::App cli{"streamframe order totals: orders re-keyed by customer, totals per customer"};
  std::string broker = "embedded";
  std::string state_dir = "state";
  bool exactly_once = false;
  cli.add_option("--broker", broker, "broker address, or \"embedded\" (default)");
  cli.add_option("--state-dir", state_dir, "where the RocksDB stores live (default ./state)");
  cli.add_flag("--exactly-once", exactly_once, "processing_guarantee = exactly_once (real broker)");
  CLI11_PARSE(cli, argc, argv);

  try {
    sf::Application app({.broker_address = broker,
                         .consumer_group = "order-totals",
                         .state_dir = state_dir,
                         .auto_offset_reset = sf::AutoOffsetReset::earliest,
                         .processing_guarantee = exactly_once
                                                     ? sf::ProcessingGuarantee::exactly_once
                                                     : sf::ProcessingGuarantee::at_least_once,
                         .commit_interval = 1s});
    auto orders = app.topic("orders", {.config = sf::TopicConfig{.num_partitions = 2}});
    auto totals = app.topic("customer-totals", {.key_serializer = "json"});

    {
      auto producer = app.get_producer();
      const std::vector<std::pair<std::string, double>> input{
          {"ada", 10.0}, {"alan", 7.5}, {"ada", 20.25}, {"alan", 9.5}, {"ada", 30.25}};
      for (std::size_t i = 0; i < input.size(); ++i) {
        const auto& [customer, amount] = input[i];
        producer.produce(orders, sf::Value::object({{"customer", customer}, {"amount", amount}}),
                         sf::Value("order-" + std::to_string(i)));
      }
      producer.flush(10s);
    }

    std::map<std::string, sf::Value> last;  // the latest totals per customer, for the summary
    app.dataframe(orders)
        .group_by("customer")
        .aggregate({{"customer", sf::agg::last("customer")},
                    {"orders", sf::agg::count()},
                    {"total", sf::agg::sum("amount")}})
        .update([&last](const sf::Value& v) { last[v["customer"].as_string()] = v; })
        .print({.pretty = false, .metadata = true})
        .to_topic(totals);

    // Stop once the app has been idle for 3 s (a production app just calls run()).
    app.run({.timeout = 3s, .collect = false});
    std::string summary;
    for (const auto& [customer, v] : last) {
      if (!summary.empty()) summary += ", ";
      summary += customer + " " + std::to_string(v["orders"].as_int()) + " orders " +
                 std::to_string(v["total"].as_double()).substr(0, 4);
    }
    std::printf("order_totals: %s\n", summary.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "order_totals: error: %s\n", e.what());
    return 1;
  }
}
