// Avro serdes (include/streamframe/avro.hpp). libavro (Avro C) parses and checks the schema and
// reads and writes the binary encoding through its generic values. Avro C knows nothing of
// logical types or field defaults, so the schema's JSON is also read here (simdjson) into a
// tree of Nodes that carries them; the two trees come from the same text, so a record's field
// i is field i of both.
#include "streamframe/avro.hpp"

#include <avro.h>
#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <sstream>
#include <vector>

#include "serde/located.hpp"
#include "serde/parse_reuse.hpp"
#include "serde/schema_registry_client.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

namespace {

enum class Kind : std::uint8_t {
  null,
  boolean,
  int32,
  int64,
  float32,
  float64,
  bytes,
  string,
  record,
  enumeration,
  array,
  map,
  fixed,
  union_
};

enum class Logical : std::uint8_t { none, date, decimal, uuid, time, timestamp };

struct Node;

struct Field {
  std::string name;
  std::vector<std::string> aliases;  // other names a writer's field may have (resolution)
  const Node* node = nullptr;
  bool has_default = false;
  Value default_value;  // as the schema's JSON writes it
};

struct Node {
  Kind kind = Kind::null;
  Logical logical = Logical::none;
  int precision = 0;
  int scale = 0;
  std::int64_t size = 0;  // fixed
  std::string name;       // full name of a named type
  std::vector<Field> fields;
  std::vector<std::string> symbols;
  std::optional<std::string> enum_default;  // a reader's symbol for writers' unknown ones
  std::vector<const Node*> branches;        // union
  const Node* items = nullptr;              // array items, map values
};

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::null:
      return "null";
    case Kind::boolean:
      return "boolean";
    case Kind::int32:
      return "int";
    case Kind::int64:
      return "long";
    case Kind::float32:
      return "float";
    case Kind::float64:
      return "double";
    case Kind::bytes:
      return "bytes";
    case Kind::string:
      return "string";
    case Kind::record:
      return "record";
    case Kind::enumeration:
      return "enum";
    case Kind::array:
      return "array";
    case Kind::map:
      return "map";
    case Kind::fixed:
      return "fixed";
    case Kind::union_:
      return "union";
  }
  return "?";
}

// ---- schema ----------------------------------------------------------------------------

[[noreturn]] void schema_error(const std::string& what) {
  throw ConfigError("invalid Avro schema: " + what);
}

// The Node tree of a schema's JSON. Named types are registered by full name before their
// fields are read, so a record may refer to itself.
class NodeBuilder {
 public:
  const Node* build(simdjson::dom::element e, const std::string& ns) {
    using simdjson::dom::element_type;
    switch (e.type()) {
      case element_type::STRING:
        return by_name(std::string(e.get_string().value()), ns);
      case element_type::ARRAY: {
        Node* n = make();
        n->kind = Kind::union_;
        for (auto b : e.get_array()) n->branches.push_back(build(b, ns));
        return n;
      }
      case element_type::OBJECT:
        return build_object(e.get_object().value(), ns);
      default:
        schema_error("a schema is a JSON string, object or array");
    }
  }

  std::vector<std::unique_ptr<Node>> take() { return std::move(nodes_); }

 private:
  Node* make() { return nodes_.emplace_back(std::make_unique<Node>()).get(); }

  static std::string full_name(std::string_view name, const std::string& ns) {
    if (name.find('.') != std::string_view::npos || ns.empty()) return std::string(name);
    return ns + "." + std::string(name);
  }

  const Node* primitive(std::string_view name) {
    static const std::map<std::string_view, Kind> kinds = {
        {"null", Kind::null},   {"boolean", Kind::boolean}, {"int", Kind::int32},
        {"long", Kind::int64},  {"float", Kind::float32},   {"double", Kind::float64},
        {"bytes", Kind::bytes}, {"string", Kind::string}};
    const auto it = kinds.find(name);
    if (it == kinds.end()) return nullptr;
    Node* n = make();
    n->kind = it->second;
    return n;
  }

  const Node* by_name(const std::string& name, const std::string& ns) {
    if (const Node* p = primitive(name)) return p;
    if (const auto it = named_.find(full_name(name, ns)); it != named_.end()) return it->second;
    if (const auto it = named_.find(name); it != named_.end()) return it->second;
    schema_error(fmt::format("unknown type '{}'", name));
  }

  static std::optional<std::string_view> string_field(simdjson::dom::object o,
                                                      std::string_view key) {
    std::string_view s;
    if (o[key].get(s) == simdjson::SUCCESS) return s;
    return std::nullopt;
  }

  static int int_field(simdjson::dom::object o, std::string_view key, int fallback) {
    std::int64_t v = 0;
    if (o[key].get(v) == simdjson::SUCCESS) return static_cast<int>(v);
    return fallback;
  }

  const Node* build_object(simdjson::dom::object o, const std::string& ns) {
    simdjson::dom::element type;
    if (o["type"].get(type) != simdjson::SUCCESS) schema_error("an object schema has no 'type'");
    std::string_view t;
    if (type.get(t) != simdjson::SUCCESS) return build(type, ns);  // {"type": {...}} or [...]
    if (t == "record" || t == "error") return build_record(o, ns);
    if (t == "enum" || t == "fixed") {
      Node* n = make();
      n->kind = t == "enum" ? Kind::enumeration : Kind::fixed;
      register_named(o, ns, n);
      if (n->kind == Kind::enumeration) {
        simdjson::dom::array symbols;
        if (o["symbols"].get(symbols) != simdjson::SUCCESS) schema_error("an enum has no symbols");
        for (auto s : symbols) n->symbols.emplace_back(s.get_string().value());
        if (const auto d = string_field(o, "default")) n->enum_default = std::string(*d);
      } else {
        std::int64_t size = 0;
        if (o["size"].get(size) != simdjson::SUCCESS) schema_error("a fixed has no size");
        n->size = size;
        annotate(o, n);
      }
      return n;
    }
    if (t == "array" || t == "map") {
      Node* n = make();
      n->kind = t == "array" ? Kind::array : Kind::map;
      simdjson::dom::element items;
      if (o[t == "array" ? "items" : "values"].get(items) != simdjson::SUCCESS)
        schema_error(fmt::format("an {} has no {}", t, t == "array" ? "items" : "values"));
      n->items = build(items, ns);
      return n;
    }
    const Node* p = by_name(std::string(t), ns);
    if (p->kind > Kind::string) return p;  // a reference to a named type
    Node* n = make();
    *n = *p;
    annotate(o, n);
    return n;
  }

  void register_named(simdjson::dom::object o, const std::string& ns, Node* n) {
    const auto name = string_field(o, "name");
    if (!name) schema_error("a named type has no name");
    const std::string own_ns = std::string(string_field(o, "namespace").value_or(ns));
    n->name = full_name(*name, own_ns);
    named_[n->name] = n;
  }

  // Logical types on a primitive or fixed; an annotation that does not fit its type is
  // ignored, as the specification says.
  static void annotate(simdjson::dom::object o, Node* n) {
    const auto logical = string_field(o, "logicalType");
    if (!logical) return;
    const Kind k = n->kind;
    if (*logical == "date" && k == Kind::int32) {
      n->logical = Logical::date;
    } else if (*logical == "decimal" && (k == Kind::bytes || k == Kind::fixed)) {
      n->precision = int_field(o, "precision", 0);
      n->scale = int_field(o, "scale", 0);
      if (n->precision > 0 && n->scale >= 0 && n->scale <= n->precision)
        n->logical = Logical::decimal;
    } else if (*logical == "uuid" && k == Kind::string) {
      n->logical = Logical::uuid;
    } else if ((*logical == "time-millis" && k == Kind::int32) ||
               (*logical == "time-micros" && k == Kind::int64)) {
      n->logical = Logical::time;
    } else if (k == Kind::int64 &&
               (*logical == "timestamp-millis" || *logical == "timestamp-micros" ||
                *logical == "local-timestamp-millis" || *logical == "local-timestamp-micros")) {
      n->logical = Logical::timestamp;
    }
  }

  const Node* build_record(simdjson::dom::object o, const std::string& ns) {
    Node* n = make();
    n->kind = Kind::record;
    register_named(o, ns, n);
    const std::string inner_ns =
        n->name.substr(0, n->name.rfind('.') == std::string::npos ? 0 : n->name.rfind('.'));
    simdjson::dom::array fields;
    if (o["fields"].get(fields) != simdjson::SUCCESS) schema_error("a record has no fields");
    for (auto f : fields) {
      simdjson::dom::object fo;
      if (f.get(fo) != simdjson::SUCCESS) schema_error("a record field is not an object");
      Field field;
      const auto name = string_field(fo, "name");
      if (!name) schema_error("a record field has no name");
      field.name = std::string(*name);
      simdjson::dom::element type;
      if (fo["type"].get(type) != simdjson::SUCCESS)
        schema_error(fmt::format("field '{}' has no type", field.name));
      field.node = build(type, inner_ns);
      simdjson::dom::array aliases;
      if (fo["aliases"].get(aliases) == simdjson::SUCCESS) {
        for (auto a : aliases) field.aliases.emplace_back(a.get_string().value());
      }
      simdjson::dom::element dflt;
      if (fo["default"].get(dflt) == simdjson::SUCCESS) {
        field.has_default = true;
        field.default_value = json::parse(simdjson::to_string(dflt));
      }
      n->fields.push_back(std::move(field));
    }
    return n;
  }

  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, const Node*, std::less<>> named_;
};

// ---- libavro's memory during a decode ---------------------------------------------------

// Avro C trusts the lengths in the data: a truncated string or bytes field leaks the buffer it
// allocated for it, and a length of 2^60 is allocated before it is read. So libavro allocates
// through this function, which, while a decode runs on its thread, refuses blocks larger than
// the data could fill and notes each new block; after a failed decode the value is destroyed
// and the blocks still noted are the leaked ones.
struct DecodeGuard {
  bool active = false;
  std::size_t limit = 0;
  std::vector<void*> fresh;
};

DecodeGuard& decode_guard() {
  thread_local DecodeGuard guard;
  return guard;
}

void* guarded_allocate(void* /*user_data*/, void* ptr, std::size_t /*old_size*/,
                       std::size_t new_size) {
  DecodeGuard& g = decode_guard();
  auto forget = [&g](void* p) {
    for (auto& f : g.fresh) {
      if (f == p) {
        f = g.fresh.back();
        g.fresh.pop_back();
        return true;
      }
    }
    return false;
  };
  if (new_size == 0) {
    if (g.active && ptr != nullptr) forget(ptr);
    std::free(ptr);
    return nullptr;
  }
  if (g.active && new_size > g.limit) return nullptr;  // libavro reports ENOMEM
  void* p = std::realloc(ptr, new_size);
  if (g.active && p != nullptr && (ptr == nullptr || forget(ptr))) g.fresh.push_back(p);
  return p;
}

void use_guarded_allocator() {
  static std::once_flag once;
  std::call_once(once, [] { avro_set_allocator(&guarded_allocate, nullptr); });
}

std::string read_schema_text(const std::string& schema, const std::string& schema_file,
                             std::string_view who) {
  if (schema.empty() == schema_file.empty()) {
    throw ConfigError(fmt::format("{}: set exactly one of schema and schema_file", who));
  }
  if (!schema.empty()) return schema;
  std::ifstream in(schema_file, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot read the schema file '{}'", who, schema_file));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// One parsed schema: libavro's and ours, and a pool of libavro values to read into and write
// from (a serde is shared by every worker thread; a value is not).
class Schema {
 public:
  explicit Schema(const std::string& text) {
    use_guarded_allocator();
    if (avro_schema_from_json_length(text.data(), text.size(), &schema_) != 0) {
      schema_error(avro_strerror());
    }
    iface_ = avro_generic_class_from_schema(schema_);
    if (iface_ == nullptr) {
      avro_schema_decref(schema_);
      schema_error(avro_strerror());
    }
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(text).get(root) != simdjson::SUCCESS) schema_error("not JSON");
    NodeBuilder builder;
    root_ = builder.build(root, "");
    nodes_ = builder.take();
  }
  ~Schema() {
    for (auto& cached : cache_) {
      if (Slot* s = cached.load()) {
        release(*s);
        delete s;
      }
    }
    avro_value_iface_decref(iface_);
    avro_schema_decref(schema_);
  }
  Schema(const Schema&) = delete;
  Schema& operator=(const Schema&) = delete;

  struct Slot {
    avro_value_t value{};
    avro_reader_t reader = nullptr;
    avro_writer_t writer = nullptr;
  };

  // A slot for one datum, given back by its deleter. Up to kCachedSlots wait for reuse, each
  // taken and given back with one atomic exchange (a worker thread serializes one datum at a
  // time, so a few slots serve every thread).
  auto lease() const {
    Slot* slot = nullptr;
    for (auto& cached : cache_) {
      if ((slot = cached.exchange(nullptr, std::memory_order_acquire)) != nullptr) break;
    }
    if (slot == nullptr) {
      auto fresh = std::make_unique<Slot>();
      if (avro_generic_value_new(iface_, &fresh->value) != 0)
        throw SerializationError(fmt::format("avro: {}", avro_strerror()));
      fresh->reader = avro_reader_memory(nullptr, 0);
      fresh->writer = avro_writer_memory(nullptr, 0);
      slot = fresh.release();
    }
    auto give_back = [this](Slot* s) {
      if (s->value.self != nullptr) {  // not discarded
        for (auto& cached : cache_) {
          Slot* empty = nullptr;
          if (cached.compare_exchange_strong(empty, s, std::memory_order_release)) return;
        }
      }
      release(*s);
      delete s;
    };
    return std::unique_ptr<Slot, decltype(give_back)>(slot, give_back);
  }

  // Destroys the slot's value now (the slot is then freed, not cached).
  static void discard(Slot& s) {
    avro_value_decref(&s.value);
    s.value.self = nullptr;
  }

  const Node* root() const { return root_; }

 private:
  static void release(Slot& s) {
    if (s.value.self != nullptr) avro_value_decref(&s.value);
    avro_reader_free(s.reader);
    avro_writer_free(s.writer);
  }

  avro_schema_t schema_ = nullptr;
  avro_value_iface_t* iface_ = nullptr;
  std::vector<std::unique_ptr<Node>> nodes_;
  const Node* root_ = nullptr;
  static constexpr std::size_t kCachedSlots = 8;
  mutable std::array<std::atomic<Slot*>, kCachedSlots> cache_{};
};

// ---- where an error is -----------------------------------------------------------------

using serde::fail_here;
using serde::Located;
using serde::within;
using serde::within_index;

SerializationError located_error(std::string_view who, const Located& e) {
  return serde::located_error("avro", who, e);
}

// A libavro call that fails only on a bug (a value of another type than its schema says).
void check(int rc, std::string_view what) {
  if (rc != 0) throw SerializationError(fmt::format("avro: {}: {}", what, avro_strerror()));
}

// ---- decimals and dates ----------------------------------------------------------------

using Int128 = __int128;

std::string decimal_string(Int128 unscaled, int scale) {
  const bool negative = unscaled < 0;
  unsigned __int128 u = negative ? -static_cast<unsigned __int128>(unscaled)
                                 : static_cast<unsigned __int128>(unscaled);
  std::string digits;
  do {
    digits.push_back(static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  } while (u != 0);
  while (digits.size() <= static_cast<std::size_t>(scale)) digits.push_back('0');
  std::string s = negative ? "-" : "";
  for (std::size_t i = digits.size(); i-- > 0;) {
    s.push_back(digits[i]);
    if (i == static_cast<std::size_t>(scale) && scale > 0) s.push_back('.');
  }
  return s;
}

std::string read_decimal(const unsigned char* p, std::size_t n, const Node& node) {
  if (n > 16) {
    fail_here(fmt::format("a decimal of {} bytes is beyond the 38 digits supported", n));
  }
  Int128 v = (n > 0 && (p[0] & 0x80) != 0) ? -1 : 0;  // sign extension
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return decimal_string(v, node.scale);
}

// The unscaled two's-complement big-endian bytes of `v` at the node's scale; `width` bytes
// for a fixed, the fewest that hold it otherwise.
std::string write_decimal(const Value& v, const Node& node) {
  auto fail = [&](std::string_view why) -> std::string {
    fail_here(fmt::format("{} for decimal({}, {})", why, node.precision, node.scale));
  };
  std::string text;
  if (v.is_int()) {
    text = std::to_string(v.as_int());
  } else if (v.is_double()) {
    text = fmt::format("{}", v.as_double());
    if (text.find_first_of("eEn") != std::string::npos) fail("a double in exponent form or NaN");
  } else if (v.is_string()) {
    text = v.as_string();
  } else {
    fail(fmt::format("expected a decimal string, int or double, got {}", v.type_name()));
  }
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  Int128 unscaled = 0;
  int fraction = -1;  // digits after the point, -1 before it
  int digits = 0;
  for (char c : s) {
    if (c == '.' && fraction < 0) {
      fraction = 0;
      continue;
    }
    if (c < '0' || c > '9') fail(fmt::format("'{}' is not a decimal number", text));
    if (fraction >= 0) ++fraction;
    if (unscaled != 0 || c != '0') ++digits;
    if (digits > 38) fail(fmt::format("'{}' has more than 38 digits", text));
    unscaled = unscaled * 10 + (c - '0');
  }
  if (s.empty() || s == ".") fail(fmt::format("'{}' is not a decimal number", text));
  if (fraction < 0) fraction = 0;
  // Trailing zeros beyond the scale are exact; other digits would be rounded away.
  while (fraction > node.scale && unscaled % 10 == 0) {
    unscaled /= 10;
    --fraction;
  }
  if (fraction > node.scale)
    fail(fmt::format("'{}' has more fraction digits than the scale", text));
  for (; fraction < node.scale; ++fraction) unscaled *= 10;
  if (negative) unscaled = -unscaled;
  Int128 limit = 1;
  for (int i = 0; i < node.precision && i < 38; ++i) limit *= 10;
  if (unscaled >= limit || unscaled <= -limit) fail(fmt::format("'{}' has too many digits", text));
  std::string out;
  const std::size_t width = node.kind == Kind::fixed ? static_cast<std::size_t>(node.size) : 0;
  unsigned char bytes[16];
  for (int i = 15; i >= 0; --i) bytes[15 - i] = static_cast<unsigned char>(unscaled >> (8 * i));
  std::size_t first = 0;  // drop redundant sign bytes
  while (first < 15 && ((bytes[first] == 0x00 && (bytes[first + 1] & 0x80) == 0) ||
                        (bytes[first] == 0xff && (bytes[first + 1] & 0x80) != 0))) {
    ++first;
  }
  const std::size_t n = 16 - first;
  if (width != 0) {
    if (n > width) fail(fmt::format("'{}' does not fit {} bytes", text, width));
    out.assign(width - n, static_cast<char>(unscaled < 0 ? 0xff : 0x00));
  }
  out.append(reinterpret_cast<const char*>(bytes + first), n);
  return out;
}

std::string date_string(std::int32_t days) {
  using namespace std::chrono;
  const year_month_day ymd{sys_days{} + std::chrono::days{days}};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

std::optional<std::int32_t> parse_date(std::string_view s) {
  int y = 0;
  unsigned m = 0;
  unsigned d = 0;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  if (std::from_chars(s.data(), s.data() + 4, y).ptr != s.data() + 4 ||
      std::from_chars(s.data() + 5, s.data() + 7, m).ptr != s.data() + 7 ||
      std::from_chars(s.data() + 8, s.data() + 10, d).ptr != s.data() + 10) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{m}, day{d}};
  if (!ymd.ok()) return std::nullopt;
  return static_cast<std::int32_t>(sys_days{ymd}.time_since_epoch().count());
}

// An Avro array as an Array, each item converted by `item(child)`.
template <typename F>
Value array_of(avro_value_t& v, F&& item) {
  std::size_t n = 0;
  check(avro_value_get_size(&v, &n), "array");
  Array items;
  items.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    avro_value_t child;
    check(avro_value_get_by_index(&v, i, &child, nullptr), "array item");
    items.push_back(within_index(i, [&] { return item(child); }));
  }
  return Value(std::move(items));
}

// An Avro map as an Object, each value converted by `value(child)`.
template <typename F>
Value map_of(avro_value_t& v, F&& value) {
  std::size_t n = 0;
  check(avro_value_get_size(&v, &n), "map");
  Object o;
  o.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    avro_value_t child;
    const char* key = nullptr;
    check(avro_value_get_by_index(&v, i, &child, &key), "map entry");
    o.append_unchecked(key, within(key, [&] { return value(child); }));
  }
  return Value(std::move(o));
}

// The branch a union holds, and which of `node`'s branches it is.
avro_value_t current_branch(avro_value_t& v, const Node& node, const Node*& branch_node) {
  int d = 0;
  check(avro_value_get_discriminant(&v, &d), "union");
  avro_value_t branch;
  check(avro_value_get_current_branch(&v, &branch), "union");
  branch_node = node.branches.at(static_cast<std::size_t>(d));
  return branch;
}

// ---- Avro to Value ---------------------------------------------------------------------

