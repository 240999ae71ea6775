#include "windows/window_node.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/logging.hpp"
#include "state/transaction.hpp"
#include "state/value_codec.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {

namespace {

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

// Floor division for possibly negative numerators (positive divisors).
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && (a < 0)) --q;
  return q;
}

// Stream-time arithmetic that saturates instead of wrapping: a grace or gap of
// milliseconds::max() means "never", not an overflow.
std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? kMax : kMin;
}
std::int64_t saturating_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (!__builtin_sub_overflow(a, b, &r)) return r;
  return b > 0 ? kMin : kMax;
}

// Store layout of a window store (one per partition):
//   'S' <encoded message key>                       the key's windows: flag byte, then a
//                                                    value-codec array (see KeyState)
//   'I' <4-byte BE length> <encoded key> <8-byte BE seq>   one collected/kept input
//   0xFF 'W'                                         the partition's stream time and idle floor
//
// The key state's flag byte: bit 0 = something is open (loading skips keys without), the
// bits above = the layout of the array after it:
//   layout 0 (written before WIN-13): [T, closed_T, next_seq, C, windows]; a session's end
//            was its last timestamp and C the largest end of a closed session (EXT-01).
//   layout 1: [T, closed_T, next_seq, windows, closed_ends]; a session's end is its last
//            timestamp + 1 (WIN-13); closed_ends = KeyState::closed_ends (sliding).
// A layout-0 session is read as [start, last + 1): the old and new rules keep sessions the
// same distance apart, so the conversion is exact; C is no longer used.
// Each window is [start, end, count, first_seq, [accumulator...]].
constexpr char kKeyTag = 'S';
constexpr char kItemTag = 'I';
constexpr std::uint8_t kOpenFlag = 1;
constexpr std::uint8_t kKeyStateLayout = 1;
const std::string kMetaKey(
    "\xFF"
    "W",
    2);

