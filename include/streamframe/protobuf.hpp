// Protobuf serializer and deserializer (SEMANTICS TOP-07), with Quix Streams' ProtobufSerializer
// and ProtobufDeserializer options, on libprotobuf. Messages map to Values by the proto3 JSON
// mapping, as Python's json_format.MessageToDict and ParseDict do (what Quix Streams uses):
//
//   message                      => object, fields by their JSON name (lowerCamelCase) or, with
//                                   preserving_proto_field_name, by their .proto name
//   int32, uint32 (all 32-bit)   => int
//   int64, uint64 (all 64-bit)   => string of the decimal number (the JSON mapping's rule, so
//                                   a uint64 beyond int64 is exact); int with int64_as_int
//   float, double                => double (a float as its shortest decimal form); NaN and
//                                   infinities => "NaN", "Infinity", "-Infinity"
//   bool, string                 => bool, string
//   bytes                        => base64 string
//   enum                         => the value's name (int with use_integers_for_enums, and for
//                                   a number the enum does not name)
//   repeated, map                => array, object (keys as strings)
//   Timestamp, Duration          => "1972-01-01T10:00:20.021Z", "1.5s"
//   wrappers (Int32Value, ...)   => the wrapped value (by the rules above)
//   Struct, Value, ListValue     => object, any value, array; NullValue => null
//   FieldMask, Empty, Any        => "a.b,cD", {}, {"@type": ..., fields or "value"}
//
// Reading: fields without presence (proto3 scalars, repeated and map fields) are always in the
// object, with their default when unset; fields with presence (messages, `optional`, oneof
// members) only when set. Writing takes the same shapes and also: a field by either name; an
// int for a 64-bit field and a numeric string for an int field; an enum's number; null for
// "unset". Unknown fields are an error unless ignore_unknown_fields.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "streamframe/schema_registry.hpp"
#include "streamframe/serde.hpp"

namespace google::protobuf {
class Descriptor;
}

namespace streamframe {

// The message type a Protobuf serde reads or writes. Either a type compiled into the program,
// `descriptor = shop::Order::descriptor()` (a .proto compiled at build time by protoc), or one
// named by `message_type` ("shop.Order") in a FileDescriptorSet, as
// `protoc --include_imports --descriptor_set_out=FILE` writes it: the file's path in
// `descriptor_set_file` or its bytes in `descriptor_set`.
struct ProtobufMessageType {
  const google::protobuf::Descriptor* descriptor = nullptr;
  std::string message_type{};
  std::string descriptor_set_file{};
  std::string descriptor_set{};
};

struct ProtobufSerializerOptions {
  ProtobufMessageType msg_type{};
  // Writes map entries in key order, so equal messages give equal bytes.
  bool deterministic = false;
  // A field of the object the message type lacks is skipped instead of being an error.
  bool ignore_unknown_fields = false;
  // With a registry: each record is written in Confluent's wire format (a zero byte, the
  // schema id, the message indexes, the message) with the id of the message's .proto file
  // under its subject, registered or looked up at the first record of each topic. The files
  // it imports are registered as references under their own names, except the well-known
  // ones (google/protobuf/..., google/type/..., confluent/...), which registries know.
  std::optional<SchemaRegistryClientConfig> schema_registry_client_config{};
  SchemaRegistrySerializationConfig schema_registry_serialization_config{};
};

struct ProtobufDeserializerOptions {
  ProtobufMessageType msg_type{};
  // Enum values as their numbers instead of their names.
  bool use_integers_for_enums = false;
  // Field names as written in the .proto file instead of lowerCamelCase.
  bool preserving_proto_field_name = false;
  // 64-bit integers as ints instead of the JSON mapping's strings (Δ: not a Quix option); a
  // uint64 beyond int64 stays a string.
  bool int64_as_int = false;
  // With a registry: records are read in Confluent's wire format; the schema id and message
  // indexes are checked for form and skipped, and the message read as `msg_type` (as
  // confluent-kafka's ProtobufDeserializer does without a registry client).
  std::optional<SchemaRegistryClientConfig> schema_registry_client_config{};
};

// Throw ConfigError for a message type that cannot be found or a descriptor set that cannot be
// read or does not hold a consistent set of files.
std::shared_ptr<const Serializer> protobuf_serializer(const ProtobufSerializerOptions& options);
std::shared_ptr<const Deserializer> protobuf_deserializer(
    const ProtobufDeserializerOptions& options);

}  // namespace streamframe
