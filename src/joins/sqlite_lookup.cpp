// SQLiteLookup (JOIN-05): a read-only SQLite connection, statements prepared once per query
// text, results cached per (field, lookup key).
#include <sqlite3.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/logging.hpp"
#include "joins/lookup_support.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/lookups.hpp"

namespace streamframe {

namespace {

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Leaves the statement ready for the next use whatever happens to this one.
struct StmtReset {
  sqlite3_stmt* stmt;
  ~StmtReset() {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
};

Value column_value(sqlite3_stmt* stmt, int i) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_INTEGER:
      return Value(static_cast<std::int64_t>(sqlite3_column_int64(stmt, i)));
    case SQLITE_FLOAT:
      return Value(sqlite3_column_double(stmt, i));
    case SQLITE_NULL:
      return Value();
    case SQLITE_BLOB: {
      const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, i));
      return Value(std::string(data == nullptr ? "" : data,
                               static_cast<std::size_t>(sqlite3_column_bytes(stmt, i))));
    }
    default: {  // TEXT
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
      return Value(std::string(text == nullptr ? "" : text,
                               static_cast<std::size_t>(sqlite3_column_bytes(stmt, i))));
    }
  }
}

}  // namespace

struct SQLiteLookup::Impl {
  std::string path;
  std::unique_ptr<sqlite3, DbCloser> db;
  std::mutex mu;
  detail::LookupCache cache;
  std::unordered_map<std::string, StmtPtr> statements;  // by query text

  explicit Impl(std::size_t cache_size) : cache(cache_size) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw LookupError("join_lookup: field '" + field + "': " + what + " (SQLite '" + path + "')");
  }

  sqlite3_stmt* prepare(const std::string& field, const std::string& sql) {
    auto it = statements.find(sql);
    if (it != statements.end()) return it->second.get();
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db.get(), sql.c_str(), static_cast<int>(sql.size() + 1), &raw,
                           nullptr) != SQLITE_OK) {
      sqlite3_finalize(raw);
      fail(field, std::string("the query does not prepare: ") + sqlite3_errmsg(db.get()));
    }
    return statements.emplace(sql, StmtPtr(raw)).first->second.get();
  }

  void bind(const std::string& field, sqlite3_stmt* stmt, int index, const Value& v) {
    int rc = SQLITE_OK;
    switch (v.type()) {
      case Value::Type::null:
        rc = sqlite3_bind_null(stmt, index);
        break;
      case Value::Type::boolean:
        rc = sqlite3_bind_int(stmt, index, v.as_bool() ? 1 : 0);
        break;
      case Value::Type::integer:
        rc = sqlite3_bind_int64(stmt, index, v.as_int());
        break;
      case Value::Type::floating:
        rc = sqlite3_bind_double(stmt, index, v.as_double());
        break;
      case Value::Type::string: {
        const std::string& s = v.as_string();
        rc = sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
        break;
      }
      default: {  // arrays and objects are bound as their JSON text
        const std::string json = v.to_json();
        rc = sqlite3_bind_text(stmt, index, json.data(), static_cast<int>(json.size()),
                               SQLITE_TRANSIENT);
        break;
      }
    }
    if (rc != SQLITE_OK) fail(field, std::string("binding failed: ") + sqlite3_errmsg(db.get()));
  }

  // Runs `stmt` (bound) and shapes its rows: objects keyed by `columns`, else arrays.
  Value run(const std::string& field, sqlite3_stmt* stmt, const std::vector<std::string>* columns,
            bool first_match_only, const Value& default_value) {
    const int n = sqlite3_column_count(stmt);
    Array rows;
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW)
        fail(field, std::string("the query failed: ") + sqlite3_errmsg(db.get()));
      Value row;
      if (columns != nullptr) {
        Object obj;
        obj.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) obj.set((*columns)[i], column_value(stmt, i));
        row = Value(std::move(obj));
      } else {
        Array cells;
        cells.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) cells.push_back(column_value(stmt, i));
        row = Value(std::move(cells));
      }
      if (first_match_only) return row;
      rows.push_back(std::move(row));
    }
    if (first_match_only) return default_value;
    return Value(std::move(rows));
  }

  Value query(const std::string& name, const SQLiteLookupField& f, const Value& on) {
    const std::string sql = detail::table_query_text(
        {{}, f.table, &f.columns, f.on, f.order_by, f.order_by_direction, f.first_match_only}, "?");
    sqlite3_stmt* stmt = prepare(name, sql);
    StmtReset reset{stmt};
    bind(name, stmt, 1, on);
    return run(name, stmt, &f.columns, f.first_match_only, f.default_value);
  }

  Value query(const std::string& name, const SQLiteLookupQueryField& f, const Value& value) {
    sqlite3_stmt* stmt = prepare(name, f.query);
    StmtReset reset{stmt};
    const int params = sqlite3_bind_parameter_count(stmt);
    for (int i = 1; i <= params; ++i) {
      const char* pname = sqlite3_bind_parameter_name(stmt, i);
      if (pname == nullptr || pname[1] == '\0' || pname[0] == '?') {
        fail(name,
             "the query has a positional parameter; name it (:column) so that it is "
             "bound from the value's column of that name");
      }
      const Value* arg = value.find(pname + 1);
      if (arg == nullptr) {
        fail(name, std::string("the value has no column '") + (pname + 1) +
                       "' for the query parameter " + pname);
      }
      bind(name, stmt, i, *arg);
    }
    return run(name, stmt, nullptr, f.first_match_only, f.default_value);
  }
};