Value to_value(avro_value_t& v, const Node& node) {
  switch (node.kind) {
    case Kind::null:
      return Value();
    case Kind::boolean: {
      int b = 0;
      check(avro_value_get_boolean(&v, &b), "boolean");
      return Value(b != 0);
    }
    case Kind::int32: {
      std::int32_t i = 0;
      check(avro_value_get_int(&v, &i), "int");
      if (node.logical == Logical::date) return Value(date_string(i));
      return Value(static_cast<std::int64_t>(i));
    }
    case Kind::int64: {
      std::int64_t i = 0;
      check(avro_value_get_long(&v, &i), "long");
      return Value(static_cast<long long>(i));
    }
    case Kind::float32: {
      float f = 0;
      check(avro_value_get_float(&v, &f), "float");
      return Value(static_cast<double>(f));
    }
    case Kind::float64: {
      double d = 0;
      check(avro_value_get_double(&v, &d), "double");
      return Value(d);
    }
    case Kind::string: {
      const char* s = nullptr;
      std::size_t size = 0;  // with the terminating NUL
      check(avro_value_get_string(&v, &s, &size), "string");
      return Value(std::string_view(s, size > 0 ? size - 1 : 0));
    }
    case Kind::bytes:
    case Kind::fixed: {
      const void* p = nullptr;
      std::size_t size = 0;
      check(node.kind == Kind::bytes ? avro_value_get_bytes(&v, &p, &size)
                                     : avro_value_get_fixed(&v, &p, &size),
            kind_name(node.kind));
      if (node.logical == Logical::decimal)
        return Value(read_decimal(static_cast<const unsigned char*>(p), size, node));
      return Value(std::string_view(static_cast<const char*>(p), size));
    }
    case Kind::enumeration: {
      int i = 0;
      check(avro_value_get_enum(&v, &i), "enum");
      if (i < 0 || static_cast<std::size_t>(i) >= node.symbols.size()) {
        fail_here(fmt::format("enum index {} out of range", i));
      }
      return Value(node.symbols[static_cast<std::size_t>(i)]);
    }
    case Kind::array:
      return array_of(v, [&](avro_value_t& item) { return to_value(item, *node.items); });
    case Kind::map:
      return map_of(v, [&](avro_value_t& value) { return to_value(value, *node.items); });
    case Kind::record: {
      Object o;
      o.reserve(node.fields.size());
      for (std::size_t i = 0; i < node.fields.size(); ++i) {
        avro_value_t child;
        check(avro_value_get_by_index(&v, i, &child, nullptr), "record field");
        const Field& f = node.fields[i];
        o.append_unchecked(f.name, within(f.name, [&] { return to_value(child, *f.node); }));
      }
      return Value(std::move(o));
    }
    case Kind::union_: {
      const Node* branch_node = nullptr;
      avro_value_t branch = current_branch(v, node, branch_node);
      return to_value(branch, *branch_node);
    }
  }
  return Value();
}

// ---- writer to reader schema ------------------------------------------------------------

// Avro's schema resolution ("Schema Resolution" in the specification): data written with the
// writer's schema read as the reader's. Avro C's resolver does not fill a reader's defaults,
// so it is done here, between the writer's datum as libavro decoded it and the Value.

bool same_name(const Node& w, const Node& r) {
  auto unqualified = [](const std::string& n) {
    const auto dot = n.rfind('.');
    return dot == std::string::npos ? n : n.substr(dot + 1);
  };
  return unqualified(w.name) == unqualified(r.name);
}

// Whether a writer's `w` (not a union) can be read as the reader's `r` (not a union).
bool readable_as(const Node& w, const Node& r) {
  if (w.kind == r.kind) {
    if (w.kind == Kind::record || w.kind == Kind::enumeration) return same_name(w, r);
    if (w.kind == Kind::fixed) return same_name(w, r) && w.size == r.size;
    return true;
  }
  switch (w.kind) {  // the promotions
    case Kind::int32:
      return r.kind == Kind::int64 || r.kind == Kind::float32 || r.kind == Kind::float64;
    case Kind::int64:
      return r.kind == Kind::float32 || r.kind == Kind::float64;
    case Kind::float32:
      return r.kind == Kind::float64;
    case Kind::string:
      return r.kind == Kind::bytes;
    case Kind::bytes:
      return r.kind == Kind::string;
    default:
      return false;
  }
}

const Node* reader_branch_for(const Node& w, const Node& r) {
  for (const Node* b : r.branches)
    if (readable_as(w, *b)) return b;
  return nullptr;
}

std::string type_text(const Node& n) {
  return n.name.empty() ? std::string(kind_name(n.kind))
                        : std::string(kind_name(n.kind)) + " " + n.name;
}

// A default from the schema's JSON as the Value a datum of `r` decodes to.
Value default_as_value(const Value& d, const Node& r) {
  switch (r.kind) {
    case Kind::union_:
      return r.branches.empty() ? d : default_as_value(d, *r.branches.front());
    case Kind::int32:
      if (r.logical == Logical::date && d.is_int())
        return Value(date_string(static_cast<std::int32_t>(d.as_int())));
      return d;
    case Kind::float32:
    case Kind::float64:
      return d.is_int() ? Value(static_cast<double>(d.as_int())) : d;
    case Kind::bytes:
    case Kind::fixed: {
      if (!d.is_string()) return d;
      // JSON writes bytes as a string of code points 0-255, one per byte.
      std::string bytes;
      const std::string& s = d.as_string();
      for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
          bytes.push_back(static_cast<char>(c));
          ++i;
        } else if ((c & 0xe0) == 0xc0 && i + 1 < s.size()) {
          bytes.push_back(
              static_cast<char>(((c & 0x1f) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3f)));
          i += 2;
        } else {
          schema_error("a bytes default has a character beyond \\u00ff");
        }
      }
      if (r.logical == Logical::decimal)
        return Value(
            read_decimal(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), r));
      return Value(std::move(bytes));
    }
    case Kind::record: {
      if (!d.is_object()) return d;
      Object o;
      for (const Field& f : r.fields) {
        const Value* v = d.as_object().find(f.name);
        if (v != nullptr) {
          o.append_unchecked(f.name, default_as_value(*v, *f.node));
        } else if (f.has_default) {
          o.append_unchecked(f.name, default_as_value(f.default_value, *f.node));
        }
      }
      return Value(std::move(o));
    }
    case Kind::array: {
      if (!d.is_array()) return d;
      Array items;
      for (const Value& v : d.as_array()) items.push_back(default_as_value(v, *r.items));
      return Value(std::move(items));
    }
    case Kind::map: {
      if (!d.is_object()) return d;
      Object o;
      for (const auto& [k, v] : d.as_object()) o.append_unchecked(k, default_as_value(v, *r.items));
      return Value(std::move(o));
    }
    default:
      return d;
  }
}

// For each pair of writer and reader records, where each reader field comes from: a writer
// field, or its default. Built once per writer schema; a field the reader needs that neither
// the writer has nor a default gives is a ConfigError then, not at some later record.
class Resolution {
 public:
  struct Step {
    int writer = -1;  // the writer's field index; -1: the default
    const Node* reader = nullptr;
    Value default_value;
  };

  Resolution(const Node& writer, const Node& reader) : reader_(&reader) {
    prepare(writer, reader, "");
  }

  const Node& reader() const { return *reader_; }

  const std::vector<Step>& steps(const Node& w, const Node& r) const {
    return records_.at({&w, &r});
  }

