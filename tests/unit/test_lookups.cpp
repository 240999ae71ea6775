// Lookup joins (JOIN-05) through the public API with SQLite: table and query fields, the
// cache, bad definitions and bad records, and LookupBuffer (held, released, timed out, read
// back from its store). PostgreSQL: tests/integration/test_postgres_lookup.cpp.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"
#include "support/expect_error.hpp"

using namespace std::chrono_literals;

namespace streamframe {
namespace {

namespace fs = std::filesystem;

// A SQLite file of customers and prices, written through a connection of the test's own (the
// lookup opens it read-only).
class Db {
 public:
  Db() {
    path_ = fs::temp_directory_path() /
            ("streamframe-lookup-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db");
    fs::remove(path_);
    if (sqlite3_open(path_.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("sqlite open");
    exec(R"(
      CREATE TABLE customers (id TEXT, name TEXT, tier TEXT, score REAL, visits INTEGER,
                              note BLOB);
      INSERT INTO customers VALUES ('c1', 'Ann', 'gold', 9.5, 3, NULL);
      INSERT INTO customers VALUES ('c2', 'Bob', 'silver', 7.25, 1, x'6869');
      CREATE TABLE prices (sku TEXT, price REAL, since INTEGER);
      INSERT INTO prices VALUES ('p1', 10.0, 1), ('p1', 12.5, 3), ('p1', 11.0, 2),
                                ('p2', 99.0, 1);
    )");
  }
  ~Db() {
    sqlite3_close(db_);
    fs::remove(path_);
  }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err != nullptr ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error("sqlite: " + msg);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

SQLiteLookupField customer_field() {
  return SQLiteLookupField{.table = "customers", .columns = {"name", "tier"}, .on = "id"};
}

// Runs `frame`'s pipeline on records {"customer": id, "n": i} keyed "k", one per id.
std::vector<Row> run(const StreamingDataFrame& root, const std::vector<std::string>& ids,
                     TestDriverOptions options = {.partitions = 1}) {
  TestDriver driver(root, options);
  int n = 0;
  for (const auto& id : ids) {
    driver.pipe(0, "k", Value::object({{"customer", id}, {"n", n}}).to_json(), 1000 + n);
    ++n;
  }
  return driver.take_rows();
}

TEST(SQLiteLookup, ATableFieldSetsTheFirstMatchingRowAsAnObjectOrTheDefault) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  SQLiteLookupField missing = customer_field();
  missing.default_value = Value::object({{"name", "?"}});
  (void)root.join_lookup(lookup, {{"customer_row", customer_field()}, {"or_default", missing}},
                         {.on = "customer"});
  const auto rows = run(root, {"c1", "c2", "c9"});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].value.to_json(),
            R"({"customer":"c1","n":0,"customer_row":{"name":"Ann","tier":"gold"},)"
            R"("or_default":{"name":"Ann","tier":"gold"}})");
  EXPECT_EQ(rows[1].value["customer_row"].to_json(), R"({"name":"Bob","tier":"silver"})");
  EXPECT_TRUE(rows[2].value["customer_row"].is_null()) << rows[2].value.to_json();
  EXPECT_EQ(rows[2].value["or_default"].to_json(), R"({"name":"?"})");
}

TEST(SQLiteLookup, ColumnsKeepTheirTypes) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)root.join_lookup(lookup,
                         {{"c", SQLiteLookupField{.table = "customers",
                                                  .columns = {"score", "visits", "note", "name"},
                                                  .on = "id"}}},
                         {.on = "customer"});
  const auto rows = run(root, {"c1", "c2"});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].value["c"].to_json(), R"({"score":9.5,"visits":3,"note":null,"name":"Ann"})");
  EXPECT_EQ(rows[1].value["c"].to_json(), R"({"score":7.25,"visits":1,"note":"hi","name":"Bob"})");
}

