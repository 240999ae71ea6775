// Sources written in Python (SRC-01..04): a streamframe.sources.Source subclass runs as the
// engine's Source, in the source's own thread, taking the GIL for each call into Python.
#pragma once

#include <nanobind/nanobind.h>

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "streamframe/source.hpp"

namespace streamframe::python {

namespace nb = nanobind;

// What the application needs of a source written in Python, whichever engine class it runs
// as (PythonSource<Source> or PythonSource<StatefulSource>).
class PythonSourceRun {
 public:
  virtual ~PythonSourceRun() = default;
  virtual const std::string& source_name() const = 0;
  // With the GIL held, around one app.run().
  virtual void begin_run() = 0;
  virtual void end_run() = 0;
  // What Python's stop() raised during the last run, or null; taken (GIL held): the exception
  // refers to the Python object, which would otherwise be kept by a reference the garbage
  // collector cannot see.
  virtual std::exception_ptr take_stop_error() = 0;
  // The Python thread id of the source's thread while it is between setup() and the end of
  // cleanup() (GIL held).
  virtual unsigned long thread_ident() const = 0;
};

// The engine's side of one streamframe.sources.Source object; `Base` is Source, or
// StatefulSource for a streamframe.sources.StatefulSource (SRC-03).
//
// It refers to the Python object without owning it: the Python object owns this one (through
// its `_impl`, a PySourceHandle), and the application that runs it keeps the Python object in
// its list of callables (CallableRef::kept_by), which Python's garbage collector sees. The
// engine calls into Python only while app.run() runs, when the application is alive; for a
// source thread that outlives run() (it ignored stop() past its shutdown timeout) the object
// is pinned: begin_run() takes a reference that the source's thread drops at the end of
// cleanup(), or end_run() when the thread never started.
template <class Base>
class PythonSource final : public Base, public PythonSourceRun {
 public:
  PythonSource(nb::handle self, std::string name, std::chrono::milliseconds shutdown_timeout);
  ~PythonSource() override;

  // Python's run(); setup() then the on_client_connect_success callback (an exception of
  // either goes to on_client_connect_failure, as in Quix Streams); cleanup(failed); stop().
  void run() override;
  void setup() override;
  void on_client_connect_success() override {}
  void on_client_connect_failure(std::exception_ptr error) override;
  void cleanup(bool failed) override;
  // Called by the engine from the thread running app.run(): takes the GIL. An exception of
  // Python's stop() is logged and kept (stop_error()); it does not stop the application's
  // shutdown.
  void stop() override;

  const std::string& source_name() const override { return Base::name(); }
  void begin_run() override;
  void end_run() override;
  std::exception_ptr take_stop_error() override { return std::exchange(stop_error_, nullptr); }
  unsigned long thread_ident() const override { return thread_ident_; }

 private:
  std::string what(const char* method) const;
  void leave_thread();

  unsigned long thread_ident_ = 0;

  PyObject* self_;  // borrowed: see above
  nb::object pin_;  // the GIL guards it and the two below
  bool stop_called_ = false;
  std::exception_ptr stop_error_;
};

// What a Python Source holds as `_impl`: the engine's source, and its Python side unless it is
// one of the engine's own (a CSVSource).
struct PySourceHandle {
  std::shared_ptr<Source> source;
  std::shared_ptr<PythonSourceRun> python;  // null for an engine source
  StatefulSource* stateful = nullptr;       // `source`, when it has state
  // An engine source's Python callables (CallableRef::kept_by), seen by the garbage collector.
  nb::object keep{};
};

void bind_sources(nb::module_& m);

}  // namespace streamframe::python
