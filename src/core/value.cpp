// Value and Object: access, truthiness and equality (SEMANTICS §0, SER-03). JSON conversion
// lives in src/serde/json.cpp.
#include "streamframe/value.hpp"

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>

#include "core/short_bytes.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

namespace {

[[noreturn]] void throw_type_error(std::string_view expected, const Value& actual) {
  std::string msg = "expected ";
  msg += expected;
  msg += ", got ";
  msg += actual.type_name();
  throw ValueTypeError(std::move(msg));
}

[[noreturn]] void throw_missing_column(std::string_view key) {
  std::string msg = "column '";
  msg += key;
  msg += "' does not exist";
  throw ColumnDoesNotExist(std::move(msg));
}

[[noreturn]] void throw_not_an_object(std::string_view key, const Value& v) {
  std::string msg = "cannot access column '";
  msg += key;
  msg += "' of a";
  // "an int value", "an array value", "an object value"; "a string value", ...
  const std::string_view name = v.type_name();
  if (name.front() == 'i' || name.front() == 'a' || name.front() == 'o') msg += 'n';
  msg += ' ';
  msg += name;
  msg += " value";
  throw InvalidColumnReference(std::move(msg));
}

// Exact comparison of an int64 with a double, as Python does (no rounding of the int):
// 2^53 + 1 != 2^53 even though (double)(2^53 + 1) == 2^53.
bool int_equals_double(std::int64_t i, double d) noexcept {
  // [-2^63, 2^63) is exactly the range of doubles that convert to int64 without UB.
  constexpr double kTwo63 = 9223372036854775808.0;
  if (!(d >= -kTwo63 && d < kTwo63)) return false;  // also rejects NaN
  if (std::trunc(d) != d) return false;
  return static_cast<std::int64_t>(d) == i;
}

// Column lookups compare many short keys, often of equal length ("lat"/"lon"), without a
// memcmp call for keys up to 16 bytes.
inline bool key_equals(const std::string& a, std::string_view b) noexcept {
  return a.size() == b.size() && detail::same_bytes(a.data(), b.data(), a.size());
}

// Numeric view of bool/int/double for SER-03 equality.
struct Number {
  bool is_double;
  std::int64_t i;
  double d;
};

}  // namespace

// ---- Object ----------------------------------------------------------------------------

Object::Object(std::initializer_list<Entry> entries) {
  entries_.reserve(entries.size());
  for (const Entry& e : entries) set(e.first, e.second);  // a repeated key: last wins
}

const Value* Object::find(std::string_view key) const noexcept {
  for (const Entry& e : entries_) {
    if (key_equals(e.first, key)) return &e.second;
  }
  return nullptr;
}

Value* Object::find(std::string_view key) noexcept {
  for (Entry& e : entries_) {
    if (key_equals(e.first, key)) return &e.second;
  }
  return nullptr;
}

Value& Object::set(std::string_view key, Value value) {
  if (Value* existing = find(key)) {
    *existing = std::move(value);
    return *existing;
  }
  return entries_.emplace_back(std::string(key), std::move(value)).second;
}

Value& Object::operator[](std::string_view key) {
  if (Value* existing = find(key)) return *existing;
  return entries_.emplace_back(std::string(key), Value()).second;
}

// `value` is moved into the new entry (through forward_as_tuple).
Value& Object::append_unchecked(std::string_view key,
                                Value value) {  // NOLINT(performance-unnecessary-value-param)
  return entries_
      .emplace_back(std::piecewise_construct, std::forward_as_tuple(key),
                    std::forward_as_tuple(std::move(value)))
      .second;
}

bool Object::erase(std::string_view key) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (key_equals(it->first, key)) {
      entries_.erase(it);  // keeps the order of the remaining keys
      return true;
    }
  }
  return false;
}

// ---- Value -----------------------------------------------------------------------------

Value Value::object(std::initializer_list<Object::Entry> entries) {
  return Value(Object(entries));
}

Value Value::array(std::initializer_list<Value> items) {
  return Value(Array(items));
}

std::string_view Value::type_name(Type t) noexcept {
  switch (t) {
    case Type::null:
      return "null";
    case Type::boolean:
      return "bool";
    case Type::integer:
      return "int";
    case Type::floating:
      return "double";
    case Type::string:
      return "string";
    case Type::array:
      return "array";
    case Type::object:
      return "object";
  }
  return "unknown";
}

std::string_view Value::type_name() const noexcept {
  return type_name(type());
}

bool Value::as_bool() const {
  if (const bool* b = std::get_if<bool>(&data_)) return *b;
  throw_type_error("bool", *this);
}

std::int64_t Value::as_int() const {
  if (const std::int64_t* i = std::get_if<std::int64_t>(&data_)) return *i;
  throw_type_error("int", *this);
}

double Value::as_double() const {
  if (const double* d = std::get_if<double>(&data_)) return *d;
  if (const std::int64_t* i = std::get_if<std::int64_t>(&data_)) return static_cast<double>(*i);
  throw_type_error("double", *this);
}

const std::string& Value::as_string() const {
  if (const std::string* s = std::get_if<std::string>(&data_)) return *s;
  throw_type_error("string", *this);
}

std::string& Value::as_string() {
  if (std::string* s = std::get_if<std::string>(&data_)) return *s;
  throw_type_error("string", *this);
}

const Array& Value::as_array() const {
  if (const Array* a = std::get_if<Array>(&data_)) return *a;
  throw_type_error("array", *this);
}

