#include "state/rocksdb_store.hpp"

#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <system_error>
#include <thread>

#include "core/logging.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::state {
namespace {

constexpr const char* kMetaColumnFamily = "__streamframe_meta__";
constexpr std::string_view kChangelogOffsetKey = "changelog_offset";
// Bulk-load table files are written next to the database's own files under this prefix, which
// RocksDB's file names never start with, and ingested (moved) into it.
constexpr std::string_view kIngestFilePrefix = "streamframe-bulk-";
// Below this many operations a bulk-load batch goes through the memtable: a table file and
// its ingestion cost a fixed few milliseconds.
constexpr std::size_t kIngestMinOps = 4096;
// The block cache of a store opened without a process's shared one (tests, tools).
constexpr std::size_t kDefaultOwnCache = 64 * RocksDBOptions::kMiB;

rocksdb::CompressionType to_rocksdb(RocksDBCompression c) {
  switch (c) {
    case RocksDBCompression::none:
      return rocksdb::kNoCompression;
    case RocksDBCompression::snappy:
      return rocksdb::kSnappyCompression;
    case RocksDBCompression::zlib:
      return rocksdb::kZlibCompression;
    case RocksDBCompression::bz2:
      return rocksdb::kBZip2Compression;
    case RocksDBCompression::lz4:
      return rocksdb::kLZ4Compression;
    case RocksDBCompression::lz4hc:
      return rocksdb::kLZ4HCCompression;
    case RocksDBCompression::zstd:
      return rocksdb::kZSTD;
  }
  throw ConfigError("unknown RocksDB compression");
}

rocksdb::Options make_options(const RocksDBOptions& o, const StoreMemory& memory) {
  rocksdb::Options r;
  r.create_if_missing = true;
  r.create_missing_column_families = true;
  r.write_buffer_size = o.write_buffer_size;
  r.max_write_buffer_number = o.max_write_buffer_number;
  r.target_file_size_base = o.target_file_size_base;
  r.max_total_wal_size = o.max_total_wal_size;
  r.enable_pipelined_write = o.enable_pipelined_write;
  r.use_fsync = o.use_fsync;
  r.compression = to_rocksdb(o.compression);
  r.wal_dir = o.wal_dir;
  r.db_log_dir = o.db_log_dir;
  r.write_buffer_manager = memory.write_buffers;
  // A checkpoint writes its changed keys in key order, and the memtable already holds older
  // versions of most of them. Without a hint each insert searches the skip list from the top
  // (RocksDB reuses its last insert position only when the next key lands right after it,
  // which an older version in between prevents); with one hint for all keys (an empty
  // prefix) the search starts from the last insert and climbs only as far as the next key
  // is away: case k's store part 122-128 -> 83-86 ms per 95,000 keys (bench/README.md).
  r.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewCappedPrefixTransform(0));
  // A state read reaches RocksDB when the cache misses: a key never seen (a new user, word,
  // window) or one the cache dropped, and most of those are not in the memtable. Without a
  // filter each such read searches the memtable's skip list first (about 5,000 instructions
  // with 25,000 entries); a bloom filter over the memtable's whole keys answers "not here"
  // for a hash. Every memtable allocates its filter when created, charged to the write buffer
  // manager like the rest of it, so the size is a fixed cost per store: 0.2 % of the default
  // 64 MiB is 128 KiB, about 8 bits per key in a memtable of 8 MiB of small entries (the
  // shared 32 MiB default over four stores). Case k's memtable searches fell from 12 % of its
  // samples to 1.2 % (0.9 % with a ratio of 0.005, 2.6 % with 0.001); bench/README.md.
  r.memtable_prefix_bloom_size_ratio = 0.002;
  r.memtable_whole_key_filtering = true;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache =
      memory.block_cache
          ? memory.block_cache
          : rocksdb::NewLRUCache(o.block_cache_size > 0 ? o.block_cache_size : kDefaultOwnCache);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(o.bloom_filter_bits_per_key));
  r.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return r;
}

// RocksDB reports a held LOCK as a plain IOError; only the wording tells it apart from a disk
// failure, which must not be retried for a minute.
bool is_lock_held(const rocksdb::Status& s) {
  if (!s.IsIOError()) return false;
  const auto text = s.ToString();
  return text.find("lock hold by current process") != std::string::npos ||
         text.find("While lock file") != std::string::npos;
}

