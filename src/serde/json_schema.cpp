// JSON Schema serdes (include/streamframe/json_schema.hpp). valijson validates; it reads JSON
// through adapters, and the one here reads a streamframe::Value in place, so a record is checked
// as it is (no copy into another library's DOM). The schema is parsed once (streamframe::json,
// then valijson's parser through the same adapter); a record is first validated without
// collecting errors (valijson stops at the first failure), and only a failing one is validated
// again with its ValidationResults, for the message.
//
// valijson's Validator caches the compiled regular expressions of "pattern" and is not
// thread-safe: each schema lends validators from a small pool, one per thread at a time.
//
// Cost (measured on this 2-core machine, one thread, a 5-field object against a 5-property
// schema): about 0.9 M records/s written or read with validation, against 11 M/s writing and
// 5.6 M/s reading plain json. malloc and free are the top of the profile (callgrind: about a
// quarter of the instructions): valijson's visitor copies its context (a vector of strings)
// for every property and array item it descends into, and collects matched property names
// in a std::set<std::string>; the adapter here copies nothing but the strings valijson asks
// for by value (enum, const, minLength, pattern).
#ifndef VALIJSON_USE_EXCEPTIONS
// valijson reports a bad schema by calling abort() unless this is set.
#define VALIJSON_USE_EXCEPTIONS 1
#endif

#include "streamframe/json_schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <valijson/internal/adapter.hpp>
#include <valijson/internal/basic_adapter.hpp>
#include <valijson/internal/frozen_value.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>
#include <vector>

#include "serde/schema_registry_client.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::serde::json_schema {
namespace {

class ValueAdapter;
class ValueArrayIterator;
class ValueMemberIterator;

// A member as valijson iterates them: the key is the object's own string (not a copy).
using ValueMember = std::pair<const std::string&, ValueAdapter>;

const Value& empty_array() {
  static const Value v{Array{}};
  return v;
}
const Value& empty_object() {
  static const Value v{Object{}};
  return v;
}

// An array as valijson walks it: a view of the Value's elements.
class ValueArray {
 public:
  using const_iterator = ValueArrayIterator;
  using iterator = ValueArrayIterator;

  ValueArray() : items_(&empty_array().as_array()) {}
  explicit ValueArray(const Array& items) : items_(&items) {}

  ValueArrayIterator begin() const;
  ValueArrayIterator end() const;
  std::size_t size() const { return items_->size(); }

 private:
  const Array* items_;
};

// An object as valijson walks it: a view of the Value's members, in their order.
class ValueObject {
 public:
  using const_iterator = ValueMemberIterator;
  using iterator = ValueMemberIterator;

  ValueObject() : members_(&empty_object().as_object()) {}
  explicit ValueObject(const Object& members) : members_(&members) {}

  ValueMemberIterator begin() const;
  ValueMemberIterator end() const;
  ValueMemberIterator find(const std::string& key) const;
  std::size_t size() const { return members_->size(); }

 private:
  const Object* members_;
};

// A copy of a schema value valijson keeps (the values of "enum" and "const").
class FrozenValue final : public valijson::adapters::FrozenValue {
 public:
  explicit FrozenValue(Value value) : value_(std::move(value)) {}
  valijson::adapters::FrozenValue* clone() const override { return new FrozenValue(value_); }
  bool equalTo(const valijson::adapters::Adapter& other, bool strict) const override;

 private:
  Value value_;
};

// What valijson's BasicAdapter asks of one value. Types are strict (a string "1" is not a
// number), and an integral double is also an integer, as JSON Schema from draft 6 on and
// Python's jsonschema have it ({"type": "integer"} accepts 1.0).
class ValueRef {
 public:
  ValueRef() : v_(&empty_object()) {}
  explicit ValueRef(const Value& v) : v_(&v) {}

  valijson::adapters::FrozenValue* freeze() const { return new FrozenValue(*v_); }