TEST(SQLiteLookup, AllMatchesComeAsAnArrayInTheGivenOrder) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)root.join_lookup(lookup,
                         {{"all", SQLiteLookupField{.table = "prices",
                                                    .columns = {"price", "since"},
                                                    .on = "sku",
                                                    .order_by = "since",
                                                    .order_by_direction = OrderDirection::desc,
                                                    .first_match_only = false}},
                          {"latest", SQLiteLookupField{.table = "prices",
                                                       .columns = {"price"},
                                                       .on = "sku",
                                                       .order_by = "since",
                                                       .order_by_direction = OrderDirection::desc}},
                          {"none", SQLiteLookupField{.table = "prices",
                                                     .columns = {"price"},
                                                     .on = "sku",
                                                     .default_value = Value("unused"),
                                                     .first_match_only = false}}},
                         {.on = "customer"});
  const auto rows = run(root, {"p1", "p3"});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].value["all"].to_json(),
            R"([{"price":12.5,"since":3},{"price":11.0,"since":2},{"price":10.0,"since":1}])");
  EXPECT_EQ(rows[0].value["latest"].to_json(), R"({"price":12.5})");
  EXPECT_EQ(rows[1].value["all"].to_json(), "[]");
  EXPECT_EQ(rows[1].value["none"].to_json(), "[]") << "no row, all matches: an empty array";
}

TEST(SQLiteLookup, AQueryFieldBindsNamedParametersFromTheValue) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)root.join_lookup(
      lookup,
      {{"row", SQLiteLookupQueryField{.query = "SELECT name, visits FROM customers WHERE id = "
                                               ":customer AND visits >= @n",
                                      .default_value = Value("none")}},
       {"rows", SQLiteLookupQueryField{.query = "SELECT price FROM prices WHERE sku = $customer "
                                                "ORDER BY since",
                                       .first_match_only = false}}},
      {.on = "customer"});
  const auto rows = run(root, {"c1", "c2", "p1"});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].value["row"].to_json(), R"(["Ann",3])");
  EXPECT_EQ(rows[0].value["rows"].to_json(), "[]");
  EXPECT_EQ(rows[1].value["row"].to_json(), R"(["Bob",1])") << "visits 1 >= n 1";
  EXPECT_EQ(rows[2].value["row"].to_json(), R"("none")");
  EXPECT_EQ(rows[2].value["rows"].to_json(), "[[10.0],[11.0],[12.5]]");
}

TEST(SQLiteLookup, TheLookupKeyIsTheMessageKeyOrWhatACallableReturns) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  auto by_key = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)by_key.join_lookup(lookup, {{"c", customer_field()}});
  TestDriver driver(by_key, {.partitions = 1});
  driver.pipe(0, "c2", R"({"x":1})", 1);
  auto rows = driver.take_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].value["c"]["name"].as_string(), "Bob");

  auto by_fn = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)by_fn.join_lookup(lookup, {{"c", customer_field()}},
                          {.on = LookupOn::Fn([](const Value& value, const Value& key) {
                             return Value("c" + value["id"].to_json() + key.as_string());
                           })});
  TestDriver fn_driver(by_fn, {.partitions = 1});
  fn_driver.pipe(0, "", R"({"id":1})", 1);
  rows = fn_driver.take_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].value["c"]["name"].as_string(), "Ann");
}

TEST(SQLiteLookup, DataIsBoundNeverSplicedIntoTheQuery) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)root.join_lookup(lookup, {{"c", customer_field()}}, {.on = "customer"});
  const auto rows = run(root, {"c1' OR '1'='1", "x'; DROP TABLE customers; --"});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0].value["c"].is_null());
  EXPECT_TRUE(rows[1].value["c"].is_null());
  EXPECT_EQ(run(root, {"c1"})[0].value["c"]["name"].as_string(), "Ann") << "the table is there";
}

