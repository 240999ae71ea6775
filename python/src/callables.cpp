#include "callables.hpp"

#include <nanobind/stl/string.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <utility>

#include "errors.hpp"

namespace streamframe::python {

CallableRef CallableRef::kept_by(nb::handle keeper, nb::object f) {
  if (PyList_Append(keeper.ptr(), f.ptr()) != 0) throw nb::python_error();
  CallableRef out;
  out.borrowed_ = f.ptr();
  return out;
}

CallableRef CallableRef::owned(nb::object f) {
  CallableRef out;
  out.strong_ = std::make_shared<Holder>(Holder{std::move(f)});
  return out;
}

CallableRef::Holder::~Holder() {
  if (!object.is_valid()) return;
  if (python_finalizing()) {
    (void)object.release();  // the interpreter is going: nothing left to release to
    return;
  }
  nb::gil_scoped_acquire gil;
  object.reset();
}

State& StateRef::get() const {
  if (state == nullptr) {
    throw InvalidOperation("this State belongs to a callable's call that has returned");
  }
  return *state;
}

namespace {

nb::object key_of(const Value& key, Representation r) {
  return to_python(key, r.keys);
}

nb::object headers_of(const Headers& h) {
  if (h.empty()) return nb::none();
  return headers_to_python(h);
}

// A State argument valid for one call.
class StateArg {
 public:
  explicit StateArg(State& s) : object_(nb::cast(StateRef{&s})) {}
  ~StateArg() { nb::cast<StateRef&>(object_).state = nullptr; }
  StateArg(const StateArg&) = delete;
  StateArg& operator=(const StateArg&) = delete;
  nb::handle get() const { return object_; }

 private:
  nb::object object_;
};

}  // namespace

ApplyMetaFn wrap_apply(CallableRef f, bool metadata, Representation r, std::string what) {
  CallableRef fn = std::move(f);
  return [fn, metadata, r, what](const Value& v, const Value& k, std::int64_t t,
                                 const Headers& h) -> Value {
    return with_gil(what, [&] {
      nb::object out = metadata ? fn.get()(to_python(v, r.values), key_of(k, r), t, headers_of(h))
                                : fn.get()(to_python(v, r.values));
      return to_value(out, what);
    });
  };
}

ApplyStateFn wrap_apply_state(CallableRef f, bool metadata, Representation r, std::string what) {
  CallableRef fn = std::move(f);
  return [fn, metadata, r, what](const Value& v, const Value& k, std::int64_t t, const Headers& h,
                                 State& s) -> Value {
    return with_gil(what, [&] {
      StateArg state(s);
      nb::object out =
          metadata ? fn.get()(to_python(v, r.values), key_of(k, r), t, headers_of(h), state.get())
                   : fn.get()(to_python(v, r.values), state.get());
      return to_value(out, what);
    });
  };
}

namespace {

// update: the callable changes the value in place (a dict or list); what it returns is ignored
// (Quix). The changed Python object becomes the row's value.
void update_from(Value& v, nb::handle changed, const std::string& what) {
  v = to_value(changed, what);
}

}  // namespace

UpdateMetaFn wrap_update(CallableRef f, bool metadata, Representation r, std::string what) {
  CallableRef fn = std::move(f);
  return [fn, metadata, r, what](Value& v, const Value& k, std::int64_t t, const Headers& h) {
    with_gil(what, [&] {
      nb::object value = to_python(v, r.values);
      if (metadata) {
        fn.get()(value, key_of(k, r), t, headers_of(h));
      } else {
        fn.get()(value);
      }
      update_from(v, value, what);
    });
  };
}

UpdateStateFn wrap_update_state(CallableRef f, bool metadata, Representation r, std::string what) {
  CallableRef fn = std::move(f);
  return [fn, metadata, r, what](Value& v, const Value& k, std::int64_t t, const Headers& h,
                                 State& s) {
    with_gil(what, [&] {
      StateArg state(s);
      nb::object value = to_python(v, r.values);
      if (metadata) {
        fn.get()(value, key_of(k, r), t, headers_of(h), state.get());
      } else {
        fn.get()(value, state.get());
      }
      update_from(v, value, what);
    });
  };
}

FilterMetaFn wrap_filter(CallableRef f, bool metadata, Representation r, std::string what) {
  CallableRef fn = std::move(f);
  return [fn, metadata, r, what](const Value& v, const Value& k, std::int64_t t,
                                 const Headers& h) -> bool {
    return with_gil(what, [&] {
      nb::object out = metadata ? fn.get()(to_python(v, r.values), key_of(k, r), t, headers_of(h))
                                : fn.get()(to_python(v, r.values));
      const int truth = PyObject_IsTrue(out.ptr());
      if (truth < 0) throw nb::python_error();
      return truth == 1;
    });
  };
}

FilterStateFn wrap_filter_state(CallableRef f, bool metadata, Representation r, std::string what) {
  CallableRef fn = std::move(f);
  return [fn, metadata, r, what](const Value& v, const Value& k, std::int64_t t, const Headers& h,
                                 State& s) -> bool {
    return with_gil(what, [&] {
      StateArg state(s);
      nb::object out =
          metadata ? fn.get()(to_python(v, r.values), key_of(k, r), t, headers_of(h), state.get())
                   : fn.get()(to_python(v, r.values), state.get());
      const int truth = PyObject_IsTrue(out.ptr());
      if (truth < 0) throw nb::python_error();
      return truth == 1;
    });
  };
}

std::function<Value(const Value&)> wrap_unary(CallableRef f, StringsAs strings, std::string what) {
  CallableRef fn = std::move(f);
  return [fn, strings, what](const Value& v) -> Value {
    return with_gil(what, [&] { return to_value(fn.get()(to_python(v, strings)), what); });
  };
}

std::function<Value(const Value&, const Value&)> wrap_binary(CallableRef f, StringsAs strings,
                                                             std::string what) {
  CallableRef fn = std::move(f);
  return [fn, strings, what](const Value& a, const Value& b) -> Value {
    return with_gil(what, [&] {
      return to_value(fn.get()(to_python(a, strings), to_python(b, strings)), what);
    });
  };
}

TimestampFn wrap_timestamp(CallableRef f, Representation r) {
  CallableRef fn = std::move(f);
  return [fn, r](const Value& v, const Value& k, std::int64_t t, const Headers& h) -> std::int64_t {
    return with_gil("set_timestamp", [&] {
      nb::object out = fn.get()(to_python(v, r.values), key_of(k, r), t, headers_of(h));
      const Value ts = to_value(out, "set_timestamp");
      if (!ts.is_number()) throw ValueTypeError("set_timestamp: the callable must return an int");
      return ts.is_int() ? ts.as_int() : static_cast<std::int64_t>(ts.as_double());
    });
  };
}

HeadersFn wrap_headers(CallableRef f, Representation r) {
  CallableRef fn = std::move(f);
  return [fn, r](const Value& v, const Value& k, std::int64_t t, const Headers& h) -> Headers {
    return with_gil("set_headers", [&] {
      nb::object out = fn.get()(to_python(v, r.values), key_of(k, r), t, headers_of(h));
      return headers_to_value(out, "set_headers");
    });
  };
}

namespace {

// A Python object with Quix Streams' sink methods: add(value, key, timestamp, headers, topic,
// partition, offset) per record, flush() at each checkpoint before offsets commit, start()
// (or setup()) once before the first record, on_paused() on backpressure.
class PythonSink final : public Sink {
 public:
  PythonSink(CallableRef object, Representation r) : object_(std::move(object)), repr_(r) {}

