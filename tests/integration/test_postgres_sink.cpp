// PostgreSQLSink (SNK-05) against a real PostgreSQL (scripts/postgres) and a real broker:
// tables and columns created as the records need them, upsert and do-nothing on a primary
// key, constraint and type violations as typed errors naming table and column, a database
// outage as backpressure without loss, and the app SIGKILLed between a checkpoint's write to
// PostgreSQL and its offset commit (at-least-once: every input is there; upsert under
// exactly-once: exactly one row per key).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration/test_app_helpers.hpp"
#include "streamframe/postgresql.hpp"
#include "support/app_process.hpp"
#include "support/child_process.hpp"
#include "support/kafka_probe.hpp"
#include "support/pg_test.hpp"

namespace streamframe::apptest {
namespace {

namespace sft = streamframe::test;
using sft::PgConnection;

PostgreSQLSinkOptions sink_options(const std::string& schema, const std::string& table) {
  const auto a = sft::pg_address();
  PostgreSQLSinkOptions o;
  o.host = a.host;
  o.port = a.port;
  o.dbname = o.user = o.password = "streamframe";
  o.schema_name = schema;
  o.table_name = table;
  o.connection_timeout = 5s;
  o.retry_after = 300ms;
  return o;
}

// `values` (JSON) to partition `partition` of `topic`, keyed k<i>, timestamps base + i.
void feed(const std::string& topic, const std::vector<std::string>& values,
          std::int32_t partition = 0, std::int64_t base_ts = 1700000000000) {
  std::vector<RawRecord> records;
  for (std::size_t i = 0; i < values.size(); ++i) {
    records.push_back(
        {"k" + std::to_string(i), values[i], base_ts + static_cast<std::int64_t>(i), {}});
  }
  produce_raw(topic, records, partition);
}

// Runs the topic into the sink until 3 s without a message, then a final checkpoint.
void run_into(const std::string& topic, const std::shared_ptr<Sink>& sink,
              std::int64_t commit_every = 0, ErrorCallback on_processing_error = {}) {
  auto config = base_config(sft::unique_name("pgs-grp"));
  config.commit_every = commit_every;
  config.on_processing_error = std::move(on_processing_error);
  Application app(config);
  app.dataframe(app.topic(topic)).sink(sink);
  (void)app.run({.timeout = 3s});
}

std::string column_types(PgConnection& pg, const std::string& schema, const std::string& table) {
  std::string out;
  for (const auto& row :
       pg.query("SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = '" +
                schema + "' AND table_name = '" + table + "' ORDER BY ordinal_position")) {
    out += *row[0] + " " + *row[1] + "; ";
  }
  return out;
}

TEST(PostgreSQLSink, CreatesTheTableAndAddsAColumnForEachNewField) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_POSTGRES();
  const std::string topic = sft::unique_name("pgs-auto");
  create_topic(topic, 1);
  const std::string schema = sft::pg_unique_schema("pgs");
  // Three checkpoints of two records: columns arrive in later batches too.
  feed(topic, {R"({"id":1,"name":"a\tb\\c\nd","t":21})", R"({"id":2,"t":21.5,"ok":true})",
               R"({"id":3,"tags":["x","y"],"name":null})", R"({"id":4,"meta":{"n":1}})",
               R"({"id":5,"t":-0.25,"big":9007199254740993})", R"({"id":6,"name":"é🙂"})"});
  auto sink = std::make_shared<PostgreSQLSink>(sink_options(schema, "readings"));
  run_into(topic, sink, /*commit_every=*/2);
  EXPECT_EQ(sink->rows_written(), 6u);

