// Application, topics and the producer (PY-02). The Python class streamframe.Application maps
// Quix Streams' arguments onto this one's, which takes the engine's units.
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "convert.hpp"
#include "errors.hpp"
#include "frame.hpp"
#include "serdes.hpp"
#include "sources.hpp"
#include "streamframe/application.hpp"

namespace streamframe::python {

namespace {

using std::chrono::milliseconds;

// What an error callback receives as its second argument (Quix: the Row being processed, or
// the consumed message).
struct PyRow {
  nb::object value;
  nb::object key;
  std::int64_t timestamp = 0;
  nb::object headers;
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

nb::object row_of(const ErrorContext& ctx) {
  PyRow row;
  if (ctx.message != nullptr) {
    const RawMessage& m = *ctx.message;
    row.topic = m.topic;
    row.partition = m.partition;
    row.offset = m.offset;
  }
  if (ctx.row != nullptr) {
    row.value = to_python(ctx.row->value);
    row.key = to_python(ctx.row->key, StringsAs::bytes);
    row.timestamp = ctx.row->timestamp;
    row.headers = ctx.row->headers.empty() ? nb::none() : headers_to_python(ctx.row->headers);
  } else if (ctx.message != nullptr) {
    const RawMessage& m = *ctx.message;
    row.value = m.value ? nb::object(nb::bytes(m.value->data(), m.value->size())) : nb::none();
    row.key = m.key ? nb::object(nb::bytes(m.key->data(), m.key->size())) : nb::none();
    row.timestamp = m.timestamp;
    row.headers = m.headers.empty() ? nb::none() : headers_to_python(m.headers);
  } else {
    return nb::none();
  }
  return nb::cast(std::move(row));
}

// Quix: callback(exc, row_or_message, logger) -> bool, True to skip the record.
ErrorCallback wrap_error_callback(nb::handle keep, nb::object f, std::string what) {
  if (f.is_none()) return nullptr;
  CallableRef fn = CallableRef::kept_by(keep, std::move(f));
  return [fn, what](const std::exception& e, const ErrorContext& ctx) -> ErrorAction {
    CallbackGil gil;
    try {
      nb::object logger = nb::module_::import_("logging").attr("getLogger")("streamframe");
      nb::object skip = fn.get()(exception_to_python(e), row_of(ctx), logger);
      const int truth = PyObject_IsTrue(skip.ptr());
      if (truth < 0) throw nb::python_error();
      return truth == 1 ? ErrorAction::skip : ErrorAction::stop;
    } catch (nb::python_error& error) {
      throw PythonError(std::move(error), what);
    }
  };
}

// Quix's (confluent-kafka's) oauth_cb: called with sasl.oauthbearer.config, returns (token,
// expiry in seconds since the epoch[, principal[, extensions dict]]). It runs on librdkafka's
// background thread, so it holds its callable itself (not through the application's `keep`).
OAuthBearerTokenCallback oauth_token_callback(nb::object f) {
  CallableRef fn = CallableRef::owned(std::move(f));
  return [fn](const std::string& config) {
    if (python_finalizing()) throw InvalidOperation("oauth_cb: the Python interpreter is exiting");
    CallbackGil gil;
    const char* shape =
        "oauth_cb must return (token: str, expiry: float seconds since the epoch[, principal: "
        "str[, extensions: dict]])";
    try {
      const nb::object result = fn.get()(config);
      if (!PyTuple_Check(result.ptr())) throw ValueTypeError(shape);
      const auto t = nb::borrow<nb::tuple>(result);
      if (t.size() < 2 || t.size() > 4) throw ValueTypeError(shape);
      OAuthBearerToken token;
      token.value = nb::cast<std::string>(t[0]);
      const auto expiry_ms = static_cast<std::int64_t>(nb::cast<double>(t[1]) * 1000.0);
      token.expires_at =
          std::chrono::system_clock::time_point(std::chrono::milliseconds(expiry_ms));
      if (t.size() > 2 && !t[2].is_none()) token.principal = nb::cast<std::string>(t[2]);
      if (t.size() > 3 && !t[3].is_none()) {
        token.extensions = nb::cast<std::map<std::string, std::string>>(t[3]);
      }
      return token;
    } catch (nb::python_error& e) {
      throw PythonError(std::move(e), "oauth_cb");
    } catch (const nb::cast_error&) {
      throw ValueTypeError(shape);
    }
  };
}

AutoOffsetReset offset_reset_of(const std::string& s) {
  if (s == "latest") return AutoOffsetReset::latest;
  if (s == "earliest") return AutoOffsetReset::earliest;
  if (s == "error") return AutoOffsetReset::error;
  throw ConfigError("auto_offset_reset is 'latest', 'earliest' or 'error', not '" + s + "'");
}

ProcessingGuarantee guarantee_of(const std::string& s) {
  if (s == "at-least-once" || s == "at_least_once") return ProcessingGuarantee::at_least_once;
  if (s == "exactly-once" || s == "exactly_once") return ProcessingGuarantee::exactly_once;
  throw ConfigError("processing_guarantee is 'at-least-once' or 'exactly-once', not '" + s + "'");
}

// Quix's serde names onto the engine's.
std::string serde_name(const std::string& s) {
  if (s == "integer") return "int";
  return s;
}

// A bytes deserializer's strings are bytes in Python; a Python deserializer's values are what
// it returned, which came in as text or bytes alike (Δ: bytes come back as str).
StringsAs strings_of(nb::handle deserializer) {
  return PyUnicode_Check(deserializer.ptr()) && nb::cast<std::string>(deserializer) == "bytes"
             ? StringsAs::bytes
             : StringsAs::text;
}

// Destroys `object` without the GIL when this thread holds it: a librdkafka handle's destruction
// joins its background thread, which may be inside oauth_cb waiting for the GIL.
template <class T>
void destroy_without_gil(std::unique_ptr<T>& object) {
  if (!object) return;
  if (python_finalizing() || PyGILState_Check() == 0) {
    object.reset();
    return;
  }
  nb::gil_scoped_release release;
  object.reset();
}

// Python's handle on a producer or consumer the application made (see destroy_without_gil).
template <class Client>
struct PyClient {
  explicit PyClient(Client c) : client(std::make_unique<Client>(std::move(c))) {}
  ~PyClient() { destroy_without_gil(client); }
  PyClient(PyClient&&) noexcept = default;
  PyClient& operator=(PyClient&&) noexcept = default;
  PyClient(const PyClient&) = delete;
  PyClient& operator=(const PyClient&) = delete;
  Client& operator*() const { return *client; }
  std::unique_ptr<Client> client;
};
using PyProducer = PyClient<Producer>;
using PyConsumer = PyClient<Consumer>;

void bind_producer(nb::module_& m) {
  nb::class_<PyProducer>(m, "Producer")
      .def(
          "produce",
          [](PyProducer& w, const std::string& topic, nb::handle value, nb::handle key,
             nb::handle headers, std::optional<std::int32_t> partition,
             std::optional<std::int64_t> timestamp) {
            const auto v = optional_bytes(value, "value");
            const auto k = optional_bytes(key, "key");
            const Headers h = headers_to_value(headers, "headers");
            nb::gil_scoped_release release;  // a full queue waits for deliveries
            std::optional<std::string_view> kv;
            std::optional<std::string_view> vv;
            if (k) kv = *k;
            if (v) vv = *v;
            (*w).produce(topic, kv, vv, timestamp.value_or(0), h, partition.value_or(-1));
          },
          nb::arg("topic"), nb::arg("value") = nb::none(), nb::arg("key") = nb::none(),
          nb::arg("headers") = nb::none(), nb::arg("partition") = nb::none(),
          nb::arg("timestamp") = nb::none())
      .def(
          "flush",
          [](PyProducer& w, std::optional<double> timeout) {
            const auto ms = milliseconds(static_cast<std::int64_t>(timeout.value_or(30.0) * 1000));
            nb::gil_scoped_release release;
            return (*w).flush(ms);
          },
          nb::arg("timeout") = nb::none())
      .def(
          "__enter__", [](PyProducer& w) -> PyProducer& { return w; }, nb::rv_policy::reference)
      .def("__exit__", [](PyProducer& w, nb::args) {
        nb::gil_scoped_release release;
        (*w).flush();
      });
}

// What poll() returns: confluent_kafka.Message's accessors, as Quix Streams' get_consumer()
// hands them out (raw bytes; timestamp() a (type, ms) pair, 1 = create time).
struct PyMessage {
  ConsumedMessage m;
};

void bind_consumer(nb::module_& m) {
  nb::class_<PyMessage>(m, "Message", "A message read by app.get_consumer().poll().")
      .def("topic", [](const PyMessage& x) { return x.m.topic; })
      .def("partition", [](const PyMessage& x) { return x.m.partition; })
      .def("offset", [](const PyMessage& x) { return x.m.offset; })
      .def("key",
           [](const PyMessage& x) -> nb::object {
             if (!x.m.key) return nb::none();
             return nb::bytes(x.m.key->data(), x.m.key->size());
           })
      .def("value",
           [](const PyMessage& x) -> nb::object {
             if (!x.m.value) return nb::none();
             return nb::bytes(x.m.value->data(), x.m.value->size());
           })
      .def("timestamp", [](const PyMessage& x) { return nb::make_tuple(1, x.m.timestamp); })
      .def("headers",
           [](const PyMessage& x) -> nb::object {
             return x.m.headers.empty() ? nb::none() : headers_to_python(x.m.headers);
           })
      .def("error", [](const PyMessage&) { return nb::none(); })
      .def("__len__", [](const PyMessage& x) { return x.m.value ? x.m.value->size() : 0; });

  nb::class_<PyConsumer>(m, "Consumer")
      .def(
          "subscribe",
          [](PyConsumer& w, std::vector<std::string> topics, nb::object on_assign,
             nb::object on_revoke, nb::object on_lost) {
            if (!on_assign.is_none() || !on_revoke.is_none() || !on_lost.is_none()) {
              raise_not_implemented(
                  "Consumer.subscribe(): on_assign / on_revoke / on_lost are not supported by "
                  "streamframe");
            }
            nb::gil_scoped_release release;
            (*w).subscribe(topics);
          },
          nb::arg("topics"), nb::arg("on_assign") = nb::none(), nb::arg("on_revoke") = nb::none(),
          nb::arg("on_lost") = nb::none())
      .def(
          "poll",
          [](PyConsumer& w, std::optional<double> timeout) -> nb::object {
            // confluent_kafka: None waits until a message comes.
            const auto ms = timeout ? milliseconds(static_cast<std::int64_t>(*timeout * 1000))
                                    : milliseconds(std::numeric_limits<std::int32_t>::max());
            std::optional<ConsumedMessage> message;
            {
              nb::gil_scoped_release release;
              message = (*w).poll(ms);
            }
            if (!message) return nb::none();
            return nb::cast(PyMessage{std::move(*message)});
          },
          nb::arg("timeout") = nb::none())
      .def(
          "store_offsets",
          [](PyConsumer& w, nb::object message, nb::object offsets) {
            if (!offsets.is_none()) {
              raise_not_implemented(
                  "Consumer.store_offsets(offsets=) is not supported by streamframe: pass the "
                  "message");
            }
            if (message.is_none())
              throw nb::type_error("Consumer.store_offsets() needs the message");
            const ConsumedMessage& m = nb::cast<const PyMessage&>(message).m;
            nb::gil_scoped_release release;
            (*w).store_offsets(m);
          },
          nb::arg("message") = nb::none(), nb::arg("offsets") = nb::none())
      .def(
          "commit",
          [](PyConsumer& w, nb::object message, nb::object offsets,
             bool /*asynchronous: always synchronous here*/) {
            if (!offsets.is_none()) {
              raise_not_implemented("Consumer.commit(offsets=) is not supported by streamframe");
            }
            const ConsumedMessage* m =
                message.is_none() ? nullptr : &nb::cast<const PyMessage&>(message).m;
            nb::gil_scoped_release release;
            if (m != nullptr) {
              (*w).commit(*m);
            } else {
              (*w).commit();
            }
          },
          nb::arg("message") = nb::none(), nb::arg("offsets") = nb::none(),
          nb::arg("asynchronous") = true)
      .def("assignment", [](const PyConsumer& w) { return (*w).assignment(); })
      .def("close",
           [](PyConsumer& w) {
             nb::gil_scoped_release release;
             (*w).close();
           })
      .def(
          "__enter__", [](PyConsumer& w) -> PyConsumer& { return w; }, nb::rv_policy::reference)
      .def("__exit__", [](PyConsumer& w, nb::args) {
        nb::gil_scoped_release release;
        (*w).close();
      });
}

// The engine's Application and the Python callables its pipeline keeps (frame.hpp), and its
// sources written in Python (they hold no Python reference between runs: sources.hpp).
// The Application is destroyed without the GIL (destroy_without_gil), after the Python objects.
struct PyApp {
  PyApp(std::unique_ptr<Application> a, nb::object k) : app(std::move(a)), keep(std::move(k)) {}
  ~PyApp() {
    sources.clear();
    keep.reset();
    destroy_without_gil(app);
  }
  PyApp(const PyApp&) = delete;
  PyApp& operator=(const PyApp&) = delete;
  std::unique_ptr<Application> app;
  nb::object keep;
  std::vector<std::shared_ptr<PythonSourceRun>> sources;
};

// Pins the application's Python sources for one run() (PythonSource::begin_run); needs the GIL
// when made and destroyed.
class SourcesRun {
 public:
  explicit SourcesRun(PyApp& app) : app_(app) {
    for (auto& s : app_.sources) s->begin_run();
  }
  ~SourcesRun() {
    for (auto& s : app_.sources) s->end_run();
  }
  SourcesRun(const SourcesRun&) = delete;
  SourcesRun& operator=(const SourcesRun&) = delete;
  // Quix Streams fails the run when a source's stop() raised; the engine only logged it.
  void rethrow_stop_errors() const {
    for (const auto& s : app_.sources) {
      if (auto error = s->take_stop_error()) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        }
        throw SourceException("source '" + s->source_name() + "' failed: " + what, s->source_name(),
                              error);
      }
    }
  }