 private:
  void prepare(const Node& w, const Node& r, const std::string& where) {
    if (w.kind == Kind::union_) {
      // A branch the reader cannot read fails only the data that uses it (the specification).
      for (const Node* b : w.branches) {
        if (r.kind == Kind::union_) {
          if (const Node* rb = reader_branch_for(*b, r)) prepare(*b, *rb, where);
        } else if (readable_as(*b, r)) {
          prepare(*b, r, where);
        }
      }
      return;
    }
    if (r.kind == Kind::union_) {
      const Node* rb = reader_branch_for(w, r);
      if (rb == nullptr) {
        throw ConfigError(
            fmt::format("avro deserializer: {}the writer's {} fits no branch of the reader's union",
                        where, type_text(w)));
      }
      prepare(w, *rb, where);
      return;
    }
    if (!readable_as(w, r)) {
      throw ConfigError(
          fmt::format("avro deserializer: {}the writer's {} cannot be read as the reader's {}",
                      where, type_text(w), type_text(r)));
    }
    if (w.kind == Kind::array || w.kind == Kind::map) {
      prepare(*w.items, *r.items, where);
      return;
    }
    if (w.kind != Kind::record || records_.contains({&w, &r})) return;
    records_[{&w, &r}];  // entered before its fields: a record may contain itself
    std::vector<Step> built;
    for (const Field& rf : r.fields) {
      const std::string at = fmt::format("field '{}': ", rf.name);
      Step step;
      step.reader = rf.node;
      for (std::size_t i = 0; i < w.fields.size() && step.writer < 0; ++i) {
        const std::string& name = w.fields[i].name;
        bool match = name == rf.name;
        for (const auto& alias : rf.aliases) match = match || name == alias;
        if (match) step.writer = static_cast<int>(i);
      }
      if (step.writer >= 0) {
        prepare(*w.fields[static_cast<std::size_t>(step.writer)].node, *rf.node, where + at);
      } else if (rf.has_default) {
        step.default_value = default_as_value(rf.default_value, *rf.node);
      } else {
        throw ConfigError(fmt::format(
            "avro deserializer: {}{}the reader's record {} has it, the writer's does not, and it "
            "has no default",
            where, at, r.name));
      }
      built.push_back(std::move(step));
    }
    records_[{&w, &r}] = std::move(built);
  }

  const Node* reader_;
  std::map<std::pair<const Node*, const Node*>, std::vector<Step>> records_;
};

// The writer's datum `v` of `w` as a Value of the reader's `r`.
Value resolved_value(avro_value_t& v, const Node& w, const Node& r, const Resolution& res) {
  if (w.kind == Kind::union_) {
    const Node* branch_node = nullptr;
    avro_value_t branch = current_branch(v, w, branch_node);
    return resolved_value(branch, *branch_node, r, res);
  }
  if (r.kind == Kind::union_) {
    const Node* rb = reader_branch_for(w, r);
    if (rb == nullptr)
      fail_here(fmt::format("the writer's {} fits no branch of the reader's union", type_text(w)));
    return resolved_value(v, w, *rb, res);
  }
  if (!readable_as(w, r)) {
    fail_here(fmt::format("the writer's {} cannot be read as the reader's {}", type_text(w),
                          type_text(r)));
  }
  switch (w.kind) {
    case Kind::record: {
      const auto& steps = res.steps(w, r);
      Object o;
      o.reserve(steps.size());
      for (std::size_t i = 0; i < steps.size(); ++i) {
        const auto& step = steps[i];
        const Field& rf = r.fields[i];
        if (step.writer < 0) {
          o.append_unchecked(rf.name, step.default_value);
          continue;
        }
        avro_value_t child;
        check(avro_value_get_by_index(&v, static_cast<std::size_t>(step.writer), &child, nullptr),
              "record field");
        const Node& wf = *w.fields[static_cast<std::size_t>(step.writer)].node;
        o.append_unchecked(
            rf.name, within(rf.name, [&] { return resolved_value(child, wf, *rf.node, res); }));
      }
      return Value(std::move(o));
    }
    case Kind::array:
      return array_of(
          v, [&](avro_value_t& item) { return resolved_value(item, *w.items, *r.items, res); });
    case Kind::map:
      return map_of(
          v, [&](avro_value_t& value) { return resolved_value(value, *w.items, *r.items, res); });
    case Kind::enumeration: {
      Value symbol = to_value(v, w);
      for (const auto& s : r.symbols)
        if (s == symbol.as_string()) return symbol;
      if (r.enum_default) return Value(*r.enum_default);
      fail_here(fmt::format(
          "the writer's symbol '{}' is not in the reader's enum {}, which has no default",
          symbol.as_string(), r.name));
    }
    default: {
      Value base = to_value(v, w);
      if ((r.kind == Kind::float32 || r.kind == Kind::float64) && base.is_int())
        return Value(static_cast<double>(base.as_int()));
      return base;
    }
  }
}

// ---- Value to Avro ---------------------------------------------------------------------

struct WriteRules {
  bool strict = false;
  bool strict_allow_default = false;
};

[[noreturn]] void wrong_type(const Node& node, const Value& v) {
  std::string expected(kind_name(node.kind));
  if (!node.name.empty()) expected += " " + node.name;
  fail_here(fmt::format("expected {}, got {}", expected, v.type_name()));
}

// Whether `v` can be written as `node`, for choosing a union's branch.
bool fits(const Node& node, const Value& v) {
  switch (node.kind) {
    case Kind::null:
      return v.is_null();
    case Kind::boolean:
      return v.is_bool();
    case Kind::int32:
      if (node.logical == Logical::date && v.is_string())
        return parse_date(v.as_string()).has_value();
      return v.is_int() && v.as_int() >= INT32_MIN && v.as_int() <= INT32_MAX;
    case Kind::int64:
      return v.is_int();
    case Kind::float32:
    case Kind::float64:
      return v.is_number();
    case Kind::string:
      return v.is_string();
    case Kind::bytes:
      return v.is_string() || (node.logical == Logical::decimal && v.is_number());
    case Kind::fixed:
      if (node.logical == Logical::decimal) return v.is_string() || v.is_number();
      return v.is_string() && static_cast<std::int64_t>(v.as_string().size()) == node.size;
    case Kind::enumeration:
      if (!v.is_string()) return false;
      for (const auto& s : node.symbols)
        if (s == v.as_string()) return true;
      return false;
    case Kind::array:
      return v.is_array();
    case Kind::map:
      return v.is_object();
    case Kind::record:
      if (!v.is_object()) return false;
      for (const auto& f : node.fields)
        if (!f.has_default && !v.as_object().contains(f.name) && f.node->kind != Kind::null)
          return false;
      return true;
    case Kind::union_:
      return false;  // unions do not nest
  }
  return false;
}

