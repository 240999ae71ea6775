// Series expressions (SEMANTICS §6, SER-01..SER-05): column access, arithmetic, comparison,
// logical operators, SER-05 helpers, nested access, describe() and error messages.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "dataframe/access.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/series.hpp"
#include "streamframe/value.hpp"
#include "support/expect_error.hpp"

// Counts heap allocations made by the current thread while a test asks for it, to check that
// numeric expressions do not allocate. Replacing the global operator new is the only portable
// hook; it forwards to malloc and only counts inside an AllocationCounter scope.
namespace {
thread_local bool g_counting = false;
thread_local long g_allocations = 0;
}  // namespace

// noinline: once inlined, g++ pairs the caller's `new` with the `free` below and warns
// (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(std::size_t size) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t size) {
  return ::operator new(size);
}
// The nothrow forms must be replaced too: memory from a library's `new (std::nothrow)` is
// released by our operator delete, and AddressSanitizer rejects a mismatched pair.
[[gnu::noinline]] void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  if (g_counting) ++g_allocations;
  return std::malloc(size == 0 ? 1 : size);
}
[[gnu::noinline]] void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return ::operator new(size, tag);
}
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace streamframe {
namespace {

class AllocationCounter {
 public:
  AllocationCounter() {
    g_allocations = 0;
    g_counting = true;
  }
  ~AllocationCounter() { g_counting = false; }
  long count() const { return g_allocations; }
};

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

// SDF-20: `if (sdf["x"] > 1)` must not compile. The requires-expressions sit in a concept so
// an invalid expression yields false instead of a hard error.
template <class S>
concept BoolConvertible = requires(const S& s) {
  static_cast<bool>(s);
}
|| requires(const S& s) {
  !s;
}
|| requires(const S& s) {
  s && true;
}
|| requires(const S& s) {
  s ? 1 : 0;
}
|| std::is_convertible_v<S, bool>;
static_assert(!BoolConvertible<Series>);
static_assert(BoolConvertible<int>);  // the concept itself can be satisfied
static_assert(std::same_as<decltype(Series::column("x") > 1), Series>);
static_assert(std::same_as<decltype(1 < Series::column("x")), Series>);
static_assert(std::same_as<decltype(Series::column("x") == Series::column("y")), Series>);
static_assert(std::same_as<decltype(Series::column("x") & Series::column("y")), Series>);
static_assert(std::same_as<decltype(~Series::column("x")), Series>);

Series col(const char* name) {
  return Series::column(name);
}

// Readable text of a Value for failure messages (describe() of a constant is JSON-like).
std::string show(const Value& v) {
  return Series::constant(v).describe();
}

// Same kind and equal: 2 and 2.0 are different results here.
::testing::AssertionResult Same(const Value& actual, const Value& expected) {
  if (actual.type() == expected.type() && actual == expected) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "got " << show(actual) << " (" << actual.type_name() << "), expected " << show(expected)
         << " (" << expected.type_name() << ")";
}

// Evaluates `s` against `row`.
Value eval(const Series& s, const Value& row = Value::object()) {
  return s.evaluate(row);
}

// Runs `f`, expects an exception of type E whose what() contains every fragment.
template <typename E, typename F>
void expect_error(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "expected an exception containing: " << *fragments.begin();
  } catch (const E& e) {
    const std::string what = e.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(what.find(fragment), std::string::npos)
          << "message '" << what << "' lacks '" << fragment << "'";
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

using streamframe::test::expect_error_exact;

// ---------------------------------------------------------------------------------------------
// Column access (SER-01)

TEST(SeriesColumn, ReadsRefersIntoTheRowWithoutCopy) {
  const Value row = Value::object({{"a", 1}, {"name", "bob"}});
  Value scratch;
  const Value& name = col("name").evaluate(row, scratch);
  EXPECT_EQ(&name, row.as_object().find("name"));
  EXPECT_TRUE(scratch.is_null());  // scratch untouched
  EXPECT_TRUE(Same(eval(col("a"), row), 1));
}

TEST(SeriesColumn, MissingColumn) {
  const Value row = Value::object({{"a", 1}});
  expect_error_exact<ColumnDoesNotExist>([&] { eval(col("x"), row); }, "column 'x' does not exist");
  // Errors inside an expression surface the same way.
  expect_error_exact<ColumnDoesNotExist>([&] { eval(col("a") + col("x"), row); },
                                         "column 'x' does not exist");
}

TEST(SeriesColumn, RecordNotAnObject) {
  expect_error<InvalidColumnReference>([] { eval(col("x"), Value(5)); }, {"'x'", "int"});
  expect_error<InvalidColumnReference>([] { eval(col("x"), Value::array({1})); }, {"'x'", "array"});
  expect_error<InvalidColumnReference>([] { eval(col("x"), Value()); }, {"'x'", "null"});
}

TEST(SeriesColumn, NullColumnIsAValueNotMissing) {
  const Value row = Value::object({{"a", nullptr}});
  EXPECT_TRUE(eval(col("a"), row).is_null());
}

// ---------------------------------------------------------------------------------------------
// describe()

TEST(SeriesDescribe, ColumnsConstantsAndOperators) {
  EXPECT_EQ(col("temperature").describe(), "temperature");
  EXPECT_EQ(Series::constant(9).describe(), "9");
  EXPECT_EQ(Series::constant(-9).describe(), "-9");
  EXPECT_EQ(Series::constant(9.5).describe(), "9.5");
  EXPECT_EQ(Series::constant(9.0).describe(), "9.0");
  EXPECT_EQ(Series::constant(1e300).describe(), "1e+300");
  EXPECT_EQ(Series::constant(true).describe(), "true");
  EXPECT_EQ(Series::constant(nullptr).describe(), "null");
  EXPECT_EQ(Series::constant("a\"b\n").describe(), "\"a\\\"b\\n\"");
  EXPECT_EQ(Series::constant(Value::array({1, "x", Value::array()})).describe(), "[1, \"x\", []]");
  EXPECT_EQ(Series::constant(Value::object({{"k", 1}, {"j", nullptr}})).describe(),
            "{\"k\": 1, \"j\": null}");

  EXPECT_EQ((col("temperature") * 9 / 5 + 32 > 150).describe(),
            "((((temperature * 9) / 5) + 32) > 150)");
  EXPECT_EQ((col("a") - col("b") % 2).describe(), "(a - (b % 2))");
  EXPECT_EQ(((col("a") == "x") | (col("b") != 1.5)).describe(), "((a == \"x\") | (b != 1.5))");
  EXPECT_EQ(((col("a") <= 1) & (col("b") >= 2)).describe(), "((a <= 1) & (b >= 2))");
  EXPECT_EQ((col("a") < col("b")).describe(), "(a < b)");
  EXPECT_EQ((~col("a")).describe(), "(~a)");
  EXPECT_EQ(col("a")["b"][-1].describe(), "a[\"b\"][-1]");
  EXPECT_EQ(col("a").isin(Value::array({1, 2})).describe(), "a.isin([1, 2])");
  EXPECT_EQ(col("a").contains("x").describe(), "a.contains(\"x\")");
  EXPECT_EQ(col("a").is_(nullptr).describe(), "a.is_(null)");
  EXPECT_EQ(col("a").isnot(1).describe(), "a.isnot(1)");
  EXPECT_EQ(col("a").isnull().describe(), "a.isnull()");
  EXPECT_EQ(col("a").notnull().describe(), "a.notnull()");
  EXPECT_EQ(col("a").abs().describe(), "a.abs()");
  EXPECT_EQ(col("a").apply([](const Value& v) { return v; }).describe(), "a.apply(<function>)");
}

// ---------------------------------------------------------------------------------------------
// Arithmetic (SER-02)

TEST(SeriesArithmetic, IntegersStayIntegers) {
  const Value row = Value::object({{"a", 7}, {"b", 2}});
  EXPECT_TRUE(Same(eval(col("a") + col("b"), row), 9));
  EXPECT_TRUE(Same(eval(col("a") - col("b"), row), 5));
  EXPECT_TRUE(Same(eval(col("a") * col("b"), row), 14));
  EXPECT_TRUE(Same(eval(col("a") % col("b"), row), 1));
  EXPECT_TRUE(Same(eval(100 - col("a"), row), 93));
}

TEST(SeriesArithmetic, DivisionIsAlwaysDouble) {
  const Value row = Value::object({{"a", 7}, {"b", 2}, {"c", 6}});
  EXPECT_TRUE(Same(eval(col("a") / col("b"), row), 3.5));
  EXPECT_TRUE(Same(eval(col("c") / col("b"), row), 3.0));
  EXPECT_TRUE(Same(eval(1 / col("b"), row), 0.5));
  EXPECT_TRUE(Same(eval(col("c") / true, row), 6.0));
}

TEST(SeriesArithmetic, AnyDoubleMakesADouble) {
  const Value row = Value::object({{"i", 2}, {"d", 2.5}});
  EXPECT_TRUE(Same(eval(col("i") + col("d"), row), 4.5));
  EXPECT_TRUE(Same(eval(col("d") - col("i"), row), 0.5));
  EXPECT_TRUE(Same(eval(col("i") * 3.0, row), 6.0));
  EXPECT_TRUE(Same(eval(col("d") * 2, row), 5.0));
  EXPECT_TRUE(Same(eval(col("d") % 1, row), 0.5));
}

TEST(SeriesArithmetic, BoolCountsAsZeroOrOne) {
  const Value row = Value::object({{"t", true}, {"f", false}});
  EXPECT_TRUE(Same(eval(col("t") + col("t"), row), 2));
  EXPECT_TRUE(Same(eval(col("t") + 1, row), 2));
  EXPECT_TRUE(Same(eval(col("f") * 5, row), 0));
  EXPECT_TRUE(Same(eval(col("t") * 2.5, row), 2.5));
  EXPECT_TRUE(Same(eval(col("t") - 3, row), -2));
}

TEST(SeriesArithmetic, IntegerOverflowIsAnError) {
  const Value row = Value::object({{"max", kMax}, {"min", kMin}});
  expect_error<ArithmeticError>([&] { eval(col("max") + 1, row); },
                                {"overflow", "9223372036854775807 + 1", "(max + 1)"});
  expect_error<ArithmeticError>([&] { eval(col("min") - 1, row); }, {"overflow", "(min - 1)"});
  expect_error<ArithmeticError>([&] { eval(col("max") * 2, row); }, {"overflow", "(max * 2)"});
  expect_error<ArithmeticError>([&] { eval(col("min") * -1, row); }, {"overflow"});
  expect_error<ArithmeticError>([&] { eval(0 - col("min"), row); }, {"overflow"});
  // Right at the edge there is no overflow.
  EXPECT_TRUE(Same(eval(col("max") - 1 + 1, row), kMax));
  EXPECT_TRUE(Same(eval(col("min") + 0, row), kMin));
  // Python: INT64_MIN % -1 == 0 (overflows in C++, must not trap here).
  EXPECT_TRUE(Same(eval(col("min") % -1, row), 0));
  // True division does not overflow: it is a double.
  EXPECT_TRUE(Same(eval(col("min") / -1, row), 9223372036854775808.0));
  // With a double operand the result is a double, not an overflow.
  EXPECT_TRUE(Same(eval(col("max") + 1.0, row), 9223372036854775808.0));
}

TEST(SeriesArithmetic, ModuloTakesTheDivisorsSignForInts) {
  auto mod = [](std::int64_t a, std::int64_t b) {
    return eval(col("a") % col("b"), Value::object({{"a", a}, {"b", b}}));
  };
  EXPECT_TRUE(Same(mod(7, 3), 1));
  EXPECT_TRUE(Same(mod(-7, 3), 2));
  EXPECT_TRUE(Same(mod(7, -3), -2));
  EXPECT_TRUE(Same(mod(-7, -3), -1));
  EXPECT_TRUE(Same(mod(6, -3), 0));
  EXPECT_TRUE(Same(mod(-6, 3), 0));
  EXPECT_TRUE(Same(mod(kMin, 3), 1));    // Python: -2**63 % 3 == 1
  EXPECT_TRUE(Same(mod(kMax, -2), -1));  // Python: (2**63-1) % -2 == -1
}

TEST(SeriesArithmetic, ModuloTakesTheDivisorsSignForDoubles) {
  auto mod = [](const Value& a, const Value& b) {
    return eval(col("a") % col("b"), Value::object({{"a", a}, {"b", b}}));
  };
  EXPECT_TRUE(Same(mod(7.5, 2), 1.5));
  EXPECT_TRUE(Same(mod(-7.5, 2), 0.5));
  EXPECT_TRUE(Same(mod(7.5, -2), -0.5));
  EXPECT_TRUE(Same(mod(-7.5, -2), -1.5));
  EXPECT_TRUE(Same(mod(-7, 2.0), 1.0));
  // A zero result carries the divisor's sign, as in Python.
  const Value pos = mod(-6.0, 3);
  const Value neg = mod(6.0, -3);
  EXPECT_TRUE(Same(pos, 0.0));
  EXPECT_FALSE(std::signbit(pos.as_double()));
  EXPECT_TRUE(Same(neg, 0.0));
  EXPECT_TRUE(std::signbit(neg.as_double()));
}

TEST(SeriesArithmetic, DivisionAndModuloByZero) {
  const Value row = Value::object({{"a", 1}, {"d", 1.5}, {"z", 0}, {"zd", 0.0}, {"f", false}});
  expect_error_exact<ArithmeticError>([&] { eval(col("a") / col("z"), row); },
                                      "division by zero in (a / z)");
  expect_error_exact<ArithmeticError>([&] { eval(col("a") % col("z"), row); },
                                      "modulo by zero in (a % z)");
  expect_error<ArithmeticError>([&] { eval(col("d") / col("zd"), row); }, {"division by zero"});
  expect_error<ArithmeticError>([&] { eval(col("d") / col("z"), row); }, {"division by zero"});
  expect_error<ArithmeticError>([&] { eval(col("a") / -0.0, row); }, {"division by zero"});
  expect_error<ArithmeticError>([&] { eval(col("d") % col("zd"), row); }, {"modulo by zero"});
  expect_error<ArithmeticError>([&] { eval(col("a") / col("f"), row); }, {"division by zero"});
  expect_error<ArithmeticError>([&] { eval(col("a") % col("f"), row); }, {"modulo by zero"});
}

TEST(SeriesArithmetic, PlusJoinsStringsAndArrays) {
  const Value row = Value::object({{"first", "Ada"},
                                   {"last", "Lovelace"},
                                   {"xs", Value::array({1, 2})},
                                   {"ys", Value::array({"a"})}});
  EXPECT_TRUE(Same(eval(col("first") + " " + col("last"), row), "Ada Lovelace"));
  EXPECT_TRUE(Same(eval("Dr. " + col("last"), row), "Dr. Lovelace"));
  EXPECT_TRUE(Same(eval(col("xs") + col("ys"), row), Value::array({1, 2, "a"})));
  EXPECT_TRUE(Same(eval(col("xs") + Value::array(), row), Value::array({1, 2})));
}

TEST(SeriesArithmetic, OtherKindsAreTypeErrors) {
  const Value row = Value::object({{"name", "bob"},
                                   {"n", 1},
                                   {"null", nullptr},
                                   {"xs", Value::array({1})},
                                   {"o", Value::object({{"k", 1}})}});
  expect_error_exact<ValueTypeError>([&] { eval(col("name") * 2, row); },
                                     "cannot apply '*' to string and int in (name * 2)");
  expect_error_exact<ValueTypeError>([&] { eval(col("null") + 1, row); },
                                     "cannot apply '+' to null and int in (null + 1)");
  expect_error_exact<ValueTypeError>([&] { eval(col("n") - col("name"), row); },
                                     "cannot apply '-' to int and string in (n - name)");
  expect_error<ValueTypeError>([&] { eval(col("name") - "b", row); }, {"'-'", "string and string"});
  expect_error<ValueTypeError>([&] { eval(col("xs") + col("name"), row); },
                               {"'+'", "array and string", "(xs + name)"});
  expect_error<ValueTypeError>([&] { eval(col("o") + col("o"), row); },
                               {"'+'", "object and object"});
  expect_error<ValueTypeError>([&] { eval(col("xs") * 2, row); }, {"'*'", "array and int"});
  expect_error<ValueTypeError>([&] { eval(col("name") / 2, row); }, {"'/'", "string and int"});
  expect_error<ValueTypeError>([&] { eval(col("name") % 2, row); }, {"'%'", "string and int"});
  expect_error<ValueTypeError>([&] { eval(col("null") + col("null"), row); },
                               {"'+'", "null and null"});
}

// ---------------------------------------------------------------------------------------------
// Comparison (SER-03)

TEST(SeriesComparison, EqualityNeverThrows) {
  const Value row = Value::object({{"i", 1},
                                   {"d", 1.0},
                                   {"t", true},
                                   {"s", "1"},
                                   {"null", nullptr},
                                   {"xs", Value::array({1, 2})},
                                   {"o", Value::object({{"a", 1}, {"b", 2}})}});
  EXPECT_TRUE(Same(eval(col("i") == col("d"), row), true));
  EXPECT_TRUE(Same(eval(col("i") == col("t"), row), true));
  EXPECT_TRUE(Same(eval(col("i") == col("s"), row), false));
  EXPECT_TRUE(Same(eval(col("i") != col("s"), row), true));
  EXPECT_TRUE(Same(eval(col("null") == nullptr, row), true));
  EXPECT_TRUE(Same(eval(col("null") == 0, row), false));
  EXPECT_TRUE(Same(eval(col("null") != 0, row), true));
  EXPECT_TRUE(Same(eval(col("xs") == Value::array({1.0, 2}), row), true));
  EXPECT_TRUE(Same(eval(col("xs") == Value::array({2, 1}), row), false));
  EXPECT_TRUE(Same(eval(col("o") == Value::object({{"b", 2}, {"a", 1}}), row), true));
  EXPECT_TRUE(Same(eval(col("o") != col("xs"), row), true));
  EXPECT_TRUE(Same(eval(col("s") == "1", row), true));
}

TEST(SeriesComparison, NumbersIncludingBoolAndMixed) {
  const Value row = Value::object({{"i", 3}, {"d", 2.5}, {"t", true}});
  EXPECT_TRUE(Same(eval(col("i") > col("d"), row), true));
  EXPECT_TRUE(Same(eval(col("i") < col("d"), row), false));
  EXPECT_TRUE(Same(eval(col("i") >= 3, row), true));
  EXPECT_TRUE(Same(eval(col("i") <= 3.0, row), true));
  EXPECT_TRUE(Same(eval(col("i") < 3, row), false));
  EXPECT_TRUE(Same(eval(col("t") < 2, row), true));
  EXPECT_TRUE(Same(eval(col("t") >= 1, row), true));
  EXPECT_TRUE(Same(eval(col("t") > false, row), true));
  EXPECT_TRUE(Same(eval(2.5 <= col("d"), row), true));
}

TEST(SeriesComparison, LargeIntsCompareExactlyWithDoubles) {
  // 2^53 + 1 is not representable as a double; a naive conversion would call them equal.
  const Value row = Value::object({{"big", std::int64_t{9007199254740993}}});
  EXPECT_TRUE(Same(eval(col("big") > 9007199254740992.0, row), true));
  EXPECT_TRUE(Same(eval(col("big") < 9007199254740994.0, row), true));
  EXPECT_TRUE(Same(eval(col("big") >= 9.3e18, row), false));
  const Value edge = Value::object({{"max", kMax}, {"min", kMin}});
  EXPECT_TRUE(Same(eval(col("max") < 9223372036854775808.0, edge), true));
  EXPECT_TRUE(Same(eval(col("min") <= -9223372036854775808.0, edge), true));
  EXPECT_TRUE(Same(eval(col("min") < -9223372036854775808.0, edge), false));
  EXPECT_TRUE(Same(eval(col("min") > -1e300, edge), true));
  EXPECT_TRUE(Same(eval(col("max") > -0.5, edge), true));
  EXPECT_TRUE(Same(eval(Series::constant(-1) < -0.5, edge), true));
  EXPECT_TRUE(Same(eval(Series::constant(-1) > -1.5, edge), true));
}

TEST(SeriesComparison, NanIsUnordered) {
  const Value row = Value::object({{"nan", std::nan("")}});
  EXPECT_TRUE(Same(eval(col("nan") < 1, row), false));
  EXPECT_TRUE(Same(eval(col("nan") <= 1, row), false));
  EXPECT_TRUE(Same(eval(col("nan") > 1, row), false));
  EXPECT_TRUE(Same(eval(col("nan") >= 1.0, row), false));
}

TEST(SeriesComparison, StringsByCodePoint) {
  const Value row = Value::object({{"s", "b"}});
  EXPECT_TRUE(Same(eval(col("s") > "a", row), true));
  EXPECT_TRUE(Same(eval(col("s") < "ba", row), true));
  EXPECT_TRUE(Same(eval(col("s") >= "b", row), true));
  EXPECT_TRUE(Same(eval(Series::constant("Z") < "a", row), true));
  EXPECT_TRUE(Same(eval(Series::constant("") < "a", row), true));
  // Non-ASCII: U+00E9 > U+007A, U+1F600 (4-byte UTF-8) > U+FFFD (3-byte), U+00FF > U+007F.
  EXPECT_TRUE(Same(eval(Series::constant("\u00e9") > "z", row), true));
  EXPECT_TRUE(Same(eval(Series::constant("\U0001F600") > "\uFFFD", row), true));
  EXPECT_TRUE(Same(eval(Series::constant("\u00ff") > "\x7f", row), true));
}

TEST(SeriesComparison, ArraysLexicographically) {
  const Value row = Value::object({{"xs", Value::array({1, 2})}});
  EXPECT_TRUE(Same(eval(col("xs") < Value::array({1, 3}), row), true));
  EXPECT_TRUE(Same(eval(col("xs") < Value::array({1, 2, 0}), row), true));
  EXPECT_TRUE(Same(eval(col("xs") <= Value::array({1, 2}), row), true));
  EXPECT_TRUE(Same(eval(col("xs") < Value::array({1, 2}), row), false));
  EXPECT_TRUE(Same(eval(col("xs") > Value::array({0, 9, 9}), row), true));
  EXPECT_TRUE(Same(eval(col("xs") > Value::array(), row), true));
  EXPECT_TRUE(Same(eval(col("xs") >= Value::array({1.0, 1.5}), row), true));
  EXPECT_TRUE(Same(
      eval(Series::constant(Value::array({Value::array({1})})) < Value::array({Value::array({2})}),
           row),
      true));
  // Equal elements are skipped even when they could not be ordered (Python does the same).
  const Value o = Value::object({{"k", 1}});
  EXPECT_TRUE(Same(eval(Series::constant(Value::array({o, 1})) < Value::array({o, 2}), row), true));
  EXPECT_TRUE(
      Same(eval(Series::constant(Value::array({"a", 1})) < Value::array({"b", "x"}), row), true));
}

TEST(SeriesComparison, OtherKindsAreTypeErrors) {
  const Value row = Value::object({{"name", "bob"},
                                   {"n", 1},
                                   {"null", nullptr},
                                   {"xs", Value::array({1, "a"})},
                                   {"o", Value::object()}});
  expect_error_exact<ValueTypeError>([&] { eval(col("name") < 1, row); },
                                     "cannot apply '<' to string and int in (name < 1)");
  expect_error_exact<ValueTypeError>([&] { eval(col("null") >= col("n"), row); },
                                     "cannot apply '>=' to null and int in (null >= n)");
  expect_error<ValueTypeError>([&] { eval(col("o") > col("o"), row); },
                               {"'>'", "object and object"});
  expect_error<ValueTypeError>([&] { eval(col("xs") <= "a", row); }, {"'<='", "array and string"});
  expect_error<ValueTypeError>([&] { eval(col("null") < col("null"), row); },
                               {"'<'", "null and null"});
  expect_error<ValueTypeError>(
      [&] {
        eval(col("xs") < Value::array({1, 2}), row);
      },
      {"'<'", "array and array", "string and int"});
}

// ---------------------------------------------------------------------------------------------
// Logical operators (SER-04)

TEST(SeriesLogical, AndOrReturnAnOperand) {
  const Value row = Value::object({{"zero", 0}, {"x", "x"}, {"empty", ""}, {"n", 5}});
  EXPECT_TRUE(Same(eval(col("zero") & col("x"), row), 0));
  EXPECT_TRUE(Same(eval(col("x") & col("n"), row), 5));
  EXPECT_TRUE(Same(eval(col("x") & col("empty"), row), ""));
  EXPECT_TRUE(Same(eval(col("zero") | col("x"), row), "x"));
  EXPECT_TRUE(Same(eval(col("n") | col("x"), row), 5));
  EXPECT_TRUE(Same(eval(col("empty") | col("zero"), row), 0));
  EXPECT_TRUE(Same(eval((col("n") > 1) & (col("n") < 10), row), true));
  EXPECT_TRUE(Same(eval((col("n") > 7) | (col("n") < 3), row), false));
}

TEST(SeriesLogical, OperandRefersIntoTheRow) {
  const Value row = Value::object({{"x", "x"}, {"n", 5}});
  Value scratch;
  const Value& r = (col("x") & col("n")).evaluate(row, scratch);
  EXPECT_EQ(&r, row.as_object().find("n"));
}

TEST(SeriesLogical, RightSideIsNotEvaluatedWhenDecided) {
  int calls = 0;
  const Series counted = col("n").apply([&calls](const Value& v) {
    ++calls;
    return v;
  });
  const Value row = Value::object({{"t", true}, {"f", false}, {"n", 7}});

  EXPECT_TRUE(Same(eval(col("f") & counted, row), false));
  EXPECT_TRUE(Same(eval(col("t") | counted, row), true));
  // A missing column on the unevaluated side does not raise either.
  EXPECT_TRUE(Same(eval(col("f") & col("missing"), row), false));
  EXPECT_TRUE(Same(eval(col("t") | col("missing"), row), true));
  EXPECT_EQ(calls, 0);

  EXPECT_TRUE(Same(eval(col("t") & counted, row), 7));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(Same(eval(col("f") | counted, row), 7));
  EXPECT_EQ(calls, 2);
}

TEST(SeriesLogical, NotIsBoolOfFalsy) {
  // Falsy per §0: null, false, 0, 0.0, "", [], {}.
  for (const Value& falsy :
       {Value(), Value(false), Value(0), Value(0.0), Value(""), Value::array(), Value::object()}) {
    EXPECT_TRUE(Same(eval(~col("v"), Value::object({{"v", falsy}})), true)) << show(falsy);
  }
  for (const Value& truthy : {Value(true), Value(1), Value(-0.5), Value("0"), Value::array({0}),
                              Value::object({{"k", nullptr}})}) {
    EXPECT_TRUE(Same(eval(~col("v"), Value::object({{"v", truthy}})), false)) << show(truthy);
  }
  EXPECT_TRUE(Same(eval(~~col("v"), Value::object({{"v", 3}})), true));
}

// ---------------------------------------------------------------------------------------------
// SER-05

TEST(SeriesHelpers, IsIn) {
  const Value row = Value::object({{"i", 1}, {"d", 2.0}, {"s", "ell"}, {"k", "b"}});
  EXPECT_TRUE(Same(eval(col("i").isin(Value::array({3, 1})), row), true));
  EXPECT_TRUE(Same(eval(col("i").isin(Value::array({3, "1"})), row), false));
  EXPECT_TRUE(Same(eval(col("d").isin(Value::array({2})), row), true));  // numeric equality
  EXPECT_TRUE(Same(eval(col("i").isin(Value::array()), row), false));
  EXPECT_TRUE(Same(eval(col("k").isin(Value::object({{"a", 1}, {"b", 2}})), row), true));
  EXPECT_TRUE(Same(eval(col("s").isin(Value::object({{"a", 1}})), row), false));
  EXPECT_TRUE(Same(eval(col("i").isin(Value::object({{"1", 1}})), row), false));
  EXPECT_TRUE(Same(eval(col("s").isin("hello"), row), true));
  EXPECT_TRUE(Same(eval(col("s").isin("help"), row), false));
  expect_error<ValueTypeError>([&] { eval(col("i").isin("hello"), row); },
                               {"isin", "int", "string"});
  // The container must be one: rejected when the expression is built.
  expect_error<ValueTypeError>([] { (void)col("i").isin(5); }, {"isin", "int"});
  expect_error<ValueTypeError>([] { (void)col("i").isin(nullptr); }, {"isin", "null"});
}

TEST(SeriesHelpers, Contains) {
  const Value row = Value::object(
      {{"xs", Value::array({1, "a"})}, {"o", Value::object({{"k", 1}})}, {"s", "hello"}, {"n", 5}});
  EXPECT_TRUE(Same(eval(col("xs").contains("a"), row), true));
  EXPECT_TRUE(Same(eval(col("xs").contains(1.0), row), true));
  EXPECT_TRUE(Same(eval(col("xs").contains(2), row), false));
  EXPECT_TRUE(Same(eval(col("o").contains("k"), row), true));
  EXPECT_TRUE(Same(eval(col("o").contains("z"), row), false));
  EXPECT_TRUE(Same(eval(col("o").contains(1), row), false));
  EXPECT_TRUE(Same(eval(col("s").contains("ell"), row), true));
  EXPECT_TRUE(Same(eval(col("s").contains(""), row), true));
  EXPECT_TRUE(Same(eval(col("s").contains("xyz"), row), false));
  expect_error<ValueTypeError>([&] { eval(col("s").contains(1), row); },
                               {"contains", "string and int", "s.contains(1)"});
  expect_error<ValueTypeError>([&] { eval(col("n").contains(1), row); }, {"contains", "int"});
}

TEST(SeriesHelpers, IsAndIsNotNeedSameKindAndEqual) {
  const Value row = Value::object({{"i", 1}, {"t", true}, {"null", nullptr}, {"s", "x"}});
  EXPECT_TRUE(Same(eval(col("i").is_(1), row), true));
  EXPECT_TRUE(Same(eval(col("i").is_(1.0), row), false));
  EXPECT_TRUE(Same(eval(col("i").is_(true), row), false));
  EXPECT_TRUE(Same(eval(col("t").is_(true), row), true));
  EXPECT_TRUE(Same(eval(col("t").is_(1), row), false));
  EXPECT_TRUE(Same(eval(col("null").is_(nullptr), row), true));
  EXPECT_TRUE(Same(eval(col("s").is_("x"), row), true));
  EXPECT_TRUE(Same(eval(col("i").isnot(1.0), row), true));
  EXPECT_TRUE(Same(eval(col("i").isnot(1), row), false));
  EXPECT_TRUE(Same(eval(col("null").isnot(nullptr), row), false));
}

TEST(SeriesHelpers, NullChecks) {
  const Value row = Value::object({{"null", nullptr}, {"zero", 0}});
  EXPECT_TRUE(Same(eval(col("null").isnull(), row), true));
  EXPECT_TRUE(Same(eval(col("zero").isnull(), row), false));
  EXPECT_TRUE(Same(eval(col("null").notnull(), row), false));
  EXPECT_TRUE(Same(eval(col("zero").notnull(), row), true));
  // A missing column is an error, not null.
  expect_error<ColumnDoesNotExist>([&] { eval(col("missing").isnull(), row); }, {"'missing'"});
}

TEST(SeriesHelpers, Abs) {
  const Value row = Value::object({{"i", -5},
                                   {"d", -2.5},
                                   {"min", kMin},
                                   {"max", kMax},
                                   {"s", "x"},
                                   {"null", nullptr},
                                   {"t", true}});
  EXPECT_TRUE(Same(eval(col("i").abs(), row), 5));
  EXPECT_TRUE(Same(eval(col("d").abs(), row), 2.5));
  EXPECT_TRUE(Same(eval(col("max").abs(), row), kMax));
  EXPECT_TRUE(Same(eval((col("min") + 1).abs(), row), kMax));
  EXPECT_TRUE(Same(eval(col("t").abs(), row), 1));  // bool counts as 0/1 (SER-02)
  expect_error<ArithmeticError>([&] { eval(col("min").abs(), row); }, {"overflow", "min.abs()"});
  expect_error_exact<ValueTypeError>([&] { eval(col("s").abs(), row); },
                                     "cannot apply 'abs' to string in s.abs()");
  expect_error<ValueTypeError>([&] { eval(col("null").abs(), row); }, {"abs", "null"});
}

TEST(SeriesHelpers, Apply) {
  const Value row = Value::object({{"name", "bob"}});
  const Series len = col("name").apply(
      [](const Value& v) { return Value(static_cast<std::int64_t>(v.as_string().size())); });
  EXPECT_TRUE(Same(eval(len, row), 3));
  EXPECT_TRUE(Same(eval(len * 2 + 1, row), 7));
  expect_error<InvalidOperation>([] { (void)col("x").apply(nullptr); }, {"callable"});
  // Exceptions from the callable propagate unchanged.
  const Series failing = col("name").apply([](const Value& v) -> Value { return v.as_int(); });
  EXPECT_THROW(eval(failing, row), ValueTypeError);
}

// ---------------------------------------------------------------------------------------------
// Nested access (SER-05)

TEST(SeriesNested, ObjectsAndArrays) {
  const Value row =
      Value::object({{"payload", Value::object({{"inner", Value::object({{"v", 42}})},
                                                {"xs", Value::array({10, 20, 30})}})}});
  EXPECT_TRUE(Same(eval(col("payload")["inner"]["v"], row), 42));
  EXPECT_TRUE(Same(eval(col("payload")[std::string("xs")][0], row), 10));
  EXPECT_TRUE(Same(eval(col("payload")["xs"][2], row), 30));
  EXPECT_TRUE(Same(eval(col("payload")["xs"][-1], row), 30));
  EXPECT_TRUE(Same(eval(col("payload")["xs"][-3], row), 10));
  EXPECT_TRUE(Same(eval(col("payload")["xs"][1] * 2, row), 40));

  // No copy: the result is the row's own element.
  Value scratch;
  const Value& v = col("payload")["inner"]["v"].evaluate(row, scratch);
  EXPECT_EQ(&v, &row["payload"]["inner"]["v"]);
  EXPECT_TRUE(scratch.is_null());
}

TEST(SeriesNested, IntoComputedValues) {
  const Value row = Value::object({{"a", Value::array({1})}, {"b", Value::array({2, 3})}});
  EXPECT_TRUE(Same(eval((col("a") + col("b"))[-1], row), 3));
  EXPECT_TRUE(Same(eval((col("a") + col("b"))[0] + (col("a") + col("b"))[1], row), 3));
  const Series obj = col("a").apply([](const Value&) { return Value::object({{"k", "v"}}); });
  EXPECT_TRUE(Same(eval(obj["k"], row), "v"));
  EXPECT_TRUE(Same(eval(obj["k"] + "!", row), "v!"));
}

TEST(SeriesNested, Errors) {
  const Value row = Value::object(
      {{"o", Value::object({{"k", 1}})}, {"xs", Value::array({1, 2, 3})}, {"n", 5}, {"s", "abc"}});
  expect_error_exact<ColumnDoesNotExist>([&] { eval(col("o")["missing"], row); },
                                         "key 'missing' does not exist in o");
  expect_error<ColumnDoesNotExist>([&] { eval(col("xs")[3], row); },
                                   {"index 3", "xs", "3 elements"});
  expect_error<ColumnDoesNotExist>([&] { eval(col("xs")[-4], row); }, {"index -4", "xs"});
  expect_error<InvalidColumnReference>([&] { eval(col("n")["k"], row); }, {"'k'", "n", "int"});
  expect_error<InvalidColumnReference>([&] { eval(col("n")[0], row); }, {"index 0", "n", "int"});
  expect_error<InvalidColumnReference>([&] { eval(col("s")[0], row); }, {"string"});
  expect_error<InvalidColumnReference>([&] { eval(col("xs")["k"], row); }, {"'k'", "array"});
  expect_error<InvalidColumnReference>([&] { eval(col("o")[0], row); }, {"index 0", "object"});
  expect_error<InvalidColumnReference>([&] { eval(col("o")["k"]["deeper"], row); },
                                       {"'deeper'", "o[\"k\"]", "int"});
}

// ---------------------------------------------------------------------------------------------
// Whole expressions

TEST(SeriesExpression, FahrenheitThreshold) {
  const Series hot = col("temperature") * 9 / 5 + 32 > 150;
  const Series fahrenheit = col("temperature") * 9 / 5 + 32;
  auto row = [](const Value& t) { return Value::object({{"temperature", t}}); };
  EXPECT_TRUE(Same(eval(fahrenheit, row(70)), 158.0));
  EXPECT_TRUE(Same(eval(hot, row(70)), true));
  EXPECT_TRUE(Same(eval(hot, row(50)), false));    // 122
  EXPECT_TRUE(Same(eval(hot, row(65.6)), true));   // 150.08
  EXPECT_TRUE(Same(eval(hot, row(65.5)), false));  // 149.9
  EXPECT_TRUE(Same(eval(hot, row(true)), false));  // 33.8
  expect_error_exact<ValueTypeError>([&] { eval(hot, row("70")); },
                                     "cannot apply '*' to string and int in (temperature * 9)");
  expect_error_exact<ColumnDoesNotExist>(
      [&] {
        eval(hot, Value::object({{"t", 1}}));
      },
      "column 'temperature' does not exist");
}

TEST(SeriesExpression, ScratchIsReusableAcrossRecordsAndKinds) {
  const Series s = col("a") + col("b");
  Value scratch;
  EXPECT_TRUE(Same(s.evaluate(Value::object({{"a", "x"}, {"b", "y"}}), scratch), "xy"));
  EXPECT_TRUE(Same(s.evaluate(Value::object({{"a", 1}, {"b", 2}}), scratch), 3));
  EXPECT_TRUE(
      Same(s.evaluate(Value::object({{"a", Value::array({1})}, {"b", Value::array()}}), scratch),
           Value::array({1})));
  EXPECT_TRUE(Same(s.evaluate(Value::object({{"a", 1.5}, {"b", 2}}), scratch), 3.5));
}

TEST(SeriesExpression, EvaluateCopiesTheResultOut) {
  Value row = Value::object({{"a", "text"}});
  const Value v = eval(col("a"), row);
  row["a"] = 1;
  EXPECT_TRUE(Same(v, "text"));
}

TEST(SeriesExpression, SharedTreeIsEvaluatedConcurrently) {
  const Series s =
      (col("n") * 2 + col("name")["k"].apply([](const Value& v) { return v; })) % 7 > 3;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const int n = t * 10000 + i;
        const Value row = Value::object({{"n", n}, {"name", Value::object({{"k", i}})}});
        const bool expected = (n * 2 + i) % 7 > 3;
        if (!Same(s.evaluate(row), expected)) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(SeriesExpression, NumericExpressionsDoNotAllocate) {
  const Series hot = col("temperature") * 9 / 5 + 32 > 150;
  const Series mixed =
      (((col("a") % 7 - col("b").abs()) * 2 >= col("payload")["xs"][-1]) & ~col("flag").isnull()) |
      (col("a") == 3);
  const Value row = Value::object({{"temperature", 70.5},
                                   {"a", 10},
                                   {"b", -4},
                                   {"flag", true},
                                   {"payload", Value::object({{"xs", Value::array({1, 2})}})}});
  Value scratch;
  long allocations = 0;
  {
    AllocationCounter counter;
    for (int i = 0; i < 100; ++i) {
      (void)hot.evaluate(row, scratch);
      (void)mixed.evaluate(row, scratch);
    }
    allocations = counter.count();
  }
  EXPECT_EQ(allocations, 0);
  EXPECT_TRUE(Same(hot.evaluate(row, scratch), true));
  EXPECT_TRUE(Same(mixed.evaluate(row, scratch), false));  // (10%7 - 4)*2 = -2 >= 2 fails
}

TEST(SeriesExpression, WhereResultsLive) {
  const Value row = Value::object({{"n", 5}, {"s", "x"}});
  Value scratch;
  // A numeric column is returned by reference, not copied into scratch.
  const Value& n = col("n").evaluate(row, scratch);
  EXPECT_EQ(&n, row.as_object().find("n"));
  // A computed number is written into scratch.
  const Value& sum = (col("n") + 1).evaluate(row, scratch);
  EXPECT_EQ(&sum, &scratch);
  EXPECT_TRUE(Same(sum, 6));
  // A constant root refers to the tree's own value.
  const Series five = Series::constant(5);
  EXPECT_TRUE(Same(five.evaluate(row, scratch), 5));
}

TEST(SeriesExpression, BothOperandsComputedIntoScratch) {
  const Value row = Value::object({{"a", "a"},
                                   {"b", "b"},
                                   {"c", "c"},
                                   {"d", "d"},
                                   {"xs", Value::array({1})},
                                   {"ys", Value::array({2})}});
  EXPECT_TRUE(Same(eval((col("a") + col("b")) + (col("c") + col("d")), row), "abcd"));
  EXPECT_TRUE(Same(eval((col("a") + col("b")) == (col("a") + col("b")), row), true));
  EXPECT_TRUE(Same(eval((col("a") + col("b")) < (col("c") + col("d")), row), true));
  EXPECT_TRUE(Same(eval((col("xs") + col("ys")) + (col("ys") + col("xs")), row),
                   Value::array({1, 2, 2, 1})));
  EXPECT_TRUE(Same(eval((col("xs") + col("ys")) > (col("xs") + col("xs")), row), true));
  const Series upper = col("a").apply([](const Value& v) { return Value(v.as_string() + "!"); });
  EXPECT_TRUE(Same(eval(upper + upper, row), "a!a!"));
  EXPECT_TRUE(Same(eval((col("a") + col("b")) & (col("c") + col("d")), row), "cd"));
  EXPECT_TRUE(Same(eval(((col("a") + col("b")) | (col("c") + col("d"))) + "!", row), "ab!"));
}

TEST(SeriesExpression, LogicalResultsAsOperands) {
  const Value row = Value::object({{"zero", 0}, {"n", 5}, {"s", "x"}, {"empty", ""}});
  EXPECT_TRUE(Same(eval((col("zero") | col("n")) + 1, row), 6));
  EXPECT_TRUE(Same(eval((col("n") & col("zero")) + 1, row), 1));
  EXPECT_TRUE(Same(eval((col("empty") | col("s")) + "!", row), "x!"));
  EXPECT_TRUE(Same(eval((col("n") & col("s")).isin("xyz"), row), true));
  EXPECT_TRUE(Same(eval(~(col("zero") | col("empty")), row), true));
}

TEST(SeriesExpression, ComputedOperandsOfHelpers) {
  const Value row = Value::object({{"n", 2}});
  EXPECT_TRUE(Same(eval((col("n") + 1).isin(Value::array({3})), row), true));
  EXPECT_TRUE(Same(eval((col("n") > 1).is_(true), row), true));
  EXPECT_TRUE(Same(eval((col("n") > 1).is_(1), row), false));
  EXPECT_TRUE(Same(eval((col("n") * 1.5).is_(3.0), row), true));
  EXPECT_TRUE(Same(eval((col("n") - 5).abs(), row), 3));
  EXPECT_TRUE(Same(eval((col("n") - 5).isnull(), row), false));
  Value seen;
  EXPECT_TRUE(Same(eval((col("n") * 2)
                            .apply([&seen](const Value& v) {
                              seen = v;
                              return Value(nullptr);
                            })
                            .isnull(),
                        row),
                   true));
  EXPECT_TRUE(Same(seen, 4));
  expect_error<InvalidColumnReference>([&] { eval((col("n") + 1)["k"], row); },
                                       {"'k'", "(n + 1)", "int"});
  expect_error<InvalidColumnReference>([&] { eval((col("n") > 1)[0], row); }, {"bool"});
  expect_error<ValueTypeError>([&] { eval((col("n") + 1).contains(1), row); }, {"contains", "int"});
}

// An Expr written outside this file (like StreamingDataFrame::contains) works as an operand.
class TwiceExpr final : public detail::Expr {
 public:
  const Value& eval(const Value& row, Value& scratch) const override {
    scratch = Value(row["n"].as_int() * 2);
    return scratch;
  }
  std::string describe() const override { return "twice(n)"; }
};

TEST(SeriesExpression, ForeignExpressionsAsOperands) {
  const Series twice = detail::Access::series(std::make_shared<const TwiceExpr>());
  const Value row = Value::object({{"n", 4}, {"s", "x"}});
  EXPECT_TRUE(Same(eval(twice + 1, row), 9));
  EXPECT_TRUE(Same(eval(twice + twice, row), 16));
  EXPECT_TRUE(Same(eval((twice > 7) & twice, row), 8));
  EXPECT_TRUE(Same(eval(twice.abs(), row), 8));
  EXPECT_EQ((twice * 2).describe(), "(twice(n) * 2)");
  expect_error_exact<ValueTypeError>([&] { eval(twice + col("s"), row); },
                                     "cannot apply '+' to int and string in (twice(n) + s)");
}

}  // namespace
}  // namespace streamframe
