// The open windows of one partition of a window store, in memory in front of the store
// (SEMANTICS §7): what every window family shares — keys and their windows, kept inputs,
// loading and flushing through the store codec, late records, triggers, emitting closed
// windows in order, closing across keys (partition strategy) and idle closing (EXT-02) — and
// the interface each family implements: what a record does to a key's windows and what closes
// at a stream time. The families live in their own files (time_windows.cpp, sliding_windows.cpp,
// count_windows.cpp, session_windows.cpp).
//
// Names for the symbols of the spec: a key's stream time (T) is the largest timestamp the key
// saw; the partition's (T_p) the largest the partition saw; with the partition strategy every
// key closes at the partition's. The idle floor raises both while the partition is quiet
// (EXT-02: the spec's t_eff).
#pragma once

#include <absl/container/node_hash_map.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/bytes_hash.hpp"
#include "dataframe/graph.hpp"
#include "state/memory_budget.hpp"
#include "windows/aggregation.hpp"
#include "windows/window_node.hpp"

namespace streamframe::state {
class PartitionTransaction;
}

namespace streamframe::detail {

inline constexpr std::int64_t kNoTime = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

// Floor division for possibly negative numerators (positive divisors).
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && (a < 0)) --q;
  return q;
}

// Stream-time arithmetic that saturates instead of wrapping: a grace or gap of
// milliseconds::max() means "never", not an overflow.
inline std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? kNever : kNoTime;
}
inline std::int64_t saturating_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (!__builtin_sub_overflow(a, b, &r)) return r;
  return b > 0 ? kNoTime : kNever;
}

struct Window {
  std::int64_t start = 0;
  // Exclusive for tumbling/hopping and sessions (a session's last timestamp + 1, WIN-13),
  // inclusive max timestamp for sliding and count windows.
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

// One message key's windows.
struct KeyState {
  std::string enc;  // the encoded message key (map key)
  Value key;
  std::int64_t stream_time = kNoTime;   // T: largest timestamp of the key
  std::int64_t closed_until = kNoTime;  // sliced hopping: stream time windows closed up to
  std::int64_t next_seq = 0;            // processing sequence (first/last, item keys)
  std::vector<Window> windows;          // by start (slices when sliced)
  std::vector<Item> items;              // by (ts, seq); count windows: by seq
  std::int64_t flushed_seq = 0;         // items with seq >= this are not in the store yet
  std::vector<std::int64_t> removed;    // stored items dropped since the last flush
  std::int64_t scheduled = kNoTime;     // the close time in the heap (when it has one)
  std::size_t charged = 0;              // its estimated bytes, as counted in the budget
  bool dirty = false;
  bool recent = false;  // looked up since the last eviction pass looked at it
  // Sliding: the ends of closed windows a record that is not wholly late can still fall in
  // (end + duration + grace >= stream time), ascending; such a record is reported late for
  // them (WIN-08). A closed window's records stay in `items` as long as its end does, so its
  // bounds are all that is kept of it.
  std::vector<std::int64_t> closed_ends;

  // Whether the key keeps nothing but its stream time (it may then leave memory).
  bool nothing_kept() const noexcept {
    return windows.empty() && items.empty() && closed_ends.empty();
  }
};

class WindowState;

// What distinguishes one kind of window: how a record enters a key's windows, and what
// closes when the stream time advances.
class WindowFamily {
 public:
  explicit WindowFamily(WindowState& state);
  virtual ~WindowFamily() = default;
  // A record of `key`, whose stream time (key's or partition's, per strategy) is now
  // `stream_time`. Count windows ignore time.
  virtual void process(KeyState& key, Row& row, std::int64_t stream_time, ExecContext& ctx) = 0;
  // Closes what the family's rule closes at `stream_time`.
  virtual void close(KeyState& key, std::int64_t stream_time) = 0;
  // The stream time at which something of `key` closes next; kNoTime when nothing can. By
  // default its first window's end plus grace (time and sliding windows).
  virtual std::int64_t next_close(const KeyState& key) const {
    return key.windows.empty() ? kNoTime : key.windows.front().end + spec_.grace;
  }

 protected:
  WindowState& state_;  // what every family shares: windows, items, emitting
  const WindowSpec& spec_;
};

std::unique_ptr<WindowFamily> make_time_windows(WindowState& state);            // tumbling, hopping
std::unique_ptr<WindowFamily> make_sliced_hopping_windows(WindowState& state);  // hopping, slices
std::unique_ptr<WindowFamily> make_sliding_windows(WindowState& state);
std::unique_ptr<WindowFamily> make_count_windows(WindowState& state);
std::unique_ptr<WindowFamily> make_session_windows(WindowState& state);

class WindowState final : public OperatorState {
 public:
  WindowState(const WindowNode& node, state::PartitionTransaction& txn, std::int32_t partition);
  ~WindowState() override;

