// Aggregations (SEMANTICS §8): what agg::* builds, and the accumulator every window keeps per
// aggregation. Built-ins run without a Value allocation per record for numbers: the
// accumulator is a fixed struct, not a Value array.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "streamframe/value.hpp"
#include "streamframe/windows.hpp"

namespace streamframe::detail {

// SER-02 `+` and SER-03 order of two Values (series.cpp), for sum/mean and min/max.
Value add_values(const Value& a, const Value& b);
// -1, 0, 1; pairs that cannot be ordered => ValueTypeError.
int compare_values(const Value& a, const Value& b);

enum class AggKind : std::uint8_t {
  count,
  sum,
  mean,
  min,
  max,
  earliest,
  latest,
  first,
  last,
  reduce,
  custom,
  collect,
  custom_collect,
};

struct AggregationSpec {
  AggKind kind = AggKind::count;
  std::optional<std::string> column;
  ReduceFn reducer;
  InitializeFn initializer;
  MergeFn merger;
  std::shared_ptr<const Aggregator> aggregator;
  std::shared_ptr<const Collector> collector;

  bool is_collector() const noexcept {
    return kind == AggKind::collect || kind == AggKind::custom_collect;
  }
  // Whether two accumulators can be combined (session merges, hopping slices).
  bool mergeable() const;
  // The accumulator's name in the store (WIN-12 `<col>/<state_suffix>`).
  std::string state_suffix() const;
  // The input of this aggregation from a record's value (§8 column rules).
  const Value& input(const Value& value) const;
};

// One aggregation's accumulator. `v` is the running value (sum, min, reduce's accumulator,
// a custom aggregator's Value), `n` counts inputs, `order` is the timestamp (earliest,
// latest) or the processing sequence (first, last) of the input `v` came from.
struct Acc {
  Value v;
  std::int64_t n = 0;
  std::int64_t order = 0;
};

void acc_init(const AggregationSpec& spec, Acc& acc);
void acc_add(const AggregationSpec& spec, Acc& acc, const Value& input, std::int64_t ts,
             std::int64_t seq);
Value acc_result(const AggregationSpec& spec, const Acc& acc);
// `later` holds inputs that came after or beside `into`'s; the result is as if one
// accumulator had seen both.
void acc_merge(const AggregationSpec& spec, Acc& into, const Acc& later);

// Stored form: [v, n, order].
Value acc_to_value(const Acc& acc);
Acc acc_from_value(const Value& v);

}  // namespace streamframe::detail
