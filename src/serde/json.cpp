// JSON <-> Value (SEMANTICS TOP-05). Parsing uses simdjson's DOM with a reused thread-local
// parser; writing is a hand-rolled compact writer appending straight into the caller's buffer.
#include <simdjson.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

namespace {

namespace dom = simdjson::dom;

// ---- parse -----------------------------------------------------------------------------

// Objects up to this many fields check duplicate keys with a linear scan (cheap on the few,
// short keys of typical records); larger ones use a hash index so parsing stays O(n).
constexpr std::size_t kLinearDuplicateScanLimit = 32;

// Documents larger than this are parsed with a one-off parser so a thread does not keep a
// buffer sized for its largest message forever.
constexpr std::size_t kThreadParserMaxBytes = std::size_t{4} << 20;

void build(dom::element el, Value& out);

void build_object(dom::object obj, Value& out) {
  out = Value(Object());
  Object& o = out.as_object();
  const std::size_t n = obj.size();
  o.reserve(n);
  if (n <= kLinearDuplicateScanLimit) {
    for (dom::key_value_pair field : obj) {
      // Duplicate keys: last wins, at the first key's position (TOP-05).
      if (Value* existing = o.find(field.key)) {
        build(field.value, *existing);
      } else {
        build(field.value, o.append_unchecked(std::string(field.key), Value()));
      }
    }
    return;
  }
  // Keys point into the parser's string buffer, valid until the next parse on this parser.
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(n);
  for (dom::key_value_pair field : obj) {
    auto [it, inserted] = index.try_emplace(field.key, o.size());
    if (inserted) {
      build(field.value, o.append_unchecked(std::string(field.key), Value()));
    } else {
      build(field.value, (o.begin() + static_cast<std::ptrdiff_t>(it->second))->second);
    }
  }
}

void build_array(dom::array arr, Value& out) {
  out = Value(Array());
  Array& a = out.as_array();
  a.resize(arr.size());
  std::size_t i = 0;
  for (dom::element item : arr) build(item, a[i++]);
}

void build(dom::element el, Value& out) {
  switch (el.type()) {
    case dom::element_type::OBJECT: build_object(el.get_object().value_unsafe(), out); return;
    case dom::element_type::ARRAY: build_array(el.get_array().value_unsafe(), out); return;
    case dom::element_type::STRING: out = Value(el.get_string().value_unsafe()); return;
    case dom::element_type::INT64: out = Value(el.get_int64().value_unsafe()); return;
    case dom::element_type::DOUBLE: out = Value(el.get_double().value_unsafe()); return;
    case dom::element_type::BOOL: out = Value(el.get_bool().value_unsafe()); return;
    case dom::element_type::NULL_VALUE: out = Value(); return;
    case dom::element_type::UINT64:
      // simdjson only uses uint64 above INT64_MAX. Deliberately not widened to double (Δ).
      throw SerializationError("invalid JSON: integer " +
                               std::to_string(el.get_uint64().value_unsafe()) +
                               " does not fit in int64");
  }
}

[[noreturn]] void throw_parse_error(simdjson::error_code code) {
  std::string msg = "invalid JSON: ";
  msg += simdjson::error_message(code);
  if (code == simdjson::NUMBER_ERROR) msg += " (integers must fit in int64)";
  throw SerializationError(std::move(msg));
}

Value parse_with(dom::parser& parser, std::string_view text) {
  // realloc_if_needed=true copies into the parser's own padded buffer, which it keeps between
  // calls: no allocation per message once warm.
  auto result = parser.parse(text.data(), text.size(), true);
  if (result.error()) throw_parse_error(result.error());
  Value out;
  build(result.value_unsafe(), out);
  return out;
}

// ---- write -----------------------------------------------------------------------------

// 0 = copy as is; otherwise the character after the backslash ('u' = \u00XX).
constexpr std::array<char, 256> kEscape = [] {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 'u';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  t['"'] = '"';
  t['\\'] = '\\';
  return t;
}();

void write_string(std::string_view s, std::string& out) {
  out.push_back('"');
  const char* run = s.data();
  const char* const end = s.data() + s.size();
  for (const char* p = run; p != end; ++p) {
    const char e = kEscape[static_cast<unsigned char>(*p)];
    if (e == 0) continue;
    out.append(run, static_cast<std::size_t>(p - run));
    run = p + 1;
    if (e == 'u') {
      static constexpr char kHex[] = "0123456789abcdef";
      const auto c = static_cast<unsigned char>(*p);
      const char buf[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(buf, 6);
    } else {
      const char buf[2] = {'\\', e};
      out.append(buf, 2);
    }
  }
  out.append(run, static_cast<std::size_t>(end - run));
  out.push_back('"');
}

void write_int(std::int64_t i, std::string& out) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, i);
  out.append(buf, static_cast<std::size_t>(res.ptr - buf));
}

