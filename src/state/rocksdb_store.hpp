// RocksDB partition store (ST-03, ST-07, ST-08): one database per (store, partition).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "state/store.hpp"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace streamframe::state {

enum class RocksDBCompression { none, snappy, zlib, bz2, lz4, lz4hc, zstd };

// SEMANTICS §1 RocksDBOptions. Private until the Application exposes it (APP-07); the last
// three fields are read by the caller, not by RocksDBStore.
struct RocksDBOptions {
  static constexpr std::size_t kMiB = 1024 * 1024;

  std::size_t write_buffer_size = 64 * kMiB;
  std::uint64_t target_file_size_base = 64 * kMiB;
  int max_write_buffer_number = 3;
  std::size_t block_cache_size = 128 * kMiB;
  double bloom_filter_bits_per_key = 10;
  bool enable_pipelined_write = false;
  RocksDBCompression compression = RocksDBCompression::lz4;
  std::uint64_t max_total_wal_size = 128 * kMiB;
  std::string wal_dir;     // empty = inside the database directory
  std::string db_log_dir;  // empty = inside the database directory
  bool use_fsync = true;
  // Attempts after the first while another handle holds the database's LOCK (ST-07).
  int open_max_retries = 10;
  std::chrono::milliseconds open_retry_backoff{3000};

  bool on_corrupted_recreate = true;
  std::size_t max_evictions_per_flush = 10000;
};

class RocksDBStore final : public PartitionStore {
 public:
  // Opens (creating if missing) the database at `path`. The directory is created first; one
  // that cannot be => ConfigError naming it. While the LOCK is held elsewhere the open is
  // retried open_max_retries times, open_retry_backoff apart, but never sleeping past
  // `deadline` (the caller's share of the rebalance budget); then Error naming the path.
  // Damaged files => RocksDBCorruptedError (the caller may remove_files() and rebuild).
  // Options RocksDB rejects => ConfigError. Messages carry RocksDB's status text.
  RocksDBStore(std::filesystem::path path, const RocksDBOptions& options,
               std::chrono::steady_clock::time_point deadline =
                   std::chrono::steady_clock::time_point::max());
  ~RocksDBStore() override;
  RocksDBStore(const RocksDBStore&) = delete;
  RocksDBStore& operator=(const RocksDBStore&) = delete;

  std::optional<std::string> get(std::string_view key) const override;
  void write(const WriteBatch& batch, std::optional<std::int64_t> changelog_offset) override;
  std::optional<std::int64_t> changelog_offset() const override;
  void close() override;
  bool closed() const noexcept override { return db_ == nullptr; }

  const std::filesystem::path& path() const noexcept { return path_; }

  // Deletes a (closed) store's files, e.g. a corrupted one before rebuilding it from the
  // changelog (ST-08).
  static void remove_files(const std::filesystem::path& path);

 private:
  void check_open() const;
  std::optional<std::int64_t> read_changelog_offset() const;

  std::filesystem::path path_;
  // Declared before the handles: members are destroyed in reverse order and RocksDB requires
  // column family handles to be released before their database.
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<rocksdb::ColumnFamilyHandle> data_cf_;
  // Store bookkeeping lives in its own column family so no user key can collide with it, and
  // one WriteBatch still spans both (the offset is atomic with the data).
  std::unique_ptr<rocksdb::ColumnFamilyHandle> meta_cf_;
  std::optional<std::int64_t> changelog_offset_;
};

}  // namespace streamframe::state
