// join_asof (JOIN-02): the right side's records are kept per key and timestamp; a left record
// takes the newest one of its key at or before its own timestamp.
//
// Both nodes live in the left stream's graph, so they share its stores: the left node is a
// child of the left frame, the right node is fed by the right frame (through a concat bridge
// when the right frame reads another topic, JOIN-01). The right side's entries live in the
// right node's operator state, one stored entry per key (its floor and its entries), written
// at checkpoints; entries below a key's floor are dropped then.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "dataframe/graph.hpp"
#include "joins/merge.hpp"
#include "streamframe/joins.hpp"

namespace streamframe::detail {

class AsofState final : public OperatorState {
 public:
  explicit AsofState(state::PartitionTransaction& txn) : txn_(&txn) {}

  // A right record: `value` becomes the key's entry at `ts` (one at the same ts is replaced),
  // and the key's floor rises to ts - grace (never below 0).
  void put(const Value& key, std::int64_t ts, const Value& value, std::int64_t grace);
  // The key's entry with the largest timestamp in [floor, ts], or null when there is none.
  const Value* find(const Value& key, std::int64_t ts);
  void flush(state::PartitionTransaction& txn) override;

 private:
  struct Entries {
    std::int64_t floor = 0;
    std::map<std::int64_t, Value> by_ts;
    bool dirty = false;
  };
  // The key's entries, read from the store the first time after a checkpoint.
  Entries& entries(const Value& key);

  state::PartitionTransaction* txn_;
  std::unordered_map<std::string, Entries> keys_;
  std::string enc_;  // the current key's encoding, reused
};

class AsofRightNode final : public Node {
 public:
  explicit AsofRightNode(std::int64_t grace_ms) : grace_ms_(grace_ms) {}
  void set_store(std::size_t store) noexcept { store_ = store; }
  std::size_t store() const noexcept { return store_; }
  // Stores the record; nothing goes on (a right record is never emitted).
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
