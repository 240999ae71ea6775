// The engine's own sinks as Python objects (bind_sinks.cpp): what `sdf.sink()` hands to the
// engine as it is, without a Python call per record.
#pragma once

#include <nanobind/nanobind.h>

#include <memory>

#include "streamframe/sink.hpp"

namespace streamframe::python {

namespace nb = nanobind;

// Held by a streamframe.sinks sink written natively (its `_native` attribute). `keep` is the
// list of the Python callables the sink calls (CallableRef::kept_by), shown to Python's garbage
// collector: a callable that refers back to the application is then a cycle it can free.
struct NativeSink {
  std::shared_ptr<Sink> sink;
  nb::object keep;
};

void bind_sinks(nb::module_& m);

}  // namespace streamframe::python
