// Lookup joins (SEMANTICS JOIN-05): each record is enriched in place with data fetched from
// outside Kafka (a SQLite file, a PostgreSQL database, or a Lookup of one's own), through a
// per-lookup cache. StreamingDataFrame::join_lookup applies one; LookupBuffer holds records
// whose data is not there yet.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "streamframe/value.hpp"

namespace streamframe {

enum class OrderDirection { asc, desc };

// A row of one table whose column `on` equals the record's lookup key (join_lookup's `on`):
// `SELECT columns FROM table WHERE on = ? [ORDER BY order_by dir] [LIMIT 1]`, the key bound
// as a parameter. Identifiers must match [A-Za-z0-9_]+ and '*' is refused (ConfigError at
// join_lookup): they cannot be bound, so they are checked instead.
// Result: first_match_only => the first row as an object {column: value} (no row =>
// default_value); else an array of such objects (no row => []).
struct SQLiteLookupField {
  std::string table{};
  std::vector<std::string> columns{};
  std::string on{};
  std::string order_by{};  // empty: no ORDER BY
  OrderDirection order_by_direction = OrderDirection::asc;
  // How long a result stays in the lookup's cache, per (field, lookup key); <= 0: not cached.
  std::chrono::milliseconds ttl = std::chrono::seconds(60);
  Value default_value{};  // `default` is a C++ keyword
  bool first_match_only = true;
};

// A query of one's own. Named parameters (`:name`, `@name` or `$name`) are bound from the
// record's value fields of that name (missing => LookupError naming the field); the query
// text is never built from data. The result is cached per (field, lookup key) like a table
// field, so the lookup key should determine the parameters.
// Result: first_match_only => the first row as an array of its column values (no row =>
// default_value); else an array of such arrays.
struct SQLiteLookupQueryField {
  std::string query{};
  std::chrono::milliseconds ttl = std::chrono::seconds(60);
  Value default_value{};
  bool first_match_only = true;
};

// SQLiteLookupField for PostgreSQL, with the table's schema.
struct PostgresLookupField {
  std::string table{};
  std::vector<std::string> columns{};
  std::string on{};
  std::string order_by{};
  OrderDirection order_by_direction = OrderDirection::asc;
  std::string schema = "public";
  std::chrono::milliseconds ttl = std::chrono::seconds(60);
  Value default_value{};
  bool first_match_only = true;
};

// SQLiteLookupQueryField for PostgreSQL: parameters are written `%(name)s` (as in psycopg and
// Quix Streams) and bound from the record's value fields; `%%` is a literal '%'.
struct PostgresLookupQueryField {
  std::string query{};
  std::chrono::milliseconds ttl = std::chrono::seconds(60);
  Value default_value{};
  bool first_match_only = true;
};

using LookupField = std::variant<SQLiteLookupField, SQLiteLookupQueryField, PostgresLookupField,
                                 PostgresLookupQueryField>;
// The value field each result goes to, with its definition, filled in this order.
using LookupFields = std::vector<std::pair<std::string, LookupField>>;

// The default_value of a field.
const Value& lookup_field_default(const LookupField& field) noexcept;

// A lookup cache's counters (LRU per (field, lookup key)).
struct LookupCacheInfo {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::size_t size = 0;
  std::size_t max_size = 0;
};

// What join_lookup asks of a lookup. One lookup may serve several join_lookup calls and the
// application's worker threads at once: implementations are thread-safe.
class Lookup {
 public:
  virtual ~Lookup() = default;
  // Refuses, at join_lookup, fields this lookup cannot serve (ConfigError).
  virtual void check_fields(const LookupFields& fields) const = 0;
  // Sets value[name] for each field, with `on` the record's lookup key. `value` is an object.
  // A failed query => LookupError naming the field; a database that stays unreachable =>
  // LookupConnectionError.
  virtual void join(const LookupFields& fields, const Value& on, Value& value, const Value& key,
                    std::int64_t timestamp) = 0;
};

// A SQLite database file, opened read-only (a missing or unreadable file =>
// LookupConnectionError). Values: INTEGER => int, REAL => double, TEXT and BLOB => string,
// NULL => null.
class SQLiteLookup final : public Lookup {
 public:
  explicit SQLiteLookup(const std::string& path, std::size_t cache_size = 1000);
  ~SQLiteLookup() override;
  SQLiteLookup(const SQLiteLookup&) = delete;
  SQLiteLookup& operator=(const SQLiteLookup&) = delete;

