// PostgreSQL as a sink (SNK-05): one COPY per table per batch, tables and columns created as
// the records need them, optional upsert on a primary key.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "streamframe/errors.hpp"
#include "streamframe/sink.hpp"

namespace streamframe {

// A write PostgreSQL refused for a reason a retry does not mend: a constraint violation, a
// value the column's type cannot hold, a primary key that does not match the table's, a value
// that is not an object. Aborts the checkpoint and stops the application (SNK-03); nothing
// of the batch is committed, in PostgreSQL or Kafka.
class PostgreSQLSinkError : public Error {
 public:
  PostgreSQLSinkError(std::string message, std::string table = {}, std::string column = {},
                      std::string sqlstate = {}, std::string constraint = {})
      : Error(std::move(message)),
        table_(std::move(table)),
        column_(std::move(column)),
        sqlstate_(std::move(sqlstate)),
        constraint_(std::move(constraint)) {}
  // Schema-qualified table ("public.readings"); empty when the error concerns no table.
  const std::string& table() const noexcept { return table_; }
  // The column the server or the sink named; empty when neither did (a unique violation
  // names the constraint instead).
  const std::string& column() const noexcept { return column_; }
  // PostgreSQL's SQLSTATE ("23502" not-null violation, "22P02" invalid text, ...); empty for
  // errors the sink raises itself.
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  const std::string& constraint() const noexcept { return constraint_; }

 private:
  std::string table_, column_, sqlstate_, constraint_;
};

struct PostgreSQLSinkOptions {
  std::string host = "127.0.0.1";
  int port = 5432;
  std::string dbname{};
  std::string user{};
  std::string password{};
  // The table of every record, or table_name_fn(item) per record (wins when set).
  std::string table_name{};
  std::function<std::string(const SinkItem&)> table_name_fn{};
  std::string schema_name = "public";
  // Create the schema and missing tables, add a column for every new field (typed by its first
  // non-null value: integer BIGINT, floating DOUBLE PRECISION, string TEXT, boolean BOOLEAN,
  // array/object JSONB) and the primary key. Off: the tables must exist with every column.
  bool schema_auto_update = true;
  std::chrono::milliseconds connection_timeout = std::chrono::seconds(30);
  // The server's statement_timeout for each statement; a longer one is backpressure.
  std::chrono::milliseconds statement_timeout = std::chrono::seconds(30);
  // The primary key's columns (empty: none), or primary_key_fn(item) per record. A new table
  // gets this key; an existing one must have exactly it.
  std::vector<std::string> primary_key_columns{};
  std::function<std::vector<std::string>(const SinkItem&)> primary_key_fn{};
  // Rows whose key exists replace it (the batch's last row per key wins), so a replay after a
  // crash leaves one row per key. Needs a primary key.
  bool upsert_on_primary_key = false;
  // Rows whose key exists are skipped. Not together with upsert (ConfigError).
  bool on_conflict_do_nothing = false;
  // Adds the columns "timestamp" (TIMESTAMP, the record's, UTC) and "__key" (TEXT, null keys
  // leave it NULL). Off: a table the sink creates gets a "_row_id SERIAL" column instead.
  bool include_metadata = true;
  // When the database cannot be reached or gives way (connection lost, shutting down, out of
  // resources, statement timeout, deadlock), the write becomes SinkBackpressureError with this
  // retry_after: the partitions pause and the records since the checkpoint come again.
  std::chrono::milliseconds retry_after = std::chrono::seconds(5);
  // More libpq connection parameters (e.g. {"sslmode", "require"}, {"application_name", ...}).
  std::map<std::string, std::string> connection_params{};
};

// Writes each record, an object, as a row (SNK-05; Quix Streams' PostgreSQLSink). At every
// checkpoint each batch is written in one transaction, one COPY per table (through a
// temporary table and INSERT ... ON CONFLICT when upserting or skipping conflicts), before the
// input offsets commit: at-least-once, and exactly one row per key with upsert. setup()
// connects (on_client_connect_failure when it cannot) and creates the schema. Workers write
// on connections of their own.
class PostgreSQLSink : public BatchingSink {
 public:
  explicit PostgreSQLSink(PostgreSQLSinkOptions options);
  ~PostgreSQLSink() override;
  PostgreSQLSink(const PostgreSQLSink&) = delete;
  PostgreSQLSink& operator=(const PostgreSQLSink&) = delete;

  void setup() override;
  // A value that is not an object => ValueTypeError, a processing error of its record.
  void add(const Value& value, const Value& key, std::int64_t timestamp, const Headers& headers,
           const std::string& topic, std::int32_t partition, std::int64_t offset) override;
  // Statistics for tests and benchmarks.
  std::uint64_t rows_written() const;
  std::uint64_t reconnects() const;

 protected:
  void write(const SinkBatch& batch) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamframe
