// Binary state value encoding (state/value_codec): round trips, the pinned layout, and
// corrupt input that must fail with SerializationError instead of crashing.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "state/value_codec.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/value.hpp"

namespace {

using streamframe::Array;
using streamframe::Object;
using streamframe::SerializationError;
using streamframe::Value;
namespace state = streamframe::state;

// Value's operator== is SER-03 equality (1 == 1.0 == true, key order ignored); a round trip
// must preserve more than that: type, key order and the double's exact bits.
::testing::AssertionResult identical(const Value& a, const Value& b, const std::string& at = "$") {
  if (a.type() != b.type()) {
    return ::testing::AssertionFailure()
           << at << ": type " << a.type_name() << " vs " << b.type_name();
  }
  switch (a.type()) {
    case Value::Type::null:
      return ::testing::AssertionSuccess();
    case Value::Type::boolean:
      if (a.as_bool() == b.as_bool()) return ::testing::AssertionSuccess();
      return ::testing::AssertionFailure() << at << ": bool differs";
    case Value::Type::integer:
      if (a.as_int() == b.as_int()) return ::testing::AssertionSuccess();
      return ::testing::AssertionFailure() << at << ": " << a.as_int() << " vs " << b.as_int();
    case Value::Type::floating:
      if (std::bit_cast<std::uint64_t>(a.as_double()) ==
          std::bit_cast<std::uint64_t>(b.as_double())) {
        return ::testing::AssertionSuccess();
      }
      return ::testing::AssertionFailure() << at << ": double bits differ";
    case Value::Type::string:
      if (a.as_string() == b.as_string()) return ::testing::AssertionSuccess();
      return ::testing::AssertionFailure() << at << ": string differs";
    case Value::Type::array: {
      const auto& x = a.as_array();
      const auto& y = b.as_array();
      if (x.size() != y.size()) return ::testing::AssertionFailure() << at << ": array size";
      for (std::size_t i = 0; i < x.size(); ++i) {
        auto r = identical(x[i], y[i], at + "[" + std::to_string(i) + "]");
        if (!r) return r;
      }
      return ::testing::AssertionSuccess();
    }
    case Value::Type::object: {
      const auto& x = a.as_object();
      const auto& y = b.as_object();
      if (x.size() != y.size()) return ::testing::AssertionFailure() << at << ": object size";
      auto i = x.begin();
      auto j = y.begin();
      for (; i != x.end(); ++i, ++j) {
        if (i->first != j->first) {
          return ::testing::AssertionFailure()
                 << at << ": key '" << i->first << "' vs '" << j->first << "'";
        }
        auto r = identical(i->second, j->second, at + "." + i->first);
        if (!r) return r;
      }
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "unreachable";
}

Value round_trip(const Value& v) {
  return state::decode(state::encode(v));
}

class RandomValues {
 public:
  explicit RandomValues(std::uint32_t seed) : rng_(seed) {}

  Value next(int depth = 0) {
    int kind = pick(0, depth >= 4 ? 5 : 7);
    switch (kind) {
      case 0:
        return Value();
      case 1:
        return Value(pick(0, 1) == 1);
      case 2:
        return Value(static_cast<long long>(integer()));
      case 3:
        return Value(real());
      case 4:
      case 5:
        return Value(text());
      case 6: {
        Array a;
        for (int i = 0, n = pick(0, 5); i < n; ++i) a.push_back(next(depth + 1));
        return Value(std::move(a));
      }
      default: {
        Object o;
        for (int i = 0, n = pick(0, 5); i < n; ++i) o.set(text(), next(depth + 1));
        return Value(std::move(o));
      }
    }
  }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  std::int64_t integer() {
    // Mostly small (one-byte varints), sometimes every bit width up to the extremes.
    switch (pick(0, 3)) {
      case 0:
        return pick(-64, 63);
      case 1:
        return std::numeric_limits<std::int64_t>::min() + pick(0, 1);
      default: {
        auto bits = static_cast<std::uint64_t>(rng_()) << 32 | rng_();
        return static_cast<std::int64_t>(bits >> pick(0, 63));
      }
    }
  }

  double real() {
    switch (pick(0, 5)) {
      case 0:
        return std::numeric_limits<double>::quiet_NaN();
      case 1:
        return -std::numeric_limits<double>::infinity();
      case 2:
        return -0.0;
      default:
        return std::bit_cast<double>(static_cast<std::uint64_t>(rng_()) << 32 | rng_());
    }
  }

  std::string text() {
    std::string s(static_cast<std::size_t>(pick(0, pick(0, 1) ? 3 : 200)), '\0');
    for (auto& c : s) c = static_cast<char>(pick(0, 255));
    return s;
  }

  std::mt19937 rng_;
};

TEST(ValueCodec, ScalarsRoundTripExactly) {
  const Value values[] = {
      Value(),
      Value(false),
      Value(true),
      Value(0),
      Value(1),
      Value(-1),
      Value(63),
      Value(-64),
      Value(64),
      Value(static_cast<long long>(std::numeric_limits<std::int64_t>::max())),
      Value(static_cast<long long>(std::numeric_limits<std::int64_t>::min())),
      Value(0.0),
      Value(-0.0),
      Value(1.5),
      Value(std::numeric_limits<double>::quiet_NaN()),
      Value(std::numeric_limits<double>::infinity()),
      Value(std::numeric_limits<double>::denorm_min()),
      Value(""),
      Value(std::string("a\0b\xff", 4)),
      Value(std::string(100000, 'x')),
  };
  for (const auto& v : values) EXPECT_TRUE(identical(round_trip(v), v)) << v.type_name();
}

TEST(ValueCodec, ContainersKeepOrderAndTypes) {
  Value v = Value::object({{"z", 1},
                           {"a", 1.0},
                           {"m", true},
                           {"", Value::array({Value(), "s", Value::object(), Value::array()})},
                           {"nested", Value::object({{"b", 2}, {"a", Value::array({1, 2})}})}});
  EXPECT_TRUE(identical(round_trip(v), v));
}

// The layout is persistent (stores outlive binaries): pin it.
TEST(ValueCodec, LayoutIsPinned) {
  using namespace std::string_literals;
  EXPECT_EQ(state::encode(Value()), "\x00"s);
  EXPECT_EQ(state::encode(Value(false)), "\x01"s);
  EXPECT_EQ(state::encode(Value(true)), "\x02"s);
  EXPECT_EQ(state::encode(Value(0)), "\x03\x00"s);
  EXPECT_EQ(state::encode(Value(-1)), "\x03\x01"s);
  EXPECT_EQ(state::encode(Value(1)), "\x03\x02"s);
  EXPECT_EQ(state::encode(Value(64)), "\x03\x80\x01"s);
  EXPECT_EQ(state::encode(Value(1.0)), "\x04\x00\x00\x00\x00\x00\x00\xf0\x3f"s);
  EXPECT_EQ(state::encode(Value("ab")),
            "\x05\x02"
            "ab"s);
  EXPECT_EQ(state::encode(Value::array({1, Value()})), "\x06\x02\x03\x02\x00"s);
  EXPECT_EQ(state::encode(Value::object({{"k", true}})), "\x07\x01\x01k\x02"s);
  EXPECT_EQ(state::encode(Value(static_cast<long long>(std::numeric_limits<std::int64_t>::min()))),
            "\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"s);
}

// Short strings and ints take a shorter path than other values: around its length limits the
// bytes are still the pinned layout (tag, varint length, bytes), appended after what was there.
TEST(ValueCodec, StringsOfEveryLengthNearTheShortPathKeepTheLayout) {
  for (std::size_t n = 0; n <= 300; ++n) {
    std::string text(n, '\0');
    for (std::size_t i = 0; i < n; ++i) text[i] = static_cast<char>('a' + i % 26);
    std::string expected = "p";
    expected.push_back('\x05');
    for (std::size_t len = n;; len >>= 7) {
      if (len < 0x80) {
        expected.push_back(static_cast<char>(len));
        break;
      }
      expected.push_back(static_cast<char>((len & 0x7f) | 0x80));
    }
    expected += text;
    std::string out = "p";
    state::encode(Value(text), out);
    ASSERT_EQ(out, expected) << "length " << n;
    EXPECT_TRUE(identical(state::decode(std::string_view(out).substr(1)), Value(text)));
  }
  for (const std::int64_t v : {std::int64_t{63}, std::int64_t{64}, std::int64_t{-64},
                               std::int64_t{-65}, std::numeric_limits<std::int64_t>::max()}) {
    std::string out = "p";
    state::encode(Value(static_cast<long long>(v)), out);
    EXPECT_EQ(out.substr(1),
              state::encode(Value::array({Value(static_cast<long long>(v))})).substr(2))
        << v;
    EXPECT_EQ(state::decode(std::string_view(out).substr(1)).as_int(), v);
  }
}

TEST(ValueCodec, EncodeAppends) {
  std::string out = "prefix";
  state::encode(Value(1), out);
  EXPECT_EQ(out, std::string("prefix\x03\x02"));
}

TEST(ValueCodec, RandomValuesRoundTrip) {
  RandomValues gen(20261126);
  std::size_t bytes = 0;
  for (int i = 0; i < 3000; ++i) {
    Value v = gen.next();
    auto encoded = state::encode(v);
    bytes += encoded.size();
    ASSERT_TRUE(identical(state::decode(encoded), v)) << "value " << i;
  }
  EXPECT_GT(bytes, 0u);
}

TEST(ValueCodec, EveryTruncationFails) {
  RandomValues gen(7);
  for (int i = 0; i < 300; ++i) {
    auto encoded = state::encode(gen.next());
    for (std::size_t n = 0; n < encoded.size(); ++n) {
      // Copied so a read past the prefix would hit freed/unowned memory under ASan.
      std::string prefix = encoded.substr(0, n);
      EXPECT_THROW(state::decode(prefix), SerializationError) << "value " << i << " prefix " << n;
    }
    EXPECT_THROW(state::decode(encoded + '\0'), SerializationError) << "trailing byte";
  }
}

TEST(ValueCodec, MutatedInputNeverCrashes) {
  RandomValues gen(99);
  std::mt19937 rng(5);
  int decoded = 0, rejected = 0;
  for (int i = 0; i < 2000; ++i) {
    auto encoded = state::encode(gen.next());
    for (int m = 0; m < 4; ++m) {
      auto pos = std::uniform_int_distribution<std::size_t>(0, encoded.size() - 1)(rng);
      encoded[pos] = static_cast<char>(rng());
      try {
        (void)state::decode(encoded);
        ++decoded;
      } catch (const SerializationError&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(decoded, 0);
}

TEST(ValueCodec, CorruptInputIsRejected) {
  using namespace std::string_literals;
  const std::string cases[] = {
      ""s,
      "\x08"s,                                              // unknown tag
      "\xff"s,                                              // unknown tag
      "\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02"s,      // varint past 64 bits
      "\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"s,  // eleven-byte varint
      "\x05\x05"
      "abc"s,                                       // string longer than input
      "\x06\xff\xff\xff\xff\xff\xff\xff\xff\x7f"s,  // huge array count
      "\x07\xff\xff\xff\xff\x0f"s,                  // huge object count
      "\x07\x02\x01k\x00\x01k\x00"s,                // duplicate key
      "\x04\x00\x00\x00"s,                          // short double
      "\x00\x00"s,                                  // trailing byte
  };
  for (const auto& c : cases) {
    EXPECT_THROW(state::decode(c), SerializationError) << testing::PrintToString(c);
  }
}

TEST(ValueCodec, DuplicateKeysInLargeObjectsAreRejected) {
  Object o;
  for (int i = 0; i < 40; ++i) o.set("k" + std::to_string(i), i);
  auto encoded = state::encode(Value(o));
  auto pos = encoded.find("k39");
  ASSERT_NE(pos, std::string::npos);
  encoded.replace(pos, 3, "k12");
  EXPECT_THROW(state::decode(encoded), SerializationError);
}

TEST(ValueCodec, DepthIsBounded) {
  // Within the limit: fine both ways.
  Value ok;
  for (std::size_t i = 0; i < state::kMaxValueDepth; ++i) ok = Value(Array{std::move(ok)});
  EXPECT_TRUE(identical(round_trip(ok), ok));

  // One level deeper is refused when writing, and leaves the buffer as it was.
  Value deep(Array{ok});
  std::string out = "keep";
  EXPECT_THROW(state::encode(deep, out), SerializationError);
  EXPECT_EQ(out, "keep");

  // A forged input nesting a million levels fails cleanly instead of exhausting the stack.
  std::string forged;
  for (int i = 0; i < 1000000; ++i) forged += "\x06\x01";
  forged += '\0';
  EXPECT_THROW(state::decode(forged), SerializationError);
}

TEST(ValueCodec, ErrorsSayWhere) {
  try {
    state::decode(
        std::string("\x05\x05"
                    "abc"));
    FAIL() << "no error";
  } catch (const SerializationError& e) {
    EXPECT_NE(std::string(e.what()).find("at byte"), std::string::npos) << e.what();
  }
}

}  // namespace