  void check_fields(const LookupFields& fields) const override;
  void join(const LookupFields& fields, const Value& on, Value& value, const Value& key,
            std::int64_t timestamp) override;
  LookupCacheInfo cache_info() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct PostgresLookupOptions {
  std::string host = "127.0.0.1";
  int port = 5432;
  std::string dbname{};
  std::string user{};
  std::string password{};
  // How long the first connection may take, retries of a refused one included; then
  // LookupConnectionError.
  std::chrono::milliseconds connection_timeout = std::chrono::seconds(30);
  // The server's statement_timeout for every query (a longer one => LookupError).
  std::chrono::milliseconds statement_timeout = std::chrono::seconds(30);
  std::size_t cache_size = 1000;
  // A connection lost while running is re-established with backoff (100 ms doubling to 5 s)
  // while the record waits; after this long the record fails with LookupConnectionError
  // (processing stops without committing it), unless `default_when_unavailable`, which gives
  // it each field's default instead; the records after it then try to reconnect once each,
  // without waiting, and get the defaults until the database is back.
  std::chrono::milliseconds reconnect_timeout = std::chrono::seconds(60);
  bool default_when_unavailable = false;
};

// A PostgreSQL database through libpq, one connection. Values by column type: bool => bool,
// smallint/integer/bigint => int, real/double precision/numeric => double, json/jsonb =>
// parsed, NULL => null, anything else => its text form.
class PostgresLookup final : public Lookup {
 public:
  // Connects at once (LookupConnectionError after connection_timeout).
  explicit PostgresLookup(PostgresLookupOptions options);
  ~PostgresLookup() override;
  PostgresLookup(const PostgresLookup&) = delete;
  PostgresLookup& operator=(const PostgresLookup&) = delete;

  void check_fields(const LookupFields& fields) const override;
  void join(const LookupFields& fields, const Value& on, Value& value, const Value& key,
            std::int64_t timestamp) override;
  LookupCacheInfo cache_info() const;
  // How many times a lost connection was re-established.
  std::uint64_t reconnects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What a record that waited the whole grace without resolving gets.
enum class LookupTimeout {
  emit,  // goes on with each field set to its default_value
  drop,  // is dropped (logged)
};

// JOIN-05: holds records whose lookup did not resolve, instead of sending them on with
// defaults. A held record is kept as it arrived (the fields' columns as they were before the
// lookup) and released, enriched again, in arrival order per message key, when a later record
// of its key resolves (a held one that still does not resolve stays), or goes
// out per `on_timeout` once it waited `grace` on the application clock (checked every turn of
// the run loop, so a quiet partition drains too). Held records live in the store `store` of
// the stream, with its changelog: nothing acknowledged is lost on a crash or rebalance. After
// a restart or a rebalance a restored record's wait starts again.
struct LookupBuffer {
  std::chrono::milliseconds grace{0};  // wall-clock wait; <= 0 => ConfigError
  // Called with the value after the lookup; true = resolved. Required.
  std::function<bool(const Value& value)> is_resolved{};
  LookupTimeout on_timeout = LookupTimeout::emit;
  // A record arriving for a key that holds this many is dropped (logged); >= 1.
  std::size_t max_buffered_per_key = 10000;
  std::string store = "lookup-buffer";
};

// join_lookup's lookup key: unset => the message key; a column name => value[column] (missing
// => ColumnDoesNotExist); a callable => its result for (value, key).
class LookupOn {
 public:
  using Fn = std::function<Value(const Value& value, const Value& key)>;
  LookupOn() = default;
  LookupOn(const char* column) : column_(column) {}
  LookupOn(std::string column) : column_(std::move(column)) {}
  LookupOn(Fn fn) : fn_(std::move(fn)) {}
  const std::string& column() const noexcept { return column_; }
  const Fn& fn() const noexcept { return fn_; }

 private:
  std::string column_;
  Fn fn_;
};

struct JoinLookupOptions {
  LookupOn on{};
  std::optional<LookupBuffer> buffer{};
};

}  // namespace streamframe
