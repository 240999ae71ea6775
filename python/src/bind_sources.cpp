// Sources written in Python (SRC-01..04) with Quix Streams' classes: streamframe.sources.Source
// (python/streamframe/sources) runs as a PythonSource, the engine's Source, in a thread of its
// own. Each call into Python (run, setup and the connect callbacks, cleanup, stop) takes the
// GIL; Python's produce() and flush() call back into the engine and release the GIL while
// they may block.
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "callables.hpp"
#include "convert.hpp"
#include "errors.hpp"
#include "frame.hpp"
#include "sinks.hpp"
#include "sources.hpp"
#include "streamframe/csv.hpp"
#include "streamframe/kafka_replicator.hpp"
#include "streamframe/mqtt.hpp"

namespace streamframe::python {

namespace {

using std::chrono::milliseconds;

nb::object bytes_or_none(const std::optional<std::string>& s) {
  return s ? nb::object(nb::bytes(s->data(), s->size())) : nb::none();
}

// The sources whose thread is between setup() and the end of cleanup(); the GIL guards it. At
// exit, those still there (left behind after their shutdown timeout) get SystemExit raised in
// their thread (_abandon_sources): a thread still running Python code while the interpreter
// finalizes aborts the process.
std::vector<PythonSourceRun*>& in_python() {
  static std::vector<PythonSourceRun*> sources;
  return sources;
}

}  // namespace

template <class Base>
PythonSource<Base>::PythonSource(nb::handle self, std::string name,
                                 std::chrono::milliseconds shutdown_timeout)
    : Base(std::move(name), shutdown_timeout), self_(self.ptr()) {}

template <class Base>
PythonSource<Base>::~PythonSource() {
  if (!pin_.is_valid()) return;
  if (python_finalizing()) {
    (void)pin_.release();  // the interpreter is going: nothing left to release to
    return;
  }
  nb::gil_scoped_acquire gil;
  pin_.reset();
}

template <class Base>
std::string PythonSource<Base>::what(const char* method) const {
  return "source '" + Base::name() + "' " + method;
}

template <class Base>
void PythonSource<Base>::setup() {
  with_gil(what("setup"), [&] {
    thread_ident_ = PyThread_get_thread_ident();
    in_python().push_back(this);
    nb::handle self(self_);
    self.attr("setup")();
    self.attr("_on_client_connect_success")();
  });
}

template <class Base>
void PythonSource<Base>::on_client_connect_failure(std::exception_ptr error) {
  with_gil(what("on_client_connect_failure"), [&] {
    nb::handle(self_).attr("_on_client_connect_failure")(exception_to_python(error));
  });
}

template <class Base>
void PythonSource<Base>::run() {
  with_gil(what("run"), [&] { nb::handle(self_).attr("run")(); });
}

template <class Base>
void PythonSource<Base>::cleanup(bool failed) {
  // The last call of the source's thread into Python: the pin goes whatever cleanup does.
  with_gil(what("cleanup"), [&] {
    try {
      nb::handle(self_).attr("cleanup")(failed);
    } catch (...) {
      leave_thread();
      throw;
    }
    leave_thread();
  });
}

template <class Base>
void PythonSource<Base>::leave_thread() {
  auto& sources = in_python();
  sources.erase(std::remove(sources.begin(), sources.end(), this), sources.end());
  thread_ident_ = 0;
  pin_.reset();  // last: it may be the last reference to the Python object
}

template <class Base>
void PythonSource<Base>::stop() {
  CallbackGil gil;
  stop_called_ = true;
  try {
    nb::handle(self_).attr("stop")();
  } catch (nb::python_error& e) {
    // Quix Streams reports it as the source's failure; the application still shuts down.
    try {
      nb::module_::import_("logging")
          .attr("getLogger")("streamframe.sources")
          .attr("error")("source '%s': stop() raised %r", Base::name(), e.value());
    } catch (nb::python_error&) {
    }
    stop_error_ = std::make_exception_ptr(PythonError(std::move(e), what("stop")));
  }
}

template <class Base>
void PythonSource<Base>::begin_run() {
  pin_ = nb::borrow(self_);
  stop_called_ = false;
  stop_error_ = nullptr;
}

template <class Base>
void PythonSource<Base>::end_run() {
  // stop() is called for every source whose thread started; one that never started is not
  // going to drop the pin itself.
  if (!stop_called_) pin_.reset();
  stop_error_ = nullptr;
}

template class PythonSource<Source>;
template class PythonSource<StatefulSource>;

namespace {

StatefulSource& stateful(const PySourceHandle& h) {
  if (h.stateful == nullptr) {
    throw InvalidOperation("source '" + h.source->name() + "' has no state (not a StatefulSource)");
  }
  return *h.stateful;
}

template <class Base>
PySourceHandle python_source(nb::handle source, std::string name, milliseconds shutdown_timeout) {
  auto s = std::make_shared<PythonSource<Base>>(source, std::move(name), shutdown_timeout);
  PySourceHandle h{s, s};
  if constexpr (std::is_base_of_v<StatefulSource, Base>) h.stateful = s.get();
  return h;
}

// The engine's MQTTSource with Quix Streams' connect callbacks, Python callables.
class PyMQTTSource final : public MQTTSource {
 public:
  PyMQTTSource(MQTTSourceOptions o, nb::handle keep, nb::object on_success, nb::object on_failure)
      : MQTTSource(std::move(o)),
        on_success_(on_success.is_none() ? std::optional<CallableRef>()
                                         : CallableRef::kept_by(keep, std::move(on_success))),
        on_failure_(on_failure.is_none() ? std::optional<CallableRef>()
                                         : CallableRef::kept_by(keep, std::move(on_failure))) {}
  void on_client_connect_success() override {
    if (on_success_)
      with_gil("MQTTSource on_client_connect_success", [&] { on_success_->get()(); });
  }
  void on_client_connect_failure(std::exception_ptr error) override {
    if (!on_failure_) return MQTTSource::on_client_connect_failure(error);
    with_gil("MQTTSource on_client_connect_failure",
             [&] { on_failure_->get()(exception_to_python(error)); });
  }

