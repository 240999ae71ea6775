// The short-range byte helpers behind JSON keys and field copies (src/core/short_bytes.hpp):
// every length around their 4/8/16/32-byte boundaries, a difference at every position, and
// buffers of exactly the compared length, so that a read past the end shows under ASan.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/short_bytes.hpp"

namespace streamframe::detail {
namespace {

std::unique_ptr<char[]> exact(const std::string& s) {
  auto p = std::make_unique<char[]>(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) p[i] = s[i];
  return p;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7) % 26);
  return s;
}

TEST(ShortBytes, EqualRangesOfEveryLengthAreEqual) {
  for (std::size_t n = 0; n <= 40; ++n) {
    const std::string s = pattern(n);
    const auto a = exact(s);
    const auto b = exact(s);
    EXPECT_TRUE(same_bytes(a.get(), b.get(), n)) << "length " << n;
  }
}

TEST(ShortBytes, ADifferenceAtAnyPositionIsSeen) {
  for (std::size_t n = 1; n <= 40; ++n) {
    const std::string s = pattern(n);
    const auto a = exact(s);
    for (std::size_t at = 0; at < n; ++at) {
      std::string t = s;
      t[at] = static_cast<char>(t[at] ^ 0x20);
      const auto b = exact(t);
      EXPECT_FALSE(same_bytes(a.get(), b.get(), n)) << "length " << n << ", byte " << at;
      EXPECT_FALSE(same_bytes(b.get(), a.get(), n)) << "length " << n << ", byte " << at;
    }
  }
}

TEST(ShortBytes, ACopyWritesExactlyTheRange) {
  for (std::size_t n = 0; n <= 40; ++n) {
    const std::string s = pattern(n);
    const auto src = exact(s);
    std::string dst(n + 2, '#');  // a guard byte on each side
    copy_bytes(dst.data() + 1, src.get(), n);
    EXPECT_EQ(dst, "#" + s + "#") << "length " << n;
  }
}

}  // namespace
}  // namespace streamframe::detail
