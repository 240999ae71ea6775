// join_interval (JOIN-04): each side's node stores its record in its side's TimelineState and
// pairs it with the other side's entries of the key in its window; both nodes forward into
// one merge node, so what follows the join sees the records of both.
#pragma once

#include <cstdint>
#include <memory>

#include "dataframe/graph.hpp"
#include "joins/merge.hpp"
#include "streamframe/joins.hpp"

namespace streamframe::detail {

class IntervalSideNode final : public Node {
 public:
  // `window`: backward for the left side, forward for the right side. `unmatched`: emit a
  // record that pairs with nothing, merged with null on the other side.
  IntervalSideNode(bool left, std::int64_t grace_ms, std::int64_t window_ms, bool unmatched,
                   Merger merger)
      : left_(left),
        grace_ms_(grace_ms),
        window_ms_(window_ms),
        unmatched_(unmatched),
        merger_(std::move(merger)) {}
  void set_store(std::size_t store) noexcept { store_ = store; }
  std::size_t store() const noexcept { return store_; }
  void set_other(const IntervalSideNode& other) noexcept { other_ = &other; }
  void process(Row& row, ExecContext& ctx) const override;
  std::unique_ptr<OperatorState> make_operator_state(state::PartitionTransaction& txn,
                                                     std::int32_t partition) const override;
  const char* kind() const override { return left_ ? "join_interval left" : "join_interval right"; }

 private:
  bool left_;
  std::int64_t grace_ms_;
  std::int64_t window_ms_;
  bool unmatched_;
  Merger merger_;
  std::size_t store_ = 0;
  const IntervalSideNode* other_ = nullptr;
};

}  // namespace streamframe::detail
