// PostgreSQLSink: each checkpoint's batch goes in one transaction, one COPY per table, after
// the DDL the batch needs. COPY's text format is the fastest way into PostgreSQL short of
// the binary one (which would need the column types' binary forms); upserts go through a
// per-session temporary table, because COPY has no ON CONFLICT.
#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "core/logging.hpp"
#include "core/pq_handles.hpp"
#include "streamframe/postgresql.hpp"

namespace streamframe {

namespace {

using ConnPtr = detail::PqConnPtr;
using ResultPtr = detail::PqResultPtr;

constexpr std::string_view kKeyColumn = "__key";
constexpr std::string_view kTimestampColumn = "timestamp";
constexpr std::string_view kOrdinalColumn = "__sf_ord";

std::string trimmed(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// An SQL identifier, quoted: "a""b" for a"b.
std::string ident(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (const char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string column_list(const std::vector<std::string>& columns) {
  std::string out;
  for (const auto& c : columns) {
    if (!out.empty()) out += ", ";
    out += ident(c);
  }
  return out;
}

// A field of COPY's text format: backslash, tab, newline and carriage return escaped. Text
// without them (nearly all) goes in as one run.
void append_copy_text(std::string& out, std::string_view text) {
  constexpr std::string_view kSpecial = "\\\t\n\r";
  for (;;) {
    const auto at = text.find_first_of(kSpecial);
    if (at == std::string_view::npos) {
      out.append(text);
      return;
    }
    out.append(text.substr(0, at));
    out += '\\';
    const char c = text[at];
    out += c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
    text.remove_prefix(at + 1);
  }
}

template <class T>
void append_number(std::string& out, T n) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

void append_copy_value(std::string& out, const Value& v) {
  switch (v.type()) {
    case Value::Type::null:
      out += "\\N";
      break;
    case Value::Type::boolean:
      out += v.as_bool() ? 't' : 'f';
      break;
    case Value::Type::integer:
      append_number(out, v.as_int());
      break;
    case Value::Type::floating: {
      const double d = v.as_double();
      if (std::isnan(d)) {
        out += "NaN";
      } else if (std::isinf(d)) {
        out += d > 0 ? "Infinity" : "-Infinity";
      } else {
        append_number(out, d);  // shortest form that reads back as the same double
      }
      break;
    }
    case Value::Type::string:
      append_copy_text(out, v.as_string());
      break;
    case Value::Type::array:
    case Value::Type::object:
      append_copy_text(out, v.to_json());
      break;
  }
}

// Record timestamps as TIMESTAMP literals in UTC, to the millisecond. Consecutive records
// mostly share their day, whose text is kept.
class TimestampText {
 public:
  void append(std::string& out, std::int64_t ms) {
    using namespace std::chrono;
    const sys_time<milliseconds> tp{milliseconds(ms)};
    const auto day = floor<days>(tp);
    if (day != day_ || day_text_.empty()) {
      const year_month_day ymd{day};
      day_ = day;
      day_text_ = fmt::format("{:04}-{:02}-{:02} ", static_cast<int>(ymd.year()),
                              static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    }
    out += day_text_;
    const auto in_day = (tp - day).count();  // ms since midnight
    const auto two = [&out](std::int64_t n) {
      out += static_cast<char>('0' + n / 10);
      out += static_cast<char>('0' + n % 10);
    };
    two(in_day / 3'600'000);
    out += ':';
    two(in_day / 60'000 % 60);
    out += ':';
    two(in_day / 1000 % 60);
    out += '.';
    out += static_cast<char>('0' + in_day % 1000 / 100);
    two(in_day % 100);
  }

 private:
  std::chrono::sys_days day_{};
  std::string day_text_;
};

// A new column's type from the batch's non-null values of its field: any floating value makes
// it DOUBLE PRECISION (a field that is 21 in one record and 21.5 in the next must not become
// BIGINT), otherwise the first value's type decides.
struct ColumnType {
  std::optional<Value::Type> first;
  bool any_floating = false;

  void see(const Value& v) {
    if (v.is_null()) return;
    if (!first) first = v.type();
    any_floating = any_floating || v.is_double();
  }
  const char* sql() const {
    if (!first) return nullptr;
    if (any_floating && (*first == Value::Type::integer || *first == Value::Type::floating)) {
      return "DOUBLE PRECISION";
    }
    switch (*first) {
      case Value::Type::boolean:
        return "BOOLEAN";
      case Value::Type::integer:
        return "BIGINT";
      case Value::Type::floating:
        return "DOUBLE PRECISION";
      case Value::Type::string:
        return "TEXT";
      default:
        return "JSONB";
    }
  }
};

// Why a statement failed, as PostgreSQL said it.
struct PgFailure {
  std::string sqlstate, message, detail, table, column, constraint, context;
  bool connection_lost = false;

  // Worth retrying later rather than stopping the application: the database is away, going
  // away, overloaded, or lost a race that a retry wins.
  bool transient() const {
    if (connection_lost) return true;
    const std::string_view s = sqlstate;
    return s.starts_with("08") || s.starts_with("53") || s == "57P01" || s == "57P02" ||
           s == "57P03" || s == "57014" || s == "40001" || s == "40P01" || s == "55P03";
  }
  // The sink's idea of the table no longer matches the database (changed behind its back, or
  // another writer created the same table or column at the same moment): reload and retry.
  bool stale_schema() const {
    return sqlstate == "42703" || sqlstate == "42P01" || sqlstate == "42P07" ||
           sqlstate == "42701" || (sqlstate == "23505" && constraint.starts_with("pg_"));
  }
};

PgFailure failure_of(PGconn* conn, const PGresult* res) {
  PgFailure f;
  const auto field = [res](int code) {
    const char* v = res ? PQresultErrorField(res, code) : nullptr;
    return std::string(v ? v : "");
  };
  f.sqlstate = field(PG_DIAG_SQLSTATE);
  f.message = res ? trimmed(PQresultErrorMessage(res)) : "";
  if (f.message.empty()) f.message = trimmed(PQerrorMessage(conn));
  f.detail = field(PG_DIAG_MESSAGE_DETAIL);
  f.table = field(PG_DIAG_TABLE_NAME);
  f.column = field(PG_DIAG_COLUMN_NAME);
  f.constraint = field(PG_DIAG_CONSTRAINT_NAME);
  f.context = field(PG_DIAG_CONTEXT);
  f.connection_lost = PQstatus(conn) != CONNECTION_OK;
  // A COPY data error names its column only in the context: "COPY t, line 3, column x: ...".
  if (f.column.empty()) {
    const auto at = f.context.find(", column ");
    if (at != std::string::npos) {
      const auto from = at + 9;
      const auto colon = f.context.find(':', from);
      f.column =
          f.context.substr(from, colon == std::string::npos ? std::string::npos : colon - from);
    }
  }
  return f;
}

struct Failed {
  PgFailure failure;
};

// One session. Its temporary staging tables live as long as it does.
struct Session {
  ConnPtr conn;
  // Came from the pool: its server may have gone since it was last used.
  bool pooled = false;
  // Per target table: the staging table's name and the columns it was made with.
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> stages;
  std::size_t next_stage = 0;
};

// The write's transaction, opened only when it needs one: a batch of one table that needs no
// DDL is a single COPY, atomic by itself, which saves two round trips per checkpoint.
struct Txn {
  Session& session;
  bool open = false;
  void begin();
};

// What the sink knows of a table: its columns and primary key, as loaded from the catalog
// and extended by its own committed DDL.
struct TableInfo {
  bool exists = false;
  std::set<std::string, std::less<>> columns;
  std::vector<std::string> primary_key;  // sorted
};

// One table's share of a batch.
struct TableRows {
  std::string name;  // unqualified
  std::vector<const SinkItem*> items;
  std::vector<std::string> primary_key;
};

}  // namespace

void Txn::begin() {
  if (open) return;
  ResultPtr res(PQexec(session.conn.get(), "BEGIN"));
  if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    throw Failed{failure_of(session.conn.get(), res.get())};
  }
  open = true;
}

struct PostgreSQLSink::Impl {
  PostgreSQLSinkOptions opts;
  std::string schema_ident;

  std::mutex pool_mu;
  std::vector<std::unique_ptr<Session>> idle;
  bool connected_once = false;

  std::mutex tables_mu;
  std::map<std::string, TableInfo, std::less<>> tables;  // by unqualified name

  std::atomic<std::uint64_t> rows{0};
  std::atomic<std::uint64_t> reconnects{0};

  explicit Impl(PostgreSQLSinkOptions o)
      : opts(std::move(o)), schema_ident(ident(opts.schema_name)) {}

  std::string where() const {
    return "PostgreSQL " + opts.host + ":" + std::to_string(opts.port) + "/" + opts.dbname;
  }
  std::string qualified(const std::string& table) const {
    return schema_ident + "." + ident(table);
  }

  // A new session; nullopt with `error` when the server cannot be reached.
  std::unique_ptr<Session> connect(std::string& error) {
    const std::string port = std::to_string(opts.port);
    // libpq's connect_timeout is whole seconds, 2 at least.
    const std::string timeout =
        std::to_string(std::max<std::int64_t>(2, (opts.connection_timeout.count() + 999) / 1000));
    const std::string options =
        "-c statement_timeout=" + std::to_string(opts.statement_timeout.count());
    std::vector<const char*> keys{
        "host",           "port",    "dbname",          "user",
        "password",       "options", "connect_timeout", "application_name",
        "client_encoding"};
    std::vector<const char*> values{opts.host.c_str(), port.c_str(),          opts.dbname.c_str(),
                                    opts.user.c_str(), opts.password.c_str(), options.c_str(),
                                    timeout.c_str(),   "streamframe",         "UTF8"};
    for (const auto& [k, v] : opts.connection_params) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    auto session = std::make_unique<Session>();
    session->conn.reset(PQconnectdbParams(keys.data(), values.data(), 0));
    if (!session->conn || PQstatus(session->conn.get()) != CONNECTION_OK) {
      error = session->conn ? trimmed(PQerrorMessage(session->conn.get())) : "out of memory";
      return nullptr;
    }
    // The server's notices ("schema ... already exists, skipping") go to the debug log, not
    // to stderr as libpq's default does.
    PQsetNoticeProcessor(
        session->conn.get(),
        [](void*, const char* message) {
          detail::logger()->debug("PostgreSQLSink: {}", trimmed(message));
        },
        nullptr);
    std::lock_guard lock(pool_mu);
    if (connected_once) ++reconnects;
    connected_once = true;
    return session;
  }

  // A session of the pool, or a new one; SinkBackpressureError when none can be made.
  std::unique_ptr<Session> take() {
    {
      std::lock_guard lock(pool_mu);
      while (!idle.empty()) {
        auto s = std::move(idle.back());
        idle.pop_back();
        if (PQstatus(s->conn.get()) == CONNECTION_OK) {
          s->pooled = true;
          return s;
        }
      }
    }
    std::string error;
    auto s = connect(error);
    if (!s) {
      detail::logger()->warn("PostgreSQLSink: cannot connect to {} ({}); retrying in {} ms",
                             where(), error, opts.retry_after.count());
      throw SinkBackpressureError(opts.retry_after,
                                  "PostgreSQLSink: cannot connect to " + where() + ": " + error);
    }
    return s;
  }

  void give_back(std::unique_ptr<Session> s) {
    if (PQstatus(s->conn.get()) != CONNECTION_OK) return;
    s->pooled = false;
    std::lock_guard lock(pool_mu);
    idle.push_back(std::move(s));
  }

  static ResultPtr exec(Session& s, const std::string& sql, ExecStatusType want) {
    ResultPtr res(PQexec(s.conn.get(), sql.c_str()));
    if (!res || PQresultStatus(res.get()) != want)
      throw Failed{failure_of(s.conn.get(), res.get())};
    return res;
  }
  static ResultPtr exec_params(Session& s, const std::string& sql,
                               const std::vector<const char*>& args) {
    ResultPtr res(PQexecParams(s.conn.get(), sql.c_str(), static_cast<int>(args.size()), nullptr,
                               args.data(), nullptr, nullptr, 0));
    if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
      throw Failed{failure_of(s.conn.get(), res.get())};
    }
    return res;
  }

  TableInfo load_table(Session& s, const std::string& table) {
    TableInfo info;
    const std::string q = qualified(table);
    auto cols = exec_params(s,
                            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = "
                            "to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                            {q.c_str()});
    for (int i = 0; i < PQntuples(cols.get()); ++i)
      info.columns.emplace(PQgetvalue(cols.get(), i, 0));
    info.exists = !info.columns.empty();
    auto pk = exec_params(s,
                          "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                          "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = "
                          "to_regclass($1) AND i.indisprimary",
                          {q.c_str()});
    for (int i = 0; i < PQntuples(pk.get()); ++i)
      info.primary_key.emplace_back(PQgetvalue(pk.get(), i, 0));
    std::sort(info.primary_key.begin(), info.primary_key.end());
    return info;
  }

  std::optional<TableInfo> cached(const std::string& table) {
    std::lock_guard lock(tables_mu);
    auto it = tables.find(table);
    if (it == tables.end()) return std::nullopt;
    return it->second;
  }

  void group(const SinkBatch& batch, std::vector<TableRows>& out) const {
    for (const auto& item : batch.items()) {
      std::string name = opts.table_name_fn ? opts.table_name_fn(item) : opts.table_name;
      auto it =
          std::find_if(out.begin(), out.end(), [&](const TableRows& t) { return t.name == name; });
      if (it == out.end()) {
        TableRows t;
        t.name = std::move(name);
        t.primary_key = opts.primary_key_fn ? opts.primary_key_fn(item) : opts.primary_key_columns;
        std::sort(t.primary_key.begin(), t.primary_key.end());
        t.primary_key.erase(std::unique(t.primary_key.begin(), t.primary_key.end()),
                            t.primary_key.end());
        if (t.name.empty()) throw PostgreSQLSinkError("PostgreSQLSink: an empty table name");
        if (opts.upsert_on_primary_key && t.primary_key.empty()) {
          throw PostgreSQLSinkError(
              "PostgreSQLSink: upsert_on_primary_key without primary key "
              "columns for table '" +
                  t.name + "'",
              opts.schema_name + "." + t.name);
        }
        out.push_back(std::move(t));
        it = std::prev(out.end());
      }
      it->items.push_back(&item);
    }
  }

  // Writes one table's rows inside the open transaction. `info` is updated with the DDL run,
  // and `new_stage` with a staging table made, both to be kept only when the transaction
  // commits.
  void write_table(Txn& txn, const TableRows& rows, TableInfo& info,
                   std::optional<std::pair<std::string, std::vector<std::string>>>& new_stage) {
    Session& s = txn.session;
    const std::string q = qualified(rows.name);
    const std::string display = opts.schema_name + "." + rows.name;

    // The row's columns: metadata first, then each field in order of first appearance.
    std::vector<std::string> columns;
    std::vector<ColumnType> types;
    if (opts.include_metadata) {
      columns.emplace_back(kTimestampColumn);
      columns.emplace_back(kKeyColumn);
      types.resize(2);
    }
    const std::size_t first_field = columns.size();
    for (const SinkItem* item : rows.items) {
      for (const auto& [field, v] : item->value.as_object()) {
        auto it = std::find(columns.begin() + static_cast<std::ptrdiff_t>(first_field),
                            columns.end(), field);
        if (it == columns.end()) {
          columns.push_back(field);
          types.emplace_back();
          it = std::prev(columns.end());
        }
        types[static_cast<std::size_t>(it - columns.begin())].see(v);
      }
    }
    for (const SinkItem* item : rows.items) {
      for (const auto& pk : rows.primary_key) {
        const Value* v = item->value.find(pk);
        if (v == nullptr || v->is_null()) {
          throw PostgreSQLSinkError(
              fmt::format("PostgreSQLSink: table {}: primary key column '{}' is {} at offset {}",
                          display, pk, v == nullptr ? "missing" : "null", item->offset),
              display, pk);
        }
      }
    }

    if (opts.schema_auto_update) {
      if (!info.exists) {
        txn.begin();
        exec(s,
             opts.include_metadata
                 ? fmt::format("CREATE TABLE IF NOT EXISTS {} ({} TIMESTAMP NOT NULL, {} TEXT)", q,
                               ident(kTimestampColumn), ident(kKeyColumn))
                 : fmt::format("CREATE TABLE IF NOT EXISTS {} (_row_id SERIAL)", q),
             PGRES_COMMAND_OK);
        info = load_table(s, rows.name);
      }
      if (!rows.primary_key.empty() && info.primary_key != rows.primary_key) {
        if (!info.primary_key.empty()) {
          throw PostgreSQLSinkError(
              fmt::format("PostgreSQLSink: table {} has the primary key ({}), not ({})", display,
                          fmt::join(info.primary_key, ", "), fmt::join(rows.primary_key, ", ")),
              display);
        }
      }
    }
    // Fields with no column: added when the sink may, else left out when all null (nothing
    // lost), else the COPY names the missing column.
    std::vector<std::size_t> keep;
    for (std::size_t i = 0; i < columns.size(); ++i) {
      if (info.columns.contains(columns[i])) {
        keep.push_back(i);
        continue;
      }
      const char* type = types[i].sql();
      if (i < first_field) type = i == 0 ? "TIMESTAMP" : "TEXT";
      if (type == nullptr) continue;  // all null: no column needed
      if (opts.schema_auto_update) {
        txn.begin();
        exec(s,
             fmt::format("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}", q, ident(columns[i]),
                         type),
             PGRES_COMMAND_OK);
        info.columns.insert(columns[i]);
      }
      keep.push_back(i);
    }
    if (opts.schema_auto_update && !rows.primary_key.empty() && info.primary_key.empty()) {
      txn.begin();
      exec(s, fmt::format("ALTER TABLE {} ADD PRIMARY KEY ({})", q, column_list(rows.primary_key)),
           PGRES_COMMAND_OK);
      info.primary_key = rows.primary_key;
    }
    std::vector<std::string> kept;
    kept.reserve(keep.size());
    for (const auto i : keep) kept.push_back(columns[i]);

    const bool staged = opts.on_conflict_do_nothing || opts.upsert_on_primary_key;
    std::string target = q;
    if (staged) {
      txn.begin();
      auto it = s.stages.find(rows.name);
      if (it != s.stages.end() && it->second.second == kept) {
        target = it->second.first;
      } else {
        target =
            it != s.stages.end() ? it->second.first : "sf_stage_" + std::to_string(s.next_stage);
        exec(s, "DROP TABLE IF EXISTS pg_temp." + target, PGRES_COMMAND_OK);
        exec(s,
             fmt::format("CREATE TEMP TABLE {} ON COMMIT DELETE ROWS AS SELECT {}, 0::bigint AS {} "
                         "FROM {} WITH NO DATA",
                         target, column_list(kept), ident(kOrdinalColumn), q),
             PGRES_COMMAND_OK);
        new_stage.emplace(target, kept);
      }
    }

    // The rows in COPY's text format.
    std::string data;
    data.reserve(rows.items.size() * 16 * (kept.size() + 1));
    std::int64_t ordinal = 0;
    TimestampText timestamps;
    for (const SinkItem* item : rows.items) {
      bool first = true;
      for (const auto i : keep) {
        if (!first) data += '\t';
        first = false;
        if (opts.include_metadata && i == 0) {
          timestamps.append(data, item->timestamp);
        } else if (opts.include_metadata && i == 1) {
          if (item->key.is_null()) {
            data += "\\N";
          } else {
            append_copy_value(data, item->key);
          }
        } else {
          const Value* v = item->value.find(columns[i]);
          append_copy_value(data, v == nullptr ? Value() : *v);
        }
      }
      if (staged) {
        data += '\t';
        append_number(data, ordinal++);
      }
      data += '\n';
    }
    std::string copy_columns = column_list(kept);
    if (staged) copy_columns += ", " + ident(kOrdinalColumn);
    exec(s, fmt::format("COPY {} ({}) FROM STDIN", target, copy_columns), PGRES_COPY_IN);
    if (PQputCopyData(s.conn.get(), data.data(), static_cast<int>(data.size())) != 1 ||
        PQputCopyEnd(s.conn.get(), nullptr) != 1) {
      throw Failed{failure_of(s.conn.get(), nullptr)};
    }
    std::optional<PgFailure> copy_failure;
    while (ResultPtr res{PQgetResult(s.conn.get())}) {
      if (PQresultStatus(res.get()) != PGRES_COMMAND_OK && !copy_failure) {
        copy_failure = failure_of(s.conn.get(), res.get());
      }
    }
    if (copy_failure) throw Failed{*copy_failure};

    if (staged) {
      std::string sql = fmt::format("INSERT INTO {} ({}) SELECT ", q, column_list(kept));
      if (opts.upsert_on_primary_key) {
        sql += fmt::format("DISTINCT ON ({}) {} FROM {} ORDER BY {}, {} DESC ON CONFLICT ({}) ",
                           column_list(rows.primary_key), column_list(kept), target,
                           column_list(rows.primary_key), ident(kOrdinalColumn),
                           column_list(rows.primary_key));
        std::string updates;
        for (const auto& c : kept) {
          if (std::find(rows.primary_key.begin(), rows.primary_key.end(), c) !=
              rows.primary_key.end()) {
            continue;
          }
          if (!updates.empty()) updates += ", ";
          updates += fmt::format("{0} = EXCLUDED.{0}", ident(c));
        }
        sql += updates.empty() ? "DO NOTHING" : "DO UPDATE SET " + updates;
      } else {
        sql += fmt::format("{} FROM {} ORDER BY {} ON CONFLICT DO NOTHING", column_list(kept),
                           target, ident(kOrdinalColumn));
      }
      exec(s, sql, PGRES_COMMAND_OK);
    }
  }

  // One attempt at the whole batch in one transaction.
  void attempt(Session& s, const std::vector<TableRows>& grouped) {
    std::vector<std::pair<std::string, TableInfo>> infos;
    std::vector<std::pair<std::string, std::pair<std::string, std::vector<std::string>>>> stages;
    Txn txn{s};
    try {
      if (grouped.size() > 1) txn.begin();
      for (const auto& rows : grouped) {
        auto info = cached(rows.name);
        if (!info) info = load_table(s, rows.name);
        std::optional<std::pair<std::string, std::vector<std::string>>> new_stage;
        write_table(txn, rows, *info, new_stage);
        infos.emplace_back(rows.name, std::move(*info));
        if (new_stage) stages.emplace_back(rows.name, std::move(*new_stage));
      }
      if (txn.open) exec(s, "COMMIT", PGRES_COMMAND_OK);
    } catch (...) {
      if (txn.open && PQstatus(s.conn.get()) == CONNECTION_OK) {
        ResultPtr(PQexec(s.conn.get(), "ROLLBACK"));
      }
      throw;
    }
    // Committed: the DDL and the staging tables now exist.
    {
      std::lock_guard lock(tables_mu);
      for (auto& [name, info] : infos) tables[name] = std::move(info);
    }
    for (auto& [table, stage] : stages) {
      if (!s.stages.contains(table)) ++s.next_stage;
      s.stages[table] = std::move(stage);
    }
  }

  void forget(const std::vector<TableRows>& grouped) {
    std::lock_guard lock(tables_mu);
    for (const auto& rows : grouped) tables.erase(rows.name);
  }

  [[noreturn]] void fail(const PgFailure& f, const std::vector<TableRows>& grouped) {
    std::string table = f.table.empty() ? std::string() : opts.schema_name + "." + f.table;
    if (table.empty() && grouped.size() == 1) table = opts.schema_name + "." + grouped[0].name;
    if (f.table.starts_with("sf_stage_") && grouped.size() == 1) {
      table = opts.schema_name + "." + grouped[0].name;
    }
    std::string message = "PostgreSQLSink: writing to " + (table.empty() ? where() : table);
    if (!f.column.empty()) message += " (column '" + f.column + "')";
    message += " failed: " + f.message;
    if (!f.detail.empty()) message += " (" + f.detail + ")";
    if (f.sqlstate == "23505" && !opts.upsert_on_primary_key && !opts.on_conflict_do_nothing) {
      message +=
          "; set upsert_on_primary_key (or on_conflict_do_nothing) to write rows whose "
          "key exists";
    }
    throw PostgreSQLSinkError(message, table, f.column, f.sqlstate, f.constraint);
  }

  void write(const SinkBatch& batch) {
    std::vector<TableRows> grouped;
    group(batch, grouped);
    for (int tries = 0;; ++tries) {
      auto session = take();
      try {
        attempt(*session, grouped);
        give_back(std::move(session));
        rows += batch.size();
        return;
      } catch (const Failed& e) {
        const bool pooled = session->pooled;
        give_back(std::move(session));
        // A pooled session found dead (the server restarted since): try a new one at once.
        if (e.failure.connection_lost && pooled && tries == 0) continue;
        if (e.failure.transient()) {
          detail::logger()->warn("PostgreSQLSink: {} gave way ({}); retrying in {} ms", where(),
                                 e.failure.message, opts.retry_after.count());
          throw SinkBackpressureError(opts.retry_after,
                                      "PostgreSQLSink: " + where() + ": " + e.failure.message);
        }
        if (e.failure.stale_schema() && tries == 0) {
          forget(grouped);
          continue;
        }
        fail(e.failure, grouped);
      }
    }
  }
};

PostgreSQLSink::PostgreSQLSink(PostgreSQLSinkOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  const auto& o = impl_->opts;
  if (o.table_name.empty() && !o.table_name_fn) {
    throw ConfigError("PostgreSQLSink: set table_name or table_name_fn");
  }
  if (o.upsert_on_primary_key && o.on_conflict_do_nothing) {
    throw ConfigError(
        "PostgreSQLSink: upsert_on_primary_key and on_conflict_do_nothing exclude each other");
  }
  if (o.upsert_on_primary_key && o.primary_key_columns.empty() && !o.primary_key_fn) {
    throw ConfigError("PostgreSQLSink: upsert_on_primary_key needs primary_key_columns");
  }
  if (!o.upsert_on_primary_key && (!o.primary_key_columns.empty() || o.primary_key_fn)) {
    detail::logger()->warn(
        "PostgreSQLSink: primary_key_columns without upsert_on_primary_key: a row whose key "
        "exists fails the write (replays after a crash included)");
  }
  if (o.retry_after.count() <= 0) throw ConfigError("PostgreSQLSink: retry_after must be > 0");
}

PostgreSQLSink::~PostgreSQLSink() = default;

void PostgreSQLSink::setup() {
  std::string error;
  auto session = impl_->connect(error);
  if (!session) {
    throw PostgreSQLSinkError("PostgreSQLSink: cannot connect to " + impl_->where() + ": " + error);
  }
  if (impl_->opts.schema_auto_update) {
    try {
      Impl::exec(*session, "CREATE SCHEMA IF NOT EXISTS " + impl_->schema_ident, PGRES_COMMAND_OK);
    } catch (const Failed& e) {
      // Another process creating it at the same moment wins the race: fine.
      if (e.failure.sqlstate != "23505" && e.failure.sqlstate != "42P06") {
        throw PostgreSQLSinkError("PostgreSQLSink: cannot create schema " +
                                      impl_->opts.schema_name + ": " + e.failure.message,
                                  {}, {}, e.failure.sqlstate);
      }
    }
  }
  impl_->give_back(std::move(session));
}

void PostgreSQLSink::add(const Value& value, const Value& key, std::int64_t timestamp,
                         const Headers& headers, const std::string& topic, std::int32_t partition,
                         std::int64_t offset) {
  if (!value.is_object()) {
    throw ValueTypeError("PostgreSQLSink writes objects only, got " +
                         std::string(value.type_name()));
  }
  BatchingSink::add(value, key, timestamp, headers, topic, partition, offset);
}

void PostgreSQLSink::write(const SinkBatch& batch) {
  impl_->write(batch);
}

std::uint64_t PostgreSQLSink::rows_written() const {
  return impl_->rows.load();
}
std::uint64_t PostgreSQLSink::reconnects() const {
  return impl_->reconnects.load();
}

}  // namespace streamframe
