// pg_sink_app: the input topic into a PostgreSQL table through PostgreSQLSink, as a standalone
// program for the sink's kill test (tests/integration/test_postgres_sink.cpp), which kills it
// between a checkpoint's sink write and its offset commit (--crash-at checkpoint.flushed).
//
// Input: JSON objects, written as rows of <schema>.<table>; --upsert makes "id" the primary
// key and upserts on it. --output is required by the shared command line and unused.
//
// It runs until SIGTERM/SIGINT. Exit codes as app_cli.hpp says.
#include <CLI/CLI.hpp>
#include <memory>
#include <streamframe/postgresql.hpp>
#include <streamframe/streamframe.hpp>

#include "app_cli.hpp"

namespace sf = streamframe;

int main(int argc, char** argv) {
  CLI::App cli{"streamframe PostgreSQL sink app: a topic into a table"};
  sf::test_apps::StatefulAppCli opts;
  opts.add_to(cli);
  sf::PostgreSQLSinkOptions pg;
  pg.dbname = pg.user = pg.password = "streamframe";
  pg.retry_after = std::chrono::milliseconds(500);
  cli.add_option("--pg-host", pg.host);
  cli.add_option("--pg-port", pg.port)->required();
  cli.add_option("--schema", pg.schema_name)->required();
  cli.add_option("--table", pg.table_name)->required();
  bool upsert = false;
  cli.add_flag("--upsert", upsert, "primary key \"id\", upsert on it");
  CLI11_PARSE(cli, argc, argv);
  if (upsert) {
    pg.primary_key_columns = {"id"};
    pg.upsert_on_primary_key = true;
  }

  return sf::test_apps::run_guarded("pg_sink_app", [&] {
    sf::Application app(opts.config());
    auto sdf = app.dataframe(app.topic(opts.input));
    sdf.sink(std::make_shared<sf::PostgreSQLSink>(pg));
    app.run();
    sf::test_apps::print_stopped("pg_sink_app", app);
    return 0;
  });
}
