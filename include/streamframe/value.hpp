// Value: the dynamic, JSON-like data a pipeline works on (DESIGN "Data model").
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace streamframe {

class Value;

namespace detail {
struct ValueInPlace;
}

// An insertion-ordered JSON object. Lookup is a linear scan: records carry a handful of
// fields, where a scan over contiguous memory beats hashing and keeps key order for free.
class Object {
 public:
  using Entry = std::pair<std::string, Value>;
  using iterator = std::vector<Entry>::iterator;
  using const_iterator = std::vector<Entry>::const_iterator;

  Object() = default;
  Object(std::initializer_list<Entry> entries);

  const Value* find(std::string_view key) const noexcept;
  Value* find(std::string_view key) noexcept;
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
  // Sets `key` (replacing the value in place, or appending at the end) and returns it.
  Value& set(std::string_view key, Value value);
  // Returns the value at `key`, appending a null one if absent.
  Value& operator[](std::string_view key);
  // Appends without looking for an existing `key`, for builders that already know it is absent
  // (the JSON parser, projections of distinct columns). A repeated key breaks the object's
  // invariant: find() would see only the first one.
  Value& append_unchecked(std::string_view key, Value value);
  bool erase(std::string_view key);
  // Defined below Value: a member of std::vector<Entry> may be instantiated only once Value
  // is complete (GCC waits for the use, clang does not).
  void reserve(std::size_t n);
  void clear() noexcept;
  // Keeps the first `n` entries (all of them when there are no more).
  void truncate(std::size_t n) noexcept;

  std::size_t size() const noexcept;
  bool empty() const noexcept;
  iterator begin() noexcept;
  iterator end() noexcept;
  const_iterator begin() const noexcept;
  const_iterator end() const noexcept;

 private:
  std::vector<Entry> entries_;
};

using Array = std::vector<Value>;

class Value {
 public:
  enum class Type : std::uint8_t { null, boolean, integer, floating, string, array, object };

  Value() noexcept = default;
  Value(std::nullptr_t) noexcept {}
  Value(bool b) noexcept : data_(b) {}
  Value(int i) noexcept : data_(static_cast<std::int64_t>(i)) {}
  Value(long i) noexcept : data_(static_cast<std::int64_t>(i)) {}
  Value(long long i) noexcept : data_(static_cast<std::int64_t>(i)) {}
  Value(unsigned i) noexcept : data_(static_cast<std::int64_t>(i)) {}
  Value(double d) noexcept : data_(d) {}
  Value(float d) noexcept : data_(static_cast<double>(d)) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(std::string s) noexcept : data_(std::move(s)) {}
  Value(std::string_view s) : data_(std::string(s)) {}
  Value(Array a) noexcept : data_(std::move(a)) {}
  Value(Object o) noexcept : data_(std::move(o)) {}

  static Value object(std::initializer_list<Object::Entry> entries = {});
  static Value array(std::initializer_list<Value> items = {});

  Type type() const noexcept { return static_cast<Type>(data_.index()); }
  // "null", "bool", "int", "double", "string", "array", "object".
  std::string_view type_name() const noexcept;
  static std::string_view type_name(Type t) noexcept;

  bool is_null() const noexcept { return type() == Type::null; }
  bool is_bool() const noexcept { return type() == Type::boolean; }
  bool is_int() const noexcept { return type() == Type::integer; }
  bool is_double() const noexcept { return type() == Type::floating; }
  bool is_number() const noexcept { return is_int() || is_double(); }
  bool is_string() const noexcept { return type() == Type::string; }
  bool is_array() const noexcept { return type() == Type::array; }
  bool is_object() const noexcept { return type() == Type::object; }

  // Typed access. On the wrong type these throw ValueTypeError naming the expected and the
  // actual type. as_double accepts int and double; as_int accepts int only.
  bool as_bool() const;
  std::int64_t as_int() const;
  double as_double() const;
  const std::string& as_string() const;
  std::string& as_string();
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object field access. Const: missing key => ColumnDoesNotExist, not an object =>
  // InvalidColumnReference. Non-const: a null value becomes an empty object, a missing key is
  // appended as null.
  const Value& operator[](std::string_view key) const;
  Value& operator[](std::string_view key);
  const Value& operator[](const char* key) const { return (*this)[std::string_view(key)]; }
  Value& operator[](const char* key) { return (*this)[std::string_view(key)]; }
  // Array element access; out of range or not an array => InvalidOperation/ValueTypeError.
  const Value& at(std::size_t index) const;
  // The same with an int, negative counting from the end (as a Series' s[i], SER-05). Without
  // it `v[0]` would choose the const char* overload above and look up a null key.
  const Value& operator[](int index) const;
  Value& operator[](int index);
  // nullptr when not an object or the key is absent.
  const Value* find(std::string_view key) const noexcept;
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
  // The field's value when present and not null, else `fallback`.
  Value get_or(std::string_view key, Value fallback) const;
  std::size_t size() const noexcept;  // elements of an array/object, bytes of a string, else 0

  // Truthy = not one of null, false, 0, 0.0, "", [], {} (SEMANTICS §0).
  bool truthy() const noexcept;

  // Equality per SER-03: numbers (bool as 0/1) compare numerically, arrays element-wise,
  // objects ignoring key order; other kinds are unequal. Never throws.
  friend bool operator==(const Value& a, const Value& b) noexcept;
  friend bool operator!=(const Value& a, const Value& b) noexcept { return !(a == b); }

  // Compact JSON (SEMANTICS TOP-05). Throws SerializationError on NaN/Inf. Implemented in the
  // serde layer; declared here for convenience in user code and tests.
  std::string to_json() const;
  static Value from_json(std::string_view text);

 private:
  // The decoders rebuild a recycled record in place (src/serde/parse_reuse.hpp).
  friend struct detail::ValueInPlace;

  std::variant<std::monostate, bool, std::int64_t, double, std::string, Array, Object> data_;
};

inline void Object::reserve(std::size_t n) {
  entries_.reserve(n);
}
inline void Object::clear() noexcept {
  entries_.clear();
}
inline void Object::truncate(std::size_t n) noexcept {
  if (n < entries_.size())
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(n), entries_.end());
}
inline std::size_t Object::size() const noexcept {
  return entries_.size();
}
inline bool Object::empty() const noexcept {
  return entries_.empty();
}
inline Object::iterator Object::begin() noexcept {
  return entries_.begin();
}
inline Object::iterator Object::end() noexcept {
  return entries_.end();
}
inline Object::const_iterator Object::begin() const noexcept {
  return entries_.begin();
}
inline Object::const_iterator Object::end() const noexcept {
  return entries_.end();
}

}  // namespace streamframe