  PgConnection pg;
  EXPECT_EQ(column_types(pg, schema, "readings"),
            "timestamp timestamp without time zone; __key text; id bigint; name text; "
            "t double precision; ok boolean; tags jsonb; meta jsonb; big bigint; ");
  const auto rows = pg.query("SELECT id, name, t, ok, tags, meta, big, __key, timestamp FROM " +
                             schema + ".readings ORDER BY id");
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0][1], "a\tb\\c\nd");  // COPY's escapes survive the round trip
  EXPECT_EQ(rows[0][2], "21");          // 21 and 21.5 in one batch: DOUBLE PRECISION
  EXPECT_EQ(rows[1][2], "21.5");
  EXPECT_EQ(rows[1][3], "t");
  EXPECT_EQ(rows[2][1], std::nullopt);
  EXPECT_EQ(rows[2][4], R"(["x", "y"])");
  EXPECT_EQ(rows[3][5], R"({"n": 1})");
  EXPECT_EQ(rows[4][2], "-0.25");
  EXPECT_EQ(rows[4][6], "9007199254740993");
  EXPECT_EQ(rows[5][1], "é🙂");
  EXPECT_EQ(rows[0][7], "k0");
  EXPECT_EQ(rows[5][7], "k5");
  EXPECT_EQ(rows[0][8], "2023-11-14 22:13:20");  // 1700000000000 ms, UTC
  EXPECT_EQ(rows[3][8], "2023-11-14 22:13:20.003");
}

TEST(PostgreSQLSink, UpsertLeavesOneRowPerKeyWithTheLastValueAndSurvivesAReplay) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_POSTGRES();
  const std::string topic = sft::unique_name("pgs-upsert");
  create_topic(topic, 2);
  const std::string schema = sft::pg_unique_schema("pgs");
  // Keys (sensor, day) repeat within and across batches; the last round wins.
  for (int p = 0; p < 2; ++p) {
    std::vector<std::string> values;
    for (int round = 0; round < 3; ++round) {
      for (int s = 0; s < 10; ++s) {
        values.push_back(R"({"sensor":"s)" + std::to_string(p * 10 + s) + R"(","day":1,"round":)" +
                         std::to_string(round) + "}");
      }
    }
    feed(topic, values, p);
  }
  auto options = sink_options(schema, "latest");
  options.primary_key_columns = {"sensor", "day"};
  options.upsert_on_primary_key = true;
  run_into(topic, std::make_shared<PostgreSQLSink>(options), /*commit_every=*/7);
  PgConnection pg;
  EXPECT_EQ(pg.scalar("SELECT count(*) FROM " + schema + ".latest"), "20");
  EXPECT_EQ(pg.scalar("SELECT count(*) FROM " + schema + ".latest WHERE round = 2"), "20");
  EXPECT_EQ(pg.scalar("SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_index i "
                      "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = "
                      "ANY(i.indkey) WHERE i.indrelid = '" +
                      schema +
                      ".latest'::regclass AND "
                      "i.indisprimary"),
            "day,sensor");
  // A replay of everything (a new group reads the topic again): still one row per key.
  run_into(topic, std::make_shared<PostgreSQLSink>(options), /*commit_every=*/13);
  EXPECT_EQ(pg.scalar("SELECT count(*) FROM " + schema + ".latest"), "20");
  EXPECT_EQ(pg.scalar("SELECT count(*) FROM " + schema + ".latest WHERE round = 2"), "20");
}

TEST(PostgreSQLSink, OnConflictDoNothingKeepsTheFirstRow) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_POSTGRES();
  const std::string topic = sft::unique_name("pgs-nothing");
  create_topic(topic, 1);
  const std::string schema = sft::pg_unique_schema("pgs");
  feed(topic, {R"({"id":1,"v":"first"})", R"({"id":2,"v":"first"})", R"({"id":1,"v":"second"})",
               R"({"id":2,"v":"second"})", R"({"id":3,"v":"first"})"});
  auto options = sink_options(schema, "firsts");
  options.primary_key_columns = {"id"};
  options.on_conflict_do_nothing = true;
  options.include_metadata = false;
  run_into(topic, std::make_shared<PostgreSQLSink>(options), /*commit_every=*/3);
  PgConnection pg;
  EXPECT_EQ(
      pg.scalar("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM " + schema + ".firsts"),
      "1=first,2=first,3=first");
  EXPECT_EQ(column_types(pg, schema, "firsts"), "_row_id integer; id bigint; v text; ");
}

