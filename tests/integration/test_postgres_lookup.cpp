// Lookup joins (JOIN-05) against a real PostgreSQL (scripts/postgres; STREAMFRAME_TEST_POSTGRES):
// table and query fields with PostgreSQL's types, bound parameters, query errors, the
// database down at start, a connection lost while running (the record waits and goes on),
// and an exactly-once pipeline on the real broker whose held records survive the loss of the
// state directory.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "integration/test_app_helpers.hpp"
#include "support/expect_error.hpp"
#include "support/pg_test.hpp"

namespace streamframe::apptest {
namespace {

namespace fs = std::filesystem;

PostgresLookupOptions pg_options() {
  const auto a = streamframe::test::pg_address();
  PostgresLookupOptions o;
  o.host = a.host;
  o.port = a.port;
  o.dbname = "streamframe";
  o.user = "streamframe";
  o.password = "streamframe";
  o.connection_timeout = 10s;
  return o;
}

// The test's own connection, for setting up tables and breaking the lookup's connection.
using Pg = streamframe::test::PgConnection;
using streamframe::test::postgres_script;

// A schema of the test's own, so runs and tests do not see each other's rows.
std::string make_schema(Pg& pg) {
  const std::string schema = streamframe::test::pg_unique_schema("lk");
  pg.exec("CREATE SCHEMA " + schema);
  pg.exec("CREATE TABLE " + schema +
          ".customers (id text, name text, tier text, score double precision, visits integer, "
          "active boolean, balance numeric(10,2), big bigint, meta jsonb, note text)");
  pg.exec("INSERT INTO " + schema +
          ".customers VALUES ('c1', 'Ann', 'gold', 9.5, 3, true, 12.34, 9007199254740993, "
          "'{\"tags\": [\"a\", \"b\"]}', NULL), ('c2', 'Bob', 'silver', 7.25, 1, false, 0, 0, "
          "NULL, 'x')");
  pg.exec("CREATE TABLE " + schema + ".visits (customer text, at integer)");
  pg.exec("INSERT INTO " + schema + ".visits VALUES ('c1', 3), ('c1', 1), ('c1', 2), ('c2', 5)");
  return schema;
}

std::vector<Row> run_driver(const StreamingDataFrame& root,
                            const std::vector<std::string>& values) {
  TestDriver driver(root, {.partitions = 1});
  std::int64_t ts = 1;
  for (const auto& v : values) driver.pipe(0, "k", v, ts++);
  return driver.take_rows();
}

TEST(PostgresLookup, TableFieldsReturnRowsWithPostgresTypes) {
  REQUIRE_TEST_POSTGRES();
  Pg pg;
  const std::string schema = make_schema(pg);
  auto lookup = std::make_shared<PostgresLookup>(pg_options());
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)root.join_lookup(lookup,
                         {{"c", PostgresLookupField{.table = "customers",
                                                    .columns = {"name", "score", "visits", "active",
                                                                "balance", "big", "meta", "note"},
                                                    .on = "id",
                                                    .schema = schema,
                                                    .default_value = Value("none")}},
                          {"visits", PostgresLookupField{.table = "visits",
                                                         .columns = {"at"},
                                                         .on = "customer",
                                                         .order_by = "at",
                                                         .order_by_direction = OrderDirection::desc,
                                                         .schema = schema,
                                                         .first_match_only = false}}},
                         {.on = "customer"});
  const auto rows = run_driver(root, {R"({"customer":"c1"})", R"({"customer":"c2"})",
                                      R"({"customer":"c1' OR '1'='1"})", R"({"customer":"c1"})"});
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].value["c"].to_json(),
            R"({"name":"Ann","score":9.5,"visits":3,"active":true,"balance":12.34,)"
            R"("big":9007199254740993,"meta":{"tags":["a","b"]},"note":null})");
  EXPECT_EQ(rows[0].value["visits"].to_json(), R"([{"at":3},{"at":2},{"at":1}])");
  EXPECT_EQ(rows[1].value["c"]["active"].to_json(), "false");
  EXPECT_EQ(rows[1].value["visits"].to_json(), R"([{"at":5}])");
  EXPECT_EQ(rows[2].value["c"].to_json(), R"("none")") << "the key is bound, never spliced";
  EXPECT_EQ(rows[2].value["visits"].to_json(), "[]");
  EXPECT_EQ(rows[3].value, rows[0].value);
  EXPECT_EQ(lookup->cache_info().misses, 6u) << "3 keys, 2 fields";
  EXPECT_EQ(lookup->cache_info().hits, 2u) << "the second c1, both fields";
  pg.exec("DROP SCHEMA " + schema + " CASCADE");
}

