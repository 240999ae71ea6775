#include "state/store.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

#include "streamframe/errors.hpp"

namespace streamframe::state {
namespace {

void check_part(std::string_view what, std::string_view part) {
  if (part.empty() || part == "." || part == ".." ||
      part.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos) {
    throw ConfigError("state store path: " + std::string(what) + " '" + std::string(part) +
                      "' cannot be a directory name (empty, '.', '..' or containing '/')");
  }
}

// Up to 8 bytes of `key` from `from` as a big-endian number, short keys padded with zeros:
// a < b for these numbers means a < b for the keys; equal numbers decide nothing.
std::uint64_t key_prefix(std::string_view key, std::size_t from) noexcept {
  std::uint64_t p = 0;
  const std::size_t n = key.size() > from ? std::min<std::size_t>(8, key.size() - from) : 0;
  for (std::size_t i = 0; i < 8; ++i) {
    p = (p << 8) | (i < n ? static_cast<std::uint8_t>(key[from + i]) : 0u);
  }
  return p;
}

}  // namespace

void WriteBatch::sort_by_key() {
  if (refs_.size() < 2) return;
  const std::string_view all(data_);
  const auto key = [all](const Ref& r) { return all.substr(r.key_pos, r.key_len); };
  // Comparing two keys where they live in a batch of many megabytes is a cache miss or two
  // and a memcmp call each, and a sort makes about n log n of them (a tenth of a restoring
  // thread's time). Instead each key's first 8 bytes after the prefix all keys share go into
  // a 16-byte entry beside its index, and most comparisons are one integer compare; the full
  // keys decide only between entries with equal numbers.
  const std::string_view first = key(refs_.front());
  std::size_t common = first.size();
  for (const Ref& r : refs_) {
    const std::string_view k = key(r);
    common = std::min(common, k.size());
    std::size_t i = 0;
    while (i < common && k[i] == first[i]) ++i;
    common = i;
    if (common == 0) break;
  }
  sort_order_.resize(refs_.size());
  for (std::size_t i = 0; i < refs_.size(); ++i) {
    sort_order_[i] = {key_prefix(key(refs_[i]), common), i};
  }
  std::sort(sort_order_.begin(), sort_order_.end(), [&](const SortEntry& a, const SortEntry& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    const Ref& x = refs_[a.index];
    const Ref& y = refs_[b.index];
    // Equal up to `common` + 8 (or to the shorter key's end): compare from `common` on.
    const int c = key(x).substr(common).compare(key(y).substr(common));
    return c < 0 || (c == 0 && x.key_pos < y.key_pos);
  });
  sorted_refs_.clear();
  sorted_refs_.reserve(refs_.size());
  for (const SortEntry& e : sort_order_) sorted_refs_.push_back(refs_[e.index]);
  refs_.swap(sorted_refs_);  // the old order's vector becomes the next sort's scratch
}

std::filesystem::path store_path(const std::filesystem::path& state_dir, std::string_view group,
                                 std::string_view store_name, std::string_view stream_id,
                                 std::int32_t partition) {
  if (state_dir.empty()) throw ConfigError("state store path: state_dir is empty");
  check_part("consumer group", group);
  check_part("store name", store_name);
  check_part("stream id", stream_id);
  if (partition < 0) {
    throw ConfigError("state store path: negative partition " + std::to_string(partition));
  }
  return state_dir / std::string(group) / std::string(store_name) / std::string(stream_id) /
         std::to_string(partition);
}

void ensure_writable_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw ConfigError("state directory '" + dir.string() + "' cannot be created: " + ec.message());
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    throw ConfigError("state directory '" + dir.string() + "' is not a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw ConfigError("state directory '" + dir.string() +
                      "' is not writable: " + std::strerror(errno));
  }
}

}  // namespace streamframe::state