TEST(PostgreSQLSink, TableNamePerRecord) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_POSTGRES();
  const std::string topic = sft::unique_name("pgs-tables");
  create_topic(topic, 1);
  const std::string schema = sft::pg_unique_schema("pgs");
  feed(topic, {R"({"kind":"a","v":1})", R"({"kind":"b","v":2})", R"({"kind":"a","v":3})"});
  auto options = sink_options(schema, "");
  options.table_name_fn = [](const SinkItem& item) {
    return "t_" + item.value["kind"].as_string();
  };
  run_into(topic, std::make_shared<PostgreSQLSink>(options));
  PgConnection pg;
  EXPECT_EQ(pg.scalar("SELECT string_agg(v::text, ',' ORDER BY v) FROM " + schema + ".t_a"), "1,3");
  EXPECT_EQ(pg.scalar("SELECT string_agg(v::text, ',' ORDER BY v) FROM " + schema + ".t_b"), "2");
}

// A write PostgreSQL refuses for good stops the app with the error naming table and column;
// nothing of the checkpoint is committed (the input offset stays where it was).
void expect_refused_write(const std::string& create_sql, const std::string& value,
                          const std::string& want_column, const std::string& want_sqlstate) {
  const std::string topic = sft::unique_name("pgs-refused");
  create_topic(topic, 1);
  const std::string schema = sft::pg_unique_schema("pgs");
  PgConnection pg;
  pg.exec("CREATE SCHEMA " + schema);
  pg.exec("CREATE TABLE " + schema + ".strict " + create_sql);
  feed(topic, {R"({"id":1,"name":"ok","v":1})", value});
  const std::string group = sft::unique_name("pgs-grp");
  auto config = base_config(group);
  Application app(config);
  app.dataframe(app.topic(topic))
      .sink(std::make_shared<PostgreSQLSink>(sink_options(schema, "strict")));
  const auto e = expect_throw<PostgreSQLSinkError>([&] { (void)app.run({.timeout = 3s}); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->table(), schema + ".strict") << e->what();
  EXPECT_EQ(e->column(), want_column) << e->what();
  EXPECT_EQ(e->sqlstate(), want_sqlstate) << e->what();
  EXPECT_NE(std::string(e->what()).find(schema + ".strict"), std::string::npos) << e->what();
  EXPECT_EQ(pg.scalar("SELECT count(*) FROM " + schema + ".strict"), "0");
  EXPECT_LE(committed_offset(group, topic, 0), 0);
}

TEST(PostgreSQLSink, AConstraintViolationStopsTheAppNamingTableAndColumn) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_POSTGRES();
  expect_refused_write("(timestamp timestamp, __key text, id bigint, name text NOT NULL, v bigint)",
                       R"({"id":2,"v":2})", "name", "23502");
}

TEST(PostgreSQLSink, AValueTheColumnTypeCannotHoldStopsTheAppNamingTableAndColumn) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_POSTGRES();
  expect_refused_write("(timestamp timestamp, __key text, id bigint, name text, v bigint)",
                       R"({"id":2,"name":"x","v":"abc"})", "v", "22P02");
}

TEST(PostgreSQLSink, AValueThatIsNotAnObjectIsAProcessingError) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_POSTGRES();
  const std::string topic = sft::unique_name("pgs-notobj");
  create_topic(topic, 1);
  const std::string schema = sft::pg_unique_schema("pgs");
  feed(topic, {R"({"id":1})", "5", R"(["a"])", R"({"id":2})"});
  std::vector<std::string> errors;
  run_into(topic, std::make_shared<PostgreSQLSink>(sink_options(schema, "objs")), 0,
           [&](const std::exception& e, const ErrorContext&) {
             errors.push_back(std::string(typeid(e).name()) + ": " + e.what());
             return ErrorAction::skip;
           });
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("ValueTypeError"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("objects only, got int"), std::string::npos) << errors[0];
  PgConnection pg;
  EXPECT_EQ(pg.scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM " + schema + ".objs"),
            "1,2");
}

