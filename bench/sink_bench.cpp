// Sinks: PostgreSQLSink rows/s with batches of 1, 100 and 10,000 rows against the ceiling, psql
// running COPY of the same rows in the same batches (one COPY statement per batch, each its own
// transaction, as the sink writes them), in the same run on the same server (issue 17).
//
// The sink is driven directly (add() per row, flush() per batch, on one thread, as a worker's
// checkpoint does), so the number is the sink's: building the rows' COPY text, the DDL checks,
// the round trips. Kafka is not involved.
#include <fmt/format.h>
#include <libpq-fe.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "streamframe/postgresql.hpp"

namespace sf = streamframe;
using Clock = std::chrono::steady_clock;

namespace {

struct Pg {
  PGconn* conn;
  explicit Pg(const std::string& host, int port) {
    const std::string info = fmt::format(
        "host={} port={} dbname=streamframe user=streamframe password=streamframe", host, port);
    conn = PQconnectdb(info.c_str());
    if (PQstatus(conn) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(conn));
  }
  ~Pg() { PQfinish(conn); }
  std::string exec(const std::string& sql) {
    PGresult* r = PQexec(conn, sql.c_str());
    const auto st = PQresultStatus(r);
    std::string out;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    const std::string err = PQresultErrorMessage(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error(sql + ": " + err);
    return out;
  }
};

// The benchmark's rows: a sensor reading, as a windowed aggregate pipeline would write it.
struct Row {
  sf::Value value;
  sf::Value key;
  std::int64_t ts;
};

std::vector<Row> make_rows(std::size_t n) {
  std::vector<Row> rows;
  rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string sensor = "sensor-" + std::to_string(i % 64);
    rows.push_back({sf::Value::object({{"id", static_cast<std::int64_t>(i)},
                                       {"sensor", sensor},
                                       {"temperature", 20.0 + static_cast<double>(i % 1000) / 7.0},
                                       {"count", static_cast<std::int64_t>(i % 50)}}),
                    sf::Value(sensor), 1700000000000 + static_cast<std::int64_t>(i)});
  }
  return rows;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"PostgreSQLSink rows/s vs psql COPY of the same rows in the same batches"};
  std::string address;
  std::size_t rows_n = 200000, rows_batch1 = 5000;
  std::vector<std::size_t> batches{1, 100, 10000};
  int runs = 3;
  std::string results_file = "bench/results/sinks.jsonl";
  cli.add_option("--postgres", address, "host:port of the server (user/db streamframe)")
      ->required();
  cli.add_option("--rows", rows_n, "rows per run with batches > 1");
  cli.add_option("--rows-batch1", rows_batch1, "rows per run with batches of 1");
  cli.add_option("--batches", batches, "batch sizes")->delimiter(',');
  cli.add_option("--runs", runs, "runs of each case (the median is reported)");
  cli.add_option("--results-file", results_file, "JSON lines appended here ('' = none)");
  CLI11_PARSE(cli, argc, argv);

  const auto colon = address.rfind(':');
  const std::string host = address.substr(0, colon);
  const int port = std::stoi(address.substr(colon + 1));
  Pg pg(host, port);
  pg.exec("DROP SCHEMA IF EXISTS bench_sink CASCADE");
  pg.exec("CREATE SCHEMA bench_sink");

