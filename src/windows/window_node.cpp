#include "windows/window_node.hpp"

#include <algorithm>
#include <numeric>
#include <string>

#include "windows/window_state.hpp"

namespace streamframe::detail {

// ---------------------------------------------------------------------------------------------
// WindowSpec and WindowNode

bool WindowSpec::has_collectors() const {
  return std::any_of(aggs.begin(), aggs.end(), [](const auto& a) { return a->is_collector(); });
}

std::string WindowSpec::store_name() const {
  std::string base;
  switch (kind) {
    case WindowKind::tumbling:
      base = "tumbling_window_" + std::to_string(duration);
      break;
    case WindowKind::hopping:
      base = "hopping_window_" + std::to_string(duration) + "_" + std::to_string(step);
      break;
    case WindowKind::sliding:
      base = "sliding_window_" + std::to_string(duration);
      break;
    case WindowKind::tumbling_count:
      base = "tumbling_count_window";
      break;
    case WindowKind::hopping_count:
      base = "hopping_count_window";
      break;
    case WindowKind::sliding_count:
      base = "sliding_count_window";
      break;
    case WindowKind::session:
      base = "session_window_" + std::to_string(gap);
      break;
  }
  if (!name.empty()) base = name + "_" + base;
  if (single && !func.empty()) base += "_" + func;
  return base;
}

std::string WindowSpec::describe() const {
  switch (kind) {
    case WindowKind::tumbling:
      return "tumbling_window(" + std::to_string(duration) + " ms)";
    case WindowKind::hopping:
      return "hopping_window(" + std::to_string(duration) + " ms, " + std::to_string(step) + " ms)";
    case WindowKind::sliding:
      return "sliding_window(" + std::to_string(duration) + " ms)";
    case WindowKind::tumbling_count:
      return "tumbling_count_window(" + std::to_string(count) + ")";
    case WindowKind::hopping_count:
      return "hopping_count_window(" + std::to_string(count) + ", " + std::to_string(step) + ")";
    case WindowKind::sliding_count:
      return "sliding_count_window(" + std::to_string(count) + ")";
    case WindowKind::session:
      return "session_window(" + std::to_string(gap) + " ms)";
  }
  return "window";
}

WindowNode::WindowNode(std::shared_ptr<const WindowSpec> spec, std::size_t store,
                       std::string store_name, bool final_mode, EmitOptions options)
    : spec_(std::move(spec)),
      store_(store),
      store_name_(std::move(store_name)),
      final_mode_(final_mode),
      options_(options) {
  const bool mergeable = std::all_of(spec_->aggs.begin(), spec_->aggs.end(),
                                     [](const auto& a) { return a->mergeable(); });
  if (spec_->kind == WindowKind::hopping && final_mode_ && mergeable && !spec_->before_update &&
      !spec_->after_update) {
    slice_ = std::gcd(spec_->duration, spec_->step);
  }
}

std::unique_ptr<OperatorState> WindowNode::make_operator_state(state::PartitionTransaction& txn,
                                                               std::int32_t partition) const {
  return std::make_unique<WindowState>(*this, txn, partition);
}

void WindowNode::process(Row& row, ExecContext& ctx) const {
  auto& st = static_cast<WindowState&>(ctx.operator_state(store_, *this));
  st.process(row, ctx, options_.idle_timeout.count() > 0);
}

}  // namespace streamframe::detail
