#include "joins/merge.hpp"

#include <string>
#include <utility>

#include "streamframe/errors.hpp"

namespace streamframe::detail {
namespace {

// A built-in merge reads null as {} and refuses anything else that is not an object.
Object take_object(Value&& v, const char* join, const char* side) {
  if (v.is_null()) return {};
  if (!v.is_object()) {
    throw ValueTypeError(std::string(join) + ": the " + side + " value is " +
                         std::string(v.type_name()) +
                         ", not an object; the built-in merges join objects (give a merge "
                         "function for other values)");
  }
  return std::move(v.as_object());
}

}  // namespace

Value Merger::operator()(Value&& left, const Value& right) const {
  if (fn_) return fn_(left, right);
  Value right_copy = right;
  Object l = take_object(std::move(left), join_, "left");
  Object r = take_object(std::move(right_copy), join_, "right");
  switch (mode_) {
    case OnMerge::raise:
      for (auto& [k, v] : r) {
        if (l.contains(k)) {
          throw OverlappingColumns(std::string(join_) + ": column '" + k +
                                   "' is in both the left and the right value; choose "
                                   "OnMerge::keep_left, OnMerge::keep_right or a merge function");
        }
      }
      l.reserve(l.size() + r.size());
      for (auto& [k, v] : r) l.append_unchecked(k, std::move(v));
      return Value(std::move(l));
    case OnMerge::keep_left:
      // The right's keys in its order, the left's values where both have a key.
      for (auto& [k, v] : l) r.set(k, std::move(v));
      return Value(std::move(r));
    case OnMerge::keep_right:
      for (auto& [k, v] : r) l.set(k, std::move(v));
      return Value(std::move(l));
  }
  return Value(std::move(l));
}

}  // namespace streamframe::detail
