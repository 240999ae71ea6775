// JSON <-> Value (SEMANTICS TOP-05). Parsing uses simdjson's DOM with a reused thread-local
// parser; writing is a hand-rolled compact writer appending straight into the caller's buffer.
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/short_bytes.hpp"
#include "serde/json_column.hpp"
#include "serde/parse_reuse.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

namespace {

namespace dom = simdjson::dom;

// ---- parse -----------------------------------------------------------------------------

// Objects up to this many fields check duplicate keys with a bit filter and, on a filter hit,
// a linear scan (cheap on the few short keys of typical records); larger ones use a hash index
// so parsing stays O(n).
constexpr std::size_t kLinearDuplicateScanLimit = 32;

// Documents larger than this are parsed with a one-off parser so a thread does not keep a
// buffer sized for its largest message forever.
constexpr std::size_t kThreadParserMaxBytes = std::size_t{4} << 20;

inline unsigned key_hash(std::string_view key) {
  if (key.empty()) return 0;
  return static_cast<unsigned>(key.size()) * 7U + static_cast<unsigned char>(key.front()) * 3U +
         static_cast<unsigned char>(key.back());
}

// Values are built bottom-up and moved once into their parent's slot.
Value build(dom::element el);

bool build_object_into(Object& o, dom::object obj);

Value build_object(dom::object obj) {
  Object o;
  const std::size_t n = obj.size();
  o.reserve(n);
  if (build_object_into(o, obj)) return Value(std::move(o));
  // Keys point into the parser's string buffer, valid until the next parse on this parser.
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(n);
  for (dom::key_value_pair field : obj) {
    auto [it, inserted] = index.try_emplace(field.key, o.size());
    if (inserted) {
      o.append_unchecked(field.key, build(field.value));
    } else {
      (o.begin() + static_cast<std::ptrdiff_t>(it->second))->second = build(field.value);
    }
  }
  return Value(std::move(o));
}

Value build_array(dom::array arr) {
  Array a;
  a.reserve(arr.size());
  for (dom::element item : arr) a.push_back(build(item));
  return Value(std::move(a));
}

Value build(dom::element el) {
  switch (el.type()) {
    case dom::element_type::OBJECT:
      return build_object(el.get_object().value_unsafe());
    case dom::element_type::ARRAY:
      return build_array(el.get_array().value_unsafe());
    case dom::element_type::STRING:
      return Value(el.get_string().value_unsafe());
    case dom::element_type::INT64:
      return Value(el.get_int64().value_unsafe());
    case dom::element_type::DOUBLE:
      return Value(el.get_double().value_unsafe());
    case dom::element_type::BOOL:
      return Value(el.get_bool().value_unsafe());
    case dom::element_type::NULL_VALUE:
      return Value();
    case dom::element_type::UINT64:
      // simdjson only uses uint64 above INT64_MAX. Deliberately not widened to double (Δ).
      throw SerializationError("invalid JSON: integer " +
                               std::to_string(el.get_uint64().value_unsafe()) +
                               " does not fit in int64");
  }
  return Value();  // unreachable: every element type is handled above
}

using detail::assign_text;

// Builds `el` into `target`, reusing the storage of what it holds where the kinds match: an
// object's entries (each key and value assigned in place) and a string's capacity. The result
// equals build(el).
void build_into(Value& target, dom::element el);

// `obj` into `o`, its entries assigned in place, left-over ones dropped. Duplicate keys: last
// wins, at the first key's position (TOP-05); a 64-bit filter over (length, first and last
// byte) rules out almost every key without scanning. False (nothing changed) for objects too
// large for that scan: build_object() indexes those.
bool build_object_into(Object& o, dom::object obj) {
  if (obj.size() > kLinearDuplicateScanLimit) return false;
  std::size_t used = 0;
  std::uint64_t seen = 0;
  for (dom::key_value_pair field : obj) {
    const std::string_view key = field.key;
    const std::uint64_t bit = std::uint64_t{1} << (key_hash(key) & 63);
    if ((seen & bit) != 0) {
      // Only the entries written for this document count: those after them are left over.
      const auto written = o.begin() + static_cast<std::ptrdiff_t>(used);
      const auto it =
          std::find_if(o.begin(), written, [&](const auto& e) { return e.first == key; });
      if (it != written) {
        build_into(it->second, field.value);  // last wins, at the first key's position
        continue;
      }
    }
    seen |= bit;
    if (used < o.size()) {
      auto& entry = *(o.begin() + static_cast<std::ptrdiff_t>(used));
      // Records of one shape: equal.
      if (entry.first.size() != key.size() ||
          !detail::same_bytes(entry.first.data(), key.data(), key.size())) {
        assign_text(entry.first, key);
      }
      build_into(entry.second, field.value);
    } else {
      o.append_unchecked(key, build(field.value));
    }
    ++used;
  }
  o.truncate(used);
  return true;
}

void build_into(Value& target, dom::element el) {
  switch (el.type()) {
    case dom::element_type::OBJECT: {
      const dom::object obj = el.get_object().value_unsafe();
      if (target.is_object() && build_object_into(target.as_object(), obj)) return;
      target = build_object(obj);
      return;
    }
    case dom::element_type::STRING:
      if (target.is_string()) {
        assign_text(target.as_string(), el.get_string().value_unsafe());
        return;
      }
      target = Value(el.get_string().value_unsafe());
      return;
    case dom::element_type::INT64:
      detail::ValueInPlace::assign(target, el.get_int64().value_unsafe());
      return;
    case dom::element_type::DOUBLE:
      detail::ValueInPlace::assign(target, el.get_double().value_unsafe());
      return;
    case dom::element_type::BOOL:
      detail::ValueInPlace::assign(target, el.get_bool().value_unsafe());
      return;
    default:
      target = build(el);
      return;
  }
}

// One parser per thread: Deserializers are shared between workers, and the parser's buffers
// are reused across messages. build() never re-enters parse(), so the parser's strings stay
// valid while the Value is built. `spare` is what give_back_parsed() kept for the thread's next
// parse (null when nothing is kept). One thread_local for both: in a shared library each costs
// a __tls_get_addr call per access.
struct ThreadParse {
  dom::parser parser;
  Value spare;
};
thread_local ThreadParse t_parse;

[[noreturn]] void throw_parse_error(simdjson::error_code code) {
  std::string msg = "invalid JSON: ";
  msg += simdjson::error_message(code);
  if (code == simdjson::NUMBER_ERROR) {
    msg += " (numbers must be finite doubles, integers must fit in int64)";
  }
  throw SerializationError(std::move(msg));
}

// Parses `text` into `out` (a value given back, or null), reusing its storage (build_into).
Value parse_with(dom::parser& parser, std::string_view text, Value out = Value()) {
  // realloc_if_needed=true copies into the parser's own padded buffer, which it keeps between
  // calls: no allocation per message once warm.
  auto result = parser.parse(text.data(), text.size(), true);
  if (result.error()) throw_parse_error(result.error());
  build_into(out, result.value_unsafe());
  return out;
}

// ---- write -----------------------------------------------------------------------------

// Writes straight into the caller's string through a raw pointer: one capacity check per
// token instead of one std::string::append call per piece. The string is sized ahead with
// resize() and trimmed to what was written by finish().
class Out {
 public:
  explicit Out(std::string& s) : s_(s), start_(s.size()) {
    s_.resize(start_ + kInitial);
    p_ = s_.data() + start_;
    end_ = s_.data() + s_.size();
  }
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;

