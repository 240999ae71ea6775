#include "errors.hpp"

#include <fmt/format.h>
#include <nanobind/stl/string.h>

#include <mutex>
#include <utility>
#include <vector>

#include "streamframe/postgresql.hpp"

namespace streamframe::python {

namespace {

// Python errors dropped on a thread without the GIL (a source's thread, a worker's), released
// by the next caller holding it. Taking the GIL to release them there could race the
// interpreter's exit: a thread that asks for the GIL once finalization began is ended by
// Python (pthread_exit), which inside a destructor terminates the process.
std::mutex& dropped_errors_mutex() {
  static std::mutex m;
  return m;
}
std::vector<nb::python_error*>& dropped_errors() {
  static std::vector<nb::python_error*> errors;
  return errors;
}

std::string describe(nb::python_error& error, std::string_view where) {
  // what() is the exception with its formatted traceback.
  return fmt::format("{}: the Python callable raised {}", where, error.what());
}

struct Classes {
  PyObject* base = nullptr;
  std::vector<std::pair<const char*, PyObject*>> by_name;
  PyObject* get(const char* name) const {
    for (const auto& [n, c] : by_name)
      if (std::string_view(n) == name) return c;
    return base;
  }
};

Classes& classes() {
  static Classes c;  // lives as long as the module: the classes are never freed
  return c;
}

// The engine's errors whose base is streamframe::Error itself (errors.hpp); KafkaError and
// its subclasses KafkaBrokerUnavailableError and KafkaAuthenticationError are handled apart.
#define SF_PY_PLAIN_ERRORS(X)      \
  X(ConfigError)                   \
  X(InvalidOperation)              \
  X(ColumnDoesNotExist)            \
  X(InvalidColumnReference)        \
  X(ValueTypeError)                \
  X(ArithmeticError)               \
  X(OverlappingColumns)            \
  X(SerializationError)            \
  X(TopicNotFound)                 \
  X(TopicPartitionsMismatch)       \
  X(TopicConfigurationMismatch)    \
  X(GroupByDuplicate)              \
  X(InvalidStoredOffset)           \
  X(RocksDBCorruptedError)         \
  X(StateRecoveryOffsetOutOfRange) \
  X(IncompatibleStateStoreError)   \
  X(CheckpointProducerTimeout)     \
  X(CheckpointConsumerCommitError) \
  X(SourceException)               \
  X(InvalidTimestamp)              \
  X(AggregationError)              \
  X(LookupError)                   \
  X(LookupConnectionError)         \
  X(PostgreSQLSinkError)

// Engine error -> its Python class; the most derived class first.
template <class F>
void dispatch(const std::exception& e, F&& raise) {
  const Classes& c = classes();
#define SF_PY_ERROR(Name) \
  if (dynamic_cast<const Name*>(&e) != nullptr) return raise(c.get(#Name));
  SF_PY_ERROR(KafkaBrokerUnavailableError)
  SF_PY_ERROR(KafkaAuthenticationError)
  SF_PY_ERROR(KafkaError)
  SF_PY_PLAIN_ERRORS(SF_PY_ERROR)
#undef SF_PY_ERROR
  return raise(c.base);
}

nb::object cause_of(const std::exception_ptr& cause);

nb::object instance(PyObject* cls, const std::exception& e) {
  nb::object out = nb::steal(PyObject_CallFunction(cls, "s", e.what()));
  if (!out.is_valid()) throw nb::python_error();
  if (const auto* k = dynamic_cast<const KafkaError*>(&e)) {
    out.attr("code") = k->code();
    out.attr("retriable") = k->retriable();
    out.attr("fatal") = k->fatal();
  }
  if (const auto* err = dynamic_cast<const Error*>(&e); err != nullptr && err->has_origin()) {
    out.attr("topic") = err->topic();
    out.attr("partition") = err->partition();
    out.attr("offset") = err->offset();
  }
  if (const auto* pg = dynamic_cast<const PostgreSQLSinkError*>(&e)) {
    out.attr("table") = pg->table();
    out.attr("column") = pg->column();
    out.attr("sqlstate") = pg->sqlstate();
    out.attr("constraint") = pg->constraint();
  }
  if (const auto* s = dynamic_cast<const SourceException*>(&e)) {
    // SRC-04: raised from what the source raised (Quix Streams: `raise SourceException(...)
    // from error`), which keeps its own traceback.
    out.attr("source_name") = s->source_name();
    if (s->cause()) {
      nb::object cause = cause_of(s->cause());
      PyException_SetCause(out.ptr(), cause.release().ptr());  // steals; sets __suppress_context__
    }
  }
  return out;
}

nb::object cause_of(const std::exception_ptr& cause) {
  try {
    std::rethrow_exception(cause);
  } catch (const PythonError& e) {
    return nb::borrow(e.exception());
  } catch (const Error& e) {
    nb::object out;
    dispatch(e, [&](PyObject* cls) { out = instance(cls, e); });
    return out;
  } catch (const std::exception& e) {
    return nb::borrow(PyExc_RuntimeError)(e.what());
  } catch (...) {
    return nb::borrow(PyExc_RuntimeError)("unknown C++ exception");
  }
}

void translate(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const PythonError& e) {
    e.restore();
  } catch (const Interrupted& e) {
    // APP-21 / PY-05: the second SIGINT.
    PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
  } catch (const Error& e) {
    dispatch(e, [&](PyObject* cls) {
      nb::object exc = instance(cls, e);
      PyErr_SetObject(cls, exc.ptr());
    });
  }
}

}  // namespace

PythonError::PythonError(nb::python_error&& error, std::string_view where)
    : Error(describe(error, where)),
      error_(new nb::python_error(std::move(error)), [](nb::python_error* e) {
        // Its destructor takes the GIL, which only a thread holding it may do safely here.
        if (PyGILState_Check() != 0 && !python_finalizing()) {
          delete e;
          return;
        }
        std::lock_guard lock(dropped_errors_mutex());
        dropped_errors().push_back(e);
      }) {}

void release_dropped_errors() {
  std::vector<nb::python_error*> errors;
  {
    std::lock_guard lock(dropped_errors_mutex());
    errors.swap(dropped_errors());
  }
  for (nb::python_error* e : errors) delete e;
}

void PythonError::restore() const {
  // restore() hands the exception back to Python and empties the object; raise a copy so the
  // same error can be raised again (run() may rethrow what a callback already saw).
  nb::python_error copy(*error_);
  copy.restore();
}

nb::handle PythonError::exception() const {
  return error_->value();
}

void register_errors(nb::module_& m) {
  Classes& c = classes();
  c.base = PyErr_NewException("streamframe._core.StreamframeError", PyExc_Exception, nullptr);
  m.attr("StreamframeError") = nb::handle(c.base);
  auto add = [&](const char* name, PyObject* base) {
    const std::string qualified = std::string("streamframe._core.") + name;
    PyObject* cls = PyErr_NewException(qualified.c_str(), base, nullptr);
    m.attr(name) = nb::handle(cls);
    c.by_name.emplace_back(name, cls);
    return cls;
  };
  PyObject* kafka = add("KafkaError", c.base);
  add("KafkaBrokerUnavailableError", kafka);
  add("KafkaAuthenticationError", kafka);
#define SF_PY_ADD(Name) add(#Name, c.base);
  SF_PY_PLAIN_ERRORS(SF_PY_ADD)
#undef SF_PY_ADD
  nb::register_exception_translator(&translate);
}

nb::object exception_to_python(const std::exception& e) {
  if (const auto* py = dynamic_cast<const PythonError*>(&e)) return nb::borrow(py->exception());
  nb::object out;
  dispatch(e, [&](PyObject* cls) { out = instance(cls, e); });
  return out;
}

nb::object exception_to_python(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return exception_to_python(e);
  } catch (...) {
    return nb::borrow(PyExc_RuntimeError)("unknown C++ exception");
  }
}

[[noreturn]] void raise_not_implemented(const std::string& what) {
  PyErr_SetString(PyExc_NotImplementedError, what.c_str());
  throw nb::python_error();
}

}  // namespace streamframe::python
