// Enrichment with an as-of join: every order takes the customer record that was current when
// the order was placed (a customer who moves up a tier after an order does not change that
// order). Both topics are keyed by customer id and have as many partitions; the application
// reads them in timestamp order, so a customer update produced after an order but stamped
// before it still counts. The customers' latest records live in the join's store (with its
// changelog), so they survive restarts.
//
//   order_enrichment                                   # embedded broker, built-in records
//   order_enrichment --broker localhost:9092 --exactly-once --state-dir /tmp/enrich
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <streamframe/streamframe.hpp>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace sf = streamframe;

int main(int argc, char** argv) {
  CLI::App cli{"streamframe order enrichment: orders joined as of their time with customers"};
  std::string broker = "embedded";
  std::string state_dir = "state";
  bool exactly_once = false;
  cli.add_option("--broker", broker, "broker address, or \"embedded\" (default)");
  cli.add_option("--state-dir", state_dir, "where the RocksDB stores live (default ./state)");
  cli.add_flag("--exactly-once", exactly_once, "processing_guarantee = exactly_once (real broker)");
  CLI11_PARSE(cli, argc, argv);

  try {
    sf::Application app({.broker_address = broker,
                         .consumer_group = "order-enrichment",
                         .state_dir = state_dir,
                         .auto_offset_reset = sf::AutoOffsetReset::earliest,
                         .processing_guarantee = exactly_once
                                                     ? sf::ProcessingGuarantee::exactly_once
                                                     : sf::ProcessingGuarantee::at_least_once,
                         .commit_interval = 1s});
    const auto two = sf::TopicOptions{.config = sf::TopicConfig{.num_partitions = 2}};
    auto customers = app.topic("customers", two);
    auto orders = app.topic("orders", two);
    auto enriched = app.topic("orders-enriched");

    {
      // Customers first, orders after: the timestamps, not the order of production, decide.
      auto producer = app.get_producer();
      producer.produce(customers, sf::Value::object({{"name", "Ada"}, {"tier", "silver"}}),
                       sf::Value("c1"), 1000);
      producer.produce(customers, sf::Value::object({{"name", "Ada"}, {"tier", "gold"}}),
                       sf::Value("c1"), 5000);
      producer.produce(customers, sf::Value::object({{"name", "Alan"}, {"tier", "bronze"}}),
                       sf::Value("c2"), 2000);
      producer.produce(orders, sf::Value::object({{"order", "o1"}, {"amount", 10}}),
                       sf::Value("c1"), 1500);
      producer.produce(orders, sf::Value::object({{"order", "o2"}, {"amount", 25}}),
                       sf::Value("c1"), 6000);
      producer.produce(orders, sf::Value::object({{"order", "o3"}, {"amount", 7}}), sf::Value("c2"),
                       2500);
      producer.produce(orders, sf::Value::object({{"order", "o4"}, {"amount", 3}}), sf::Value("c3"),
                       3000);  // an unknown customer: kept, not enriched
      producer.flush(10s);
    }

    std::vector<std::string> lines;
    app.dataframe(orders)
        .join_asof(app.dataframe(customers), {.how = sf::JoinHow::left})
        .update([&lines](const sf::Value& v) {
          lines.push_back(v["order"].as_string() + " " +
                          (v.contains("tier") ? v["tier"].as_string() : std::string("-")));
        })
        .print({.pretty = false, .metadata = true})
        .to_topic(enriched);

    // Stop once the app has been idle for 3 s (a production app just calls run()).
    app.run({.timeout = 3s, .collect = false});
    std::sort(lines.begin(), lines.end());
    std::string summary;
    for (const auto& l : lines) summary += (summary.empty() ? "" : ", ") + l;
    std::printf("order_enrichment: %s\n", summary.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "order_enrichment: error: %s\n", e.what());
    return 1;
  }
}
