#include "state/transaction.hpp"

#include <bit>
#include <cstring>
#include <vector>

#include "state/value_codec.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/state.hpp"

namespace streamframe::state {

StoredValue parse_stored(std::string_view bytes) {
  if (bytes.empty()) throw SerializationError("stored state value is empty");
  const auto flags = static_cast<std::uint8_t>(bytes[0]);
  if ((flags & ~(kStoredBytes | kStoredExpiry)) != 0) {
    throw SerializationError("stored state value has unknown flags " + std::to_string(flags));
  }
  StoredValue v;
  v.raw_bytes = (flags & kStoredBytes) != 0;
  std::size_t pos = 1;
  if (flags & kStoredExpiry) {
    if (bytes.size() < 9) throw SerializationError("stored state value: truncated expiry");
    std::uint64_t u = 0;
    for (int i = 0; i < 8; ++i)
      u |= std::uint64_t(static_cast<std::uint8_t>(bytes[1 + i])) << (8 * i);
    v.expiry = static_cast<std::int64_t>(u);
    pos = 9;
  }
  v.payload = bytes.substr(pos);
  return v;
}

void build_stored(std::string& out, bool raw_bytes, std::optional<std::int64_t> expiry) {
  out.clear();
  out.push_back(static_cast<char>((raw_bytes ? kStoredBytes : 0) | (expiry ? kStoredExpiry : 0)));
  if (expiry) {
    const auto u = static_cast<std::uint64_t>(*expiry);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
}

namespace {
constexpr char kIndexPrefix[2] = {'\xff', 'T'};

void append_expiry(std::string& out, std::int64_t expiry) {
  const auto u = static_cast<std::uint64_t>(expiry) ^ (std::uint64_t(1) << 63);
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((u >> shift) & 0xff));
}
}  // namespace

std::string ttl_index_key(std::int64_t expiry, std::string_view data_key) {
  std::string key(kIndexPrefix, 2);
  append_expiry(key, expiry);
  key.append(data_key);
  return key;
}

bool is_ttl_index_key(std::string_view key) {
  return key.size() > 10 && key.substr(0, 2) == std::string_view(kIndexPrefix, 2);
}

std::size_t PartitionTransaction::sweep_expired(std::int64_t now, std::size_t limit) {
  std::string begin(kIndexPrefix, 2);
  std::string end = begin;
  append_expiry(end, now);
  end.push_back('\xff');  // past every index key with expiry == now
  std::vector<std::string> index_keys;
  store_->scan(begin, end, [&](std::string_view key, std::string_view) {
    index_keys.emplace_back(key);
    return index_keys.size() < limit;
  });
  std::size_t deleted = 0;
  for (const auto& index_key : index_keys) {
    const std::string_view data_key = std::string_view(index_key).substr(10);
    std::uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<std::uint8_t>(index_key[2 + i]);
    const auto expiry = static_cast<std::int64_t>(u ^ (std::uint64_t(1) << 63));
    if (auto current = get(data_key)) {
      // Only if the value still carries this expiry: a later set() may have replaced it.
      const auto stored = parse_stored(*current);
      if (stored.expiry && *stored.expiry == expiry) {
        remove(data_key);
        ++deleted;
      }
    }
    remove(index_key);
  }
  return deleted;
}

PartitionTransaction::Entry& PartitionTransaction::entry(std::string_view key, bool read_store) {
  if (last_ != nullptr && Eq{}(last_->first, key)) return last_->second;
  const std::size_t hash = Hash{}(key);
  auto it = entries_.find(key, hash);
  if (it != entries_.end()) {
    it->second.recent = true;
  } else {
    // The store is read first: if it fails, nothing is cached (an entry left behind would
    // answer "absent" from then on).
    Entry e;
    if (read_store) {
      if (auto stored = store_->get(key)) {
        e.value.assign(stored->begin(), stored->end());
        e.present = true;
      }
    }
    it = entries_.try_emplace(Key(key.begin(), key.end()), std::move(e)).first;
    heap_ += out_of_line(it->first) + out_of_line(it->second.value);
    // The budget hears of growth between checkpoints too (a checkpoint is due when the
    // caches outgrow it), but not per entry.
    if ((entries_.size() & 1023) == 0) charge_.set(bytes());
  }
  last_ = &*it;
  last_hash_ = hash;
  return it->second;
}

std::optional<std::string_view> PartitionTransaction::get(std::string_view key) {
  return entry(key, true).get();
}

void PartitionTransaction::put(std::string_view key, std::string_view value) {
  Entry& e = entry(key, false);
  heap_ -= out_of_line(e.value);
  e.value.assign(value.begin(), value.end());
  heap_ += out_of_line(e.value);
  e.present = true;
  mark_dirty(*last_);
}

void PartitionTransaction::remove(std::string_view key) {
  Entry& e = entry(key, false);
  e.value.clear();  // keeps its capacity, and heap_ counts it
  e.present = false;
  mark_dirty(*last_);
}

namespace {
template <class E>
void add_change(WriteBatch& b, std::string_view key, const E& e) {
  if (const auto v = e.get()) {
    b.put(key, *v);
  } else {
    b.remove(key);
  }
}
}  // namespace

WriteBatch PartitionTransaction::batch() const {
  WriteBatch b;
  b.reserve(changed_.size());
  visit_changed(*this, [&b](const Key& k, const Entry& e) { add_change(b, view(k), e); });
  return b;
}

WriteBatch PartitionTransaction::take_changes() {
  WriteBatch b;
  b.reserve(changed_.size());
  visit_changed(*this, [&b](const Key& k, Entry& e) {
    add_change(b, view(k), e);
    e.dirty = false;
  });
  changed_.clear();
  return b;
}

void PartitionTransaction::committed() {
  visit_changed(*this, [](const Key&, Entry& e) { e.dirty = false; });
  changed_.clear();
  if (charge_.bounded()) {
    charge_.set(bytes());
    const std::size_t keep = charge_.allowance();
    if (bytes() > keep) {
      trim(keep);
      charge_.set(bytes());
    }
  } else if (entries_.size() > kCacheEntries) {
    // Start the cache again rather than track recency per entry.
    trim(0);
  }
}

std::size_t PartitionTransaction::capacity_for(std::size_t entries) noexcept {
  if (entries == 0) return 0;
  // Room for 1/7 more than the entries, rounded up to a power of two minus one.
  return std::bit_ceil(entries + (entries - 1) / 7 + 1) - 1;
}

void PartitionTransaction::trim(std::size_t target) {
  last_ = nullptr;
  if (target == 0) {
    entries_.clear();
    heap_ = 0;
    return;
  }
  changed_.shrink_to_fit();  // empty after a checkpoint
  const auto over = [&] { return table_bytes(capacity_for(entries_.size())) + heap_ > target; };
  // Every entry is clean after a checkpoint. One bit per entry stands in for recency: the
  // first pass spares (and clears) entries used since the last trim.
  for (int pass = 0; pass < 2 && over(); ++pass) {
    for (auto it = entries_.begin(); it != entries_.end() && over();) {
      if (pass == 0 && it->second.recent) {
        it->second.recent = false;
        ++it;
        continue;
      }
      heap_ -= out_of_line(it->first) + out_of_line(it->second.value);
      // Erasing leaves the other slots where they are: the iterator stays usable.
      entries_.erase(it++);
    }
  }
  // The table keeps its size when entries go: sized down to what is left, the memory goes
  // back (only last_ pointed into it, and it is reset above).
  if (entries_.capacity() > capacity_for(entries_.size())) entries_.rehash(0);
}

void PartitionTransaction::discard() noexcept {
  entries_.clear();
  last_ = nullptr;
  changed_.clear();
  heap_ = 0;
  charge_.set(0);
}

}  // namespace streamframe::state