  // Keeps what was written.
  void finish() { s_.resize(static_cast<std::size_t>(p_ - s_.data())); }
  // Drops everything written (on error): the caller's string is as before.
  void abandon() { s_.resize(start_); }

  // Makes room for `n` more bytes; put() calls must stay within it.
  // Inlined: called several times per field, and GCC kept it out of line in write_value.
  [[gnu::always_inline]] void reserve(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) [[unlikely]]
      grow(n);
  }
  void put(char c) { *p_++ = c; }
  void put(const char* data, std::size_t n) {
    detail::copy_bytes(p_, data, n);
    p_ += n;
  }
  char*& cursor() { return p_; }
  char* end() const { return end_; }

 private:
  static constexpr std::size_t kInitial = 256;

  [[gnu::noinline]] void grow(std::size_t n) {
    const auto used = static_cast<std::size_t>(p_ - s_.data());
    s_.resize(std::max(s_.size() * 2, used + n));
    p_ = s_.data() + used;
    end_ = s_.data() + s_.size();
  }

  std::string& s_;
  std::size_t start_;
  char* p_;
  char* end_;
};

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

// True when one of the bytes of `w` (4 or 8, as read from memory) is a control character, '"'
// or '\\' (SWAR: exact for "any byte", which is all we ask).
template <typename Word>
inline bool needs_escape(Word w) {
  constexpr Word kOnes = static_cast<Word>(0x0101010101010101ULL);
  constexpr Word kHighs = static_cast<Word>(0x8080808080808080ULL);
  const auto has_zero = [](Word v) { return (v - kOnes) & ~v & kHighs; };
  const Word below_space = (w - kOnes * 0x20) & ~w & kHighs;
  return (below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'))) != 0;
}

#if defined(__SSE2__)
// Bit i set when byte i of the 16 at `p` is a control character, '"' or '\\' (SSE2 is part of
// every x86-64: 16 bytes in a few instructions, against 8 for the SWAR test).
inline unsigned escape_mask16(const char* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
  const __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
  const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);  // v <= 0x1F
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)));
}
#endif

