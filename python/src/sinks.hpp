// The engine's own sinks as Python objects (bind_sinks.cpp): what `sdf.sink()` hands to the
// engine as it is, without a Python call per record.
#pragma once

#include <nanobind/nanobind.h>

#include <memory>
#include <string>
#include <utility>

#include "streamframe/mqtt.hpp"
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

// Quix Streams' MQTT connection arguments, shared by MQTTSource and MQTTSink.
inline MQTTConnection mqtt_connection(std::string client_id, std::string server, int port,
                                      std::string username, std::string password,
                                      std::string version, bool tls_enabled) {
  MQTTConnection c;
  c.client_id = std::move(client_id);
  c.server = std::move(server);
  c.port = port;
  c.username = std::move(username);
  c.password = std::move(password);
  c.version = std::move(version);
  c.tls_enabled = tls_enabled;
  return c;
}

void bind_sinks(nb::module_& m);

}  // namespace streamframe::python
