// Partition stores: one key-value store per (store name, partition) holding the state of that
// partition, written in batches at checkpoints (DESIGN "The run loop", CK-02 step 5).
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/memory_budget.hpp"

namespace streamframe::state {

// Changes to apply together. Operations apply in the order they were added, so a later
// operation on the same key wins. Keys and values are kept in one buffer: no allocation per
// operation once the batch has grown (restores put millions of records through it).
class WriteBatch {
 public:
  struct Op {
    std::string_view key;
    std::optional<std::string_view> value;  // nullopt = delete
  };

  // Room for `ops` operations without growing (their bytes still grow the buffer).
  void reserve(std::size_t ops) { refs_.reserve(ops); }

  void put(std::string_view key, std::string_view value) {
    refs_.push_back(Ref{data_.size(), key.size(), data_.size() + key.size(), value.size(), true});
    data_.append(key);
    data_.append(value);
  }
  // `delete` is a keyword (ST-02 uses `remove` for the same reason).
  void remove(std::string_view key) {
    refs_.push_back(Ref{data_.size(), key.size(), 0, 0, false});
    data_.append(key);
  }

  // Calls f(const Op&) for each operation in order.
  template <class F>
  void for_each(F&& f) const {
    const std::string_view all(data_);
    for (const Ref& r : refs_) {
      Op op{all.substr(r.key_pos, r.key_len), std::nullopt};
      if (r.has_value) op.value = all.substr(r.value_pos, r.value_len);
      f(op);
    }
  }
  // Orders the operations by key, keeping the order of operations on one key (so the result
  // is the same): sorted inserts are much cheaper for RocksDB's memtable, and a table file
  // takes its keys in order. Operations are appended in order, so key_pos breaks ties in that
  // order and an unstable sort serves (std::stable_sort's merging took a tenth of a restoring
  // thread's time). Defined in store.cpp.
  void sort_by_key();
  // After sort_by_key(): calls f(const Op&) once per key with its last operation (the one
  // that decides the key's state), in key order.
  template <class F>
  void for_each_last_per_key(F&& f) const {
    const std::string_view all(data_);
    for (std::size_t i = 0; i < refs_.size(); ++i) {
      const Ref& r = refs_[i];
      const std::string_view key = all.substr(r.key_pos, r.key_len);
      if (i + 1 < refs_.size()) {
        const Ref& n = refs_[i + 1];
        if (all.substr(n.key_pos, n.key_len) == key) continue;
      }
      Op op{key, std::nullopt};
      if (r.has_value) op.value = all.substr(r.value_pos, r.value_len);
      f(op);
    }
  }
  std::size_t size() const noexcept { return refs_.size(); }
  // Bytes of keys and values held.
  std::size_t bytes() const noexcept { return data_.size(); }
  bool empty() const noexcept { return refs_.empty(); }
  void clear() noexcept {
    refs_.clear();
    data_.clear();
  }

 private:
  struct Ref {
    std::size_t key_pos, key_len, value_pos, value_len;
    bool has_value;
  };
  struct SortEntry {
    std::uint64_t prefix;  // the key's 8 bytes after the prefix all keys share, big-endian
    std::size_t index;     // into refs_
  };
  std::vector<Ref> refs_;
  std::string data_;
  // sort_by_key()'s working space, kept with their capacity: a restore sorts one batch of
  // many megabytes after another, and fresh vectors would fault in new pages each time.
  std::vector<SortEntry> sort_order_;
  std::vector<Ref> sorted_refs_;
};

// A partition's store. Owned and used by one worker thread; not thread-safe. After close()
// every call but close() throws InvalidOperation.
class PartitionStore {
 public:
  virtual ~PartitionStore() = default;

  virtual std::optional<std::string> get(std::string_view key) const = 0;

  // Calls `f(key, value)` for the keys in [begin, end) in bytewise order until `f` returns
  // false.
  using ScanFn = std::function<bool(std::string_view key, std::string_view value)>;
  virtual void scan(std::string_view begin, std::string_view end, const ScanFn& f) const = 0;

  // Applies `batch` and, when given, records `changelog_offset` as the changelog position the
  // store now reflects — both or neither, so recovery (ST-05) never replays onto data that
  // already contains the records, nor skips records the data lacks. nullopt keeps the stored
  // offset.
  virtual void write(const WriteBatch& batch, std::optional<std::int64_t> changelog_offset) = 0;

  // write() for a checkpoint that goes on processing meanwhile: the store may apply the batch
  // after returning (RocksDB: on a background thread, which also sorts it by key first). Every
  // later call on the store sees it applied; a call that would read the store after the write
  // failed throws that failure.
  virtual void write_behind(WriteBatch batch, std::optional<std::int64_t> changelog_offset) {
    write(batch, changelog_offset);
  }
  // Waits for a write_behind() in flight; throws its failure (again on every call). Nothing
  // to wait for once closed.
  virtual void settle() const {}

  // The last offset given to write(); nullopt when none was ever recorded.
  virtual std::optional<std::int64_t> changelog_offset() const = 0;

  // Recovery writes many batches in a row: a store may make them cheaper (RocksDB: no
  // write-ahead log) as long as end_bulk_load() makes everything durable before returning.
  virtual void begin_bulk_load() {}
  virtual void end_bulk_load() {}

  // Between begin_bulk_load() and end_bulk_load(): applies `batch` like write() and then
  // records `changelog_offset`. Unlike write(), the two need not be atomic: a crash between
  // them leaves the data newer than the recorded offset, and replaying the changelog from
  // that offset rewrites the same records in the same order, so the store ends up the same.
  // The batch is sorted by key (its result is the same). A store may take large batches a
  // cheaper way (RocksDB: one sorted table file ingested whole instead of a memtable insert
  // per record).
  virtual void bulk_write(WriteBatch& batch, std::int64_t changelog_offset) {
    batch.sort_by_key();
    write(batch, changelog_offset);
  }

  // The budget the caches in front of this store charge (the provider's, shared by every
  // store of the process); null = unbounded.
  virtual std::shared_ptr<MemoryBudget> memory_budget() const { return nullptr; }

  // Estimated bytes the store holds (EXT-08's state_bytes); cheap enough to ask at every
  // checkpoint. 0 when closed or unknown.
  virtual std::uint64_t approximate_bytes() const { return 0; }

  // Idempotent.
  virtual void close() = 0;
  virtual bool closed() const noexcept = 0;
};

// `<state_dir>/<group>/<store_name>/<stream_id>/<partition>` (APP-06). Each name becomes one
// directory level: empty, ".", ".." or containing '/' or NUL => ConfigError naming the part,
// so two stores can never share a directory or escape state_dir. Negative partition =>
// ConfigError.
std::filesystem::path store_path(const std::filesystem::path& state_dir, std::string_view group,
                                 std::string_view store_name, std::string_view stream_id,
                                 std::int32_t partition);

// Creates `dir` (and parents) if needed and checks that it is a writable directory, so an
// unusable state_dir fails at start with its path rather than at the first checkpoint.
// Otherwise => ConfigError naming the path.
void ensure_writable_dir(const std::filesystem::path& dir);

}  // namespace streamframe::state
