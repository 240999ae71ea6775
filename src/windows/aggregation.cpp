#include "windows/aggregation.hpp"

#include <string>
#include <utility>

#include "dataframe/access.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

Value Aggregator::merge(const Value&, const Value&) const {
  throw ConfigError("aggregator '" + state_suffix() + "' cannot merge accumulators");
}

namespace {

std::shared_ptr<const detail::AggregationSpec> make(detail::AggKind kind,
                                                    std::optional<std::string> column) {
  auto spec = std::make_shared<detail::AggregationSpec>();
  spec->kind = kind;
  spec->column = std::move(column);
  return spec;
}

}  // namespace

Aggregation::Aggregation(std::shared_ptr<const Aggregator> custom) {
  if (!custom) throw ConfigError("agg::custom() needs an aggregator");
  auto spec = std::make_shared<detail::AggregationSpec>();
  spec->kind = detail::AggKind::custom;
  spec->column = custom->column();
  spec->aggregator = std::move(custom);
  spec_ = std::move(spec);
}

Aggregation::Aggregation(std::shared_ptr<const Collector> custom) {
  if (!custom) throw ConfigError("agg::custom() needs a collector");
  auto spec = std::make_shared<detail::AggregationSpec>();
  spec->kind = detail::AggKind::custom_collect;
  spec->column = custom->column();
  spec->collector = std::move(custom);
  spec_ = std::move(spec);
}

namespace agg {
using detail::AggKind;
Aggregation count(std::optional<std::string> c) {
  return detail::Access::aggregation(make(AggKind::count, std::move(c)));
}
Aggregation sum(std::optional<std::string> c) {
  return detail::Access::aggregation(make(AggKind::sum, std::move(c)));
}
Aggregation mean(std::optional<std::string> c) {
  return detail::Access::aggregation(make(AggKind::mean, std::move(c)));
}
Aggregation min(std::optional<std::string> c) {
  return detail::Access::aggregation(make(AggKind::min, std::move(c)));
}
Aggregation max(std::optional<std::string> c) {
  return detail::Access::aggregation(make(AggKind::max, std::move(c)));
}
Aggregation earliest(std::optional<std::string> c) {
  return detail::Access::aggregation(make(AggKind::earliest, std::move(c)));
}
Aggregation latest(std::optional<std::string> c) {
  return detail::Access::aggregation(make(AggKind::latest, std::move(c)));
}
Aggregation first(std::optional<std::string> c) {
  return detail::Access::aggregation(make(AggKind::first, std::move(c)));
}
Aggregation last(std::optional<std::string> c) {
  return detail::Access::aggregation(make(AggKind::last, std::move(c)));
}
Aggregation collect(std::optional<std::string> c) {
  return detail::Access::aggregation(make(AggKind::collect, std::move(c)));
}
Aggregation reduce(ReduceFn reducer, InitializeFn initializer, MergeFn merger) {
  if (!reducer || !initializer)
    throw ConfigError("agg::reduce() needs a reducer and an initializer");
  auto spec = std::make_shared<detail::AggregationSpec>();
  spec->kind = AggKind::reduce;
  spec->reducer = std::move(reducer);
  spec->initializer = std::move(initializer);
  spec->merger = std::move(merger);
  return detail::Access::aggregation(std::move(spec));
}
Aggregation custom(std::shared_ptr<const Aggregator> aggregator) {
  return Aggregation(std::move(aggregator));
}
Aggregation custom(std::shared_ptr<const Collector> collector) {
  return Aggregation(std::move(collector));
}
}  // namespace agg

