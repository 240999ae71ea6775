#include "state/provider.hpp"

#include "state/rocksdb_store.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::state {

std::filesystem::path RocksDBProvider::path(const StoreId& id) const {
  return store_path(state_dir_, group_, id.store, id.stream_id, id.partition);
}

std::unique_ptr<PartitionStore> RocksDBProvider::open(
    const StoreId& id, std::chrono::steady_clock::time_point deadline) {
  return std::make_unique<RocksDBStore>(path(id), options_, deadline, memory_);
}

void RocksDBProvider::destroy(const StoreId& id) {
  RocksDBStore::remove_files(path(id));
}

namespace {

// A view of a provider-owned store: closing it only ends this handle.
class MemoryHandle final : public PartitionStore {
 public:
  MemoryHandle(std::shared_ptr<MemoryStore> store, std::shared_ptr<MemoryBudget> budget)
      : store_(std::move(store)), budget_(std::move(budget)) {}
  std::shared_ptr<MemoryBudget> memory_budget() const override { return budget_; }
  std::optional<std::string> get(std::string_view key) const override {
    check();
    return store_->get(key);
  }
  void scan(std::string_view begin, std::string_view end, const ScanFn& f) const override {
    check();
    store_->scan(begin, end, f);
  }
  void write(const WriteBatch& batch, std::optional<std::int64_t> offset) override {
    check();
    store_->write(batch, offset);
  }
  std::optional<std::int64_t> changelog_offset() const override {
    check();
    return store_->changelog_offset();
  }
  std::uint64_t approximate_bytes() const override {
    return closed_ ? 0 : store_->approximate_bytes();
  }
  void close() override { closed_ = true; }
  bool closed() const noexcept override { return closed_; }

 private:
  void check() const {
    if (closed_) throw InvalidOperation("in-memory state store is closed");
  }
  std::shared_ptr<MemoryStore> store_;
  std::shared_ptr<MemoryBudget> budget_;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<PartitionStore> MemoryProvider::open(const StoreId& id,
                                                     std::chrono::steady_clock::time_point) {
  std::lock_guard lock(mutex_);
  auto& slot = stores_[id];
  if (!slot) slot = std::make_shared<MemoryStore>();
  return std::make_unique<MemoryHandle>(slot, budget_);
}

void MemoryProvider::destroy(const StoreId& id) {
  std::lock_guard lock(mutex_);
  stores_.erase(id);
}

std::string MemoryProvider::describe(const StoreId& id) const {
  return "memory:" + id.store + "/" + id.stream_id + "/" + std::to_string(id.partition);
}

void MemoryProvider::clear() {
  std::lock_guard lock(mutex_);
  stores_.clear();
}

}  // namespace streamframe::state
