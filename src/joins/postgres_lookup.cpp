// PostgresLookup (JOIN-05): one libpq connection, statements prepared once per query text with
// every value bound as a parameter, results cached per (field, lookup key). A connection lost
// while running is re-established with backoff while the record waits.
#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/logging.hpp"
#include "core/pq_handles.hpp"
#include "joins/lookup_support.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/lookups.hpp"

namespace streamframe {

namespace {

using ResultPtr = detail::PqResultPtr;

// Type OIDs of pg_type (stable across PostgreSQL versions).
constexpr Oid kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kJson = 114, kFloat4 = 700,
              kFloat8 = 701, kNumeric = 1700, kJsonb = 3802;

// A psycopg-style query (`%(name)s` parameters, `%%` a literal '%') in PostgreSQL's own form
// ($1, $2, ...; one number per distinct name).
struct PgQuery {
  std::string text;
  std::vector<std::string> params;
};

PgQuery convert_placeholders(const std::string& field, const std::string& query) {
  PgQuery out;
  out.text.reserve(query.size());
  for (std::size_t i = 0; i < query.size(); ++i) {
    const char c = query[i];
    if (c != '%') {
      out.text += c;
      continue;
    }
    if (i + 1 < query.size() && query[i + 1] == '%') {
      out.text += '%';
      ++i;
      continue;
    }
    const auto close = query.find(")s", i);
    if (i + 1 >= query.size() || query[i + 1] != '(' || close == std::string::npos) {
      throw ConfigError("join_lookup: field '" + field + "': the query has a '%' at " +
                        std::to_string(i) +
                        " that is neither a %(name)s parameter nor %% (a literal '%')");
    }
    const std::string name = query.substr(i + 2, close - (i + 2));
    if (name.empty()) {
      throw ConfigError("join_lookup: field '" + field + "': a query parameter has no name");
    }
    auto it = std::find(out.params.begin(), out.params.end(), name);
    if (it == out.params.end()) it = out.params.insert(out.params.end(), name);
    out.text += '$';
    out.text += std::to_string(it - out.params.begin() + 1);
    i = close + 1;
  }
  return out;
}

// A parameter's text form (nullopt: SQL NULL); the server infers its type from the query.
std::optional<std::string> param_text(const Value& v) {
  switch (v.type()) {
    case Value::Type::null:
      return std::nullopt;
    case Value::Type::boolean:
      return std::string(v.as_bool() ? "true" : "false");
    case Value::Type::integer:
      return std::to_string(v.as_int());
    case Value::Type::floating:
      return fmt::format("{}", v.as_double());
    case Value::Type::string:
      return v.as_string();
    default:
      return v.to_json();
  }
}

Value cell_value(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return Value();
  const char* text = PQgetvalue(res, row, col);
  const auto len = static_cast<std::size_t>(PQgetlength(res, row, col));
  switch (PQftype(res, col)) {
    case kBool:
      return Value(len > 0 && text[0] == 't');
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid: {
      std::int64_t n = 0;
      const auto [end, ec] = std::from_chars(text, text + len, n);
      if (ec == std::errc() && end == text + len) return Value(n);
      return Value(std::string(text, len));
    }
    case kFloat4:
    case kFloat8:
    case kNumeric: {
      const std::string s(text, len);
      char* end = nullptr;
      const double d = std::strtod(s.c_str(), &end);
      if (end != nullptr && *end == '\0') return Value(d);
      return Value(s);  // NaN/Infinity have no JSON number
    }
    case kJson:
    case kJsonb:
      return Value::from_json(std::string_view(text, len));
    default:
      return Value(std::string(text, len));
  }
}

struct Prepared {
  std::string name;
  std::vector<std::string> params;  // query fields: the value columns bound, in $ order
};

}  // namespace

struct PostgresLookup::Impl {
  PostgresLookupOptions opts;
  detail::PqConnPtr conn;
  std::mutex mu;
  detail::LookupCache cache;
  std::unordered_map<std::string, Prepared> prepared;  // by the field's query text
  std::uint64_t reconnects = 0;
  std::uint64_t next_statement = 0;
  // default_when_unavailable: a reconnect wait ran out and the database is still away.
  bool unavailable_ = false;

  explicit Impl(PostgresLookupOptions o) : opts(std::move(o)), cache(opts.cache_size) {}

  std::string where() const {
    return "PostgreSQL " + opts.host + ":" + std::to_string(opts.port) + "/" + opts.dbname;
  }

