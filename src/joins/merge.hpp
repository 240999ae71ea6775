// JOIN-03: the built-in ways a left and a right value become one joined value.
#pragma once

#include <utility>

#include "streamframe/joins.hpp"
#include "streamframe/value.hpp"

namespace streamframe::detail {

// A join's merge: the user's MergeFn, or a built-in mode. `join` names the operation in errors.
class Merger {
 public:
  Merger(OnMerge mode, MergeFn fn, const char* join)
      : mode_(mode), fn_(std::move(fn)), join_(join) {}

  // `left` is the left record's value, taken over (the built-ins build on it in place);
  // `right` is copied. A null side is read as {} by the built-ins.
  Value operator()(Value&& left, const Value& right) const;

 private:
  OnMerge mode_;
  MergeFn fn_;
  const char* join_;
};

}  // namespace streamframe::detail
