// How a window store keeps one partition's open windows (the store codec of WindowState).
//
// Store layout (one store per partition; values are wrapped by the state layer's stored-value
// header, see state/transaction.hpp):
//   'S' <encoded message key>                      the key's windows: flag byte, then a
//                                                   value-codec array (see below)
//   'I' <4-byte BE length> <encoded key> <8-byte BE seq>   one kept input: [ts, [inputs...]]
//   0xFF 'W'                                        the partition's stream time, the idle
//                                                   floor and the aggregation names
//
// The key state's flag byte: bit 0 = something is open (loading skips keys without), the bits
// above = the layout of the array after it:
//   layout 0 (written before WIN-13): [T, closed_T, next_seq, C, windows]; a session's end
//            was its last timestamp and C the largest end of a closed session (EXT-01).
//   layout 1: [T, closed_T, next_seq, windows, closed_ends]; a session's end is its last
//            timestamp + 1 (WIN-13); closed_ends = KeyState::closed_ends (sliding).
// (T = the key's stream time, closed_T = KeyState::closed_until.)
// Each window is [start, end, count, first_seq, [accumulator...]].
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "streamframe/value.hpp"
#include "windows/window_state.hpp"

namespace streamframe::detail::window_codec {

inline constexpr char kKeyTag = 'S';
inline constexpr char kItemTag = 'I';
// The layout written; older ones are read.
inline constexpr int kKeyStateLayout = 1;
// The partition's metadata record.
const std::string& meta_key();

std::string key_state_key(std::string_view enc);
std::string item_key(std::string_view enc, std::int64_t seq);
// What every item key of `enc` starts with (the range of a key's items begins there).
std::string item_key_prefix(std::string_view enc);
// The encoded message key and sequence of an item key; false for a malformed key.
bool parse_item_key(std::string_view key, std::string_view& enc, std::int64_t& seq);

// A key state as stored, accumulators not yet decoded (their meaning depends on the
// aggregations, which may have changed since: WIN-12).
struct StoredWindow {
  std::int64_t start = 0;
  std::int64_t end = 0;
  std::int64_t count = 0;
  std::int64_t first_seq = 0;
  Array accs;
};
struct StoredKeyState {
  int layout = kKeyStateLayout;
  std::int64_t stream_time = 0;
  std::int64_t closed_until = 0;
  std::int64_t next_seq = 0;
  std::vector<StoredWindow> windows;
  std::vector<std::int64_t> closed_ends;  // empty in layout 0
};

// Whether the stored key state has anything open (loading skips the others).
bool is_open(std::string_view payload) noexcept;
// Throws SerializationError for an empty, malformed or newer-layout state.
StoredKeyState decode_key_state(std::string_view payload);
// Appends the key state in the current layout.
void encode_key_state(const KeyState& ks, std::string& out);

void encode_item(const Item& item, std::string& out);
// Reads [ts, inputs] into `item` (its seq comes from the key).
void decode_item(std::string_view payload, Item& item);

void encode_meta(std::int64_t partition_time, std::int64_t idle_floor, const Array& aggregations,
                 std::string& out);
void decode_meta(std::string_view payload, std::int64_t& partition_time, std::int64_t& idle_floor,
                 Array& aggregations);

}  // namespace streamframe::detail::window_codec