std::string describe(const std::filesystem::path& path, const rocksdb::Status& s) {
  return "'" + path.string() + "': " + s.ToString();
}

}  // namespace

StoreMemory StoreMemory::make(const RocksDBOptions& options, std::size_t state_memory_budget) {
  StoreMemory m;
  const std::size_t cache =
      options.block_cache_size > 0 ? options.block_cache_size : state_memory_budget / 2;
  m.block_cache = rocksdb::NewLRUCache(cache);
  // Memtables count against the cache: the cache's capacity is then what RocksDB holds, and a
  // full share flushes the largest memtable instead of growing.
  m.write_buffers = std::make_shared<rocksdb::WriteBufferManager>(cache / 2, m.block_cache);
  m.budget = std::make_shared<MemoryBudget>(state_memory_budget - state_memory_budget / 2);
  m.writer = std::make_shared<BackgroundWriter>();
  return m;
}

RocksDBStore::RocksDBStore(std::filesystem::path path, const RocksDBOptions& options,
                           std::chrono::steady_clock::time_point deadline, StoreMemory memory)
    : path_(std::move(path)), budget_(std::move(memory.budget)), writer_(std::move(memory.writer)) {
  if (options.open_max_retries < 0) {
    throw ConfigError("RocksDBOptions.open_max_retries must be >= 0, got " +
                      std::to_string(options.open_max_retries));
  }
  if (options.open_retry_backoff.count() < 0) {
    throw ConfigError("RocksDBOptions.open_retry_backoff must be >= 0");
  }
  ensure_writable_dir(path_);

  const auto db_options = make_options(options, memory);
  const rocksdb::ColumnFamilyOptions cf_options(db_options);
  // The meta family holds one key (the changelog offset), read once at open.
  rocksdb::ColumnFamilyOptions meta_options(db_options);
  meta_options.memtable_prefix_bloom_size_ratio = 0;
  const std::vector<rocksdb::ColumnFamilyDescriptor> families{
      {rocksdb::kDefaultColumnFamilyName, cf_options}, {kMetaColumnFamily, meta_options}};

  for (int attempt = 0;; ++attempt) {
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    auto status = rocksdb::DB::Open(db_options, path_.string(), families, &handles, &db);
    if (status.ok()) {
      db_.reset(db);
      data_cf_.reset(handles.at(0));
      meta_cf_.reset(handles.at(1));
      break;
    }
    if (status.IsCorruption()) {
      throw RocksDBCorruptedError("state store is corrupted at " + describe(path_, status));
    }
    if (!is_lock_held(status)) {
      if (status.IsInvalidArgument() || status.IsNotSupported()) {
        throw ConfigError("state store cannot be opened with these options at " +
                          describe(path_, status));
      }
      throw Error("state store cannot be opened at " + describe(path_, status));
    }
    const bool past_deadline =
        std::chrono::steady_clock::now() + options.open_retry_backoff > deadline;
    if (attempt >= options.open_max_retries || past_deadline) {
      throw Error("state store is locked by another handle after " + std::to_string(attempt + 1) +
                  " attempts (" + std::to_string(options.open_retry_backoff.count()) +
                  " ms apart) at " + describe(path_, status));
    }
    detail::logger()->warn("state store '{}' is locked, retrying in {} ms ({}/{})", path_.string(),
                           options.open_retry_backoff.count(), attempt + 1,
                           options.open_max_retries);
    std::this_thread::sleep_for(options.open_retry_backoff);
  }

  try {
    changelog_offset_ = read_changelog_offset();
  } catch (...) {
    close();
    throw;
  }
}

RocksDBStore::~RocksDBStore() {
  try {
    close();
  } catch (const std::exception& e) {
    detail::logger()->error("state store '{}': {}", path_.string(), e.what());
  }
}

void RocksDBStore::check_open() const {
  if (!db_) throw InvalidOperation("state store '" + path_.string() + "' is closed");
  pending_.wait();
}

void RocksDBStore::settle() const {
  if (db_) pending_.wait();
}

