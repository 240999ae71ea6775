// Equality and copies of short byte ranges (record keys, short field values) without a library
// call. Two overlapping fixed-size loads or stores cover any length from 4 to 16 bytes (four
// loads compare up to 32) and never touch a byte outside [p, p + n), so they are safe on any
// buffer; a memcmp or memcpy call costs more than the work for the few bytes of a typical key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace streamframe::detail {

template <typename Word>
inline Word load_word(const char* p) noexcept {
  Word w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

inline bool same_bytes(const char* a, const char* b, std::size_t n) noexcept {
  if (n > 16) {
    // State keys (a message key and a user key, encoded) are often 17 to 32 bytes: the first
    // and the last 16, overlapping, as four words.
    if (n > 32) return std::memcmp(a, b, n) == 0;
    return ((load_word<std::uint64_t>(a) ^ load_word<std::uint64_t>(b)) |
            (load_word<std::uint64_t>(a + 8) ^ load_word<std::uint64_t>(b + 8)) |
            (load_word<std::uint64_t>(a + n - 16) ^ load_word<std::uint64_t>(b + n - 16)) |
            (load_word<std::uint64_t>(a + n - 8) ^ load_word<std::uint64_t>(b + n - 8))) == 0;
  }
  if (n >= 8) {
    return load_word<std::uint64_t>(a) == load_word<std::uint64_t>(b) &&
           load_word<std::uint64_t>(a + n - 8) == load_word<std::uint64_t>(b + n - 8);
  }
  if (n >= 4) {
    return load_word<std::uint32_t>(a) == load_word<std::uint32_t>(b) &&
           load_word<std::uint32_t>(a + n - 4) == load_word<std::uint32_t>(b + n - 4);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

inline void copy_bytes(char* dst, const char* src, std::size_t n) noexcept {
  if (n > 16) {
    std::memcpy(dst, src, n);
  } else if (n >= 8) {
    const auto head = load_word<std::uint64_t>(src);
    const auto tail = load_word<std::uint64_t>(src + n - 8);
    std::memcpy(dst, &head, 8);
    std::memcpy(dst + n - 8, &tail, 8);
  } else if (n >= 4) {
    const auto head = load_word<std::uint32_t>(src);
    const auto tail = load_word<std::uint32_t>(src + n - 4);
    std::memcpy(dst, &head, 4);
    std::memcpy(dst + n - 4, &tail, 4);
  } else {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

}  // namespace streamframe::detail