TEST(SQLiteLookup, ResultsAreCachedPerFieldAndKeyForTheTtl) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path(), 2);
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  SQLiteLookupField uncached = customer_field();
  uncached.ttl = 0ms;
  (void)root.join_lookup(lookup, {{"cached", customer_field()}, {"fresh", uncached}},
                         {.on = "customer"});
  TestDriver driver(root, {.partitions = 1});
  driver.pipe(0, "k", R"({"customer":"c1"})", 1);
  db.exec("UPDATE customers SET tier = 'platinum' WHERE id = 'c1'");
  driver.pipe(0, "k", R"({"customer":"c1"})", 2);
  const auto rows = driver.take_rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].value["cached"]["tier"].as_string(), "gold") << "served from the cache";
  EXPECT_EQ(rows[1].value["fresh"]["tier"].as_string(), "platinum") << "ttl 0: not cached";
  auto info = lookup->cache_info();
  EXPECT_EQ(info.hits, 1u);
  EXPECT_EQ(info.misses, 1u);
  EXPECT_EQ(info.size, 1u);
  EXPECT_EQ(info.max_size, 2u);

  // Least recently used beyond max_size is evicted: c1 goes when c2 and c9 come.
  driver.pipe(0, "k", R"({"customer":"c2"})", 3);
  driver.pipe(0, "k", R"({"customer":"c9"})", 4);
  driver.pipe(0, "k", R"({"customer":"c1"})", 5);
  EXPECT_EQ(driver.take_rows().back().value["cached"]["tier"].as_string(), "platinum");
  info = lookup->cache_info();
  EXPECT_EQ(info.size, 2u);
  EXPECT_EQ(info.misses, 4u);
}

TEST(SQLiteLookup, AnEntryOlderThanItsTtlIsQueriedAgain) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  SQLiteLookupField field = customer_field();
  field.ttl = 50ms;
  (void)root.join_lookup(lookup, {{"c", field}}, {.on = "customer"});
  TestDriver driver(root, {.partitions = 1});
  driver.pipe(0, "k", R"({"customer":"c1"})", 1);
  db.exec("UPDATE customers SET tier = 'platinum' WHERE id = 'c1'");
  std::this_thread::sleep_for(80ms);
  driver.pipe(0, "k", R"({"customer":"c1"})", 2);
  const auto rows = driver.take_rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].value["c"]["tier"].as_string(), "platinum");
}

// Another process writing the file holds its lock for a moment: the lookup waits for it
// instead of failing with SQLITE_BUSY.
TEST(SQLiteLookup, AWritersLockIsWaitedFor) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  SQLiteLookupField field = customer_field();
  field.ttl = 0ms;
  (void)root.join_lookup(lookup, {{"c", field}}, {.on = "customer"});
  TestDriver driver(root, {.partitions = 1});
  db.exec("BEGIN EXCLUSIVE");
  db.exec("UPDATE customers SET tier = 'platinum' WHERE id = 'c1'");
  std::jthread writer([&db] {  // joined on the way out, also when pipe() throws
    std::this_thread::sleep_for(300ms);
    db.exec("COMMIT");
  });
  const auto start = std::chrono::steady_clock::now();
  driver.pipe(0, "k", R"({"customer":"c1"})", 1);
  const auto waited = std::chrono::steady_clock::now() - start;
  writer.join();
  EXPECT_GE(waited, 250ms);
  EXPECT_EQ(driver.take_rows().at(0).value["c"]["tier"].as_string(), "platinum");
}