TEST(PostgreSQLSink, ADatabaseDownAtStartGoesToTheConnectFailureCallback) {
  REQUIRE_TEST_BROKERS();
  const std::string topic = sft::unique_name("pgs-down");
  create_topic(topic, 1);
  auto options = sink_options("public", "never");
  options.port = 1;  // nothing listens there
  Application app(base_config(sft::unique_name("pgs-grp")));
  app.dataframe(app.topic(topic)).sink(std::make_shared<PostgreSQLSink>(options));
  const auto e = expect_throw<PostgreSQLSinkError>([&] { (void)app.run({.timeout = 3s}); });
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(std::string(e->what()).find("cannot connect to PostgreSQL"), std::string::npos)
      << e->what();
}

TEST(PostgreSQLSink, ADatabaseOutageIsBackpressureWithoutLoss) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_POSTGRES();
  const std::string topic = sft::unique_name("pgs-outage");
  create_topic(topic, 2);
  const std::string schema = sft::pg_unique_schema("pgs");
  auto sink = std::make_shared<PostgreSQLSink>(sink_options(schema, "through"));
  auto config = base_config(sft::unique_name("pgs-grp"));
  config.commit_interval = 200ms;
  Application app(config);
  app.dataframe(app.topic(topic)).sink(sink);
  std::thread runner([&] { (void)app.run(); });
  const auto batch = [&](int from, int n) {
    for (int p = 0; p < 2; ++p) {
      std::vector<std::string> values;
      for (int i = from; i < from + n; ++i)
        values.push_back(R"({"id":)" + std::to_string(i * 2 + p) + "}");
      feed(topic, values, p);
    }
  };
  batch(0, 50);
  EXPECT_TRUE(eventually([&] { return sink->rows_written() >= 100; }, 60s));
  sft::postgres_script("stop");
  // Records arrive while the database is down for 10 s: every checkpoint backs off.
  const auto stopped = Clock::now();
  for (int i = 1; i <= 4; ++i) {
    batch(i * 50, 50);
    std::this_thread::sleep_for(2s);
  }
  std::this_thread::sleep_until(stopped + 10s);
  sft::postgres_script("start");
  const bool all = eventually([&] { return sink->rows_written() >= 250 * 2; }, 60s);
  app.stop();
  runner.join();
  EXPECT_TRUE(all) << sink->rows_written() << " rows written";
  EXPECT_GE(app.stats().checkpoints_aborted, 2u);  // checkpoints backed off while it was down
  EXPECT_GE(sink->reconnects(), 1u);
  PgConnection pg;
  EXPECT_EQ(pg.scalar("SELECT count(DISTINCT id) FROM " + schema + ".through"), "500");
  // A batch is one transaction: a refused one left nothing, so nothing came twice.
  EXPECT_EQ(pg.scalar("SELECT count(*) FROM " + schema + ".through"), "500");
}

// ---------------------------------------------------------------------------------------------
// The app as a process, SIGKILLed after a checkpoint wrote to PostgreSQL and before it
// committed the input offsets (crash point checkpoint.flushed).

