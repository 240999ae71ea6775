// Serializers and deserializers written in Python (Quix Streams' `Serializer` / `Deserializer`
// subclasses: `__call__(value, ctx)`), as the engine's serde interfaces. Each call takes the GIL
// (PY-03); the built-in serdes stay native (the Python classes of the built-ins pass their
// names, streamframe/models/serializers.py).
#pragma once

#include <nanobind/nanobind.h>

#include <memory>
#include <string>

#include "streamframe/schema_registry.hpp"
#include "streamframe/serde.hpp"

namespace streamframe::python {

namespace nb = nanobind;

// `object` is kept by `keeper` (CallableRef::kept_by). `field` is "key" or "value", as
// SerializationContext.field says. A Python exception raised by the call travels as a
// PythonError (the deserialization or processing error path), except IgnoreMessage, which
// drops the message (TOP-10).
std::shared_ptr<const Deserializer> wrap_deserializer(nb::handle keeper, nb::object object,
                                                      std::string topic, std::string field);
std::shared_ptr<const Serializer> wrap_serializer(nb::handle keeper, nb::object object,
                                                  std::string topic, std::string field);

}  // namespace streamframe::python

namespace streamframe::python {

// The engine's own serdes made from Python with arguments (Avro, Schema Registry): opaque
// handles a topic takes as they are, natively (no GIL per message).
struct NativeSerializer {
  std::shared_ptr<const Serializer> serializer;
};
struct NativeDeserializer {
  std::shared_ptr<const Deserializer> deserializer;
};

// _core.avro_serializer / avro_deserializer and the two handle classes.
void bind_serdes(nb::module_& m);
// _core.json_serializer / json_deserializer: JSON Schema and its registry variant
// (bind_json_schema.cpp).
void bind_json_schema(nb::module_& m);

// The package's SchemaRegistryClientConfig / SchemaRegistrySerializationConfig `_as_dict()`.
SchemaRegistryClientConfig registry_config(const nb::dict& d);
SchemaRegistrySerializationConfig serialization_config(const nb::dict& d);

}  // namespace streamframe::python
