// Value and Object: typed access, column access errors, truthiness (§0), equality (SER-03).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "streamframe/errors.hpp"
#include "streamframe/value.hpp"
#include "support/expect_error.hpp"

namespace streamframe {
namespace {

using streamframe::test::expect_error_exact;

TEST(Value, KindsAndTypeNames) {
  EXPECT_EQ(Value().type(), Value::Type::null);
  EXPECT_EQ(Value(nullptr).type_name(), "null");
  EXPECT_EQ(Value(true).type_name(), "bool");
  EXPECT_EQ(Value(1).type_name(), "int");
  EXPECT_EQ(Value(1L).type_name(), "int");
  EXPECT_EQ(Value(1LL).type_name(), "int");
  EXPECT_EQ(Value(1U).type_name(), "int");
  EXPECT_EQ(Value(1.5).type_name(), "double");
  EXPECT_EQ(Value(1.5F).type_name(), "double");
  EXPECT_EQ(Value("s").type_name(), "string");
  EXPECT_EQ(Value(std::string("s")).type_name(), "string");
  EXPECT_EQ(Value(std::string_view("s")).type_name(), "string");
  EXPECT_EQ(Value::array().type_name(), "array");
  EXPECT_EQ(Value::object().type_name(), "object");
  EXPECT_EQ(Value::type_name(Value::Type::floating), "double");

  EXPECT_TRUE(Value(1).is_number());
  EXPECT_TRUE(Value(1.0).is_number());
  EXPECT_FALSE(Value(true).is_number());
  EXPECT_FALSE(Value("1").is_number());
}

TEST(Value, TypedAccess) {
  EXPECT_EQ(Value(true).as_bool(), true);
  EXPECT_EQ(Value(std::int64_t{-7}).as_int(), -7);
  EXPECT_EQ(Value(2.5).as_double(), 2.5);
  EXPECT_EQ(Value(3).as_double(), 3.0);  // as_double accepts int
  EXPECT_EQ(Value("abc").as_string(), "abc");
  EXPECT_EQ(Value::array({1, 2}).as_array().size(), 2U);
  EXPECT_EQ(Value::object({{"a", 1}}).as_object().size(), 1U);

  Value s("abc");
  s.as_string() += "d";
  EXPECT_EQ(s.as_string(), "abcd");
  Value a = Value::array();
  a.as_array().push_back(1);
  EXPECT_EQ(a.size(), 1U);
}

TEST(Value, TypeErrorsNameExpectedAndActual) {
  expect_error_exact<ValueTypeError>([] { (void)Value("x").as_double(); },
                                     "expected double, got string");
  expect_error_exact<ValueTypeError>([] { (void)Value(1.5).as_int(); }, "expected int, got double");
  expect_error_exact<ValueTypeError>([] { (void)Value(true).as_int(); }, "expected int, got bool");
  expect_error_exact<ValueTypeError>([] { (void)Value(1).as_bool(); }, "expected bool, got int");
  expect_error_exact<ValueTypeError>([] { (void)Value().as_string(); },
                                     "expected string, got null");
  expect_error_exact<ValueTypeError>([] { (void)Value::object().as_array(); },
                                     "expected array, got object");
  expect_error_exact<ValueTypeError>([] { (void)Value::array().as_object(); },
                                     "expected object, got array");
  Value v(1);
  expect_error_exact<ValueTypeError>([&] { (void)v.as_string(); }, "expected string, got int");
  expect_error_exact<ValueTypeError>([&] { (void)v.as_array(); }, "expected array, got int");
  expect_error_exact<ValueTypeError>([&] { (void)v.as_object(); }, "expected object, got int");
  // Every streamframe error derives from Error.
  EXPECT_THROW((void)Value("x").as_int(), Error);
}

TEST(Value, ConstColumnAccess) {
  const Value v = Value::object({{"a", 1}, {"b", Value::object({{"c", "deep"}})}});
  EXPECT_EQ(v["a"].as_int(), 1);
  EXPECT_EQ(v["b"]["c"].as_string(), "deep");
  expect_error_exact<ColumnDoesNotExist>([&] { (void)v["x"]; }, "column 'x' does not exist");
  const Value s("text");
  expect_error_exact<InvalidColumnReference>([&] { (void)s["x"]; },
                                             "cannot access column 'x' of a string value");
  const Value i(5);
  expect_error_exact<InvalidColumnReference>([&] { (void)i["x"]; },
                                             "cannot access column 'x' of an int value");
  const Value n;
  expect_error_exact<InvalidColumnReference>([&] { (void)n["x"]; },
                                             "cannot access column 'x' of a null value");
}

TEST(Value, MutableColumnAccess) {
  Value v;  // null becomes an empty object
  v["a"] = 1;
  v["b"]["c"] = "x";  // nested nulls too
  EXPECT_TRUE(v.is_object());
  EXPECT_EQ(v["a"], Value(1));
  EXPECT_EQ(v["b"]["c"], Value("x"));
  Value& added = v["missing"];  // appended as null
  EXPECT_TRUE(added.is_null());
  EXPECT_EQ(v.size(), 3U);

  Value s("text");
  expect_error_exact<InvalidColumnReference>([&] { s["x"] = 1; },
                                             "cannot access column 'x' of a string value");
  Value arr = Value::array({1});
  expect_error_exact<InvalidColumnReference>([&] { arr["x"] = 1; },
                                             "cannot access column 'x' of an array value");
  EXPECT_EQ(arr.size(), 1U);
}

TEST(Value, ArrayAt) {
  const Value a = Value::array({10, "x"});
  EXPECT_EQ(a.at(0), Value(10));
  EXPECT_EQ(a.at(1), Value("x"));
  EXPECT_THROW((void)a.at(2), InvalidOperation);
  expect_error_exact<ValueTypeError>([] { (void)Value(1).at(0); }, "expected array, got int");
}

TEST(Value, ArrayIndexWithAnInt) {
  // v[0] is an element, not a lookup of a null const char* key (which crashed).
  const Value a = Value::array({10, "x", 30});
  EXPECT_EQ(a[0], Value(10));
  EXPECT_EQ(a[2], Value(30));
  EXPECT_EQ(a[-1], Value(30));
  EXPECT_EQ(a[-3], Value(10));
  expect_error_exact<InvalidOperation>([&a] { (void)a[3]; },
                                       "index 3 out of range for an array of 3 elements");
  expect_error_exact<InvalidOperation>([&a] { (void)a[-4]; },
                                       "index -4 out of range for an array of 3 elements");
  expect_error_exact<ValueTypeError>([] { (void)Value(1)[0]; }, "expected array, got int");
  expect_error_exact<ValueTypeError>([] { (void)Value(1)[-1]; }, "expected array, got int");
  Value m = Value::array({1, 2});
  m[1] = Value("two");
  m[-2] = Value(true);
  EXPECT_EQ(m, Value::array({true, "two"}));
  // Keys still go by name.
  EXPECT_EQ(Value::object({{"0", 5}})["0"], Value(5));
}

TEST(Value, FindContainsGetOr) {
  const Value v = Value::object({{"a", 1}, {"n", nullptr}});
  ASSERT_NE(v.find("a"), nullptr);
  EXPECT_EQ(*v.find("a"), Value(1));
  EXPECT_EQ(v.find("zz"), nullptr);
  EXPECT_EQ(Value(3).find("a"), nullptr);
  EXPECT_TRUE(v.contains("n"));
  EXPECT_FALSE(v.contains("zz"));

  EXPECT_EQ(v.get_or("a", 0), Value(1));
  EXPECT_EQ(v.get_or("n", 7), Value(7));               // null => fallback
  EXPECT_EQ(v.get_or("zz", 7), Value(7));              // missing => fallback
  EXPECT_EQ(Value("s").get_or("a", 0.5), Value(0.5));  // not an object => fallback
  const Value f = Value::object({{"f", false}});
  EXPECT_EQ(f.get_or("f", true), Value(false));  // falsy but present is kept
}

TEST(Value, Size) {
  EXPECT_EQ(Value("héllo").size(), 6U);  // bytes
  EXPECT_EQ(Value::array({1, 2, 3}).size(), 3U);
  EXPECT_EQ(Value::object({{"a", 1}}).size(), 1U);
  EXPECT_EQ(Value(5).size(), 0U);
  EXPECT_EQ(Value().size(), 0U);
}

TEST(Value, Truthiness) {
  EXPECT_FALSE(Value().truthy());
  EXPECT_FALSE(Value(false).truthy());
  EXPECT_FALSE(Value(0).truthy());
  EXPECT_FALSE(Value(0.0).truthy());
  EXPECT_FALSE(Value(-0.0).truthy());
  EXPECT_FALSE(Value("").truthy());
  EXPECT_FALSE(Value::array().truthy());
  EXPECT_FALSE(Value::object().truthy());

  EXPECT_TRUE(Value(true).truthy());
  EXPECT_TRUE(Value(-1).truthy());
  EXPECT_TRUE(Value(0.1).truthy());
  EXPECT_TRUE(Value(std::nan("")).truthy());
  EXPECT_TRUE(Value("0").truthy());
  EXPECT_TRUE(Value(" ").truthy());
  EXPECT_TRUE(Value::array({nullptr}).truthy());
  EXPECT_TRUE(Value::object({{"a", nullptr}}).truthy());
}

TEST(Value, EqualityNumbers) {
  EXPECT_EQ(Value(1), Value(1.0));
  EXPECT_EQ(Value(1.0), Value(1));
  EXPECT_EQ(Value(true), Value(1));
  EXPECT_EQ(Value(1), Value(true));
  EXPECT_EQ(Value(false), Value(0.0));
  EXPECT_EQ(Value(true), Value(true));
  EXPECT_NE(Value(true), Value(2));
  EXPECT_NE(Value(1), Value(1.5));
  EXPECT_EQ(Value(0.0), Value(-0.0));
  EXPECT_NE(Value(std::nan("")), Value(std::nan("")));  // NaN is never equal, as in Python

  // int vs double is exact, not through a rounding conversion.
  const std::int64_t big = (std::int64_t{1} << 53) + 1;
  EXPECT_NE(Value(big), Value(static_cast<double>(big)));
  EXPECT_EQ(Value(std::int64_t{1} << 53), Value(9007199254740992.0));
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  const std::int64_t min = std::numeric_limits<std::int64_t>::min();
  EXPECT_NE(Value(max), Value(9223372036854775808.0));  // 2^63 is out of int64 range
  EXPECT_EQ(Value(min), Value(-9223372036854775808.0));
  EXPECT_NE(Value(1), Value(std::numeric_limits<double>::infinity()));
}

TEST(Value, EqualityOtherKinds) {
  EXPECT_EQ(Value(), Value(nullptr));
  EXPECT_EQ(Value("a"), Value(std::string("a")));
  EXPECT_NE(Value("a"), Value("b"));
  // Different kinds are unequal; never throws.
  EXPECT_NE(Value(), Value(0));
  EXPECT_NE(Value(), Value(false));
  EXPECT_NE(Value("1"), Value(1));
  EXPECT_NE(Value::array(), Value::object());
  EXPECT_NE(Value(""), Value());
  EXPECT_NE(Value::array({1}), Value(1));

  // Arrays element-wise, with numeric element equality.
  EXPECT_EQ(Value::array({1, "a", nullptr}), Value::array({1.0, "a", nullptr}));
  EXPECT_NE(Value::array({1, 2}), Value::array({2, 1}));
  EXPECT_NE(Value::array({1, 2}), Value::array({1, 2, 3}));

  // Objects ignore key order, compare values recursively.
  const Value a = Value::object({{"x", 1}, {"y", Value::array({true})}});
  const Value b = Value::object({{"y", Value::array({1})}, {"x", 1.0}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, Value::object({{"x", 1}}));
  EXPECT_NE(a, Value::object({{"x", 1}, {"z", Value::array({true})}}));
  EXPECT_NE(a, Value::object({{"x", 2}, {"y", Value::array({true})}}));
  EXPECT_FALSE(a != b);
}

TEST(Object, PreservesInsertionOrder) {
  Object o;
  o.set("z", 1);
  o.set("a", 2);
  o["m"] = 3;
  o.set("z", 10);  // replaced in place, keeps its position
  std::string keys;
  for (const auto& [k, v] : o) keys += k;
  EXPECT_EQ(keys, "zam");
  EXPECT_EQ(*o.find("z"), Value(10));

  EXPECT_TRUE(o.erase("a"));
  EXPECT_FALSE(o.erase("a"));
  keys.clear();
  for (const auto& [k, v] : o) keys += k;
  EXPECT_EQ(keys, "zm");

  Value& appended = o.append_unchecked("q", Value(4));
  EXPECT_EQ(appended, Value(4));
  EXPECT_EQ(o.size(), 3U);
  EXPECT_TRUE(o.contains("q"));
  o.clear();
  EXPECT_TRUE(o.empty());
}

TEST(Object, InitializerListRepeatedKeyLastWins) {
  const Object o{{"a", 1}, {"b", 2}, {"a", 3}};
  EXPECT_EQ(o.size(), 2U);
  EXPECT_EQ(*o.find("a"), Value(3));
  EXPECT_EQ(o.begin()->first, "a");
}

// GCC 12 at -O2 reports -Wmaybe-uninitialized inside std::variant's vector alternative here
// (a known false positive of its flow analysis through variant storage); ASan/UBSan runs of
// this test are clean.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
TEST(Value, CopyIsDeep) {
  Value a = Value::object({{"list", Value::array({1, 2})}});
  Value b = a;
  b["list"].as_array().push_back(3);
  EXPECT_EQ(a["list"].size(), 2U);
  EXPECT_EQ(b["list"].size(), 3U);
  Value c = std::move(b);
  EXPECT_EQ(c["list"].size(), 3U);
}
#pragma GCC diagnostic pop

}  // namespace
}  // namespace streamframe
