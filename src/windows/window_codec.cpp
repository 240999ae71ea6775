#include "windows/window_codec.hpp"

#include "state/value_codec.hpp"
#include "streamframe/errors.hpp"
#include "windows/aggregation.hpp"

namespace streamframe::detail::window_codec {

namespace {

constexpr std::uint8_t kOpenFlag = 1;

void put_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xFF));
}
std::uint64_t get_be64(std::string_view in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

Value window_to_value(const Window& w) {
  Array accs;
  accs.reserve(w.accs.size());
  for (const Acc& a : w.accs) accs.push_back(acc_to_value(a));
  return Value(Array{Value(w.start), Value(w.end), Value(w.count), Value(w.first_seq),
                     Value(std::move(accs))});
}

}  // namespace

const std::string& meta_key() {
  static const std::string key(
      "\xFF"
      "W",
      2);
  return key;
}

std::string key_state_key(std::string_view enc) {
  std::string key(1, kKeyTag);
  key.append(enc);
  return key;
}

std::string item_key_prefix(std::string_view enc) {
  std::string k;
  k.reserve(1 + 4 + enc.size() + 8);
  k.push_back(kItemTag);
  const auto n = static_cast<std::uint32_t>(enc.size());
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((n >> (i * 8)) & 0xFF));
  k.append(enc);
  return k;
}

std::string item_key(std::string_view enc, std::int64_t seq) {
  std::string k = item_key_prefix(enc);
  put_be64(k, static_cast<std::uint64_t>(seq));
  return k;
}

bool parse_item_key(std::string_view key, std::string_view& enc, std::int64_t& seq) {
  if (key.size() < 1 + 4 + 8 || key[0] != kItemTag) return false;
  std::uint32_t n = 0;
  for (int i = 1; i <= 4; ++i) n = (n << 8) | static_cast<unsigned char>(key[i]);
  if (key.size() != 1 + 4 + std::size_t{n} + 8) return false;
  enc = key.substr(5, n);
  seq = static_cast<std::int64_t>(get_be64(key.substr(5 + n)));
  return true;
}

bool is_open(std::string_view payload) noexcept {
  return !payload.empty() && (static_cast<unsigned char>(payload[0]) & kOpenFlag) != 0;
}

StoredKeyState decode_key_state(std::string_view payload) {
  if (payload.empty()) throw SerializationError("window store: empty key state");
  StoredKeyState out;
  out.layout = static_cast<unsigned char>(payload[0]) >> 1;
  if (out.layout > kKeyStateLayout) {
    throw SerializationError("window store: key state layout " + std::to_string(out.layout) +
                             " is newer than this version reads (" +
                             std::to_string(kKeyStateLayout) + ")");
  }
  const Value v = state::decode(payload.substr(1));
  const Array& a = v.as_array();
  if (a.size() != 5) throw SerializationError("window store: key state has the wrong shape");
  out.stream_time = a[0].as_int();
  out.closed_until = a[1].as_int();
  out.next_seq = a[2].as_int();
  // Layout 0 kept the closed-session bound at [3] (unused since WIN-13) and had no list of
  // closed sliding windows: those closed before the upgrade are not reported late.
  const Array& windows = out.layout == 0 ? a[4].as_array() : a[3].as_array();
  if (out.layout > 0) {
    for (const Value& end : a[4].as_array()) out.closed_ends.push_back(end.as_int());
  }
  for (const Value& wv : windows) {
    const Array& f = wv.as_array();
    if (f.size() != 5) throw SerializationError("window store: window has the wrong shape");
    StoredWindow w;
    w.start = f[0].as_int();
    w.end = f[1].as_int();
    w.count = f[2].as_int();
    w.first_seq = f[3].as_int();
    w.accs = f[4].as_array();
    out.windows.push_back(std::move(w));
  }
  return out;
}

void encode_key_state(const KeyState& ks, std::string& out) {
  Array windows;
  windows.reserve(ks.windows.size());
  for (const Window& w : ks.windows) windows.push_back(window_to_value(w));
  Array closed_ends;
  closed_ends.reserve(ks.closed_ends.size());
  for (const std::int64_t end : ks.closed_ends) closed_ends.emplace_back(end);
  // First byte: the layout, and whether anything is open, so loading skips keys that only
  // keep their time.
  out.push_back(static_cast<char>((kKeyStateLayout << 1) | (ks.nothing_kept() ? 0 : kOpenFlag)));
  state::encode(Value(Array{Value(ks.stream_time), Value(ks.closed_until), Value(ks.next_seq),
                            Value(std::move(windows)), Value(std::move(closed_ends))}),
                out);
}

void encode_item(const Item& item, std::string& out) {
  state::encode(Value(Array{Value(item.ts), Value(item.inputs)}), out);
}

void decode_item(std::string_view payload, Item& item) {
  const Value v = state::decode(payload);
  item.ts = v.at(0).as_int();
  item.inputs = v.at(1).as_array();
}

void encode_meta(std::int64_t partition_time, std::int64_t idle_floor, const Array& aggregations,
                 std::string& out) {
  state::encode(Value(Array{Value(partition_time), Value(idle_floor), Value(aggregations)}), out);
}

void decode_meta(std::string_view payload, std::int64_t& partition_time, std::int64_t& idle_floor,
                 Array& aggregations) {
  const Value m = state::decode(payload);
  partition_time = m.at(0).as_int();
  idle_floor = m.at(1).as_int();
  aggregations = m.at(2).as_array();
}

}  // namespace streamframe::detail::window_codec