Array& Value::as_array() {
  if (Array* a = std::get_if<Array>(&data_)) return *a;
  throw_type_error("array", *this);
}

const Object& Value::as_object() const {
  if (const Object* o = std::get_if<Object>(&data_)) return *o;
  throw_type_error("object", *this);
}

Object& Value::as_object() {
  if (Object* o = std::get_if<Object>(&data_)) return *o;
  throw_type_error("object", *this);
}

const Value& Value::operator[](std::string_view key) const {
  const Object* o = std::get_if<Object>(&data_);
  if (o == nullptr) throw_not_an_object(key, *this);
  const Value* v = o->find(key);
  if (v == nullptr) throw_missing_column(key);
  return *v;
}

Value& Value::operator[](std::string_view key) {
  if (is_null()) data_.emplace<Object>();
  Object* o = std::get_if<Object>(&data_);
  if (o == nullptr) throw_not_an_object(key, *this);
  return (*o)[key];
}

const Value& Value::at(std::size_t index) const {
  const Array* a = std::get_if<Array>(&data_);
  if (a == nullptr) throw_type_error("array", *this);
  if (index >= a->size()) {
    throw InvalidOperation("index " + std::to_string(index) + " out of range for an array of " +
                           std::to_string(a->size()) + " elements");
  }
  return (*a)[index];
}

const Value& Value::operator[](int index) const {
  if (index >= 0) return at(static_cast<std::size_t>(index));
  const Array* a = std::get_if<Array>(&data_);
  if (a == nullptr) throw_type_error("array", *this);
  const auto back = static_cast<std::size_t>(-static_cast<std::int64_t>(index));
  if (back > a->size()) {
    throw InvalidOperation("index " + std::to_string(index) + " out of range for an array of " +
                           std::to_string(a->size()) + " elements");
  }
  return (*a)[a->size() - back];
}

Value& Value::operator[](int index) {
  return const_cast<Value&>(std::as_const(*this)[index]);
}

const Value* Value::find(std::string_view key) const noexcept {
  const Object* o = std::get_if<Object>(&data_);
  return o == nullptr ? nullptr : o->find(key);
}

Value Value::get_or(std::string_view key, Value fallback) const {
  const Value* v = find(key);
  if (v == nullptr || v->is_null()) return fallback;
  return *v;
}

std::size_t Value::size() const noexcept {
  switch (type()) {
    case Type::string:
      return std::get<std::string>(data_).size();
    case Type::array:
      return std::get<Array>(data_).size();
    case Type::object:
      return std::get<Object>(data_).size();
    default:
      return 0;
  }
}

// std::get_if, not std::get: the type is known from type(), and these are noexcept.
bool Value::truthy() const noexcept {
  switch (type()) {
    case Type::null:
      return false;
    case Type::boolean:
      return *std::get_if<bool>(&data_);
    case Type::integer:
      return *std::get_if<std::int64_t>(&data_) != 0;
    case Type::floating:
      return *std::get_if<double>(&data_) != 0.0;  // NaN is truthy, as in Python
    case Type::string:
      return !std::get_if<std::string>(&data_)->empty();
    case Type::array:
      return !std::get_if<Array>(&data_)->empty();
    case Type::object:
      return !std::get_if<Object>(&data_)->empty();
  }
  return false;
}

bool operator==(const Value& a, const Value& b) noexcept {
  const Value::Type ta = a.type();
  const Value::Type tb = b.type();
  const auto numeric = [](Value::Type t) {
    return t == Value::Type::boolean || t == Value::Type::integer || t == Value::Type::floating;
  };
  if (numeric(ta) && numeric(tb)) {
    const auto number = [](const Value& v) -> Number {
      switch (v.type()) {
        case Value::Type::boolean:
          return {false, *std::get_if<bool>(&v.data_) ? 1 : 0, 0.0};
        case Value::Type::integer:
          return {false, *std::get_if<std::int64_t>(&v.data_), 0.0};
        default:
          return {true, 0, *std::get_if<double>(&v.data_)};
      }
    };
    const Number x = number(a);
    const Number y = number(b);
    if (!x.is_double && !y.is_double) return x.i == y.i;
    if (x.is_double && y.is_double) return x.d == y.d;
    return x.is_double ? int_equals_double(y.i, x.d) : int_equals_double(x.i, y.d);
  }
  if (ta != tb) return false;
  switch (ta) {
    case Value::Type::null:
      return true;
    case Value::Type::string:
      return *std::get_if<std::string>(&a.data_) == *std::get_if<std::string>(&b.data_);
    case Value::Type::array:
      return *std::get_if<Array>(&a.data_) == *std::get_if<Array>(&b.data_);
    case Value::Type::object: {
      const Object& x = *std::get_if<Object>(&a.data_);
      const Object& y = *std::get_if<Object>(&b.data_);
      if (x.size() != y.size()) return false;
      // Keys are unique within an object, so same size + every key of x equal in y suffices.
      // Try the same position first: equal objects usually share their key order.
      auto yit = y.begin();
      for (const auto& [key, value] : x) {
        const Value* other = key_equals(yit->first, key) ? &yit->second : y.find(key);
        ++yit;
        if (other == nullptr || !(value == *other)) return false;
      }
      return true;
    }
    default:
      return false;  // unreachable: numeric kinds handled above
  }
}

}  // namespace streamframe