class PostgreSQLSinkKill : public ::testing::Test {
 protected:
  void run(const std::string& guarantee, bool upsert) {
    REQUIRE_TEST_BROKERS();
    REQUIRE_TEST_POSTGRES();
    constexpr int kPartitions = 2, kPer = 600, kEvery = 200;
    const std::string brokers = *sft::test_brokers();
    const std::string input = sft::unique_name("pgs-kill-in");
    const std::string group = sft::unique_name("pgs-kill-grp");
    const std::string schema = sft::pg_unique_schema("pgsk");
    create_topic(input, kPartitions);
    for (int p = 0; p < kPartitions; ++p) {
      std::vector<std::string> values;
      for (int i = 0; i < kPer; ++i) {
        values.push_back(R"({"id":)" + std::to_string(p * kPer + i) + R"(,"p":)" +
                         std::to_string(p) + "}");
      }
      feed(input, values, p);
    }
    const auto a = sft::pg_address();
    std::vector<std::string> extra{
        "--pg-host", a.host,    "--pg-port", std::to_string(a.port), "--schema",
        schema,      "--table", "sunk",      "--commit-every",       std::to_string(kEvery)};
    if (upsert) extra.push_back("--upsert");
    sft::StatefulAppOptions o{.brokers = brokers,
                              .input = input,
                              .output = input + "-unused",
                              .group = group,
                              .state_dir = ::testing::TempDir() + group + "-state",
                              .guarantee = guarantee,
                              .commit_interval_ms = 600000,
                              .extra_args = extra};
    // The third checkpoint dies after its sink flush, before its offsets commit: at-least-once
    // commits an app without Kafka outputs through the deferred path, exactly-once through its
    // transaction.
    auto crashing = o;
    crashing.extra_args.insert(
        crashing.extra_args.end(),
        {"--crash-at",
         guarantee == "exactly_once" ? "checkpoint.flushed:3" : "checkpoint.deferred:3"});
    auto run1 = sft::start_stateful_app(STREAMFRAME_PG_SINK_APP, crashing, "run1");
    const auto st = run1->wait_for_exit(120s);
    ASSERT_TRUE(st.has_value()) << "run 1 did not reach its crash point\n" << run1->log_tail();
    ASSERT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL)
        << sft::describe_wait_status(*st) << "\n"
        << run1->log_tail();

    PgConnection pg;
    const std::string table = schema + ".sunk";
    const auto count = [&] { return std::stoll(pg.scalar("SELECT count(*) FROM " + table)); };
    const auto distinct = [&] {
      return std::stoll(pg.scalar("SELECT count(DISTINCT id) FROM " + table));
    };
    std::int64_t committed = 0;
    for (int p = 0; p < kPartitions; ++p)
      committed += std::max<std::int64_t>(0, committed_offset(group, input, p));
    const std::int64_t rows_at_kill = count();
    // The third checkpoint's rows are in PostgreSQL, its offsets are not committed.
    ASSERT_GT(rows_at_kill, committed) << "the kill did not land between write and commit";

    auto run2 = sft::start_stateful_app(STREAMFRAME_PG_SINK_APP, o, "run2");
    ASSERT_TRUE(eventually(
        [&] {
          std::int64_t c = 0;
          for (int p = 0; p < kPartitions; ++p)
            c += std::max<std::int64_t>(0, committed_offset(group, input, p));
          return c == kPartitions * kPer || !run2->running();
        },
        120s))
        << run2->log_tail();
    sft::stop_gracefully(*run2, "run2");
    EXPECT_EQ(distinct(), kPartitions * kPer) << "an input is missing from PostgreSQL";
    if (upsert) {
      EXPECT_EQ(count(), kPartitions * kPer) << "upsert left a key twice";
    } else {
      // At-least-once: the rows written before the kill and not committed came again.
      EXPECT_GT(count(), kPartitions * kPer);
    }
    ::testing::Test::RecordProperty("rows_at_kill", static_cast<int>(rows_at_kill));
  }
};

TEST_F(PostgreSQLSinkKill, AtLeastOnceEveryInputIsInThePostgresTableAfterRestart) {
  run("at_least_once", /*upsert=*/false);
}

TEST_F(PostgreSQLSinkKill, UpsertUnderExactlyOnceLeavesExactlyOneRowPerKey) {
  run("exactly_once", /*upsert=*/true);
}

}  // namespace
}  // namespace streamframe::apptest
