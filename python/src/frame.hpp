// What the Python classes of the dataframe layer hold.
#pragma once

#include <chrono>

#include "callables.hpp"
#include "streamframe/dataframe.hpp"
#include "streamframe/topic.hpp"

namespace streamframe::python {

// A topic and how its records look in Python.
struct PyTopic {
  Topic topic;
  Representation repr;
};

// A StreamingDataFrame and how its values and keys look in Python. `keep` is the pipeline's
// list of Python callables (CallableRef::kept_by), shared by every object of one Application.
struct Frame {
  StreamingDataFrame sdf;
  Representation repr;
  nb::object keep;
};

// A Frame whose node carries its representation, so that run() can give each collected output
// the look of the frame it left (bytes stay bytes).
inline Frame make_frame(StreamingDataFrame sdf, Representation repr, nb::object keep) {
  sdf.set_label(label_of(repr));
  return Frame{std::move(sdf), repr, std::move(keep)};
}

struct Window {
  WindowDefinition def;
  Representation repr;
  nb::object keep;
};

struct WindowAgg {
  WindowedAggregation agg;
  Representation repr;
  nb::object keep;
};

// Python's garbage collector sees the callables a pipeline object keeps (tp_traverse and
// tp_clear of a class holding `keep`).
template <class T>
int traverse_keep(PyObject* self, visitproc visit, void* arg) {
  if (nb::inst_ready(self)) Py_VISIT(nb::inst_ptr<T>(self)->keep.ptr());
  Py_VISIT(Py_TYPE(self));
  return 0;
}

template <class T>
int clear_keep(PyObject* self) {
  if (nb::inst_ready(self)) nb::inst_ptr<T>(self)->keep.reset();
  return 0;
}

template <class T>
PyType_Slot* keep_slots() {
  static PyType_Slot slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(&traverse_keep<T>)},
                                {Py_tp_clear, reinterpret_cast<void*>(&clear_keep<T>)},
                                {0, nullptr}};
  return slots;
}

// Durations as Quix takes them: int milliseconds or a datetime.timedelta (else ConfigError
// naming `what`).
std::chrono::milliseconds ms_of(nb::handle h, const char* what);

// sdf.join_lookup(lookup, fields, on=, buffer=) (bind_lookups.cpp).
Frame join_lookup(const Frame& f, nb::handle lookup, nb::dict fields, nb::object on,
                  nb::object buffer);

void bind_lookups(nb::module_& m);
void bind_dataframe(nb::module_& m);
void bind_application(nb::module_& m);

}  // namespace streamframe::python
