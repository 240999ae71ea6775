#include "joins/timeline_state.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "joins/store_codec.hpp"
#include "state/transaction.hpp"
#include "state/value_codec.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {
namespace {

// Stored per key (persistent: only ever extended through the layout byte):
//   layout byte (0), floor (int64 LE), entry count (uint32 LE),
//   per entry: timestamp (int64 LE), value length (uint32 LE), value-codec bytes.
constexpr std::uint8_t kLayout = 0;

std::int64_t floor_after(std::int64_t ts, std::int64_t grace) {
  // ts - grace without overflow, never below 0.
  if (ts <= 0) return 0;
  return ts > grace ? ts - grace : 0;
}

}  // namespace

bool TimelineState::load(Timeline& t) {
  const auto stored = txn_->get(enc_);
  if (!stored) return false;
  const state::StoredValue sv = state::parse_stored(*stored);
  StoreReader r(sv.payload, "join store");
  if (r.fixed<std::uint8_t>() != kLayout) {
    throw SerializationError("join store: unknown layout of a stored entry");
  }
  t.floor = r.fixed<std::int64_t>();
  const auto count = r.fixed<std::uint32_t>();
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto ts = r.fixed<std::int64_t>();
    const auto len = r.fixed<std::uint32_t>();
    t.by_ts.emplace_hint(t.by_ts.end(), ts, state::decode(r.bytes(len)));
  }
  r.finish();
  return true;
}

TimelineState::Timeline& TimelineState::timeline(const Value& key) {
  enc_.clear();
  state::encode(key, enc_);
  auto it = keys_.find(enc_);
  if (it != keys_.end()) return it->second;
  Timeline t;
  (void)load(t);
  return keys_.emplace(enc_, std::move(t)).first->second;
}

const TimelineState::Timeline* TimelineState::find(const Value& key) {
  enc_.clear();
  state::encode(key, enc_);
  auto it = keys_.find(enc_);
  if (it != keys_.end()) return &it->second;
  Timeline t;
  if (!load(t)) return nullptr;
  return &keys_.emplace(enc_, std::move(t)).first->second;
}

TimelineState::Timeline& TimelineState::add(const Value& key, std::int64_t ts, Value value,
                                            std::int64_t grace, bool replace) {
  Timeline& t = timeline(key);
  if (replace) t.by_ts.erase(ts);
  // Inserted after the entries of equal timestamp: arrival order among them.
  t.by_ts.emplace_hint(t.by_ts.upper_bound(ts), ts, std::move(value));
  t.floor = std::max(t.floor, floor_after(ts, grace));
  t.dirty = true;
  return t;
}

void TimelineState::flush(state::PartitionTransaction& txn) {
  std::string stored;
  std::string value;
  for (auto& [enc, t] : keys_) {
    if (!t.dirty) continue;
    // Entries below the floor are gone at the checkpoint (lookups skip them already).
    t.by_ts.erase(t.by_ts.begin(), t.by_ts.lower_bound(t.floor));
    stored.clear();
    state::build_stored(stored, true, std::nullopt);
    put_fixed(stored, kLayout);
    put_fixed(stored, t.floor);
    put_fixed(stored, static_cast<std::uint32_t>(t.by_ts.size()));
    for (const auto& [ts, v] : t.by_ts) {
      value.clear();
      state::encode(v, value);
      put_fixed(stored, ts);
      put_fixed(stored, static_cast<std::uint32_t>(value.size()));
      stored += value;
    }
    txn.put(enc, stored);
  }
  // What was written is read back from the transaction (its cache, then the store) when the
  // key comes again, so memory holds only the keys seen since the last checkpoint.
  keys_.clear();
}

}  // namespace streamframe::detail