std::optional<std::int64_t> RocksDBStore::read_changelog_offset() const {
  std::string raw;
  auto s = db_->Get(rocksdb::ReadOptions(), meta_cf_.get(), kChangelogOffsetKey, &raw);
  if (s.IsNotFound()) return std::nullopt;
  if (s.IsCorruption()) {
    throw RocksDBCorruptedError("state store changelog offset unreadable at " + describe(path_, s));
  }
  if (!s.ok()) throw Error("state store changelog offset unreadable at " + describe(path_, s));
  if (raw.size() != 8) {
    throw RocksDBCorruptedError("state store '" + path_.string() + "' has a " +
                                std::to_string(raw.size()) + "-byte changelog offset, expected 8");
  }
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(raw[i])) << (8 * i);
  return static_cast<std::int64_t>(v);
}

std::optional<std::string> RocksDBStore::get(std::string_view key) const {
  check_open();
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), data_cf_.get(), key, &value);
  if (s.ok()) return value;
  if (s.IsNotFound()) return std::nullopt;
  if (s.IsCorruption())
    throw RocksDBCorruptedError("state store read failed at " + describe(path_, s));
  throw Error("state store read failed at " + describe(path_, s));
}

void RocksDBStore::scan(std::string_view begin, std::string_view end, const ScanFn& f) const {
  check_open();
  rocksdb::ReadOptions options;
  const rocksdb::Slice upper(end.data(), end.size());
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, data_cf_.get()));
  for (it->Seek(rocksdb::Slice(begin.data(), begin.size())); it->Valid(); it->Next()) {
    if (!f(std::string_view(it->key().data(), it->key().size()),
           std::string_view(it->value().data(), it->value().size()))) {
      return;
    }
  }
  const auto s = it->status();
  if (s.IsCorruption())
    throw RocksDBCorruptedError("state store scan failed at " + describe(path_, s));
  if (!s.ok()) throw Error("state store scan failed at " + describe(path_, s));
}

void RocksDBStore::begin_bulk_load() {
  check_open();
  bulk_loading_ = true;
  // A process that died mid-ingestion may have left its table file behind.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path_, ec)) {
    if (entry.path().filename().string().starts_with(kIngestFilePrefix)) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

void RocksDBStore::end_bulk_load() {
  check_open();
  if (!bulk_loading_) return;
  bulk_loading_ = false;
  // Without this, a crash after later (logged) writes could keep their changelog offset while
  // losing the unlogged restored data under it.
  rocksdb::FlushOptions options;
  options.wait = true;
  auto s = db_->Flush(options, {data_cf_.get(), meta_cf_.get()});
  if (!s.ok()) throw Error("state store flush after restore failed at " + describe(path_, s));
}

void RocksDBStore::bulk_write(WriteBatch& batch, std::int64_t changelog_offset) {
  check_open();
  batch.sort_by_key();
  if (!bulk_loading_ || batch.size() < kIngestMinOps) {
    write(batch, changelog_offset);
    return;
  }
  // A memtable insert walks a skip list per record (the restore's main cost, growing with the
  // memtable); a table file is written in key order once and ingested whole. The file's keys
  // get a sequence number above everything in the database, so it overrides older values like
  // later writes would.
  const auto file = path_ / fmt::format("{}{}.sst", kIngestFilePrefix, ingested_files_++);
  struct RemoveFile {
    const std::filesystem::path& p;
    ~RemoveFile() {
      std::error_code ec;
      std::filesystem::remove(p, ec);
    }
  } remove_file{file};
  const rocksdb::Options options = db_->GetOptions(data_cf_.get());
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(options), options, data_cf_.get());
  auto s = writer.Open(file.string());
  if (!s.ok()) throw Error("state store bulk-load file cannot be created at " + describe(file, s));
  batch.for_each_last_per_key([&](const WriteBatch::Op& op) {
    const rocksdb::Slice key(op.key.data(), op.key.size());
    s = op.value ? writer.Put(key, rocksdb::Slice(op.value->data(), op.value->size()))
                 : writer.Delete(key);
    if (!s.ok()) throw Error("state store bulk-load file write failed at " + describe(file, s));
  });
  s = writer.Finish();
  if (!s.ok()) throw Error("state store bulk-load file write failed at " + describe(file, s));
  rocksdb::IngestExternalFileOptions ingest;
  ingest.move_files = true;
  ingest.snapshot_consistency = false;  // the store takes no snapshots
  s = db_->IngestExternalFile(data_cf_.get(), {file.string()}, ingest);
  if (s.IsCorruption())
    throw RocksDBCorruptedError("state store bulk load failed at " + describe(path_, s));
  if (!s.ok()) throw Error("state store bulk load failed at " + describe(path_, s));
  write(WriteBatch{}, changelog_offset);
}

