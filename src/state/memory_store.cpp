#include "state/memory_store.hpp"

#include "streamframe/errors.hpp"

namespace streamframe::state {

void MemoryStore::check_open() const {
  if (closed_) throw InvalidOperation("in-memory state store is closed");
}

std::optional<std::string> MemoryStore::get(std::string_view key) const {
  check_open();
  auto it = data_.find(key);
  if (it == data_.end()) return std::nullopt;
  return it->second;
}

void MemoryStore::scan(std::string_view begin, std::string_view end, const ScanFn& f) const {
  check_open();
  for (auto it = data_.lower_bound(begin); it != data_.end() && it->first < end; ++it) {
    if (!f(it->first, it->second)) return;
  }
}

void MemoryStore::write(const WriteBatch& batch, std::optional<std::int64_t> changelog_offset) {
  check_open();
  // Nothing below throws except allocation; losing a batch half-way to bad_alloc is accepted
  // for a store whose contents die with the process anyway.
  batch.for_each([this](const WriteBatch::Op& op) {
    if (op.value) {
      auto [it, inserted] = data_.try_emplace(std::string(op.key));
      if (inserted) {
        bytes_ += op.key.size();
      } else {
        bytes_ -= it->second.size();
      }
      it->second.assign(*op.value);
      bytes_ += op.value->size();
    } else {
      auto it = data_.find(op.key);
      if (it != data_.end()) {
        bytes_ -= it->first.size() + it->second.size();
        data_.erase(it);
      }
    }
  });
  if (changelog_offset) changelog_offset_ = changelog_offset;
}

std::optional<std::int64_t> MemoryStore::changelog_offset() const {
  check_open();
  return changelog_offset_;
}

void MemoryStore::close() {
  closed_ = true;
  data_.clear();
  bytes_ = 0;
}

}  // namespace streamframe::state
