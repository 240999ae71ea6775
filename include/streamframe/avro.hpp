// Avro serializer and deserializer (SEMANTICS TOP-06), with Quix Streams' AvroSerializer and
// AvroDeserializer options. The binary encoding is Avro's own ("schemaless": the bytes of one
// datum, no container file header), as fastavro's schemaless_writer/reader produce and read.
//
// Avro to Value:
//   null, boolean, int/long, float/double, string  => null, bool, int, double, string
//   bytes, fixed                                   => string holding the raw bytes
//   enum                                           => the symbol's name (string)
//   array, map, record                             => array, object, object (fields in order)
//   union                                          => the value of its branch
//   logical types: date => "YYYY-MM-DD" string; time-millis/micros, timestamp-millis/micros
//   and local-timestamp-* => int (as encoded: epoch ms or us); decimal => exact decimal string
//   ("-123.45", scale digits after the point); uuid => string.
// Value to Avro takes the same shapes, and also: int for float/double, int (days) for date,
// int or double for decimal. A union takes the first branch the value fits (null for null; a
// record for an object that has all of the record's fields without defaults, else a map).
// A record field missing from the object is written with its default (an error without one);
// unknown fields are ignored unless `strict` or `strict_allow_default`.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "streamframe/schema_registry.hpp"
#include "streamframe/serde.hpp"

namespace streamframe {

struct AvroSerializerOptions {
  // The Avro schema as JSON text; or `schema_file`, a path to it. Exactly one is set.
  std::string schema{};
  std::string schema_file{};
  // fastavro's strict: every field of the object is in the schema and every field of the schema
  // is in the object.
  bool strict = false;
  // As `strict`, but fields with a default may be missing.
  bool strict_allow_default = false;
  // With a registry: each record is written in Confluent's wire format with the id of
  // `schema` under its subject (registered or looked up at the first record of each topic).
  std::optional<SchemaRegistryClientConfig> schema_registry_client_config{};
  SchemaRegistrySerializationConfig schema_registry_serialization_config{};
};

struct AvroDeserializerOptions {
  // The writer's Avro schema as JSON text; or `schema_file`, a path to it. Exactly one is set
  // without a registry, none with one.
  std::string schema{};
  std::string schema_file{};
  // The schema to read as, when it is not the writer's: Avro's schema resolution (fields
  // matched by name or alias, the reader's defaults for fields the writer lacks, the writer's
  // extra fields dropped, int/long/float promoted, string and bytes interchangeable, an
  // unknown enum symbol replaced by the reader enum's default). Checked once per writer
  // schema: a reader field without a default that the writer lacks is a ConfigError (a
  // SerializationError for a writer schema from the registry).
  std::string reader_schema{};
  // With a registry: records are read in Confluent's wire format, each with the schema its id
  // names (fetched once per id).
  std::optional<SchemaRegistryClientConfig> schema_registry_client_config{};
};

// Throw ConfigError for a schema that is missing, unreadable or not valid Avro.
std::shared_ptr<const Serializer> avro_serializer(const AvroSerializerOptions& options);
std::shared_ptr<const Deserializer> avro_deserializer(const AvroDeserializerOptions& options);

}  // namespace streamframe
