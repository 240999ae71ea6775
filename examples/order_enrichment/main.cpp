// Enrichment, twice: every order takes the customer record that was current when the order was
// placed (an as-of join with the customers topic), then its product's title and price from a
// database (a lookup join: SQLite by default, PostgreSQL with --postgres).
//
// The as-of join: a customer who moves up a tier after an order does not change that order.
// Both topics are keyed by customer id and have as many partitions; the application reads them
// in timestamp order, so a customer update produced after an order but stamped before it still
// counts. The customers' latest records live in the join's store (with its changelog), so they
// survive restarts.
//
// The lookup: one query per product and minute (the lookup's cache), the product id bound as a
// parameter. An order whose product is not in the table yet waits (LookupBuffer) until a later
// order of the same customer finds it, or for 2 s, then goes on with the default.
//
//   order_enrichment                                   # embedded broker, SQLite file, built-in
//   records order_enrichment --broker localhost:9092 --exactly-once --state-dir /tmp/enrich
//   order_enrichment --postgres localhost:5432 --pg-user me --pg-password secret
//                    --pg-dbname shop --create-demo-table   # products from PostgreSQL
#include <libpq-fe.h>
#include <sqlite3.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <streamframe/streamframe.hpp>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace sf = streamframe;

namespace {

// The demo's product table. A real application reads a table that is already there.
constexpr const char* kProductsSql =
    "CREATE TABLE IF NOT EXISTS products (sku TEXT PRIMARY KEY, title TEXT, price REAL);"
    "DELETE FROM products;"
    "INSERT INTO products VALUES ('p1', 'Pen', 2.5), ('p2', 'Ink', 7.0), ('p3', 'Pad', 4.0);";

std::string create_sqlite_products(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/products.db";
  sqlite3* db = nullptr;
  const bool ok = sqlite3_open(path.c_str(), &db) == SQLITE_OK &&
                  sqlite3_exec(db, kProductsSql, nullptr, nullptr, nullptr) == SQLITE_OK;
  const std::string error = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  sqlite3_close(db);
  if (!ok) throw std::runtime_error("creating " + path + ": " + error);
  return path;
}

void create_postgres_products(const sf::PostgresLookupOptions& o) {
  const std::string info = "host=" + o.host + " port=" + std::to_string(o.port) +
                           " dbname=" + o.dbname + " user=" + o.user + " password=" + o.password;
  PGconn* conn = PQconnectdb(info.c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, kProductsSql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(conn);
  if (!error.empty()) throw std::runtime_error("creating the products table: " + error);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"streamframe order enrichment: orders joined with customers and products"};
  std::string broker = "embedded";
  std::string state_dir = "state";
  bool exactly_once = false;
  std::string postgres;
  sf::PostgresLookupOptions pg{
      .dbname = "streamframe", .user = "streamframe", .password = "streamframe"};
  bool create_table = false;
  cli.add_option("--broker", broker, "broker address, or \"embedded\" (default)");
  cli.add_option("--state-dir", state_dir, "where the RocksDB stores live (default ./state)");
  cli.add_flag("--exactly-once", exactly_once, "processing_guarantee = exactly_once (real broker)");
  cli.add_option("--postgres", postgres, "HOST:PORT of a PostgreSQL with a products table");
  cli.add_option("--pg-user", pg.user, "PostgreSQL user (default streamframe)");
  cli.add_option("--pg-password", pg.password, "PostgreSQL password (default streamframe)");
  cli.add_option("--pg-dbname", pg.dbname, "PostgreSQL database (default streamframe)");
  cli.add_flag("--create-demo-table", create_table,
               "create and fill the products table in PostgreSQL first");
  CLI11_PARSE(cli, argc, argv);

  try {
    // The products: sku -> {title, price}, from PostgreSQL or a SQLite file made here.
    std::shared_ptr<sf::Lookup> products;
    sf::LookupFields product_fields;
    if (!postgres.empty()) {
      const auto colon = postgres.rfind(':');
      pg.host = postgres.substr(0, colon);
      pg.port = colon == std::string::npos ? 5432 : std::stoi(postgres.substr(colon + 1));
      if (create_table) create_postgres_products(pg);
      products = std::make_shared<sf::PostgresLookup>(pg);
      product_fields = {{"product", sf::PostgresLookupField{.table = "products",
                                                            .columns = {"title", "price"},
                                                            .on = "sku",
                                                            .default_value = sf::Value("?")}}};
    } else {
      products = std::make_shared<sf::SQLiteLookup>(create_sqlite_products(state_dir));
      product_fields = {{"product", sf::SQLiteLookupField{.table = "products",
                                                          .columns = {"title", "price"},
                                                          .on = "sku",
                                                          .default_value = sf::Value("?")}}};
    }

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
      auto order = [&](const char* id, int amount, const char* sku, const char* customer,
                       std::int64_t ts) {
        producer.produce(orders,
                         sf::Value::object({{"order", id}, {"amount", amount}, {"sku", sku}}),
                         sf::Value(customer), ts);
      };
      order("o1", 10, "p1", "c1", 1500);
      order("o2", 25, "p2", "c1", 6000);
      order("o3", 7, "p3", "c2", 2500);
      order("o4", 3, "p1", "c3", 3000);  // an unknown customer: kept, not enriched
      order("o5", 1, "p9", "c2", 3500);  // an unknown product: waits 2 s, then "?"
      producer.flush(10s);
    }

    std::vector<std::string> lines;
    app.dataframe(orders)
        .join_asof(app.dataframe(customers), {.how = sf::JoinHow::left})
        .join_lookup(
            products, product_fields,
            {.on = "sku",
             .buffer =
                 sf::LookupBuffer{
                     .grace = 2s,
                     .is_resolved = [](const sf::Value& v) { return v["product"].is_object(); }}})
        .update([&lines](const sf::Value& v) {
          const sf::Value& product = v["product"];
          lines.push_back(v["order"].as_string() + " " +
                          (v.contains("tier") ? v["tier"].as_string() : std::string("-")) + " " +
                          (product.is_object() ? product["title"].as_string() : std::string("?")));
        })
        .print({.pretty = false, .metadata = true})
        .to_topic(enriched);

    // Stop once no message came for 3 s, after the waiting order went out (a production app
    // just calls run()).
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