void from_value(const Value& v, const Node& node, avro_value_t& out, const WriteRules& rules) {
  switch (node.kind) {
    case Kind::null:
      if (!v.is_null()) wrong_type(node, v);
      check(avro_value_set_null(&out), "null");
      return;
    case Kind::boolean:
      if (!v.is_bool()) wrong_type(node, v);
      check(avro_value_set_boolean(&out, v.as_bool() ? 1 : 0), "boolean");
      return;
    case Kind::int32: {
      std::int64_t i = 0;
      if (node.logical == Logical::date && v.is_string()) {
        const auto days = parse_date(v.as_string());
        if (!days) {
          fail_here(fmt::format("'{}' is not a YYYY-MM-DD date", v.as_string()));
        }
        i = *days;
      } else if (v.is_int()) {
        i = v.as_int();
      } else {
        wrong_type(node, v);
      }
      if (i < INT32_MIN || i > INT32_MAX) {
        fail_here(fmt::format("{} does not fit an Avro int", i));
      }
      check(avro_value_set_int(&out, static_cast<std::int32_t>(i)), "int");
      return;
    }
    case Kind::int64:
      if (!v.is_int()) wrong_type(node, v);
      check(avro_value_set_long(&out, v.as_int()), "long");
      return;
    case Kind::float32:
      if (!v.is_number()) wrong_type(node, v);
      check(avro_value_set_float(&out, static_cast<float>(v.as_double())), "float");
      return;
    case Kind::float64:
      if (!v.is_number()) wrong_type(node, v);
      check(avro_value_set_double(&out, v.as_double()), "double");
      return;
    case Kind::string: {
      if (!v.is_string()) wrong_type(node, v);
      const std::string& s = v.as_string();
      check(avro_value_set_string_len(&out, s.c_str(), s.size() + 1), "string");
      return;
    }
    case Kind::bytes:
    case Kind::fixed: {
      std::string decimal;
      const std::string* bytes = nullptr;
      if (node.logical == Logical::decimal) {
        decimal = write_decimal(v, node);
        bytes = &decimal;
      } else if (v.is_string()) {
        bytes = &v.as_string();
      } else {
        wrong_type(node, v);
      }
      if (node.kind == Kind::fixed) {
        if (static_cast<std::int64_t>(bytes->size()) != node.size) {
          fail_here(
              fmt::format("fixed {} takes {} bytes, got {}", node.name, node.size, bytes->size()));
        }
        check(avro_value_set_fixed(&out, const_cast<char*>(bytes->data()), bytes->size()), "fixed");
      } else {
        check(avro_value_set_bytes(&out, const_cast<char*>(bytes->data()), bytes->size()), "bytes");
      }
      return;
    }
    case Kind::enumeration: {
      if (!v.is_string()) wrong_type(node, v);
      for (std::size_t i = 0; i < node.symbols.size(); ++i) {
        if (node.symbols[i] == v.as_string()) {
          check(avro_value_set_enum(&out, static_cast<int>(i)), "enum");
          return;
        }
      }
      fail_here(fmt::format("'{}' is not a symbol of enum {}", v.as_string(), node.name));
    }
    case Kind::array: {
      if (!v.is_array()) wrong_type(node, v);
      const Array& items = v.as_array();
      for (std::size_t i = 0; i < items.size(); ++i) {
        avro_value_t child;
        check(avro_value_append(&out, &child, nullptr), "array");
        within_index(i, [&] { from_value(items[i], *node.items, child, rules); });
      }
      return;
    }
    case Kind::map: {
      if (!v.is_object()) wrong_type(node, v);
      for (const auto& [key, value] : v.as_object()) {
        avro_value_t child;
        check(avro_value_add(&out, key.c_str(), &child, nullptr, nullptr), "map");
        within(key, [&] { from_value(value, *node.items, child, rules); });
      }
      return;
    }
    case Kind::record: {
      if (!v.is_object()) wrong_type(node, v);
      const Object& o = v.as_object();
      if (rules.strict || rules.strict_allow_default) {
        for (const auto& [key, value] : o) {
          bool known = false;
          for (const auto& f : node.fields) known = known || f.name == key;
          if (!known) {
            fail_here(fmt::format("'{}' is not a field of record {} (strict)", key, node.name));
          }
        }
      }
      for (std::size_t i = 0; i < node.fields.size(); ++i) {
        const Field& f = node.fields[i];
        avro_value_t child;
        check(avro_value_get_by_index(&out, i, &child, nullptr), "record field");
        // An object built for this schema has its fields in schema order: one compare finds
        // each, and any other order falls back to the scan.
        const Value* field = nullptr;
        if (i < o.size() && (o.begin() + static_cast<std::ptrdiff_t>(i))->first == f.name) {
          field = &(o.begin() + static_cast<std::ptrdiff_t>(i))->second;
        } else {
          field = o.find(f.name);
        }
        within(f.name, [&] {
          if (field == nullptr) {
            if (rules.strict || !f.has_default) {
              fail_here(f.has_default ? "missing (strict: defaults are not used)"
                                      : "missing, and it has no default");
            }
            field = &f.default_value;
          }
          from_value(*field, *f.node, child, rules);
        });
      }
      return;
    }
    case Kind::union_: {
      for (std::size_t i = 0; i < node.branches.size(); ++i) {
        if (!fits(*node.branches[i], v)) continue;
        avro_value_t branch;
        check(avro_value_set_branch(&out, static_cast<int>(i), &branch), "union");
        from_value(v, *node.branches[i], branch, rules);
        return;
      }
      std::string branches;
      for (const Node* b : node.branches) {
        if (!branches.empty()) branches += ", ";
        branches += b->name.empty() ? std::string(kind_name(b->kind)) : b->name;
      }
      fail_here(fmt::format("a {} fits no branch of [{}]", v.type_name(), branches));
    }
  }
}

// ---- the direct decoder ------------------------------------------------------------------

// A datum read without a resolution is decoded here straight from its bytes into the Value,
// driven by the Node tree, and built into the record the run loop gave back: libavro's generic
// values cost most of a small record's time otherwise. The encoding's parts are read with
// libprotobuf's varint reader (Avro's ints and longs are the same zigzag varints). Anything
// off the common path (bytes that end early, a value out of range, a map key twice, bytes left
// over, a decimal that does not convert) gives up, and libavro decodes the datum, giving the
// same Value or naming the error.

struct GiveUp {};

class DirectDecoder {
 public:
  explicit DirectDecoder(std::string_view data)
      : in_(reinterpret_cast<const std::uint8_t*>(data.data()), static_cast<int>(data.size())) {
    in_.PushLimit(static_cast<int>(data.size()));
  }

  // Decodes all of the data as one datum of `node` into `out`; false when libavro must.
  bool decode(const Node& node, Value& out) {
    try {
      value(node, out, 0);
    } catch (const GiveUp&) {
      return false;
    } catch (const Located&) {
      return false;
    }
    return in_.BytesUntilLimit() == 0;
  }

 private:
  std::int64_t long_() {
    std::uint64_t v = 0;
    if (!in_.ReadVarint64(&v)) throw GiveUp{};
    return google::protobuf::internal::WireFormatLite::ZigZagDecode64(v);
  }

  std::int32_t int_() {
    const std::int64_t v = long_();
    if (v < INT32_MIN || v > INT32_MAX) throw GiveUp{};
    return static_cast<std::int32_t>(v);
  }

  std::string_view bytes(std::int64_t size) {
    const void* data = nullptr;
    int available = 0;
    if (size < 0 || size > in_.BytesUntilLimit()) throw GiveUp{};
    if (size == 0) return {};
    if (!in_.GetDirectBufferPointer(&data, &available) || available < size) throw GiveUp{};
    in_.Skip(static_cast<int>(size));
    return {static_cast<const char*>(data), static_cast<std::size_t>(size)};
  }

  static void set_string(Value& target, std::string_view s) { detail::assign_string(target, s); }

  // The item count of the next block of an array or map (0: the end).
  std::int64_t block() {
    std::int64_t count = long_();
    if (count < 0) {
      count = -count;
      (void)long_();  // the block's size in bytes
    }
    if (count < 0 || count > in_.BytesUntilLimit() + 1) throw GiveUp{};
    return count;
  }