  // Connects, retrying with backoff until `deadline` (steady ms). False with `error` set when
  // the deadline passed.
  bool connect(std::int64_t deadline, std::string& error) {
    prepared.clear();  // statements belong to a session
    conn.reset();
    const std::string port = std::to_string(opts.port);
    // libpq's connect_timeout is in whole seconds (2 at least, it says); the deadline is ours.
    const auto per_try = std::max<std::int64_t>(2, (opts.connection_timeout.count() + 999) / 1000);
    const std::string timeout = std::to_string(per_try);
    const std::string options =
        "-c statement_timeout=" + std::to_string(opts.statement_timeout.count());
    const char* keys[] = {"host",     "port",    "dbname",          "user",
                          "password", "options", "connect_timeout", "application_name",
                          nullptr};
    const char* values[] = {opts.host.c_str(), port.c_str(),          opts.dbname.c_str(),
                            opts.user.c_str(), opts.password.c_str(), options.c_str(),
                            timeout.c_str(),   "streamframe",         nullptr};
    std::int64_t backoff = 100;
    for (;;) {
      conn.reset(PQconnectdbParams(keys, values, 0));
      if (conn && PQstatus(conn.get()) == CONNECTION_OK) return true;
      error = conn ? PQerrorMessage(conn.get()) : "out of memory";
      while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
      conn.reset();
      const std::int64_t now = detail::ExecContext::steady_ms();
      if (now >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(backoff, deadline - now)));
      backoff = std::min<std::int64_t>(backoff * 2, 5000);
    }
  }

  bool lost() const { return !conn || PQstatus(conn.get()) != CONNECTION_OK; }

  // Runs the statement of `sql` with `args`. nullopt: the connection was lost and did not
  // come back within reconnect_timeout (the caller decides). A query error => LookupError.
  std::optional<ResultPtr> exec(const std::string& field, const std::string& sql,
                                const std::vector<std::string>& param_names, const Value* on,
                                const Value& value) {
    std::vector<std::optional<std::string>> texts;
    if (on != nullptr) {
      texts.push_back(param_text(*on));
    } else {
      texts.reserve(param_names.size());
      for (const auto& p : param_names) {
        const Value* arg = value.find(p);
        if (arg == nullptr) {
          throw LookupError("join_lookup: field '" + field + "': the value has no column '" + p +
                            "' for the query parameter %(" + p + ")s (" + where() + ")");
        }
        texts.push_back(param_text(*arg));
      }
    }
    std::vector<const char*> args;
    args.reserve(texts.size());
    for (const auto& t : texts) args.push_back(t ? t->c_str() : nullptr);

    std::int64_t deadline = 0;  // set when the connection is first found lost
    for (;;) {
      if (!lost()) {
        auto it = prepared.find(sql);
        if (it == prepared.end()) {
          Prepared p{"streamframe_" + std::to_string(next_statement++), {}};
          ResultPtr res(PQprepare(conn.get(), p.name.c_str(), sql.c_str(),
                                  static_cast<int>(args.size()), nullptr));
          if (res && PQresultStatus(res.get()) == PGRES_COMMAND_OK) {
            it = prepared.emplace(sql, std::move(p)).first;
          } else if (!lost()) {
            throw LookupError("join_lookup: field '" + field + "': the query does not prepare: " +
                              trimmed(PQresultErrorMessage(res.get())) + " (" + where() + ")");
          }
        }
        if (it != prepared.end()) {
          ResultPtr res(PQexecPrepared(conn.get(), it->second.name.c_str(),
                                       static_cast<int>(args.size()), args.data(), nullptr, nullptr,
                                       0));
          if (res && PQresultStatus(res.get()) == PGRES_TUPLES_OK) return res;
          if (!lost()) {
            throw LookupError(
                "join_lookup: field '" + field + "': the query failed: " +
                trimmed(res ? PQresultErrorMessage(res.get()) : PQerrorMessage(conn.get())) + " (" +
                where() + ")");
          }
        }
      }
      // The connection is gone: the record waits while it is re-established. Once a wait
      // ran out (the records since got defaults), each record tries once, without waiting.
      const std::int64_t now = detail::ExecContext::steady_ms();
      if (deadline == 0) {
        deadline = unavailable_ ? now : now + opts.reconnect_timeout.count();
        detail::logger()->warn("PostgresLookup: connection to {} lost ({}); reconnecting", where(),
                               conn ? trimmed(PQerrorMessage(conn.get())) : "closed");
      }
      std::string error;
      if (!connect(deadline, error)) {
        if (!unavailable_) {
          detail::logger()->error("PostgresLookup: {} still unreachable after {} ms: {}", where(),
                                  opts.reconnect_timeout.count(), error);
        }
        unavailable_ = opts.default_when_unavailable;
        last_error = error;
        return std::nullopt;
      }
      unavailable_ = false;
      ++reconnects;
      detail::logger()->info("PostgresLookup: reconnected to {}", where());
    }
  }