inline const char* first_escape_bytewise(const char* p, const char* const end) {
  while (p != end && kEscape[static_cast<unsigned char>(*p)] == 0) ++p;
  return p;
}

// The first byte of [p, end) that JSON needs escaped, or end. Whole words at a time, the last
// one overlapping the one before: most strings (keys, short values) have nothing to escape and
// are ruled out in one or two tests.
inline const char* find_escape(const char* p, const char* const end) {
#if defined(__SSE2__)
  if (end - p >= 16) {
    for (; end - p >= 16; p += 16) {
      if (const unsigned mask = escape_mask16(p)) return p + std::countr_zero(mask);
    }
    if (p == end) return end;
    // The last 16 bytes again, with those already checked shifted out.
    const unsigned rest = escape_mask16(end - 16) >> (16 - (end - p));
    return rest != 0 ? p + std::countr_zero(rest) : end;
  }
#endif
  if (end - p >= 8) {
    for (; end - p >= 8; p += 8) {
      if (needs_escape(detail::load_word<std::uint64_t>(p))) return first_escape_bytewise(p, p + 8);
    }
    if (p == end || !needs_escape(detail::load_word<std::uint64_t>(end - 8))) return end;
    return first_escape_bytewise(p, end);
  }
  if (end - p >= 4 && !needs_escape(detail::load_word<std::uint32_t>(p)) &&
      !needs_escape(detail::load_word<std::uint32_t>(end - 4))) {
    return end;
  }
  return first_escape_bytewise(p, end);
}

void write_string(std::string_view s, Out& out) {
  const char* p = s.data();
  const char* const end = p + s.size();
  // Room for the common case: nothing to escape. Each escape reserves its own extra bytes.
  out.reserve(s.size() + 2);
  out.put('"');
  const char* run = p;
  while ((p = find_escape(p, end)) != end) {
    out.put(run, static_cast<std::size_t>(p - run));
    out.reserve(static_cast<std::size_t>(end - p) + 6 + 1);
    const char e = kEscape[static_cast<unsigned char>(*p)];
    if (e == 'u') {
      static constexpr char kHex[] = "0123456789abcdef";
      const auto c = static_cast<unsigned char>(*p);
      const char buf[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.put(buf, 6);
    } else {
      out.put('\\');
      out.put(e);
    }
    run = ++p;
  }
  out.put(run, static_cast<std::size_t>(end - run));
  out.put('"');
}

#if defined(__SSE2__)
// A std::string's buffer holds capacity() + 1 bytes, and libstdc++'s capacity() is never below
// 15 (its local buffer), so a string shorter than 16 bytes can be tested and copied with one
// 16-byte load and store: most keys and short values of a record. The bytes past size() are
// masked out of the test and land past the closing quote, where the next token overwrites
// them or finish() cuts them off.
inline bool short_and_plain(const std::string& s) {
  const std::size_t n = s.size();
  return n < 16 && s.capacity() >= 15 && (escape_mask16(s.data()) & ((1U << n) - 1)) == 0;
}

void write_string(const std::string& s, Out& out) {
  const std::size_t n = s.size();
  if (short_and_plain(s)) {
    out.reserve(2 + 16);
    char* p = out.cursor();
    *p = '"';
    std::memcpy(p + 1, s.data(), 16);
    p[1 + n] = '"';
    out.cursor() = p + n + 2;
    return;
  }
  write_string(std::string_view(s), out);
}
#endif

// An object's `,"key":` (no comma before the first key). A short key that needs no escape is
// written with one reservation and one 16-byte copy (see write_string above); the separators
// would otherwise cost a reservation each.
void write_key(const std::string& key, Out& out, bool first) {
#if defined(__SSE2__)
  if (short_and_plain(key)) {
    const std::size_t n = key.size();
    out.reserve(1 + 1 + 16 + 2);
    char* p = out.cursor();
    *p = ',';
    p += first ? 0 : 1;  // the comma is overwritten by the quote before the first key
    *p = '"';
    std::memcpy(p + 1, key.data(), 16);
    p[1 + n] = '"';
    p[2 + n] = ':';
    out.cursor() = p + n + 3;
    return;
  }
#endif
  if (!first) {
    out.reserve(1);
    out.put(',');
  }
  write_string(std::string_view(key), out);  // the short test above already failed
  out.reserve(1);
  out.put(':');
}

void write_int(std::int64_t i, Out& out) {
  out.reserve(20);
  out.cursor() = std::to_chars(out.cursor(), out.end(), i).ptr;
}

// Lays out the decimal digits[0..n) x 10^(exp - n + 1) (no trailing zeros in digits) like
// Python's repr(float), which is what Quix Streams writes: fixed notation for
// 1e-4 <= |d| < 1e16 with ".0" kept when integral, else d.ddde+XX with at least two exponent
// digits (1e+16, 1e-05, 1.5e+300).
void layout_decimal(const char* digits, int n, int exp, char*& o) {
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
    return;
  }
  *o++ = digits[0];
  if (n > 1) {
    *o++ = '.';
    std::memcpy(o, digits + 1, static_cast<std::size_t>(n - 1));
    o += n - 1;
  }
  *o++ = 'e';
  *o++ = exp < 0 ? '-' : '+';
  const int mag = exp < 0 ? -exp : exp;
  if (mag >= 100) *o++ = static_cast<char>('0' + mag / 100);
  *o++ = static_cast<char>('0' + mag / 10 % 10);
  *o++ = static_cast<char>('0' + mag % 10);
}

