// Series expression trees (SEMANTICS §6, SER-01..SER-05).
//
// Evaluation. Inside a tree, nodes talk through `Node::operand`: a numeric result (bool, int,
// double) travels by value in an `Operand` and is never stored in a Value; anything else is a
// reference into the row (column and nested reads, no copy), into the tree (constants: the tree
// outlives every evaluation) or into the caller's scratch (computed strings, arrays, objects).
// Only the root, through `Expr::eval`, writes a numeric result into the caller's scratch, once.
// So `sdf["temperature"] * 9 / 5 + 32 > 150` does no heap allocation and writes one Value.
//
// Scratch sharing. A binary node passes the caller's scratch to its left operand, and to its
// right one too unless both may write there (see `writes_scratch`); then the right one gets a
// local Value. A node reads what it needs from its operands before writing its own result.
// `row` must not alias `scratch`.
//
// Errors throw (the API returns a Value) but only on the failure path; the throwing helpers are
// out of line and cold so the success path stays small.
#include "streamframe/series.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "dataframe/access.hpp"
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
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
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
    case Type::null:
      out += "null";
      return;
    case Type::boolean:
      out += v.as_bool() ? "true" : "false";
      return;
    case Type::integer:
      out += std::to_string(v.as_int());
      return;
    case Type::floating:
      append_double(out, v.as_double());
      return;
    case Type::string:
      append_quoted(out, v.as_string());
      return;
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
    case BinaryOp::add:
      return "+";
    case BinaryOp::sub:
      return "-";
    case BinaryOp::mul:
      return "*";
    case BinaryOp::div:
      return "/";
    case BinaryOp::mod:
      return "%";
    case BinaryOp::eq:
      return "==";
    case BinaryOp::ne:
      return "!=";
    case BinaryOp::lt:
      return "<";
    case BinaryOp::le:
      return "<=";
    case BinaryOp::gt:
      return ">";
    case BinaryOp::ge:
      return ">=";
    case BinaryOp::logical_and:
      return "&";
    case BinaryOp::logical_or:
      return "|";
  }
  return "?";
}

std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Numbers and operands

// What a node evaluated to. A numeric result (bool, int, double) is carried by value and
// never stored in a Value; anything else refers to a Value in the row, the tree or scratch,
// never to a numeric one. 16 bytes, so it is returned in registers.
class Operand {
 public:
  static Operand of_bool(bool b) noexcept { return Operand(Kind::boolean, b ? 1 : 0); }
  static Operand of_int(std::int64_t i) noexcept { return Operand(Kind::integer, i); }
  static Operand of_double(double d) noexcept {
    Operand o(Kind::floating, 0);
    o.d_ = d;
    return o;
  }
  // A Value that is not a number.
  static Operand ref(const Value& v) noexcept {
    Operand o(Kind::value, 0);
    o.v_ = &v;
    return o;
  }
  // Any Value: a numeric one is read into a number.
  static Operand of(const Value& v) {
    switch (v.type()) {
      case Type::boolean:
        return of_bool(v.as_bool());
      case Type::integer:
        return of_int(v.as_int());
      case Type::floating:
        return of_double(v.as_double());
      default:
        return ref(v);
    }
  }

  bool is_number() const noexcept { return kind_ != Kind::value; }
  bool is_double() const noexcept { return kind_ == Kind::floating; }
  // Numbers: the int (a bool counts as 0/1), the double, either as a double.
  std::int64_t i() const noexcept { return i_; }
  double d() const noexcept { return d_; }
  double as_double() const noexcept { return is_double() ? d_ : static_cast<double>(i_); }
  // Non-numbers.
  const Value& value() const noexcept { return *v_; }