  opt::optional<ValueArray> getArrayOptional() const {
    if (!v_->is_array()) return {};
    return ValueArray(v_->as_array());
  }
  opt::optional<ValueObject> getObjectOptional() const {
    if (!v_->is_object()) return {};
    return ValueObject(v_->as_object());
  }
  bool getArraySize(std::size_t& result) const {
    if (!v_->is_array()) return false;
    result = v_->as_array().size();
    return true;
  }
  bool getObjectSize(std::size_t& result) const {
    if (!v_->is_object()) return false;
    result = v_->as_object().size();
    return true;
  }
  bool getBool(bool& result) const {
    if (!v_->is_bool()) return false;
    result = v_->as_bool();
    return true;
  }
  bool getDouble(double& result) const {
    if (!v_->is_double()) return false;
    result = v_->as_double();
    return true;
  }
  bool getInteger(std::int64_t& result) const {
    if (v_->is_int()) {
      result = v_->as_int();
      return true;
    }
    if (integral_double()) {
      result = static_cast<std::int64_t>(v_->as_double());
      return true;
    }
    return false;
  }
  bool getString(std::string& result) const {
    if (!v_->is_string()) return false;
    result = v_->as_string();
    return true;
  }
  static bool hasStrictTypes() { return true; }

  bool isArray() const { return v_->is_array(); }
  bool isBool() const { return v_->is_bool(); }
  bool isDouble() const { return v_->is_double(); }
  bool isInteger() const { return v_->is_int() || integral_double(); }
  bool isNull() const { return v_->is_null(); }
  bool isNumber() const { return v_->is_number(); }
  bool isObject() const { return v_->is_object(); }
  bool isString() const { return v_->is_string(); }

 private:
  // Within int64 (2^63 is exact in a double; the range is [-2^63, 2^63)).
  bool integral_double() const {
    if (!v_->is_double()) return false;
    const double d = v_->as_double();
    return std::isfinite(d) && d == std::trunc(d) && d >= -9223372036854775808.0 &&
           d < 9223372036854775808.0;
  }

  const Value* v_;
};

class ValueAdapter : public valijson::adapters::BasicAdapter<ValueAdapter, ValueArray, ValueMember,
                                                             ValueObject, ValueRef> {
 public:
  ValueAdapter() = default;
  explicit ValueAdapter(const Value& v) : BasicAdapter(ValueRef(v)) {}
};

class ValueArrayIterator {
 public:
  using iterator_category = std::bidirectional_iterator_tag;
  using value_type = ValueAdapter;
  using difference_type = std::ptrdiff_t;
  using pointer = ValueAdapter*;
  using reference = ValueAdapter&;

  explicit ValueArrayIterator(Array::const_iterator it) : it_(it) {}

  ValueAdapter operator*() const { return ValueAdapter(*it_); }
  valijson::adapters::DerefProxy<ValueAdapter> operator->() const {
    return valijson::adapters::DerefProxy<ValueAdapter>(**this);
  }
  bool operator==(const ValueArrayIterator& other) const { return it_ == other.it_; }
  bool operator!=(const ValueArrayIterator& other) const { return it_ != other.it_; }
  ValueArrayIterator& operator++() {
    ++it_;
    return *this;
  }
  ValueArrayIterator operator++(int) {
    ValueArrayIterator before = *this;
    ++it_;
    return before;
  }
  ValueArrayIterator& operator--() {
    --it_;
    return *this;
  }
  void advance(std::ptrdiff_t n) { it_ += n; }

 private:
  Array::const_iterator it_;
};

class ValueMemberIterator {
 public:
  using iterator_category = std::bidirectional_iterator_tag;
  using value_type = ValueMember;
  using difference_type = std::ptrdiff_t;
  using pointer = ValueMember*;
  using reference = ValueMember&;

  explicit ValueMemberIterator(Object::const_iterator it) : it_(it) {}

  ValueMember operator*() const { return ValueMember(it_->first, ValueAdapter(it_->second)); }
  valijson::adapters::DerefProxy<ValueMember> operator->() const {
    return valijson::adapters::DerefProxy<ValueMember>(**this);
  }
  bool operator==(const ValueMemberIterator& other) const { return it_ == other.it_; }
  bool operator!=(const ValueMemberIterator& other) const { return it_ != other.it_; }
  ValueMemberIterator& operator++() {
    ++it_;
    return *this;
  }
  ValueMemberIterator operator++(int) {
    ValueMemberIterator before = *this;
    ++it_;
    return before;
  }
  ValueMemberIterator& operator--() {
    --it_;
    return *this;
  }