// 10^-4 .. 10^18, all but the first four exact in binary64.
constexpr double kPow10[] = {1e-4, 1e-3, 1e-2, 1e-1, 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6, 1e7,
                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
constexpr double pow10(int e) {
  return kPow10[e + 4];
}

// Fast exact path for 1e-4 <= a < 1e15 whose shortest form has at most 15 significant digits
// (most real data: 21.75, 0.43, 13.405). With e = floor(log10 a) and p = 14 - e, a decimal D of
// <= 15 digits that rounds to `a` satisfies |D*10^p - a*10^p| < 0.12 and the product's rounding
// error is < 0.12 too, so D*10^p = round(a*10^p): the candidate is unique and therefore the
// shortest. It is accepted only if it really round-trips: m / 10^p is correctly rounded since
// m < 2^53 and 10^p is exact. Returns false when no such D exists (16-17 digits needed).
bool short_digits(double a, char* digits, int& n, int& exp) {
  if (!(a >= 1e-4 && a < 1e15)) return false;
  // floor(log10 a) from the binary exponent (floor(b * log10 2) or one more).
  const int b = static_cast<int>((std::bit_cast<std::uint64_t>(a) >> 52) & 0x7ff) - 1023;
  int e = (b * 78913) >> 18;
  if (a >= pow10(e + 1)) ++e;
  const int p = 14 - e;
  // a > 0 here, so adding 0.5 and truncating rounds to nearest.
  const auto m =
      static_cast<std::int64_t>(a * pow10(p) + 0.5);  // NOLINT(bugprone-incorrect-roundings)
  if (static_cast<double>(m) / pow10(p) != a) return false;
  // Strip trailing zeros arithmetically (m has at most 15 of them) so only the significant
  // digits are converted.
  std::uint64_t sig = static_cast<std::uint64_t>(m);
  int zeros = 0;
  if (sig % 100000000 == 0) sig /= 100000000, zeros += 8;
  if (sig % 10000 == 0) sig /= 10000, zeros += 4;
  if (sig % 100 == 0) sig /= 100, zeros += 2;
  if (sig % 10 == 0) sig /= 10, zeros += 1;
  n = static_cast<int>(std::to_chars(digits, digits + 20, sig).ptr - digits);
  exp = n + zeros - 1 - p;
  return true;
}

// Shortest round-trip digits, laid out by layout_decimal. Integral values and short decimals
// take exact fast paths; the rest uses std::to_chars (shortest round-trip by the standard).
void write_double(double d, Out& out) {
  if (!std::isfinite(d)) throw SerializationError("cannot serialize NaN/Infinity to JSON");
  out.reserve(32);  // longest: "-2.2250738585072014e-308" (24) or "-0.00012345678901234567"
  char*& o = out.cursor();
  // Integral values below 1e15 are exactly their int64 digits plus ".0".
  if (std::fabs(d) < 1e15 && std::trunc(d) == d && !(d == 0 && std::signbit(d))) {
    o = std::to_chars(o, out.end(), static_cast<std::int64_t>(d)).ptr;
    *o++ = '.';
    *o++ = '0';
    return;
  }
  if (std::signbit(d)) *o++ = '-';
  char digits[24];
  int n = 0;
  int exp = 0;
  if (!short_digits(std::fabs(d), digits, n, exp)) {
    char sci[40];
    const char* const sci_end =
        std::to_chars(sci, sci + sizeof sci, std::fabs(d), std::chars_format::scientific).ptr;
    // sci = D[.DDD]e(+|-)XX[X]
    const char* p = sci;
    for (; *p != 'e'; ++p) {
      if (*p != '.') digits[n++] = *p;
    }
    ++p;  // 'e'
    const bool exp_negative = *p == '-';
    for (++p; p != sci_end; ++p) exp = exp * 10 + (*p - '0');
    if (exp_negative) exp = -exp;
  }
  layout_decimal(digits, n, exp, o);
}

void write_literal(std::string_view lit, Out& out) {
  out.reserve(lit.size());
  out.put(lit.data(), lit.size());
}

void write_value(const Value& v, Out& out) {
  switch (v.type()) {
    case Value::Type::null:
      write_literal("null", out);
      return;
    case Value::Type::boolean:
      write_literal(v.as_bool() ? "true" : "false", out);
      return;
    case Value::Type::integer:
      write_int(v.as_int(), out);
      return;
    case Value::Type::floating:
      write_double(v.as_double(), out);
      return;
    case Value::Type::string:
      write_string(v.as_string(), out);
      return;
    case Value::Type::array: {
      const Array& a = v.as_array();
      out.reserve(2);
      out.put('[');
      bool first = true;
      for (const Value& item : a) {
        if (!first) {
          out.reserve(1);
          out.put(',');
        }
        first = false;
        write_value(item, out);
      }
      out.reserve(1);
      out.put(']');
      return;
    }
    case Value::Type::object: {
      const Object& o = v.as_object();
      out.reserve(2);
      out.put('{');
      bool first = true;
      for (const auto& [key, item] : o) {
        write_key(key, out, first);
        first = false;
        write_value(item, out);
      }
      out.reserve(1);
      out.put('}');
      return;
    }
  }
}

void newline(Out& out, int indent, int depth) {
  const std::size_t n = static_cast<std::size_t>(indent) * static_cast<std::size_t>(depth);
  out.reserve(n + 1);
  out.put('\n');
  std::memset(out.cursor(), ' ', n);
  out.cursor() += n;
}

// Python json.dumps(indent=n) layout: one element per line, "key": value, empty containers
// stay "[]" / "{}".
void write_pretty_value(const Value& v, Out& out, int indent, int depth) {
  switch (v.type()) {
    case Value::Type::array: {
      const Array& a = v.as_array();
      if (a.empty()) {
        write_literal("[]", out);
        return;
      }
      write_literal("[", out);
      bool first = true;
      for (const Value& item : a) {
        if (!first) write_literal(",", out);
        first = false;
        newline(out, indent, depth + 1);
        write_pretty_value(item, out, indent, depth + 1);
      }
      newline(out, indent, depth);
      write_literal("]", out);
      return;
    }
    case Value::Type::object: {
      const Object& o = v.as_object();
      if (o.empty()) {
        write_literal("{}", out);
        return;
      }
      write_literal("{", out);
      bool first = true;
      for (const auto& [key, item] : o) {
        if (!first) write_literal(",", out);
        first = false;
        newline(out, indent, depth + 1);
        write_string(key, out);
        write_literal(": ", out);
        write_pretty_value(item, out, indent, depth + 1);
      }
      newline(out, indent, depth);
      write_literal("}", out);
      return;
    }
    default:
      write_value(v, out);
      return;
  }
}

// Whether every byte of [p, end) is ASCII, a word at a time (the last word overlapping the one
// before). For the few bytes of a key this is a handful of instructions; simdjson's UTF-8 check
// costs about a hundred for them through its runtime dispatch.
inline bool all_ascii(const char* p, const char* const end) {
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  const auto n = static_cast<std::size_t>(end - p);
  if (n >= 8) {
    std::uint64_t bits = detail::load_word<std::uint64_t>(end - 8);
    for (; end - p > 8; p += 8) bits |= detail::load_word<std::uint64_t>(p);
    return (bits & kHighs) == 0;
  }
  if (n >= 4) {
    return ((detail::load_word<std::uint32_t>(p) | detail::load_word<std::uint32_t>(end - 4)) &
            static_cast<std::uint32_t>(kHighs)) == 0;
  }
  unsigned char bits = 0;
  for (; p != end; ++p) bits |= static_cast<unsigned char>(*p);
  return bits < 0x80;
}

}  // namespace