  Type type() const noexcept {
    switch (kind_) {
      case Kind::boolean:
        return Type::boolean;
      case Kind::integer:
        return Type::integer;
      case Kind::floating:
        return Type::floating;
      default:
        return v_->type();
    }
  }
  std::string_view type_name() const noexcept { return Value::type_name(type()); }
  bool truthy() const noexcept {
    switch (kind_) {
      case Kind::boolean:
      case Kind::integer:
        return i_ != 0;
      case Kind::floating:
        return d_ != 0.0;  // NaN is truthy, as in Python
      default:
        return v_->truthy();
    }
  }
  // Numbers only.
  Value to_value() const noexcept {
    switch (kind_) {
      case Kind::boolean:
        return Value(i_ != 0);
      case Kind::integer:
        return Value(i_);
      default:
        return Value(d_);
    }
  }

 private:
  enum class Kind : std::uint8_t { boolean, integer, floating, value };
  Operand(Kind kind, std::int64_t i) noexcept : i_(i), kind_(kind) {}

  union {
    std::int64_t i_;
    double d_;
    const Value* v_;
  };
  Kind kind_;
};
static_assert(sizeof(Operand) == 16 && std::is_trivially_copyable_v<Operand>);

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

// Exact comparison of an int64 with a double (large ints are not rounded to double first).
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

// Both operands are numbers.
inline std::partial_ordering compare_numbers(const Operand& a, const Operand& b) noexcept {
  if (!a.is_double() && !b.is_double()) return a.i() <=> b.i();
  if (a.is_double() && b.is_double()) return a.d() <=> b.d();
  // `0 <=> ordering` reverses an ordering (the 0 is not a null pointer).
  if (a.is_double())
    return 0 <=> compare_int_double(b.i(), a.d());  // NOLINT(modernize-use-nullptr)
  return compare_int_double(a.i(), b.d());
}

// SER-03 equality of an operand with a Value (numbers numerically, as Value's operator==).
bool operand_equals(const Operand& a, const Value& b) {
  if (!a.is_number()) return a.value() == b;
  const Operand o = Operand::of(b);
  return o.is_number() && std::is_eq(compare_numbers(a, o));
}

