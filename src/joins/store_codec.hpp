// The fixed-width pieces the join stores (TimelineState, LookupBuffer) write their entries
// with: integers as little-endian bytes (these hosts are; the window codec assumes the same),
// byte strings with a uint32 length in front.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "streamframe/errors.hpp"

namespace streamframe::detail {

template <class T>
void put_fixed(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}

inline void put_bytes(std::string& out, std::string_view b) {
  put_fixed(out, static_cast<std::uint32_t>(b.size()));
  out.append(b);
}

// Reads what put_fixed/put_bytes wrote; a short entry => SerializationError naming `store`.
class StoreReader {
 public:
  StoreReader(std::string_view bytes, const char* store) : rest_(bytes), store_(store) {}
  template <class T>
  T fixed() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    return v;
  }
  std::string_view bytes(std::size_t n) {
    need(n);
    auto out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return out;
  }
  // A length-prefixed byte string (put_bytes).
  std::string_view bytes() { return bytes(fixed<std::uint32_t>()); }
  bool done() const noexcept { return rest_.empty(); }
  // The entry must end here.
  void finish() const {
    if (!done())
      throw SerializationError(std::string(store_) + ": trailing bytes in a stored entry");
  }

 private:
  void need(std::size_t n) const {
    if (rest_.size() < n)
      throw SerializationError(std::string(store_) + ": a stored entry is truncated");
  }
  std::string_view rest_;
  const char* store_;
};

}  // namespace streamframe::detail
