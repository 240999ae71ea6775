// JSON serdes with JSON Schema validation (SEMANTICS TOP-05), with Quix Streams' JSONSerializer
// and JSONDeserializer options, and their Schema Registry variant (TOP-08). The bytes are the
// plain json serde's (make_serializer("json") / make_deserializer("json")): a schema only adds a
// check, and with a registry Confluent's wire format adds its 5-byte header (a zero byte, the
// schema id big-endian) in front of them, as confluent-kafka's JSONSerializer writes.
//
// Validation is valijson's (JSON Schema drafts 4 and 7, draft 3 when the schema's "$schema"
// says so; docs/behaviour.md TOP-05 lists what differs from the Draft 2020-12 Quix Streams
// validates with). "format" is not asserted, as neither Quix's nor Confluent's validator does.
// A value failing the schema is a SerializationError naming the JSON Pointer of the failing
// part of the document and the reason:
//   json serializer: schema validation failed at '/items/0/price': Expected number greater
//   than or equal to 0.000000
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "streamframe/schema_registry.hpp"
#include "streamframe/serde.hpp"

namespace streamframe {

struct JsonSerializerOptions {
  // The JSON Schema as JSON text; or `schema_file`, a path to it. Neither: plain json, no
  // validation (and no registry, which needs the schema to register).
  std::string schema{};
  std::string schema_file{};
  // With a registry: each record is written in Confluent's wire format with the id of `schema`
  // (schemaType "JSON") under its subject, registered or looked up at the first record of each
  // topic. The record-name strategies name the subject after the schema's "title".
  std::optional<SchemaRegistryClientConfig> schema_registry_client_config{};
  SchemaRegistrySerializationConfig schema_registry_serialization_config{};
};

struct JsonDeserializerOptions {
  // The JSON Schema each record is validated against (text, or a path in `schema_file`).
  // Without a registry, neither: plain json. With a registry, neither: each record is validated
  // against the schema its id names (fetched and parsed once per id).
  std::string schema{};
  std::string schema_file{};
  std::optional<SchemaRegistryClientConfig> schema_registry_client_config{};
};

// Throw ConfigError for a schema file that cannot be read, a schema that is not JSON or not a
// valid JSON Schema, both `schema` and `schema_file`, a registry serializer without a schema, or
// a record-name subject strategy for a schema without a "title".
std::shared_ptr<const Serializer> json_serializer(const JsonSerializerOptions& options);
std::shared_ptr<const Deserializer> json_deserializer(const JsonDeserializerOptions& options);

}  // namespace streamframe