  // BaseSink.start() calls setup() and then the connect callbacks itself, as in Quix Streams;
  // the engine's callbacks then only let its error through. An object with setup() and no
  // start() gets its _on_client_connect_success / _failure (if it has them) from the engine.
  void setup() override {
    with_gil("sink setup", [&] {
      nb::handle o = object_.get();
      if (nb::hasattr(o, "start")) {
        has_start_ = true;
        o.attr("start")();
      } else if (nb::hasattr(o, "setup")) {
        o.attr("setup")();
      }
    });
  }

  void on_client_connect_success() override {
    if (has_start_) return;
    with_gil("sink on_client_connect_success", [&] {
      nb::handle o = object_.get();
      if (nb::hasattr(o, "_on_client_connect_success")) o.attr("_on_client_connect_success")();
    });
  }

  void on_client_connect_failure(std::exception_ptr error) override {
    bool resolve = false;
    if (!has_start_) {
      with_gil("sink on_client_connect_failure",
               [&] { resolve = nb::hasattr(object_.get(), "_on_client_connect_failure"); });
    }
    if (!resolve) std::rethrow_exception(error);
    with_gil("sink on_client_connect_failure",
             [&] { object_.get().attr("_on_client_connect_failure")(exception_to_python(error)); });
  }

  void add(const Value& value, const Value& key, std::int64_t timestamp, const Headers& headers,
           const std::string& topic, std::int32_t partition, std::int64_t offset) override {
    with_gil("sink add", [&] {
      object_.get().attr("add")(to_python(value, repr_.values), key_of(key, repr_), timestamp,
                                headers_of(headers), topic, partition, offset);
    });
  }

  // SNK-03: streamframe.sinks.SinkBackpressureError out of flush() (or the write() it calls)
  // becomes the engine's SinkBackpressureError: every partition pauses for retry_after
  // seconds and is replayed from the last checkpoint.
  void flush() override {
    with_gil("sink flush", [&] {
      try {
        object_.get().attr("flush")();
      } catch (nb::python_error& e) {
        if (auto retry_after = backpressure_of(e)) throw SinkBackpressureError(*retry_after);
        throw;
      }
    });
  }

  void on_paused() override {
    with_gil("sink on_paused", [&] {
      nb::handle o = object_.get();
      if (nb::hasattr(o, "on_paused")) o.attr("on_paused")();
    });
  }

 private:
  // retry_after (seconds) as ms when `e` is a streamframe.sinks.SinkBackpressureError with a
  // number there; GIL held.
  static std::optional<std::chrono::milliseconds> backpressure_of(nb::python_error& e) {
    nb::object cls = nb::module_::import_("streamframe.sinks").attr("SinkBackpressureError");
    if (!e.matches(cls)) return std::nullopt;
    nb::handle exc = e.value();
    if (!nb::hasattr(exc, "retry_after")) return std::nullopt;
    const double seconds = PyFloat_AsDouble(exc.attr("retry_after").ptr());
    if (seconds == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      return std::nullopt;
    }
    if (!std::isfinite(seconds)) return std::nullopt;
    return std::chrono::milliseconds(std::llround(std::max(seconds, 0.0) * 1000));
  }

  CallableRef object_;
  Representation repr_;
  bool has_start_ = false;
};

}  // namespace

std::shared_ptr<Sink> wrap_sink(CallableRef object, Representation r) {
  return std::make_shared<PythonSink>(std::move(object), r);
}

}  // namespace streamframe::python