// The content of `text` when it is one JSON string token with nothing escaped in it and valid
// UTF-8 inside: such a token means its bytes, so no parse is needed. Keys are mostly like that
// (every key group_by writes to its repartition topic is a JSON string), and simdjson's two
// stages and the padded copy cost about as much for a ten-byte key as for a small record.
// Anything else goes to the parser, which also reports what is wrong with it.
std::optional<std::string_view> detail::plain_json_string(std::string_view text) {
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::nullopt;
  const char* const begin = text.data() + 1;
  const char* const end = text.data() + text.size() - 1;
  if (find_escape(begin, end) != end) return std::nullopt;
  if (!all_ascii(begin, end) &&
      !simdjson::validate_utf8(begin, static_cast<std::size_t>(end - begin))) {
    return std::nullopt;
  }
  return std::string_view(begin, static_cast<std::size_t>(end - begin));
}

namespace json {

Value parse(std::string_view text) {
  if (const auto content = detail::plain_json_string(text)) return Value(*content);
  if (text.size() > kThreadParserMaxBytes) {
    dom::parser parser;
    return parse_with(parser, text);
  }
  ThreadParse& t = t_parse;
  return parse_with(t.parser, text, std::exchange(t.spare, Value()));
}

void validate(std::string_view text) {
  if (detail::plain_json_string(text)) return;
  if (text.size() > kThreadParserMaxBytes) {
    dom::parser big;
    if (auto err = big.parse(text.data(), text.size(), true).error()) throw_parse_error(err);
    return;
  }
  dom::parser& parser = t_parse.parser;
  if (auto err = parser.parse(text.data(), text.size(), true).error()) throw_parse_error(err);
}

void write(const Value& value, std::string& out) {
  Out o(out);
  try {
    write_value(value, o);
  } catch (...) {
    o.abandon();  // no half-written JSON left behind
    throw;
  }
  o.finish();
}

std::string write_pretty(const Value& value, int indent) {
  if (indent < 0) indent = 0;
  std::string out;
  Out o(out);
  write_pretty_value(value, o, indent, 0);
  o.finish();
  return out;
}

}  // namespace json