TEST(PostgresLookup, QueryFieldsBindTheirParametersFromTheValue) {
  REQUIRE_TEST_POSTGRES();
  Pg pg;
  const std::string schema = make_schema(pg);
  auto lookup = std::make_shared<PostgresLookup>(pg_options());
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)root.join_lookup(
      lookup,
      {{"first", PostgresLookupQueryField{.query = "SELECT name, tier FROM " + schema +
                                                   ".customers WHERE id = %(customer)s AND "
                                                   "visits >= %(min)s AND name LIKE 'A%%'",
                                          .ttl = 0ms,
                                          .default_value = Value("none")}},
       {"all", PostgresLookupQueryField{.query = "SELECT at FROM " + schema +
                                                 ".visits WHERE customer = %(customer)s AND at "
                                                 ">= %(min)s ORDER BY at",
                                        .ttl = 0ms,
                                        .first_match_only = false}}},
      {.on = "customer"});
  const auto rows =
      run_driver(root, {R"({"customer":"c1","min":2})", R"({"customer":"c1","min":4})",
                        R"({"customer":"c2","min":0})"});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].value["first"].to_json(), R"(["Ann","gold"])");
  EXPECT_EQ(rows[0].value["all"].to_json(), "[[2],[3]]");
  EXPECT_EQ(rows[1].value["first"].to_json(), R"("none")");
  EXPECT_EQ(rows[1].value["all"].to_json(), "[]");
  EXPECT_EQ(rows[2].value["first"].to_json(), R"("none")") << "Bob does not match LIKE 'A%'";
  EXPECT_EQ(rows[2].value["all"].to_json(), "[[5]]");
  pg.exec("DROP SCHEMA " + schema + " CASCADE");
}

TEST(PostgresLookup, AFailingQueryIsAProcessingErrorNamingTheField) {
  REQUIRE_TEST_POSTGRES();
  Pg pg;
  const std::string schema = make_schema(pg);
  auto options = pg_options();
  options.statement_timeout = 200ms;
  auto lookup = std::make_shared<PostgresLookup>(options);
  const auto one = [&](LookupFields fields, const std::string& value) {
    auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
    (void)root.join_lookup(lookup, std::move(fields));
    TestDriver driver(root, {.partitions = 1});
    driver.pipe(0, "c1", value, 1);
  };
  test::expect_error<LookupError>(
      [&] {
        one({{"bad",
              PostgresLookupField{
                  .table = "customers", .columns = {"nothere"}, .on = "id", .schema = schema}}},
            "{}");
      },
      "field 'bad': the query does not prepare: ERROR:  column \"nothere\" does not exist");
  test::expect_error<LookupError>(
      [&] {
        one({{"slow", PostgresLookupQueryField{.query = "SELECT pg_sleep(2)"}}}, "{}");
      },
      "field 'slow': the query failed: ERROR:  canceling statement due to statement timeout");
  test::expect_error<LookupError>(
      [&] {
        one({{"typed", PostgresLookupQueryField{.query = "SELECT name FROM " + schema +
                                                         ".customers WHERE visits = %(n)s"}}},
            R"({"n":"many"})");
      },
      "field 'typed': the query failed: ERROR:  invalid input syntax for type integer: \"many\"");
  test::expect_error<LookupError>(
      [&] {
        one({{"p", PostgresLookupQueryField{.query = "SELECT %(absent)s::text"}}}, R"({"x":1})");
      },
      "field 'p': the value has no column 'absent'");
  // The lookup still works after the errors.
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)root.join_lookup(
      lookup,
      {{"c", PostgresLookupField{
                 .table = "customers", .columns = {"name"}, .on = "id", .schema = schema}}});
  TestDriver driver(root, {.partitions = 1});
  driver.pipe(0, "c2", "{}", 1);
  EXPECT_EQ(driver.take_rows().at(0).value["c"]["name"].as_string(), "Bob");
  test::expect_error<ConfigError>(
      [&] {
        (void)root.join_lookup(lookup,
                               {{"q", PostgresLookupQueryField{.query = "SELECT 1 WHERE 5 % 2"}}});
      },
      "neither a %(name)s parameter nor %%");
  test::expect_error<ConfigError>(
      [&] {
        (void)root.join_lookup(lookup, {{"s", PostgresLookupField{.table = "customers",
                                                                  .columns = {"name"},
                                                                  .on = "id",
                                                                  .schema = "public; --"}}});
      },
      "schema 'public; --'");
  pg.exec("DROP SCHEMA " + schema + " CASCADE");
}

