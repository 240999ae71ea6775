// What the tests against the test PostgreSQL (scripts/postgres; STREAMFRAME_TEST_POSTGRES)
// share: the server's address, a connection of the test's own for setting up and reading
// tables, a schema per test, and stopping or starting the server (a database outage).
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/test_env.hpp"

namespace streamframe::test {

struct PgAddress {
  std::string host;
  int port = 0;
};

// STREAMFRAME_TEST_POSTGRES as host and port (user, password and database: streamframe).
inline PgAddress pg_address() {
  const std::string addr = test_postgres().value_or("127.0.0.1:5432");
  const auto colon = addr.rfind(':');
  return {addr.substr(0, colon), std::stoi(addr.substr(colon + 1))};
}

// The test's own connection.
class PgConnection {
 public:
  PgConnection() {
    const auto a = pg_address();
    const std::string info = "host=" + a.host + " port=" + std::to_string(a.port) +
                             " dbname=streamframe user=streamframe password=streamframe";
    conn_ = PQconnectdb(info.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      const std::string error = PQerrorMessage(conn_);
      PQfinish(conn_);
      throw std::runtime_error("test connection: " + error);
    }
  }
  ~PgConnection() { PQfinish(conn_); }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  void exec(const std::string& sql) { (void)query(sql); }

  // The rows of `sql`, each cell's text (nullopt: NULL).
  std::vector<std::vector<std::optional<std::string>>> query(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const std::string err = PQresultErrorMessage(r);
      PQclear(r);
      throw std::runtime_error("sql failed: " + sql + ": " + err);
    }
    std::vector<std::vector<std::optional<std::string>>> rows;
    for (int i = 0; i < PQntuples(r); ++i) {
      auto& row = rows.emplace_back();
      for (int j = 0; j < PQnfields(r); ++j) {
        if (PQgetisnull(r, i, j)) {
          row.emplace_back(std::nullopt);
        } else {
          row.emplace_back(PQgetvalue(r, i, j));
        }
      }
    }
    PQclear(r);
    return rows;
  }

  // The single cell of a one-row, one-column query.
  std::string scalar(const std::string& sql) {
    const auto rows = query(sql);
    if (rows.size() != 1 || rows[0].size() != 1 || !rows[0][0]) {
      throw std::runtime_error("not one non-null cell: " + sql);
    }
    return *rows[0][0];
  }

 private:
  PGconn* conn_ = nullptr;
};

// A schema name no other test or run uses (created by the caller or the code under test).
inline std::string pg_unique_schema(std::string_view prefix) {
  std::string schema = unique_name(prefix);
  for (char& c : schema) {
    if (c == '-') c = '_';
  }
  return schema;
}

// Runs scripts/postgres (stop/start of the test server: a database outage). Needs the
// integration target's STREAMFRAME_POSTGRES_SCRIPT.
inline void postgres_script(const std::string& command) {
  ASSERT_NE(std::getenv("STREAMFRAME_POSTGRES_DIR"), nullptr)
      << "STREAMFRAME_POSTGRES_DIR must name the test server's run dir (scripts/test sets it)";
  const std::string cmd = std::string(STREAMFRAME_POSTGRES_SCRIPT) + " " + command + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

}  // namespace streamframe::test