void put_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xFF));
}
std::uint64_t get_be64(std::string_view in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

struct Window {
  std::int64_t start = 0;
  // Exclusive for tumbling/hopping and sessions (a session's last timestamp + 1, WIN-13),
  // inclusive max ts for sliding and count windows.
  std::int64_t end = 0;
  std::int64_t count = 0;      // count windows: records in it
  std::int64_t first_seq = 0;  // count windows: sequence of its first record
  std::vector<Acc> accs;       // one per aggregation (collectors' stay unused)
};

// An input kept apart from the accumulators: collected values, and for sliding windows every
// accepted record (their windows are folded from them).
struct Item {
  std::int64_t ts = 0;
  std::int64_t seq = 0;
  std::vector<Value> inputs;  // one per aggregation; null where not kept
};

struct KeyState {
  std::string enc;  // the encoded message key (map key)
  Value key;
  std::int64_t T = kMin;              // max timestamp of the key (strategy key, sessions)
  std::int64_t closed_T = kMin;       // slices: stream time up to which windows were closed
  std::int64_t next_seq = 0;          // processing sequence (first/last, item keys)
  std::vector<Window> windows;        // by start (slices when sliced)
  std::vector<Item> items;            // by (ts, seq); count windows: by seq
  std::int64_t flushed_seq = 0;       // items with seq >= this are not in the store yet
  std::vector<std::int64_t> removed;  // stored items dropped since the last flush
  std::int64_t scheduled = kMin;      // partition strategy: the close time in the heap
  bool dirty = false;
  // Sliding: the ends of closed windows a record that is not wholly late can still fall in
  // (end + d + grace >= T), ascending; such a record is reported late for them (WIN-08). A
  // closed window's records stay in `items` as long as its end does, so its bounds are all
  // that is kept of it.
  std::vector<std::int64_t> closed_ends;
};

// Whether the key keeps nothing but its stream time (it may then leave memory).
bool nothing_kept(const KeyState& ks) {
  return ks.windows.empty() && ks.items.empty() && ks.closed_ends.empty();
}

struct Pending {
  std::int64_t start;
  const KeyState* ks;
  Row row;
};

struct Hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

class WindowState final : public OperatorState {
 public:
  WindowState(const WindowNode& node, state::PartitionTransaction& txn, std::int32_t partition)
      : node_(node),
        spec_(node.spec()),
        txn_(txn),
        partition_(partition),
        pane_(node.pane()),
        partition_strategy_(node.options().closing_strategy == ClosingStrategy::partition) {
    load();
  }

  void process(Row& row, ExecContext& ctx, bool track_clock);
  void flush(state::PartitionTransaction& txn) override;
  bool tick(std::int64_t now_ms, ExecContext& ctx) override;
  bool ticks() const override { return node_.options().idle_timeout.count() > 0; }
  void note_clock(std::int64_t now) { last_record_clock_ = now; }

 private:
  using Map = std::unordered_map<std::string, KeyState, Hash, std::equal_to<>>;

  void load();
  Array aggregation_names() const {
    Array names;
    for (std::size_t i = 0; i < spec_.aggs.size(); ++i) {
      names.emplace_back(spec_.columns[i] + "/" + spec_.aggs[i]->state_suffix());
    }
    return names;
  }
  KeyState& lookup(const Value& key);
  KeyState decode_key(std::string_view enc, std::string_view blob) const;
  void mark(KeyState& ks) {
    if (!ks.dirty) {
      ks.dirty = true;
      dirty_.push_back(&ks);
    }
  }

  // Per family: the record, then closing at stream time T.
  void process_time(KeyState& ks, Row& row, std::int64_t T, ExecContext& ctx);
  void process_sliced(KeyState& ks, Row& row, std::int64_t T, ExecContext& ctx);
  void process_sliding(KeyState& ks, Row& row, std::int64_t T, ExecContext& ctx);
  void report_closed_sliding_windows(const KeyState& ks, const Row& row, std::int64_t T,
                                     ExecContext& ctx) const;
  void create_sliding_window(KeyState& ks, std::int64_t end);
  // Sliding (WIN-07): whether `time` + d + grace < T. For a window's start: it is closed; for
  // a record's timestamp: the record is wholly late; for a window's end or a kept record's
  // timestamp: no record that is not wholly late can fall in it any more.
  bool sliding_passed(std::int64_t time, std::int64_t T) const {
    return saturating_add(saturating_add(time, spec_.duration), spec_.grace) < T;
  }
  void process_count(KeyState& ks, Row& row, ExecContext& ctx);
  void process_session(KeyState& ks, Row& row, std::int64_t W, ExecContext& ctx);
  Window& add_to_session(KeyState& ks, const Row& row, std::int64_t seq);
  // WIN-13 at stream time W: records before late_before are late, sessions ending by
  // close_before close.
  std::int64_t session_late_before(std::int64_t W) const {
    return saturating_sub(saturating_sub(W, spec_.gap), spec_.grace);
  }
  std::int64_t session_close_before(std::int64_t W) const {
    return saturating_sub(session_late_before(W), spec_.gap);
  }

  // Closes what the close rule closes at T; returns the next time anything of the key could
  // close (kMin = nothing open).
  void close_key(KeyState& ks, std::int64_t T);
  void close_time(KeyState& ks, std::int64_t T);
  void close_sliced(KeyState& ks, std::int64_t T);
  void close_sliding(KeyState& ks, std::int64_t T);
  void close_session(KeyState& ks, std::int64_t W);
  std::int64_t next_close(const KeyState& ks) const;
  void schedule(KeyState& ks);
  void close_partition(std::int64_t T);

  void add_record(KeyState& ks, Window& w, const Value& value, std::int64_t ts, std::int64_t seq);
  // One input into one accumulator; a user-defined aggregation's failure names window and key.
  void add_input(const KeyState& ks, Window& w, std::size_t agg, const Value& input,
                 std::int64_t ts, std::int64_t seq) const;
  // `later`'s accumulators into `into`'s (session merges, slices into a window).
  void merge_accs(const KeyState& ks, Window& into, const Window& later) const;
  void init_window(Window& w, std::int64_t start, std::int64_t end) const;
  // The index of the window (or slice) starting at `start`, created empty when absent.
  std::size_t window_at(KeyState& ks, std::int64_t start, std::int64_t end) const;
  void keep_item(KeyState& ks, const Value& value, std::int64_t ts, std::int64_t seq,
                 bool all_inputs, bool by_time);
  void drop_items_before(KeyState& ks, const std::function<bool(const Item&)>& expired);
  // What the window emits: {"start","end","value"} or the agg columns then start and end.
  Value output(const KeyState& ks, const Window& w) const;
  Array collected(const KeyState& ks, const Window& w, std::size_t agg) const;
  Row make_row(const KeyState& ks, const Window& w) const {
    return Row{output(ks, w), ks.key, w.start, Headers{}};
  }
  // on_late for one closed window [start, end] the record belongs to (WIN-08, WIN-13).
  void late(const KeyState& ks, const Row& row, std::int64_t late_by, std::int64_t start,
            std::int64_t end, ExecContext& ctx) const;
  // Time windows: late by T - grace - ts (WIN-08).
  std::int64_t late_by(const Row& row, std::int64_t T) const {
    return saturating_sub(saturating_sub(T, spec_.grace), row.timestamp);
  }
  [[noreturn]] void aggregation_failed(const KeyState& ks, const Window& w, std::size_t agg,
                                       const std::exception& e) const;
  bool user_defined(std::size_t agg) const {
    const auto k = spec_.aggs[agg]->kind;
    return k == AggKind::reduce || k == AggKind::custom || k == AggKind::custom_collect;
  }
  bool trigger(const WindowTriggerFn& f, const KeyState& ks, const Window& w, const Row& row);
  void emit_pending(ExecContext& ctx);
  std::int64_t stream_time(const KeyState& ks) const {
    return partition_strategy_ ? std::max(T_p_, floor_) : std::max(ks.T, floor_);
  }

  const WindowNode& node_;
  const WindowSpec& spec_;
  state::PartitionTransaction& txn_;
  std::int32_t partition_;
  std::int64_t pane_;
  bool partition_strategy_;

  Map keys_;
  std::vector<KeyState*> dirty_;
  std::int64_t T_p_ = kMin;    // max timestamp of the partition
  std::int64_t floor_ = kMin;  // EXT-02: every key's stream time is at least this
  bool meta_dirty_ = false;
  // Stored accumulator i goes to aggregation acc_map_[i] (-1 = dropped) when the stored
  // aggregations differ from the declared ones.
  bool remap_ = false;
  std::vector<int> acc_map_;
  std::optional<std::int64_t> last_record_clock_;
  // Partition strategy: when each key may next close something (entries may be stale).
  using Scheduled = std::pair<std::int64_t, std::string>;
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>> heap_;

  std::vector<Pending> closed_;     // closed by stream time: sorted by (start, key)
  std::vector<Pending> triggered_;  // closed by a trigger: after those
  std::string key_buf_;
  std::uint64_t null_keys_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Loading and flushing

std::string item_key(std::string_view enc, std::int64_t seq) {
  std::string k;
  k.reserve(1 + 4 + enc.size() + 8);
  k.push_back(kItemTag);
  const auto n = static_cast<std::uint32_t>(enc.size());
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((n >> (i * 8)) & 0xFF));
  k.append(enc);
  put_be64(k, static_cast<std::uint64_t>(seq));
  return k;
}

Value window_to_value(const Window& w) {
  Array accs;
  accs.reserve(w.accs.size());
  for (const Acc& a : w.accs) accs.push_back(acc_to_value(a));
  return Value(Array{Value(w.start), Value(w.end), Value(w.count), Value(w.first_seq),
                     Value(std::move(accs))});
}

KeyState WindowState::decode_key(std::string_view enc, std::string_view blob) const {
  KeyState ks;
  ks.enc = std::string(enc);
  ks.key = state::decode(enc);
  if (blob.empty()) throw SerializationError("window store: empty key state");
  const int layout = static_cast<unsigned char>(blob[0]) >> 1;
  if (layout > kKeyStateLayout) {
    throw SerializationError("window store: key state layout " + std::to_string(layout) +
                             " is newer than this version reads (" +
                             std::to_string(kKeyStateLayout) + ")");
  }
  const Value v = state::decode(blob.substr(1));
  const Array& a = v.as_array();
  if (a.size() != 5) throw SerializationError("window store: key state has the wrong shape");
  ks.T = a[0].as_int();
  ks.closed_T = a[1].as_int();
  ks.next_seq = a[2].as_int();
  // Layout 0 kept the closed-session bound at [3] (unused since WIN-13) and had no list of
  // closed sliding windows: those closed before the upgrade are not reported late.
  const Array& stored_windows = layout == 0 ? a[4].as_array() : a[3].as_array();
  if (layout > 0) {
    for (const Value& end : a[4].as_array()) ks.closed_ends.push_back(end.as_int());
  }
  const bool inclusive_session_ends = layout == 0 && spec_.kind == WindowKind::session;
  for (const Value& wv : stored_windows) {
    const Array& f = wv.as_array();
    if (f.size() != 5) throw SerializationError("window store: window has the wrong shape");
    Window w;
    w.start = f[0].as_int();
    w.end = f[1].as_int() + (inclusive_session_ends ? 1 : 0);
    w.count = f[2].as_int();
    w.first_seq = f[3].as_int();
    const Array& accs = f[4].as_array();
    if (!remap_) {
      if (accs.size() != spec_.aggs.size()) {
        throw SerializationError("window store: " + std::to_string(accs.size()) +
                                 " accumulators stored, the window has " +
                                 std::to_string(spec_.aggs.size()) + " aggregations");
      }
      for (const Value& acc : accs) w.accs.push_back(acc_from_value(acc));
    } else {
      // The aggregations changed since the state was written (WIN-12): accumulators are
      // matched by `<column>/<state_suffix>`; new ones start from their initial value.
      const std::int64_t start = w.start;
      const std::int64_t end = w.end;
      const std::int64_t count = w.count;
      const std::int64_t first = w.first_seq;
      init_window(w, start, end);
      w.count = count;
      w.first_seq = first;
      for (std::size_t j = 0; j < accs.size() && j < acc_map_.size(); ++j) {
        if (acc_map_[j] >= 0)
          w.accs[static_cast<std::size_t>(acc_map_[j])] = acc_from_value(accs[j]);
      }
    }
    ks.windows.push_back(std::move(w));
  }
  ks.flushed_seq = ks.next_seq;
  return ks;
}

void WindowState::load() {
  // Everything open is read once, when the partition's state is first used: windows of
  // every key can close (partition strategy, idle closing), so they must be known.
  const Array names = aggregation_names();
  if (auto meta = txn_.get(kMetaKey)) {
    const Value m = state::decode(state::parse_stored(*meta).payload);
    T_p_ = m.at(0).as_int();
    floor_ = m.at(1).as_int();
    const Array& stored = m.at(2).as_array();
    if (stored != names) {
      remap_ = true;
      for (const Value& name : stored) {
        auto it = std::find(names.begin(), names.end(), name);
        acc_map_.push_back(it == names.end() ? -1 : static_cast<int>(it - names.begin()));
      }
      logger()->info(
          "window store '{}' partition {}: aggregations changed, accumulators "
          "matched by name",
          node_.store_name(), partition_);
    }
  }
  meta_dirty_ = true;  // written at the first checkpoint with the current aggregations
  txn_.store().scan(std::string(1, kKeyTag), std::string(1, kKeyTag + 1),
                    [&](std::string_view k, std::string_view v) {
                      const auto stored = state::parse_stored(v);
                      if (stored.payload.empty() || (stored.payload[0] & kOpenFlag) == 0)
                        return true;
                      KeyState ks = decode_key(k.substr(1), stored.payload);
                      std::string enc = ks.enc;
                      keys_.emplace(std::move(enc), std::move(ks));
                      return true;
                    });
  txn_.store().scan(std::string(1, kItemTag), std::string(1, kItemTag + 1),
                    [&](std::string_view k, std::string_view v) {
                      if (k.size() < 1 + 4 + 8) return true;
                      std::uint32_t n = 0;
                      for (int i = 1; i <= 4; ++i) n = (n << 8) | static_cast<unsigned char>(k[i]);
                      if (k.size() != 1 + 4 + n + 8) return true;
                      const std::string_view enc = k.substr(5, n);
                      auto it = keys_.find(enc);
                      if (it == keys_.end()) return true;  // an orphan: its key has nothing open
                      const auto stored = state::parse_stored(v);
                      const Value item = state::decode(stored.payload);
                      Item i;
                      i.ts = item.at(0).as_int();
                      i.seq = static_cast<std::int64_t>(get_be64(k.substr(5 + n)));
                      i.inputs = item.at(1).as_array();
                      if (remap_) {
                        std::vector<Value> inputs(spec_.aggs.size());
                        for (std::size_t j = 0; j < i.inputs.size() && j < acc_map_.size(); ++j) {
                          if (acc_map_[j] >= 0) inputs[acc_map_[j]] = std::move(i.inputs[j]);
                        }
                        i.inputs = std::move(inputs);
                      }
                      it->second.items.push_back(std::move(i));
                      return true;
                    });
  const bool by_time = !spec_.count_based();
  for (auto& [enc, ks] : keys_) {
    if (by_time) {
      std::stable_sort(ks.items.begin(), ks.items.end(), [](const Item& a, const Item& b) {
        return a.ts != b.ts ? a.ts < b.ts : a.seq < b.seq;
      });
    } else {
      std::sort(ks.items.begin(), ks.items.end(),
                [](const Item& a, const Item& b) { return a.seq < b.seq; });
    }
    if (partition_strategy_) schedule(ks);
    if (remap_) {
      // Rewritten in the current layout at the next checkpoint, items included.
      ks.flushed_seq = 0;
      mark(ks);
    }
  }
}

void WindowState::flush(state::PartitionTransaction& txn) {
  std::vector<std::string> idle_keys;
  std::string blob;
  std::string stored;
  for (KeyState* ks : dirty_) {
    ks->dirty = false;
    Array windows;
    windows.reserve(ks->windows.size());
    for (const Window& w : ks->windows) windows.push_back(window_to_value(w));
    Array closed_ends;
    closed_ends.reserve(ks->closed_ends.size());
    for (const std::int64_t end : ks->closed_ends) closed_ends.emplace_back(end);
    blob.clear();
    // First byte: the layout, and whether anything is open, so loading skips keys that only
    // keep their time.
    const bool open = !nothing_kept(*ks);
    blob.push_back(static_cast<char>((kKeyStateLayout << 1) | (open ? kOpenFlag : 0)));
    state::encode(Value(Array{Value(ks->T), Value(ks->closed_T), Value(ks->next_seq),
                              Value(std::move(windows)), Value(std::move(closed_ends))}),
                  blob);
    stored.clear();
    state::build_stored(stored, true, std::nullopt);
    stored.append(blob);
    std::string key(1, kKeyTag);
    key.append(ks->enc);
    txn.put(key, stored);
    for (std::int64_t seq : ks->removed) txn.remove(item_key(ks->enc, seq));
    ks->removed.clear();
    for (const Item& item : ks->items) {
      if (item.seq < ks->flushed_seq) continue;
      stored.clear();
      state::build_stored(stored, true, std::nullopt);
      state::encode(Value(Array{Value(item.ts), Value(item.inputs)}), stored);
      txn.put(item_key(ks->enc, item.seq), stored);
    }
    ks->flushed_seq = ks->next_seq;
    if (!open) idle_keys.push_back(ks->enc);
  }
  dirty_.clear();
  if (meta_dirty_) {
    stored.clear();
    state::build_stored(stored, true, std::nullopt);
    state::encode(Value(Array{Value(T_p_), Value(floor_), Value(aggregation_names())}), stored);
    txn.put(kMetaKey, stored);
    meta_dirty_ = false;
  }
  // Keys with nothing open leave memory: their stream time is in the store, read again when
  // the key comes back. Only a change can empty a key, so only changed keys are looked at.
  for (const std::string& enc : idle_keys) keys_.erase(enc);
}

KeyState& WindowState::lookup(const Value& key) {
  key_buf_.clear();
  state::encode(key, key_buf_);
  auto it = keys_.find(std::string_view(key_buf_));
  if (it != keys_.end()) return it->second;
  std::string store_key(1, kKeyTag);
  store_key.append(key_buf_);
  KeyState ks;
  if (auto v = txn_.get(store_key)) {
    const auto stored = state::parse_stored(*v);
    ks = decode_key(key_buf_, stored.payload);
  } else {
    ks.enc = key_buf_;
    ks.key = key;
  }
  return keys_.emplace(key_buf_, std::move(ks)).first->second;
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

void WindowState::init_window(Window& w, std::int64_t start, std::int64_t end) const {
  w.start = start;
  w.end = end;
  w.count = 0;
  w.first_seq = 0;
  w.accs.resize(spec_.aggs.size());
  for (std::size_t i = 0; i < spec_.aggs.size(); ++i) {
    const auto& a = *spec_.aggs[i];
    if (a.kind == AggKind::custom) {
      try {
        acc_init(a, w.accs[i]);
      } catch (const std::exception& e) {
        throw AggregationError("window [" + std::to_string(start) + ", " + std::to_string(end) +
                               ") of store '" + node_.store_name() + "': aggregation '" +
                               spec_.columns[i] + "' failed to initialize: " + e.what());
      }
    } else {
      acc_init(a, w.accs[i]);
    }
  }
}

void WindowState::aggregation_failed(const KeyState& ks, const Window& w, std::size_t agg,
                                     const std::exception& e) const {
  std::string key_text;
  try {
    key_text = ks.key.to_json();
  } catch (const std::exception&) {
    key_text = "<key>";
  }
  throw AggregationError("window [" + std::to_string(w.start) + ", " + std::to_string(w.end) +
                         "] of key " + key_text + " in store '" + node_.store_name() +
                         "': aggregation '" + spec_.columns[agg] + "' failed: " + e.what());
}

std::size_t WindowState::window_at(KeyState& ks, std::int64_t start, std::int64_t end) const {
  auto& ws = ks.windows;
  // Records mostly go to the newest window.
  if (!ws.empty() && ws.back().start == start) return ws.size() - 1;
  auto it = std::lower_bound(ws.begin(), ws.end(), start,
                             [](const Window& w, std::int64_t s) { return w.start < s; });
  if (it != ws.end() && it->start == start) return static_cast<std::size_t>(it - ws.begin());
  Window w;
  init_window(w, start, end);
  const auto inserted = ws.insert(it, std::move(w));  // may reallocate: begin() after it
  return static_cast<std::size_t>(inserted - ws.begin());
}

void WindowState::add_record(KeyState& ks, Window& w, const Value& value, std::int64_t ts,
                             std::int64_t seq) {
  if (w.count == 0) w.first_seq = seq;
  ++w.count;
  for (std::size_t i = 0; i < spec_.aggs.size(); ++i) {
    if (!spec_.aggs[i]->is_collector()) add_input(ks, w, i, spec_.aggs[i]->input(value), ts, seq);
  }
}

void WindowState::add_input(const KeyState& ks, Window& w, std::size_t agg, const Value& input,
                            std::int64_t ts, std::int64_t seq) const {
  try {
    acc_add(*spec_.aggs[agg], w.accs[agg], input, ts, seq);
  } catch (const std::exception& e) {
    if (!user_defined(agg)) throw;
    aggregation_failed(ks, w, agg, e);
  }
}

void WindowState::merge_accs(const KeyState& ks, Window& into, const Window& later) const {
  for (std::size_t i = 0; i < spec_.aggs.size(); ++i) {
    if (spec_.aggs[i]->is_collector()) continue;
    try {
      acc_merge(*spec_.aggs[i], into.accs[i], later.accs[i]);
    } catch (const std::exception& e) {
      if (!user_defined(i)) throw;
      aggregation_failed(ks, into, i, e);
    }
  }
  into.count += later.count;
}

void WindowState::keep_item(KeyState& ks, const Value& value, std::int64_t ts, std::int64_t seq,
                            bool all_inputs, bool by_time) {
  Item item;
  item.ts = ts;
  item.seq = seq;
  item.inputs.resize(spec_.aggs.size());
  for (std::size_t i = 0; i < spec_.aggs.size(); ++i) {
    if (all_inputs || spec_.aggs[i]->is_collector()) item.inputs[i] = spec_.aggs[i]->input(value);
  }
  if (!by_time || ks.items.empty() || ks.items.back().ts <= ts) {
    ks.items.push_back(std::move(item));
    return;
  }
  auto pos = std::upper_bound(ks.items.begin(), ks.items.end(), ts,
                              [](std::int64_t t, const Item& i) { return t < i.ts; });
  ks.items.insert(pos, std::move(item));
}

void WindowState::drop_items_before(KeyState& ks, const std::function<bool(const Item&)>& expired) {
  if (ks.items.empty()) return;
  // Items are ordered so that the expired ones form a prefix.
  std::size_t n = 0;
  while (n < ks.items.size() && expired(ks.items[n])) {
    if (ks.items[n].seq < ks.flushed_seq) ks.removed.push_back(ks.items[n].seq);
    ++n;
  }
  if (n > 0) ks.items.erase(ks.items.begin(), ks.items.begin() + static_cast<std::ptrdiff_t>(n));
}

Array WindowState::collected(const KeyState& ks, const Window& w, std::size_t agg) const {
  Array out;
  if (spec_.count_based()) {
    for (const Item& i : ks.items) {
      if (i.seq >= w.first_seq && i.seq < w.first_seq + w.count) out.push_back(i.inputs[agg]);
    }
    return out;
  }
  // Tumbling/hopping and session ends are exclusive; sliding ends are the last timestamp.
  const bool inclusive = spec_.kind == WindowKind::sliding;
  auto it = std::lower_bound(ks.items.begin(), ks.items.end(), w.start,
                             [](const Item& i, std::int64_t t) { return i.ts < t; });
  for (; it != ks.items.end(); ++it) {
    if (inclusive ? it->ts > w.end : it->ts >= w.end) break;
    out.push_back(it->inputs[agg]);
  }
  return out;
}

Value WindowState::output(const KeyState& ks, const Window& w) const {
  auto result = [&](std::size_t i) -> Value {
    const AggregationSpec& a = *spec_.aggs[i];
    try {
      if (a.kind == AggKind::collect) return Value(collected(ks, w, i));
      if (a.kind == AggKind::custom_collect) return a.collector->result(collected(ks, w, i));
      return acc_result(a, w.accs[i]);
    } catch (const std::exception& e) {
      if (!user_defined(i)) throw;
      aggregation_failed(ks, w, i, e);
    }
  };
  Object out;
  if (spec_.single) {
    out.reserve(3);
    out.append_unchecked("start", Value(w.start));
    out.append_unchecked("end", Value(w.end));
    out.append_unchecked("value", result(0));
    return Value(std::move(out));
  }
  out.reserve(spec_.aggs.size() + 2);
  for (std::size_t i = 0; i < spec_.aggs.size(); ++i) {
    if (!spec_.aggs[i]->is_collector()) out.append_unchecked(spec_.columns[i], result(i));
  }
  for (std::size_t i = 0; i < spec_.aggs.size(); ++i) {
    if (spec_.aggs[i]->is_collector()) out.append_unchecked(spec_.columns[i], result(i));
  }
  out.append_unchecked("start", Value(w.start));
  out.append_unchecked("end", Value(w.end));
  return Value(std::move(out));
}

void WindowState::late(const KeyState& ks, const Row& row, std::int64_t late_by, std::int64_t start,
                       std::int64_t end, ExecContext& ctx) const {
  bool log = true;
  if (spec_.on_late) {
    const MessageContext& mc = ctx.context();
    LateRecord lr{row.value,          ks.key,   row.timestamp, late_by,  start, end,
                  node_.store_name(), mc.topic, mc.partition,  mc.offset};
    log = spec_.on_late(lr);
  }
  if (log) {
    logger()->warn(
        "skipping window processing for a closed window: store '{}', window [{}, {}], "
        "timestamp {}, late by {} ms (partition {})",
        node_.store_name(), start, end, row.timestamp, late_by, partition_);
  }
}

bool WindowState::trigger(const WindowTriggerFn& f, const KeyState& ks, const Window& w,
                          const Row& row) {
  return f(output(ks, w), row.value, ks.key, row.timestamp, row.headers);
}

void WindowState::emit_pending(ExecContext& ctx) {
  if (closed_.size() > 1) {
    std::stable_sort(closed_.begin(), closed_.end(), [](const Pending& a, const Pending& b) {
      if (a.start != b.start) return a.start < b.start;
      return a.ks->enc < b.ks->enc;
    });
  }
  // Rows leave the vectors before running downstream: a child may throw, and the next
  // record must not emit them again.
  if (closed_.empty() && triggered_.empty()) return;
  std::vector<Pending> closed = std::move(closed_);
  std::vector<Pending> triggered = std::move(triggered_);
  closed_.clear();
  triggered_.clear();
  for (auto& p : closed) node_.forward_from(p.row, ctx);
  for (auto& p : triggered) node_.forward_from(p.row, ctx);
}

// ---------------------------------------------------------------------------------------------
// The record

void WindowState::process(Row& row, ExecContext& ctx, bool track_clock) {
  if (row.key.is_null()) {
    ++null_keys_;
    ctx.count_null_key();
    // WIN-01: skipped. Logged at the first and then at every power of two, so a stream of
    // keyless records cannot flood the log but the count stays visible.
    if ((null_keys_ & (null_keys_ - 1)) == 0) {
      logger()->warn("window '{}': skipped a record with a null key ({} so far in partition {})",
                     node_.store_name(), null_keys_, partition_);
    }
    return;
  }
  const std::int64_t ts = row.timestamp;
  if (ts < 0) {
    throw InvalidTimestamp("window '" + node_.store_name() + "': the record's timestamp " +
                           std::to_string(ts) +
                           " is negative or missing; windows need timestamps >= 0");
  }
  if (track_clock) last_record_clock_ = ctx.now_ms();
  KeyState& ks = lookup(row.key);
  mark(ks);
  if (spec_.count_based()) {
    process_count(ks, row, ctx);
    emit_pending(ctx);
    return;
  }
  if (ts > T_p_) {
    T_p_ = ts;
    meta_dirty_ = true;
  }
  ks.T = std::max(ks.T, ts);
  const std::int64_t T = stream_time(ks);
  switch (spec_.kind) {
    case WindowKind::sliding:
      process_sliding(ks, row, T, ctx);
      break;
    case WindowKind::session:
      process_session(ks, row, T, ctx);
      break;
    default:
      if (pane_ > 0) {
        process_sliced(ks, row, T, ctx);
      } else {
        process_time(ks, row, T, ctx);
      }
  }
  if (partition_strategy_) {
    schedule(ks);
    close_partition(T);
  }
  emit_pending(ctx);
}

// Tumbling and hopping, one accumulator per window (WIN-02, WIN-03, WIN-07, WIN-08, WIN-11).
void WindowState::process_time(KeyState& ks, Row& row, std::int64_t T, ExecContext& ctx) {
  const std::int64_t ts = row.timestamp;
  const std::int64_t d = spec_.duration;
  const std::int64_t step = spec_.kind == WindowKind::tumbling ? d : spec_.step;
  const std::int64_t k_first = std::max<std::int64_t>(0, floor_div(ts - d, step) + 1);
  const std::int64_t k_last = ts / step;
  const std::int64_t seq = ks.next_seq++;
  bool accepted = false;
  bool kept = false;
  std::vector<std::int64_t> updated;  // starts of the windows the record went into
  for (std::int64_t k = k_first; k <= k_last; ++k) {
    const std::int64_t s = k * step;
    const std::int64_t e = s + d;
    if (e + spec_.grace <= T) {
      late(ks, row, late_by(row, T), s, e, ctx);
      continue;
    }
    // Windows are kept by start; a record's windows are usually the newest.
    const std::size_t idx = window_at(ks, s, e);
    if (spec_.before_update && trigger(spec_.before_update, ks, ks.windows[idx], row)) {
      if (node_.final_mode()) triggered_.push_back({s, &ks, make_row(ks, ks.windows[idx])});
      ks.windows.erase(ks.windows.begin() + static_cast<std::ptrdiff_t>(idx));
      continue;
    }
    accepted = true;
    add_record(ks, ks.windows[idx], row.value, ts, seq);
    if (spec_.after_update && trigger(spec_.after_update, ks, ks.windows[idx], row)) {
      // Collected before the window's result is built, so the result includes the record.
      if (spec_.has_collectors() && !kept) {
        keep_item(ks, row.value, ts, seq, false, true);
        kept = true;
      }
      if (node_.final_mode()) triggered_.push_back({s, &ks, make_row(ks, ks.windows[idx])});
      ks.windows.erase(ks.windows.begin() + static_cast<std::ptrdiff_t>(idx));
      continue;
    }
    if (!node_.final_mode()) updated.push_back(s);
  }
  if (accepted && !kept && spec_.has_collectors()) keep_item(ks, row.value, ts, seq, false, true);
  if (!node_.final_mode()) {
    // WIN-10: every window the record updated, by start (both lists ascend).
    auto next = updated.begin();
    for (const Window& w : ks.windows) {
      while (next != updated.end() && *next < w.start) ++next;
      if (next == updated.end()) break;
      if (*next == w.start) {
        Row out = make_row(ks, w);
        node_.forward_from(out, ctx);
      }
    }
  }
  if (!partition_strategy_) close_time(ks, T);
}

void WindowState::close_time(KeyState& ks, std::int64_t T) {
  std::size_t n = 0;
  while (n < ks.windows.size() && ks.windows[n].end + spec_.grace <= T) {
    if (node_.final_mode())
      closed_.push_back({ks.windows[n].start, &ks, make_row(ks, ks.windows[n])});
    ++n;
  }
  if (n > 0) {
    ks.windows.erase(ks.windows.begin(), ks.windows.begin() + static_cast<std::ptrdiff_t>(n));
    mark(ks);
  }
  if (spec_.has_collectors()) {
    const std::int64_t step = spec_.kind == WindowKind::tumbling ? spec_.duration : spec_.step;
    // An input leaves once the last window holding it closed.
    drop_items_before(ks, [&](const Item& i) {
      return (i.ts / step) * step + spec_.duration + spec_.grace <= T;
    });
  }
}

// Hopping with slices: one accumulator per slice of `pane_` ms; windows are merged from their
// slices when they close, so a record costs one update however many windows overlap.
void WindowState::process_sliced(KeyState& ks, Row& row, std::int64_t T, ExecContext& ctx) {
  const std::int64_t ts = row.timestamp;
  const std::int64_t d = spec_.duration;
  const std::int64_t step = spec_.step;
  // Close first: a record never belongs to a window closing now (it would be late for it),
  // and windows closed before its slice existed must not see it.
  close_sliced(ks, T);
  const std::int64_t k_first = std::max<std::int64_t>(0, floor_div(ts - d, step) + 1);
  const std::int64_t k_last = ts / step;
  bool any_open = false;
  for (std::int64_t k = k_first; k <= k_last; ++k) {
    if (k * step + d + spec_.grace <= T) {
      late(ks, row, late_by(row, T), k * step, k * step + d, ctx);
    } else {
      any_open = true;
    }
  }
  if (!any_open) return;
  const std::int64_t seq = ks.next_seq++;
  const std::int64_t ps = ts - ts % pane_;
  const std::size_t idx = window_at(ks, ps, ps + pane_);
  add_record(ks, ks.windows[idx], row.value, ts, seq);
  if (spec_.has_collectors()) keep_item(ks, row.value, ts, seq, false, true);
}

void WindowState::close_sliced(KeyState& ks, std::int64_t T) {
  const std::int64_t d = spec_.duration;
  const std::int64_t step = spec_.step;
  const std::int64_t g = spec_.grace;
  if (ks.windows.empty() || T <= ks.closed_T) {
    ks.closed_T = std::max(ks.closed_T, T);
    if (ks.windows.empty()) drop_items_before(ks, [](const Item&) { return true; });
    return;
  }
  // Windows k with closed_T < k*step + d + g <= T close now; only those holding slices.
  const std::int64_t k_hi = floor_div(T - d - g, step);
  const std::int64_t k_lo = ks.closed_T == kMin ? 0 : floor_div(ks.closed_T - d - g, step) + 1;
  auto k_of_first_window = [&](std::int64_t slice_start) {
    return std::max<std::int64_t>(0, floor_div(slice_start - d, step) + 1);
  };
  std::int64_t k = std::max(k_lo, k_of_first_window(ks.windows.front().start));
  while (k <= k_hi) {
    const std::int64_t ws = k * step;
    const std::int64_t we = ws + d;
    auto first = std::lower_bound(ks.windows.begin(), ks.windows.end(), ws,
                                  [](const Window& w, std::int64_t t) { return w.start < t; });
    if (first == ks.windows.end()) break;
    if (first->start >= we) {
      k = std::max(k + 1, k_of_first_window(first->start));
      continue;
    }
    if (node_.final_mode()) {
      Window merged;
      init_window(merged, ws, we);
      for (auto p = first; p != ks.windows.end() && p->start < we; ++p) merge_accs(ks, merged, *p);
      closed_.push_back({ws, &ks, make_row(ks, merged)});
    }
    ++k;
  }
  ks.closed_T = T;
  // A slice leaves once the last window holding it closed.
  std::size_t n = 0;
  while (n < ks.windows.size() && (ks.windows[n].start / step) * step + d + g <= T) ++n;
  if (n > 0) {
    ks.windows.erase(ks.windows.begin(), ks.windows.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (spec_.has_collectors()) {
    drop_items_before(ks, [&](const Item& i) { return (i.ts / step) * step + d + g <= T; });
  }
  mark(ks);
}

// WIN-04: one window [max(0, e-d), e] per distinct timestamp e of the key's accepted records.
// A window closes when start + d + grace < T (WIN-07); a record is wholly late when even its
// own window would be closed (ts + d + grace < T) and is then dropped.
void WindowState::process_sliding(KeyState& ks, Row& row, std::int64_t T, ExecContext& ctx) {
  const std::int64_t ts = row.timestamp;
  const std::int64_t d = spec_.duration;
  const std::int64_t own_start = std::max<std::int64_t>(0, ts - d);
  if (sliding_passed(ts, T)) {
    late(ks, row, late_by(row, T), own_start, ts, ctx);
    return;
  }
  report_closed_sliding_windows(ks, row, T, ctx);
  const std::int64_t seq = ks.next_seq++;
  keep_item(ks, row.value, ts, seq, true, true);
  // The stored windows are the open ones (closing runs after every record at the same T).
  bool have_own = false;
  for (Window& w : ks.windows) {
    if (w.end == ts) have_own = true;
    if (w.start <= ts && ts <= w.end) add_record(ks, w, row.value, ts, seq);
  }
  // WIN-04: a record never creates a window that is already closed.
  if (!have_own && !sliding_passed(own_start, T)) create_sliding_window(ks, ts);
  if (!node_.final_mode()) {
    for (const Window& w : ks.windows) {
      if (w.end >= ts && w.end <= ts + d && w.start <= ts) {
        Row out = make_row(ks, w);
        node_.forward_from(out, ctx);
      }
    }
  }
  close_sliding(ks, T);
}

// WIN-08: a record that is not wholly late is late for each closed window that holds its
// timestamp, newest first. Windows that were never created (a record's own window that was
// already closed when the record came) are not in closed_ends, so they are not reported.
void WindowState::report_closed_sliding_windows(const KeyState& ks, const Row& row, std::int64_t T,
                                                ExecContext& ctx) const {
  const std::int64_t ts = row.timestamp;
  for (auto it = ks.closed_ends.rbegin(); it != ks.closed_ends.rend() && *it >= ts; ++it) {
    const std::int64_t start = std::max<std::int64_t>(0, *it - spec_.duration);
    if (start <= ts) late(ks, row, late_by(row, T), start, *it, ctx);
  }
}

// The window ending at `end`, folded from the kept records in its range in arrival order.
void WindowState::create_sliding_window(KeyState& ks, std::int64_t end) {
  const std::int64_t start = std::max<std::int64_t>(0, end - spec_.duration);
  Window w;
  init_window(w, start, end);
  std::vector<const Item*> in_range;
  for (const Item& i : ks.items) {
    if (i.ts >= start && i.ts <= end) in_range.push_back(&i);
  }
  std::sort(in_range.begin(), in_range.end(),
            [](const Item* a, const Item* b) { return a->seq < b->seq; });
  for (const Item* i : in_range) {
    if (w.count == 0) w.first_seq = i->seq;
    ++w.count;
    for (std::size_t a = 0; a < spec_.aggs.size(); ++a) {
      if (!spec_.aggs[a]->is_collector()) add_input(ks, w, a, i->inputs[a], i->ts, i->seq);
    }
  }
  auto pos = std::lower_bound(ks.windows.begin(), ks.windows.end(), end,
                              [](const Window& x, std::int64_t e) { return x.end < e; });
  ks.windows.insert(pos, std::move(w));
}

void WindowState::close_sliding(KeyState& ks, std::int64_t T) {
  // A closed window (or kept record) at e can still take a record that is not wholly late
  // while e + d + grace >= T; after that nothing can fall in it any more.
  auto beyond_reach = [this, T](std::int64_t e) { return sliding_passed(e, T); };
  // Windows are ordered by end, and so by start.
  std::size_t n = 0;
  while (n < ks.windows.size() && sliding_passed(ks.windows[n].start, T)) {
    const Window& w = ks.windows[n];
    if (node_.final_mode()) closed_.push_back({w.start, &ks, make_row(ks, w)});
    // closed_ends stays ascending: a window is only created while open, so every open
    // window ends after every closed one.
    if (!beyond_reach(w.end)) ks.closed_ends.push_back(w.end);
    ++n;
  }
  if (n > 0) {
    ks.windows.erase(ks.windows.begin(), ks.windows.begin() + static_cast<std::ptrdiff_t>(n));
  }
  std::size_t gone = 0;
  while (gone < ks.closed_ends.size() && beyond_reach(ks.closed_ends[gone])) ++gone;
  if (gone > 0) {
    ks.closed_ends.erase(ks.closed_ends.begin(),
                         ks.closed_ends.begin() + static_cast<std::ptrdiff_t>(gone));
  }
  drop_items_before(ks, [&](const Item& i) { return beyond_reach(i.ts); });
}

// WIN-05.
void WindowState::process_count(KeyState& ks, Row& row, ExecContext& ctx) {
  const std::int64_t ts = row.timestamp;
  const std::int64_t n = spec_.count;
  const std::int64_t step = spec_.kind == WindowKind::tumbling_count  ? n
                            : spec_.kind == WindowKind::sliding_count ? 1
                                                                      : spec_.step;
  const std::int64_t seq = ks.next_seq++;
  if (ks.windows.empty() ||
      (ks.windows.front().count > 0 && ks.windows.front().count % step == 0)) {
    Window w;
    init_window(w, ts, ts);
    w.first_seq = seq;
    ks.windows.push_back(std::move(w));
  }
  for (Window& w : ks.windows) {
    if (w.count == 0) {
      w.start = ts;
      w.end = ts;
    } else {
      w.start = std::min(w.start, ts);
      w.end = std::max(w.end, ts);
    }
    add_record(ks, w, row.value, ts, seq);
  }
  if (spec_.has_collectors()) keep_item(ks, row.value, ts, seq, false, false);
  if (!node_.final_mode()) {
    std::vector<const Window*> order;
    order.reserve(ks.windows.size());
    for (const Window& w : ks.windows) order.push_back(&w);
    std::stable_sort(order.begin(), order.end(),
                     [](const Window* a, const Window* b) { return a->start < b->start; });
    for (const Window* w : order) {
      Row out = make_row(ks, *w);
      node_.forward_from(out, ctx);
    }
  }
  // Close the windows that reached n records.
  for (auto it = ks.windows.begin(); it != ks.windows.end();) {
    if (it->count >= n) {
      if (node_.final_mode()) closed_.push_back({it->start, &ks, make_row(ks, *it)});
      it = ks.windows.erase(it);
    } else {
      ++it;
    }
  }
  if (spec_.has_collectors()) {
    const std::int64_t oldest = ks.windows.empty() ? ks.next_seq : ks.windows.front().first_seq;
    drop_items_before(ks, [oldest](const Item& i) { return i.seq < oldest; });
  }
}

// WIN-13: sessions are half-open [start, end) with end = last timestamp + 1. At stream time W
// a record before W - gap - grace is late; sessions ending by W - 2 gap - grace close.
void WindowState::process_session(KeyState& ks, Row& row, std::int64_t W, ExecContext& ctx) {
  const std::int64_t ts = row.timestamp;
  const std::int64_t late_before = session_late_before(W);
  if (ts < late_before) {
    late(ks, row, late_before - ts, ts, ts + 1, ctx);
    return;
  }
  const std::int64_t seq = ks.next_seq++;
  const Window& session = add_to_session(ks, row, seq);
  if (spec_.has_collectors()) keep_item(ks, row.value, ts, seq, false, true);
  if (!node_.final_mode()) {
    Row out = make_row(ks, session);
    node_.forward_from(out, ctx);
  }
  // The partition strategy closes every key's sessions after the record (close_partition).
  if (!partition_strategy_) close_session(ks, W);
}

// The record joins a stored session [s, e) iff s - gap <= ts < e + gap. Sessions are kept by
// start, each at least `gap` after the end of the one before (a record within gap of both
// neighbours merges them), so only the two neighbours of ts can match: the last session
// starting at or before ts and the first one after it.
Window& WindowState::add_to_session(KeyState& ks, const Row& row, std::int64_t seq) {
  const std::int64_t ts = row.timestamp;
  const std::int64_t gap = spec_.gap;
  auto& sessions = ks.windows;
  const auto after = std::upper_bound(sessions.begin(), sessions.end(), ts,
                                      [](std::int64_t t, const Window& w) { return t < w.start; });
  // The left neighbour starts at or before ts and the right one after it, so half of each
  // test always holds.
  const bool joins_before =
      after != sessions.begin() && ts < saturating_add(std::prev(after)->end, gap);
  const bool joins_after = after != sessions.end() && saturating_sub(after->start, gap) <= ts;
  if (!joins_before && !joins_after) {
    Window session;
    init_window(session, ts, ts + 1);
    add_record(ks, session, row.value, ts, seq);
    return *sessions.insert(after, std::move(session));
  }
  const auto into = joins_before ? std::prev(after) : after;
  add_record(ks, *into, row.value, ts, seq);
  std::int64_t end = std::max(into->end, ts + 1);
  const bool bridges = joins_before && joins_after;
  if (bridges) {
    // merge(add(acc1, v), acc2): the later session's inputs come after the record's. The
    // bounds change only once it succeeded (a user merger may throw), so the sessions stay
    // apart whatever happens.
    merge_accs(ks, *into, *after);
    end = std::max(end, after->end);
  }
  into->start = std::min(into->start, ts);
  into->end = end;
  if (bridges) sessions.erase(after);  // `into` is before it, so it stays valid
  return *into;
}

void WindowState::close_session(KeyState& ks, std::int64_t W) {
  const std::int64_t close_before = session_close_before(W);
  // Sessions are disjoint and kept by start, so their ends ascend too: the closing ones are a
  // prefix.
  std::size_t n = 0;
  while (n < ks.windows.size() && ks.windows[n].end <= close_before) {
    if (node_.final_mode())
      closed_.push_back({ks.windows[n].start, &ks, make_row(ks, ks.windows[n])});
    ++n;
  }
  if (n == 0) return;
  const std::int64_t closed_end = ks.windows[n - 1].end;
  ks.windows.erase(ks.windows.begin(), ks.windows.begin() + static_cast<std::ptrdiff_t>(n));
  // Collected inputs of the closed sessions leave with them; open sessions start later.
  drop_items_before(ks, [closed_end](const Item& i) { return i.ts < closed_end; });
  mark(ks);
}

// ---------------------------------------------------------------------------------------------
// Closing across keys (partition strategy, idle closing)

void WindowState::close_key(KeyState& ks, std::int64_t T) {
  switch (spec_.kind) {
    case WindowKind::tumbling:
    case WindowKind::hopping:
      if (pane_ > 0) {
        close_sliced(ks, T);
      } else {
        close_time(ks, T);
      }
      break;
    case WindowKind::sliding:
      close_sliding(ks, T);
      break;
    case WindowKind::session:
      close_session(ks, T);
      break;
    default:
      break;  // count windows close by count only
  }
}

std::int64_t WindowState::next_close(const KeyState& ks) const {
  if (ks.windows.empty()) return kMin;
  if (pane_ > 0) {
    const std::int64_t d = spec_.duration;
    const std::int64_t step = spec_.step;
    const std::int64_t first_k =
        std::max<std::int64_t>(0, floor_div(ks.windows.front().start - d, step) + 1);
    const std::int64_t open_k =
        ks.closed_T == kMin ? 0 : floor_div(ks.closed_T - d - spec_.grace, step) + 1;
    return std::max(first_k, open_k) * step + d + spec_.grace;
  }
  if (spec_.kind == WindowKind::session) {
    // The first session closes once its end <= W - 2 gap - grace.
    const std::int64_t end = ks.windows.front().end;
    return saturating_add(saturating_add(saturating_add(end, spec_.gap), spec_.gap), spec_.grace);
  }
  return ks.windows.front().end + spec_.grace;
}

void WindowState::schedule(KeyState& ks) {
  const std::int64_t at = next_close(ks);
  if (at == kMin || at == ks.scheduled) return;
  ks.scheduled = at;
  heap_.emplace(at, ks.enc);
}

void WindowState::close_partition(std::int64_t T) {
  while (!heap_.empty() && heap_.top().first <= T) {
    const std::int64_t at = heap_.top().first;
    auto it = keys_.find(std::string_view(heap_.top().second));
    heap_.pop();
    // Stale entries (the key was closed or rescheduled since) are skipped.
    if (it == keys_.end() || it->second.scheduled != at) continue;
    KeyState& ks = it->second;
    ks.scheduled = kMin;
    close_key(ks, T);
    mark(ks);
    schedule(ks);
  }
}

bool WindowState::tick(std::int64_t now, ExecContext& ctx) {
  const std::int64_t idle = node_.options().idle_timeout.count();
  if (idle <= 0 || T_p_ == kMin) return false;
  if (!last_record_clock_) {
    // State restored without a record since: the quiet time counts from now.
    last_record_clock_ = now;
    return false;
  }
  const std::int64_t quiet = now - *last_record_clock_;
  if (quiet < idle) return false;
  const std::int64_t t_eff = T_p_ + quiet;
  if (t_eff <= floor_) return false;
  floor_ = t_eff;
  meta_dirty_ = true;
  bool changed = false;
  for (auto& [enc, ks] : keys_) {
    if (ks.windows.empty()) continue;
    const std::size_t windows = ks.windows.size();
    const std::size_t items = ks.items.size();
    const std::size_t closed_ends = ks.closed_ends.size();
    close_key(ks, std::max(stream_time(ks), t_eff));
    if (ks.windows.size() != windows || ks.items.size() != items ||
        ks.closed_ends.size() != closed_ends) {
      mark(ks);
      changed = true;
    }
  }
  const bool emitted = !closed_.empty();
  if (changed || emitted) {
    logger()->debug(
        "window store '{}' partition {}: idle closing at stream time {} emitted {} "
        "window(s)",
        node_.store_name(), partition_, t_eff, closed_.size());
  }
  emit_pending(ctx);
  // Only a change needs a checkpoint of its own; the raised floor alone is written with the
  // next one (a quiet partition then commits nothing turn after turn).
  return changed || emitted;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// WindowSpec and WindowNode

bool WindowSpec::has_collectors() const {
  return std::any_of(aggs.begin(), aggs.end(), [](const auto& a) { return a->is_collector(); });
}

std::string WindowSpec::store_name() const {
  std::string base;
  switch (kind) {
    case WindowKind::tumbling:
      base = "tumbling_window_" + std::to_string(duration);
      break;
    case WindowKind::hopping:
      base = "hopping_window_" + std::to_string(duration) + "_" + std::to_string(step);
      break;
    case WindowKind::sliding:
      base = "sliding_window_" + std::to_string(duration);
      break;
    case WindowKind::tumbling_count:
      base = "tumbling_count_window";
      break;
    case WindowKind::hopping_count:
      base = "hopping_count_window";
      break;
    case WindowKind::sliding_count:
      base = "sliding_count_window";
      break;
    case WindowKind::session:
      base = "session_window_" + std::to_string(gap);
      break;
  }
  if (!name.empty()) base = name + "_" + base;
  if (single && !func.empty()) base += "_" + func;
  return base;
}

std::string WindowSpec::describe() const {
  switch (kind) {
    case WindowKind::tumbling:
      return "tumbling_window(" + std::to_string(duration) + " ms)";
    case WindowKind::hopping:
      return "hopping_window(" + std::to_string(duration) + " ms, " + std::to_string(step) + " ms)";
    case WindowKind::sliding:
      return "sliding_window(" + std::to_string(duration) + " ms)";
    case WindowKind::tumbling_count:
      return "tumbling_count_window(" + std::to_string(count) + ")";
    case WindowKind::hopping_count:
      return "hopping_count_window(" + std::to_string(count) + ", " + std::to_string(step) + ")";
    case WindowKind::sliding_count:
      return "sliding_count_window(" + std::to_string(count) + ")";
    case WindowKind::session:
      return "session_window(" + std::to_string(gap) + " ms)";
  }
  return "window";
}

WindowNode::WindowNode(std::shared_ptr<const WindowSpec> spec, std::size_t store,
                       std::string store_name, bool final_mode, EmitOptions options)
    : spec_(std::move(spec)),
      store_(store),
      store_name_(std::move(store_name)),
      final_mode_(final_mode),
      options_(options) {
  const bool mergeable = std::all_of(spec_->aggs.begin(), spec_->aggs.end(),
                                     [](const auto& a) { return a->mergeable(); });
  if (spec_->kind == WindowKind::hopping && final_mode_ && mergeable && !spec_->before_update &&
      !spec_->after_update) {
    pane_ = std::gcd(spec_->duration, spec_->step);
  }
}

std::unique_ptr<OperatorState> WindowNode::make_operator_state(state::PartitionTransaction& txn,
                                                               std::int32_t partition) const {
  return std::make_unique<WindowState>(*this, txn, partition);
}

void WindowNode::process(Row& row, ExecContext& ctx) const {
  auto& st = static_cast<WindowState&>(ctx.operator_state(store_, *this));
  st.process(row, ctx, options_.idle_timeout.count() > 0);
}

}  // namespace streamframe::detail
