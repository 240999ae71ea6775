// JSON parse and write (SEMANTICS TOP-05).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "serde/parse_reuse.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"
#include "streamframe/value.hpp"

namespace streamframe {
namespace {

std::string write(const Value& v) {
  std::string out;
  json::write(v, out);
  return out;
}

// parse(text) then write() must give `text` back byte for byte.
void expect_round_trip(const std::string& text) {
  EXPECT_EQ(write(json::parse(text)), text);
}

std::string error_of(std::string_view text) {
  try {
    (void)json::parse(text);
  } catch (const SerializationError& e) {
    return e.what();
  }
  return "<no SerializationError>";
}

TEST(JsonWrite, Scalars) {
  EXPECT_EQ(write(Value()), "null");
  EXPECT_EQ(write(Value(true)), "true");
  EXPECT_EQ(write(Value(false)), "false");
  EXPECT_EQ(write(Value(0)), "0");
  EXPECT_EQ(write(Value(-42)), "-42");
  EXPECT_EQ(write(Value(std::numeric_limits<std::int64_t>::max())), "9223372036854775807");
  EXPECT_EQ(write(Value(std::numeric_limits<std::int64_t>::min())), "-9223372036854775808");
  EXPECT_EQ(write(Value("hi")), "\"hi\"");
  EXPECT_EQ(write(Value::array()), "[]");
  EXPECT_EQ(write(Value::object()), "{}");
}

TEST(JsonWrite, DoublesShortestWithDotZero) {
  EXPECT_EQ(write(Value(1.0)), "1.0");
  EXPECT_EQ(write(Value(0.0)), "0.0");
  EXPECT_EQ(write(Value(-0.0)), "-0.0");
  EXPECT_EQ(write(Value(-3.0)), "-3.0");
  EXPECT_EQ(write(Value(1.5)), "1.5");
  EXPECT_EQ(write(Value(0.1)), "0.1");
  EXPECT_EQ(write(Value(0.1 + 0.2)), "0.30000000000000004");
  EXPECT_EQ(write(Value(123456.0)), "123456.0");
  EXPECT_EQ(write(Value(1e15)), "1000000000000000.0");
  EXPECT_EQ(write(Value(1e16)), "1e+16");
  EXPECT_EQ(write(Value(1.5e16)), "1.5e+16");
  EXPECT_EQ(write(Value(1e300)), "1e+300");
  EXPECT_EQ(write(Value(-1.25e-300)), "-1.25e-300");
  EXPECT_EQ(write(Value(0.0001)), "0.0001");
  EXPECT_EQ(write(Value(0.00001)), "1e-05");
  EXPECT_EQ(write(Value(123.456e-10)), "1.23456e-08");
  EXPECT_EQ(write(Value(std::numeric_limits<double>::max())), "1.7976931348623157e+308");
  EXPECT_EQ(write(Value(std::numeric_limits<double>::denorm_min())), "5e-324");
  EXPECT_EQ(write(Value(std::numeric_limits<double>::min())), "2.2250738585072014e-308");
}

TEST(JsonWrite, DoublesRoundTripExactly) {
  const double samples[] = {1.0,
                            -0.5,
                            3.141592653589793,
                            1e-7,
                            6.02214076e23,
                            1e300,
                            -1e-300,
                            9007199254740993.0,
                            123456789.123456789,
                            std::numeric_limits<double>::max(),
                            std::numeric_limits<double>::lowest(),
                            std::numeric_limits<double>::denorm_min(),
                            std::numeric_limits<double>::epsilon()};
  for (double d : samples) {
    const Value back = json::parse(write(Value(d)));
    ASSERT_TRUE(back.is_double()) << d;  // stays a double, never turns into an int
    EXPECT_EQ(back.as_double(), d);
  }
}

// Significant digits (no leading/trailing zeros) and decimal exponent of a number's text.
std::pair<std::string, int> significant(std::string_view s) {
  if (s.front() == '-') s.remove_prefix(1);
  int e10 = 0;
  if (const auto epos = s.find_first_of("eE"); epos != std::string_view::npos) {
    e10 = std::stoi(std::string(s.substr(epos + 1)));
    s = s.substr(0, epos);
  }
  const auto dot = s.find('.');
  const int int_len = static_cast<int>(dot == std::string_view::npos ? s.size() : dot);
  std::string digits;
  for (char c : s) {
    if (c != '.') digits += c;
  }
  const auto lead = digits.find_first_not_of('0');
  if (lead == std::string::npos) return {"0", 0};
  digits = digits.substr(lead);
  digits.erase(digits.find_last_not_of('0') + 1);
  return {digits, int_len - 1 - static_cast<int>(lead) + e10};
}

// Every double is written with exactly std::to_chars' shortest round-trip digits, reads back
// bit for bit, and uses fixed notation exactly for 1e-4 <= |d| < 1e16.
void check_double_text(double d) {
  const std::string text = write(Value(d));
  char ref[64];
  const char* ref_end = std::to_chars(ref, ref + sizeof ref, d, std::chars_format::scientific).ptr;
  ASSERT_EQ(significant(text), significant(std::string_view(ref, ref_end - ref)))
      << text << " vs " << std::string_view(ref, ref_end - ref);
  const double back = std::strtod(text.c_str(), nullptr);
  ASSERT_EQ(std::bit_cast<std::uint64_t>(back), std::bit_cast<std::uint64_t>(d)) << text;
  const bool fixed = std::fabs(d) >= 1e-4 && std::fabs(d) < 1e16;
  ASSERT_EQ(text.find('e') == std::string::npos, fixed || d == 0) << text;
  ASSERT_NE(text.find_first_of(".e"), std::string::npos) << text;  // never looks like an int
}

TEST(JsonWrite, DoublesMatchShortestRoundTripEverywhere) {
  std::mt19937_64 rng(12345);
  // Arbitrary bit patterns (all magnitudes, subnormals included).
  for (int i = 0; i < 100000; ++i) {
    const double d = std::bit_cast<double>(rng());
    if (std::isfinite(d)) check_double_text(d);
  }
  // Short decimals, the data most records carry: k / 10^j.
  std::uniform_int_distribution<int> digits(1, 17);
  std::uniform_int_distribution<int> scale(0, 20);
  for (int i = 0; i < 100000; ++i) {
    std::uint64_t k = rng() % 100000000000000000ULL;
    for (int n = digits(rng); n < 17; ++n) k /= 10;
    const double d = static_cast<double>(k) / std::pow(10.0, scale(rng));
    check_double_text(i % 2 ? -d : d);
  }
  // Log-uniform magnitudes around the fast path's bounds.
  std::uniform_real_distribution<double> log_mag(-6.0, 18.0);
  for (int i = 0; i < 100000; ++i) check_double_text(std::pow(10.0, log_mag(rng)));
  for (double d : {1e-4, 9.999999999999999e-5, 1e15, 999999999999999.9, 1e16, 9999999999999998.0,
                   0.30000000000000004, 2.675, 5e-324, 1.7976931348623157e308}) {
    check_double_text(d);
  }
}

TEST(JsonWrite, NanAndInfinityThrow) {
  const double bad[] = {std::numeric_limits<double>::quiet_NaN(),
                        std::numeric_limits<double>::infinity(),
                        -std::numeric_limits<double>::infinity()};
  for (double d : bad) {
    std::string out;
    try {
      json::write(Value::object({{"x", Value::array({d})}}), out);
      ADD_FAILURE() << "no error for " << d;
    } catch (const SerializationError& e) {
      EXPECT_STREQ(e.what(), "cannot serialize NaN/Infinity to JSON");
    }
    EXPECT_THROW((void)Value(d).to_json(), SerializationError);
    EXPECT_THROW((void)json::write_pretty(Value(d)), SerializationError);
  }
}

TEST(JsonWrite, Escapes) {
  EXPECT_EQ(write(Value("a\"b\\c")), R"("a\"b\\c")");
  EXPECT_EQ(write(Value("\n\t\r\b\f")), R"("\n\t\r\b\f")");
  EXPECT_EQ(write(Value(std::string("\x00\x01\x1f", 3))), R"("\u0000\u0001\u001f")");
  // Not escaped: '/', DEL, and any non-ASCII UTF-8.
  EXPECT_EQ(write(Value("a/b\x7f")), "\"a/b\x7f\"");
  EXPECT_EQ(write(Value("héllo 日本 😀")), "\"héllo 日本 😀\"");
  // Keys are escaped the same way.
  EXPECT_EQ(write(Value::object({{"k\"\n", 1}})), R"({"k\"\n":1})");
}

// Every byte value at every position of strings long enough for each of the writer's scans
// (16 bytes at a time, 8 at a time, one at a time, and the tails between them), against a
// byte-by-byte escaper.
TEST(JsonWrite, EscapesEveryByteAtEveryPosition) {
  const auto reference = [](const std::string& s) {
    static const std::map<unsigned char, std::string> kShortForm = {
        {'\n', "\\n"}, {'\t', "\\t"}, {'\r', "\\r"}, {'\b', "\\b"}, {'\f', "\\f"}};
    std::string out = "\"";
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += ch;
      } else if (const auto it = kShortForm.find(c); it != kShortForm.end()) {
        out += it->second;
      } else if (c < 0x20) {
        out += fmt::format("\\u{:04x}", c);
      } else {
        out += ch;
      }
    }
    return out + "\"";
  };
  int failures = 0;
  for (std::size_t length : {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 40}) {
    for (std::size_t at = 0; at < length; ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string s(length, 'x');
        s[at] = static_cast<char>(b);
        if (at + 3 < length) s[at + 3] = '"';  // a second escape after the first
        const std::string got = write(Value(s));
        if (got != reference(s) && ++failures <= 5) {
          ADD_FAILURE() << "length " << length << ", byte " << b << " at " << at << ": " << got;
        }
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

// Short strings are tested and copied 16 bytes at a time from their buffer: what lies past
// their end (left over from a longer content, in the local buffer or on the heap) must
// change nothing.
TEST(JsonWrite, BytesPastAShortStringsEndAreNotItsOwn) {
  std::string local = "ab\"\n\\cdefghijkl";  // 14 bytes: in the local buffer
  local.resize(2);
  std::string heap(200, '"');  // on the heap, then short with quotes behind it
  heap.assign("xyz");
  ASSERT_GE(heap.capacity(), 200u);
  Value row = Value::object({{local, Value(heap)}, {heap, Value(local)}});
  EXPECT_EQ(write(row), R"({"ab":"xyz","xyz":"ab"})");
  // Many short strings in a row, so the output buffer grows while they are written.
  Array many;
  for (int i = 0; i < 200; ++i)
    many.emplace_back(std::string(static_cast<std::size_t>(i % 16), 'q'));
  std::string expected = "[";
  for (int i = 0; i < 200; ++i) {
    expected += (i ? ",\"" : "\"") + std::string(static_cast<std::size_t>(i % 16), 'q') + "\"";
  }
  EXPECT_EQ(write(Value(std::move(many))), expected + "]");
}

// Keys take their own path (the separators and the key in one reservation): every length
// around 16, keys that need an escape at any position, the first key and the others, and
// leftovers with quotes behind short keys, in an object large enough to grow the output.
TEST(JsonWrite, ObjectKeysOfEveryShortLengthAndEscape) {
  const auto quoted = [](const std::string& k) {
    std::string out = "\"";
    for (const char c : k) {
      if (c == '"') {
        out += "\\\"";
      } else if (c == '\\') {
        out += "\\\\";
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    return out + "\"";
  };
  Object o;
  std::string expected = "{";
  int n = 0;
  for (std::size_t len = 0; len <= 20; ++len) {
    for (std::size_t at = 0; at <= len; ++at) {  // at == len: nothing to escape
      std::string key(20, '"');                  // quotes left behind the key's end
      key.resize(len);
      for (std::size_t i = 0; i < len; ++i) key[i] = static_cast<char>('a' + (i + at) % 26);
      if (at < len) key[at] = "\"\\\n"[at % 3];
      key += "#" + std::to_string(n++);  // every key distinct
      expected += (o.size() == 0 ? "" : ",") + quoted(key) + ":" + std::to_string(n);
      o.append_unchecked(key, Value(n));
    }
  }
  EXPECT_EQ(write(Value(std::move(o))), expected + "}");
}

TEST(JsonWrite, ObjectsKeepInsertionOrderCompactly) {
  Value v = Value::object({{"z", 1}, {"a", Value::array({1, 2.5, "x", nullptr, true})}});
  v["m"]["n"] = Value::object();
  EXPECT_EQ(write(v), R"({"z":1,"a":[1,2.5,"x",null,true],"m":{"n":{}}})");
  EXPECT_EQ(v.to_json(), write(v));
}

TEST(JsonWrite, AppendsToOut) {
  std::string out = "prefix:";
  json::write(Value(1), out);
  EXPECT_EQ(out, "prefix:1");
}

TEST(JsonWrite, Pretty) {
  const Value v = Value::object(
      {{"a", 1}, {"b", Value::array({1.0, "x"})}, {"c", Value::object()}, {"d", Value::array()}});
  EXPECT_EQ(json::write_pretty(v),
            "{\n"
            "  \"a\": 1,\n"
            "  \"b\": [\n"
            "    1.0,\n"
            "    \"x\"\n"
            "  ],\n"
            "  \"c\": {},\n"
            "  \"d\": []\n"
            "}");
  EXPECT_EQ(json::write_pretty(Value::object({{"a", Value::object({{"b", 1}})}}), 4),
            "{\n    \"a\": {\n        \"b\": 1\n    }\n}");
  EXPECT_EQ(json::write_pretty(Value("s")), "\"s\"");
  // Pretty output is valid JSON with the same content.
  EXPECT_EQ(json::parse(json::write_pretty(v)), v);
}

TEST(JsonParse, Scalars) {
  EXPECT_TRUE(json::parse("null").is_null());
  EXPECT_EQ(json::parse("true"), Value(true));
  EXPECT_TRUE(json::parse("false").is_bool());
  EXPECT_TRUE(json::parse("12").is_int());
  EXPECT_EQ(json::parse("12").as_int(), 12);
  EXPECT_TRUE(json::parse("-0").is_int());
  EXPECT_TRUE(json::parse("12.0").is_double());
  EXPECT_TRUE(json::parse("1e2").is_double());
  EXPECT_EQ(json::parse("1e2").as_double(), 100.0);
  EXPECT_EQ(json::parse("-2.5E-3").as_double(), -2.5e-3);
  EXPECT_EQ(json::parse(" \"s\" ").as_string(), "s");
  EXPECT_EQ(json::parse("  [ 1 , 2 ]\n").size(), 2U);
}

TEST(JsonParse, Int64Limits) {
  const Value max = json::parse("9223372036854775807");
  ASSERT_TRUE(max.is_int());
  EXPECT_EQ(max.as_int(), std::numeric_limits<std::int64_t>::max());
  const Value min = json::parse("-9223372036854775808");
  ASSERT_TRUE(min.is_int());
  EXPECT_EQ(min.as_int(), std::numeric_limits<std::int64_t>::min());
  expect_round_trip(R"([9223372036854775807,-9223372036854775808,0,-1])");
}

TEST(JsonParse, IntegersBeyondInt64AreErrors) {
  EXPECT_EQ(error_of("9223372036854775808"),
            "invalid JSON: integer 9223372036854775808 does not fit in int64");
  EXPECT_EQ(error_of(R"({"a":[18446744073709551615]})"),
            "invalid JSON: integer 18446744073709551615 does not fit in int64");
  EXPECT_THROW((void)json::parse("18446744073709551616"), SerializationError);
  EXPECT_THROW((void)json::parse("-9223372036854775809"), SerializationError);
  EXPECT_THROW((void)json::parse("123456789012345678901234567890"), SerializationError);
  // Written as a double it is fine.
  EXPECT_TRUE(json::parse("9223372036854775808.0").is_double());
}

TEST(JsonParse, MalformedAndEmptyInput) {
  const char* bad[] = {"",          "   ", "{",        "[1,2",    "{\"a\":1,}", "nul", "tru",
                       "{\"a\" 1}", "'s'", "[1]]",     "{} {}",   "01",         "1.",  "\"abc",
                       "{a:1}",     "NaN", "Infinity", "\"\\x\"", "1e400"};
  for (const char* text : bad) {
    const std::string err = error_of(text);
    EXPECT_EQ(err.rfind("invalid JSON: ", 0), 0U) << "input: '" << text << "' -> " << err;
  }
  EXPECT_EQ(error_of(""), "invalid JSON: Empty: no JSON found");
  // Invalid UTF-8 inside a string is rejected.
  EXPECT_THROW((void)json::parse("\"\xff\""), SerializationError);
  EXPECT_THROW((void)Value::from_json("[1,"), SerializationError);
}

TEST(JsonParse, DuplicateKeysLastWinsAtFirstPosition) {
  const Value v = json::parse(R"({"a":1,"b":2,"a":{"x":3}})");
  EXPECT_EQ(v.size(), 2U);
  EXPECT_EQ(write(v), R"({"a":{"x":3},"b":2})");

  // The same in a large object (hash-indexed path).
  std::string text = "{";
  for (int i = 0; i < 100; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += R"("k5":"last","k99":null})";
  const Value big = json::parse(text);
  EXPECT_EQ(big.size(), 100U);
  EXPECT_EQ(big["k5"], Value("last"));
  EXPECT_TRUE(big["k99"].is_null());
  EXPECT_EQ(big.as_object().begin()->first, "k0");
  EXPECT_EQ((big.as_object().begin() + 5)->first, "k5");
}

TEST(JsonParse, SimilarKeysAreNotDuplicates) {
  // Same length, first and last byte: the duplicate filter must fall back to comparing.
  const Value v = json::parse(R"({"axb":1,"ayb":2,"a":3,"":4,"":5})");
  EXPECT_EQ(write(v), R"({"axb":1,"ayb":2,"a":3,"":5})");
}

TEST(JsonParse, UnicodeEscapesDecode) {
  EXPECT_EQ(json::parse(R"("\u00e9\u65e5\ud83d\ude00")").as_string(), "é日😀");
  EXPECT_EQ(json::parse(R"("\n\t\"\\\/\u0000")").as_string(), std::string("\n\t\"\\/\0", 6));
  EXPECT_EQ(json::parse("\"héllo 日本 😀\"").as_string(), "héllo 日本 😀");
  EXPECT_THROW((void)json::parse(R"("\ud800")"), SerializationError);  // lone surrogate
}

// A JSON text that is one string token is read without the parser when nothing in it is
// escaped (json.cpp, plain_string). Wrapped in an array the same token always goes through
// simdjson: both must agree, on the value or on refusing it, for every byte at every position.
TEST(JsonParse, StringTokensReadWithoutTheParserAgreeWithIt) {
  const auto outcome = [](const std::string& text, bool wrapped) -> std::string {
    try {
      if (wrapped) {
        const Value v = json::parse("[" + text + "]");
        if (v.size() != 1) return "error";  // "" wraps into [], a list of no string
        return "ok:" + v[0].as_string();
      }
      return "ok:" + json::parse(text).as_string();
    } catch (const SerializationError&) {
      return "error";
    }
  };
  const auto validates = [](std::string_view text) {
    try {
      json::validate(text);
      return true;
    } catch (const SerializationError&) {
      return false;
    }
  };
  int failures = 0;
  const auto check = [&](const std::string& text) {
    const std::string direct = outcome(text, false);
    const std::string reference = outcome(text, true);
    if ((direct != reference || validates(text) != (reference != "error")) && ++failures <= 5) {
      ADD_FAILURE() << "text '" << text << "': " << direct << " vs " << reference;
    }
  };
  for (std::size_t length : {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 33}) {
    for (std::size_t at = 0; at < std::max<std::size_t>(length, 1); ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string inner(length, 'k');
        if (length > 0) inner[at] = static_cast<char>(b);
        check("\"" + inner + "\"");
        check("\"" + inner);  // unterminated
      }
    }
  }
  // Multi-byte UTF-8 (valid, truncated, overlong) and whitespace around the token.
  for (const char* text :
       {"\"h\xc3\xa9llo \xe6\x97\xa5\xf0\x9f\x98\x80\"", "\"\xc3\"", "\"\xe6\x97\"", "\"\xc0\xaf\"",
        "\"\xed\xa0\x80\"", " \"a\"", "\"a\" ", "\"\"", "\"a\"\"", "\"", ""}) {
    check(text);
  }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(json::parse("\"sensor-17\"").as_string(), "sensor-17");
}

TEST(JsonRoundTrip, Compact) {
  expect_round_trip(R"({"a":"x\"y\\z\n\t\r\b\f\u0001","b":[1,2.0,-3.5,null,true,false],)"
                    R"("c":{"d":{"e":[[],{}]}},"é日😀":"ü"})");
  expect_round_trip(R"([1.0,0.5,1e+16,1e-05,0.0001,-0.0,1.7976931348623157e+308])");
  expect_round_trip(R"("")");
  expect_round_trip(R"([[[[[[[[[[1]]]]]]]]]])");
}

TEST(JsonRoundTrip, IntAndDoubleKindsSurvive) {
  const Value v = json::parse(R"({"i":1,"d":1.0,"e":1e2,"n":-7})");
  EXPECT_TRUE(v["i"].is_int());
  EXPECT_TRUE(v["d"].is_double());
  EXPECT_TRUE(v["e"].is_double());
  EXPECT_TRUE(v["n"].is_int());
  EXPECT_EQ(write(v), R"({"i":1,"d":1.0,"e":100.0,"n":-7})");
}

TEST(JsonRoundTrip, ValueToJsonFromJson) {
  Value v = Value::object({{"name", "sensor-1"}, {"temp", 21.5}, {"ok", true}});
  v["tags"] = Value::array({"a", "b"});
  const Value back = Value::from_json(v.to_json());
  EXPECT_EQ(back, v);
  EXPECT_EQ(back.to_json(), v.to_json());
}

TEST(JsonParse, LargeDocumentAndThreads) {
  // Bigger than the thread-local parser limit: parsed with a one-off parser.
  std::string text = "[";
  const std::string item = R"({"k":"0123456789012345678901234567890123456789"},)";
  while (text.size() < (std::size_t{5} << 20)) text += item;
  text += "1]";
  const Value big = json::parse(text);
  EXPECT_EQ(big.as_array().back(), Value(1));
  // Parsing keeps working on the thread-local parser afterwards, on several threads.
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &ok] {
      for (int i = 0; i < 1000; ++i) {
        const std::string doc =
            R"({"t":)" + std::to_string(t) + R"(,"i":)" + std::to_string(i) + R"(,"s":"abc"})";
        const Value v = json::parse(doc);
        if (v["t"].as_int() == t && v["i"].as_int() == i && write(v) == doc) ++ok[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(ok[t], 1000);
}

// ---- parsing into a value given back (the run loop's recycling) -------------------------

// A random document over few, short keys (so duplicates and the duplicate filter's collisions
// are frequent), nested objects and arrays, and strings both short and too long for the
// string's inline buffer.
std::string random_document(std::mt19937& rng, int depth = 0) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  // Keys of 8-16 bytes and longer differ in one byte only, for the word-wise key comparison.
  static const char* const keys[] = {"a",
                                     "b",
                                     "id",
                                     "url",
                                     "xa",
                                     "ab",
                                     "type",
                                     "extra",
                                     "b1",
                                     "dateTime",
                                     "dateTimf",
                                     "emailAddress1",
                                     "emailAddress2",
                                     "a_field_of_17_b1",
                                     "a_field_of_17_b2"};
  std::string out = "{";
  const int fields = pick(depth == 0 ? 12 : 4);
  for (int i = 0; i < fields; ++i) {
    if (i > 0) out += ',';
    out += '"';
    out += keys[pick(15)];
    out += "\":";
    switch (pick(depth < 2 ? 7 : 5)) {
      case 0:
        out += std::to_string(pick(1000) - 500);
        break;
      case 1:
        out += "\"s" + std::string(static_cast<std::size_t>(pick(3)), 'x') + '"';
        break;
      case 2:
        out += "\"" + std::string(static_cast<std::size_t>(20 + pick(60)), 'y') + '"';
        break;
      case 3: {
        // Scalars of every kind, so a recycled field changes kind in place (bool, int, double).
        static const char* const scalars[] = {"null", "true", "false", "0", "-7", "1e3", "-0.25"};
        out += scalars[pick(7)];
        break;
      }
      case 4:
        out += pick(2) == 0 ? "2.5" : "9007199254740993";
        break;
      case 5:
        out += random_document(rng, depth + 1);
        break;
      default:
        out += "[1,\"two\"," + random_document(rng, depth + 1) + "]";
        break;
    }
  }
  return out + "}";
}

TEST(JsonParseReuse, EveryDocumentParsesAsIfFresh) {
  std::mt19937 rng(20261203);
  for (int i = 0; i < 3000; ++i) {
    const std::string text = random_document(rng);
    const std::string fresh = write(json::parse(text));  // nothing given back: built afresh
    detail::give_back_parsed(json::parse(random_document(rng)));
    const Value reused = json::parse(text);  // built into the previous document's value
    ASSERT_EQ(write(reused), fresh) << text;
  }
}

TEST(JsonParseReuse, DuplicateKeysIgnoreLeftOverFields) {
  // The given-back object has "c" after the slots the new document writes: the duplicate
  // "b" must find its own first position, not a left-over field.
  detail::give_back_parsed(json::parse(R"({"x":1,"y":2,"b":3,"c":4})"));
  EXPECT_EQ(write(json::parse(R"({"b":1,"c":2,"b":5})")), R"({"b":5,"c":2})");
  detail::give_back_parsed(json::parse(R"({"c":"left over","d":1})"));
  EXPECT_EQ(write(json::parse(R"({"a":1})")), R"({"a":1})");
}

TEST(JsonParseReuse, ASimilarRecordReusesTheStorage) {
  const std::string url(64, 'u');
  Value first = json::parse(R"({"type":"bid","url":")" + url + R"(","price":1})");
  const char* storage = first["url"].as_string().data();
  detail::give_back_parsed(std::move(first));
  const Value second =
      json::parse(R"({"type":"bid","url":")" + std::string(60, 'v') + R"(","price":2})");
  EXPECT_EQ(second["url"].as_string(), std::string(60, 'v'));
  EXPECT_EQ(second["url"].as_string().data(), storage) << "the string was allocated again";
  EXPECT_EQ(second["price"].as_int(), 2);
}

TEST(JsonParseReuse, OnlyObjectsAreKeptAndOnlyOneAtATime) {
  detail::give_back_parsed(Value("not an object"));
  detail::give_back_parsed(Value::array({1, 2}));
  EXPECT_EQ(write(json::parse(R"([3,{"a":1}])")), R"([3,{"a":1}])");
  detail::give_back_parsed(json::parse(R"({"a":"one"})"));
  detail::give_back_parsed(json::parse(R"({"b":"two"})"));  // the slot is taken: dropped
  EXPECT_EQ(write(json::parse(R"("text")")), R"("text")");  // uses up the kept object
  EXPECT_EQ(write(json::parse(R"({"c":3})")), R"({"c":3})");
}

TEST(JsonParseReuse, AFailedParseLeavesNothingBehind) {
  detail::give_back_parsed(json::parse(R"({"a":1,"b":2})"));
  EXPECT_THROW((void)json::parse(R"({"a":18446744073709551615})"), SerializationError);
  EXPECT_EQ(write(json::parse(R"({"b":1})")), R"({"b":1})");
}

// Deserializer::deserialize_column, for a pipeline that reads one column (a group_by by a
// column right after the input): the document is checked whole, only the column is built.
TEST(JsonParseColumn, AnObjectComesBackWithOnlyThatColumn) {
  const auto json = make_deserializer("json");
  const auto column = [&](std::string_view text) {
    std::vector<Value> rows;
    EXPECT_TRUE(json->deserialize_column(text, {}, "user", rows));
    EXPECT_EQ(rows.size(), 1u);
    return rows.empty() ? std::string("<none>") : write(rows.front());
  };
  EXPECT_EQ(column(R"({"a":1,"user":"ann","b":[1,{"c":null}]})"), R"({"user":"ann"})");
  EXPECT_EQ(column(R"({"user":{"id":7,"tags":["x"]},"z":2.5})"),
            R"({"user":{"id":7,"tags":["x"]}})");
  EXPECT_EQ(column(R"({"user":"x","n":1,"user":"y"})"), R"({"user":"y"})");  // the last wins
  EXPECT_EQ(column(R"({"name":"ann"})"), "{}");                              // no such column
  // Not an object: what parse() builds, so the caller reports the value's type.
  EXPECT_EQ(column(R"([1,"two"])"), R"([1,"two"])");
  EXPECT_EQ(column(R"("just text")"), R"("just text")");
  EXPECT_EQ(column("42"), "42");
  // Records of other shapes in a row: nothing left over from the one before.
  EXPECT_EQ(column(R"({"user":"bob"})"), R"({"user":"bob"})");
  EXPECT_EQ(column(R"({"x":1,"y":2,"user":3})"), R"({"user":3})");
}

TEST(JsonParseColumn, TheWholeDocumentIsCheckedAsValidateChecksIt) {
  const auto json = make_deserializer("json");
  std::vector<Value> rows;
  for (const std::string bad :
       {R"({"user":"ann","n":)", R"({"user":"ann"} x)", "", "{\"user\":\"ann\",\"n\":\"\xff\"}"}) {
    EXPECT_THROW((void)json->deserialize_column(bad, {}, "user", rows), SerializationError) << bad;
    EXPECT_THROW(json->validate(bad, {}), SerializationError) << bad;
  }
  EXPECT_TRUE(rows.empty());
  // Like validate(), a number beyond int64 outside the column is not built, so not refused
  // (the record's bytes go on as they are); in the column it is.
  const std::string big = R"({"user":"ann","n":18446744073709551615})";
  ASSERT_TRUE(json->deserialize_column(big, {}, "user", rows));
  EXPECT_EQ(write(rows.back()), R"({"user":"ann"})");
  EXPECT_THROW((void)json->deserialize_column(big, {}, "n", rows), SerializationError);
  // A document too large for the thread's parser takes a one-off one, as parse() does.
  std::string large = R"({"pad":")" + std::string(std::size_t{5} << 20, 'p') + R"(","user":1})";
  rows.clear();
  ASSERT_TRUE(json->deserialize_column(large, {}, "user", rows));
  EXPECT_EQ(write(rows.front()), R"({"user":1})");
}

// Deserializer::transcode, for a group_by hop's JSON key going to a `bytes` or `str` output
// key: a plain JSON string is written as its content's bytes without a parse; anything else
// is declined, so the caller deserializes and serializes (and reports what is wrong).
TEST(JsonTranscode, APlainStringGoesToBytesOrStrAsWhatAParseAndSerializeWouldWrite) {
  const auto json = make_deserializer("json");
  for (const char* format : {"bytes", "str"}) {
    const auto to = make_serializer(format);
    for (const std::string text : {R"("ann")", R"("")", "\"caf\xc3\xa9 \xe2\x82\xac\"",
                                   R"("a much longer key, past sixteen bytes at least")"}) {
      std::string out = "left over";
      ASSERT_TRUE(json->transcode(text, *to, out)) << format << " " << text;
      std::string expected;
      to->serialize(json->deserialize_one(text), expected);
      EXPECT_EQ(out, expected) << format << " " << text;
    }
    std::string out;
    // Escapes, other JSON types, bad UTF-8 and broken tokens: declined.
    for (const std::string text : {R"("a\"b")", R"("tab\t")", R"("\u00e9")", "42", "null",
                                   R"({"a":1})", R"(["x"])", "\"\xff\"", "\"abcdefgh\xc3\"",
                                   "\"ab\xe2\x82\"", R"("open)", R"(")", R"( "padded" )", ""}) {
      EXPECT_FALSE(json->transcode(text, *to, out)) << format << " " << text;
    }
  }
  // Other target formats decline even a plain string: only bytes and str read it as is.
  std::string out;
  for (const char* format : {"json", "int", "double"}) {
    EXPECT_FALSE(json->transcode(R"("ann")", *make_serializer(format), out)) << format;
  }
  // And the other built-in deserializers have nothing to save.
  EXPECT_FALSE(make_deserializer("bytes")->transcode("ann", *make_serializer("str"), out));
  EXPECT_FALSE(make_deserializer("str")->transcode("ann", *make_serializer("bytes"), out));
}

TEST(JsonParseColumn, OtherDeserializersDecline) {
  std::vector<Value> rows;
  EXPECT_FALSE(make_deserializer("string")->deserialize_column("abc", {}, "user", rows));
  EXPECT_FALSE(make_deserializer("bytes")->deserialize_column("abc", {}, "user", rows));
  EXPECT_TRUE(rows.empty());
}

}  // namespace
}  // namespace streamframe
