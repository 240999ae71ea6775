// Errors across the boundary (PY-04). Engine errors become Python exceptions with the C++
// names, all subclasses of streamframe.StreamframeError; an exception raised in a Python
// callable travels through the engine as a PythonError (a streamframe::Error, so the
// processing-error path handles it like any other) and comes out of app.run() as itself, with
// its traceback.
#pragma once

#include <nanobind/nanobind.h>

#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "streamframe/errors.hpp"

namespace streamframe::python {

namespace nb = nanobind;

// True once the interpreter is finalizing or gone: a thread other than the main one that asks
// for the GIL then is ended by Python (pthread_exit), which inside a destructor terminates the
// process. Whatever a left-behind thread releases at exit (a source's last error, a callable)
// is leaked instead.
inline bool python_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return !Py_IsInitialized() || Py_IsFinalizing();
#else
  return !Py_IsInitialized() || _Py_IsFinalizing();
#endif
}

class PythonError : public Error {
 public:
  // Takes the exception being handled (the GIL is held); `where` names the operation.
  PythonError(nb::python_error&& error, std::string_view where);
  // The original exception, to raise again (needs the GIL).
  void restore() const;
  // The exception object (needs the GIL).
  nb::handle exception() const;

 private:
  // nanobind's python_error takes the GIL to release its references, so this may be destroyed
  // on any thread.
  std::shared_ptr<nb::python_error> error_;
};

// Releases the Python errors dropped on threads without the GIL since the last call (the
// GIL held). What is still there when the interpreter exits is leaked.
void release_dropped_errors();

// Creates the exception classes in `m` and registers the translation of engine errors.
void register_errors(nb::module_& m);

// The Python exception object for an engine error (for error callbacks); needs the GIL.
nb::object exception_to_python(const std::exception& e);
// The same for a captured error (a connect-failure callback's argument); anything that is not
// a std::exception becomes a RuntimeError.
nb::object exception_to_python(const std::exception_ptr& error);

// Raises NotImplementedError(what): a Quix Streams feature streamframe does not have (PY-05).
[[noreturn]] void raise_not_implemented(const std::string& what);

}  // namespace streamframe::python
