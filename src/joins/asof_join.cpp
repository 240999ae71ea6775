#include "joins/asof_join.hpp"

#include <utility>

#include "joins/timeline_state.hpp"

namespace streamframe::detail {

void AsofRightNode::process(Row& row, ExecContext& ctx) const {
  auto& st = static_cast<TimelineState&>(ctx.operator_state(store_, *this));
  // The record goes no further: its value moves into the store.
  (void)st.add(row.key, row.timestamp, std::move(row.value), grace_ms_, /*replace=*/true);
}

std::unique_ptr<OperatorState> AsofRightNode::make_operator_state(state::PartitionTransaction& txn,
                                                                  std::int32_t partition) const {
  (void)partition;
  return std::make_unique<TimelineState>(txn);
}

void AsofLeftNode::process(Row& row, ExecContext& ctx) const {
  auto& st = static_cast<TimelineState&>(ctx.operator_state(right_->store(), *right_));
  // The newest entry at or before the record's time, if it is not below the floor.
  const Value* match = nullptr;
  if (const TimelineState::Timeline* right = st.find(row.key)) {
    auto it = right->by_ts.upper_bound(row.timestamp);
    if (it != right->by_ts.begin() && (--it)->first >= right->floor) match = &it->second;
  }
  if (match != nullptr && match->truthy()) {
    row.value = merger_(std::move(row.value), *match);
  } else if (how_ == JoinHow::left) {
    row.value = merger_(std::move(row.value), Value());
  } else {
    return;  // inner: no match, nothing goes on
  }
  forward(row, ctx);
}

}  // namespace streamframe::detail
