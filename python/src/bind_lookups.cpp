// Lookup joins (JOIN-05) with Quix Streams' classes: SQLiteLookup / PostgresLookup and their
// field dataclasses (python/streamframe/dataframe/joins/lookups) become the engine's Lookup and
// LookupFields; the queries, the cache and the buffer run natively. Only an `on` callable, a
// buffer's `is_resolved` and a lookup written in Python (BaseLookup.join) take the GIL.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "callables.hpp"
#include "convert.hpp"
#include "errors.hpp"
#include "frame.hpp"
#include "streamframe/lookups.hpp"

namespace streamframe::python {

namespace {

using std::chrono::milliseconds;

enum class LookupKind { sqlite, postgres };

// What streamframe.dataframe.joins.lookups.SQLiteLookup / PostgresLookup hold as `_impl`.
struct PyLookup {
  std::shared_ptr<Lookup> lookup;
  LookupKind kind;
};

milliseconds seconds_attr(nb::handle o, const char* name) {
  const double s = nb::cast<double>(o.attr(name));
  return milliseconds(static_cast<std::int64_t>(std::llround(s * 1000)));
}

OrderDirection direction_of(nb::handle o) {
  const std::string d = nb::cast<std::string>(o.attr("order_by_direction"));
  if (d == "ASC" || d == "asc") return OrderDirection::asc;
  if (d == "DESC" || d == "desc") return OrderDirection::desc;
  throw ConfigError("order_by_direction is 'ASC' or 'DESC', not '" + d + "'");
}

template <class Field>
void common_field(nb::handle o, Field& f, const std::string& name) {
  f.ttl = seconds_attr(o, "ttl");
  f.default_value = to_value(o.attr("default"), "join_lookup field '" + name + "' default");
  f.first_match_only = nb::cast<bool>(o.attr("first_match_only"));
}

template <class Field>
Field table_field(nb::handle o, const std::string& name) {
  Field f;
  f.table = nb::cast<std::string>(o.attr("table"));
  f.columns = nb::cast<std::vector<std::string>>(o.attr("columns"));
  f.on = nb::cast<std::string>(o.attr("on"));
  f.order_by = nb::cast<std::string>(o.attr("order_by"));
  f.order_by_direction = direction_of(o);
  common_field(o, f, name);
  return f;
}

template <class Field>
Field query_field(nb::handle o, const std::string& name) {
  Field f;
  f.query = nb::cast<std::string>(o.attr("query"));
  common_field(o, f, name);
  return f;
}

LookupField field_of(LookupKind kind, const std::string& name, nb::handle o) {
  const bool query = nb::hasattr(o, "query");
  if (!query && !nb::hasattr(o, "table")) {
    throw ConfigError("join_lookup field '" + name + "': a " +
                      (kind == LookupKind::sqlite ? "SQLiteLookupField or SQLiteLookupQueryField"
                                                  : "PostgresLookupField or "
                                                    "PostgresLookupQueryField") +
                      ", not '" + nb::type_name(o.type()).c_str() + "'");
  }
  if (kind == LookupKind::sqlite) {
    return query ? LookupField(query_field<SQLiteLookupQueryField>(o, name))
                 : LookupField(table_field<SQLiteLookupField>(o, name));
  }
  if (query) return query_field<PostgresLookupQueryField>(o, name);
  auto f = table_field<PostgresLookupField>(o, name);
  f.schema = nb::cast<std::string>(o.attr("schema"));
  return f;
}

LookupBuffer buffer_of(const Frame& f, nb::handle b) {
  LookupBuffer buffer;
  buffer.grace = ms_of(b.attr("grace_ms"), "LookupBuffer grace_ms");
  FilterMetaFn resolved =
      wrap_filter(CallableRef::kept_by(f.keep, nb::borrow(b.attr("is_resolved"))), false, f.repr,
                  "LookupBuffer is_resolved");
  buffer.is_resolved = [resolved](const Value& v) { return resolved(v, Value(), 0, Headers{}); };
  const std::string on_timeout = nb::cast<std::string>(b.attr("on_timeout"));
  if (on_timeout == "emit") {
    buffer.on_timeout = LookupTimeout::emit;
  } else if (on_timeout == "drop") {
    buffer.on_timeout = LookupTimeout::drop;
  } else {
    throw ConfigError("LookupBuffer on_timeout is 'emit' or 'drop', not '" + on_timeout + "'");
  }
  const auto max = nb::cast<std::int64_t>(b.attr("max_buffered_per_key"));
  if (max < 1) throw ConfigError("LookupBuffer max_buffered_per_key must be >= 1");
  buffer.max_buffered_per_key = static_cast<std::size_t>(max);
  buffer.store = nb::cast<std::string>(b.attr("store_name"));
  return buffer;
}

JoinLookupOptions lookup_options(const Frame& f, nb::object on, nb::object buffer) {
  JoinLookupOptions options;
  if (PyUnicode_Check(on.ptr())) {
    options.on = LookupOn(nb::cast<std::string>(on));
  } else if (!on.is_none()) {
    // Quix Streams calls it with (value, key).
    CallableRef fn = CallableRef::kept_by(f.keep, std::move(on));
    const Representation r = f.repr;
    options.on = LookupOn([fn, r](const Value& v, const Value& k) -> Value {
      return with_gil("join_lookup on", [&] {
        return to_value(fn.get()(to_python(v, r.values), to_python(k, r.keys)), "join_lookup on");
      });
    });
  }
  if (!buffer.is_none()) options.buffer = buffer_of(f, buffer);
  return options;
}

// A lookup written in Python (Quix Streams' BaseLookup: join(fields, on, value, key, timestamp,
// headers) updates `value` in place), with the fields it was given at join_lookup. Each call
// takes the GIL.
class PythonLookup final : public Lookup {
 public:
  PythonLookup(CallableRef object, CallableRef fields, Representation r, bool on_is_key,
               std::string what)
      : object_(std::move(object)),
        fields_(std::move(fields)),
        repr_(r),
        on_is_key_(on_is_key),
        what_(std::move(what)) {}

