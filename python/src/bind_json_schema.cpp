// _core.json_serializer / json_deserializer: the json serdes with a JSON Schema and their Schema
// Registry variant (include/streamframe/json_schema.hpp), for streamframe.models.serializers'
// JSONSerializer and JSONDeserializer when they run natively.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <optional>
#include <string>
#include <utility>

#include "serdes.hpp"
#include "streamframe/json_schema.hpp"

namespace streamframe::python {

void bind_json_schema(nb::module_& m) {
  m.def(
      "json_serializer",
      [](std::optional<std::string> schema, std::optional<nb::dict> registry,
         std::optional<nb::dict> serialization) {
        JsonSerializerOptions o;
        if (schema) o.schema = std::move(*schema);
        if (registry) o.schema_registry_client_config = registry_config(*registry);
        if (serialization)
          o.schema_registry_serialization_config = serialization_config(*serialization);
        return NativeSerializer{json_serializer(o)};
      },
      nb::arg("schema").none(), nb::arg("registry").none(), nb::arg("serialization").none());
  m.def(
      "json_deserializer",
      [](std::optional<std::string> schema, std::optional<nb::dict> registry) {
        JsonDeserializerOptions o;
        if (schema) o.schema = std::move(*schema);
        if (registry) o.schema_registry_client_config = registry_config(*registry);
        return NativeDeserializer{json_deserializer(o)};
      },
      nb::arg("schema").none(), nb::arg("registry").none());
}

}  // namespace streamframe::python
