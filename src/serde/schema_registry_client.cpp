#include "serde/schema_registry_client.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <simdjson.h>

#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"
#include "streamframe/value.hpp"

namespace streamframe::serde {

namespace {

using CurlPtr = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using HeaderList = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw ConfigError("cannot initialise libcurl for the schema registry client");
  });
}

std::size_t append_body(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// Subjects may hold any character (a record name's dots, a topic's), so they are escaped in
// the URL path. libcurl ignores the handle argument since 7.82.
std::string escape(std::string_view s) {
  char* e = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  std::string out = e != nullptr ? e : "";
  curl_free(e);
  return out;
}

std::string request_body(std::string_view schema, std::string_view type,
                         const std::vector<SchemaReference>& references) {
  Object o;
  o.set("schema", Value(schema));
  if (type != "AVRO") o.set("schemaType", Value(type));  // AVRO is the registry's default
  if (!references.empty()) {
    Array refs;
    refs.reserve(references.size());
    for (const SchemaReference& r : references) {
      refs.push_back(Value::object({{"name", Value(r.name)},
                                    {"subject", Value(r.subject)},
                                    {"version", Value(static_cast<std::int64_t>(r.version))}}));
    }
    o.set("references", Value(std::move(refs)));
  }
  std::string body;
  json::write(Value(std::move(o)), body);
  return body;
}

}  // namespace

SchemaRegistryClient::SchemaRegistryClient(SchemaRegistryClientConfig config)
    : config_(std::move(config)) {
  while (!config_.url.empty() && config_.url.back() == '/') config_.url.pop_back();
  if (!config_.url.starts_with("http://") && !config_.url.starts_with("https://")) {
    throw ConfigError(fmt::format(
        "schema registry url must start with http:// or https://, got '{}'", config_.url));
  }
  if (config_.timeout.count() <= 0) throw ConfigError("schema registry timeout must be > 0");
  init_curl_once();
}

