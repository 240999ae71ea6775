// In-memory partition store: for tests, sources and the embedded broker (ST-03), where state
// does not outlive the process.
#pragma once

#include <map>

#include "state/store.hpp"

namespace streamframe::state {

class MemoryStore final : public PartitionStore {
 public:
  // `budget`: what the caches in front of the store charge (null = unbounded).
  explicit MemoryStore(std::shared_ptr<MemoryBudget> budget = nullptr)
      : budget_(std::move(budget)) {}

  std::optional<std::string> get(std::string_view key) const override;
  void scan(std::string_view begin, std::string_view end, const ScanFn& f) const override;
  void write(const WriteBatch& batch, std::optional<std::int64_t> changelog_offset) override;
  std::optional<std::int64_t> changelog_offset() const override;
  void close() override;
  bool closed() const noexcept override { return closed_; }

  std::size_t size() const noexcept { return data_.size(); }
  std::shared_ptr<MemoryBudget> memory_budget() const override { return budget_; }
  // Keys and values (not the map's own nodes).
  std::uint64_t approximate_bytes() const override { return bytes_; }

 private:
  void check_open() const;

  // Ordered like RocksDB's bytewise comparator, so prefix scans added later behave the same
  // on both stores.
  std::map<std::string, std::string, std::less<>> data_;
  std::optional<std::int64_t> changelog_offset_;
  std::shared_ptr<MemoryBudget> budget_;
  std::uint64_t bytes_ = 0;
  bool closed_ = false;
};

}  // namespace streamframe::state
