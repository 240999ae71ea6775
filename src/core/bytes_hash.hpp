// The hash of a byte string for the hash tables on per-record paths (state caches, window
// keys, topic handles). absl's hash of a short string is a few multiplications inline, where
// std::hash<std::string_view> is a call to libstdc++'s _Hash_bytes, which was a fifth of the
// instructions of the state cache's lookups in the engine-only word count.
#pragma once

#include <absl/hash/hash.h>
#include <absl/strings/string_view.h>

#include <cstddef>
#include <string_view>

namespace streamframe::detail {

struct BytesHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    // Through absl::string_view, not std's: Debian's absl is built with its own string_view
    // type, and for std::string_view absl::Hash falls back to std::hash.
    return absl::Hash<absl::string_view>{}(absl::string_view(s.data(), s.size()));
  }
};

}  // namespace streamframe::detail