  void check_fields(const LookupFields&) const override {}

  void join(const LookupFields&, const Value& on, Value& value, const Value& key,
            std::int64_t timestamp) override {
    with_gil(what_, [&] {
      nb::object v = to_python(value, repr_.values);
      object_.get().attr("join")(fields_.get(),
                                 to_python(on, on_is_key_ ? repr_.keys : StringsAs::text), v,
                                 to_python(key, repr_.keys), timestamp, nb::none());
      value = to_value(v, what_);
    });
  }

 private:
  CallableRef object_;
  CallableRef fields_;
  Representation repr_;
  bool on_is_key_;
  std::string what_;
};

}  // namespace

Frame join_lookup(const Frame& f, nb::handle lookup, nb::dict fields, nb::object on,
                  nb::object buffer) {
  nb::handle impl = nb::hasattr(lookup, "_impl") ? nb::handle(lookup.attr("_impl")) : lookup;
  if (!nb::isinstance<PyLookup>(impl) && nb::hasattr(lookup, "join")) {
    // Its fields are its own (Quix Streams' BaseField subclasses): the engine only needs their
    // names and the defaults a buffer's timeout gives.
    LookupFields defs;
    for (auto [name, field] : fields) {
      SQLiteLookupQueryField placeholder;
      if (nb::hasattr(field, "default")) {
        placeholder.default_value = to_value(field.attr("default"), "join_lookup field default");
      }
      defs.emplace_back(nb::cast<std::string>(name), std::move(placeholder));
    }
    const std::string what =
        std::string("join_lookup (") + nb::type_name(lookup.type()).c_str() + ".join)";
    auto python = std::make_shared<PythonLookup>(CallableRef::kept_by(f.keep, nb::borrow(lookup)),
                                                 CallableRef::kept_by(f.keep, nb::borrow(fields)),
                                                 f.repr, on.is_none(), what);
    JoinLookupOptions options = lookup_options(f, std::move(on), std::move(buffer));
    return make_frame(f.sdf.join_lookup(std::move(python), std::move(defs), std::move(options)),
                      f.repr, f.keep);
  }
  if (!nb::isinstance<PyLookup>(impl)) {
    throw ConfigError(std::string("join_lookup(") + nb::type_name(lookup.type()).c_str() +
                      "): a lookup is a SQLiteLookup, a PostgresLookup or an object with "
                      "join(fields, on, value, key, timestamp, headers)");
  }
  const PyLookup& l = nb::cast<const PyLookup&>(impl);
  LookupFields defs;
  for (auto [name, field] : fields) {
    const std::string n = nb::cast<std::string>(name);
    defs.emplace_back(n, field_of(l.kind, n, field));
  }
  JoinLookupOptions options = lookup_options(f, std::move(on), std::move(buffer));
  return make_frame(f.sdf.join_lookup(l.lookup, std::move(defs), std::move(options)), f.repr,
                    f.keep);
}

void bind_lookups(nb::module_& m) {
  nb::class_<PyLookup>(m, "Lookup", "The engine's side of a SQLiteLookup or PostgresLookup.")
      .def("cache_info", [](const PyLookup& l) {
        const LookupCacheInfo info =
            l.kind == LookupKind::sqlite
                ? static_cast<const SQLiteLookup&>(*l.lookup).cache_info()
                : static_cast<const PostgresLookup&>(*l.lookup).cache_info();
        nb::dict d;
        d["hits"] = info.hits;
        d["misses"] = info.misses;
        d["size"] = info.size;
        d["max_size"] = info.max_size;
        return d;
      });
  m.def(
      "_sqlite_lookup",
      [](const std::string& path, std::size_t cache_size) {
        return PyLookup{std::make_shared<SQLiteLookup>(path, cache_size), LookupKind::sqlite};
      },
      nb::arg("path"), nb::arg("cache_size"));
  m.def(
      "_postgres_lookup",
      [](std::string host, int port, std::string dbname, std::string user, std::string password,
         double connection_timeout, double statement_timeout, std::size_t cache_size) {
        PostgresLookupOptions o;
        o.host = std::move(host);
        o.port = port;
        o.dbname = std::move(dbname);
        o.user = std::move(user);
        o.password = std::move(password);
        o.connection_timeout =
            milliseconds(static_cast<std::int64_t>(std::llround(connection_timeout * 1000)));
        o.statement_timeout =
            milliseconds(static_cast<std::int64_t>(std::llround(statement_timeout * 1000)));
        o.cache_size = cache_size;
        std::shared_ptr<Lookup> lookup;
        {
          nb::gil_scoped_release release;  // connecting may take up to connection_timeout
          lookup = std::make_shared<PostgresLookup>(std::move(o));
        }
        return PyLookup{std::move(lookup), LookupKind::postgres};
      },
      nb::arg("host"), nb::arg("port"), nb::arg("dbname"), nb::arg("user"), nb::arg("password"),
      nb::arg("connection_timeout"), nb::arg("statement_timeout"), nb::arg("cache_size"));
}

}  // namespace streamframe::python
