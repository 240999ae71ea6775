#include "joins/interval_join.hpp"

#include <limits>
#include <utility>

#include "joins/timeline_state.hpp"

namespace streamframe::detail {

void IntervalSideNode::process(Row& row, ExecContext& ctx) const {
  auto& own = static_cast<TimelineState&>(ctx.operator_state(store_, *this));
  auto& other = static_cast<TimelineState&>(ctx.operator_state(other_->store(), *other_));
  // Stored before matching: in a self-join the second side to see a record finds it.
  (void)own.add(row.key, row.timestamp, row.value, grace_ms_, /*replace=*/false);
  static const TimelineState::Timeline kNone;
  const TimelineState::Timeline* found = other.find(row.key);
  const TimelineState::Timeline& entries = found != nullptr ? *found : kNone;
  const std::int64_t from = row.timestamp >= std::numeric_limits<std::int64_t>::min() + window_ms_
                                ? row.timestamp - window_ms_
                                : std::numeric_limits<std::int64_t>::min();
  bool matched = false;
  for (auto it = entries.visible_from(from);
       it != entries.by_ts.end() && it->first <= row.timestamp; ++it) {
    matched = true;
    Row out{left_ ? merger_(Value(row.value), it->second) : merger_(Value(it->second), row.value),
            row.key, row.timestamp, Headers{}};
    forward(out, ctx);
  }
  if (!matched && unmatched_) {
    Row out{left_ ? merger_(std::move(row.value), Value()) : merger_(Value(), row.value), row.key,
            row.timestamp, Headers{}};
    forward(out, ctx);
  }
}

std::unique_ptr<OperatorState> IntervalSideNode::make_operator_state(
    state::PartitionTransaction& txn, std::int32_t partition) const {
  (void)partition;
  return std::make_unique<TimelineState>(txn);
}

}  // namespace streamframe::detail
