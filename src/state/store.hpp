// Partition stores: one key-value store per (store name, partition) holding the state of that
// partition, written in batches at checkpoints (DESIGN "The run loop", CK-02 step 5).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace streamframe::state {

// Changes to apply together. Operations apply in the order they were added, so a later
// operation on the same key wins.
class WriteBatch {
 public:
  struct Op {
    std::string key;
    std::optional<std::string> value;  // nullopt = delete
  };

  void put(std::string_view key, std::string_view value) {
    ops_.push_back(Op{std::string(key), std::string(value)});
  }
  // `delete` is a keyword (ST-02 uses `remove` for the same reason).
  void remove(std::string_view key) { ops_.push_back(Op{std::string(key), std::nullopt}); }

  const std::vector<Op>& ops() const noexcept { return ops_; }
  std::size_t size() const noexcept { return ops_.size(); }
  bool empty() const noexcept { return ops_.empty(); }
  void clear() noexcept { ops_.clear(); }

 private:
  std::vector<Op> ops_;
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

  // The last offset given to write(); nullopt when none was ever recorded.
  virtual std::optional<std::int64_t> changelog_offset() const = 0;

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
