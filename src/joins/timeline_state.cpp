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

// Estimates for the budget. A key: its hash node, the encoded key past the short-string
// buffer and an empty timeline. An entry: its tree node (links, colour, timestamp, Value) and
// what the Value holds on the heap.
constexpr std::size_t kKeyBytes = 128;
constexpr std::size_t kEntryBytes = 48 + sizeof(Value);
// The budget hears of growth in steps of this many bytes, not per entry.
constexpr std::size_t kChargeStep = 64 * 1024;

std::size_t string_heap(std::size_t size) {
  return size > 15 ? size + 1 : 0;
}

std::size_t heap_bytes(const Value& v) {
  if (v.is_string()) return string_heap(v.as_string().size());
  std::size_t n = 0;
  if (v.is_array()) {
    for (const Value& e : v.as_array()) n += sizeof(Value) + heap_bytes(e);
  } else if (v.is_object()) {
    for (const auto& [k, e] : v.as_object()) {
      n += sizeof(Object::Entry) + string_heap(k.size()) + heap_bytes(e);
    }
  }
  return n;
}

std::int64_t floor_after(std::int64_t ts, std::int64_t grace) {
  // ts - grace without overflow, never below 0.
  if (ts <= 0) return 0;
  return ts > grace ? ts - grace : 0;
}

}  // namespace

TimelineState::TimelineState(state::PartitionTransaction& txn)
    : txn_(&txn), charge_(txn.store().memory_budget()) {}

void TimelineState::grew(std::size_t bytes) {
  bytes_ += bytes;
  uncharged_ += bytes;
  if (uncharged_ >= kChargeStep) {
    charge_.set(bytes_);
    uncharged_ = 0;
  }
}

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
    const auto it = t.by_ts.emplace_hint(t.by_ts.end(), ts, state::decode(r.bytes(len)));
    grew(kEntryBytes + heap_bytes(it->second));
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
  grew(kKeyBytes + string_heap(enc_.size()));
  return keys_.emplace(enc_, std::move(t)).first->second;
}

const TimelineState::Timeline* TimelineState::find(const Value& key) {
  enc_.clear();
  state::encode(key, enc_);
  auto it = keys_.find(enc_);
  if (it != keys_.end()) return &it->second;
  Timeline t;
  if (!load(t)) return nullptr;
  grew(kKeyBytes + string_heap(enc_.size()));
  return &keys_.emplace(enc_, std::move(t)).first->second;
}

TimelineState::Timeline& TimelineState::add(const Value& key, std::int64_t ts, Value value,
                                            std::int64_t grace, bool replace) {
  Timeline& t = timeline(key);
  if (replace) {
    const auto [first, last] = t.by_ts.equal_range(ts);
    for (auto it = first; it != last; ++it) {
      bytes_ -= std::min(bytes_, kEntryBytes + heap_bytes(it->second));
    }
    t.by_ts.erase(first, last);
  }
  grew(kEntryBytes + heap_bytes(value));
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
  bytes_ = 0;
  uncharged_ = 0;
  charge_.set(0);
}

}  // namespace streamframe::detail