TEST(PostgresLookup, ADatabaseDownAtStartIsAClearErrorAfterTheConnectionTimeout) {
  REQUIRE_TEST_POSTGRES();
  auto options = pg_options();
  options.port = 1;  // nothing listens there: every try is refused at once
  options.connection_timeout = 1500ms;
  const auto start = std::chrono::steady_clock::now();
  test::expect_error<LookupConnectionError>([&] { PostgresLookup lookup(options); },
                                            "PostgresLookup: cannot connect to PostgreSQL " +
                                                options.host +
                                                ":1/streamframe within "
                                                "1500 ms");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 1400ms) << "refused tries are repeated until the timeout";
  EXPECT_LT(took, 10s);
  options = pg_options();
  options.password = "wrong";
  options.connection_timeout = 500ms;
  test::expect_error<LookupConnectionError>([&] { PostgresLookup lookup(options); },
                                            "password authentication failed");
}

TEST(PostgresLookup, ALostConnectionIsReestablishedWhileTheRecordWaits) {
  REQUIRE_TEST_POSTGRES();
  Pg pg;
  const std::string schema = make_schema(pg);
  auto options = pg_options();
  options.reconnect_timeout = 30s;
  auto lookup = std::make_shared<PostgresLookup>(options);
  auto root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)root.join_lookup(
      lookup,
      {{"c",
        PostgresLookupField{
            .table = "customers", .columns = {"name"}, .on = "id", .schema = schema, .ttl = 0ms}}});
  TestDriver driver(root, {.partitions = 1});
  driver.pipe(0, "c1", "{}", 1);
  // The server ends the lookup's session (as a restart or a network cut would).
  pg.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
      "'streamframe'");
  driver.pipe(0, "c2", "{}", 2);
  EXPECT_EQ(lookup->reconnects(), 1u);

  // The whole server goes away for ~2 s: the record waits and then goes on.
  postgres_script("stop");
  auto restart = std::async(std::launch::async, [] {
    std::this_thread::sleep_for(2s);
    postgres_script("start");
  });
  const auto start = std::chrono::steady_clock::now();
  driver.pipe(0, "c1", "{}", 3);
  const auto waited = std::chrono::steady_clock::now() - start;
  restart.get();
  EXPECT_GE(waited, 1500ms);
  EXPECT_EQ(lookup->reconnects(), 2u);
  const auto rows = driver.take_rows();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].value["c"]["name"].as_string(), "Ann");
  EXPECT_EQ(rows[1].value["c"]["name"].as_string(), "Bob");
  EXPECT_EQ(rows[2].value["c"]["name"].as_string(), "Ann") << "no silent default";
  Pg after;
  after.exec("DROP SCHEMA " + schema + " CASCADE");
}

TEST(PostgresLookup, ADatabaseDownLongerThanTheReconnectTimeoutStopsTheRecordOrGivesDefaults) {
  REQUIRE_TEST_POSTGRES();
  std::string schema;
  {
    Pg pg;
    schema = make_schema(pg);
  }
  auto options = pg_options();
  options.reconnect_timeout = 1s;
  auto strict = std::make_shared<PostgresLookup>(options);
  options.default_when_unavailable = true;
  auto lenient = std::make_shared<PostgresLookup>(options);
  const LookupFields fields{{"c", PostgresLookupField{.table = "customers",
                                                      .columns = {"name"},
                                                      .on = "id",
                                                      .schema = schema,
                                                      .ttl = 0ms,
                                                      .default_value = Value("unknown")}}};
  auto strict_root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)strict_root.join_lookup(strict, fields);
  auto lenient_root = StreamingDataFrame::standalone(Topic::make("orders", {}));
  (void)lenient_root.join_lookup(lenient, fields);
  TestDriver strict_driver(strict_root, {.partitions = 1});
  TestDriver lenient_driver(lenient_root, {.partitions = 1});
  strict_driver.pipe(0, "c1", "{}", 1);
  lenient_driver.pipe(0, "c1", "{}", 1);

  postgres_script("stop");
  test::expect_error<LookupConnectionError>([&] { strict_driver.pipe(0, "c2", "{}", 2); },
                                            "field 'c': PostgreSQL");
  lenient_driver.pipe(0, "c2", "{}", 2);
  // The wait ran out once: the next record tries once without waiting, and gets the default.
  const auto start = std::chrono::steady_clock::now();
  lenient_driver.pipe(0, "c1", "{}", 3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  postgres_script("start");
  lenient_driver.pipe(0, "c2", "{}", 4);
  const auto rows = lenient_driver.take_rows();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1].value["c"].as_string(), "unknown") << "configured: the default";
  EXPECT_EQ(rows[2].value["c"].as_string(), "unknown");
  EXPECT_EQ(rows[3].value["c"]["name"].as_string(), "Bob") << "and the next record asks again";
  strict_driver.pipe(0, "c2", "{}", 3);  // reconnects
  EXPECT_EQ(strict_driver.take_rows().back().value["c"]["name"].as_string(), "Bob");
  Pg pg;
  pg.exec("DROP SCHEMA " + schema + " CASCADE");
}

