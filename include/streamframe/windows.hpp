// Windows and aggregations (SEMANTICS §7, §8, EXT-02).
//
//   sdf.tumbling_window(std::chrono::seconds(10), {.grace = std::chrono::seconds(1)})
//      .agg({{"avg", agg::mean("temperature")}, {"n", agg::count()}})
//      .final();
//
// A window definition (tumbling_window, ...) takes an aggregation (sum(), ..., agg({...})),
// then final() or current() turns it into a frame of window results.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "streamframe/record.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

class StreamingDataFrame;

namespace detail {
class Graph;
class Node;
struct AggregationSpec;
struct WindowSpec;
struct Access;
}  // namespace detail

// WIN-06: whose stream time closes windows.
enum class ClosingStrategy {
  key,        // the key's own max timestamp
  partition,  // the max timestamp of the partition: closes windows of every key
};

// What on_late is told about a record that arrived after a window it belongs to closed.
struct LateRecord {
  Value value;
  Value key;
  std::int64_t timestamp = 0;
  // Time windows: T - grace - timestamp; sessions: W - gap - grace - timestamp (WIN-13).
  std::int64_t late_by_ms = 0;
  // The closed window; for a late session record [timestamp, timestamp + 1).
  std::int64_t start = 0;
  std::int64_t end = 0;
  std::string store_name;
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};
// Returns whether to log the late record (a WARNING); absent = log.
using OnLateFn = std::function<bool(const LateRecord&)>;

// WIN-11: called with what the window would emit now, and the record. true closes it at once.
using WindowTriggerFn =
    std::function<bool(const Value& result, const Value& value, const Value& key,
                       std::int64_t timestamp, const Headers& headers)>;

// Options of the time windows. Sliding windows take no triggers (ConfigError).
struct WindowOptions {
  std::chrono::milliseconds grace{0};
  // Prefix of the store name (WIN-12).
  std::string name{};
  OnLateFn on_late{};
  WindowTriggerFn before_update{};
  WindowTriggerFn after_update{};
};

// Count windows have no time, so no grace, lateness or closing strategy (WIN-05).
struct CountWindowOptions {
  std::string name{};
};

// WIN-13: sessions [start, last timestamp + 1) of records at most `gap` apart; no triggers.
struct SessionWindowOptions {
  std::chrono::milliseconds grace{0};
  std::string name{};
  OnLateFn on_late{};
};

// final() / current() options.
struct EmitOptions {
  ClosingStrategy closing_strategy = ClosingStrategy::key;
  // EXT-02: when a partition has seen no record for this long (application clock), its
  // expired windows close as if stream time had moved on by the idle time. 0 = off.
  std::chrono::milliseconds idle_timeout{0};
};

// A user-defined aggregation (AGG-09). Accumulators are Values so they can be stored; they
// should stay small (a number, a short array): a window's accumulator is rewritten on every
// record of the window.
class Aggregator {
 public:
  explicit Aggregator(std::optional<std::string> column = std::nullopt)
      : column_(std::move(column)) {}
  virtual ~Aggregator() = default;

  // Names the accumulator in the store (`<column>/<state_suffix>`); changing it discards the
  // stored accumulators.
  virtual std::string state_suffix() const = 0;
  virtual Value initialize() const = 0;
  // `input` is the record's value, or its `column` when one is set.
  virtual Value agg(const Value& accumulator, const Value& input, std::int64_t timestamp) const = 0;
  virtual Value result(const Value& accumulator) const = 0;
  // Session windows merge two sessions when a record bridges them (WIN-13): merge(a, b) gets
  // the earlier session's accumulator (the record already added) and the later one's.
  // Aggregators that cannot merge are refused there (ConfigError), and hopping windows then
  // update every window a record falls into instead of sharing slices.
  virtual bool can_merge() const { return false; }
  virtual Value merge(const Value& a, const Value& b) const;

  const std::optional<std::string>& column() const noexcept { return column_; }

 private:
  std::optional<std::string> column_;
};

// A user-defined collector (AGG-09): gets every input of the window (nulls too), ordered by
// timestamp then arrival (count windows: arrival), when the window closes. final() only.
class Collector {
 public:
  explicit Collector(std::optional<std::string> column = std::nullopt)
      : column_(std::move(column)) {}
  virtual ~Collector() = default;
  virtual Value result(Array items) const { return Value(std::move(items)); }
  const std::optional<std::string>& column() const noexcept { return column_; }

 private:
  std::optional<std::string> column_;
};

using ReduceFn = std::function<Value(const Value& accumulator, const Value& value)>;
using InitializeFn = std::function<Value(const Value& value)>;
using MergeFn = std::function<Value(const Value& a, const Value& b)>;