TEST(SQLiteLookup, BadDefinitionsAreRefusedWhenTheJoinIsDeclared) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  const auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  auto with = [&](SQLiteLookupField f) { return LookupFields{{"f", LookupField(std::move(f))}}; };
  SQLiteLookupField bad_table = customer_field();
  bad_table.table = "customers; DROP TABLE customers";
  test::expect_error<ConfigError>([&] { (void)root.join_lookup(lookup, with(bad_table)); },
                                  "field 'f': table 'customers; DROP TABLE customers'");
  SQLiteLookupField star = customer_field();
  star.columns = {"*"};
  test::expect_error<ConfigError>([&] { (void)root.join_lookup(lookup, with(star)); }, "'*'");
  SQLiteLookupField bad_order = customer_field();
  bad_order.order_by = "name desc";
  test::expect_error<ConfigError>([&] { (void)root.join_lookup(lookup, with(bad_order)); },
                                  "order_by column 'name desc'");
  SQLiteLookupField no_columns = customer_field();
  no_columns.columns.clear();
  test::expect_error<ConfigError>([&] { (void)root.join_lookup(lookup, with(no_columns)); },
                                  "selects no columns");
  test::expect_error<ConfigError>(
      [&] {
        (void)root.join_lookup(
            lookup, {{"p", PostgresLookupField{.table = "t", .columns = {"a"}, .on = "b"}}});
      },
      "field 'p' is not a SQLite field");
  test::expect_error<ConfigError>(
      [&] {
        (void)root.join_lookup(lookup, {{"f", customer_field()}, {"f", customer_field()}});
      },
      "field 'f' is given twice");
  test::expect_error<ConfigError>([&] { (void)root.join_lookup(lookup, {}); }, "no fields");
  test::expect_error<ConfigError>([&] { (void)root.join_lookup(nullptr, with(customer_field())); },
                                  "no lookup");
  test::expect_error<LookupConnectionError>(
      [&] { SQLiteLookup missing("/nonexistent/streamframe/lookup.db"); },
      "cannot open '/nonexistent/streamframe/lookup.db' read-only");
}

TEST(SQLiteLookup, BadRecordsAndFailingQueriesAreProcessingErrorsNamingTheField) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)root.join_lookup(lookup, {{"c", customer_field()}}, {.on = "customer"});
  TestDriver driver(root, {.partitions = 1});
  test::expect_error<ValueTypeError>([&] { driver.pipe(0, "k", "[1,2]", 1); },
                                     "join_lookup: the value must be an object, got array");
  test::expect_error<ColumnDoesNotExist>([&] { driver.pipe(0, "k", R"({"other":1})", 2); },
                                         "customer");

  auto broken = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)broken.join_lookup(
      lookup, {{"gone", SQLiteLookupField{.table = "nothere", .columns = {"a"}, .on = "b"}}});
  TestDriver broken_driver(broken, {.partitions = 1});
  test::expect_error<LookupError>([&] { broken_driver.pipe(0, "k", R"({"x":1})", 1); },
                                  "field 'gone': the query does not prepare: no such table");

  auto param = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)param.join_lookup(
      lookup, {{"q", SQLiteLookupQueryField{.query = "SELECT name FROM customers WHERE id = "
                                                     ":missing"}}});
  TestDriver param_driver(param, {.partitions = 1});
  test::expect_error<LookupError>([&] { param_driver.pipe(0, "k", R"({"x":1})", 1); },
                                  "field 'q': the value has no column 'missing'");
  auto positional = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)positional.join_lookup(
      lookup, {{"q", SQLiteLookupQueryField{.query = "SELECT name FROM customers WHERE id = ?"}}});
  TestDriver positional_driver(positional, {.partitions = 1});
  test::expect_error<LookupError>([&] { positional_driver.pipe(0, "k", R"({"x":1})", 1); },
                                  "field 'q': the query has a positional parameter");
}

