// Built-in serializers and deserializers by name (SEMANTICS TOP-01..TOP-05).
#include <simdjson.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "serde/json_column.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"

namespace streamframe {

namespace {

[[noreturn]] void throw_wrong_type(std::string_view serde, std::string_view expected,
                                   const Value& v) {
  std::string msg(serde);
  msg += " serializer: expected ";
  msg += expected;
  msg += ", got ";
  msg += v.type_name();
  throw SerializationError(std::move(msg));
}

[[noreturn]] void throw_wrong_length(std::string_view serde, std::size_t expected,
                                     std::size_t actual) {
  throw SerializationError(std::string(serde) + " deserializer: expected exactly " +
                           std::to_string(expected) + " bytes, got " + std::to_string(actual));
}

void check_utf8(std::string_view serde, std::string_view kind, std::string_view data) {
  if (!simdjson::validate_utf8(data.data(), data.size())) {
    std::string msg(serde);
    msg += ' ';
    msg += kind;
    msg += ": invalid UTF-8";
    throw SerializationError(std::move(msg));
  }
}

// Big-endian byte order on the wire, whatever the host's (the shifts compile to a bswap).
template <typename U>
U load_big_endian(const char* p) {
  U u = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) u = (u << 8) | static_cast<unsigned char>(p[i]);
  return u;
}

template <typename U>
void store_big_endian(U u, std::string& out) {
  char buf[sizeof(U)];
  for (std::size_t i = 0; i < sizeof(U); ++i) {
    buf[i] = static_cast<char>(static_cast<unsigned char>(u >> (8 * (sizeof(U) - 1 - i))));
  }
  out.append(buf, sizeof(U));
}

// ---- bytes -----------------------------------------------------------------------------

class BytesDeserializer final : public Deserializer {
 public:
  bool round_trips_with(const Serializer& serializer) const override;
  bool reads_headers() const override { return false; }
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    out.emplace_back(data);
  }
  // Any bytes are a value: nothing to build to find that out (the default deserializes).
  void validate(std::string_view, const Headers&) const override {}
  std::string_view name() const override { return "bytes"; }
};

class BytesSerializer final : public Serializer {
 public:
  void serialize(const Value& value, std::string& out) const override {
    out.clear();
    if (!value.is_string()) throw_wrong_type("bytes", "string", value);
    out.append(value.as_string());
  }
  std::string_view name() const override { return "bytes"; }
};

// ---- string ----------------------------------------------------------------------------

class StringDeserializer final : public Deserializer {
 public:
  bool round_trips_with(const Serializer& serializer) const override;
  bool reads_headers() const override { return false; }
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    check_utf8("str", "deserializer", data);
    out.emplace_back(data);
  }
  void validate(std::string_view data, const Headers&) const override {
    check_utf8("str", "deserializer", data);
  }
  std::string_view name() const override { return "str"; }
};

class StringSerializer final : public Serializer {
 public:
  void serialize(const Value& value, std::string& out) const override {
    out.clear();
    if (!value.is_string()) throw_wrong_type("str", "string", value);
    const std::string& s = value.as_string();
    check_utf8("str", "serializer", s);
    out.append(s);
  }
  std::string_view name() const override { return "str"; }
};

// ---- int (int32, big-endian) -----------------------------------------------------------

class IntDeserializer final : public Deserializer {
 public:
  bool round_trips_with(const Serializer& serializer) const override;
  bool reads_headers() const override { return false; }
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    if (data.size() != 4) throw_wrong_length("int", 4, data.size());
    out.emplace_back(static_cast<std::int32_t>(load_big_endian<std::uint32_t>(data.data())));
  }
  void validate(std::string_view data, const Headers&) const override {
    if (data.size() != 4) throw_wrong_length("int", 4, data.size());
  }
  std::string_view name() const override { return "int"; }
};

class IntSerializer final : public Serializer {
 public:
  void serialize(const Value& value, std::string& out) const override {
    out.clear();
    if (!value.is_int()) throw_wrong_type("int", "int", value);
    const std::int64_t i = value.as_int();
    if (i < std::numeric_limits<std::int32_t>::min() ||
        i > std::numeric_limits<std::int32_t>::max()) {
      throw SerializationError("int serializer: " + std::to_string(i) +
                               " is out of the int32 range");
    }
    store_big_endian(static_cast<std::uint32_t>(static_cast<std::int32_t>(i)), out);
  }
  std::string_view name() const override { return "int"; }
};

// ---- double (IEEE-754 binary64, big-endian) --------------------------------------------

class DoubleDeserializer final : public Deserializer {
 public:
  bool round_trips_with(const Serializer& serializer) const override;
  bool reads_headers() const override { return false; }
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    if (data.size() != 8) throw_wrong_length("double", 8, data.size());
    out.emplace_back(std::bit_cast<double>(load_big_endian<std::uint64_t>(data.data())));
  }
  void validate(std::string_view data, const Headers&) const override {
    if (data.size() != 8) throw_wrong_length("double", 8, data.size());
  }
  std::string_view name() const override { return "double"; }
};

class DoubleSerializer final : public Serializer {
 public:
  void serialize(const Value& value, std::string& out) const override {
    out.clear();
    if (!value.is_number()) throw_wrong_type("double", "int or double", value);
    store_big_endian(std::bit_cast<std::uint64_t>(value.as_double()), out);
  }
  std::string_view name() const override { return "double"; }
};

