// Binary encoding of Value for state stores (issue 3: "a compact binary encoding, not JSON
// text"). Persistent: stored values outlive the binary that wrote them, so tags are only ever
// added, never renumbered.
//
// Layout: one tag byte, then
//   null/false/true  nothing
//   int              zigzag varint (small magnitudes of either sign take one byte)
//   double           8 bytes, IEEE-754 bit pattern, little-endian (NaN/Inf kept bit-exact)
//   string           varint byte length, bytes
//   array            varint count, elements
//   object           varint count, then per entry: varint key length, key bytes, value
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "streamframe/value.hpp"

namespace streamframe::state {

// Nesting deeper than this is refused on both sides: decode recurses, and a crafted input
// must not be able to exhaust the stack.
inline constexpr std::size_t kMaxValueDepth = 512;

// Appends the encoding of `value` to `out`. Throws SerializationError when nesting exceeds
// kMaxValueDepth (what cannot be decoded is never written).
void encode(const Value& value, std::string& out);
std::string encode(const Value& value);

// Decodes exactly one value spanning all of `bytes`. Truncated, trailing or otherwise invalid
// input => SerializationError; never reads outside `bytes`.
Value decode(std::string_view bytes);

// Checks that `bytes` is exactly one well-formed encoding (tags, lengths, nesting) without
// building the Value; duplicate object keys are only caught by decode(). Throws like decode().
void validate(std::string_view bytes);

}  // namespace streamframe::state
