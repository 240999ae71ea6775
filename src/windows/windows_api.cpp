// The public window API: declaring windows (parameters checked here, WIN-02/05, WIN-13),
// choosing aggregations, and final()/current() adding the window node to the DAG.
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "dataframe/access.hpp"
#include "dataframe/graph.hpp"
#include "streamframe/dataframe.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/windows.hpp"
#include "windows/window_node.hpp"

namespace streamframe {

using detail::WindowKind;
using detail::WindowSpec;

namespace {

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

void check_grace(const char* window, std::chrono::milliseconds grace) {
  if (grace.count() < 0) {
    throw ConfigError(std::string(window) + ": grace must not be negative, got " + ms(grace));
  }
}

void check_duration(const char* window, const char* what, std::chrono::milliseconds d) {
  if (d.count() < 1) {
    throw ConfigError(std::string(window) + ": " + what + " must be at least 1 ms, got " + ms(d));
  }
}

void check_count(const char* window, std::int64_t count) {
  if (count < 2) {
    throw ConfigError(std::string(window) + ": count must be at least 2, got " +
                      std::to_string(count));
  }
}

std::shared_ptr<WindowSpec> time_spec(WindowKind kind, std::chrono::milliseconds duration,
                                      const WindowOptions& o) {
  auto spec = std::make_shared<WindowSpec>();
  spec->kind = kind;
  spec->duration = duration.count();
  spec->grace = o.grace.count();
  spec->name = o.name;
  spec->on_late = o.on_late;
  spec->before_update = o.before_update;
  spec->after_update = o.after_update;
  return spec;
}

}  // namespace

WindowDefinition StreamingDataFrame::tumbling_window(std::chrono::milliseconds duration,
                                                     const WindowOptions& options) const {
  check_duration("tumbling_window", "duration", duration);
  check_grace("tumbling_window", options.grace);
  return detail::Access::window(graph_, node_, time_spec(WindowKind::tumbling, duration, options));
}

WindowDefinition StreamingDataFrame::hopping_window(std::chrono::milliseconds duration,
                                                    std::chrono::milliseconds step,
                                                    const WindowOptions& options) const {
  check_duration("hopping_window", "duration", duration);
  if (step.count() <= 0 || step >= duration) {
    throw ConfigError("hopping_window: step must be more than 0 and less than the duration (" +
                      ms(duration) + "), got " + ms(step));
  }
  check_grace("hopping_window", options.grace);
  auto spec = time_spec(WindowKind::hopping, duration, options);
  spec->step = step.count();
  return detail::Access::window(graph_, node_, std::move(spec));
}

WindowDefinition StreamingDataFrame::sliding_window(std::chrono::milliseconds duration,
                                                    const WindowOptions& options) const {
  check_duration("sliding_window", "duration", duration);
  check_grace("sliding_window", options.grace);
  if (options.before_update || options.after_update) {
    throw ConfigError("sliding_window: before_update/after_update triggers are not supported");
  }
  return detail::Access::window(graph_, node_, time_spec(WindowKind::sliding, duration, options));
}

WindowDefinition StreamingDataFrame::tumbling_count_window(
    std::int64_t count, const CountWindowOptions& options) const {
  check_count("tumbling_count_window", count);
  auto spec = std::make_shared<WindowSpec>();
  spec->kind = WindowKind::tumbling_count;
  spec->count = count;
  spec->name = options.name;
  return detail::Access::window(graph_, node_, std::move(spec));
}

WindowDefinition StreamingDataFrame::hopping_count_window(std::int64_t count, std::int64_t step,
                                                          const CountWindowOptions& options) const {
  check_count("hopping_count_window", count);
  if (step <= 0 || step >= count) {
    throw ConfigError("hopping_count_window: step must be more than 0 and less than the count (" +
                      std::to_string(count) + "), got " + std::to_string(step));
  }
  auto spec = std::make_shared<WindowSpec>();
  spec->kind = WindowKind::hopping_count;
  spec->count = count;
  spec->step = step;
  spec->name = options.name;
  return detail::Access::window(graph_, node_, std::move(spec));
}

WindowDefinition StreamingDataFrame::sliding_count_window(std::int64_t count,
                                                          const CountWindowOptions& options) const {
  check_count("sliding_count_window", count);
  auto spec = std::make_shared<WindowSpec>();
  spec->kind = WindowKind::sliding_count;
  spec->count = count;
  spec->step = 1;
  spec->name = options.name;
  return detail::Access::window(graph_, node_, std::move(spec));
}

WindowDefinition StreamingDataFrame::session_window(std::chrono::milliseconds gap,
                                                    const SessionWindowOptions& options) const {
  check_duration("session_window", "gap", gap);
  check_grace("session_window", options.grace);
  auto spec = std::make_shared<WindowSpec>();
  spec->kind = WindowKind::session;
  spec->gap = gap.count();
  spec->grace = options.grace.count();
  spec->name = options.name;
  spec->on_late = options.on_late;
  return detail::Access::window(graph_, node_, std::move(spec));
}

// ---------------------------------------------------------------------------------------------

WindowedAggregation WindowDefinition::single(const Aggregation& aggregation,
                                             const char* func) const {
  auto spec = std::make_shared<WindowSpec>(*spec_);
  spec->single = true;
  spec->func = func;
  spec->columns = {"value"};
  spec->aggs = {detail::Access::spec(aggregation)};
  return detail::Access::windowed(graph_, node_, std::move(spec));
}

WindowedAggregation WindowDefinition::sum() const {
  return single(agg::sum(), "sum");
}
WindowedAggregation WindowDefinition::count() const {
  return single(agg::count(), "count");
}
WindowedAggregation WindowDefinition::mean() const {
  return single(agg::mean(), "mean");
}
WindowedAggregation WindowDefinition::min() const {
  return single(agg::min(), "min");
}
WindowedAggregation WindowDefinition::max() const {
  return single(agg::max(), "max");
}
WindowedAggregation WindowDefinition::reduce(ReduceFn reducer, InitializeFn initializer,
                                             MergeFn merger) const {
  return single(agg::reduce(std::move(reducer), std::move(initializer), std::move(merger)),
                "reduce");
}
WindowedAggregation WindowDefinition::collect() const {
  return single(agg::collect(), "collect");
}

WindowedAggregation WindowDefinition::agg(
    const std::vector<std::pair<std::string, Aggregation>>& columns) const {
  if (columns.empty()) throw ConfigError("agg() needs at least one aggregation");
  auto spec = std::make_shared<WindowSpec>(*spec_);
  spec->single = false;
  spec->func.clear();
  std::set<std::string> seen;
  for (auto& [name, aggregation] : columns) {
    if (name == "start" || name == "end") {
      throw ConfigError("agg(): column '" + name + "' is reserved for the window bounds");
    }
    if (name.empty()) throw ConfigError("agg(): a column needs a name");
    if (!seen.insert(name).second) throw ConfigError("agg(): column '" + name + "' given twice");
    if (!detail::Access::spec(aggregation))
      throw ConfigError("agg(): column '" + name + "' has no aggregation");
    spec->columns.push_back(name);
    spec->aggs.push_back(detail::Access::spec(aggregation));
  }
  return detail::Access::windowed(graph_, node_, std::move(spec));
}

// ---------------------------------------------------------------------------------------------

StreamingDataFrame WindowedAggregation::final(EmitOptions options) const {
  return emit(true, options);
}

StreamingDataFrame WindowedAggregation::current(EmitOptions options) const {
  return emit(false, options);
}

StreamingDataFrame WindowedAggregation::emit(bool final_mode, const EmitOptions& options) const {
  const WindowSpec& spec = *spec_;
  const std::string what = spec.describe() + (final_mode ? ".final()" : ".current()");
  if (!final_mode && spec.has_collectors()) {
    throw InvalidOperation(what + ": collectors can only be emitted with final()");
  }
  if (options.idle_timeout.count() < 0) {
    throw ConfigError(what + ": idle_timeout must not be negative");
  }
  if (spec.count_based()) {
    if (options.closing_strategy != ClosingStrategy::key) {
      throw ConfigError(what + ": count windows have no closing strategy");
    }
    if (options.idle_timeout.count() > 0) {
      throw ConfigError(what + ": count windows close by count, not by idle time");
    }
  }
  // WIN-04: sliding windows close by the key's time only; sessions take both (WIN-13).
  if (spec.kind == WindowKind::sliding && options.closing_strategy != ClosingStrategy::key) {
    throw ConfigError(what + ": only the 'key' closing strategy is supported");
  }
  if (spec.kind == WindowKind::session) {
    for (std::size_t i = 0; i < spec.aggs.size(); ++i) {
      if (!spec.aggs[i]->mergeable()) {
        throw ConfigError(what + ": aggregation '" + spec.columns[i] +
                          "' cannot merge sessions (reduce needs a merger, custom aggregators "
                          "a merge())");
      }
    }
  }
  const std::string store = spec.store_name();
  const std::size_t index = graph_->add_unique_store(store, node_);
  auto node = std::make_unique<detail::WindowNode>(spec_, index, store, final_mode, options);
  auto* added = graph_->add(std::move(node), node_);
  if (options.idle_timeout.count() > 0) graph_->set_ticking_owner(index, added);
  return detail::Access::frame(graph_, added);
}

}  // namespace streamframe