// One lookup serves every worker thread of the application (it locks around its connection
// and cache): each of 400 orders on 4 partitions read by 2 workers gets its own customer.
TEST(SQLiteLookup, OneLookupServesEveryWorkerOfTheRunLoop) {
  Db db;
  for (int i = 0; i < 40; ++i) {
    db.exec("INSERT INTO customers (id, name) VALUES ('x" + std::to_string(i) + "', 'name-" +
            std::to_string(i) + "')");
  }
  auto lookup = std::make_shared<SQLiteLookup>(db.path(), 16);
  ApplicationConfig cfg = test::embedded_config("lookup-workers");
  cfg.num_workers = 2;
  Application app(cfg);
  const Topic orders = app.topic("lookup-orders", {.config = TopicConfig{.num_partitions = 4}});
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < 400; ++i) {
      producer.produce(orders,
                       Value::object({{"customer", "x" + std::to_string(i % 40)}, {"n", i}}),
                       Value("k" + std::to_string(i)), 1000 + i);
    }
    ASSERT_TRUE(producer.flush(30s));
  }
  SQLiteLookupField field{.table = "customers", .columns = {"name"}, .on = "id"};
  field.ttl = 10ms;  // misses now and then, from both threads
  (void)app.dataframe(orders).join_lookup(lookup, {{"c", field}}, {.on = "customer"});
  const auto rows = app.run({.timeout = 20s, .count = 400});
  ASSERT_EQ(rows.size(), 400u);
  for (const auto& v : rows) {
    const auto n = v["n"].as_int();
    EXPECT_EQ(v["c"]["name"].as_string(), "name-" + std::to_string(n % 40)) << v.to_json();
  }
  const auto info = lookup->cache_info();
  EXPECT_EQ(info.hits + info.misses, 400u);
  EXPECT_LE(info.size, 16u);
}

// ---------------------------------------------------------------------------------------------
// LookupBuffer

LookupBuffer buffer_until_customer_found(std::chrono::milliseconds grace = 1000ms) {
  return LookupBuffer{
      .grace = grace,
      .is_resolved = [](const Value& v) { return v["c"].is_object(); },
  };
}

std::vector<std::string> ns_of(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.key.as_string() + ":" + r.value["n"].to_json());
  return out;
}

struct Buffered {
  explicit Buffered(Db& db, LookupBuffer buffer, TestDriverOptions options = {.partitions = 1})
      : lookup(std::make_shared<SQLiteLookup>(db.path())),
        root(StreamingDataFrame::standalone(Topic::make("orders", {}))) {
    SQLiteLookupField field = customer_field();
    field.ttl = 0ms;  // the tests change the table between records
    field.default_value = Value("timed-out");
    (void)root.join_lookup(lookup, {{"c", field}}, {.on = "customer", .buffer = std::move(buffer)});
    driver = std::make_unique<TestDriver>(root, options);
  }
  void pipe(const std::string& key, const std::string& customer, int n,
            const Headers& headers = {}) {
    driver->pipe(0, key, Value::object({{"customer", customer}, {"n", n}}).to_json(), 100 + n,
                 headers);
  }
  std::shared_ptr<SQLiteLookup> lookup;
  StreamingDataFrame root;
  std::unique_ptr<TestDriver> driver;
};

TEST(LookupBuffer, HeldRecordsGoOutInArrivalOrderWhenALaterRecordOfTheirKeyResolves) {
  Db db;
  Buffered b(db, buffer_until_customer_found());
  b.pipe("k", "c8", 0, {{"h", "zero"}});
  b.pipe("k", "c8", 1);
  b.pipe("other", "c8", 2);
  b.pipe("k", "c1", 3);  // resolves, but the held c8 ones do not yet: they stay
  auto rows = b.driver->take_rows();
  EXPECT_EQ(ns_of(rows), (std::vector<std::string>{"k:3"}));
  db.exec("INSERT INTO customers VALUES ('c8', 'Eve', 'bronze', 1.0, 0, NULL)");
  b.pipe("k", "c1", 4);
  rows = b.driver->take_rows();
  EXPECT_EQ(ns_of(rows), (std::vector<std::string>{"k:0", "k:1", "k:4"}));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].value["c"]["name"].as_string(), "Eve") << "joined again on release";
  EXPECT_EQ(rows[0].timestamp, 100) << "a released record keeps its own timestamp";
  EXPECT_EQ(rows[0].headers, (Headers{{"h", "zero"}})) << "and its headers";
  EXPECT_TRUE(rows[1].headers.empty());
  b.pipe("other", "c2", 5);
  EXPECT_EQ(ns_of(b.driver->take_rows()), (std::vector<std::string>{"other:2", "other:5"}));
}

