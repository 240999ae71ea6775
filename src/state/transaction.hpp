// The writes of one checkpoint to one partition store, and the scope a State& works in.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/container/inlined_vector.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes_hash.hpp"
#include "core/short_bytes.hpp"
#include "state/store.hpp"
#include "streamframe/value.hpp"

namespace streamframe::state {

// Stored value layout (persistent: flags are only ever added):
//   flags byte: bit 0 = raw bytes (set_bytes) rather than a value-codec Value,
//               bit 1 = an expiry follows
//   [expiry: 8 bytes, int64 ms little-endian]
//   payload
inline constexpr std::uint8_t kStoredBytes = 1;
inline constexpr std::uint8_t kStoredExpiry = 2;

struct StoredValue {
  bool raw_bytes = false;
  std::optional<std::int64_t> expiry;
  std::string_view payload;
};

// Parses the layout above; malformed => SerializationError (the text says what is wrong).
StoredValue parse_stored(std::string_view bytes);
void build_stored(std::string& out, bool raw_bytes, std::optional<std::int64_t> expiry);

// TTL index (ST-06): for every value written with an expiry, an empty entry under
//   0xFF 'T' <expiry: 8 bytes big-endian, sign bit flipped> <data key>
// so expired keys are found in expiry order by one range scan. User keys start with a value
// codec tag (< 0x10), so the index never meets them; it is changelogged like any key, and
// entries made stale by a later write are dropped when the sweep reaches them.
std::string ttl_index_key(std::int64_t expiry, std::string_view data_key);
// Whether `key` is such an index entry (its value is empty, not a stored value).
bool is_ttl_index_key(std::string_view key);

// Reads go to the pending writes first, then to the store (ST-02: reads see uncommitted
// writes). Entries stay after a checkpoint as a read cache, so a hot key is read from RocksDB
// once, not once per checkpoint: the store's memory budget bounds the cache (its share is
// kept after each checkpoint, the rest dropped), else kCacheEntries does. A read-modify-write
// of one key finds its entry once. Not thread-safe: one worker thread owns it.
//
// The cache is an open-addressing table whose slots hold short keys and values inline: a
// state read of a key that is cached costs the table's control bytes and one slot, about two
// cache misses, where a node-based map cost four or five (bucket, node, key bytes) and
// dominated a stateful count's extra cost over the same pipeline without state.
class PartitionTransaction {
 public:
  static constexpr std::size_t kCacheEntries = 200000;
  // What one cached entry costs on average besides its key and value bytes: its slot (64
  // bytes) at the table's usual load, and its control byte. An estimate for other caches'
  // accounting; this one charges its table's real size.
  static constexpr std::size_t kEntryOverhead = 80;

  explicit PartitionTransaction(PartitionStore& store)
      : store_(&store), charge_(store.memory_budget()) {}

  // The current bytes of `key` (pending or stored), nullopt when absent or deleted. The view
  // is valid until the next call on this transaction.
  std::optional<std::string_view> get(std::string_view key);
  void put(std::string_view key, std::string_view value);
  void remove(std::string_view key);

  // Whether nothing was written since the last checkpoint.
  bool empty() const noexcept { return changed_.empty(); }
  std::size_t size() const noexcept { return changed_.size(); }
  // Each key written since the last checkpoint once, with its final value (nullopt = deleted),
  // in no particular order. Walks only what changed, not the whole cache.
  template <class F>
  void for_each_change(F&& f) const {
    visit_changed(*this, [&f](const Key& k, const Entry& e) { f(view(k), e.get()); });
  }
  // The changes as a batch, one operation per key in no particular order: a store sorts a
  // batch where it applies it (RocksDB: on its writer thread), not on the run loop.
  WriteBatch batch() const;
  // batch() for a checkpoint that succeeded, in the same walk as marking the entries clean:
  // one visit of each changed slot instead of two. committed() must follow.
  WriteBatch take_changes();
  // The changes were written to the store: they become cached reads.
  void committed();
  // The changes are dropped (an aborted checkpoint): forget everything, the store decides.
  void discard() noexcept;
  PartitionStore& store() noexcept { return *store_; }
  // Bytes of the cache, pending writes included: the table's slots and control bytes at its
  // allocated capacity (a table is sized in powers of two and does not shrink by itself, so
  // its entry count says little), and the keys and values too long for a slot.
  std::size_t bytes() const noexcept {
    return table_bytes(entries_.capacity()) + heap_ + changed_.capacity() * sizeof(Changed);
  }
  std::size_t cached() const noexcept { return entries_.size(); }

  // Deletes up to `limit` stored entries whose expiry is <= `now` (ST-06: swept at flush).
  // Returns how many data entries were deleted.
  std::size_t sweep_expired(std::int64_t now, std::size_t limit);