void RocksDBStore::write(const WriteBatch& batch, std::optional<std::int64_t> changelog_offset) {
  check_open();
  apply(batch, changelog_offset);
}

void RocksDBStore::write_behind(WriteBatch batch, std::optional<std::int64_t> changelog_offset) {
  // Sorted inserts are much cheaper for the memtable's skip list; the sort is the writer
  // thread's, not the run loop's (it was 7 % of a stateful checkpoint's instructions there).
  if (!writer_) {
    batch.sort_by_key();
    write(batch, changelog_offset);
    return;
  }
  check_open();
  if (batch.empty() && !changelog_offset) return;
  // Swapped in: the batch applied last leaves with the caller's copy, its buffers freed here
  // rather than on the writer thread.
  std::swap(behind_, batch);
  pending_.start(*writer_, [this, changelog_offset] {
    behind_.sort_by_key();
    apply(behind_, changelog_offset);
  });
}

// write() once the store is known open with nothing in flight: on the caller's thread, or on
// the writer thread for write_behind().
void RocksDBStore::apply(const WriteBatch& batch, std::optional<std::int64_t> changelog_offset) {
  if (batch.empty() && !changelog_offset) return;
  rocksdb::WriteBatch& wb = batch_;
  wb.Clear();  // reused: keeps its buffer, no page faults per batch
  batch.for_each([&](const WriteBatch::Op& op) {
    const rocksdb::Slice key(op.key.data(), op.key.size());
    auto s = op.value
                 ? wb.Put(data_cf_.get(), key, rocksdb::Slice(op.value->data(), op.value->size()))
                 : wb.Delete(data_cf_.get(), key);
    if (!s.ok()) throw Error("state store batch rejected at " + describe(path_, s));
  });
  if (changelog_offset) {
    char buf[8];
    auto v = static_cast<std::uint64_t>(*changelog_offset);
    for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    auto s = wb.Put(meta_cf_.get(), kChangelogOffsetKey, rocksdb::Slice(buf, 8));
    if (!s.ok()) throw Error("state store batch rejected at " + describe(path_, s));
  }
  rocksdb::WriteOptions options;
  // Bulk loading skips the write-ahead log; end_bulk_load() flushes before normal writes.
  options.disableWAL = bulk_loading_;
  auto s = db_->Write(options, &wb);
  if (s.IsCorruption())
    throw RocksDBCorruptedError("state store write failed at " + describe(path_, s));
  if (!s.ok()) throw Error("state store write failed at " + describe(path_, s));
  if (changelog_offset) changelog_offset_ = changelog_offset;
}

std::optional<std::int64_t> RocksDBStore::changelog_offset() const {
  check_open();
  return changelog_offset_;
}

std::uint64_t RocksDBStore::approximate_bytes() const {
  if (db_ == nullptr) return 0;
  std::uint64_t total = 0;
  for (const auto* cf : {data_cf_.get(), meta_cf_.get()}) {
    std::uint64_t v = 0;
    if (db_->GetIntProperty(const_cast<rocksdb::ColumnFamilyHandle*>(cf),
                            rocksdb::DB::Properties::kEstimateLiveDataSize, &v)) {
      total += v;
    }
    if (db_->GetIntProperty(const_cast<rocksdb::ColumnFamilyHandle*>(cf),
                            rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
      total += v;
    }
  }
  return total;
}

void RocksDBStore::close() {
  if (!db_) return;
  // A failed write in flight is reported once the database is closed: its batch is in the
  // changelog, above the offset the store recorded, so the next restore replays it.
  const std::exception_ptr failed = pending_.wait_quietly();
  meta_cf_.reset();
  data_cf_.reset();
  auto s = db_->Close();
  // The handle is gone either way: a failed Close has still released what it could, and a
  // second attempt would not do better.
  db_.reset();
  if (!s.ok()) throw Error("state store close failed at " + describe(path_, s));
  if (failed) std::rethrow_exception(failed);
}

void RocksDBStore::remove_files(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) {
    throw Error("state store files at '" + path.string() + "' cannot be removed: " + ec.message());
  }
}

}  // namespace streamframe::state
