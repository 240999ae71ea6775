// streamframe._core: the engine as a Python extension (PY-01). The pure-Python package around
// it (python/streamframe) gives it Quix Streams' argument names and units.
#include <nanobind/nanobind.h>

#include "callables.hpp"
#include "errors.hpp"
#include "frame.hpp"
#include "serdes.hpp"
#include "sinks.hpp"
#include "sources.hpp"

NB_MODULE(_core, m) {
  m.doc() = "streamframe's C++ engine";
  streamframe::python::register_errors(m);
  streamframe::python::bind_lookups(m);
  streamframe::python::bind_dataframe(m);
  streamframe::python::bind_sources(m);
  streamframe::python::bind_sinks(m);
  streamframe::python::bind_serdes(m);
  streamframe::python::bind_json_schema(m);
  streamframe::python::bind_application(m);
  m.def("_callback_gil_count", &streamframe::python::CallbackGil::count,
        "How many times the engine took the GIL to call Python (for tests of PY-03).");
}