// Shortest round-trip digits (std::to_chars), laid out like Python's repr(float) so output
// matches what Quix Streams writes: fixed notation for 1e-4 <= |d| < 1e16 with ".0" kept when
// integral, else d.ddde+XX with at least two exponent digits (1e+16, 1e-05, 1.5e+300).
void write_double(double d, std::string& out) {
  if (!std::isfinite(d)) throw SerializationError("cannot serialize NaN/Infinity to JSON");
  char sci[40];
  auto res = std::to_chars(sci, sci + sizeof sci, d, std::chars_format::scientific);
  // sci = [-]D[.DDD]e(+|-)XX[X]
  const char* p = sci;
  const char* const sci_end = res.ptr;
  char buf[48];
  char* o = buf;
  if (*p == '-') {
    *o++ = '-';
    ++p;
  }
  char digits[24];
  int n = 0;
  for (; *p != 'e'; ++p) {
    if (*p != '.') digits[n++] = *p;
  }
  ++p;  // 'e'
  const bool exp_negative = *p == '-';
  ++p;
  int exp = 0;
  for (; p != sci_end; ++p) exp = exp * 10 + (*p - '0');
  if (exp_negative) exp = -exp;

  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      // Integer part: digits[0..exp], zero-padded when the digits run out.
      for (int i = 0; i <= exp; ++i) *o++ = i < n ? digits[i] : '0';
      *o++ = '.';
      if (n > exp + 1) {
        std::memcpy(o, digits + exp + 1, static_cast<std::size_t>(n - exp - 1));
        o += n - exp - 1;
      } else {
        *o++ = '0';
      }
    } else {
      *o++ = '0';
      *o++ = '.';
      for (int i = -1; i > exp; --i) *o++ = '0';
      std::memcpy(o, digits, static_cast<std::size_t>(n));
      o += n;
    }
  } else {
    *o++ = digits[0];
    if (n > 1) {
      *o++ = '.';
      std::memcpy(o, digits + 1, static_cast<std::size_t>(n - 1));
      o += n - 1;
    }
    *o++ = 'e';
    *o++ = exp < 0 ? '-' : '+';
    const int mag = exp < 0 ? -exp : exp;
    if (mag < 10) *o++ = '0';
    o = std::to_chars(o, buf + sizeof buf, mag).ptr;
  }
  out.append(buf, static_cast<std::size_t>(o - buf));
}

void write_value(const Value& v, std::string& out) {
  switch (v.type()) {
    case Value::Type::null: out.append("null", 4); return;
    case Value::Type::boolean:
      if (v.as_bool()) {
        out.append("true", 4);
      } else {
        out.append("false", 5);
      }
      return;
    case Value::Type::integer: write_int(v.as_int(), out); return;
    case Value::Type::floating: write_double(v.as_double(), out); return;
    case Value::Type::string: write_string(v.as_string(), out); return;
    case Value::Type::array: {
      out.push_back('[');
      bool first = true;
      for (const Value& item : v.as_array()) {
        if (!first) out.push_back(',');
        first = false;
        write_value(item, out);
      }
      out.push_back(']');
      return;
    }
    case Value::Type::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [key, item] : v.as_object()) {
        if (!first) out.push_back(',');
        first = false;
        write_string(key, out);
        out.push_back(':');
        write_value(item, out);
      }
      out.push_back('}');
      return;
    }
  }
}

void newline(std::string& out, int indent, int depth) {
  out.push_back('\n');
  out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(depth), ' ');
}

// Python json.dumps(indent=n) layout: one element per line, "key": value, empty containers
// stay "[]" / "{}".
void write_pretty_value(const Value& v, std::string& out, int indent, int depth) {
  switch (v.type()) {
    case Value::Type::array: {
      const Array& a = v.as_array();
      if (a.empty()) {
        out.append("[]", 2);
        return;
      }
      out.push_back('[');
      bool first = true;
      for (const Value& item : a) {
        if (!first) out.push_back(',');
        first = false;
        newline(out, indent, depth + 1);
        write_pretty_value(item, out, indent, depth + 1);
      }
      newline(out, indent, depth);
      out.push_back(']');
      return;
    }
    case Value::Type::object: {
      const Object& o = v.as_object();
      if (o.empty()) {
        out.append("{}", 2);
        return;
      }
      out.push_back('{');
      bool first = true;
      for (const auto& [key, item] : o) {
        if (!first) out.push_back(',');
        first = false;
        newline(out, indent, depth + 1);
        write_string(key, out);
        out.append(": ", 2);
        write_pretty_value(item, out, indent, depth + 1);
      }
      newline(out, indent, depth);
      out.push_back('}');
      return;
    }
    default: write_value(v, out); return;
  }
}

}  // namespace

namespace json {

Value parse(std::string_view text) {
  if (text.size() > kThreadParserMaxBytes) {
    dom::parser parser;
    return parse_with(parser, text);
  }
  // One parser per thread: Deserializers are shared between workers, and the parser's buffers
  // are reused across messages. build() never re-enters parse(), so the parser's strings stay
  // valid while the Value is built.
  thread_local dom::parser parser;
  return parse_with(parser, text);
}

void write(const Value& value, std::string& out) { write_value(value, out); }

std::string write_pretty(const Value& value, int indent) {
  if (indent < 0) indent = 0;
  std::string out;
  write_pretty_value(value, out, indent, 0);
  return out;
}

}  // namespace json

std::string Value::to_json() const {
  std::string out;
  json::write(*this, out);
  return out;
}

Value Value::from_json(std::string_view text) { return json::parse(text); }

}  // namespace streamframe
