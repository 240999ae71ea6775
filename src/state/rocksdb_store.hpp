// RocksDB partition store (ST-03, ST-07, ST-08): one database per (store, partition).
#pragma once

#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "state/store.hpp"
#include "state/write_behind.hpp"
#include "streamframe/state.hpp"

namespace rocksdb {
class DB;
class Cache;
class ColumnFamilyHandle;
class WriteBufferManager;
}  // namespace rocksdb

namespace streamframe::state {

using streamframe::RocksDBCompression;
using streamframe::RocksDBOptions;

// What every store of a process shares (issue 15 item 3): one block cache, the memtables of
// every store charged to it (so RocksDB's memory has one bound however many stores are
// open), and the budget of streamframe's caches in front of the stores. A store opened without
// it gets a cache and memtable limit of its own.
struct StoreMemory {
  std::shared_ptr<rocksdb::Cache> block_cache;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers;
  std::shared_ptr<MemoryBudget> budget;
  // Applies the stores' write_behind() batches; null = they are written in the call.
  std::shared_ptr<BackgroundWriter> writer;

  // `state_memory_budget` split in two: half for RocksDB (the block cache, unless
  // options.block_cache_size sets it, with memtables up to half of it charged to it), half
  // for the caches in front of the stores.
  static StoreMemory make(const RocksDBOptions& options, std::size_t state_memory_budget);
};

class RocksDBStore final : public PartitionStore {
 public:
  // Opens (creating if missing) the database at `path`. The directory is created first; one
  // that cannot be => ConfigError naming it. While the LOCK is held elsewhere the open is
  // retried open_max_retries times, open_retry_backoff apart, but never sleeping past
  // `deadline` (the caller's share of the rebalance budget); then Error naming the path.
  // Damaged files => RocksDBCorruptedError (the caller may remove_files() and rebuild).
  // Options RocksDB rejects => ConfigError. Messages carry RocksDB's status text.
  RocksDBStore(
      std::filesystem::path path, const RocksDBOptions& options,
      std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max(),
      StoreMemory memory = {});
  ~RocksDBStore() override;
  RocksDBStore(const RocksDBStore&) = delete;
  RocksDBStore& operator=(const RocksDBStore&) = delete;

  std::optional<std::string> get(std::string_view key) const override;
  void scan(std::string_view begin, std::string_view end, const ScanFn& f) const override;
  void write(const WriteBatch& batch, std::optional<std::int64_t> changelog_offset) override;
  // On the process's BackgroundWriter when opened with one (StoreMemory::make), else write().
  void write_behind(WriteBatch batch, std::optional<std::int64_t> changelog_offset) override;
  void settle() const override;
  std::optional<std::int64_t> changelog_offset() const override;
  void begin_bulk_load() override;
  void end_bulk_load() override;
  void bulk_write(WriteBatch& batch, std::int64_t changelog_offset) override;
  std::shared_ptr<MemoryBudget> memory_budget() const override { return budget_; }
  // RocksDB's estimate of live data in table files plus its memtables.
  std::uint64_t approximate_bytes() const override;
  void close() override;
  bool closed() const noexcept override { return db_ == nullptr; }

  const std::filesystem::path& path() const noexcept { return path_; }

  // Deletes a (closed) store's files, e.g. a corrupted one before rebuilding it from the
  // changelog (ST-08).
  static void remove_files(const std::filesystem::path& path);

 private:
  // Throws unless open; waits for a write in flight first (and throws its failure).
  void check_open() const;
  void apply(const WriteBatch& batch, std::optional<std::int64_t> changelog_offset);
  std::optional<std::int64_t> read_changelog_offset() const;

  std::filesystem::path path_;
  std::shared_ptr<MemoryBudget> budget_;
  // Declared before the handles: members are destroyed in reverse order and RocksDB requires
  // column family handles to be released before their database.
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<rocksdb::ColumnFamilyHandle> data_cf_;
  // Store bookkeeping lives in its own column family so no user key can collide with it, and
  // one WriteBatch still spans both (the offset is atomic with the data).
  std::unique_ptr<rocksdb::ColumnFamilyHandle> meta_cf_;
  std::optional<std::int64_t> changelog_offset_;
  bool bulk_loading_ = false;
  std::uint64_t ingested_files_ = 0;  // names the next bulk-load table file
  rocksdb::WriteBatch batch_;
  // write_behind(): the thread, the batch it is applying (owned here until it is done) and
  // its completion. Every call that touches the database waits for it first.
  std::shared_ptr<BackgroundWriter> writer_;
  WriteBatch behind_;
  PendingWrite pending_;
};

}  // namespace streamframe::state