TEST(LookupBuffer, ARecordWaitingForOtherDataIsOvertakenByOneThatResolves) {
  Db db;
  Buffered b(db, buffer_until_customer_found());
  b.pipe("k", "c8", 0);
  b.pipe("k", "c9", 1);
  db.exec("INSERT INTO customers VALUES ('c9', 'Zed', 'gold', 1.0, 0, NULL)");
  b.pipe("k", "c1", 2);
  EXPECT_EQ(ns_of(b.driver->take_rows()), (std::vector<std::string>{"k:1", "k:2"}));
  b.driver->advance_clock(1000ms);
  const auto rows = b.driver->take_rows();
  EXPECT_EQ(ns_of(rows), (std::vector<std::string>{"k:0"}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].value["c"].as_string(), "timed-out") << "the field's default";
}

TEST(LookupBuffer, AfterGraceARecordGoesOutWithDefaultsOrIsDropped) {
  Db db;
  Buffered emit(db, buffer_until_customer_found(1000ms));
  emit.pipe("a", "c8", 0);
  emit.driver->advance_clock(400ms);
  emit.pipe("b", "c8", 1);
  emit.driver->advance_clock(599ms);
  EXPECT_TRUE(emit.driver->take_rows().empty()) << "999 ms: still held";
  emit.driver->advance_clock(1ms);
  EXPECT_EQ(ns_of(emit.driver->take_rows()), (std::vector<std::string>{"a:0"}));
  emit.driver->advance_clock(400ms);
  auto rows = emit.driver->take_rows();
  EXPECT_EQ(ns_of(rows), (std::vector<std::string>{"b:1"}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].timestamp, 101);

  // A record of the key arriving after the grace sends the timed-out ones first, whether it
  // resolves or not.
  emit.pipe("c", "c8", 2);
  emit.driver->advance_clock(1000ms);  // ticks: c:2 goes out here
  emit.pipe("c", "c8", 3);
  emit.driver->advance_clock(999ms);
  emit.pipe("c", "c1", 4);
  rows = emit.driver->take_rows();
  EXPECT_EQ(ns_of(rows), (std::vector<std::string>{"c:2", "c:4"}))
      << "c:3 waits for c8 (999 ms): it is not released by c1";

  auto lost = LookupBuffer{.grace = 1000ms,
                           .is_resolved = [](const Value& v) { return v["c"].is_object(); },
                           .on_timeout = LookupTimeout::drop};
  Buffered drop(db, lost);
  drop.pipe("a", "c8", 0);
  drop.driver->advance_clock(5000ms);
  drop.pipe("a", "c1", 1);
  EXPECT_EQ(ns_of(drop.driver->take_rows()), (std::vector<std::string>{"a:1"}));
}

TEST(LookupBuffer, AFullKeyDropsNewRecords) {
  Db db;
  auto options = buffer_until_customer_found();
  options.max_buffered_per_key = 2;
  Buffered b(db, options);
  b.pipe("k", "c8", 0);
  b.pipe("k", "c8", 1);
  b.pipe("k", "c8", 2);  // dropped
  b.pipe("j", "c8", 3);  // another key has room
  db.exec("INSERT INTO customers VALUES ('c8', 'Eve', 'bronze', 1.0, 0, NULL)");
  b.pipe("k", "c1", 4);
  b.pipe("j", "c1", 5);
  EXPECT_EQ(ns_of(b.driver->take_rows()),
            (std::vector<std::string>{"k:0", "k:1", "k:4", "j:3", "j:5"}));
}