  void value(const Node& node, Value& out, int depth) {
    if (depth > 100) throw GiveUp{};
    switch (node.kind) {
      case Kind::null:
        out = Value();
        return;
      case Kind::boolean: {
        std::uint8_t b = 0;
        if (!in_.ReadRaw(&b, 1)) throw GiveUp{};
        out = Value(b != 0);
        return;
      }
      case Kind::int32: {
        const std::int32_t i = int_();
        if (node.logical == Logical::date) {
          set_string(out, date_string(i));
        } else {
          out = Value(static_cast<std::int64_t>(i));
        }
        return;
      }
      case Kind::int64:
        out = Value(static_cast<long long>(long_()));
        return;
      case Kind::float32: {
        std::uint32_t bits = 0;
        if (!in_.ReadLittleEndian32(&bits)) throw GiveUp{};
        float f = 0;
        std::memcpy(&f, &bits, sizeof f);
        out = Value(static_cast<double>(f));
        return;
      }
      case Kind::float64: {
        std::uint64_t bits = 0;
        if (!in_.ReadLittleEndian64(&bits)) throw GiveUp{};
        double d = 0;
        std::memcpy(&d, &bits, sizeof d);
        out = Value(d);
        return;
      }
      case Kind::string:
      case Kind::bytes:
      case Kind::fixed: {
        const std::string_view s = bytes(node.kind == Kind::fixed ? node.size : long_());
        if (node.logical == Logical::decimal) {
          set_string(
              out, read_decimal(reinterpret_cast<const unsigned char*>(s.data()), s.size(), node));
        } else {
          set_string(out, s);
        }
        return;
      }
      case Kind::enumeration: {
        const std::int32_t i = int_();
        if (i < 0 || static_cast<std::size_t>(i) >= node.symbols.size()) throw GiveUp{};
        set_string(out, node.symbols[static_cast<std::size_t>(i)]);
        return;
      }
      case Kind::array: {
        if (!out.is_array()) out = Value(Array{});
        Array& items = out.as_array();
        std::size_t n = 0;
        for (std::int64_t count = block(); count != 0; count = block()) {
          for (std::int64_t i = 0; i < count; ++i) {
            value(*node.items, n < items.size() ? items[n] : items.emplace_back(), depth + 1);
            ++n;
          }
        }
        items.resize(n);
        return;
      }
      case Kind::map: {
        if (!out.is_object()) out = Value(Object{});
        Object& o = out.as_object();
        std::size_t n = 0;
        for (std::int64_t count = block(); count != 0; count = block()) {
          for (std::int64_t i = 0; i < count; ++i) {
            const std::string_view key = bytes(long_());
            // libavro keeps one entry per key; a key twice is left to it.
            if (n >= 64) throw GiveUp{};
            for (std::size_t j = 0; j < n; ++j) {
              if ((o.begin() + static_cast<std::ptrdiff_t>(j))->first == key) throw GiveUp{};
            }
            value(*node.items, entry(o, n, key), depth + 1);
            ++n;
          }
        }
        o.truncate(n);
        return;
      }
      case Kind::record: {
        if (!out.is_object()) out = Value(Object{});
        Object& o = out.as_object();
        for (std::size_t i = 0; i < node.fields.size(); ++i) {
          const Field& f = node.fields[i];
          value(*f.node, entry(o, i, f.name), depth + 1);
        }
        o.truncate(node.fields.size());
        return;
      }
      case Kind::union_: {
        const std::int64_t d = long_();
        if (d < 0 || static_cast<std::size_t>(d) >= node.branches.size()) throw GiveUp{};
        value(*node.branches[static_cast<std::size_t>(d)], out, depth + 1);
        return;
      }
    }
    throw GiveUp{};
  }

  // Entry `k` of `o` named `name`, reusing the entry there or appending one.
  static Value& entry(Object& o, std::size_t k, std::string_view name) {
    if (k < o.size()) {
      auto& e = *(o.begin() + static_cast<std::ptrdiff_t>(k));
      if (e.first != name) detail::assign_text(e.first, name);
      return e.second;
    }
    return o.append_unchecked(name, Value());
  }

  google::protobuf::io::CodedInputStream in_;
};

// ---- the serdes ------------------------------------------------------------------------

// Decodes one datum of `schema` from all of `data` into `out`, as the reader's schema of
// `resolution` when there is one.
void decode_datum(const Schema& schema, std::string_view data, std::vector<Value>& out,
                  const Resolution* resolution) {
  if (resolution == nullptr && data.size() <= static_cast<std::size_t>(INT32_MAX)) {
    Value v = detail::take_parsed_spare();
    if (DirectDecoder(data).decode(*schema.root(), v)) {
      out.push_back(std::move(v));
      return;
    }
  }
  auto slot = schema.lease();
  avro_reader_memory_set_source(slot->reader, data.data(), static_cast<std::int64_t>(data.size()));
  avro_value_reset(&slot->value);
  DecodeGuard& guard = decode_guard();
  guard.active = true;
  // No string, bytes or array of the datum needs more than this (an array of nulls takes
  // no bytes per item: 16 bytes of libavro's bookkeeping per byte of data cover small ones).
  guard.limit = 64 * 1024 + 16 * data.size();
  const int rc = avro_value_read(slot->reader, &slot->value);
  if (rc != 0) {
    const std::string reason = avro_strerror();
    Schema::discard(*slot);  // still guarded: what it frees is no longer noted
    guard.active = false;
    for (void* p : guard.fresh) std::free(p);
    guard.fresh.clear();
    throw SerializationError(
        fmt::format("avro deserializer: cannot decode {} bytes: {}", data.size(), reason));
  }
  guard.active = false;
  guard.fresh.clear();
  // Bytes left over mean the data was written with another schema. Avro C's memory reader
  // has no position to ask, and reading one more byte fails only at the end, at the cost of
  // formatting an error message: asked only when the datum's size in the canonical encoding
  // (what every writer but a blocking one writes) is not the data's.
  std::size_t canonical = 0;
  if (avro_value_sizeof(&slot->value, &canonical) != 0 || canonical != data.size()) {
    char extra = 0;
    if (avro_read(slot->reader, &extra, 1) == 0) {
      throw SerializationError(fmt::format(
          "avro deserializer: {} bytes hold more than one datum of the schema", data.size()));
    }
  }
  try {
    if (resolution != nullptr) {
      out.push_back(resolved_value(slot->value, *schema.root(), resolution->reader(), *resolution));
    } else {
      out.push_back(to_value(slot->value, *schema.root()));
    }
  } catch (const Located& e) {
    throw located_error("deserializer", e);
  }
}