 private:
  Object::const_iterator it_;
};

ValueArrayIterator ValueArray::begin() const {
  return ValueArrayIterator(items_->begin());
}
ValueArrayIterator ValueArray::end() const {
  return ValueArrayIterator(items_->end());
}
ValueMemberIterator ValueObject::begin() const {
  return ValueMemberIterator(members_->begin());
}
ValueMemberIterator ValueObject::end() const {
  return ValueMemberIterator(members_->end());
}
ValueMemberIterator ValueObject::find(const std::string& key) const {
  return ValueMemberIterator(std::find_if(members_->begin(), members_->end(),
                                          [&](const Object::Entry& e) { return e.first == key; }));
}

bool FrozenValue::equalTo(const valijson::adapters::Adapter& other, bool strict) const {
  return ValueAdapter(value_).equalTo(other, strict);
}

}  // namespace
}  // namespace streamframe::serde::json_schema

namespace valijson::adapters {
template <>
struct AdapterTraits<streamframe::serde::json_schema::ValueAdapter> {
  using DocumentType = streamframe::Value;
  static std::string adapterName() { return "streamframe::Value"; }
};
}  // namespace valijson::adapters

namespace streamframe {

namespace {

using serde::json_schema::ValueAdapter;

std::string read_schema_text(const std::string& schema, const std::string& schema_file,
                             std::string_view who) {
  if (!schema.empty() && !schema_file.empty()) {
    throw ConfigError(fmt::format("{}: set one of schema and schema_file, not both", who));
  }
  if (!schema.empty()) return schema;
  std::ifstream in(schema_file, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot read the schema file '{}'", who, schema_file));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Removes the "format" keyword from a schema: valijson asserts some formats (and throws on a
// non-string value under "date"), where JSON Schema 2020-12 makes "format" an annotation and the
// validators of Quix Streams and confluent-kafka do not check it. Walks the whole document (a
// "$ref" may point anywhere) except the values that are data, not schemas; in the keywords
// whose members are named subschemas, a member named "format" is a property, not the keyword.
void drop_format(Value& node) {
  if (node.is_array()) {
    for (auto& item : node.as_array()) drop_format(item);
    return;
  }
  if (!node.is_object()) return;
  Object& o = node.as_object();
  if (const Value* format = o.find("format"); format != nullptr && format->is_string())
    o.erase("format");
  for (auto& [key, sub] : o) {
    if (key == "enum" || key == "const" || key == "default" || key == "examples") continue;
    if ((key == "properties" || key == "patternProperties" || key == "definitions" ||
         key == "$defs" || key == "dependentSchemas" || key == "dependencies") &&
        sub.is_object()) {
      for (auto& [name, schema] : sub.as_object()) drop_format(schema);
    } else {
      drop_format(sub);
    }
  }
}

// A JSON Pointer (RFC 6901) from valijson's context: "<root>", then one "[name]" or "[index]"
// per step down.
std::string json_pointer(const std::vector<std::string>& context) {
  std::string pointer;
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string_view step = context[i];
    if (step.size() >= 2 && step.front() == '[' && step.back() == ']')
      step = step.substr(1, step.size() - 2);
    pointer += '/';
    for (const char c : step) {
      if (c == '~') {
        pointer += "~0";
      } else if (c == '/') {
        pointer += "~1";
      } else {
        pointer += c;
      }
    }
  }
  return pointer;
}

// One parsed JSON Schema, shared by every thread of a serde.
class CompiledSchema {
 public:
  CompiledSchema(std::string text, std::string_view who) : text_(std::move(text)) {
    Value doc;
    try {
      doc = json::parse(text_);
    } catch (const SerializationError& e) {
      throw ConfigError(fmt::format("{}: the schema is not JSON: {}", who, e.what()));
    }
    if (!doc.is_object() && !doc.is_bool()) {
      throw ConfigError(
          fmt::format("{}: a JSON Schema is an object or a boolean, got {}", who, doc.type_name()));
    }
    if (doc.is_object()) {
      if (const Value* title = doc.find("title"); title != nullptr && title->is_string())
        title_ = title->as_string();
    }
    auto version = valijson::SchemaParser::kDraft7;
    if (const Value* uri = doc.find("$schema"); uri != nullptr && uri->is_string()) {
      if (uri->as_string().find("draft-04") != std::string::npos) {
        version = valijson::SchemaParser::kDraft4;
      } else if (uri->as_string().find("draft-03") != std::string::npos) {
        version = valijson::SchemaParser::kDraft3;
      }
    }
    drop_format(doc);
    try {
      valijson::SchemaParser parser(version);
      parser.populateSchema(ValueAdapter(doc), schema_);
    } catch (const std::exception& e) {
      throw ConfigError(fmt::format("{}: not a valid JSON Schema: {}", who, e.what()));
    }
  }

  const std::string& text() const noexcept { return text_; }
  const std::string& title() const noexcept { return title_; }

  // SerializationError naming the failing part of `value` and why, when it fails the schema.
  void validate(const Value& value, std::string_view who) const {
    const ValueAdapter target(value);
    Lease lease(*this);
    if (lease->validate(schema_, target, nullptr)) return;
    valijson::ValidationResults results;
    lease->validate(schema_, target, &results);
    valijson::ValidationResults::Error error;
    if (!results.popError(error)) {
      throw SerializationError(fmt::format("{}: schema validation failed", who));
    }
    // valijson reports the innermost failure first, then what it failed for each enclosing
    // keyword ("Failed to validate against schema associated with property name ..."): the
    // first names the place and the reason.
    const std::string pointer = json_pointer(error.context);
    throw SerializationError(fmt::format("{}: schema validation failed at '{}'{}: {}", who, pointer,
                                         pointer.empty() ? " (the document)" : "",
                                         error.description));
  }

 private:
  // A validator lent to one thread for one record.
  class Lease {
   public:
    explicit Lease(const CompiledSchema& s) : s_(s) {
      {
        const std::lock_guard lock(s_.mutex_);
        if (!s_.pool_.empty()) {
          v_ = std::move(s_.pool_.back());
          s_.pool_.pop_back();
        }
      }
      if (!v_) v_ = std::make_unique<valijson::Validator>(valijson::Validator::kStrongTypes);
    }
    ~Lease() {
      const std::lock_guard lock(s_.mutex_);
      s_.pool_.push_back(std::move(v_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    valijson::Validator* operator->() const { return v_.get(); }

   private:
    const CompiledSchema& s_;
    std::unique_ptr<valijson::Validator> v_;
  };

  std::string text_;
  std::string title_;
  valijson::Schema schema_;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<valijson::Validator>> pool_;
};

class JsonSchemaSerializer final : public Serializer {
 public:
  explicit JsonSchemaSerializer(std::shared_ptr<const CompiledSchema> schema)
      : schema_(std::move(schema)) {}
  std::string_view name() const override { return "json"; }
  void serialize(const Value& value, std::string& out) const override {
    schema_->validate(value, "json serializer");
    out.clear();
    json::write(value, out);
  }

 private:
  std::shared_ptr<const CompiledSchema> schema_;
};

class JsonSchemaDeserializer final : public Deserializer {
 public:
  explicit JsonSchemaDeserializer(std::shared_ptr<const CompiledSchema> schema)
      : schema_(std::move(schema)) {}
  bool reads_headers() const override { return false; }
  std::string_view name() const override { return "json"; }
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    Value value = json::parse(data);
    schema_->validate(value, "json deserializer");
    out.push_back(std::move(value));
  }

 private:
  std::shared_ptr<const CompiledSchema> schema_;
};

// Reads Confluent's wire format. Each record is validated against `local` when given, else
// against the writer schema its id names (fetched and parsed once per id).
class JsonRegistryDeserializer final : public Deserializer {
 public:
  JsonRegistryDeserializer(std::shared_ptr<serde::SchemaRegistryClient> client,
                           std::shared_ptr<const CompiledSchema> local)
      : local_(std::move(local)), writers_(std::move(client), "JSON", "json") {}

  bool reads_headers() const override { return false; }
  std::string_view name() const override { return "json"; }

  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    const std::int32_t id = serde::read_wire_header(data, "json");
    // The id is looked up even with a local schema: a record whose id the registry does not
    // know, or knows as another kind of schema, is not read as if it were valid.
    const CompiledSchema* writer = writer_of(id);
    Value value = json::parse(data.substr(serde::kWireHeaderSize));
    (local_ ? *local_ : *writer).validate(value, "json deserializer");
    out.push_back(std::move(value));
  }

 private:
  // The writer schema of `id`, parsed; nullptr (not parsed: not used) with a local schema.
  const CompiledSchema* writer_of(std::int32_t id) const {
    return writers_
        .get(id,
             [&](const serde::RegisteredSchema& registered) {
               return std::make_unique<std::unique_ptr<CompiledSchema>>(
                   local_
                       ? nullptr
                       : std::make_unique<CompiledSchema>(registered.schema, "json deserializer"));
             })
        .get();
  }

  std::shared_ptr<const CompiledSchema> local_;
  serde::PerSchemaId<std::unique_ptr<CompiledSchema>> writers_;
};

// Writes Confluent's wire format with the id of its schema under the subject its strategy
// names; bound to a topic by for_topic(). The id is asked for at the first record (not when the
// pipeline is defined) and kept; a failed request is asked again at the next record.
class JsonRegistrySerializer final : public Serializer {
 public:
  JsonRegistrySerializer(std::shared_ptr<const CompiledSchema> schema,
                         std::shared_ptr<serde::SchemaRegistryClient> client,
                         SchemaRegistrySerializationConfig config, std::string subject)
      : schema_(std::move(schema)),
        client_(std::move(client)),
        config_(config),
        subject_(std::move(subject)) {}

  std::string_view name() const override { return "json"; }

  std::shared_ptr<const Serializer> for_topic(const std::string& topic, bool key) const override {
    std::string subject =
        serde::subject_name(config_.subject_name_strategy, topic, key, schema_->title());
    return std::make_shared<const JsonRegistrySerializer>(schema_, client_, config_,
                                                          std::move(subject));
  }

  void serialize(const Value& value, std::string& out) const override {
    schema_->validate(value, "json serializer");
    const std::int32_t id = serde::subject_schema_id(id_, subject_, "json", [&] {
      return config_.auto_register_schemas
                 ? client_->register_schema(subject_, schema_->text(), "JSON")
                 : client_->lookup_schema(subject_, schema_->text(), "JSON");
    });
    out.clear();
    serde::append_wire_header(id, out);
    json::write(value, out);
  }

 private:
  std::shared_ptr<const CompiledSchema> schema_;
  std::shared_ptr<serde::SchemaRegistryClient> client_;
  SchemaRegistrySerializationConfig config_;
  std::string subject_;  // empty until bound (topic strategies)
  mutable std::atomic<std::int32_t> id_{-1};
};

std::shared_ptr<const CompiledSchema> compile(const std::string& schema,
                                              const std::string& schema_file,
                                              std::string_view who) {
  if (schema.empty() && schema_file.empty()) return nullptr;
  return std::make_shared<const CompiledSchema>(read_schema_text(schema, schema_file, who), who);
}

}  // namespace

std::shared_ptr<const Serializer> json_serializer(const JsonSerializerOptions& options) {
  auto schema = compile(options.schema, options.schema_file, "json serializer");
  if (!options.schema_registry_client_config) {
    if (!schema) return make_serializer("json");
    return std::make_shared<const JsonSchemaSerializer>(std::move(schema));
  }
  if (!schema) {
    throw ConfigError(
        "json serializer: with a schema registry the serializer registers its schema: give "
        "schema or schema_file");
  }
  const auto& config = options.schema_registry_serialization_config;
  if (config.subject_name_strategy != SubjectNameStrategy::topic_name && schema->title().empty()) {
    throw ConfigError(
        "json serializer: the record-name subject strategies name the subject after the "
        "schema's \"title\", and this schema has none");
  }
  auto client =
      std::make_shared<serde::SchemaRegistryClient>(*options.schema_registry_client_config);
  std::string subject;
  if (config.subject_name_strategy == SubjectNameStrategy::record_name) subject = schema->title();
  return std::make_shared<const JsonRegistrySerializer>(std::move(schema), std::move(client),
                                                        config, std::move(subject));
}

std::shared_ptr<const Deserializer> json_deserializer(const JsonDeserializerOptions& options) {
  auto schema = compile(options.schema, options.schema_file, "json deserializer");
  if (options.schema_registry_client_config) {
    return std::make_shared<const JsonRegistryDeserializer>(
        std::make_shared<serde::SchemaRegistryClient>(*options.schema_registry_client_config),
        std::move(schema));
  }
  if (!schema) return make_deserializer("json");
  return std::make_shared<const JsonSchemaDeserializer>(std::move(schema));
}

}  // namespace streamframe