// Orders wait (LookupBuffer) for their customer to appear in PostgreSQL. The first process
// holds two of them and stops; its state directory is lost. The second restores them from the
// changelog and releases them when a later order of their key resolves.
TEST(PostgresLookup, HeldRecordsSurviveTheLossOfTheStateDirectoryUnderExactlyOnce) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_POSTGRES();
  Pg pg;
  const std::string schema = make_schema(pg);
  const std::string orders = streamframe::test::unique_name("lk-orders");
  const std::string out = streamframe::test::unique_name("lk-out");
  const std::string group = streamframe::test::unique_name("lk-grp");
  const fs::path state = fs::path(::testing::TempDir()) / streamframe::test::unique_name("lk-st");
  create_topic(orders, 2);
  create_topic(out, 1);
  ApplicationConfig cfg = base_config(group);
  cfg.state_dir = state.string();
  cfg.commit_interval = 200ms;
  cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
  auto lookup = std::make_shared<PostgresLookup>(pg_options());
  const auto declare = [&](Application& app) {
    app.dataframe(app.topic(orders))
        .join_lookup(
            lookup,
            {{"customer", PostgresLookupField{.table = "customers",
                                              .columns = {"name"},
                                              .on = "id",
                                              .schema = schema,
                                              .ttl = 0ms}}},
            {.on = "customer",
             .buffer = LookupBuffer{.grace = std::chrono::hours(1),
                                    .is_resolved =
                                        [](const Value& v) { return !v["customer"].is_null(); }}})
        .to_topic(app.topic(out));
  };
  {
    Application app(cfg);
    declare(app);
    Producer p = app.get_producer();
    p.produce(app.topic(orders), Value::object({{"customer", "c7"}, {"n", 1}}), Value("k"), 1000);
    p.produce(app.topic(orders), Value::object({{"customer", "c1"}, {"n", 2}}), Value("j"), 1001);
    p.produce(app.topic(orders), Value::object({{"customer", "c7"}, {"n", 3}}), Value("k"), 1002);
    ASSERT_TRUE(p.flush(30s));
    // n=2 resolves at once; n=1 and n=3 are held. The run ends idle with its checkpoint.
    (void)app.run({.timeout = 4s});
  }
  auto got = read_topic(out, 30s, Isolation::read_committed);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Value::from_json(*got[0].value)["n"].as_int(), 2);
  EXPECT_FALSE(read_topic("changelog__" + group + "--" + orders + "--lookup-buffer").empty())
      << "the held records are in the buffer's changelog";
  fs::remove_all(state);

  pg.exec("INSERT INTO " + schema + ".customers (id, name) VALUES ('c7', 'Gil')");
  {
    Application app(cfg);
    declare(app);
    Producer p = app.get_producer();
    p.produce(app.topic(orders), Value::object({{"customer", "c1"}, {"n", 4}}), Value("k"), 1003);
    ASSERT_TRUE(p.flush(30s));
    (void)app.run({.timeout = 4s});
  }
  got = read_topic(out, 30s, Isolation::read_committed);
  ASSERT_EQ(got.size(), 4u);
  std::vector<std::int64_t> ns;
  for (std::size_t i = 1; i < got.size(); ++i) {
    const Value v = Value::from_json(*got[i].value);
    ns.push_back(v["n"].as_int());
  }
  EXPECT_EQ(ns, (std::vector<std::int64_t>{1, 3, 4})) << "held ones first, in arrival order";
  EXPECT_EQ(Value::from_json(*got[1].value)["customer"]["name"].as_string(), "Gil");
  EXPECT_EQ(got[1].timestamp, 1000);
  fs::remove_all(state);
  pg.exec("DROP SCHEMA " + schema + " CASCADE");
}

}  // namespace
}  // namespace streamframe::apptest
