// join_asof (JOIN-02): the right side's records are kept per key and timestamp; a left record
// takes the newest one of its key at or before its own timestamp.
//
// Both nodes live in the left stream's graph, so they share its stores: the left node is a
// child of the left frame, the right node is fed by the right frame (through a concat bridge
// when the right frame reads another topic, JOIN-01). The right side's entries are the right
// node's TimelineState.
#pragma once

#include <cstdint>
#include <memory>

#include "dataframe/graph.hpp"
#include "joins/merge.hpp"
#include "streamframe/joins.hpp"

namespace streamframe::detail {

class AsofRightNode final : public Node {
 public:
  explicit AsofRightNode(std::int64_t grace_ms) : grace_ms_(grace_ms) {}
  void set_store(std::size_t store) noexcept { store_ = store; }
  std::size_t store() const noexcept { return store_; }
  // Stores the record (one at the same timestamp is replaced); nothing goes on (a right record
  // is never emitted).
  void process(Row& row, ExecContext& ctx) const override;
  std::unique_ptr<OperatorState> make_operator_state(state::PartitionTransaction& txn,
                                                     std::int32_t partition) const override;
  const char* kind() const override { return "join_asof right"; }

 private:
  std::int64_t grace_ms_;
  std::size_t store_ = 0;
};

class AsofLeftNode final : public Node {
 public:
  AsofLeftNode(const AsofRightNode& right, JoinHow how, Merger merger)
      : right_(&right), how_(how), merger_(std::move(merger)) {}
  void process(Row& row, ExecContext& ctx) const override;
  const char* kind() const override { return "join_asof"; }

 private:
  const AsofRightNode* right_;
  JoinHow how_;
  Merger merger_;
};

}  // namespace streamframe::detail
