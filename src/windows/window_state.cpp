#include "windows/window_state.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "core/logging.hpp"
#include "state/transaction.hpp"
#include "state/value_codec.hpp"
#include "streamframe/errors.hpp"
#include "windows/window_codec.hpp"

namespace streamframe::detail {

namespace {

std::unique_ptr<WindowFamily> make_family(const WindowSpec& spec, std::int64_t slice,
                                          WindowState& state) {
  switch (spec.kind) {
    case WindowKind::tumbling:
    case WindowKind::hopping:
      return slice > 0 ? make_sliced_hopping_windows(state) : make_time_windows(state);
    case WindowKind::sliding:
      return make_sliding_windows(state);
    case WindowKind::session:
      return make_session_windows(state);
    case WindowKind::tumbling_count:
    case WindowKind::hopping_count:
    case WindowKind::sliding_count:
      return make_count_windows(state);
  }
  return make_time_windows(state);
}

}  // namespace

WindowState::WindowState(const WindowNode& node, state::PartitionTransaction& txn,
                         std::int32_t partition)
    : node_(node),
      spec_(node.spec()),
      txn_(txn),
      partition_(partition),
      slice_(node.slice()),
      partition_strategy_(node.options().closing_strategy == ClosingStrategy::partition),
      scheduling_(partition_strategy_ || node.options().idle_timeout.count() > 0),
      keeps_items_(spec_.has_collectors() || spec_.kind == WindowKind::sliding),
      charge_(txn.store().memory_budget()) {
  family_ = make_family(spec_, slice_, *this);
  load();
}

WindowState::~WindowState() = default;

WindowFamily::WindowFamily(WindowState& state) : state_(state), spec_(state.spec()) {}

Array WindowState::aggregation_names() const {
  Array names;
  for (std::size_t i = 0; i < spec_.aggs.size(); ++i) {
    names.emplace_back(spec_.columns[i] + "/" + spec_.aggs[i]->state_suffix());
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Loading and flushing

KeyState WindowState::decode_key(std::string_view enc, std::string_view blob) const {
  window_codec::StoredKeyState stored = window_codec::decode_key_state(blob);
  KeyState ks;
  ks.enc = std::string(enc);
  ks.key = state::decode(enc);
  ks.stream_time = stored.stream_time;
  ks.closed_until = stored.closed_until;
  ks.next_seq = stored.next_seq;
  ks.closed_ends = std::move(stored.closed_ends);
  // A layout-0 session is read as [start, last + 1): the old and new rules keep sessions the
  // same distance apart, so the conversion is exact.
  const bool inclusive_session_ends = stored.layout == 0 && spec_.kind == WindowKind::session;
  for (window_codec::StoredWindow& sw : stored.windows) {
    Window w;
    if (!remap_) {
      if (sw.accs.size() != spec_.aggs.size()) {
        throw SerializationError("window store: " + std::to_string(sw.accs.size()) +
                                 " accumulators stored, the window has " +
                                 std::to_string(spec_.aggs.size()) + " aggregations");
      }
      w.start = sw.start;
      w.end = sw.end;
      for (const Value& acc : sw.accs) w.accs.push_back(acc_from_value(acc));
    } else {
      // The aggregations changed since the state was written (WIN-12): accumulators are
      // matched by `<column>/<state_suffix>`; new ones start from their initial value.
      init_window(w, sw.start, sw.end);
      for (std::size_t j = 0; j < sw.accs.size() && j < acc_map_.size(); ++j) {
        if (acc_map_[j] >= 0) {
          w.accs[static_cast<std::size_t>(acc_map_[j])] = acc_from_value(sw.accs[j]);
        }
      }
    }
    w.end += inclusive_session_ends ? 1 : 0;
    w.count = sw.count;
    w.first_seq = sw.first_seq;
    ks.windows.push_back(std::move(w));
  }
  ks.flushed_seq = ks.next_seq;
  return ks;
}

void WindowState::add_stored_item(KeyState& ks, Item&& item) const {
  if (remap_) {
    std::vector<Value> inputs(spec_.aggs.size());
    for (std::size_t j = 0; j < item.inputs.size() && j < acc_map_.size(); ++j) {
      if (acc_map_[j] >= 0) inputs[acc_map_[j]] = std::move(item.inputs[j]);
    }
    item.inputs = std::move(inputs);
  }
  ks.items.push_back(std::move(item));
}

void WindowState::order_items(KeyState& ks) const {
  if (!spec_.count_based()) {
    std::stable_sort(ks.items.begin(), ks.items.end(), [](const Item& a, const Item& b) {
      return a.ts != b.ts ? a.ts < b.ts : a.seq < b.seq;
    });
  } else {
    std::sort(ks.items.begin(), ks.items.end(),
              [](const Item& a, const Item& b) { return a.seq < b.seq; });
  }
}

void WindowState::load() {
  // Keys are read when a record (or a close) needs them, so a partition's state may be far
  // larger than memory. Only the close times of every key are read now, when keys can close
  // without a record of their own (partition strategy, idle closing).
  const Array names = aggregation_names();
  if (auto meta = txn_.get(window_codec::meta_key())) {
    Array stored;
    window_codec::decode_meta(state::parse_stored(*meta).payload, partition_time_, idle_floor_,
                              stored);
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
  using window_codec::kItemTag;
  using window_codec::kKeyTag;
  if (!remap_ && !scheduling_) return;
  txn_.store().scan(std::string(1, kKeyTag), std::string(1, kKeyTag + 1),
                    [&](std::string_view k, std::string_view v) {
                      const auto stored = state::parse_stored(v);
                      if (!window_codec::is_open(stored.payload)) return true;
                      KeyState ks = decode_key(k.substr(1), stored.payload);
                      if (remap_) {
                        ks.charged = stored.payload.size();  // the stored size, for now
                        std::string enc = ks.enc;
                        keys_.emplace(std::move(enc), std::move(ks));
                      } else {
                        const std::int64_t at = family_->next_close(ks);
                        if (at != kNoTime) heap_.emplace(at, std::move(ks.enc));
                      }
                      return true;
                    });
  if (!remap_) return;
  // The aggregations changed: every open key is read now and rewritten in the current layout
  // at the first checkpoint (until then a stored key cannot be read back).
  txn_.store().scan(std::string(1, kItemTag), std::string(1, kItemTag + 1),
                    [&](std::string_view k, std::string_view v) {
                      std::string_view enc;
                      Item item;
                      if (!window_codec::parse_item_key(k, enc, item.seq)) return true;
                      auto it = keys_.find(enc);
                      if (it == keys_.end()) return true;  // an orphan: its key has nothing open
                      window_codec::decode_item(state::parse_stored(v).payload, item);
                      add_stored_item(it->second, std::move(item));
                      return true;
                    });
  for (auto& [enc, ks] : keys_) {
    order_items(ks);
    if (scheduling_) schedule(ks);
    ks.flushed_seq = 0;
    mark(ks);
    const std::size_t stored = ks.charged;
    ks.charged = 0;
    recharge(ks, stored);
  }
}

void WindowState::flush(state::PartitionTransaction& txn) {
  std::vector<std::string> idle_keys;
  std::string stored;
  for (KeyState* ks : dirty_) {
    ks->dirty = false;
    stored.clear();
    state::build_stored(stored, true, std::nullopt);
    window_codec::encode_key_state(*ks, stored);
    txn.put(window_codec::key_state_key(ks->enc), stored);
    const std::size_t key_state_bytes = stored.size();
    for (std::int64_t seq : ks->removed) txn.remove(window_codec::item_key(ks->enc, seq));
    ks->removed.clear();
    for (const Item& item : ks->items) {
      if (item.seq < ks->flushed_seq) continue;
      stored.clear();
      state::build_stored(stored, true, std::nullopt);
      window_codec::encode_item(item, stored);
      txn.put(window_codec::item_key(ks->enc, item.seq), stored);
    }
    ks->flushed_seq = ks->next_seq;
    if (ks->nothing_kept()) {
      idle_keys.push_back(ks->enc);
    } else {
      recharge(*ks, key_state_bytes);
    }
  }
  dirty_.clear();
  if (meta_dirty_) {
    stored.clear();
    state::build_stored(stored, true, std::nullopt);
    window_codec::encode_meta(partition_time_, idle_floor_, aggregation_names(), stored);
    txn.put(window_codec::meta_key(), stored);
    meta_dirty_ = false;
  }
  // Keys with nothing open leave memory: their stream time is in the store, read again when
  // the key comes back. Only a change can empty a key, so only changed keys are looked at.
  for (const std::string& enc : idle_keys) {
    auto it = keys_.find(enc);
    keys_bytes_ -= it->second.charged;
    keys_.erase(it);
  }
}

std::size_t WindowState::estimate(const KeyState& ks, std::size_t stored) const {
  // The map node with its key, slot pointer and control byte, the key's encoded form twice
  // (map key and KeyState::enc) and decoded once, the vectors' element arrays.
  constexpr std::size_t kNode = sizeof(Map::value_type) + 32;
  const std::size_t aggs = spec_.aggs.size();
  return kNode + 3 * ks.enc.size() + stored +
         ks.windows.capacity() * (sizeof(Window) + aggs * sizeof(Acc)) +
         ks.items.capacity() * (sizeof(Item) + aggs * sizeof(Value)) +
         (ks.closed_ends.capacity() + ks.removed.capacity()) * sizeof(std::int64_t);
}

std::size_t WindowState::heap_bytes() const noexcept {
  // A heap entry and its share of the vector's spare capacity; encoded keys past the short
  // string buffer are rare.
  return heap_.size() * (sizeof(Scheduled) + 8);
}

void WindowState::publish() noexcept {
  const std::size_t per_change = sizeof(Window) + spec_.aggs.size() * sizeof(Acc) +
                                 state::PartitionTransaction::kEntryOverhead + 64;
  charge_.set(keys_bytes_ + heap_bytes() + dirty_.size() * per_change);
}

void WindowState::committed() {
  if (remap_) {
    // Every key read at load was rewritten in the current layout by the checkpoint that just
    // completed, and so was the list of aggregations: stored keys read as they are from now.
    remap_ = false;
    acc_map_.clear();
  }
  charge_.set(keys_bytes_ + heap_bytes());
  if (!charge_.bounded()) return;
  const std::size_t keep = charge_.allowance();
  if (charge_.bytes() <= keep) return;
  const std::size_t heap = heap_bytes();
  evict(keep > heap ? keep - heap : 0);
  charge_.set(keys_bytes_ + heap);
}

void WindowState::evict(std::size_t target) {
  for (int pass = 0; pass < 2 && keys_bytes_ > target; ++pass) {
    for (auto it = keys_.begin(); it != keys_.end() && keys_bytes_ > target;) {
      KeyState& ks = it->second;
      // A changed key's writes are not in the store yet.
      if (ks.dirty || (pass == 0 && ks.recent)) {
        ks.recent = false;
        ++it;
        continue;
      }
      keys_bytes_ -= ks.charged;
      keys_.erase(it++);
    }
  }
}

KeyState& WindowState::lookup(const Value& key) {
  key_buf_.clear();
  state::encode(key, key_buf_);
  auto it = keys_.find(std::string_view(key_buf_));
  if (it != keys_.end()) {
    it->second.recent = true;
    return it->second;
  }
  return *load_key(key_buf_, &key, false);
}

KeyState* WindowState::resident(std::string_view enc) {
  auto it = keys_.find(enc);
  if (it != keys_.end()) return &it->second;
  return load_key(enc, nullptr, true);
}

KeyState* WindowState::load_key(std::string_view enc, const Value* key, bool only_open) {
  KeyState ks;
  std::size_t stored_bytes = 0;
  bool open = false;
  if (auto v = txn_.get(window_codec::key_state_key(enc))) {
    const auto stored = state::parse_stored(*v);
    stored_bytes = stored.payload.size();
    open = window_codec::is_open(stored.payload);
    if (only_open && !open) return nullptr;
    ks = decode_key(enc, stored.payload);
  } else {
    if (only_open) return nullptr;
    ks.enc = std::string(enc);
    ks.key = key != nullptr ? *key : state::decode(enc);
  }
  if (open && keeps_items_) {
    // Its inputs are all in the store: a key leaves memory only once its writes are there.
    const std::string begin = window_codec::item_key_prefix(enc);
    std::string end = begin;
    end.push_back('\xff');
    txn_.store().scan(begin, end, [&](std::string_view k, std::string_view v) {
      std::string_view item_enc;
      Item item;
      if (!window_codec::parse_item_key(k, item_enc, item.seq) || item_enc != enc) return true;
      window_codec::decode_item(state::parse_stored(v).payload, item);
      add_stored_item(ks, std::move(item));
      return true;
    });
    order_items(ks);
  }
  // Its heap entry, if it has one, is at its next close time.
  if (scheduling_) ks.scheduled = family_->next_close(ks);
  ks.recent = true;
  KeyState& in = insert(std::move(ks));
  recharge(in, stored_bytes);
  if ((keys_.size() & (kPublishEvery - 1)) == 0) publish();
  return &in;
}

KeyState& WindowState::insert(KeyState&& ks) {
  std::string enc = ks.enc;
  return keys_.emplace(std::move(enc), std::move(ks)).first->second;
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
  ctx.count_late_record(node_.store_name());
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
    family_->process(ks, row, 0, ctx);  // count windows ignore time
    emit_pending(ctx);
    return;
  }
  if (ts > partition_time_) {
    partition_time_ = ts;
    meta_dirty_ = true;
  }
  ks.stream_time = std::max(ks.stream_time, ts);
  const std::int64_t stream_time = stream_time_of(ks);
  family_->process(ks, row, stream_time, ctx);
  if (scheduling_) schedule(ks);
  if (partition_strategy_) (void)close_due(stream_time, false);
  emit_pending(ctx);
}

// ---------------------------------------------------------------------------------------------
// Closing across keys (partition strategy, idle closing)

void WindowState::schedule(KeyState& ks) {
  const std::int64_t at = family_->next_close(ks);
  if (at == kNoTime || at == ks.scheduled) return;
  ks.scheduled = at;
  heap_.emplace(at, ks.enc);
}

bool WindowState::close_due(std::int64_t stream_time, bool idle) {
  bool changed = false;
  std::string enc;
  // Scheduled again once the heap holds nothing due: a family may leave a key due at this
  // same stream time (sliding windows keep a window until a later record), which would
  // otherwise pop forever.
  std::vector<KeyState*>& closed = closed_keys_;
  closed.clear();
  while (!heap_.empty() && heap_.top().first <= stream_time) {
    const std::int64_t at = heap_.top().first;
    enc = heap_.top().second;
    heap_.pop();
    KeyState* ks = resident(enc);
    // Stale entries (the key was closed or rescheduled since) are skipped.
    if (ks == nullptr || ks->scheduled != at) continue;
    ks->scheduled = kNoTime;
    if (idle) {
      const std::size_t windows = ks->windows.size();
      const std::size_t items = ks->items.size();
      const std::size_t closed_ends = ks->closed_ends.size();
      family_->close(*ks, std::max(stream_time_of(*ks), stream_time));
      if (ks->windows.size() != windows || ks->items.size() != items ||
          ks->closed_ends.size() != closed_ends) {
        mark(*ks);
        changed = true;
      }
    } else {
      family_->close(*ks, stream_time);
      mark(*ks);
      changed = true;
    }
    closed.push_back(ks);
  }
  for (KeyState* ks : closed) schedule(*ks);
  return changed;
}

bool WindowState::tick(std::int64_t now, ExecContext& ctx) {
  const std::int64_t idle = node_.options().idle_timeout.count();
  if (idle <= 0 || partition_time_ == kNoTime) return false;
  if (!last_record_clock_) {
    // State restored without a record since: the quiet time counts from now.
    last_record_clock_ = now;
    return false;
  }
  const std::int64_t quiet = now - *last_record_clock_;
  if (quiet < idle) return false;
  const std::int64_t idle_stream_time = partition_time_ + quiet;
  if (idle_stream_time <= idle_floor_) return false;
  idle_floor_ = idle_stream_time;
  meta_dirty_ = true;
  // Only keys with something due: the heap knows them, in memory or not.
  const bool changed = close_due(idle_stream_time, true);
  const bool emitted = !closed_.empty();
  if (changed || emitted) {
    logger()->debug(
        "window store '{}' partition {}: idle closing at stream time {} emitted {} "
        "window(s)",
        node_.store_name(), partition_, idle_stream_time, closed_.size());
  }
  emit_pending(ctx);
  // Only a change needs a checkpoint of its own; the raised floor alone is written with the
  // next one (a quiet partition then commits nothing turn after turn).
  return changed || emitted;
}

}  // namespace streamframe::detail
