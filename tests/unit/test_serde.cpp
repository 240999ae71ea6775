// Built-in serializers/deserializers by name (SEMANTICS TOP-01..TOP-05).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"
#include "streamframe/value.hpp"

namespace streamframe {
namespace {

std::string serialize(std::string_view name, const Value& v) {
  std::string out;
  make_serializer(name)->serialize(v, out);
  return out;
}

Value deserialize(std::string_view name, std::string_view data) {
  return make_deserializer(name)->deserialize_one(data);
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

template <typename F>
std::string serialization_error(F&& f) {
  try {
    f();
  } catch (const SerializationError& e) {
    return e.what();
  }
  return "<no SerializationError>";
}

TEST(Serde, NamesAndAliases) {
  for (const char* name : {"bytes", "str", "string", "int", "integer", "double", "json"}) {
    EXPECT_NE(make_serializer(name), nullptr) << name;
    EXPECT_NE(make_deserializer(name), nullptr) << name;
  }
  EXPECT_EQ(make_serializer("string")->name(), "str");
  EXPECT_EQ(make_deserializer("integer")->name(), "int");
  EXPECT_EQ(make_deserializer("json")->name(), "json");
  EXPECT_EQ(make_serializer("double")->name(), "double");
  EXPECT_EQ(make_serializer("bytes")->name(), "bytes");
  EXPECT_TRUE(make_serializer("json")->extra_headers().empty());
}

TEST(Serde, UnknownNameIsConfigError) {
  EXPECT_THROW((void)make_serializer("avro"), ConfigError);
  EXPECT_THROW((void)make_deserializer("JSON"), ConfigError);  // names are case-sensitive
  EXPECT_THROW((void)make_deserializer(""), ConfigError);
  try {
    (void)make_deserializer("utf-16");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'utf-16'"), std::string::npos);
  }
}

TEST(Serde, Bytes) {
  const std::string raw = bytes({0x00, 0xff, 0x10, 'a'});  // not UTF-8: fine for bytes
  const Value v = deserialize("bytes", raw);
  ASSERT_TRUE(v.is_string());
  EXPECT_EQ(v.as_string(), raw);
  EXPECT_EQ(serialize("bytes", v), raw);
  EXPECT_EQ(serialize("bytes", Value("héllo")), "héllo");
  EXPECT_EQ(deserialize("bytes", "").as_string(), "");
  EXPECT_EQ(serialization_error([] { serialize("bytes", Value(1)); }),
            "bytes serializer: expected string, got int");
  EXPECT_THROW(serialize("bytes", Value()), SerializationError);
  EXPECT_THROW(serialize("bytes", Value::object()), SerializationError);
}

TEST(Serde, String) {
  EXPECT_EQ(deserialize("str", "héllo 😀"), Value("héllo 😀"));
  EXPECT_EQ(deserialize("string", ""), Value(""));
  EXPECT_EQ(serialize("str", Value("日本")), "日本");
  EXPECT_EQ(serialization_error([] {
              deserialize("str", bytes({'a', 0xff}));
            }),
            "str deserializer: invalid UTF-8");
  EXPECT_THROW(deserialize("str", bytes({0xc3})), SerializationError);  // truncated sequence
  EXPECT_THROW(deserialize("str", bytes({0xed, 0xa0, 0x80})), SerializationError);  // surrogate
  EXPECT_EQ(serialization_error([] { serialize("str", Value(bytes({0xfe}))); }),
            "str serializer: invalid UTF-8");
  EXPECT_EQ(serialization_error([] { serialize("string", Value(1.5)); }),
            "str serializer: expected string, got double");
  EXPECT_THROW(serialize("str", Value()), SerializationError);
}

TEST(Serde, Int) {
  EXPECT_EQ(serialize("int", Value(1)), bytes({0, 0, 0, 1}));
  EXPECT_EQ(serialize("int", Value(-1)), bytes({0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(serialize("int", Value(0x01020304)), bytes({1, 2, 3, 4}));
  EXPECT_EQ(serialize("integer", Value(std::numeric_limits<std::int32_t>::max())),
            bytes({0x7f, 0xff, 0xff, 0xff}));
  EXPECT_EQ(serialize("int", Value(std::numeric_limits<std::int32_t>::min())),
            bytes({0x80, 0, 0, 0}));

  EXPECT_EQ(deserialize("int", bytes({1, 2, 3, 4})), Value(0x01020304));
  EXPECT_EQ(deserialize("int", bytes({0xff, 0xff, 0xff, 0xfe})), Value(-2));
  EXPECT_EQ(deserialize("integer", bytes({0x80, 0, 0, 0})).as_int(),
            std::numeric_limits<std::int32_t>::min());
  EXPECT_TRUE(deserialize("int", bytes({0, 0, 0, 0})).is_int());
  for (int v : {0, 1, -1, 123456789, -987654321}) {
    EXPECT_EQ(deserialize("int", serialize("int", Value(v))).as_int(), v);
  }

  EXPECT_EQ(serialization_error([] { serialize("int", Value(std::int64_t{2147483648})); }),
            "int serializer: 2147483648 is out of the int32 range");
  EXPECT_THROW(serialize("int", Value(std::int64_t{-2147483649})), SerializationError);
  EXPECT_EQ(serialization_error([] { serialize("int", Value(1.0)); }),
            "int serializer: expected int, got double");
  EXPECT_THROW(serialize("int", Value("1")), SerializationError);
  EXPECT_THROW(serialize("int", Value(true)), SerializationError);
  EXPECT_EQ(serialization_error([] {
              deserialize("int", bytes({1, 2, 3}));
            }),
            "int deserializer: expected exactly 4 bytes, got 3");
  EXPECT_THROW(deserialize("int", bytes({0, 0, 0, 0, 1})), SerializationError);
  EXPECT_THROW(deserialize("int", ""), SerializationError);
}

TEST(Serde, Double) {
  EXPECT_EQ(serialize("double", Value(1.0)), bytes({0x3f, 0xf0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(serialize("double", Value(1)), bytes({0x3f, 0xf0, 0, 0, 0, 0, 0, 0}));  // int input
  EXPECT_EQ(serialize("double", Value(-2.5)), bytes({0xc0, 0x04, 0, 0, 0, 0, 0, 0}));
  const Value d = deserialize("double", bytes({0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18}));
  ASSERT_TRUE(d.is_double());
  EXPECT_EQ(d.as_double(), 3.141592653589793);
  for (double v : {0.0, -0.0, 1e300, -1e-300, std::numeric_limits<double>::denorm_min(),
                   std::numeric_limits<double>::infinity()}) {
    const double back = deserialize("double", serialize("double", Value(v))).as_double();
    EXPECT_EQ(back, v);
    EXPECT_EQ(std::signbit(back), std::signbit(v));
  }
  EXPECT_TRUE(
      std::isnan(deserialize("double", serialize("double", Value(std::nan("")))).as_double()));

  EXPECT_EQ(serialization_error([] { serialize("double", Value("1.0")); }),
            "double serializer: expected int or double, got string");
  EXPECT_THROW(serialize("double", Value()), SerializationError);
  EXPECT_THROW(serialize("double", Value(false)), SerializationError);
  EXPECT_EQ(serialization_error([] {
              deserialize("double", bytes({0, 0, 0, 0}));
            }),
            "double deserializer: expected exactly 8 bytes, got 4");
  EXPECT_THROW(deserialize("double", std::string(9, '\0')), SerializationError);
}

TEST(Serde, Json) {
  const Value v = deserialize("json", R"({"b":1,"a":[1.0,"x"]})");
  EXPECT_EQ(v["a"].at(0), Value(1.0));
  EXPECT_EQ(serialize("json", v), R"({"b":1,"a":[1.0,"x"]})");
  EXPECT_THROW(deserialize("json", "{"), SerializationError);
  EXPECT_THROW(deserialize("json", ""), SerializationError);
  EXPECT_THROW(serialize("json", Value(std::nan(""))), SerializationError);
}

TEST(Serde, SerializersClearAndReuseOut) {
  for (const char* name : {"bytes", "str", "json"}) {
    std::string out = "stale content that must go";
    make_serializer(name)->serialize(Value("v"), out);
    EXPECT_EQ(out, std::string(name) == "json" ? "\"v\"" : "v") << name;
  }
  std::string out = "stale";
  make_serializer("int")->serialize(Value(7), out);
  EXPECT_EQ(out.size(), 4U);
  make_serializer("double")->serialize(Value(7), out);
  EXPECT_EQ(out.size(), 8U);
}

TEST(Serde, DeserializeAppendsToOut) {
  const auto d = make_deserializer("json");
  std::vector<Value> rows;
  d->deserialize("1", {}, rows);
  d->deserialize("[2]", {{"h", "v"}}, rows);
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0], Value(1));
  EXPECT_EQ(rows[1], Value::array({2}));
}

// The forwarding path validates without building values: each built-in's validate() refuses
// exactly what its deserialize() refuses, with the same message, and accepts the rest.
TEST(Serde, ValidateRefusesWhatDeserializeRefuses) {
  struct Case {
    const char* serde;
    std::string good;
    std::string bad;  // empty: every input is good
  };
  const std::vector<Case> cases{{"bytes", "\xff\x00 anything", ""},
                                {"str", "text", "\xff\xfe"},
                                {"int", std::string("\0\0\0\x07", 4), "abc"},
                                {"double", std::string(8, '\0'), "1234567"},
                                {"json", R"({"a":1})", "{\"a\":"}};
  for (const auto& c : cases) {
    const auto d = make_deserializer(c.serde);
    EXPECT_NO_THROW(d->validate(c.good, {})) << c.serde;
    if (c.bad.empty()) continue;
    std::vector<Value> rows;
    const std::string expected = serialization_error([&] { d->deserialize(c.bad, {}, rows); });
    EXPECT_NE(expected, "<no SerializationError>") << c.serde;
    EXPECT_EQ(serialization_error([&] { d->validate(c.bad, {}); }), expected) << c.serde;
  }
}

// A user deserializer yielding N rows (TOP-11): deserialize_one insists on exactly one.
class SplitDeserializer final : public Deserializer {
 public:
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    for (char c : data) out.emplace_back(std::string(1, c));
  }
  std::string_view name() const override { return "split"; }
};

TEST(Serde, DeserializeOneNeedsExactlyOneRow) {
  const SplitDeserializer d;
  EXPECT_EQ(d.deserialize_one("a"), Value("a"));
  EXPECT_EQ(serialization_error([&] { (void)d.deserialize_one("ab"); }),
            "split deserializer: expected exactly one row, got 2");
  EXPECT_THROW((void)d.deserialize_one(""), SerializationError);
}

}  // namespace
}  // namespace streamframe