TEST(LookupBuffer, HeldRecordsAreReadBackFromTheStore) {
  Db db;
  // Every record goes through the stored form: the buffer's state is rebuilt from the store
  // before each one, as after a restart.
  Buffered b(db, buffer_until_customer_found(1000ms), {.partitions = 1, .reload_state = true});
  b.pipe("k", "c8", 0, {{"h", "v"}, {"null", std::nullopt}});
  b.pipe("k", "c8", 1);
  b.pipe("j", "c9", 2);
  db.exec("INSERT INTO customers VALUES ('c8', 'Eve', 'bronze', 1.0, 0, NULL)");
  b.pipe("k", "c1", 3);
  auto rows = b.driver->take_rows();
  EXPECT_EQ(ns_of(rows), (std::vector<std::string>{"k:0", "k:1", "k:3"}));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].headers, (Headers{{"h", "v"}, {"null", std::nullopt}}));
  EXPECT_EQ(rows[0].value["customer"].as_string(), "c8");
  EXPECT_EQ(rows[0].timestamp, 100);
  // A restored record's wait starts again when its state is read back.
  b.driver->advance_clock(1000ms);
  EXPECT_EQ(ns_of(b.driver->take_rows()), (std::vector<std::string>{"j:2"}));
}

// The field replaces the column its lookup key comes from: a held record is kept as it
// arrived, so joining it again still finds its key.
TEST(LookupBuffer, AHeldRecordIsKeptAsItArrived) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  SQLiteLookupField field = customer_field();
  field.ttl = 0ms;
  field.default_value = Value("unknown");
  (void)root.join_lookup(
      lookup, {{"customer", field}},
      {.on = "customer", .buffer = LookupBuffer{.grace = 1000ms, .is_resolved = [](const Value& v) {
                                                  return v["customer"].is_object();
                                                }}});
  TestDriver driver(root, {.partitions = 1, .reload_state = true});
  driver.pipe(0, "k", R"({"customer":"c8","n":0})", 1);
  driver.pipe(0, "k", R"({"customer":"c8","n":1})", 2);
  db.exec("INSERT INTO customers VALUES ('c8', 'Eve', 'bronze', 1.0, 0, NULL)");
  driver.pipe(0, "k", R"({"customer":"c1","n":2})", 3);
  auto rows = driver.take_rows();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].value.to_json(), R"({"customer":{"name":"Eve","tier":"bronze"},"n":0})");
  EXPECT_EQ(rows[2].value.to_json(), R"({"customer":{"name":"Ann","tier":"gold"},"n":2})");
  driver.pipe(0, "k", R"({"customer":"c9","n":3})", 4);
  driver.advance_clock(1000ms);
  rows = driver.take_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].value.to_json(), R"({"customer":"unknown","n":3})") << "the default";
}

TEST(LookupBuffer, BadOptionsAreRefused) {
  Db db;
  auto lookup = std::make_shared<SQLiteLookup>(db.path());
  const auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  const LookupFields fields{{"c", customer_field()}};
  auto buffer = buffer_until_customer_found();
  buffer.grace = 0ms;
  test::expect_error<ConfigError>(
      [&] { (void)root.join_lookup(lookup, fields, {.buffer = buffer}); }, "grace must be > 0");
  buffer = buffer_until_customer_found();
  buffer.is_resolved = nullptr;
  test::expect_error<ConfigError>(
      [&] { (void)root.join_lookup(lookup, fields, {.buffer = buffer}); }, "is_resolved");
  buffer = buffer_until_customer_found();
  buffer.max_buffered_per_key = 0;
  test::expect_error<ConfigError>(
      [&] { (void)root.join_lookup(lookup, fields, {.buffer = buffer}); }, "max_buffered_per_key");
  (void)root.join_lookup(lookup, fields, {.buffer = buffer_until_customer_found()});
  test::expect_error<ConfigError>(
      [&] { (void)root.join_lookup(lookup, fields, {.buffer = buffer_until_customer_found()}); },
      "lookup-buffer");
}

}  // namespace
}  // namespace streamframe