// Encodes `value` as one datum of `schema` into `out` after its first `offset` bytes, written
// straight into `out`, whose capacity the caller keeps between messages; a datum that does
// not fit is measured, and `out` grown to take it.
void encode_datum(const Schema& schema, const WriteRules& rules, const Value& value,
                  std::string& out, std::size_t offset) {
  auto slot = schema.lease();
  avro_value_reset(&slot->value);
  try {
    from_value(value, *schema.root(), slot->value, rules);
  } catch (const Located& e) {
    throw located_error("serializer", e);
  }
  // The datum is written into room made by resize(), which zero-fills it: at most 4 KiB of the
  // capacity a large record once left, so that every later small one does not clear all of it.
  out.resize(std::clamp<std::size_t>(out.capacity(), offset + 128, offset + 4096));
  avro_writer_memory_set_dest(slot->writer, out.data() + offset,
                              static_cast<std::int64_t>(out.size() - offset));
  if (avro_value_write(slot->writer, &slot->value) != 0) {
    std::size_t size = 0;
    check(avro_value_sizeof(&slot->value, &size), "size");
    out.resize(offset + size);
    avro_writer_memory_set_dest(slot->writer, out.data() + offset, static_cast<std::int64_t>(size));
    check(avro_value_write(slot->writer, &slot->value), "write");
  }
  out.resize(offset + static_cast<std::size_t>(avro_writer_tell(slot->writer)));
}

class AvroDeserializer final : public Deserializer {
 public:
  AvroDeserializer(std::shared_ptr<const Schema> writer, std::shared_ptr<const Schema> reader)
      : writer_(std::move(writer)), reader_(std::move(reader)) {
    if (reader_) resolution_.emplace(*writer_->root(), *reader_->root());
  }

  bool reads_headers() const override { return false; }
  std::string_view name() const override { return "avro"; }

  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    decode_datum(*writer_, data, out, resolution_ ? &*resolution_ : nullptr);
  }

 private:
  std::shared_ptr<const Schema> writer_;
  std::shared_ptr<const Schema> reader_;  // keeps the Nodes resolution_ points into
  std::optional<Resolution> resolution_;
};

class AvroSerializer final : public Serializer {
 public:
  AvroSerializer(std::shared_ptr<const Schema> schema, WriteRules rules)
      : schema_(std::move(schema)), rules_(rules) {}

  std::string_view name() const override { return "avro"; }

  void serialize(const Value& value, std::string& out) const override {
    out.clear();
    encode_datum(*schema_, rules_, value, out, 0);
  }

 private:
  std::shared_ptr<const Schema> schema_;
  WriteRules rules_;
};

// Reads Confluent's wire format: each schema id's writer schema is fetched and parsed once.
class AvroRegistryDeserializer final : public Deserializer {
 public:
  AvroRegistryDeserializer(std::shared_ptr<serde::SchemaRegistryClient> client,
                           std::shared_ptr<const Schema> reader)
      : reader_(std::move(reader)), writers_(std::move(client), "AVRO", "avro") {}

  bool reads_headers() const override { return false; }
  std::string_view name() const override { return "avro"; }

  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    const std::int32_t id = serde::read_wire_header(data, "avro");
    const auto& writer = writer_of(id);
    decode_datum(*writer.schema, data.substr(serde::kWireHeaderSize), out,
                 writer.resolution ? &*writer.resolution : nullptr);
  }

 private:
  struct Writer {
    std::shared_ptr<const Schema> schema;
    std::optional<Resolution> resolution;  // to the reader's schema, when one is given
  };

  const Writer& writer_of(std::int32_t id) const {
    return writers_.get(id, [&](const serde::RegisteredSchema& registered) {
      auto writer = std::make_unique<Writer>();
      writer->schema = std::make_shared<const Schema>(registered.schema);
      if (reader_) writer->resolution.emplace(*writer->schema->root(), *reader_->root());
      return writer;
    });
  }

  std::shared_ptr<const Schema> reader_;
  serde::PerSchemaId<Writer> writers_;
};

// Writes Confluent's wire format with the id of its schema under the subject its strategy
// names; bound to a topic by for_topic(). The id is asked for at the first record (not when
// the pipeline is defined) and kept; a failed request is asked again at the next record.
class AvroRegistrySerializer final : public Serializer {
 public:
  AvroRegistrySerializer(std::shared_ptr<const Schema> schema, std::string text, WriteRules rules,
                         std::shared_ptr<serde::SchemaRegistryClient> client,
                         SchemaRegistrySerializationConfig config, std::string subject)
      : schema_(std::move(schema)),
        text_(std::move(text)),
        rules_(rules),
        client_(std::move(client)),
        config_(config),
        subject_(std::move(subject)) {}

  std::string_view name() const override { return "avro"; }

  std::shared_ptr<const Serializer> for_topic(const std::string& topic, bool key) const override {
    std::string subject =
        serde::subject_name(config_.subject_name_strategy, topic, key, schema_->root()->name);
    return std::make_shared<const AvroRegistrySerializer>(schema_, text_, rules_, client_, config_,
                                                          std::move(subject));
  }

  void serialize(const Value& value, std::string& out) const override {
    const std::int32_t id = serde::subject_schema_id(id_, subject_, "avro", [&] {
      return config_.auto_register_schemas ? client_->register_schema(subject_, text_, "AVRO")
                                           : client_->lookup_schema(subject_, text_, "AVRO");
    });
    out.clear();
    serde::append_wire_header(id, out);
    encode_datum(*schema_, rules_, value, out, serde::kWireHeaderSize);
  }

 private:
  std::shared_ptr<const Schema> schema_;
  std::string text_;
  WriteRules rules_;
  std::shared_ptr<serde::SchemaRegistryClient> client_;
  SchemaRegistrySerializationConfig config_;
  std::string subject_;  // empty until bound (topic strategies)
  mutable std::atomic<std::int32_t> id_{-1};
};

}  // namespace

std::shared_ptr<const Serializer> avro_serializer(const AvroSerializerOptions& options) {
  std::string text = read_schema_text(options.schema, options.schema_file, "avro serializer");
  auto schema = std::make_shared<const Schema>(text);
  const WriteRules rules{options.strict, options.strict_allow_default};
  if (!options.schema_registry_client_config) {
    return std::make_shared<const AvroSerializer>(std::move(schema), rules);
  }
  const auto& config = options.schema_registry_serialization_config;
  if (config.subject_name_strategy != SubjectNameStrategy::topic_name &&
      schema->root()->kind != Kind::record) {
    throw ConfigError(
        "avro serializer: the record-name subject strategies need a record schema, got a " +
        std::string(kind_name(schema->root()->kind)));
  }
  auto client =
      std::make_shared<serde::SchemaRegistryClient>(*options.schema_registry_client_config);
  std::string subject;
  if (config.subject_name_strategy == SubjectNameStrategy::record_name)
    subject = schema->root()->name;
  return std::make_shared<const AvroRegistrySerializer>(
      std::move(schema), std::move(text), rules, std::move(client), config, std::move(subject));
}

std::shared_ptr<const Deserializer> avro_deserializer(const AvroDeserializerOptions& options) {
  std::shared_ptr<const Schema> reader;
  if (!options.reader_schema.empty())
    reader = std::make_shared<const Schema>(options.reader_schema);
  if (options.schema_registry_client_config) {
    if (!options.schema.empty() || !options.schema_file.empty()) {
      throw ConfigError(
          "avro deserializer: with a schema registry each record's writer schema comes from the "
          "registry: give the schema to read as (if any) as reader_schema, not schema");
    }
    return std::make_shared<const AvroRegistryDeserializer>(
        std::make_shared<serde::SchemaRegistryClient>(*options.schema_registry_client_config),
        std::move(reader));
  }
  auto writer = std::make_shared<const Schema>(
      read_schema_text(options.schema, options.schema_file, "avro deserializer"));
  return std::make_shared<const AvroDeserializer>(std::move(writer), std::move(reader));
}

}  // namespace streamframe
