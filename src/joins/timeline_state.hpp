// The join stores (JOIN-01): per message key, one side's records by timestamp (in arrival
// order among equal timestamps) and the key's floor, below which they are invisible. One
// stored entry per key, written at checkpoints; entries below the floor are dropped then.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "dataframe/graph.hpp"
#include "state/memory_budget.hpp"

namespace streamframe::detail {

class TimelineState final : public OperatorState {
 public:
  struct Timeline {
    std::int64_t floor = 0;
    std::multimap<std::int64_t, Value> by_ts;  // equal timestamps in arrival order
    bool dirty = false;
    // The first entry at or after `from` that is not below the floor.
    auto visible_from(std::int64_t from) const {
      return by_ts.lower_bound(from > floor ? from : floor);
    }
  };

  explicit TimelineState(state::PartitionTransaction& txn);

  // The key's timeline, read from the store the first time after a checkpoint.
  Timeline& timeline(const Value& key);
  // The same for a lookup: a key with nothing stored is not kept in memory (null).
  const Timeline* find(const Value& key);
  // Adds `value` at `ts` (replacing what is there when `replace`, else after it) and raises the
  // key's floor to ts - grace (never below 0).
  Timeline& add(const Value& key, std::int64_t ts, Value value, std::int64_t grace, bool replace);
  void flush(state::PartitionTransaction& txn) override;

 private:
  // Loads the key encoded in enc_; false when nothing is stored for it.
  bool load(Timeline& t);
  // Counts what a new key or entry holds and tells the budget now and then (issue 15 item 3:
  // the decoded timelines of the keys seen since the last checkpoint are a cache like the
  // others, and their growth must make a checkpoint due, after which they leave memory).
  void grew(std::size_t bytes);

  state::PartitionTransaction* txn_;
  std::unordered_map<std::string, Timeline> keys_;
  std::string enc_;            // the current key's encoding, reused
  std::size_t bytes_ = 0;      // estimated bytes of keys_
  std::size_t uncharged_ = 0;  // of them, grown since the budget last heard
  state::MemoryCharge charge_;
};

}  // namespace streamframe::detail
