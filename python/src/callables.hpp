// User-written Python callables as the engine's std::function types (PY-03): each call takes
// the GIL, builds the Python arguments, calls, converts the result back and releases the GIL;
// nothing else in a run takes it. An exception raised by the callable becomes a PythonError
// naming the operation, and goes down the processing-error path.
#pragma once

#include <nanobind/nanobind.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "convert.hpp"
#include "errors.hpp"
#include "streamframe/dataframe.hpp"

namespace streamframe::python {

namespace nb = nanobind;

// A Python callable as the engine's functions hold it; they copy and drop it on any thread,
// without the GIL.
//
// kept_by(): the reference is owned by `keeper`, a Python list that every Python object holding
// the pipeline (the Application, each StreamingDataFrame and window) references and shows to
// Python's garbage collector (tp_traverse). A callable that refers back to the app or a
// dataframe (a closure, a module global) is then a cycle the collector can free. The engine
// holds the callable only while one of those objects is alive.
// owned(): a reference of its own, released under the GIL by the last copy (for what is not
// tied to one pipeline: a StreamingSeries, an aggregation).
class CallableRef {
 public:
  static CallableRef kept_by(nb::handle keeper, nb::object f);
  static CallableRef owned(nb::object f);
  nb::handle get() const { return strong_ ? nb::handle(strong_->object) : nb::handle(borrowed_); }

 private:
  struct Holder {
    nb::object object;
    ~Holder();
  };
  std::shared_ptr<Holder> strong_;
  PyObject* borrowed_ = nullptr;
};

// The GIL, taken by the engine's thread to call Python (PY-03). Counts how often, so a test can
// check that a pipeline of expressions never takes it per record.
class CallbackGil {
 public:
  CallbackGil() { count_.fetch_add(1, std::memory_order_relaxed); }
  static std::uint64_t count() { return count_.load(std::memory_order_relaxed); }

 private:
  static inline std::atomic<std::uint64_t> count_{0};
  nb::gil_scoped_acquire gil_;
};

// Calls `call` under the GIL; a Python exception becomes a PythonError naming `what`.
template <class F>
auto with_gil(const std::string& what, F&& call) {
  CallbackGil gil;
  try {
    return call();
  } catch (nb::python_error& e) {
    throw PythonError(std::move(e), what);
  }
}

// How values and keys of a frame look in Python: text, or the raw bytes of the bytes serde.
struct Representation {
  StringsAs values = StringsAs::text;
  StringsAs keys = StringsAs::bytes;
};

// A Representation as the label the engine carries to derived frames and reports for each
// output run() collects (StreamingDataFrame::set_label); label 0 (never set) is the default.
inline std::uint32_t label_of(Representation r) {
  return 1U | (r.values == StringsAs::bytes ? 2U : 0U) | (r.keys == StringsAs::bytes ? 4U : 0U);
}
inline Representation representation_of(std::uint32_t label) {
  if (label == 0) return {};
  return {(label & 2U) != 0 ? StringsAs::bytes : StringsAs::text,
          (label & 4U) != 0 ? StringsAs::bytes : StringsAs::text};
}

// `what` names the operation in errors ("apply", "filter", ...). `metadata`: the callable
// takes (value, key, timestamp, headers[, state]) instead of (value[, state]).
ApplyMetaFn wrap_apply(CallableRef f, bool metadata, Representation r, std::string what);
ApplyStateFn wrap_apply_state(CallableRef f, bool metadata, Representation r, std::string what);
UpdateMetaFn wrap_update(CallableRef f, bool metadata, Representation r, std::string what);
UpdateStateFn wrap_update_state(CallableRef f, bool metadata, Representation r, std::string what);
FilterMetaFn wrap_filter(CallableRef f, bool metadata, Representation r, std::string what);
FilterStateFn wrap_filter_state(CallableRef f, bool metadata, Representation r, std::string what);
// One value in, one value out: Series.apply, group_by's key, reduce's initializer.
std::function<Value(const Value&)> wrap_unary(CallableRef f, StringsAs strings, std::string what);
std::function<Value(const Value&, const Value&)> wrap_binary(CallableRef f, StringsAs strings,
                                                             std::string what);
TimestampFn wrap_timestamp(CallableRef f, Representation r);
HeadersFn wrap_headers(CallableRef f, Representation r);
// sdf.sink(object): a Python object with Quix Streams' sink methods (add, flush, start/setup).
std::shared_ptr<Sink> wrap_sink(CallableRef object, Representation r);

// The state handle a stateful callable receives: valid only during its call.
struct StateRef {
  State* state = nullptr;
  State& get() const;
};

}  // namespace streamframe::python
