// Sliding windows.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "windows/window_state.hpp"

namespace streamframe::detail {
namespace {

// WIN-04: one window [max(0, e - duration), e] per distinct timestamp e of the key's accepted
// records. A window closes when start + duration + grace < stream time (WIN-07); a record is
// wholly late when even its own window would be closed (ts + duration + grace < stream time)
// and is then dropped. Every accepted record is kept: a new window is folded from them.
class SlidingWindows final : public WindowFamily {
 public:
  using WindowFamily::WindowFamily;
  void process(KeyState& ks, Row& row, std::int64_t stream_time, ExecContext& ctx) override;
  void close(KeyState& ks, std::int64_t stream_time) override;

 private:
  // WIN-08: a record that is not wholly late is late for each closed window that holds its
  // timestamp, newest first. Windows that were never created (a record's own window that was
  // already closed when the record came) are not in closed_ends, so they are not reported.
  void report_closed_windows(const KeyState& ks, const Row& row, std::int64_t stream_time,
                             ExecContext& ctx) const;
  // The window ending at `end`, folded from the kept records in its range in arrival order.
  void create_window(KeyState& ks, std::int64_t end);
  // WIN-07: whether `time` + duration + grace < stream time. For a window's start: it is
  // closed; for a record's timestamp: the record is wholly late; for a window's end or a kept
  // record's timestamp: no record that is not wholly late can fall in it any more.
  bool passed(std::int64_t time, std::int64_t stream_time) const {
    return saturating_add(saturating_add(time, spec_.duration), spec_.grace) < stream_time;
  }
};

}  // namespace

void SlidingWindows::process(KeyState& ks, Row& row, std::int64_t stream_time, ExecContext& ctx) {
  const std::int64_t ts = row.timestamp;
  const std::int64_t duration = spec_.duration;
  const std::int64_t own_start = std::max<std::int64_t>(0, ts - duration);
  if (passed(ts, stream_time)) {
    state_.late(ks, row, state_.late_by(row, stream_time), own_start, ts, ctx);
    return;
  }
  report_closed_windows(ks, row, stream_time, ctx);
  const std::int64_t seq = ks.next_seq++;
  state_.keep_item(ks, row.value, ts, seq, true, true);
  // The stored windows are the open ones (closing runs after every record at the same stream_time).
  bool have_own = false;
  for (Window& w : ks.windows) {
    if (w.end == ts) have_own = true;
    if (w.start <= ts && ts <= w.end) state_.add_record(ks, w, row.value, ts, seq);
  }
  // WIN-04: a record never creates a window that is already closed.
  if (!have_own && !passed(own_start, stream_time)) create_window(ks, ts);
  if (!state_.final_mode()) {
    for (const Window& w : ks.windows) {
      if (w.end >= ts && w.end <= ts + duration && w.start <= ts) {
        state_.emit_now(ks, w, ctx);
      }
    }
  }
  close(ks, stream_time);
}

void SlidingWindows::report_closed_windows(const KeyState& ks, const Row& row,
                                           std::int64_t stream_time, ExecContext& ctx) const {
  const std::int64_t ts = row.timestamp;
  for (auto it = ks.closed_ends.rbegin(); it != ks.closed_ends.rend() && *it >= ts; ++it) {
    const std::int64_t start = std::max<std::int64_t>(0, *it - spec_.duration);
    if (start <= ts) state_.late(ks, row, state_.late_by(row, stream_time), start, *it, ctx);
  }
}

void SlidingWindows::create_window(KeyState& ks, std::int64_t end) {
  const std::int64_t start = std::max<std::int64_t>(0, end - spec_.duration);
  Window w;
  state_.init_window(w, start, end);
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
      if (!spec_.aggs[a]->is_collector()) state_.add_input(ks, w, a, i->inputs[a], i->ts, i->seq);
    }
  }
  auto pos = std::lower_bound(ks.windows.begin(), ks.windows.end(), end,
                              [](const Window& x, std::int64_t e) { return x.end < e; });
  ks.windows.insert(pos, std::move(w));
}

void SlidingWindows::close(KeyState& ks, std::int64_t stream_time) {
  // A closed window (or kept record) at e can still take a record that is not wholly late
  // while e + duration + grace >= stream_time; after that nothing can fall in it any more.
  auto beyond_reach = [this, stream_time](std::int64_t e) { return passed(e, stream_time); };
  // Windows are ordered by end, and so by start.
  std::size_t n = 0;
  while (n < ks.windows.size() && passed(ks.windows[n].start, stream_time)) {
    const Window& w = ks.windows[n];
    if (state_.final_mode()) state_.closed(ks, w);
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
  state_.drop_items_before(ks, [&](const Item& i) { return beyond_reach(i.ts); });
}

std::unique_ptr<WindowFamily> make_sliding_windows(WindowState& state) {
  return std::make_unique<SlidingWindows>(state);
}

}  // namespace streamframe::detail