  void process(Row& row, ExecContext& ctx, bool track_clock);
  void flush(state::PartitionTransaction& txn) override;
  // Keys that did not change since the checkpoint are in the store now: while the memory
  // budget is exceeded, the coldest leave memory (read back by the next record or close).
  void committed() override;
  bool tick(std::int64_t now_ms, ExecContext& ctx) override;
  bool ticks() const override { return node_.options().idle_timeout.count() > 0; }

  // ---- what the families share ------------------------------------------------------------
  const WindowSpec& spec() const noexcept { return spec_; }
  const WindowNode& node() const noexcept { return node_; }
  bool final_mode() const noexcept { return node_.final_mode(); }
  bool partition_strategy() const noexcept { return partition_strategy_; }
  // Hopping with slices: the slice length in ms (0 = one accumulator per window).
  std::int64_t slice() const noexcept { return slice_; }

  // The key changed: it is written at the next flush.
  void mark(KeyState& ks) {
    if (!ks.dirty) {
      ks.dirty = true;
      dirty_.push_back(&ks);
      if ((dirty_.size() & (kPublishEvery - 1)) == 0) publish();
    }
  }
  void init_window(Window& w, std::int64_t start, std::int64_t end) const;
  // The index of the window (or slice) starting at `start`, created empty when absent.
  std::size_t window_at(KeyState& ks, std::int64_t start, std::int64_t end) const;
  void add_record(KeyState& ks, Window& w, const Value& value, std::int64_t ts, std::int64_t seq);
  // One input into one accumulator; a user-defined aggregation's failure names window and key.
  void add_input(const KeyState& ks, Window& w, std::size_t agg, const Value& input,
                 std::int64_t ts, std::int64_t seq) const;
  // `later`'s accumulators into `into`'s (session merges, slices into a window).
  void merge_accs(const KeyState& ks, Window& into, const Window& later) const;
  // Keeps the record's inputs: every aggregation's (`all_inputs`, sliding) or the collectors'.
  // `by_time`: items ordered by timestamp, else by arrival.
  void keep_item(KeyState& ks, const Value& value, std::int64_t ts, std::int64_t seq,
                 bool all_inputs, bool by_time);
  // Drops the prefix of the key's items that `expired` says are no longer needed.
  void drop_items_before(KeyState& ks, const std::function<bool(const Item&)>& expired);
  Row make_row(const KeyState& ks, const Window& w) const {
    return Row{output(ks, w), ks.key, w.start, Headers{}};
  }
  // on_late for one closed window [start, end] the record belongs to (WIN-08, WIN-13).
  void late(const KeyState& ks, const Row& row, std::int64_t late_by, std::int64_t start,
            std::int64_t end, ExecContext& ctx) const;
  // Time windows: late by stream time - grace - timestamp (WIN-08).
  std::int64_t late_by(const Row& row, std::int64_t stream_time) const {
    return saturating_sub(saturating_sub(stream_time, spec_.grace), row.timestamp);
  }
  bool trigger(const WindowTriggerFn& f, const KeyState& ks, const Window& w, const Row& row);
  // A window closed by stream time: emitted after the record, ordered by (start, key).
  void closed(const KeyState& ks, const Window& w) {
    closed_.push_back({w.start, &ks, make_row(ks, w)});
  }
  // A window a trigger closed: emitted after those closed by stream time.
  void triggered(const KeyState& ks, const Window& w) {
    triggered_.push_back({w.start, &ks, make_row(ks, w)});
  }
  // current(): a window's result right away.
  void emit_now(const KeyState& ks, const Window& w, ExecContext& ctx) const {
    Row out = make_row(ks, w);
    node_.forward_from(out, ctx);
  }

 private:
  struct Pending {
    std::int64_t start;
    const KeyState* ks;
    Row row;
  };
  using Hash = BytesHash;
  // Node-based: Pending and the expiry heap point at KeyStates, which must not move. absl's
  // node map finds a key through its control bytes; std::unordered_map took a division by the
  // bucket count and a bucket's list, one cache miss more per record.
  using Map = absl::node_hash_map<std::string, KeyState, Hash, std::equal_to<>>;