  fmt::print("{:>7} {:>8} {:>14} {:>14} {:>7}\n", "batch", "rows", "sink rows/s", "psql rows/s",
             "ratio");
  std::ofstream results;
  if (!results_file.empty()) results.open(results_file, std::ios::app);
  for (const std::size_t batch : batches) {
    const std::size_t n = batch == 1 ? rows_batch1 : rows_n;
    const auto rows = make_rows(n);
    const std::string table = fmt::format("rows_{}", batch);
    const std::string ceiling = fmt::format("copy_{}", batch);

    sf::PostgreSQLSinkOptions o;
    o.host = host;
    o.port = port;
    o.dbname = o.user = o.password = "streamframe";
    o.schema_name = "bench_sink";
    o.table_name = table;
    auto sink = std::make_shared<sf::PostgreSQLSink>(o);
    sink->setup();
    // One row first: the table and its columns exist before the clock starts, as they do
    // after a pipeline's first checkpoint.
    sink->add(rows[0].value, rows[0].key, rows[0].ts, {}, "in", 0, 0);
    sink->flush();
    pg.exec(fmt::format("CREATE TABLE bench_sink.{} (LIKE bench_sink.{})", ceiling, table));

    // psql's script: one COPY per batch of the same rows, in the same text.
    const std::string script = fmt::format("/tmp/streamframe-bench-sink-{}.sql", batch);
    {
      std::ofstream out(script);
      for (std::size_t i = 0; i < n; i += batch) {
        out << "COPY bench_sink." << ceiling
            << " (timestamp, __key, id, sensor, temperature, count) FROM STDIN;\n";
        for (std::size_t j = i; j < std::min(n, i + batch); ++j) {
          const auto& r = rows[j];
          const auto secs = r.ts / 1000, ms = r.ts % 1000;
          const auto t = static_cast<std::time_t>(secs);
          std::tm tm{};
          gmtime_r(&t, &tm);
          out << fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}\t", tm.tm_year + 1900,
                             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms)
              << r.key.as_string() << '\t' << r.value["id"].as_int() << '\t'
              << r.value["sensor"].as_string() << '\t'
              << fmt::format("{}", r.value["temperature"].as_double()) << '\t'
              << r.value["count"].as_int() << '\n';
        }
        out << "\\.\n";
      }
    }
    const std::string psql = fmt::format(
        "PGPASSWORD=streamframe psql -X -q -v ON_ERROR_STOP=1 -h {} -p {} -U "
        "streamframe -d streamframe -f {} >/dev/null",
        host, port, script);

    std::vector<double> sink_rates, psql_rates;
    for (int run = 0; run < runs; ++run) {
      pg.exec(fmt::format("TRUNCATE bench_sink.{}, bench_sink.{}", table, ceiling));
      const auto t0 = Clock::now();
      for (std::size_t i = 0; i < n; ++i) {
        sink->add(rows[i].value, rows[i].key, rows[i].ts, {}, "in", 0,
                  static_cast<std::int64_t>(i));
        if ((i + 1) % batch == 0 || i + 1 == n) sink->flush();
      }
      const double sink_s = std::chrono::duration<double>(Clock::now() - t0).count();
      const auto t1 = Clock::now();
      if (std::system(psql.c_str()) != 0) throw std::runtime_error("psql failed: " + psql);
      const double psql_s = std::chrono::duration<double>(Clock::now() - t1).count();
      for (const auto& t : {table, ceiling}) {
        const auto count = std::stoull(pg.exec("SELECT count(*) FROM bench_sink." + t));
        if (count != n)
          throw std::runtime_error(fmt::format("{} holds {} rows, not {}", t, count, n));
      }
      sink_rates.push_back(static_cast<double>(n) / sink_s);
      psql_rates.push_back(static_cast<double>(n) / psql_s);
    }
    const double s = median(sink_rates), p = median(psql_rates);
    fmt::print("{:>7} {:>8} {:>14.0f} {:>14.0f} {:>7.2f}\n", batch, n, s, p, s / p);
    std::fflush(stdout);
    if (results) {
      results
          << fmt::format(
                 R"({{"bench":"postgresql_sink","batch":{},"rows":{},"runs":{},"sink_rows_per_s":{:.0f},"psql_copy_rows_per_s":{:.0f},"ratio":{:.3f}}})",
                 batch, n, runs, s, p, s / p)
          << "\n";
    }
    std::remove(script.c_str());
  }
  pg.exec("DROP SCHEMA bench_sink CASCADE");
  return 0;
}