// SER-03 ordering of two Values. Returns false when the pair cannot be ordered; `bad_a` and
// `bad_b` then point at the innermost pair that failed (the Values or array elements).
bool order(const Value& a, const Value& b, std::partial_ordering& out, const Value*& bad_a,
           const Value*& bad_b) {
  const Operand x = Operand::of(a);
  const Operand y = Operand::of(b);
  if (x.is_number() && y.is_number()) {
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
// Error paths: out of line and cold.

[[noreturn, gnu::cold, gnu::noinline]] void throw_operand_types(std::string_view op,
                                                                std::string_view a,
                                                                std::string_view b,
                                                                const Expr& expr) {
  throw ValueTypeError(
      cat({"cannot apply '", op, "' to ", a, " and ", b, " in ", expr.describe()}));
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_unordered_elements(std::string_view op,
                                                                     const Value& bad_a,
                                                                     const Value& bad_b,
                                                                     const Expr& expr) {
  throw ValueTypeError(
      cat({"cannot apply '", op, "' to array and array in ", expr.describe(), ": elements of type ",
           bad_a.type_name(), " and ", bad_b.type_name(), " cannot be ordered"}));
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_overflow(std::string_view op, std::int64_t a,
                                                           std::int64_t b, const Expr& expr) {
  throw ArithmeticError(cat({"integer overflow: ", std::to_string(a), " ", op, " ",
                             std::to_string(b), " does not fit in int64 in ", expr.describe()}));
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_zero_division(BinaryOp op, const Expr& expr) {
  throw ArithmeticError(
      cat({op == BinaryOp::div ? "division" : "modulo", " by zero in ", expr.describe()}));
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_unary_type(std::string_view op,
                                                             std::string_view type,
                                                             const Expr& expr) {
  throw ValueTypeError(cat({"cannot apply '", op, "' to ", type, " in ", expr.describe()}));
}

// ---------------------------------------------------------------------------------------------
// Nodes

class Node : public Expr {
 public:
  // Evaluates against `row`; see the file comment for where the result lives.
  virtual Operand operand(const Value& row, Value& scratch) const = 0;
  // False when neither operand() nor eval() can write into `scratch`.
  virtual bool writes_scratch() const noexcept = 0;

  // The public entry point: a numeric result is written into `scratch` here, once.
  const Value& eval(const Value& row, Value& scratch) const override {
    const Operand r = operand(row, scratch);
    if (!r.is_number()) return r.value();
    scratch = r.to_value();
    return scratch;
  }
};
using NodePtr = std::shared_ptr<const Node>;

// An Expr built elsewhere (e.g. StreamingDataFrame::contains) used as an operand.
class ForeignExpr final : public Node {
 public:
  explicit ForeignExpr(ExprPtr inner) : inner_(std::move(inner)) {}
  Operand operand(const Value& row, Value& scratch) const override {
    return Operand::of(inner_->eval(row, scratch));
  }
  const Value& eval(const Value& row, Value& scratch) const override {
    return inner_->eval(row, scratch);
  }
  bool writes_scratch() const noexcept override { return true; }
  std::string describe() const override { return inner_->describe(); }

 private:
  ExprPtr inner_;
};

NodePtr adopt(const ExprPtr& e) {
  if (auto node = std::dynamic_pointer_cast<const Node>(e)) return node;
  return std::make_shared<const ForeignExpr>(e);
}

// ---------------------------------------------------------------------------------------------
// Leaves

class ColumnExpr final : public Node {
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
  Operand operand(const Value& row, Value& scratch) const override {
    return Operand::of(ColumnExpr::eval(row, scratch));
  }
  bool writes_scratch() const noexcept override { return false; }
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

class ConstantExpr final : public Node {
 public:
  explicit ConstantExpr(Value value) : value_(std::move(value)), operand_(Operand::of(value_)) {}
  const Value& eval(const Value& /*row*/, Value& /*scratch*/) const override { return value_; }
  Operand operand(const Value& /*row*/, Value& /*scratch*/) const override { return operand_; }
  bool writes_scratch() const noexcept override { return false; }
  std::string describe() const override { return value_text(value_); }

 private:
  Value value_;
  Operand operand_;  // may refer to value_: nodes are never copied or moved once built
};

// ---------------------------------------------------------------------------------------------
// Binary operators

class BinaryExpr : public Node {
 public:
  BinaryExpr(BinaryOp op, NodePtr lhs, NodePtr rhs)
      : op_(op),
        lhs_(std::move(lhs)),
        rhs_(std::move(rhs)),
        children_write_(lhs_->writes_scratch() || rhs_->writes_scratch()),
        needs_local_(lhs_->writes_scratch() && rhs_->writes_scratch()) {}

  bool writes_scratch() const noexcept override { return children_write_; }
  std::string describe() const override {
    return cat({"(", lhs_->describe(), " ", op_symbol(op_), " ", rhs_->describe(), ")"});
  }

 protected:
  BinaryOp op_;
  NodePtr lhs_;
  NodePtr rhs_;
  bool children_write_;
  bool needs_local_;
};

// Evaluates both operands, then `Derived::combine(a, b, scratch)`, which reads what it needs
// from them before writing anything into `scratch`.
template <class Derived>
class CombiningExpr : public BinaryExpr {
 public:
  using BinaryExpr::BinaryExpr;

  Operand operand(const Value& row, Value& scratch) const override {
    const auto& self = static_cast<const Derived&>(*this);
    if (!needs_local_) [[likely]] {
      // At most one operand can write: both may use the caller's scratch.
      const Operand a = lhs_->operand(row, scratch);
      const Operand b = rhs_->operand(row, scratch);
      return self.combine(a, b, scratch);
    }
    Value local;
    const Operand a = lhs_->operand(row, scratch);
    const Operand b = rhs_->operand(row, local);
    return self.combine(a, b, scratch);  // never returns a reference into `local`
  }
};

// + - * / % (SER-02). One class per operator so the dispatch is resolved at compile time.
template <BinaryOp Op>
class ArithmeticExpr final : public CombiningExpr<ArithmeticExpr<Op>> {
  using Base = CombiningExpr<ArithmeticExpr<Op>>;

 public:
  ArithmeticExpr(NodePtr lhs, NodePtr rhs) : Base(Op, std::move(lhs), std::move(rhs)) {}

  Operand combine(Operand a, Operand b, Value& scratch) const {
    if (a.is_number() && b.is_number()) [[likely]] {
      if (!a.is_double() && !b.is_double()) return integer_op(a.i(), b.i());
      return double_op(a.as_double(), b.as_double());
    }
    if constexpr (Op == BinaryOp::add) {
      if (!a.is_number() && !b.is_number()) {
        const Value& u = a.value();
        const Value& v = b.value();
        // Build the result before assigning: `u` or `v` may live in `scratch`.
        if (u.is_string() && v.is_string()) {
          std::string joined;
          joined.reserve(u.as_string().size() + v.as_string().size());
          joined.append(u.as_string()).append(v.as_string());
          scratch = Value(std::move(joined));
          return Operand::ref(scratch);
        }
        if (u.is_array() && v.is_array()) {
          Array joined;
          joined.reserve(u.as_array().size() + v.as_array().size());
          joined.insert(joined.end(), u.as_array().begin(), u.as_array().end());
          joined.insert(joined.end(), v.as_array().begin(), v.as_array().end());
          scratch = Value(std::move(joined));
          return Operand::ref(scratch);
        }
      }
    }
    throw_operand_types(op_symbol(Op), a.type_name(), b.type_name(), *this);
  }

  bool writes_scratch() const noexcept override {
    return Op == BinaryOp::add || Base::writes_scratch();
  }

 private:
  Operand integer_op(std::int64_t x, std::int64_t y) const {
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
      return Operand::of_double(static_cast<double>(x) / static_cast<double>(y));
    } else {
      static_assert(Op == BinaryOp::mod);
      if (y == 0) [[unlikely]]
        throw_zero_division(Op, *this);
      r = python_imod(x, y);
    }
    return Operand::of_int(r);
  }

  Operand double_op(double x, double y) const {
    if constexpr (Op == BinaryOp::add) {
      return Operand::of_double(x + y);
    } else if constexpr (Op == BinaryOp::sub) {
      return Operand::of_double(x - y);
    } else if constexpr (Op == BinaryOp::mul) {
      return Operand::of_double(x * y);
    } else if constexpr (Op == BinaryOp::div) {
      if (y == 0.0) [[unlikely]]
        throw_zero_division(Op, *this);
      return Operand::of_double(x / y);
    } else {
      if (y == 0.0) [[unlikely]]
        throw_zero_division(Op, *this);
      return Operand::of_double(python_fmod(x, y));
    }
  }
};

// == != < <= > >= (SER-03). The result is a bool.
template <BinaryOp Op>
class ComparisonExpr final : public CombiningExpr<ComparisonExpr<Op>> {
  using Base = CombiningExpr<ComparisonExpr<Op>>;

 public:
  ComparisonExpr(NodePtr lhs, NodePtr rhs) : Base(Op, std::move(lhs), std::move(rhs)) {}

  Operand combine(Operand a, Operand b, Value& /*scratch*/) const {
    if constexpr (Op == BinaryOp::eq || Op == BinaryOp::ne) {
      bool equal;
      if (a.is_number() && b.is_number()) {
        equal = std::is_eq(compare_numbers(a, b));
      } else if (!a.is_number() && !b.is_number()) {
        equal = a.value() == b.value();
      } else {
        equal = false;  // a number never equals another kind
      }
      return Operand::of_bool((Op == BinaryOp::eq) == equal);
    } else {
      std::partial_ordering c = std::partial_ordering::unordered;
      if (a.is_number() && b.is_number()) [[likely]] {
        c = compare_numbers(a, b);
      } else {
        c = order_values(a, b);
      }
      // An unordered pair (NaN) makes every ordering comparison false, as in Python.
      if constexpr (Op == BinaryOp::lt) {
        return Operand::of_bool(std::is_lt(c));
      } else if constexpr (Op == BinaryOp::le) {
        return Operand::of_bool(std::is_lteq(c));
      } else if constexpr (Op == BinaryOp::gt) {
        return Operand::of_bool(std::is_gt(c));
      } else {
        static_assert(Op == BinaryOp::ge);
        return Operand::of_bool(std::is_gteq(c));
      }
    }
  }

 private:
  std::partial_ordering order_values(Operand a, Operand b) const {
    if (a.is_number() || b.is_number()) {
      throw_operand_types(op_symbol(Op), a.type_name(), b.type_name(), *this);
    }
    std::partial_ordering c = std::partial_ordering::unordered;
    const Value* bad_a = nullptr;
    const Value* bad_b = nullptr;
    if (!order(a.value(), b.value(), c, bad_a, bad_b)) [[unlikely]] {
      if (bad_a == &a.value()) {
        throw_operand_types(op_symbol(Op), a.type_name(), b.type_name(), *this);
      }
      throw_unordered_elements(op_symbol(Op), *bad_a, *bad_b, *this);
    }
    return c;
  }
};

// & | (SER-04): the result is one of the operands; the right one is evaluated only when the
// left one does not decide. Both get the caller's scratch: the left result is dead by then.
template <BinaryOp Op>
class LogicalExpr final : public BinaryExpr {
 public:
  LogicalExpr(NodePtr lhs, NodePtr rhs) : BinaryExpr(Op, std::move(lhs), std::move(rhs)) {}

  Operand operand(const Value& row, Value& scratch) const override {
    const Operand a = lhs_->operand(row, scratch);
    if (decides(a.truthy())) return a;
    return rhs_->operand(row, scratch);
  }
  // Keeps references into the row as they are (a numeric column is not copied).
  const Value& eval(const Value& row, Value& scratch) const override {
    const Value& a = lhs_->eval(row, scratch);
    if (decides(a.truthy())) return a;
    return rhs_->eval(row, scratch);
  }

 private:
  static bool decides(bool left_truthy) noexcept {
    return Op == BinaryOp::logical_and ? !left_truthy : left_truthy;
  }
};

// ---------------------------------------------------------------------------------------------
// Unary nodes. Each passes the caller's scratch to its operand and reads what it needs before
// writing its own result.

class UnaryExpr : public Node {
 public:
  explicit UnaryExpr(NodePtr operand) : operand_(std::move(operand)) {}
  bool writes_scratch() const noexcept override { return operand_->writes_scratch(); }

 protected:
  NodePtr operand_;
};

class NotExpr final : public UnaryExpr {
 public:
  using UnaryExpr::UnaryExpr;
  Operand operand(const Value& row, Value& scratch) const override {
    return Operand::of_bool(!operand_->operand(row, scratch).truthy());
  }
  std::string describe() const override { return cat({"(~", operand_->describe(), ")"}); }
};

class NullCheckExpr final : public UnaryExpr {
 public:
  NullCheckExpr(NodePtr operand, bool want_null)
      : UnaryExpr(std::move(operand)), want_null_(want_null) {}
  Operand operand(const Value& row, Value& scratch) const override {
    const Operand v = operand_->operand(row, scratch);
    const bool is_null = !v.is_number() && v.value().is_null();
    return Operand::of_bool(is_null == want_null_);
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
  Operand operand(const Value& row, Value& scratch) const override {
    const Operand v = operand_->operand(row, scratch);
    if (!v.is_number()) [[unlikely]]
      throw_unary_type("abs", v.type_name(), *this);
    if (v.is_double()) return Operand::of_double(std::fabs(v.d()));
    if (v.i() == std::numeric_limits<std::int64_t>::min()) [[unlikely]]
      fail_overflow();
    return Operand::of_int(v.i() < 0 ? -v.i() : v.i());  // a bool counts as 0/1
  }
  std::string describe() const override { return cat({operand_->describe(), ".abs()"}); }

 private:
  [[noreturn, gnu::cold, gnu::noinline]] void fail_overflow() const {
    throw ArithmeticError(
        cat({"integer overflow: abs(", std::to_string(std::numeric_limits<std::int64_t>::min()),
             ") does not fit in int64 in ", describe()}));
  }
};

class ApplyExpr final : public UnaryExpr {
 public:
  ApplyExpr(NodePtr operand, std::function<Value(const Value&)> f)
      : UnaryExpr(std::move(operand)), f_(std::move(f)) {}
  Operand operand(const Value& row, Value& scratch) const override {
    const Operand v = operand_->operand(row, scratch);
    Value result = v.is_number() ? f_(v.to_value()) : f_(v.value());
    if (result.is_number() || result.is_bool()) return Operand::of(result);
    scratch = std::move(result);
    return Operand::ref(scratch);
  }
  bool writes_scratch() const noexcept override { return true; }
  std::string describe() const override {
    return cat({operand_->describe(), ".apply(<function>)"});
  }

 private:
  std::function<Value(const Value&)> f_;
};

// value.isin(container) with a constant container, checked to be an array, an object or a
// string by Series::isin.
class IsInExpr final : public UnaryExpr {
 public:
  IsInExpr(NodePtr operand, Value container)
      : UnaryExpr(std::move(operand)), container_(std::move(container)) {}
  Operand operand(const Value& row, Value& scratch) const override {
    const Operand v = operand_->operand(row, scratch);
    bool found = false;
    switch (container_.type()) {
      case Type::array:
        for (const Value& item : container_.as_array()) {
          if (operand_equals(v, item)) {
            found = true;
            break;
          }
        }
        break;
      case Type::object:
        // JSON object keys are strings: any other kind is simply not a key.
        found = !v.is_number() && v.value().is_string() &&
                container_.as_object().contains(v.value().as_string());
        break;
      default:  // a string
        if (v.is_number() || !v.value().is_string()) [[unlikely]]
          throw_operand_types("isin", v.type_name(), container_.type_name(), *this);
        found = container_.as_string().find(v.value().as_string()) != std::string::npos;
        break;
    }
    return Operand::of_bool(found);
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
  ContainsExpr(NodePtr operand, Value item)
      : UnaryExpr(std::move(operand)), item_(std::move(item)), item_operand_(Operand::of(item_)) {}
  Operand operand(const Value& row, Value& scratch) const override {
    const Operand c = operand_->operand(row, scratch);
    if (c.is_number()) [[unlikely]]
      throw_operand_types("contains", c.type_name(), item_.type_name(), *this);
    const Value& container = c.value();
    bool found = false;
    switch (container.type()) {
      case Type::array:
        for (const Value& element : container.as_array()) {
          if (operand_equals(item_operand_, element)) {
            found = true;
            break;
          }
        }
        break;
      case Type::object:
        found = item_.is_string() && container.as_object().contains(item_.as_string());
        break;
      case Type::string:
        if (!item_.is_string()) [[unlikely]]
          throw_operand_types("contains", container.type_name(), item_.type_name(), *this);
        found = container.as_string().find(item_.as_string()) != std::string::npos;
        break;
      default:
        throw_operand_types("contains", container.type_name(), item_.type_name(), *this);
    }
    return Operand::of_bool(found);
  }
  std::string describe() const override {
    return cat({operand_->describe(), ".contains(", value_text(item_), ")"});
  }

 private:
  Value item_;
  Operand item_operand_;  // may refer to item_
};

// is_ / isnot: same kind and equal (Δ: Python compares identity).
class IsExpr final : public UnaryExpr {
 public:
  IsExpr(NodePtr operand, Value other, bool negate)
      : UnaryExpr(std::move(operand)), other_(std::move(other)), negate_(negate) {}
  Operand operand(const Value& row, Value& scratch) const override {
    const Operand v = operand_->operand(row, scratch);
    const bool same = v.type() == other_.type() && operand_equals(v, other_);
    return Operand::of_bool(same != negate_);
  }
  std::string describe() const override {
    return cat({operand_->describe(), negate_ ? ".isnot(" : ".is_(", value_text(other_), ")"});
  }

 private:
  Value other_;
  bool negate_;
};

// s["k"] and s[i]: the result refers into the operand's Value (the row, or scratch when the
// operand was computed), so nested reads do not copy.
class KeyExpr final : public UnaryExpr {
 public:
  KeyExpr(NodePtr operand, std::string key) : UnaryExpr(std::move(operand)), key_(std::move(key)) {}
  Operand operand(const Value& row, Value& scratch) const override {
    return Operand::of(KeyExpr::eval(row, scratch));
  }
  const Value& eval(const Value& row, Value& scratch) const override {
    const Operand v = operand_->operand(row, scratch);
    if (v.is_number() || !v.value().is_object()) [[unlikely]]
      fail_not_object(v.type_name());
    const Value* item = v.value().as_object().find(key_);
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
  [[noreturn, gnu::cold, gnu::noinline]] void fail_not_object(std::string_view type) const {
    throw InvalidColumnReference(cat({"cannot get key '", key_, "' of ", operand_->describe(),
                                      ": it is ", type, ", not an object"}));
  }
  [[noreturn, gnu::cold, gnu::noinline]] void fail_missing() const {
    throw ColumnDoesNotExist(cat({"key '", key_, "' does not exist in ", operand_->describe()}));
  }

  std::string key_;
};

class IndexExpr final : public UnaryExpr {
 public:
  IndexExpr(NodePtr operand, int index) : UnaryExpr(std::move(operand)), index_(index) {}
  Operand operand(const Value& row, Value& scratch) const override {
    return Operand::of(IndexExpr::eval(row, scratch));
  }
  const Value& eval(const Value& row, Value& scratch) const override {
    const Operand v = operand_->operand(row, scratch);
    if (v.is_number() || !v.value().is_array()) [[unlikely]]
      fail_not_array(v.type_name());
    const Array& items = v.value().as_array();
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
  [[noreturn, gnu::cold, gnu::noinline]] void fail_not_array(std::string_view type) const {
    throw InvalidColumnReference(cat({"cannot get index ", std::to_string(index_), " of ",
                                      operand_->describe(), ": it is ", type, ", not an array"}));
  }
  [[noreturn, gnu::cold, gnu::noinline]] void fail_out_of_range(std::size_t size) const {
    throw ColumnDoesNotExist(
        cat({"index ", std::to_string(index_), " is out of range for ", operand_->describe(),
             " (an array of ", std::to_string(size), " elements)"}));
  }

  int index_;
};

template <class N, class... Args>
Series make(Args&&... args) {
  return detail::Access::series(std::make_shared<const N>(std::forward<Args>(args)...));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Series

Series Series::column(std::string name) {
  return make<ColumnExpr>(std::move(name));
}

Series Series::constant(Value value) {
  return make<ConstantExpr>(std::move(value));
}

Series Series::operator[](std::string key) const {
  return make<KeyExpr>(adopt(expr_), std::move(key));
}

Series Series::operator[](int index) const {
  return make<IndexExpr>(adopt(expr_), index);
}

Series Series::isin(Value container) const {
  if (!container.is_array() && !container.is_object() && !container.is_string()) {
    throw ValueTypeError(cat({"isin needs an array, object or string, got ", container.type_name(),
                              " in ", describe(), ".isin(", value_text(container), ")"}));
  }
  return make<IsInExpr>(adopt(expr_), std::move(container));
}

Series Series::contains(Value item) const {
  return make<ContainsExpr>(adopt(expr_), std::move(item));
}

Series Series::is_(Value other) const {
  return make<IsExpr>(adopt(expr_), std::move(other), false);
}

Series Series::isnot(Value other) const {
  return make<IsExpr>(adopt(expr_), std::move(other), true);
}

Series Series::isnull() const {
  return make<NullCheckExpr>(adopt(expr_), true);
}

Series Series::notnull() const {
  return make<NullCheckExpr>(adopt(expr_), false);
}

Series Series::abs() const {
  return make<AbsExpr>(adopt(expr_));
}

Series Series::apply(std::function<Value(const Value&)> f) const {
  if (!f) {
    throw InvalidOperation(cat({"apply on ", describe(), " needs a callable, got an empty one"}));
  }
  return make<ApplyExpr>(adopt(expr_), std::move(f));
}

Value Series::evaluate(const Value& row) const {
  Value scratch;
  const Value& result = expr_->eval(row, scratch);
  if (&result == &scratch) return scratch;  // a local: moved out, not copied
  return result;
}

Series make_binary(BinaryOp op, const Series& lhs, const Series& rhs) {
  NodePtr a = adopt(detail::Access::expr(lhs));
  NodePtr b = adopt(detail::Access::expr(rhs));
  switch (op) {
    case BinaryOp::add:
      return make<ArithmeticExpr<BinaryOp::add>>(std::move(a), std::move(b));
    case BinaryOp::sub:
      return make<ArithmeticExpr<BinaryOp::sub>>(std::move(a), std::move(b));
    case BinaryOp::mul:
      return make<ArithmeticExpr<BinaryOp::mul>>(std::move(a), std::move(b));
    case BinaryOp::div:
      return make<ArithmeticExpr<BinaryOp::div>>(std::move(a), std::move(b));
    case BinaryOp::mod:
      return make<ArithmeticExpr<BinaryOp::mod>>(std::move(a), std::move(b));
    case BinaryOp::eq:
      return make<ComparisonExpr<BinaryOp::eq>>(std::move(a), std::move(b));
    case BinaryOp::ne:
      return make<ComparisonExpr<BinaryOp::ne>>(std::move(a), std::move(b));
    case BinaryOp::lt:
      return make<ComparisonExpr<BinaryOp::lt>>(std::move(a), std::move(b));
    case BinaryOp::le:
      return make<ComparisonExpr<BinaryOp::le>>(std::move(a), std::move(b));
    case BinaryOp::gt:
      return make<ComparisonExpr<BinaryOp::gt>>(std::move(a), std::move(b));
    case BinaryOp::ge:
      return make<ComparisonExpr<BinaryOp::ge>>(std::move(a), std::move(b));
    case BinaryOp::logical_and:
      return make<LogicalExpr<BinaryOp::logical_and>>(std::move(a), std::move(b));
    case BinaryOp::logical_or:
      return make<LogicalExpr<BinaryOp::logical_or>>(std::move(a), std::move(b));
  }
  throw InvalidOperation("make_binary: unknown operator");
}

Series operator~(const Series& s) {
  return make<NotExpr>(adopt(detail::Access::expr(s)));
}

namespace detail {

Value add_values(const Value& a, const Value& b) {
  const Operand x = Operand::of(a);
  const Operand y = Operand::of(b);
  if (x.is_number() && y.is_number()) [[likely]] {
    if (!x.is_double() && !y.is_double()) {
      std::int64_t r = 0;
      if (__builtin_add_overflow(x.i(), y.i(), &r)) [[unlikely]] {
        throw ArithmeticError(cat({"integer overflow: ", std::to_string(x.i()), " + ",
                                   std::to_string(y.i()), " does not fit in int64"}));
      }
      return Value(r);
    }
    return Value(x.as_double() + y.as_double());
  }
  if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
  if (a.is_array() && b.is_array()) {
    Array joined = a.as_array();
    joined.insert(joined.end(), b.as_array().begin(), b.as_array().end());
    return Value(std::move(joined));
  }
  throw ValueTypeError(cat({"cannot apply '+' to ", a.type_name(), " and ", b.type_name()}));
}

int compare_values(const Value& a, const Value& b) {
  std::partial_ordering out = std::partial_ordering::equivalent;
  const Value* bad_a = nullptr;
  const Value* bad_b = nullptr;
  if (!order(a, b, out, bad_a, bad_b)) {
    throw ValueTypeError(cat({"cannot compare ", bad_a->type_name(), " and ", bad_b->type_name()}));
  }
  if (out == std::partial_ordering::less) return -1;
  if (out == std::partial_ordering::greater) return 1;
  return 0;  // equal, or unordered (NaN): keep what is there
}

}  // namespace detail

}  // namespace streamframe