 private:
  // Keys and values up to these sizes live in the slot itself (64 bytes with the flags);
  // longer ones on the heap.
  using Key = absl::InlinedVector<char, 24>;
  using Bytes = absl::InlinedVector<char, 16>;
  static std::string_view view(const Key& k) noexcept { return {k.data(), k.size()}; }
  static std::string_view view(std::string_view s) noexcept { return s; }
  // A state read of a cached key is mostly its hash, one compare of the key found and the
  // slot's cache miss: the hash is absl's and the compare a few word loads, no library calls.
  struct Hash {
    using is_transparent = void;
    template <class K>
    std::size_t operator()(const K& k) const noexcept {
      return detail::BytesHash{}(view(k));
    }
  };
  struct Eq {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      const std::string_view x = view(a);
      const std::string_view y = view(b);
      return x.size() == y.size() && detail::same_bytes(x.data(), y.data(), x.size());
    }
  };
  struct Entry {
    Bytes value;
    bool present = false;  // false = absent / deleted
    bool dirty = false;    // written since the last checkpoint
    bool recent = true;    // used since the last trim looked at it
    std::optional<std::string_view> get() const noexcept {
      if (!present) return std::nullopt;
      return std::string_view(value.data(), value.size());
    }
  };
  using Map = absl::flat_hash_map<Key, Entry, Hash, Eq>;
  static constexpr std::size_t table_bytes(std::size_t capacity) noexcept {
    // One control byte per slot, plus the cloned group at the end.
    return capacity == 0 ? 0 : capacity * (sizeof(Map::value_type) + 1) + 16;
  }
  // The capacity the table takes when sized for `entries` (at most 7/8 full).
  static std::size_t capacity_for(std::size_t entries) noexcept;
  // What a key or value takes on the heap when it does not fit in its slot, malloc's header
  // included.
  template <class V>
  static std::size_t out_of_line(const V& v) noexcept {
    return v.capacity() > V().capacity() ? v.capacity() + 16 : 0;
  }
  // The entry of `key`, read from the store into the cache when missing. Remembers it: the
  // put() that follows a get() of the same key does not look it up again.
  Entry& entry(std::string_view key, bool read_store);
  // `kv` is the entry just returned by entry() (last_, whose hash is last_hash_).
  void mark_dirty(Map::value_type& kv) {
    if (!kv.second.dirty) {
      kv.second.dirty = true;
      changed_.push_back({kv.first, last_hash_});
    }
  }

  // Calls f(key, entry) for each key written since the last checkpoint. Each slot is found
  // again by its key's hash, and by the time a checkpoint runs the pipeline has pushed most of
  // the table out of the caches: a lookup was a cache miss each, three per changed key per
  // checkpoint (changelog, store write, clean-up). The slots of the keys kAhead places on are
  // prefetched while this one is read, so the misses overlap instead of queueing; the hash
  // kept with each key spares the finds' hashes (three per key).
  // (`self` is *this, const or not, so f gets a const or a mutable entry.)
  template <class Self, class F>
  static void visit_changed(Self& self, F&& f) {
    constexpr std::size_t kAhead = 8;
    const auto& keys = self.changed_;
    const std::size_t n = keys.size();
    // The prefetch hashes its key again: handed the stored hash, GCC 12 emitted no prefetch
    // instruction at all (seen in the disassembly; the hash call is what keeps them), and the
    // misses queued.
    for (std::size_t i = 0; i < n && i < kAhead; ++i) self.entries_.prefetch(keys[i].key);
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) self.entries_.prefetch(keys[i + kAhead].key);
      f(keys[i].key, self.entries_.find(keys[i].key, keys[i].hash)->second);
    }
  }
  // Drops clean entries until the cache holds at most `target` bytes: first those not used
  // since the last trim (a clock sweep), then any.
  void trim(std::size_t target);

  PartitionStore* store_;
  MemoryCharge charge_;
  std::size_t heap_ = 0;  // out_of_line() of every cached key and value
  Map entries_;
  // The keys written since the last checkpoint: a checkpoint costs what changed, not the size
  // of the cache. Keys, not slot pointers: an insertion may move any slot (growth, or a
  // rehash in place that clears erased slots), so a checkpoint finds each one again.
  struct Changed {
    Key key;
    std::size_t hash;
  };
  std::vector<Changed> changed_;
  // The slot entry() returned last and its key's hash; only that call inserts, and it sets
  // these after inserting.
  Map::value_type* last_ = nullptr;
  std::size_t last_hash_ = 0;
};

}  // namespace streamframe::state

namespace streamframe::detail {

// What a State& points at while one stateful callable runs: the partition's transaction for
// one store, the message key every state key is prefixed with (ST-01), and the record's
// timestamp (TTL, ST-06). Reused for every record.
class StateScope {
 public:
  void reset(state::PartitionTransaction& txn, const Value& message_key, std::int64_t timestamp);

  Value get(const Value& key, Value default_value);
  void set(const Value& key, const Value& value, std::optional<std::int64_t> ttl_ms);
  void set_bytes(const Value& key, std::string_view bytes, std::optional<std::int64_t> ttl_ms);
  void remove(const Value& key);
  bool exists(const Value& key);
  std::optional<std::string> get_bytes(const Value& key);

 private:
  std::string_view full_key(const Value& key);
  // The live stored value of `key`, nullopt when absent or expired at the record's time.
  std::optional<state::StoredValue> lookup(const Value& key);

  state::PartitionTransaction* txn_ = nullptr;
  std::size_t prefix_len_ = 0;
  std::string key_;  // encoded message key, then the encoded user key
  std::string value_;
  std::int64_t timestamp_ = 0;
};

}  // namespace streamframe::detail