void detail::give_back_parsed(Value&& v) noexcept {
  // One value per thread, and only an object small enough to be rebuilt in place.
  if (!v.is_object() || v.size() > kLinearDuplicateScanLimit) return;
  Value& spare = t_parse.spare;
  if (spare.is_null()) spare = std::move(v);
}

Value detail::take_parsed_spare() noexcept {
  return std::exchange(t_parse.spare, Value());
}

// Kept apart from parse()'s helpers (build() only): calling build_into() and assign_text() from
// here too made the compiler stop inlining them into parse(), 1.3 % more instructions on
// every whole record parsed.
Value detail::parse_json_column(std::string_view text, std::string_view column) {
  std::optional<dom::parser> big;  // a one-off parser, as parse() uses for large documents
  dom::parser& parser = text.size() > kThreadParserMaxBytes ? big.emplace() : t_parse.parser;
  auto result = parser.parse(text.data(), text.size(), true);
  if (result.error()) throw_parse_error(result.error());
  const dom::element root = result.value_unsafe();
  if (root.type() != dom::element_type::OBJECT) return build(root);
  std::optional<dom::element> found;
  // Named: value_unsafe() returns a reference into the temporary result.
  const dom::object fields = root.get_object().value_unsafe();
  for (dom::key_value_pair field : fields) {
    // Duplicate keys: the last wins (TOP-05).
    if (field.key.size() == column.size() &&
        detail::same_bytes(field.key.data(), column.data(), column.size())) {
      found = field.value;
    }
  }
  // The object the run loop gave back, emptied, so a stream of records allocates no object.
  Value out = std::exchange(t_parse.spare, Value());
  if (!out.is_object()) out = Value(Object());
  Object& o = out.as_object();
  o.truncate(0);
  if (found) o.append_unchecked(column, build(*found));
  return out;
}

std::string Value::to_json() const {
  std::string out;
  json::write(*this, out);
  return out;
}

Value Value::from_json(std::string_view text) {
  return json::parse(text);
}

}  // namespace streamframe
