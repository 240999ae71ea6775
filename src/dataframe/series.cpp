// Series expression trees (SEMANTICS §6, SER-01..SER-05).
//
// Evaluation contract (see detail::Expr::eval): a node returns a reference that is valid until
// `scratch` is next written or the tree is destroyed. It points into `row` (column and nested
// access), into the node itself (constants: the tree outlives every evaluation), or into
// `scratch`. `row` must not alias `scratch`. A binary node evaluates its left operand into the
// caller's scratch and its right one there too when the left cannot have written it (columns,
// constants and nested reads never do), else into a local Value; it reads the numbers it needs
// before writing its own result into the caller's scratch. A numeric expression therefore never
// touches the heap: a Value holding an int, double or bool does not allocate.
//
// Errors throw (the API returns a Value), but only on the failure path; the throwing helpers
// are out of line and cold so the success path stays small.
#include "streamframe/series.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "streamframe/errors.hpp"

namespace streamframe {
namespace {

using detail::Expr;
using detail::ExprPtr;
using Type = Value::Type;

// ---------------------------------------------------------------------------------------------
// describe()

void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xF];
          out += kHex[static_cast<unsigned char>(c) & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void append_double(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "nan";
    return;
  }
  if (std::isinf(d)) {
    out += d < 0 ? "-inf" : "inf";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view text(buf, ec == std::errc{} ? static_cast<std::size_t>(end - buf) : 0);
  out += text;
  // Keep doubles recognisable as doubles: 9.0, not 9.
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

// JSON-like text of a constant. Unlike Value::to_json it never throws (NaN and Inf print as
// nan/inf): it only feeds messages.
void append_value(std::string& out, const Value& v) {
  switch (v.type()) {
    case Type::null: out += "null"; return;
    case Type::boolean: out += v.as_bool() ? "true" : "false"; return;
    case Type::integer: out += std::to_string(v.as_int()); return;
    case Type::floating: append_double(out, v.as_double()); return;
    case Type::string: append_quoted(out, v.as_string()); return;
    case Type::array: {
      out += '[';
      bool first = true;
      for (const Value& item : v.as_array()) {
        if (!first) out += ", ";
        first = false;
        append_value(out, item);
      }
      out += ']';
      return;
    }
    case Type::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.as_object()) {
        if (!first) out += ", ";
        first = false;
        append_quoted(out, key);
        out += ": ";
        append_value(out, item);
      }
      out += '}';
      return;
    }
  }
}

std::string value_text(const Value& v) {
  std::string out;
  append_value(out, v);
  return out;
}

constexpr std::string_view op_symbol(BinaryOp op) noexcept {
  switch (op) {
    case BinaryOp::add: return "+";
    case BinaryOp::sub: return "-";
    case BinaryOp::mul: return "*";
    case BinaryOp::div: return "/";
    case BinaryOp::mod: return "%";
    case BinaryOp::eq: return "==";
    case BinaryOp::ne: return "!=";
    case BinaryOp::lt: return "<";
    case BinaryOp::le: return "<=";
    case BinaryOp::gt: return ">";
    case BinaryOp::ge: return ">=";
    case BinaryOp::logical_and: return "&";
    case BinaryOp::logical_or: return "|";
  }
  return "?";
}

std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Error paths: out of line and cold.

[[noreturn, gnu::cold, gnu::noinline]] void throw_operand_types(std::string_view op, const Value& a,
                                                                const Value& b, const Expr& expr) {
  throw ValueTypeError(cat({"cannot apply '", op, "' to ", a.type_name(), " and ", b.type_name(),
                            " in ", expr.describe()}));
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_unordered_elements(std::string_view op,
                                                                     const Value& a, const Value& b,
                                                                     const Value& bad_a,
                                                                     const Value& bad_b,
                                                                     const Expr& expr) {
  throw ValueTypeError(cat({"cannot apply '", op, "' to ", a.type_name(), " and ", b.type_name(),
                            " in ", expr.describe(), ": elements of type ", bad_a.type_name(),
                            " and ", bad_b.type_name(), " cannot be ordered"}));
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_overflow(std::string_view op, std::int64_t a,
                                                           std::int64_t b, const Expr& expr) {
  throw ArithmeticError(cat({"integer overflow: ", std::to_string(a), " ", op, " ",
                             std::to_string(b), " does not fit in int64 in ", expr.describe()}));
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_zero_division(BinaryOp op, const Expr& expr) {
  throw ArithmeticError(cat({op == BinaryOp::div ? "division" : "modulo", " by zero in ",
                             expr.describe()}));
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_unary_type(std::string_view op, const Value& v,
                                                             const Expr& expr) {
  throw ValueTypeError(
      cat({"cannot apply '", op, "' to ", v.type_name(), " in ", expr.describe()}));
}

// ---------------------------------------------------------------------------------------------
// Numbers

// A numeric operand: bool counts as the int 0/1 (SER-02).
struct Number {
  bool is_double;
  std::int64_t i;
  double d;

  double as_double() const noexcept { return is_double ? d : static_cast<double>(i); }
};

inline bool to_number(const Value& v, Number& out) {
  switch (v.type()) {
    case Type::integer: out = {false, v.as_int(), 0.0}; return true;
    case Type::floating: out = {true, 0, v.as_double()}; return true;
    case Type::boolean: out = {false, v.as_bool() ? 1 : 0, 0.0}; return true;
    default: return false;
  }
}

// Python's float %: the result takes the divisor's sign; a zero result is signed like it too.
inline double python_fmod(double x, double y) noexcept {
  double r = std::fmod(x, y);
  if (r != 0.0) {
    if ((r < 0.0) != (y < 0.0)) r += y;
  } else {
    r = std::copysign(0.0, y);
  }
  return r;
}

// Python's int %. y == -1 is special-cased: INT64_MIN % -1 overflows in C++ but is 0.
inline std::int64_t python_imod(std::int64_t x, std::int64_t y) noexcept {
  if (y == -1) return 0;
  std::int64_t r = x % y;
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}

// Exact comparison of an int64 with a double (no rounding of large ints to double).
std::partial_ordering compare_int_double(std::int64_t i, double d) noexcept {
  if (std::isnan(d)) return std::partial_ordering::unordered;
  constexpr double kTwo63 = 9223372036854775808.0;
  if (d >= kTwo63) return std::partial_ordering::less;
  if (d < -kTwo63) return std::partial_ordering::greater;
  // d is in [-2^63, 2^63): the conversion truncates toward zero without overflow, and the
  // truncated value converts back to double exactly.
  const auto ti = static_cast<std::int64_t>(d);
  if (i != ti) return i <=> ti;
  return 0.0 <=> (d - static_cast<double>(ti));  // the fractional part decides
}

std::partial_ordering compare_numbers(const Number& a, const Number& b) noexcept {
  if (!a.is_double && !b.is_double) return a.i <=> b.i;
  if (a.is_double && b.is_double) return a.d <=> b.d;
  if (a.is_double) return 0 <=> compare_int_double(b.i, a.d);
  return compare_int_double(a.i, b.d);
}

// SER-03 ordering. Returns false when the pair cannot be ordered; `bad_a`/`bad_b` then point
// at the innermost pair that failed (the operands themselves, or array elements).
bool order(const Value& a, const Value& b, std::partial_ordering& out, const Value*& bad_a,
           const Value*& bad_b) {
  Number x;
  Number y;
  if (to_number(a, x) && to_number(b, y)) {
    out = compare_numbers(x, y);
    return true;
  }
  if (a.is_string() && b.is_string()) {
    // std::char_traits<char> compares as unsigned char: UTF-8 byte order is code point order.
    out = a.as_string().compare(b.as_string()) <=> 0;
    return true;
  }
  if (a.is_array() && b.is_array()) {
    // Lexicographic like Python: skip equal elements, order by the first unequal pair, else
    // by length.
    const Array& xs = a.as_array();
    const Array& ys = b.as_array();
    const std::size_t n = std::min(xs.size(), ys.size());
    for (std::size_t k = 0; k < n; ++k) {
      if (xs[k] == ys[k]) continue;
      return order(xs[k], ys[k], out, bad_a, bad_b);
    }
    out = xs.size() <=> ys.size();
    return true;
  }
  bad_a = &a;
  bad_b = &b;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Leaves

class ColumnExpr final : public Expr {
 public:
  explicit ColumnExpr(std::string name) : name_(std::move(name)) {}

  const Value& eval(const Value& row, Value& /*scratch*/) const override {
    if (!row.is_object()) [[unlikely]]
      fail_not_object(row);
    const Value* v = row.as_object().find(name_);
    if (v == nullptr) [[unlikely]]
      fail_missing();
    return *v;
  }

  std::string describe() const override { return name_; }

 private:
  [[noreturn, gnu::cold, gnu::noinline]] void fail_not_object(const Value& row) const {
    throw InvalidColumnReference(cat({"cannot get column '", name_, "': the record value is ",
                                      row.type_name(), ", not an object"}));
  }
  [[noreturn, gnu::cold, gnu::noinline]] void fail_missing() const {
    throw ColumnDoesNotExist(cat({"column '", name_, "' does not exist"}));
  }

  std::string name_;
};

class ConstantExpr final : public Expr {
 public:
  explicit ConstantExpr(Value value) : value_(std::move(value)) {}
  // The tree outlives the evaluation, so the constant is returned without a copy.
  const Value& eval(const Value& /*row*/, Value& /*scratch*/) const override { return value_; }
  std::string describe() const override { return value_text(value_); }

 private:
  Value value_;
};

// ---------------------------------------------------------------------------------------------
// Binary operators

// True when evaluating `e` may write into its scratch. Columns, constants and nested access
// over them only return references into the row or the tree.
bool may_write_scratch(const Expr& e);

class BinaryExpr : public Expr {
 public:
  BinaryExpr(BinaryOp op, ExprPtr lhs, ExprPtr rhs)
      : op_(op),
        lhs_(std::move(lhs)),
        rhs_(std::move(rhs)),
        needs_local_(may_write_scratch(*lhs_) && may_write_scratch(*rhs_)) {}

  std::string describe() const override {
    return cat({"(", lhs_->describe(), " ", op_symbol(op_), " ", rhs_->describe(), ")"});
  }

 protected:
  // Evaluates both operands. The left one goes into the caller's scratch; the right one too
  // unless both may write there, then into `local`. The caller reads what it needs from the
  // operands before it writes its own result into `scratch`.
  std::pair<const Value&, const Value&> operands(const Value& row, Value& scratch,
                                                 std::optional<Value>& local) const {
    const Value& a = lhs_->eval(row, scratch);
    const Value& b = rhs_->eval(row, needs_local_ ? local.emplace() : scratch);
    return {a, b};
  }

  BinaryOp op_;
  ExprPtr lhs_;
  ExprPtr rhs_;
  bool needs_local_;
};

// + - * / % (SER-02). One class per operator so the dispatch is resolved at compile time.
template <BinaryOp Op>
class ArithmeticExpr final : public BinaryExpr {
 public:
  ArithmeticExpr(ExprPtr lhs, ExprPtr rhs) : BinaryExpr(Op, std::move(lhs), std::move(rhs)) {}

  const Value& eval(const Value& row, Value& scratch) const override {
    std::optional<Value> local;
    const auto [a, b] = operands(row, scratch, local);
    Number x;
    Number y;
    if (to_number(a, x) && to_number(b, y)) [[likely]] {
      if (!x.is_double && !y.is_double) {
        scratch = integer_op(x.i, y.i);
      } else {
        scratch = Value(double_op(x.as_double(), y.as_double()));
      }
      return scratch;
    }
    if constexpr (Op == BinaryOp::add) {
      if (a.is_string() && b.is_string()) {
        std::string joined;
        joined.reserve(a.as_string().size() + b.as_string().size());
        joined.append(a.as_string()).append(b.as_string());
        scratch = Value(std::move(joined));
        return scratch;
      }
      if (a.is_array() && b.is_array()) {
        Array joined;
        joined.reserve(a.as_array().size() + b.as_array().size());
        joined.insert(joined.end(), a.as_array().begin(), a.as_array().end());
        joined.insert(joined.end(), b.as_array().begin(), b.as_array().end());
        scratch = Value(std::move(joined));
        return scratch;
      }
    }
    throw_operand_types(op_symbol(Op), a, b, *this);
  }

 private:
  Value integer_op(std::int64_t x, std::int64_t y) const {
    std::int64_t r = 0;
    if constexpr (Op == BinaryOp::add) {
      if (__builtin_add_overflow(x, y, &r)) [[unlikely]]
        throw_overflow("+", x, y, *this);
    } else if constexpr (Op == BinaryOp::sub) {
      if (__builtin_sub_overflow(x, y, &r)) [[unlikely]]
        throw_overflow("-", x, y, *this);
    } else if constexpr (Op == BinaryOp::mul) {
      if (__builtin_mul_overflow(x, y, &r)) [[unlikely]]
        throw_overflow("*", x, y, *this);
    } else if constexpr (Op == BinaryOp::div) {
      // `/` is true division: always a double.
      if (y == 0) [[unlikely]]
        throw_zero_division(Op, *this);
      return Value(static_cast<double>(x) / static_cast<double>(y));
    } else {
      static_assert(Op == BinaryOp::mod);
      if (y == 0) [[unlikely]]
        throw_zero_division(Op, *this);
      r = python_imod(x, y);
    }
    return Value(r);
  }

  double double_op(double x, double y) const {
    if constexpr (Op == BinaryOp::add) {
      return x + y;
    } else if constexpr (Op == BinaryOp::sub) {
      return x - y;
    } else if constexpr (Op == BinaryOp::mul) {
      return x * y;
    } else if constexpr (Op == BinaryOp::div) {
      if (y == 0.0) [[unlikely]]
        throw_zero_division(Op, *this);
      return x / y;
    } else {
      if (y == 0.0) [[unlikely]]
        throw_zero_division(Op, *this);
      return python_fmod(x, y);
    }
  }
};

// == != < <= > >= (SER-03).
template <BinaryOp Op>
class ComparisonExpr final : public BinaryExpr {
 public:
  ComparisonExpr(ExprPtr lhs, ExprPtr rhs) : BinaryExpr(Op, std::move(lhs), std::move(rhs)) {}

  const Value& eval(const Value& row, Value& scratch) const override {
    std::optional<Value> local;
    const auto [a, b] = operands(row, scratch, local);
    bool result;
    if constexpr (Op == BinaryOp::eq) {
      result = a == b;
    } else if constexpr (Op == BinaryOp::ne) {
      result = a != b;
    } else {
      result = ordered(a, b);
    }
    scratch = Value(result);
    return scratch;
  }

 private:
  bool ordered(const Value& a, const Value& b) const {
    // Fast path for the common number-number case.
    Number x;
    Number y;
    std::partial_ordering c = std::partial_ordering::unordered;
    if (to_number(a, x) && to_number(b, y)) [[likely]] {
      c = compare_numbers(x, y);
    } else {
      const Value* bad_a = nullptr;
      const Value* bad_b = nullptr;
      if (!order(a, b, c, bad_a, bad_b)) {
        if (bad_a == &a) throw_operand_types(op_symbol(Op), a, b, *this);
        throw_unordered_elements(op_symbol(Op), a, b, *bad_a, *bad_b, *this);
      }
    }
    // An unordered pair (NaN) makes every ordering comparison false, as in Python.
    if constexpr (Op == BinaryOp::lt) {
      return std::is_lt(c);
    } else if constexpr (Op == BinaryOp::le) {
      return std::is_lteq(c);
    } else if constexpr (Op == BinaryOp::gt) {
      return std::is_gt(c);
    } else {
      static_assert(Op == BinaryOp::ge);
      return std::is_gteq(c);
    }
  }
};

// & | (SER-04): return one of the operands; the right one is only evaluated when needed.
template <BinaryOp Op>
class LogicalExpr final : public BinaryExpr {
 public:
  LogicalExpr(ExprPtr lhs, ExprPtr rhs) : BinaryExpr(Op, std::move(lhs), std::move(rhs)) {}

  const Value& eval(const Value& row, Value& scratch) const override {
    // The left result may live in `scratch`; it is dead once the right side is evaluated.
    const Value& a = lhs_->eval(row, scratch);
    const bool decided = (Op == BinaryOp::logical_and) ? !a.truthy() : a.truthy();
    if (decided) return a;
    return rhs_->eval(row, scratch);
  }
};

// ---------------------------------------------------------------------------------------------
// Unary nodes. Each evaluates its operand into the caller's scratch and reads what it needs
// before writing its own result there.

class UnaryExpr : public Expr {
 public:
  explicit UnaryExpr(ExprPtr operand) : operand_(std::move(operand)) {}
  const Expr& operand() const noexcept { return *operand_; }

 protected:
  ExprPtr operand_;
};

class NotExpr final : public UnaryExpr {
 public:
  using UnaryExpr::UnaryExpr;
  const Value& eval(const Value& row, Value& scratch) const override {
    const bool result = !operand_->eval(row, scratch).truthy();
    scratch = Value(result);
    return scratch;
  }
  std::string describe() const override { return cat({"(~", operand_->describe(), ")"}); }
};

class NullCheckExpr final : public UnaryExpr {
 public:
  NullCheckExpr(ExprPtr operand, bool want_null)
      : UnaryExpr(std::move(operand)), want_null_(want_null) {}
  const Value& eval(const Value& row, Value& scratch) const override {
    const bool result = operand_->eval(row, scratch).is_null() == want_null_;
    scratch = Value(result);
    return scratch;
  }
  std::string describe() const override {
    return cat({operand_->describe(), want_null_ ? ".isnull()" : ".notnull()"});
  }

 private:
  bool want_null_;
};

class AbsExpr final : public UnaryExpr {
 public:
  using UnaryExpr::UnaryExpr;
  const Value& eval(const Value& row, Value& scratch) const override {
    const Value& v = operand_->eval(row, scratch);
    Number n;
    if (!to_number(v, n)) [[unlikely]]
      throw_unary_type("abs", v, *this);
    if (n.is_double) {
      scratch = Value(std::fabs(n.d));
    } else {
      if (n.i == std::numeric_limits<std::int64_t>::min()) [[unlikely]]
        fail_overflow();
      scratch = Value(n.i < 0 ? -n.i : n.i);
    }
    return scratch;
  }
  std::string describe() const override { return cat({operand_->describe(), ".abs()"}); }

 private:
  [[noreturn, gnu::cold, gnu::noinline]] void fail_overflow() const {
    throw ArithmeticError(cat({"integer overflow: abs(", std::to_string(std::numeric_limits<std::int64_t>::min()),
                               ") does not fit in int64 in ", describe()}));
  }
};

class ApplyExpr final : public UnaryExpr {
 public:
  ApplyExpr(ExprPtr operand, std::function<Value(const Value&)> f)
      : UnaryExpr(std::move(operand)), f_(std::move(f)) {}
  const Value& eval(const Value& row, Value& scratch) const override {
    Value result = f_(operand_->eval(row, scratch));
    scratch = std::move(result);
    return scratch;
  }
  std::string describe() const override { return cat({operand_->describe(), ".apply(<function>)"}); }

 private:
  std::function<Value(const Value&)> f_;
};

// value.isin(container) with a constant container; checked to be array/object/string at
// definition.
class IsInExpr final : public UnaryExpr {
 public:
  IsInExpr(ExprPtr operand, Value container)
      : UnaryExpr(std::move(operand)), container_(std::move(container)) {}
  const Value& eval(const Value& row, Value& scratch) const override {
    const Value& v = operand_->eval(row, scratch);
    bool found = false;
    switch (container_.type()) {
      case Type::array:
        for (const Value& item : container_.as_array()) {
          if (item == v) {
            found = true;
            break;
          }
        }
        break;
      case Type::object:
        // JSON object keys are strings: any other kind is simply not a key.
        found = v.is_string() && container_.as_object().contains(v.as_string());
        break;
      case Type::string:
        if (!v.is_string()) [[unlikely]]
          throw_operand_types("isin", v, container_, *this);
        found = container_.as_string().find(v.as_string()) != std::string::npos;
        break;
      default:
        break;  // rejected by Series::isin
    }
    scratch = Value(found);
    return scratch;
  }
  std::string describe() const override {
    return cat({operand_->describe(), ".isin(", value_text(container_), ")"});
  }

 private:
  Value container_;
};

// container.contains(item): the operand is the container, evaluated per record.
class ContainsExpr final : public UnaryExpr {
 public:
  ContainsExpr(ExprPtr operand, Value item)
      : UnaryExpr(std::move(operand)), item_(std::move(item)) {}
  const Value& eval(const Value& row, Value& scratch) const override {
    const Value& c = operand_->eval(row, scratch);
    bool found = false;
    switch (c.type()) {
      case Type::array:
        for (const Value& element : c.as_array()) {
          if (element == item_) {
            found = true;
            break;
          }
        }
        break;
      case Type::object:
        found = item_.is_string() && c.as_object().contains(item_.as_string());
        break;
      case Type::string:
        if (!item_.is_string()) [[unlikely]]
          throw_operand_types("contains", c, item_, *this);
        found = c.as_string().find(item_.as_string()) != std::string::npos;
        break;
      default:
        throw_operand_types("contains", c, item_, *this);
    }
    scratch = Value(found);
    return scratch;
  }
  std::string describe() const override {
    return cat({operand_->describe(), ".contains(", value_text(item_), ")"});
  }

 private:
  Value item_;
};

// is_ / isnot: same kind and equal (Δ: Python compares identity).
class IsExpr final : public UnaryExpr {
 public:
  IsExpr(ExprPtr operand, Value other, bool negate)
      : UnaryExpr(std::move(operand)), other_(std::move(other)), negate_(negate) {}
  const Value& eval(const Value& row, Value& scratch) const override {
    const Value& v = operand_->eval(row, scratch);
    const bool same = v.type() == other_.type() && v == other_;
    scratch = Value(same != negate_);
    return scratch;
  }
  std::string describe() const override {
    return cat({operand_->describe(), negate_ ? ".isnot(" : ".is_(", value_text(other_), ")"});
  }

 private:
  Value other_;
  bool negate_;
};

// s["k"]: the result refers into the operand (the row, or scratch when the operand was
// computed), so nested reads do not copy.
class KeyExpr final : public UnaryExpr {
 public:
  KeyExpr(ExprPtr operand, std::string key) : UnaryExpr(std::move(operand)), key_(std::move(key)) {}
  const Value& eval(const Value& row, Value& scratch) const override {
    const Value& v = operand_->eval(row, scratch);
    if (!v.is_object()) [[unlikely]]
      fail_not_object(v);
    const Value* item = v.as_object().find(key_);
    if (item == nullptr) [[unlikely]]
      fail_missing();
    return *item;
  }
  std::string describe() const override {
    std::string out = operand_->describe();
    out += '[';
    append_quoted(out, key_);
    out += ']';
    return out;
  }

 private:
  [[noreturn, gnu::cold, gnu::noinline]] void fail_not_object(const Value& v) const {
    throw InvalidColumnReference(cat({"cannot get key '", key_, "' of ", operand_->describe(),
                                      ": it is ", v.type_name(), ", not an object"}));
  }
  [[noreturn, gnu::cold, gnu::noinline]] void fail_missing() const {
    throw ColumnDoesNotExist(
        cat({"key '", key_, "' does not exist in ", operand_->describe()}));
  }

  std::string key_;
};

class IndexExpr final : public UnaryExpr {
 public:
  IndexExpr(ExprPtr operand, int index) : UnaryExpr(std::move(operand)), index_(index) {}
  const Value& eval(const Value& row, Value& scratch) const override {
    const Value& v = operand_->eval(row, scratch);
    if (!v.is_array()) [[unlikely]]
      fail_not_array(v);
    const Array& items = v.as_array();
    const auto size = static_cast<std::int64_t>(items.size());
    const std::int64_t at = index_ < 0 ? index_ + size : index_;
    if (at < 0 || at >= size) [[unlikely]]
      fail_out_of_range(items.size());
    return items[static_cast<std::size_t>(at)];
  }
  std::string describe() const override {
    return cat({operand_->describe(), "[", std::to_string(index_), "]"});
  }

 private:
  [[noreturn, gnu::cold, gnu::noinline]] void fail_not_array(const Value& v) const {
    throw InvalidColumnReference(cat({"cannot get index ", std::to_string(index_), " of ",
                                      operand_->describe(), ": it is ", v.type_name(),
                                      ", not an array"}));
  }
  [[noreturn, gnu::cold, gnu::noinline]] void fail_out_of_range(std::size_t size) const {
    throw ColumnDoesNotExist(cat({"index ", std::to_string(index_), " is out of range for ",
                                  operand_->describe(), " (an array of ", std::to_string(size),
                                  " elements)"}));
  }

  int index_;
};

bool may_write_scratch(const Expr& e) {
  if (dynamic_cast<const ColumnExpr*>(&e) != nullptr) return false;
  if (dynamic_cast<const ConstantExpr*>(&e) != nullptr) return false;
  if (const auto* key = dynamic_cast<const KeyExpr*>(&e)) return may_write_scratch(key->operand());
  if (const auto* index = dynamic_cast<const IndexExpr*>(&e)) {
    return may_write_scratch(index->operand());
  }
  return true;
}

template <class Node, class... Args>
Series make(Args&&... args) {
  return Series(std::make_shared<const Node>(std::forward<Args>(args)...));
}

}  // namespace

// -------------------------------------------------------------------------------------------
// Series

Series Series::column(std::string name) { return make<ColumnExpr>(std::move(name)); }

Series Series::constant(Value value) { return make<ConstantExpr>(std::move(value)); }

Series Series::operator[](std::string key) const { return make<KeyExpr>(expr_, std::move(key)); }

Series Series::operator[](int index) const { return make<IndexExpr>(expr_, index); }

Series Series::isin(Value container) const {
  if (!container.is_array() && !container.is_object() && !container.is_string()) {
    throw ValueTypeError(cat({"isin needs an array, object or string, got ",
                              container.type_name(), " in ", describe(), ".isin(",
                              value_text(container), ")"}));
  }
  return make<IsInExpr>(expr_, std::move(container));
}

Series Series::contains(Value item) const { return make<ContainsExpr>(expr_, std::move(item)); }

Series Series::is_(Value other) const { return make<IsExpr>(expr_, std::move(other), false); }

Series Series::isnot(Value other) const { return make<IsExpr>(expr_, std::move(other), true); }

Series Series::isnull() const { return make<NullCheckExpr>(expr_, true); }

Series Series::notnull() const { return make<NullCheckExpr>(expr_, false); }

Series Series::abs() const { return make<AbsExpr>(expr_); }

Series Series::apply(std::function<Value(const Value&)> f) const {
  if (!f) throw InvalidOperation(cat({"apply on ", describe(), " needs a callable, got an empty one"}));
  return make<ApplyExpr>(expr_, std::move(f));
}

Value Series::evaluate(const Value& row) const {
  Value scratch;
  const Value& result = expr_->eval(row, scratch);
  if (&result == &scratch) return scratch;  // a local: moved out, not copied
  return result;
}

Series make_binary(BinaryOp op, Series lhs, Series rhs) {
  ExprPtr a = lhs.expr();
  ExprPtr b = rhs.expr();
  switch (op) {
    case BinaryOp::add: return make<ArithmeticExpr<BinaryOp::add>>(std::move(a), std::move(b));
    case BinaryOp::sub: return make<ArithmeticExpr<BinaryOp::sub>>(std::move(a), std::move(b));
    case BinaryOp::mul: return make<ArithmeticExpr<BinaryOp::mul>>(std::move(a), std::move(b));
    case BinaryOp::div: return make<ArithmeticExpr<BinaryOp::div>>(std::move(a), std::move(b));
    case BinaryOp::mod: return make<ArithmeticExpr<BinaryOp::mod>>(std::move(a), std::move(b));
    case BinaryOp::eq: return make<ComparisonExpr<BinaryOp::eq>>(std::move(a), std::move(b));
    case BinaryOp::ne: return make<ComparisonExpr<BinaryOp::ne>>(std::move(a), std::move(b));
    case BinaryOp::lt: return make<ComparisonExpr<BinaryOp::lt>>(std::move(a), std::move(b));
    case BinaryOp::le: return make<ComparisonExpr<BinaryOp::le>>(std::move(a), std::move(b));
    case BinaryOp::gt: return make<ComparisonExpr<BinaryOp::gt>>(std::move(a), std::move(b));
    case BinaryOp::ge: return make<ComparisonExpr<BinaryOp::ge>>(std::move(a), std::move(b));
    case BinaryOp::logical_and:
      return make<LogicalExpr<BinaryOp::logical_and>>(std::move(a), std::move(b));
    case BinaryOp::logical_or:
      return make<LogicalExpr<BinaryOp::logical_or>>(std::move(a), std::move(b));
  }
  throw InvalidOperation("make_binary: unknown operator");
}

Series operator~(const Series& s) { return make<NotExpr>(s.expr()); }

}  // namespace streamframe