 private:
  PyApp& app_;
};

// A collected output as Python, looking like the frame it left (`repr`): `_value` and `_key`
// are bytes where that frame's are. With metadata, `_headers` as Quix Streams gives them: None
// when there are none, else a list of (name, bytes) tuples.
nb::object output_to_python(const Value& v, bool metadata, Representation repr) {
  if (!v.is_object()) return to_python(v);
  nb::dict out;
  for (const auto& [name, field] : v.as_object()) {
    nb::object item;
    if (name == "_value") {
      item = to_python(field, repr.values);
    } else if (metadata && name == "_key") {
      item = to_python(field, repr.keys);
    } else if (metadata && name == "_headers" && field.is_array()) {
      item = nb::none();
      if (!field.as_array().empty()) {
        nb::list list;
        for (const Value& pair : field.as_array()) {
          const auto& kv = pair.as_array();
          list.append(nb::make_tuple(to_python(kv.at(0)), to_python(kv.at(1), StringsAs::bytes)));
        }
        item = std::move(list);
      }
    } else {
      item = to_python(field);
    }
    out[nb::str(name.data(), name.size())] = std::move(item);
  }
  return out;
}

}  // namespace

void bind_application(nb::module_& m) {
  nb::class_<PyRow>(m, "Row", "The record an error callback is about.")
      .def_ro("value", &PyRow::value)
      .def_ro("key", &PyRow::key)
      .def_ro("timestamp", &PyRow::timestamp)
      .def_ro("headers", &PyRow::headers)
      .def_ro("topic", &PyRow::topic)
      .def_ro("partition", &PyRow::partition)
      .def_ro("offset", &PyRow::offset);

  nb::class_<PyTopic>(m, "Topic")
      .def_prop_ro("name", [](const PyTopic& t) { return t.topic.name(); })
      .def_prop_ro("num_partitions",
                   [](const PyTopic& t) { return t.topic.config().num_partitions; })
      .def("__repr__", [](const PyTopic& t) { return "<Topic " + t.topic.name() + ">"; });

  bind_producer(m);
  bind_consumer(m);

  nb::class_<PyApp>(m, "Application", nb::type_slots(keep_slots<PyApp>()))
      .def(
          "__init__",
          [](PyApp* self, const std::string& broker_address, const std::string& consumer_group,
             const std::string& state_dir, const std::string& auto_offset_reset,
             const std::string& processing_guarantee, std::int64_t commit_interval_ms,
             std::int64_t commit_every, std::int64_t consumer_poll_timeout_ms,
             std::int64_t producer_poll_timeout_ms, std::int64_t request_timeout_ms,
             std::int64_t topic_create_timeout_ms, bool auto_create_topics,
             bool use_changelog_topics, std::map<std::string, std::string> consumer_extra_config,
             std::map<std::string, std::string> producer_extra_config,
             std::optional<std::string> loglevel, nb::object on_consumer_error,
             nb::object on_processing_error, nb::object on_producer_error,
             nb::object on_message_processed, int num_workers,
             std::int64_t max_partition_buffer_size,
             std::optional<std::int64_t> state_memory_budget, const std::string& log_format,
             int metrics_port, const std::string& metrics_bind_address,
             std::int64_t liveness_timeout_ms,
             std::optional<std::map<std::string, std::string>> connection, nb::object oauth_cb) {
            nb::list keep;
            ApplicationConfig c;
            c.broker_address = broker_address;
            if (connection) c.connection = ConnectionConfig::from_librdkafka(*connection);
            if (!oauth_cb.is_none()) {
              if (!c.connection) throw ConfigError("oauth_cb needs a ConnectionConfig");
              c.connection->oauth_token_callback = oauth_token_callback(std::move(oauth_cb));
            }
            c.consumer_group = consumer_group;
            c.state_dir = state_dir;
            c.auto_offset_reset = offset_reset_of(auto_offset_reset);
            c.processing_guarantee = guarantee_of(processing_guarantee);
            c.commit_interval = milliseconds(commit_interval_ms);
            c.commit_every = commit_every;
            c.consumer_poll_timeout = milliseconds(consumer_poll_timeout_ms);
            c.producer_poll_timeout = milliseconds(producer_poll_timeout_ms);
            c.request_timeout = milliseconds(request_timeout_ms);
            c.topic_create_timeout = milliseconds(topic_create_timeout_ms);
            c.auto_create_topics = auto_create_topics;
            c.use_changelog_topics = use_changelog_topics;
            c.consumer_extra_config = std::move(consumer_extra_config);
            c.producer_extra_config = std::move(producer_extra_config);
            c.loglevel = std::move(loglevel);
            if (log_format == "json") {
              c.log_format = LogFormat::json;
            } else if (log_format != "text") {
              throw ConfigError("log_format is 'text' or 'json', not '" + log_format + "'");
            }
            c.on_consumer_error =
                wrap_error_callback(keep, std::move(on_consumer_error), "on_consumer_error");
            c.on_processing_error =
                wrap_error_callback(keep, std::move(on_processing_error), "on_processing_error");
            c.on_producer_error =
                wrap_error_callback(keep, std::move(on_producer_error), "on_producer_error");
            if (!on_message_processed.is_none()) {
              CallableRef fn = CallableRef::kept_by(keep, std::move(on_message_processed));
              c.on_message_processed = [fn](const std::string& topic, std::int32_t partition,
                                            std::int64_t offset) {
                CallbackGil gil;
                try {
                  fn.get()(topic, partition, offset);
                } catch (nb::python_error& e) {
                  throw PythonError(std::move(e), "on_message_processed");
                }
              };
            }
            c.num_workers = num_workers;
            c.metrics_port = metrics_port;
            c.metrics_bind_address = metrics_bind_address;
            c.liveness_timeout = milliseconds(liveness_timeout_ms);
            c.max_partition_buffer_size = static_cast<std::size_t>(max_partition_buffer_size);
            if (state_memory_budget)
              c.state_memory_budget = static_cast<std::size_t>(*state_memory_budget);
            std::unique_ptr<Application> app;
            {
              // Its clients may ask oauth_cb for tokens on librdkafka's threads at once.
              nb::gil_scoped_release release;
              app = std::make_unique<Application>(std::move(c));
            }
            new (self) PyApp(std::move(app), std::move(keep));
          },
          nb::kw_only(), nb::arg("broker_address"), nb::arg("consumer_group"), nb::arg("state_dir"),
          nb::arg("auto_offset_reset"), nb::arg("processing_guarantee"),
          nb::arg("commit_interval_ms"), nb::arg("commit_every"),
          nb::arg("consumer_poll_timeout_ms"), nb::arg("producer_poll_timeout_ms"),
          nb::arg("request_timeout_ms"), nb::arg("topic_create_timeout_ms"),
          nb::arg("auto_create_topics"), nb::arg("use_changelog_topics"),
          nb::arg("consumer_extra_config"), nb::arg("producer_extra_config"),
          nb::arg("loglevel").none(), nb::arg("on_consumer_error").none(),
          nb::arg("on_processing_error").none(), nb::arg("on_producer_error").none(),
          nb::arg("on_message_processed").none(), nb::arg("num_workers"),
          nb::arg("max_partition_buffer_size"), nb::arg("state_memory_budget").none(),
          nb::arg("log_format"), nb::arg("metrics_port"), nb::arg("metrics_bind_address"),
          nb::arg("liveness_timeout_ms"), nb::arg("connection").none(),
          nb::arg("oauth_cb").none() = nb::none())
      .def(
          "topic",
          [](PyApp& app, std::string name, nb::object value_deserializer,
             nb::object key_deserializer, nb::object value_serializer, nb::object key_serializer,
             std::optional<int> num_partitions, std::optional<int> replication_factor,
             std::optional<std::map<std::string, std::string>> extra_config,
             nb::object timestamp_extractor) {
            TopicOptions o;
            // A serde's name (native), or a Python object called per message.
            auto deserializer = [&](nb::object d, const char* field) -> SerdeRef<Deserializer> {
              if (PyUnicode_Check(d.ptr())) return serde_name(nb::cast<std::string>(d));
              if (nb::isinstance<NativeDeserializer>(d))
                return nb::cast<const NativeDeserializer&>(d).deserializer;
              return wrap_deserializer(app.keep, std::move(d), name, field);
            };
            auto serializer = [&](nb::object s, const char* field) -> SerdeRef<Serializer> {
              if (PyUnicode_Check(s.ptr())) return serde_name(nb::cast<std::string>(s));
              if (nb::isinstance<NativeSerializer>(s))
                return nb::cast<const NativeSerializer&>(s).serializer;
              return wrap_serializer(app.keep, std::move(s), name, field);
            };
            const Representation repr{strings_of(value_deserializer), strings_of(key_deserializer)};
            o.value_deserializer = deserializer(std::move(value_deserializer), "value");
            o.key_deserializer = deserializer(std::move(key_deserializer), "key");
            o.value_serializer = serializer(std::move(value_serializer), "value");
            o.key_serializer = serializer(std::move(key_serializer), "key");
            if (num_partitions || replication_factor || extra_config) {
              TopicConfig config;
              config.num_partitions = num_partitions.value_or(1);
              config.replication_factor = replication_factor.value_or(1);
              if (extra_config) config.extra_config = std::move(*extra_config);
              o.config = std::move(config);
            }
            if (!timestamp_extractor.is_none()) {
              CallableRef fn = CallableRef::kept_by(app.keep, std::move(timestamp_extractor));
              o.timestamp_extractor = [fn, repr](const Value& v, const Headers& h, std::int64_t t,
                                                 TimestampType type) -> std::int64_t {
                CallbackGil gil;
                try {
                  nb::object out = fn.get()(to_python(v, repr.values),
                                            h.empty() ? nb::none() : headers_to_python(h), t,
                                            static_cast<int>(type));
                  return nb::cast<std::int64_t>(out);
                } catch (nb::python_error& e) {
                  throw PythonError(std::move(e), "timestamp_extractor");
                } catch (const std::bad_cast&) {
                  throw ValueTypeError("timestamp_extractor must return an int (milliseconds)");
                }
              };
            }
            std::optional<Topic> topic;
            {
              nb::gil_scoped_release release;  // declaring it asks the cluster
              topic.emplace(app.app->topic(std::move(name), o));
            }
            return PyTopic{std::move(*topic), repr};
          },
          nb::arg("name"), nb::kw_only(), nb::arg("value_deserializer") = "json",
          nb::arg("key_deserializer") = "bytes", nb::arg("value_serializer") = "json",
          nb::arg("key_serializer") = "bytes", nb::arg("num_partitions") = nb::none(),
          nb::arg("replication_factor") = nb::none(), nb::arg("extra_config") = nb::none(),
          nb::arg("timestamp_extractor") = nb::none())
      .def(
          "dataframe",
          [](PyApp& app, const PyTopic& topic) {
            std::optional<StreamingDataFrame> frame;
            {
              nb::gil_scoped_release release;
              frame.emplace(app.app->dataframe(topic.topic));
            }
            return make_frame(std::move(*frame), topic.repr, app.keep);
          },
          nb::arg("topic"))
      .def(
          "add_source",
          [](PyApp& app, const PySourceHandle& handle, nb::object source, const PyTopic& topic) {
            // SRC-01: the source produces to `topic` (Python picks its default topic).
            std::optional<Topic> t;
            {
              nb::gil_scoped_release release;
              t.emplace(app.app->add_source(handle.source, topic.topic));
            }
            (void)CallableRef::kept_by(app.keep, std::move(source));
            if (handle.python) app.sources.push_back(handle.python);
            return PyTopic{std::move(*t), topic.repr};
          },
          nb::arg("impl"), nb::arg("source"), nb::arg("topic"))
      .def(
          "run",
          [](PyApp& app, std::int64_t count, double timeout, bool metadata,
             bool collect) -> nb::object {
            RunOptions options;
            options.count = static_cast<std::size_t>(count);
            options.timeout = milliseconds(static_cast<std::int64_t>(timeout * 1000));
            options.metadata = metadata;
            options.collect = collect;
            std::vector<std::uint32_t> labels;
            options.output_labels = &labels;
            std::vector<Value> out;
            {
              SourcesRun sources(app);
              {
                // PY-03: taken again only inside Python callables and sources
                nb::gil_scoped_release release;
                out = app.app->run(options);
              }
              release_dropped_errors();
              sources.rethrow_stop_errors();
            }
            if (!collect) return nb::none();
            nb::list result;
            for (std::size_t i = 0; i < out.size(); ++i) {
              result.append(output_to_python(out[i], metadata, representation_of(labels.at(i))));
            }
            return result;
          },
          nb::kw_only(), nb::arg("count") = 0, nb::arg("timeout") = 0.0,
          nb::arg("metadata") = false, nb::arg("collect") = true)
      .def(
          "stop", [](PyApp& app, bool fail) { app.app->stop(fail); }, nb::arg("fail") = false)
      .def("get_producer",
           [](PyApp& app) {
             nb::gil_scoped_release release;
             return PyProducer(app.app->get_producer());
           })
      .def(
          "get_consumer",
          [](PyApp& app, bool auto_commit_enable) {
            nb::gil_scoped_release release;
            return PyConsumer(app.app->get_consumer(auto_commit_enable));
          },
          nb::arg("auto_commit_enable") = true)
      .def("clear_state",
           [](PyApp& app) {
             nb::gil_scoped_release release;
             app.app->clear_state();
           })
      .def("delete_internal_topics",
           [](PyApp& app) {
             nb::gil_scoped_release release;
             return app.app->delete_internal_topics();
           })
      .def_prop_ro("bootstrap_servers", [](PyApp& app) { return app.app->bootstrap_servers(); });
}

}  // namespace streamframe::python