  static std::string trimmed(const char* msg) {
    std::string s = msg == nullptr ? "" : msg;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  Value shape(const PGresult* res, const std::vector<std::string>* columns, bool first_match_only,
              const Value& default_value) const {
    const int rows = PQntuples(res);
    const int cols = PQnfields(res);
    auto row_value = [&](int r) {
      if (columns != nullptr) {
        Object obj;
        obj.reserve(static_cast<std::size_t>(cols));
        for (int c = 0; c < cols; ++c) obj.set((*columns)[c], cell_value(res, r, c));
        return Value(std::move(obj));
      }
      Array cells;
      cells.reserve(static_cast<std::size_t>(cols));
      for (int c = 0; c < cols; ++c) cells.push_back(cell_value(res, r, c));
      return Value(std::move(cells));
    };
    if (first_match_only) return rows > 0 ? row_value(0) : default_value;
    Array all;
    all.reserve(static_cast<std::size_t>(rows));
    for (int r = 0; r < rows; ++r) all.push_back(row_value(r));
    return Value(std::move(all));
  }

  [[noreturn]] void unavailable(const std::string& field) const {
    throw LookupConnectionError(
        "join_lookup: field '" + field + "': " + where() + " unreachable for " +
        std::to_string(opts.reconnect_timeout.count()) + " ms: " + last_error);
  }

  std::string last_error;
};

PostgresLookup::PostgresLookup(PostgresLookupOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  std::string error;
  const auto deadline = detail::ExecContext::steady_ms() + impl_->opts.connection_timeout.count();
  if (!impl_->connect(deadline, error)) {
    throw LookupConnectionError("PostgresLookup: cannot connect to " + impl_->where() + " within " +
                                std::to_string(impl_->opts.connection_timeout.count()) +
                                " ms: " + error);
  }
  detail::logger()->info("PostgresLookup: connected to {}, cache size {}", impl_->where(),
                         impl_->opts.cache_size);
}

PostgresLookup::~PostgresLookup() = default;

void PostgresLookup::check_fields(const LookupFields& fields) const {
  for (const auto& [name, field] : fields) {
    if (const auto* f = std::get_if<PostgresLookupField>(&field)) {
      detail::check_table_field(name, f->table, f->columns, f->on, f->order_by, &f->schema);
    } else if (const auto* q = std::get_if<PostgresLookupQueryField>(&field)) {
      if (q->query.empty()) throw ConfigError("join_lookup: field '" + name + "': empty query");
      (void)convert_placeholders(name, q->query);
    } else {
      throw ConfigError("join_lookup: field '" + name +
                        "' is not a PostgreSQL field (PostgresLookupField or "
                        "PostgresLookupQueryField)");
    }
  }
}

void PostgresLookup::join(const LookupFields& fields, const Value& on, Value& value,
                          const Value& key, std::int64_t timestamp) {
  (void)key, (void)timestamp;
  std::lock_guard lock(impl_->mu);
  detail::join_fields(
      fields, on, value, impl_->cache,
      [&](const std::string& name, const LookupField& field) -> detail::Fetched {
        std::optional<ResultPtr> res;
        const std::vector<std::string>* columns = nullptr;
        bool first_match_only = true;
        const Value* default_value = nullptr;
        if (const auto* f = std::get_if<PostgresLookupField>(&field)) {
          const std::string sql =
              detail::table_query_text({f->schema, f->table, &f->columns, f->on, f->order_by,
                                        f->order_by_direction, f->first_match_only},
                                       "$1");
          res = impl_->exec(name, sql, {}, &on, value);
          columns = &f->columns;
          first_match_only = f->first_match_only;
          default_value = &f->default_value;
        } else if (const auto* q = std::get_if<PostgresLookupQueryField>(&field)) {
          const PgQuery pq = convert_placeholders(name, q->query);
          res = impl_->exec(name, pq.text, pq.params, nullptr, value);
          first_match_only = q->first_match_only;
          default_value = &q->default_value;
        } else {
          throw ConfigError("join_lookup: field '" + name + "' is not a PostgreSQL field");
        }
        if (!res) {
          if (!impl_->opts.default_when_unavailable) impl_->unavailable(name);
          return {*default_value, /*cacheable=*/false};  // the next record asks again
        }
        return {impl_->shape(res->get(), columns, first_match_only, *default_value)};
      });
}

LookupCacheInfo PostgresLookup::cache_info() const {
  std::lock_guard lock(impl_->mu);
  return impl_->cache.info();
}

std::uint64_t PostgresLookup::reconnects() const {
  std::lock_guard lock(impl_->mu);
  return impl_->reconnects;
}

}  // namespace streamframe
