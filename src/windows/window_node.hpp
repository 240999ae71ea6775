// The window operator: one DAG node per final()/current(), keeping the open windows of each
// partition in memory in front of its store (SEMANTICS §7, WIN-13, EXT-02).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataframe/graph.hpp"
#include "streamframe/windows.hpp"
#include "windows/aggregation.hpp"

namespace streamframe::detail {

enum class WindowKind : std::uint8_t {
  tumbling,
  hopping,
  sliding,
  tumbling_count,
  hopping_count,
  sliding_count,
  session,
};

// Everything declared about one window: its parameters, then its aggregations.
struct WindowSpec {
  WindowKind kind = WindowKind::tumbling;
  std::int64_t duration = 0;  // time windows
  std::int64_t step = 0;      // hopping (time or count)
  std::int64_t count = 0;     // count windows
  std::int64_t gap = 0;       // sessions
  std::int64_t grace = 0;
  std::string name;
  OnLateFn on_late;
  WindowTriggerFn before_update;
  WindowTriggerFn after_update;

  // Aggregations, in declaration order. `single` = one aggregation of the whole value with
  // output {"start", "end", "value"}.
  bool single = true;
  std::string func;  // single: sum, count, mean, min, max, reduce, collect (WIN-12)
  std::vector<std::string> columns;
  std::vector<std::shared_ptr<const AggregationSpec>> aggs;

  bool time_based() const noexcept {
    return kind == WindowKind::tumbling || kind == WindowKind::hopping ||
           kind == WindowKind::sliding || kind == WindowKind::session;
  }
  bool count_based() const noexcept {
    return kind == WindowKind::tumbling_count || kind == WindowKind::hopping_count ||
           kind == WindowKind::sliding_count;
  }
  bool has_collectors() const;
  // WIN-12, WIN-13.
  std::string store_name() const;
  // "tumbling_window(10000 ms)" for messages.
  std::string describe() const;
};

class WindowNode final : public Node {
 public:
  WindowNode(std::shared_ptr<const WindowSpec> spec, std::size_t store, std::string store_name,
             bool final_mode, EmitOptions options);

  void process(Row& row, ExecContext& ctx) const override;
  const char* kind() const override { return "window"; }
  std::unique_ptr<OperatorState> make_operator_state(state::PartitionTransaction& txn,
                                                     std::int32_t partition) const override;

  const WindowSpec& spec() const noexcept { return *spec_; }
  const std::string& store_name() const noexcept { return store_name_; }
  bool final_mode() const noexcept { return final_mode_; }
  const EmitOptions& options() const noexcept { return options_; }
  // Hopping windows with final() and mergeable aggregations keep one accumulator per slice
  // of gcd(duration, step) ms; a window's result merges its slices when it closes, so a
  // record updates one slice however many windows overlap (0 = one accumulator per window).
  std::int64_t slice() const noexcept { return slice_; }
  std::size_t store() const noexcept { return store_; }

 private:
  std::shared_ptr<const WindowSpec> spec_;
  std::size_t store_;
  std::string store_name_;
  bool final_mode_;
  EmitOptions options_;
  std::int64_t slice_ = 0;
};

}  // namespace streamframe::detail