// One aggregation of a window: made by the functions in namespace agg.
class Aggregation {
 public:
  explicit Aggregation(std::shared_ptr<const Aggregator> custom);
  explicit Aggregation(std::shared_ptr<const Collector> custom);

 private:
  friend struct detail::Access;
  explicit Aggregation(std::shared_ptr<const detail::AggregationSpec> spec)
      : spec_(std::move(spec)) {}
  std::shared_ptr<const detail::AggregationSpec> spec_;
};

// §8. `column` unset => the whole value; set => value[column] (missing = null). A value that
// is not an object while a column is set => ValueTypeError.
namespace agg {
[[nodiscard]] Aggregation count(std::optional<std::string> column = std::nullopt);     // AGG-01
[[nodiscard]] Aggregation sum(std::optional<std::string> column = std::nullopt);       // AGG-02
[[nodiscard]] Aggregation mean(std::optional<std::string> column = std::nullopt);      // AGG-03
[[nodiscard]] Aggregation min(std::optional<std::string> column = std::nullopt);       // AGG-04
[[nodiscard]] Aggregation max(std::optional<std::string> column = std::nullopt);       // AGG-04
[[nodiscard]] Aggregation earliest(std::optional<std::string> column = std::nullopt);  // AGG-05
[[nodiscard]] Aggregation latest(std::optional<std::string> column = std::nullopt);    // AGG-05
[[nodiscard]] Aggregation first(std::optional<std::string> column = std::nullopt);     // AGG-06
[[nodiscard]] Aggregation last(std::optional<std::string> column = std::nullopt);      // AGG-06
// AGG-07: the first input starts the accumulator with initializer(v), later ones
// reducer(acc, v). `merger` lets session windows merge two accumulators.
[[nodiscard]] Aggregation reduce(ReduceFn reducer, InitializeFn initializer,
                                 MergeFn merger = nullptr);
[[nodiscard]] Aggregation collect(std::optional<std::string> column = std::nullopt);  // AGG-08
[[nodiscard]] Aggregation custom(std::shared_ptr<const Aggregator> aggregator);       // AGG-09
[[nodiscard]] Aggregation custom(std::shared_ptr<const Collector> collector);         // AGG-09
}  // namespace agg

// A window with its aggregation, waiting for final() or current().
class WindowedAggregation {
 public:
  // WIN-09: each window once, when it closes.
  [[nodiscard]] StreamingDataFrame final(EmitOptions options = {}) const;
  // WIN-10: after each record, every window it updated. Collectors => InvalidOperation.
  [[nodiscard]] StreamingDataFrame current(EmitOptions options = {}) const;

 private:
  friend struct detail::Access;
  WindowedAggregation(std::shared_ptr<detail::Graph> graph, detail::Node* node,
                      std::shared_ptr<detail::WindowSpec> spec)
      : graph_(std::move(graph)), node_(node), spec_(std::move(spec)) {}
  StreamingDataFrame emit(bool final_mode, const EmitOptions& options) const;
  std::shared_ptr<detail::Graph> graph_;
  detail::Node* node_;
  std::shared_ptr<detail::WindowSpec> spec_;
};

// A declared window (parameters checked), waiting for its aggregation.
class WindowDefinition {
 public:
  // Single aggregations of the whole value: output {"start", "end", "value"}.
  [[nodiscard]] WindowedAggregation sum() const;
  [[nodiscard]] WindowedAggregation count() const;
  [[nodiscard]] WindowedAggregation mean() const;
  [[nodiscard]] WindowedAggregation min() const;
  [[nodiscard]] WindowedAggregation max() const;
  [[nodiscard]] WindowedAggregation reduce(ReduceFn reducer, InitializeFn initializer,
                                           MergeFn merger = nullptr) const;
  [[nodiscard]] WindowedAggregation collect() const;
  // Several named aggregations: output {columns..., "start", "end"} in declaration order.
  // Column names "start"/"end", repeats or none => ConfigError.
  [[nodiscard]] WindowedAggregation agg(
      const std::vector<std::pair<std::string, Aggregation>>& columns) const;

 private:
  friend struct detail::Access;
  WindowDefinition(std::shared_ptr<detail::Graph> graph, detail::Node* node,
                   std::shared_ptr<detail::WindowSpec> spec)
      : graph_(std::move(graph)), node_(node), spec_(std::move(spec)) {}
  WindowedAggregation single(const Aggregation& aggregation, const char* func) const;
  std::shared_ptr<detail::Graph> graph_;
  detail::Node* node_;
  std::shared_ptr<detail::WindowSpec> spec_;
};

}  // namespace streamframe
