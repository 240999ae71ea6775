// Where partition stores come from: RocksDB under state_dir, or memory that outlives one
// worker but not the process (the embedded broker, EXT-09).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "state/memory_store.hpp"
#include "state/rocksdb_store.hpp"
#include "state/store.hpp"
#include "streamframe/state.hpp"

namespace streamframe::state {

struct StoreId {
  std::string store;
  std::string stream_id;
  std::int32_t partition = 0;
  auto tie() const { return std::tie(store, stream_id, partition); }
  friend bool operator<(const StoreId& a, const StoreId& b) { return a.tie() < b.tie(); }
};

class StoreProvider {
 public:
  virtual ~StoreProvider() = default;
  // Opens the store, creating it if needed. RocksDBCorruptedError for damaged files.
  virtual std::unique_ptr<PartitionStore> open(const StoreId& id,
                                               std::chrono::steady_clock::time_point deadline) = 0;
  // Deletes the (closed) store's data.
  virtual void destroy(const StoreId& id) = 0;
  virtual std::string describe(const StoreId& id) const = 0;
  // The budget of the caches in front of every store opened here (null = unbounded).
  virtual std::shared_ptr<MemoryBudget> memory_budget() const { return nullptr; }
};

// APP-06: `<state_dir>/<group>/<store>/<stream_id>/<partition>`.
class RocksDBProvider final : public StoreProvider {
 public:
  RocksDBProvider(std::filesystem::path state_dir, std::string group, RocksDBOptions options,
                  std::size_t memory_budget)
      : state_dir_(std::move(state_dir)),
        group_(std::move(group)),
        options_(std::move(options)),
        memory_(StoreMemory::make(options_, memory_budget)) {}
  std::unique_ptr<PartitionStore> open(const StoreId& id,
                                       std::chrono::steady_clock::time_point deadline) override;
  void destroy(const StoreId& id) override;
  std::string describe(const StoreId& id) const override { return path(id).string(); }
  std::shared_ptr<MemoryBudget> memory_budget() const override { return memory_.budget; }
  std::filesystem::path path(const StoreId& id) const;

 private:
  std::filesystem::path state_dir_;
  std::string group_;
  RocksDBOptions options_;
  StoreMemory memory_;  // shared by every store opened here
};

// Stores kept in memory by the provider; what open() returns is a handle whose close() leaves
// the data in place for the next open.
class MemoryProvider final : public StoreProvider {
 public:
  // The caches in front of the stores share half of `memory_budget` (the stores themselves
  // are memory anyway).
  explicit MemoryProvider(std::size_t memory_budget)
      : budget_(std::make_shared<MemoryBudget>(memory_budget - memory_budget / 2)) {}
  std::unique_ptr<PartitionStore> open(const StoreId& id,
                                       std::chrono::steady_clock::time_point deadline) override;
  void destroy(const StoreId& id) override;
  std::string describe(const StoreId& id) const override;
  std::shared_ptr<MemoryBudget> memory_budget() const override { return budget_; }
  void clear();

 private:
  std::shared_ptr<MemoryBudget> budget_;
  std::mutex mutex_;  // workers open stores from their own threads
  std::map<StoreId, std::shared_ptr<MemoryStore>> stores_;
};

}  // namespace streamframe::state
