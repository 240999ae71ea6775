#include "joins/asof_join.hpp"

#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "state/transaction.hpp"
#include "state/value_codec.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {
namespace {

// Stored per key (persistent: only ever extended through the layout byte):
//   layout byte (0), floor (int64 LE), entry count (uint32 LE),
//   per entry: timestamp (int64 LE), value length (uint32 LE), value-codec bytes.
constexpr std::uint8_t kLayout = 0;

template <class T>
void put_fixed(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only, like the window codec
  out.append(buf, sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}
  template <class T>
  T fixed() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    return v;
  }
  std::string_view bytes(std::size_t n) {
    need(n);
    auto out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return out;
  }
  bool done() const noexcept { return rest_.empty(); }

 private:
  void need(std::size_t n) const {
    if (rest_.size() < n) throw SerializationError("join_asof store: a stored entry is truncated");
  }
  std::string_view rest_;
};

std::int64_t floor_after(std::int64_t ts, std::int64_t grace) {
  // ts - grace without overflow, never below 0.
  if (ts <= 0) return 0;
  return ts > grace ? ts - grace : 0;
}

}  // namespace

AsofState::Entries& AsofState::entries(const Value& key) {
  enc_.clear();
  state::encode(key, enc_);
  auto it = keys_.find(enc_);
  if (it != keys_.end()) return it->second;
  Entries e;
  if (const auto stored = txn_->get(enc_)) {
    const state::StoredValue sv = state::parse_stored(*stored);
    Reader r(sv.payload);
    if (r.fixed<std::uint8_t>() != kLayout) {
      throw SerializationError("join_asof store: unknown layout of a stored entry");
    }
    e.floor = r.fixed<std::int64_t>();
    const auto count = r.fixed<std::uint32_t>();
    for (std::uint32_t i = 0; i < count; ++i) {
      const auto ts = r.fixed<std::int64_t>();
      const auto len = r.fixed<std::uint32_t>();
      e.by_ts.emplace_hint(e.by_ts.end(), ts, state::decode(r.bytes(len)));
    }
    if (!r.done()) throw SerializationError("join_asof store: trailing bytes in a stored entry");
  }
  return keys_.emplace(enc_, std::move(e)).first->second;
}

void AsofState::put(const Value& key, std::int64_t ts, const Value& value, std::int64_t grace) {
  Entries& e = entries(key);
  e.by_ts.insert_or_assign(ts, value);
  e.floor = std::max(e.floor, floor_after(ts, grace));
  e.dirty = true;
}

const Value* AsofState::find(const Value& key, std::int64_t ts) {
  Entries& e = entries(key);
  auto it = e.by_ts.upper_bound(ts);
  if (it == e.by_ts.begin()) return nullptr;
  --it;
  return it->first >= e.floor ? &it->second : nullptr;
}

void AsofState::flush(state::PartitionTransaction& txn) {
  std::string stored;
  std::string value;
  for (auto& [enc, e] : keys_) {
    if (!e.dirty) continue;
    // JOIN-02: entries below the floor are gone at the checkpoint (lookups skip them already).
    e.by_ts.erase(e.by_ts.begin(), e.by_ts.lower_bound(e.floor));
    stored.clear();
    state::build_stored(stored, true, std::nullopt);
    put_fixed(stored, kLayout);
    put_fixed(stored, e.floor);
    put_fixed(stored, static_cast<std::uint32_t>(e.by_ts.size()));
    for (const auto& [ts, v] : e.by_ts) {
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

void AsofRightNode::process(Row& row, ExecContext& ctx) const {
  auto& st = static_cast<AsofState&>(ctx.operator_state(store_, *this));
  st.put(row.key, row.timestamp, row.value, grace_ms_);
}

std::unique_ptr<OperatorState> AsofRightNode::make_operator_state(state::PartitionTransaction& txn,
                                                                  std::int32_t partition) const {
  (void)partition;
  return std::make_unique<AsofState>(txn);
}

void AsofLeftNode::process(Row& row, ExecContext& ctx) const {
  auto& st = static_cast<AsofState&>(ctx.operator_state(right_->store(), *right_));
  const Value* match = st.find(row.key, row.timestamp);
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
