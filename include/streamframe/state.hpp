// Per-key state for stateful operations (SEMANTICS §10) and the RocksDB settings behind it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "streamframe/value.hpp"

namespace streamframe {

namespace detail {
class StateScope;
struct Access;
}  // namespace detail

enum class RocksDBCompression { none, snappy, zlib, bz2, lz4, lz4hc, zstd };

// SEMANTICS §1 RocksDBOptions (APP-07).
struct RocksDBOptions {
  static constexpr std::size_t kMiB = std::size_t{1024} * 1024;

  std::size_t write_buffer_size = 64 * kMiB;
  std::uint64_t target_file_size_base = 64 * kMiB;
  int max_write_buffer_number = 3;
  // One LRU block cache shared by every store of the process, the memtables of every store
  // charged to it. 0 = half of ApplicationConfig::state_memory_budget.
  std::size_t block_cache_size = 0;
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
  // A store whose files are damaged is deleted and rebuilt from its changelog (ST-08);
  // false => RocksDBCorruptedError.
  bool on_corrupted_recreate = true;
  std::size_t max_evictions_per_flush = 10000;
};

// What a stateful partition does when its committed offset fell below the topic's low
// watermark (APP-10).
enum class StateRecoveryOffsetReset { earliest, latest, match };

// The state a stateful callable sees: scoped to one store, one partition and the key of the
// message being processed (ST-01) — other keys are unreachable. Reads see the writes made
// since the last checkpoint (ST-02); the writes become durable (store and changelog) at the
// next checkpoint. A State& is valid only during the call it was passed to.
class State {
 public:
  // The value stored under `key`, or `default_value` when there is none (or it expired).
  Value get(const Value& key, Value default_value = Value()) const;
  // Stores `value` under `key`, without expiry (a key set earlier with a TTL becomes
  // permanent again).
  void set(const Value& key, const Value& value);
  // Stores `value` until `ttl` after the current record's timestamp (ST-06): it reads as
  // absent once a record with timestamp >= that arrives. ttl <= 0 => ConfigError.
  void set(const Value& key, const Value& value, std::chrono::milliseconds ttl);
  // `delete` is a C++ keyword.
  void remove(const Value& key);
  bool exists(const Value& key) const;

  // Raw bytes, not encoded: for callers with their own format. get_bytes of a key written by
  // set() (and get of one written by set_bytes) => ValueTypeError.
  std::optional<std::string> get_bytes(const Value& key) const;
  void set_bytes(const Value& key, std::string_view bytes);
  void set_bytes(const Value& key, std::string_view bytes, std::chrono::milliseconds ttl);

 private:
  friend struct detail::Access;
  explicit State(detail::StateScope& scope) noexcept : scope_(&scope) {}
  detail::StateScope* scope_;
};

}  // namespace streamframe