 private:
  std::optional<CallableRef> on_success_, on_failure_;
};

// The MQTT message a Python setter receives (streamframe.sources.community.mqtt.MQTTMessage).
nb::object mqtt_message(const MQTTMessage& m) {
  static nb::object cls =
      nb::module_::import_("streamframe.sources.community.mqtt").attr("MQTTMessage");
  return cls(nb::str(m.topic.data(), m.topic.size()), nb::bytes(m.payload.data(), m.payload.size()),
             m.qos, m.retain, static_cast<double>(m.received_ms) / 1000.0);
}

}  // namespace

void bind_sources(nb::module_& m) {
  m.def(
      "_abandon_sources",
      [] {
        nb::object log = nb::module_::import_("logging").attr("getLogger")("streamframe.sources");
        std::size_t n = 0;
        for (PythonSourceRun* s : in_python()) {
          if (s->thread_ident() == 0) continue;
          log.attr("error")("source '%s' still runs at exit: SystemExit is raised in its thread",
                            s->source_name());
          n += static_cast<std::size_t>(
              PyThreadState_SetAsyncExc(s->thread_ident(), PyExc_SystemExit));
        }
        return n;
      },
      "At exit: raises SystemExit in the threads of sources still running; returns how many.");
  m.def(
      "_sources_in_python", [] { return in_python().size(); },
      "How many sources' threads are between setup() and the end of cleanup().");
  nb::class_<PySourceHandle>(m, "SourceImpl", "The engine's side of a streamframe.sources.Source.",
                             nb::type_slots(keep_slots<PySourceHandle>()))
      .def(
          "__init__",
          [](PySourceHandle* h, nb::handle source, std::string name, std::int64_t shutdown_ms,
             bool with_state) {
            const milliseconds timeout(shutdown_ms);
            new (h) PySourceHandle(
                with_state ? python_source<StatefulSource>(source, std::move(name), timeout)
                           : python_source<Source>(source, std::move(name), timeout));
          },
          nb::arg("source"), nb::arg("name"), nb::arg("shutdown_timeout_ms"),
          nb::arg("stateful") = false)
      .def_prop_ro("running", [](const PySourceHandle& h) { return h.source->running(); })
      .def_prop_ro("topic_name", [](const PySourceHandle& h) { return h.source->topic().name(); })
      // The engine's stop: running() turns false (Python's Source.stop calls it).
      .def("stop", [](PySourceHandle& h) { h.source->Source::stop(); })
      .def(
          "serialize",
          [](const PySourceHandle& h, nb::handle key, nb::handle value, nb::handle headers,
             std::optional<std::int64_t> timestamp) {
            const Value k = to_value(key, "Source.serialize() key");
            const Value v = to_value(value, "Source.serialize() value");
            const Headers in = headers_to_value(headers, "Source.serialize() headers");
            // A serializer written in Python takes the GIL again (it is held already).
            const SourceMessage msg = h.source->serialize(k, v, in, timestamp.value_or(0));
            // Quix Streams hands the headers back as given; the value serializer's extra
            // headers (TOP-13) make a new list.
            nb::object out_headers = msg.headers.size() == in.size()
                                         ? nb::borrow(headers)
                                         : headers_to_python(msg.headers);
            return nb::make_tuple(bytes_or_none(msg.key), bytes_or_none(msg.value), out_headers);
          },
          nb::arg("key").none(), nb::arg("value").none(), nb::arg("headers").none(),
          nb::arg("timestamp").none())
      .def(
          "produce",
          [](PySourceHandle& h, nb::handle value, nb::handle key, nb::handle headers,
             std::optional<std::int32_t> partition, std::optional<std::int64_t> timestamp) {
            const auto v = optional_bytes(value, "Source.produce(): value");
            const auto k = optional_bytes(key, "Source.produce(): key");
            const Headers hs = headers_to_value(headers, "Source.produce() headers");
            std::optional<std::string_view> kv;
            std::optional<std::string_view> vv;
            if (k) kv = *k;
            if (v) vv = *v;
            nb::gil_scoped_release release;  // a full queue waits for deliveries
            h.source->produce(vv, kv, hs, partition.value_or(-1), timestamp.value_or(0));
          },
          nb::arg("value").none(), nb::arg("key").none(), nb::arg("headers").none(),
          nb::arg("partition").none(), nb::arg("timestamp").none())
      .def(
          "flush",
          [](PySourceHandle& h, std::optional<double> timeout) {
            // None or negative: until everything is delivered.
            const milliseconds ms =
                timeout && *timeout >= 0
                    ? milliseconds(static_cast<std::int64_t>(std::llround(*timeout * 1000)))
                    : milliseconds(INT_MAX);
            nb::gil_scoped_release release;
            h.source->flush(ms);
          },
          nb::arg("timeout").none())
      // SRC-03: a StatefulSource's state (the engine's SourceState), from the source's thread.
      .def(
          "state_get",
          [](const PySourceHandle& h, nb::handle key, nb::handle default_) -> nb::object {
            Value fallback = to_value(default_, "State.get default");
            return to_python(
                stateful(h).state().get(to_value(key, "State.get key"), std::move(fallback)));
          },
          nb::arg("key").none(), nb::arg("default").none() = nb::none())
      .def(
          "state_set",
          [](const PySourceHandle& h, nb::handle key, nb::handle value) {
            stateful(h).state().set(to_value(key, "State.set key"),
                                    to_value(value, "State.set value"));
          },
          nb::arg("key").none(), nb::arg("value").none())
      .def(
          "state_delete",
          [](const PySourceHandle& h, nb::handle key) {
            stateful(h).state().remove(to_value(key, "State.delete key"));
          },
          nb::arg("key").none())
      .def(
          "state_exists",
          [](const PySourceHandle& h, nb::handle key) {
            return stateful(h).state().exists(to_value(key, "State.exists key"));
          },
          nb::arg("key").none());

  // SRC-05: the engine's CSVSource; the extractors are Python callables, called with the GIL
  // in the source's thread with the row as a dict of str.
  m.def(
      "_csv_source",
      [](std::string path, std::string name, nb::object key_extractor,
         nb::object timestamp_extractor, double delay, double shutdown_timeout,
         std::string dialect) {
        CSVSourceOptions options;
        if (!key_extractor.is_none()) {
          options.key_extractor = wrap_unary(CallableRef::owned(std::move(key_extractor)),
                                             StringsAs::text, "CSVSource key_extractor");
        }
        if (!timestamp_extractor.is_none()) {
          CallableRef fn = CallableRef::owned(std::move(timestamp_extractor));
          options.timestamp_extractor = [fn](const Value& row) -> std::int64_t {
            return with_gil("CSVSource timestamp_extractor", [&] {
              const Value ts = to_value(fn.get()(to_python(row)), "CSVSource timestamp_extractor");
              if (!ts.is_number()) {
                throw ValueTypeError("CSVSource timestamp_extractor must return an int (ms)");
              }
              return ts.is_int() ? ts.as_int() : static_cast<std::int64_t>(ts.as_double());
            });
          };
        }
        options.delay = milliseconds(std::llround(std::max(delay, 0.0) * 1000));
        options.shutdown_timeout = milliseconds(std::llround(shutdown_timeout * 1000));
        options.dialect = std::move(dialect);
        auto s = std::make_shared<CSVSource>(std::move(path), std::move(name), std::move(options));
        return PySourceHandle{std::move(s), nullptr, nullptr};
      },
      nb::arg("path"), nb::arg("name"), nb::arg("key_extractor").none(),
      nb::arg("timestamp_extractor").none(), nb::arg("delay"), nb::arg("shutdown_timeout"),
      nb::arg("dialect"));

  m.def(
      "_engine_source_partitions",
      [](const PySourceHandle& h) -> int {
        nb::gil_scoped_release release;  // may ask another cluster for metadata
        const auto options = h.source->default_topic_options();
        return options.config ? options.config->num_partitions : 1;
      },
      nb::arg("impl"), "The partition count of an engine source's default topic.");

  // The engine's KafkaReplicatorSource (no Python callable involved).
  m.def(
      "_kafka_replicator_source",
      [](std::string name, std::string topic, std::string broker_address,
         std::string auto_offset_reset, std::map<std::string, std::string> consumer_extra_config,
         double commit_interval, std::int64_t commit_every, std::string value_deserializer,
         std::string key_deserializer, double shutdown_timeout) {
        KafkaReplicatorSourceOptions o;
        o.topic = std::move(topic);
        o.broker_address = std::move(broker_address);
        o.auto_offset_reset = std::move(auto_offset_reset);
        o.consumer_extra_config = std::move(consumer_extra_config);
        o.commit_interval = milliseconds(std::llround(commit_interval * 1000));
        o.commit_every = commit_every;
        o.value_deserializer = std::move(value_deserializer);
        o.key_deserializer = std::move(key_deserializer);
        o.shutdown_timeout = milliseconds(std::llround(shutdown_timeout * 1000));
        auto s = std::make_shared<KafkaReplicatorSource>(std::move(name), std::move(o));
        return PySourceHandle{std::move(s), nullptr, nullptr};
      },
      nb::arg("name"), nb::arg("topic"), nb::arg("broker_address"), nb::arg("auto_offset_reset"),
      nb::arg("consumer_extra_config"), nb::arg("commit_interval"), nb::arg("commit_every"),
      nb::arg("value_deserializer"), nb::arg("key_deserializer"), nb::arg("shutdown_timeout"));

  // The engine's MQTTSource; setters given in Python are called with the GIL in the source's
  // thread, with an MQTTMessage and the payload parsed as JSON (None when it is not JSON).
  m.def(
      "_mqtt_source",
      [](std::string topic, std::string client_id, std::string server, int port,
         std::string username, std::string password, std::string version, bool tls_enabled,
         nb::object key_setter, nb::object value_setter, nb::object timestamp_setter,
         bool parse_payload, int qos, bool clean_session, double shutdown_timeout,
         nb::object on_success, nb::object on_failure) {
        nb::object keep = nb::list();
        MQTTSourceOptions o;
        o.topic = std::move(topic);
        o.connection =
            mqtt_connection(std::move(client_id), std::move(server), port, std::move(username),
                            std::move(password), std::move(version), tls_enabled);
        o.parse_payload = parse_payload;
        o.qos = qos;
        o.clean_session = clean_session;
        o.shutdown_timeout = milliseconds(std::llround(shutdown_timeout * 1000));
        const auto setter =
            [&keep](nb::object f,
                    const char* what) -> std::function<Value(const MQTTMessage&, const Value&)> {
          if (f.is_none()) return {};
          CallableRef fn = CallableRef::kept_by(keep, std::move(f));
          return [fn, what](const MQTTMessage& m, const Value& payload) {
            return with_gil(what, [&] {
              return to_value(fn.get()(mqtt_message(m), to_python(payload)), what);
            });
          };
        };
        o.key_setter = setter(std::move(key_setter), "MQTTSource key_setter");
        o.value_setter = setter(std::move(value_setter), "MQTTSource value_setter");
        if (!timestamp_setter.is_none()) {
          auto ts = setter(std::move(timestamp_setter), "MQTTSource timestamp_setter");
          o.timestamp_setter = [ts](const MQTTMessage& m, const Value& payload) -> std::int64_t {
            const Value v = ts(m, payload);
            if (!v.is_number()) {
              throw ValueTypeError("MQTTSource timestamp_setter must return an int (ms)");
            }
            return v.is_int() ? v.as_int() : static_cast<std::int64_t>(v.as_double());
          };
        }
        auto s = std::make_shared<PyMQTTSource>(std::move(o), keep, std::move(on_success),
                                                std::move(on_failure));
        return PySourceHandle{std::move(s), nullptr, nullptr, std::move(keep)};
      },
      nb::arg("topic"), nb::arg("client_id"), nb::arg("server"), nb::arg("port"),
      nb::arg("username"), nb::arg("password"), nb::arg("version"), nb::arg("tls_enabled"),
      nb::arg("key_setter").none(), nb::arg("value_setter").none(),
      nb::arg("timestamp_setter").none(), nb::arg("parse_payload"), nb::arg("qos"),
      nb::arg("clean_session"), nb::arg("shutdown_timeout"),
      nb::arg("on_client_connect_success").none(), nb::arg("on_client_connect_failure").none());
}

}  // namespace streamframe::python
