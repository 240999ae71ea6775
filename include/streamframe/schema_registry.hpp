// Schema Registry settings for the schema serdes (SEMANTICS TOP-08), with Quix Streams' names:
// SchemaRegistryClientConfig says how to reach the registry, SchemaRegistrySerializationConfig
// how a serializer finds its schema's id. Records go in Confluent's wire format: a zero byte,
// the schema id as 4 bytes big-endian, then the payload.
#pragma once

#include <chrono>
#include <string>

namespace streamframe {

struct SchemaRegistryClientConfig {
  // The registry's base URL: Confluent's (`http://host:8081`) or another registry's
  // Confluent-compatible API (Apicurio: `http://host:8080/apis/ccompat/v7`). http or https.
  std::string url{};
  // "user:password" for HTTP basic authentication; empty = none.
  std::string basic_auth_user_info{};
  // TLS: the CA bundle that signed the registry's certificate (empty = the system's), and a
  // client certificate and key (PEM files) for registries that ask for one.
  std::string ssl_ca_location{};
  std::string ssl_certificate_location{};
  std::string ssl_key_location{};
  // Each request gives up after this (the registry down or not answering): the serde then
  // fails with a SerializationError naming the registry, and the next record asks again.
  std::chrono::milliseconds timeout{10'000};
};

// How a serializer names the subject its schema is registered under (Confluent's strategies).
enum class SubjectNameStrategy {
  topic_name,         // "<topic>-value" / "<topic>-key" (the default)
  record_name,        // the record's full name, e.g. "shop.Order"
  topic_record_name,  // "<topic>-<record full name>"
};

struct SchemaRegistrySerializationConfig {
  // Register the serializer's schema under its subject at the first record (true), or only
  // look it up there and fail when it is not registered (false).
  bool auto_register_schemas = true;
  SubjectNameStrategy subject_name_strategy = SubjectNameStrategy::topic_name;
};

}  // namespace streamframe