namespace streamframe::detail {

void StateScope::reset(state::PartitionTransaction& txn, const Value& message_key,
                       std::int64_t timestamp) {
  txn_ = &txn;
  timestamp_ = timestamp;
  key_.clear();
  // Both parts are self-delimiting codec encodings, so no two (message key, user key) pairs
  // share a store key (ST-03's "key|user key" with a separator could collide).
  state::encode(message_key, key_);
  prefix_len_ = key_.size();
}

std::string_view StateScope::full_key(const Value& key) {
  if (txn_ == nullptr) throw InvalidOperation("State used outside a stateful callable");
  key_.resize(prefix_len_);
  state::encode(key, key_);
  return key_;
}

std::optional<state::StoredValue> StateScope::lookup(const Value& key) {
  const auto k = full_key(key);
  auto bytes = txn_->get(k);
  if (!bytes) return std::nullopt;
  auto stored = state::parse_stored(*bytes);
  if (stored.expiry && *stored.expiry <= timestamp_) {
    // Expired in event time (ST-06): absent from now on, and deleted at the next checkpoint.
    txn_->remove(key_);
    return std::nullopt;
  }
  return stored;
}

Value StateScope::get(const Value& key, Value default_value) {
  auto stored = lookup(key);
  if (!stored) return default_value;
  if (stored->raw_bytes) {
    throw ValueTypeError("state key was written with set_bytes; read it with get_bytes");
  }
  return state::decode(stored->payload);
}

std::optional<std::string> StateScope::get_bytes(const Value& key) {
  auto stored = lookup(key);
  if (!stored) return std::nullopt;
  if (!stored->raw_bytes) {
    throw ValueTypeError("state key was written with set; read it with get");
  }
  return std::string(stored->payload);
}

bool StateScope::exists(const Value& key) {
  return lookup(key).has_value();
}

void StateScope::set(const Value& key, const Value& value, std::optional<std::int64_t> ttl_ms) {
  const auto k = full_key(key);
  const auto expiry = ttl_ms ? std::optional(timestamp_ + *ttl_ms) : std::nullopt;
  state::build_stored(value_, false, expiry);
  state::encode(value, value_);
  txn_->put(k, value_);
  if (expiry) txn_->put(state::ttl_index_key(*expiry, k), "");
}

void StateScope::set_bytes(const Value& key, std::string_view bytes,
                           std::optional<std::int64_t> ttl_ms) {
  const auto k = full_key(key);
  const auto expiry = ttl_ms ? std::optional(timestamp_ + *ttl_ms) : std::nullopt;
  state::build_stored(value_, true, expiry);
  value_.append(bytes);
  txn_->put(k, value_);
  if (expiry) txn_->put(state::ttl_index_key(*expiry, k), "");
}

void StateScope::remove(const Value& key) {
  txn_->remove(full_key(key));
}

}  // namespace streamframe::detail

namespace streamframe {
namespace {
std::int64_t checked_ttl(std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) {
    throw ConfigError("state TTL must be > 0 ms, got " + std::to_string(ttl.count()));
  }
  return ttl.count();
}
}  // namespace

Value State::get(const Value& key, Value default_value) const {
  return scope_->get(key, std::move(default_value));
}
void State::set(const Value& key, const Value& value) {
  scope_->set(key, value, std::nullopt);
}
void State::set(const Value& key, const Value& value, std::chrono::milliseconds ttl) {
  scope_->set(key, value, checked_ttl(ttl));
}
void State::remove(const Value& key) {
  scope_->remove(key);
}
bool State::exists(const Value& key) const {
  return scope_->exists(key);
}
std::optional<std::string> State::get_bytes(const Value& key) const {
  return scope_->get_bytes(key);
}
void State::set_bytes(const Value& key, std::string_view bytes) {
  scope_->set_bytes(key, bytes, std::nullopt);
}
void State::set_bytes(const Value& key, std::string_view bytes, std::chrono::milliseconds ttl) {
  scope_->set_bytes(key, bytes, checked_ttl(ttl));
}

}  // namespace streamframe
