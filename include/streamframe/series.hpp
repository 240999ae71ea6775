// Series: column expressions evaluated per record without a user callable (SEMANTICS §6).
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "streamframe/value.hpp"

namespace streamframe {

namespace detail {
struct Access;  // the library's way in (src/dataframe/access.hpp)
// One node of an expression tree. Trees are built once when the pipeline is declared and
// shared read-only by every worker, so evaluation must not mutate them.
class Expr {
 public:
  virtual ~Expr() = default;
  // Evaluates against `row`. The result either refers into `row` (column access) or is
  // written into `scratch` and returned: column reads do not copy the column's value.
  virtual const Value& eval(const Value& row, Value& scratch) const = 0;
  // Human-readable form for error messages, e.g. "(temperature * 9)".
  virtual std::string describe() const = 0;
};
using ExprPtr = std::shared_ptr<const Expr>;
}  // namespace detail

class Series {
 public:
  // A column of the record's value (missing => ColumnDoesNotExist; value not an object =>
  // InvalidColumnReference).
  [[nodiscard]] static Series column(std::string name);
  // A constant.
  [[nodiscard]] static Series constant(Value value);
  // Nested access: s["k"] on objects, s[i] on arrays (negative from the end).
  [[nodiscard]] Series operator[](std::string key) const;
  [[nodiscard]] Series operator[](const char* key) const { return (*this)[std::string(key)]; }
  [[nodiscard]] Series operator[](int index) const;

  // SER-05.
  [[nodiscard]] Series isin(Value container) const;  // element of array / key of object / substring
  [[nodiscard]] Series contains(Value item) const;   // roles swapped
  [[nodiscard]] Series is_(Value other) const;       // same kind and equal
  [[nodiscard]] Series isnot(Value other) const;
  [[nodiscard]] Series isnull() const;
  [[nodiscard]] Series notnull() const;
  [[nodiscard]] Series abs() const;
  [[nodiscard]] Series apply(std::function<Value(const Value&)> f) const;

  // Evaluates against a record value (what the pipeline does per record).
  [[nodiscard]] Value evaluate(const Value& row) const;
  const Value& evaluate(const Value& row, Value& scratch) const {
    return expr_->eval(row, scratch);
  }
  std::string describe() const { return expr_->describe(); }

  // A Series is not a bool: `if (sdf["x"] > 1)` must not compile (SDF-20).
  explicit operator bool() const = delete;

 private:
  friend struct detail::Access;
  explicit Series(detail::ExprPtr expr) : expr_(std::move(expr)) {}
  detail::ExprPtr expr_;
};

enum class BinaryOp { add, sub, mul, div, mod, eq, ne, lt, le, gt, ge, logical_and, logical_or };
[[nodiscard]] Series make_binary(BinaryOp op, const Series& lhs, const Series& rhs);
[[nodiscard]] Series operator~(const Series& s);  // bool(!truthy)

template <class T>
concept ValueLike =
    std::constructible_from<Value, T> && !std::derived_from<std::remove_cvref_t<T>, Series>;

#define STREAMFRAME_SERIES_OPERATOR(sym, op)                                          \
  [[nodiscard]] inline Series operator sym(const Series& a, const Series& b) {        \
    return make_binary(BinaryOp::op, a, b);                                           \
  }                                                                                   \
  template <ValueLike T>                                                              \
  [[nodiscard]] Series operator sym(const Series& a, T&& b) {                         \
    return make_binary(BinaryOp::op, a, Series::constant(Value(std::forward<T>(b)))); \
  }                                                                                   \
  template <ValueLike T>                                                              \
  [[nodiscard]] Series operator sym(T&& a, const Series& b) {                         \
    return make_binary(BinaryOp::op, Series::constant(Value(std::forward<T>(a))), b); \
  }

STREAMFRAME_SERIES_OPERATOR(+, add)
STREAMFRAME_SERIES_OPERATOR(-, sub)
STREAMFRAME_SERIES_OPERATOR(*, mul)
STREAMFRAME_SERIES_OPERATOR(/, div)
STREAMFRAME_SERIES_OPERATOR(%, mod)
STREAMFRAME_SERIES_OPERATOR(==, eq)
STREAMFRAME_SERIES_OPERATOR(!=, ne)
STREAMFRAME_SERIES_OPERATOR(<, lt)
STREAMFRAME_SERIES_OPERATOR(<=, le)
STREAMFRAME_SERIES_OPERATOR(>, gt)
STREAMFRAME_SERIES_OPERATOR(>=, ge)
STREAMFRAME_SERIES_OPERATOR(&, logical_and)
STREAMFRAME_SERIES_OPERATOR(|, logical_or)

#undef STREAMFRAME_SERIES_OPERATOR

}  // namespace streamframe