namespace detail {

bool AggregationSpec::mergeable() const {
  switch (kind) {
    case AggKind::reduce:
      return static_cast<bool>(merger);
    case AggKind::custom:
      return aggregator->can_merge();
    default:
      return true;
  }
}

std::string AggregationSpec::state_suffix() const {
  switch (kind) {
    case AggKind::count:
      return "count";
    case AggKind::sum:
      return "sum";
    case AggKind::mean:
      return "mean";
    case AggKind::min:
      return "min";
    case AggKind::max:
      return "max";
    case AggKind::earliest:
      return "earliest";
    case AggKind::latest:
      return "latest";
    case AggKind::first:
      return "first";
    case AggKind::last:
      return "last";
    case AggKind::reduce:
      return "reduce";
    case AggKind::custom:
      return aggregator->state_suffix();
    case AggKind::collect:
    case AggKind::custom_collect:
      return "collect";
  }
  return "?";
}

const Value& AggregationSpec::input(const Value& value) const {
  if (!column) return value;
  if (!value.is_object()) {
    throw ValueTypeError("aggregation on column '" + *column + "' needs an object value, got " +
                         std::string(value.type_name()));
  }
  if (const Value* v = value.find(*column)) return *v;
  if (is_collector()) {
    throw ColumnDoesNotExist("column '" + *column + "' does not exist in the value collected");
  }
  static const Value null;
  return null;
}

void acc_init(const AggregationSpec& spec, Acc& acc) {
  acc.n = 0;
  acc.order = 0;
  switch (spec.kind) {
    case AggKind::sum:
    case AggKind::mean:
      acc.v = Value(std::int64_t{0});
      break;
    case AggKind::custom:
      acc.v = spec.aggregator->initialize();
      break;
    default:
      acc.v = Value();
  }
}

void acc_add(const AggregationSpec& spec, Acc& acc, const Value& input, std::int64_t ts,
             std::int64_t seq) {
  switch (spec.kind) {
    case AggKind::count:
      if (!input.is_null()) ++acc.n;
      return;
    case AggKind::sum:
    case AggKind::mean:
      if (input.is_null()) return;
      // Numbers in place: no temporary Value for the common case.
      if (acc.v.is_int() && input.is_int()) {
        std::int64_t r = 0;
        if (!__builtin_add_overflow(acc.v.as_int(), input.as_int(), &r)) {
          acc.v = Value(r);
          ++acc.n;
          return;
        }
      } else if (acc.v.is_number() && input.is_number() &&
                 (acc.v.is_double() || input.is_double())) {
        acc.v = Value(acc.v.as_double() + input.as_double());
        ++acc.n;
        return;
      }
      acc.v = add_values(acc.v, input);
      ++acc.n;
      return;
    case AggKind::min:
    case AggKind::max:
      if (input.is_null()) return;
      if (acc.n == 0) {
        acc.v = input;
        acc.n = 1;
        return;
      }
      {
        const int c = compare_values(input, acc.v);
        if (spec.kind == AggKind::min ? c < 0 : c > 0) acc.v = input;
      }
      return;
    case AggKind::earliest:
      if (input.is_null()) return;
      if (acc.n == 0 || ts < acc.order) {
        acc.v = input;
        acc.order = ts;
        acc.n = 1;
      }
      return;
    case AggKind::latest:
      if (input.is_null()) return;
      if (acc.n == 0 || ts >= acc.order) {
        acc.v = input;
        acc.order = ts;
        acc.n = 1;
      }
      return;
    case AggKind::first:
      if (input.is_null() || acc.n != 0) return;
      acc.v = input;
      acc.order = seq;
      acc.n = 1;
      return;
    case AggKind::last:
      if (input.is_null()) return;
      acc.v = input;
      acc.order = seq;
      acc.n = 1;
      return;
    case AggKind::reduce:
      acc.v = acc.v.is_null() ? spec.initializer(input) : spec.reducer(acc.v, input);
      ++acc.n;
      return;
    case AggKind::custom:
      acc.v = spec.aggregator->agg(acc.v, input, ts);
      ++acc.n;
      return;
    case AggKind::collect:
    case AggKind::custom_collect:
      return;  // collected values live apart (the window's items)
  }
}

Value acc_result(const AggregationSpec& spec, const Acc& acc) {
  switch (spec.kind) {
    case AggKind::count:
      return Value(acc.n);
    case AggKind::mean:
      if (acc.n == 0) return Value();
      return Value(acc.v.as_double() / static_cast<double>(acc.n));
    case AggKind::custom:
      return spec.aggregator->result(acc.v);
    default:
      return acc.v;
  }
}

void acc_merge(const AggregationSpec& spec, Acc& into, const Acc& later) {
  switch (spec.kind) {
    case AggKind::count:
      into.n += later.n;
      return;
    case AggKind::sum:
    case AggKind::mean:
      if (later.n == 0) return;
      into.v = add_values(into.v, later.v);
      into.n += later.n;
      return;
    case AggKind::min:
    case AggKind::max:
      if (later.n == 0) return;
      if (into.n == 0) {
        into = later;
        return;
      }
      {
        const int c = compare_values(later.v, into.v);
        if (spec.kind == AggKind::min ? c < 0 : c > 0) into.v = later.v;
      }
      return;
    case AggKind::earliest:
      if (later.n != 0 && (into.n == 0 || later.order < into.order)) into = later;
      return;
    case AggKind::latest:
      if (later.n != 0 && (into.n == 0 || later.order >= into.order)) into = later;
      return;
    case AggKind::first:
      if (later.n != 0 && (into.n == 0 || later.order < into.order)) into = later;
      return;
    case AggKind::last:
      if (later.n != 0 && (into.n == 0 || later.order > into.order)) into = later;
      return;
    case AggKind::reduce:
      if (later.v.is_null()) return;
      if (into.v.is_null()) {
        into = later;
        return;
      }
      into.v = spec.merger(into.v, later.v);
      into.n += later.n;
      return;
    case AggKind::custom:
      into.v = spec.aggregator->merge(into.v, later.v);
      into.n += later.n;
      return;
    case AggKind::collect:
    case AggKind::custom_collect:
      return;
  }
}

Value acc_to_value(const Acc& acc) {
  return Value(Array{acc.v, Value(acc.n), Value(acc.order)});
}

Acc acc_from_value(const Value& v) {
  const Array& a = v.as_array();
  if (a.size() != 3) throw SerializationError("window accumulator: expected 3 fields");
  return Acc{a[0], a[1].as_int(), a[2].as_int()};
}

}  // namespace detail
}  // namespace streamframe