SQLiteLookup::SQLiteLookup(const std::string& path, std::size_t cache_size)
    : impl_(std::make_unique<Impl>(cache_size)) {
  impl_->path = path;
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  impl_->db.reset(raw);
  if (rc != SQLITE_OK) {
    const std::string why = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    throw LookupConnectionError("SQLiteLookup: cannot open '" + path + "' read-only: " + why);
  }
  // A writer holding the file's lock makes a read wait up to 5 s (as Python's sqlite3 does)
  // instead of failing at once with SQLITE_BUSY.
  sqlite3_busy_timeout(raw, 5000);
  detail::logger()->info("SQLiteLookup: '{}' opened read-only, cache size {}", path, cache_size);
}

SQLiteLookup::~SQLiteLookup() = default;

void SQLiteLookup::check_fields(const LookupFields& fields) const {
  for (const auto& [name, field] : fields) {
    if (const auto* f = std::get_if<SQLiteLookupField>(&field)) {
      detail::check_table_field(name, f->table, f->columns, f->on, f->order_by, nullptr);
    } else if (const auto* q = std::get_if<SQLiteLookupQueryField>(&field)) {
      if (q->query.empty()) throw ConfigError("join_lookup: field '" + name + "': empty query");
    } else {
      throw ConfigError("join_lookup: field '" + name +
                        "' is not a SQLite field (SQLiteLookupField or SQLiteLookupQueryField)");
    }
  }
}

void SQLiteLookup::join(const LookupFields& fields, const Value& on, Value& value, const Value& key,
                        std::int64_t timestamp) {
  (void)key, (void)timestamp;
  std::lock_guard lock(impl_->mu);
  detail::join_fields(
      fields, on, value, impl_->cache,
      [&](const std::string& name, const LookupField& field) -> detail::Fetched {
        if (const auto* f = std::get_if<SQLiteLookupField>(&field)) {
          return {impl_->query(name, *f, on)};
        }
        if (const auto* q = std::get_if<SQLiteLookupQueryField>(&field)) {
          return {impl_->query(name, *q, value)};
        }
        throw ConfigError("join_lookup: field '" + name + "' is not a SQLite field");
      });
}

LookupCacheInfo SQLiteLookup::cache_info() const {
  std::lock_guard lock(impl_->mu);
  return impl_->cache.info();
}

}  // namespace streamframe
