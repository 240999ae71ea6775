// The engine's own sinks in Python (issue 17): PostgreSQLSink and CSVSink run natively, so
// `sdf.sink(PostgreSQLSink(...))` takes the GIL only for the Python callables a user passes
// (table name, primary key, serializers, connect callbacks), never per record otherwise.
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <utility>

#include "callables.hpp"
#include "convert.hpp"
#include "errors.hpp"
#include "frame.hpp"
#include "sinks.hpp"
#include "streamframe/csv.hpp"
#include "streamframe/file_sink.hpp"
#include "streamframe/mqtt.hpp"
#include "streamframe/postgresql.hpp"

namespace streamframe::python {

namespace {

using std::chrono::milliseconds;

milliseconds seconds_to_ms(double seconds) {
  return milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

// A streamframe.sinks.SinkItem for a Python callable (under the GIL).
nb::object sink_item(const SinkItem& item) {
  static nb::object cls = nb::module_::import_("streamframe.sinks").attr("SinkItem");
  return cls(to_python(item.value), to_python(item.key, StringsAs::bytes), item.timestamp,
             item.headers.empty() ? nb::none() : headers_to_python(item.headers), item.offset);
}

// Forwards to the engine's sink and calls Quix Streams' connect callbacks, Python callables,
// around its setup().
class ConnectCallbacks final : public Sink {
 public:
  ConnectCallbacks(std::shared_ptr<Sink> inner, nb::handle keep, nb::object on_success,
                   nb::object on_failure)
      : inner_(std::move(inner)),
        on_success_(on_success.is_none() ? std::optional<CallableRef>()
                                         : CallableRef::kept_by(keep, std::move(on_success))),
        on_failure_(on_failure.is_none() ? std::optional<CallableRef>()
                                         : CallableRef::kept_by(keep, std::move(on_failure))) {}

  void setup() override { inner_->setup(); }
  void on_client_connect_success() override {
    inner_->on_client_connect_success();
    if (on_success_) with_gil("sink on_client_connect_success", [&] { on_success_->get()(); });
  }
  void on_client_connect_failure(std::exception_ptr error) override {
    if (!on_failure_) return inner_->on_client_connect_failure(error);
    with_gil("sink on_client_connect_failure",
             [&] { on_failure_->get()(exception_to_python(error)); });
  }
  void add(const Value& value, const Value& key, std::int64_t timestamp, const Headers& headers,
           const std::string& topic, std::int32_t partition, std::int64_t offset) override {
    inner_->add(value, key, timestamp, headers, topic, partition, offset);
  }
  void flush() override { inner_->flush(); }
  void on_paused() override { inner_->on_paused(); }

 private:
  std::shared_ptr<Sink> inner_;
  std::optional<CallableRef> on_success_, on_failure_;
};

NativeSink native(std::shared_ptr<Sink> sink, nb::object keep, nb::object on_success,
                  nb::object on_failure) {
  if (on_success.is_none() && on_failure.is_none()) return NativeSink{std::move(sink), keep};
  auto wrapped = std::make_shared<ConnectCallbacks>(std::move(sink), keep, std::move(on_success),
                                                    std::move(on_failure));
  return NativeSink{std::move(wrapped), std::move(keep)};
}

std::vector<std::string> string_list(nb::handle h, std::string_view what) {
  if (PyUnicode_Check(h.ptr())) {
    std::string s = nb::cast<std::string>(h);
    return s.empty() ? std::vector<std::string>{} : std::vector<std::string>{std::move(s)};
  }
  std::vector<std::string> out;
  for (nb::handle item : nb::iter(h)) {
    if (!PyUnicode_Check(item.ptr())) {
      throw ConfigError(std::string(what) + " takes str column names, not '" +
                        nb::type_name(item.type()).c_str() + "'");
    }
    out.push_back(nb::cast<std::string>(item));
  }
  return out;
}

std::string string_of(nb::handle h, std::string_view what) {
  if (!PyUnicode_Check(h.ptr())) {
    throw ValueTypeError(std::string(what) + " must return a str, not '" +
                         nb::type_name(h.type()).c_str() + "'");
  }
  return nb::cast<std::string>(h);
}

}  // namespace

void bind_sinks(nb::module_& m) {
  nb::class_<NativeSink>(m, "_NativeSink", nb::type_slots(keep_slots<NativeSink>()));

  m.def(
      "_postgresql_sink",
      [](std::string host, int port, std::string dbname, std::string user, std::string password,
         nb::object table_name, std::string schema_name, bool schema_auto_update,
         double connection_timeout, double statement_timeout, nb::object primary_key_columns,
         bool upsert_on_primary_key, bool on_conflict_do_nothing, bool include_metadata,
         double retry_after, std::map<std::string, std::string> connection_params,
         nb::object on_success, nb::object on_failure) {
        nb::object keep = nb::list();
        PostgreSQLSinkOptions o;
        o.host = std::move(host);
        o.port = port;
        o.dbname = std::move(dbname);
        o.user = std::move(user);
        o.password = std::move(password);
        if (PyCallable_Check(table_name.ptr())) {
          CallableRef fn = CallableRef::kept_by(keep, std::move(table_name));
          o.table_name_fn = [fn](const SinkItem& item) {
            return with_gil("PostgreSQLSink table_name", [&] {
              return string_of(fn.get()(sink_item(item)), "PostgreSQLSink table_name");
            });
          };
        } else {
          o.table_name = nb::cast<std::string>(table_name);
        }
        o.schema_name = std::move(schema_name);
        o.schema_auto_update = schema_auto_update;
        o.connection_timeout = seconds_to_ms(connection_timeout);
        o.statement_timeout = seconds_to_ms(statement_timeout);
        if (PyCallable_Check(primary_key_columns.ptr())) {
          CallableRef fn = CallableRef::kept_by(keep, std::move(primary_key_columns));
          o.primary_key_fn = [fn](const SinkItem& item) {
            return with_gil("PostgreSQLSink primary_key_columns", [&] {
              return string_list(fn.get()(sink_item(item)), "PostgreSQLSink primary_key_columns");
            });
          };
        } else {
          o.primary_key_columns = string_list(primary_key_columns, "primary_key_columns");
        }
        o.upsert_on_primary_key = upsert_on_primary_key;
        o.on_conflict_do_nothing = on_conflict_do_nothing;
        o.include_metadata = include_metadata;
        o.retry_after = seconds_to_ms(retry_after);
        o.connection_params = std::move(connection_params);
        return native(std::make_shared<PostgreSQLSink>(std::move(o)), keep, std::move(on_success),
                      std::move(on_failure));
      },
      nb::arg("host"), nb::arg("port"), nb::arg("dbname"), nb::arg("user"), nb::arg("password"),
      nb::arg("table_name"), nb::arg("schema_name"), nb::arg("schema_auto_update"),
      nb::arg("connection_timeout"), nb::arg("statement_timeout"), nb::arg("primary_key_columns"),
      nb::arg("upsert_on_primary_key"), nb::arg("on_conflict_do_nothing"),
      nb::arg("include_metadata"), nb::arg("retry_after"), nb::arg("connection_params"),
      nb::arg("on_client_connect_success").none(), nb::arg("on_client_connect_failure").none());

  m.def(
      "_csv_sink",
      [](std::string path, std::string dialect, nb::object key_serializer,
         nb::object value_serializer, nb::object on_success, nb::object on_failure) {
        nb::object keep = nb::list();
        CSVSinkOptions o;
        o.dialect = std::move(dialect);
        const auto wrap = [&keep](nb::object f, StringsAs strings,
                                  const char* what) -> std::function<std::string(const Value&)> {
          if (f.is_none()) return {};
          CallableRef fn = CallableRef::kept_by(keep, std::move(f));
          return [fn, strings, what](const Value& v) {
            return with_gil(what, [&] { return string_of(fn.get()(to_python(v, strings)), what); });
          };
        };
        o.key_serializer =
            wrap(std::move(key_serializer), StringsAs::bytes, "CSVSink key_serializer");
        o.value_serializer =
            wrap(std::move(value_serializer), StringsAs::text, "CSVSink value_serializer");
        return native(std::make_shared<CSVSink>(std::move(path), std::move(o)), keep,
                      std::move(on_success), std::move(on_failure));
      },
      nb::arg("path"), nb::arg("dialect"), nb::arg("key_serializer").none(),
      nb::arg("value_serializer").none(), nb::arg("on_client_connect_success").none(),
      nb::arg("on_client_connect_failure").none());

  m.def(
      "_file_sink",
      [](std::string directory, std::string file_extension, bool compress, bool append,
         std::uint64_t max_file_bytes, double max_file_age, nb::object dumps, nb::object on_success,
         nb::object on_failure) {
        nb::object keep = nb::list();
        FileSinkOptions o;
        o.directory = std::move(directory);
        o.file_extension = std::move(file_extension);
        o.compress = compress;
        o.append = append;
        o.max_file_bytes = max_file_bytes;
        o.max_file_age = seconds_to_ms(max_file_age);
        if (!dumps.is_none()) {
          CallableRef fn = CallableRef::kept_by(keep, std::move(dumps));
          // Quix Streams' JSONFormat calls dumps with the line's object.
          o.dumps = [fn](const SinkItem& item) {
            return with_gil("FileSink dumps", [&] {
              nb::dict line;
              line["_timestamp"] = item.timestamp;
              line["_key"] = to_python(item.key);
              line["_value"] = to_python(item.value);
              return string_of(fn.get()(line), "FileSink dumps");
            });
          };
        }
        return native(std::make_shared<FileSink>(std::move(o)), keep, std::move(on_success),
                      std::move(on_failure));
      },
      nb::arg("directory"), nb::arg("file_extension"), nb::arg("compress"), nb::arg("append"),
      nb::arg("max_file_bytes"), nb::arg("max_file_age"), nb::arg("dumps").none(),
      nb::arg("on_client_connect_success").none(), nb::arg("on_client_connect_failure").none());

  m.def(
      "_mqtt_sink",
      [](std::string client_id, std::string server, int port, std::string topic_root,
         std::string username, std::string password, std::string version, bool tls_enabled,
         nb::object key_serializer, nb::object value_serializer, int qos, double flush_timeout,
         nb::object retain, double retry_after, nb::object on_success, nb::object on_failure) {
        nb::object keep = nb::list();
        MQTTSinkOptions o;
        o.connection =
            mqtt_connection(std::move(client_id), std::move(server), port, std::move(username),
                            std::move(password), std::move(version), tls_enabled);
        o.topic_root = std::move(topic_root);
        o.qos = qos;
        o.flush_timeout = seconds_to_ms(flush_timeout);
        o.retry_after = seconds_to_ms(retry_after);
        const auto wrap = [&keep](nb::object f, StringsAs strings,
                                  const char* what) -> std::function<std::string(const Value&)> {
          if (f.is_none()) return {};
          CallableRef fn = CallableRef::kept_by(keep, std::move(f));
          return [fn, strings, what](const Value& v) {
            return with_gil(what, [&] {
              nb::object out = fn.get()(to_python(v, strings));
              if (PyBytes_Check(out.ptr()))
                return nb::cast<std::string>(nb::str(out.attr("decode")()));
              return string_of(out, what);
            });
          };
        };
        o.key_serializer =
            wrap(std::move(key_serializer), StringsAs::bytes, "MQTTSink key_serializer");
        o.value_serializer =
            wrap(std::move(value_serializer), StringsAs::text, "MQTTSink value_serializer");
        if (PyCallable_Check(retain.ptr())) {
          CallableRef fn = CallableRef::kept_by(keep, std::move(retain));
          o.retain_fn = [fn](const Value& v) {
            return with_gil("MQTTSink retain",
                            [&] { return PyObject_IsTrue(fn.get()(to_python(v)).ptr()) == 1; });
          };
        } else {
          o.retain = PyObject_IsTrue(retain.ptr()) == 1;
        }
        return native(std::make_shared<MQTTSink>(std::move(o)), keep, std::move(on_success),
                      std::move(on_failure));
      },
      nb::arg("client_id"), nb::arg("server"), nb::arg("port"), nb::arg("topic_root"),
      nb::arg("username"), nb::arg("password"), nb::arg("version"), nb::arg("tls_enabled"),
      nb::arg("key_serializer").none(), nb::arg("value_serializer").none(), nb::arg("qos"),
      nb::arg("flush_timeout"), nb::arg("retain"), nb::arg("retry_after"),
      nb::arg("on_client_connect_success").none(), nb::arg("on_client_connect_failure").none());
}

}  // namespace streamframe::python