  void load();
  Array aggregation_names() const;
  KeyState& lookup(const Value& key);
  // The key `enc` in memory, read from the store when it is not; null when it keeps nothing
  // open there.
  KeyState* resident(std::string_view enc);
  // Reads a key that is not in memory (absent from the store: a new key; `key` = its decoded
  // form when the caller has it) and puts it there. With `only_open`, a key with nothing open
  // in the store is left there (null).
  KeyState* load_key(std::string_view enc, const Value* key, bool only_open);
  KeyState& insert(KeyState&& ks);
  KeyState decode_key(std::string_view enc, std::string_view blob) const;
  // A stored item of `ks` (its inputs mapped to the current aggregations).
  void add_stored_item(KeyState& ks, Item&& item) const;
  void order_items(KeyState& ks) const;
  // The estimated bytes of a key in memory: its structures plus `stored` bytes for the values
  // they point to (the size of its stored form).
  std::size_t estimate(const KeyState& ks, std::size_t stored) const;
  void recharge(KeyState& ks, std::size_t stored) {
    const std::size_t bytes = estimate(ks, stored);
    keys_bytes_ = keys_bytes_ - ks.charged + bytes;
    ks.charged = bytes;
  }
  std::size_t heap_bytes() const noexcept;
  // Tells the budget what the keys take now, changes included (a change grows its key by
  // about a window and adds a pending write to the transaction), so that a checkpoint comes
  // early when they outgrow it. Every kPublishEvery new or changed keys: not per record.
  static constexpr std::size_t kPublishEvery = 256;
  void publish() noexcept;
  // Drops clean keys until those in memory take at most `target` bytes: first the ones not
  // looked up since the last pass (a clock sweep), then any.
  void evict(std::size_t target);
  // Closes what is due at `stream_time` (partition strategy) or, with `idle`, what idle
  // closing at that time closes; returns whether a key changed.
  bool close_due(std::int64_t stream_time, bool idle);
  // What the window emits: {"start","end","value"} or the agg columns then start and end.
  Value output(const KeyState& ks, const Window& w) const;
  Array collected(const KeyState& ks, const Window& w, std::size_t agg) const;
  [[noreturn]] void aggregation_failed(const KeyState& ks, const Window& w, std::size_t agg,
                                       const std::exception& e) const;
  bool user_defined(std::size_t agg) const {
    const auto k = spec_.aggs[agg]->kind;
    return k == AggKind::reduce || k == AggKind::custom || k == AggKind::custom_collect;
  }
  void emit_pending(ExecContext& ctx);
  std::int64_t stream_time_of(const KeyState& ks) const {
    return partition_strategy_ ? std::max(partition_time_, idle_floor_)
                               : std::max(ks.stream_time, idle_floor_);
  }
  // Partition strategy: puts the key in the heap at its next close time.
  void schedule(KeyState& ks);

  const WindowNode& node_;
  const WindowSpec& spec_;
  state::PartitionTransaction& txn_;
  std::int32_t partition_;
  std::int64_t slice_;
  bool partition_strategy_;
  // Close times of every key are kept in a heap (partition strategy, idle closing): keys may
  // close without a record of their own, so every key's next close must be known.
  bool scheduling_;
  // Whether keys keep inputs (sliding windows, collectors): a key read back reads them too.
  bool keeps_items_;
  std::unique_ptr<WindowFamily> family_;

  Map keys_;
  std::size_t keys_bytes_ = 0;  // estimated bytes of keys_
  state::MemoryCharge charge_;
  std::vector<KeyState*> dirty_;
  std::int64_t partition_time_ = kNoTime;  // T_p: largest timestamp of the partition
  std::int64_t idle_floor_ = kNoTime;      // EXT-02: every key's stream time is at least this
  bool meta_dirty_ = false;
  // Stored accumulator i goes to aggregation acc_map_[i] (-1 = dropped) when the stored
  // aggregations differ from the declared ones.
  bool remap_ = false;
  std::vector<int> acc_map_;
  std::optional<std::int64_t> last_record_clock_;
  // When each key may next close something (entries may be stale: a key's current one is
  // KeyState::scheduled). Keys that left memory keep theirs.
  using Scheduled = std::pair<std::int64_t, std::string>;
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>> heap_;

  std::vector<Pending> closed_;     // closed by stream time: sorted by (start, key)
  std::vector<Pending> triggered_;  // closed by a trigger: after those
  std::string key_buf_;
  std::vector<KeyState*> closed_keys_;  // close_due's keys to schedule again (reused)
  std::uint64_t null_keys_ = 0;
};

}  // namespace streamframe::detail
