// A client of the Schema Registry's REST API (Confluent's, or a registry's Confluent-compatible
// one) for the schema serdes: registers and looks up schemas under subjects and fetches them by
// id, over libcurl. Every failure is a SerializationError naming the registry and, for an
// answer, its HTTP status and Confluent error code. Thread-safe; schemas by id are cached.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamframe/errors.hpp"
#include "streamframe/schema_registry.hpp"

namespace streamframe::serde {

// A schema's reference to another registered schema (a Protobuf file it imports): the name it
// is imported by, and the subject and version it is registered under.
struct SchemaReference {
  std::string name;
  std::string subject;
  std::int32_t version = 0;
};

// What a lookup finds: the schema's id and its version under the subject.
struct SubjectVersion {
  std::int32_t id = 0;
  std::int32_t version = 0;
};

struct RegisteredSchema {
  std::int32_t id = 0;
  std::string type;  // "AVRO", "PROTOBUF" or "JSON"
  std::string schema;
};

class SchemaRegistryClient {
 public:
  // ConfigError for a URL that is not http(s).
  explicit SchemaRegistryClient(SchemaRegistryClientConfig config);

  // POST /subjects/{subject}/versions: the id of `schema` under `subject`, registering it if
  // it is not there yet.
  std::int32_t register_schema(std::string_view subject, std::string_view schema,
                               std::string_view type,
                               const std::vector<SchemaReference>& references = {});
  // POST /subjects/{subject}: the id of `schema` when it is registered under `subject`.
  std::int32_t lookup_schema(std::string_view subject, std::string_view schema,
                             std::string_view type,
                             const std::vector<SchemaReference>& references = {});
  // The same lookup, also giving the version (what a reference to the schema names).
  SubjectVersion lookup_version(std::string_view subject, std::string_view schema,
                                std::string_view type,
                                const std::vector<SchemaReference>& references = {});
  // GET /schemas/ids/{id}, cached: a schema's text never changes under its id.
  std::shared_ptr<const RegisteredSchema> schema_by_id(std::int32_t id);

  const std::string& url() const noexcept { return config_.url; }

 private:
  struct Response {
    long status = 0;
    std::string body;
  };
  Response request(std::string_view method, const std::string& path, const std::string& body);
  std::int32_t id_from(const Response& r, std::string_view what);
  [[noreturn]] void fail(const Response& r, std::string_view what);

  SchemaRegistryClientConfig config_;
  std::mutex mutex_;
  std::map<std::int32_t, std::shared_ptr<const RegisteredSchema>> by_id_;
};

// The subject a serializer's schema goes under by Confluent's strategies: "<topic>-value" (or
// "-key"), the record's full name, or "<topic>-<record>".
std::string subject_name(SubjectNameStrategy strategy, std::string_view topic, bool key,
                         std::string_view record);

// A registry serializer's schema id: asked for by `fetch` at its first record under `subject`
// and kept in `id` (-1 until then); a failed request is asked again at the next record. An
// empty subject is a serializer a Topic did not bind (for_topic): an error naming `serde`.
template <typename Fetch>
std::int32_t subject_schema_id(std::atomic<std::int32_t>& id, const std::string& subject,
                               std::string_view serde, Fetch&& fetch) {
  std::int32_t known = id.load(std::memory_order_acquire);
  if (known >= 0) return known;
  if (subject.empty()) {
    throw SerializationError(fmt::format(
        "{} serializer: the topic-name subject strategies need the topic: give this serializer "
        "to a topic (TopicOptions::value_serializer or key_serializer)",
        serde));
  }
  known = fetch();
  id.store(known, std::memory_order_release);
  return known;
}

// What a registry deserializer makes once per schema id (a writer schema, parsed), kept for its
// life. The id's schema must be of `type` ("AVRO", "PROTOBUF", "JSON"); a `make` that throws
// ConfigError (a schema that does not parse) is a SerializationError naming the id.
template <typename T>
class PerSchemaId {
 public:
  PerSchemaId(std::shared_ptr<SchemaRegistryClient> client, std::string type, std::string serde)
      : client_(std::move(client)), type_(std::move(type)), serde_(std::move(serde)) {}

  // `make(const RegisteredSchema&)` returns a std::unique_ptr<T>; it runs outside the lock.
  template <typename Make>
  const T& get(std::int32_t id, Make&& make) const {
    {
      const std::shared_lock lock(mutex_);
      if (const auto it = by_id_.find(id); it != by_id_.end()) return *it->second;
    }
    const auto registered = client_->schema_by_id(id);
    if (registered->type != type_) {
      throw SerializationError(
          fmt::format("{} deserializer: schema id {} in the schema registry at '{}' is a {} schema",
                      serde_, id, client_->url(), registered->type));
    }
    std::unique_ptr<T> made;
    try {
      made = make(*registered);
    } catch (const ConfigError& e) {
      throw SerializationError(
          fmt::format("{} deserializer: schema id {}: {}", serde_, id, e.what()));
    }
    const std::unique_lock lock(mutex_);
    return *by_id_.try_emplace(id, std::move(made)).first->second;
  }

 private:
  std::shared_ptr<SchemaRegistryClient> client_;
  std::string type_;
  std::string serde_;
  mutable std::shared_mutex mutex_;
  mutable std::map<std::int32_t, std::unique_ptr<T>> by_id_;
};

// Confluent's wire format: byte 0 is 0, bytes 1..4 the schema id (big-endian).
inline constexpr std::size_t kWireHeaderSize = 5;
void append_wire_header(std::int32_t id, std::string& out);
// The schema id of `data`; SerializationError for a wrong magic byte or fewer than 5 bytes.
std::int32_t read_wire_header(std::string_view data, std::string_view serde);

}  // namespace streamframe::serde