// ---- json ------------------------------------------------------------------------------

class JsonDeserializer final : public Deserializer {
 public:
  bool round_trips_with(const Serializer& serializer) const override;
  bool reads_headers() const override { return false; }
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    out.push_back(json::parse(data));
  }
  bool deserialize_column(std::string_view data, const Headers&, std::string_view column,
                          std::vector<Value>& out) const override {
    Value row = detail::parse_json_column(data, column);  // nothing appended when it throws
    // Not push_back: a second call site made deserialize()'s own push_back an outlined call.
    out.resize(out.size() + 1);
    out.back() = std::move(row);
    return true;
  }
  bool transcode(std::string_view data, const Serializer& serializer,
                 std::string& out) const override;
  void validate(std::string_view data, const Headers&) const override { json::validate(data); }
  std::string_view name() const override { return "json"; }
};

class JsonSerializer final : public Serializer {
 public:
  void serialize(const Value& value, std::string& out) const override {
    out.clear();
    json::write(value, out);
  }
  std::string_view name() const override { return "json"; }
};

[[noreturn]] void throw_unknown(std::string_view what, std::string_view name) {
  std::string msg = "unknown ";
  msg += what;
  msg += " '";
  msg += name;
  msg += "' (expected one of: bytes, str, string, int, integer, double, json)";
  throw ConfigError(std::move(msg));
}

// Built-ins round-trip only with their own serializer (not one that merely shares a name).
bool BytesDeserializer::round_trips_with(const Serializer& serializer) const {
  return dynamic_cast<const BytesSerializer*>(&serializer) != nullptr;
}
bool StringDeserializer::round_trips_with(const Serializer& serializer) const {
  return dynamic_cast<const StringSerializer*>(&serializer) != nullptr;
}
bool IntDeserializer::round_trips_with(const Serializer& serializer) const {
  return dynamic_cast<const IntSerializer*>(&serializer) != nullptr;
}
bool DoubleDeserializer::round_trips_with(const Serializer& serializer) const {
  return dynamic_cast<const DoubleSerializer*>(&serializer) != nullptr;
}
bool JsonDeserializer::round_trips_with(const Serializer& serializer) const {
  return dynamic_cast<const JsonSerializer*>(&serializer) != nullptr;
}

bool JsonDeserializer::transcode(std::string_view data, const Serializer& serializer,
                                 std::string& out) const {
  // A plain JSON string reads as a string of its content's bytes, which `bytes` writes as they
  // are and `str` too (the content is valid UTF-8). Each key of a group_by hop's repartition
  // topic is such a string: a parse into a Value and a serialize back cost about 560
  // instructions of a hop's 12,300 per record (bench/README.md).
  const std::type_info& type = typeid(serializer);  // both are final: no subclass to find
  if (type != typeid(BytesSerializer) && type != typeid(StringSerializer)) return false;
  const auto content = detail::plain_json_string(data);
  if (!content) return false;
  out.assign(content->data(), content->size());
  return true;
}

}  // namespace

bool Deserializer::round_trips_with(const Serializer&) const {
  return false;
}

bool Deserializer::deserialize_column(std::string_view, const Headers&, std::string_view,
                                      std::vector<Value>&) const {
  return false;
}

bool Deserializer::transcode(std::string_view, const Serializer&, std::string&) const {
  return false;
}

void Deserializer::validate(std::string_view data, const Headers& headers) const {
  thread_local std::vector<Value> rows;
  rows.clear();
  deserialize(data, headers, rows);
}

std::shared_ptr<const Serializer> Serializer::for_topic(const std::string&, bool) const {
  return nullptr;
}

Value Deserializer::deserialize_one(std::string_view data) const {
  std::vector<Value> rows;
  deserialize(data, Headers{}, rows);
  if (rows.size() != 1) {
    throw SerializationError(std::string(name()) + " deserializer: expected exactly one row, got " +
                             std::to_string(rows.size()));
  }
  return std::move(rows.front());
}

// The built-ins are stateless, so one shared instance of each serves every topic and thread.
std::shared_ptr<const Deserializer> make_deserializer(std::string_view name) {
  if (name == "json") {
    static const auto d = std::make_shared<const JsonDeserializer>();
    return d;
  }
  if (name == "bytes") {
    static const auto d = std::make_shared<const BytesDeserializer>();
    return d;
  }
  if (name == "str" || name == "string") {
    static const auto d = std::make_shared<const StringDeserializer>();
    return d;
  }
  if (name == "int" || name == "integer") {
    static const auto d = std::make_shared<const IntDeserializer>();
    return d;
  }
  if (name == "double") {
    static const auto d = std::make_shared<const DoubleDeserializer>();
    return d;
  }
  throw_unknown("deserializer", name);
}

std::shared_ptr<const Serializer> make_serializer(std::string_view name) {
  if (name == "json") {
    static const auto s = std::make_shared<const JsonSerializer>();
    return s;
  }
  if (name == "bytes") {
    static const auto s = std::make_shared<const BytesSerializer>();
    return s;
  }
  if (name == "str" || name == "string") {
    static const auto s = std::make_shared<const StringSerializer>();
    return s;
  }
  if (name == "int" || name == "integer") {
    static const auto s = std::make_shared<const IntSerializer>();
    return s;
  }
  if (name == "double") {
    static const auto s = std::make_shared<const DoubleSerializer>();
    return s;
  }
  throw_unknown("serializer", name);
}

}  // namespace streamframe