SchemaRegistryClient::Response SchemaRegistryClient::request(std::string_view method,
                                                             const std::string& path,
                                                             const std::string& body) {
  CurlPtr h(curl_easy_init(), &curl_easy_cleanup);
  if (!h) throw SerializationError("cannot create a libcurl handle for the schema registry");
  const std::string url = config_.url + path;
  Response r;
  HeaderList headers(nullptr, &curl_slist_free_all);
  for (const char* line : {"Accept: application/vnd.schemaregistry.v1+json, application/json",
                           "Content-Type: application/vnd.schemaregistry.v1+json"}) {
    curl_slist* next = curl_slist_append(headers.get(), line);
    if (next == nullptr) throw SerializationError("out of memory building a registry request");
    (void)headers.release();
    headers.reset(next);
  }
  CURL* c = h.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // worker threads: no SIGALRM for timeouts
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (!config_.basic_auth_user_info.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERPWD, config_.basic_auth_user_info.c_str());
  }
  if (!config_.ssl_ca_location.empty())
    curl_easy_setopt(c, CURLOPT_CAINFO, config_.ssl_ca_location.c_str());
  if (!config_.ssl_certificate_location.empty())
    curl_easy_setopt(c, CURLOPT_SSLCERT, config_.ssl_certificate_location.c_str());
  if (!config_.ssl_key_location.empty())
    curl_easy_setopt(c, CURLOPT_SSLKEY, config_.ssl_key_location.c_str());
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    throw SerializationError(fmt::format("schema registry at '{}': {} {} failed: {}", config_.url,
                                         method, path, curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

void SchemaRegistryClient::fail(const Response& r, std::string_view what) {
  // Confluent's error body: {"error_code": 40403, "message": "..."}.
  std::string detail = r.body.substr(0, 300);
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (parser.parse(r.body).get(e) == simdjson::SUCCESS) {
    std::int64_t code = 0;
    std::string_view message;
    if (e["error_code"].get(code) == simdjson::SUCCESS &&
        e["message"].get(message) == simdjson::SUCCESS) {
      detail = fmt::format("{} (error_code {})", message, code);
    }
  }
  if (r.status == 401 || r.status == 403) {
    detail = fmt::format(
        "{}the registry refused {} (basic_auth_user_info)", detail.empty() ? "" : detail + "; ",
        config_.basic_auth_user_info.empty() ? "a request without credentials" : "the credentials");
  }
  throw SerializationError(
      fmt::format("schema registry at '{}': {}: HTTP {}: {}", config_.url, what, r.status, detail));
}

std::int32_t SchemaRegistryClient::id_from(const Response& r, std::string_view what) {
  if (r.status != 200) fail(r, what);
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  std::int64_t id = 0;
  if (parser.parse(r.body).get(e) != simdjson::SUCCESS || e["id"].get(id) != simdjson::SUCCESS ||
      id < 0 || id > INT32_MAX) {
    throw SerializationError(fmt::format("schema registry at '{}': {}: an answer without an id: {}",
                                         config_.url, what, r.body.substr(0, 300)));
  }
  return static_cast<std::int32_t>(id);
}

std::int32_t SchemaRegistryClient::register_schema(std::string_view subject,
                                                   std::string_view schema, std::string_view type,
                                                   const std::vector<SchemaReference>& references) {
  const std::string path = fmt::format("/subjects/{}/versions", escape(subject));
  return id_from(request("POST", path, request_body(schema, type, references)),
                 fmt::format("registering the {} schema under subject '{}'", type, subject));
}

std::int32_t SchemaRegistryClient::lookup_schema(std::string_view subject, std::string_view schema,
                                                 std::string_view type,
                                                 const std::vector<SchemaReference>& references) {
  return lookup_version(subject, schema, type, references).id;
}

SubjectVersion SchemaRegistryClient::lookup_version(
    std::string_view subject, std::string_view schema, std::string_view type,
    const std::vector<SchemaReference>& references) {
  const std::string path = fmt::format("/subjects/{}", escape(subject));
  const std::string what = fmt::format(
      "looking up the {} schema under subject '{}' (auto-registration is off)", type, subject);
  const Response r = request("POST", path, request_body(schema, type, references));
  SubjectVersion found;
  found.id = id_from(r, what);
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  std::int64_t version = 0;
  if (parser.parse(r.body).get(e) == simdjson::SUCCESS &&
      e["version"].get(version) == simdjson::SUCCESS && version > 0 && version <= INT32_MAX) {
    found.version = static_cast<std::int32_t>(version);
  }
  return found;
}

std::shared_ptr<const RegisteredSchema> SchemaRegistryClient::schema_by_id(std::int32_t id) {
  {
    const std::lock_guard lock(mutex_);
    if (const auto it = by_id_.find(id); it != by_id_.end()) return it->second;
  }
  const Response r = request("GET", fmt::format("/schemas/ids/{}", id), "");
  const std::string what = fmt::format("fetching schema id {}", id);
  if (r.status != 200) fail(r, what);
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  std::string_view text;
  if (parser.parse(r.body).get(e) != simdjson::SUCCESS ||
      e["schema"].get(text) != simdjson::SUCCESS) {
    throw SerializationError(
        fmt::format("schema registry at '{}': {}: an answer without a schema", config_.url, what));
  }
  auto schema = std::make_shared<RegisteredSchema>();
  schema->id = id;
  schema->schema = std::string(text);
  std::string_view type = "AVRO";  // the registry leaves schemaType out for Avro
  if (e["schemaType"].get(type) != simdjson::SUCCESS) type = "AVRO";
  schema->type = std::string(type);
  const std::lock_guard lock(mutex_);
  return by_id_.emplace(id, std::move(schema)).first->second;
}

std::string subject_name(SubjectNameStrategy strategy, std::string_view topic, bool key,
                         std::string_view record) {
  switch (strategy) {
    case SubjectNameStrategy::record_name:
      return std::string(record);
    case SubjectNameStrategy::topic_record_name:
      return fmt::format("{}-{}", topic, record);
    case SubjectNameStrategy::topic_name:
      break;
  }
  return fmt::format("{}-{}", topic, key ? "key" : "value");
}

void append_wire_header(std::int32_t id, std::string& out) {
  const auto u = static_cast<std::uint32_t>(id);
  out.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((u >> shift) & 0xff));
}

std::int32_t read_wire_header(std::string_view data, std::string_view serde) {
  if (data.size() < kWireHeaderSize) {
    throw SerializationError(fmt::format(
        "{} deserializer: {} bytes are too few for the schema registry's wire format (a zero "
        "byte and a 4-byte schema id first)",
        serde, data.size()));
  }
  if (data[0] != '\0') {
    throw SerializationError(fmt::format(
        "{} deserializer: magic byte {:#04x} where the schema registry's wire format has 0x00 "
        "(not written by a schema registry serializer?)",
        serde, static_cast<unsigned char>(data[0])));
  }
  std::uint32_t u = 0;
  for (std::size_t i = 1; i < kWireHeaderSize; ++i)
    u = (u << 8) | static_cast<unsigned char>(data[i]);
  return static_cast<std::int32_t>(u);
}

}  // namespace streamframe::serde
