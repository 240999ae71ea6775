// Tumbling and hopping windows.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "windows/window_state.hpp"

namespace streamframe::detail {
namespace {

// Tumbling and hopping windows with one accumulator per window (WIN-02, WIN-03, WIN-07,
// WIN-08, WIN-11): window k covers [k * step, k * step + duration) and closes once its end plus
// grace is at or below the stream time.
class TimeWindows final : public WindowFamily {
 public:
  using WindowFamily::WindowFamily;
  void process(KeyState& ks, Row& row, std::int64_t stream_time, ExecContext& ctx) override;
  void close(KeyState& ks, std::int64_t stream_time) override;
};

// Hopping windows with slices (final() and mergeable aggregations): one accumulator per slice
// of gcd(duration, step) ms; a window's result merges its slices when it closes, so a record
// costs one update however many windows overlap.
class SlicedHoppingWindows final : public WindowFamily {
 public:
  explicit SlicedHoppingWindows(WindowState& state) : WindowFamily(state), slice(state.slice()) {}
  void process(KeyState& ks, Row& row, std::int64_t stream_time, ExecContext& ctx) override;
  void close(KeyState& ks, std::int64_t stream_time) override;
  std::int64_t next_close(const KeyState& ks) const override {
    if (ks.windows.empty()) return kNoTime;
    // The first window holding the first slice, or the first not closed yet.
    const std::int64_t duration = spec_.duration;
    const std::int64_t step = spec_.step;
    const std::int64_t first_k =
        std::max<std::int64_t>(0, floor_div(ks.windows.front().start - duration, step) + 1);
    const std::int64_t open_k = ks.closed_until == kNoTime
                                    ? 0
                                    : floor_div(ks.closed_until - duration - spec_.grace, step) + 1;
    return std::max(first_k, open_k) * step + duration + spec_.grace;
  }

 private:
  const std::int64_t slice;
};

}  // namespace

void TimeWindows::process(KeyState& ks, Row& row, std::int64_t stream_time, ExecContext& ctx) {
  if (spec_.before_update || spec_.after_update) ctx.load_headers(row);  // the triggers see them
  const std::int64_t ts = row.timestamp;
  const std::int64_t duration = spec_.duration;
  const std::int64_t step = spec_.kind == WindowKind::tumbling ? duration : spec_.step;
  const std::int64_t k_first = std::max<std::int64_t>(0, floor_div(ts - duration, step) + 1);
  const std::int64_t k_last = ts / step;
  const std::int64_t seq = ks.next_seq++;
  bool accepted = false;
  bool kept = false;
  std::vector<std::int64_t> updated;  // starts of the windows the record went into
  for (std::int64_t k = k_first; k <= k_last; ++k) {
    const std::int64_t s = k * step;
    const std::int64_t e = s + duration;
    if (e + spec_.grace <= stream_time) {
      state_.late(ks, row, state_.late_by(row, stream_time), s, e, ctx);
      continue;
    }
    // Windows are kept by start; a record's windows are usually the newest.
    const std::size_t idx = state_.window_at(ks, s, e);
    if (spec_.before_update && state_.trigger(spec_.before_update, ks, ks.windows[idx], row)) {
      if (state_.final_mode()) state_.triggered(ks, ks.windows[idx]);
      ks.windows.erase(ks.windows.begin() + static_cast<std::ptrdiff_t>(idx));
      continue;
    }
    accepted = true;
    state_.add_record(ks, ks.windows[idx], row.value, ts, seq);
    if (spec_.after_update && state_.trigger(spec_.after_update, ks, ks.windows[idx], row)) {
      // Collected before the window's result is built, so the result includes the record.
      if (spec_.has_collectors() && !kept) {
        state_.keep_item(ks, row.value, ts, seq, false, true);
        kept = true;
      }
      if (state_.final_mode()) state_.triggered(ks, ks.windows[idx]);
      ks.windows.erase(ks.windows.begin() + static_cast<std::ptrdiff_t>(idx));
      continue;
    }
    if (!state_.final_mode()) updated.push_back(s);
  }
  if (accepted && !kept && spec_.has_collectors())
    state_.keep_item(ks, row.value, ts, seq, false, true);
  if (!state_.final_mode()) {
    // WIN-10: every window the record updated, by start (both lists ascend).
    auto next = updated.begin();
    for (const Window& w : ks.windows) {
      while (next != updated.end() && *next < w.start) ++next;
      if (next == updated.end()) break;
      if (*next == w.start) {
        state_.emit_now(ks, w, ctx);
      }
    }
  }
  if (!state_.partition_strategy()) close(ks, stream_time);
}

void TimeWindows::close(KeyState& ks, std::int64_t stream_time) {
  std::size_t n = 0;
  while (n < ks.windows.size() && ks.windows[n].end + spec_.grace <= stream_time) {
    if (state_.final_mode()) state_.closed(ks, ks.windows[n]);
    ++n;
  }
  if (n > 0) {
    ks.windows.erase(ks.windows.begin(), ks.windows.begin() + static_cast<std::ptrdiff_t>(n));
    state_.mark(ks);
  }
  if (spec_.has_collectors()) {
    const std::int64_t step = spec_.kind == WindowKind::tumbling ? spec_.duration : spec_.step;
    // An input leaves once the last window holding it closed.
    state_.drop_items_before(ks, [&](const Item& i) {
      return (i.ts / step) * step + spec_.duration + spec_.grace <= stream_time;
    });
  }
}

void SlicedHoppingWindows::process(KeyState& ks, Row& row, std::int64_t stream_time,
                                   ExecContext& ctx) {
  const std::int64_t ts = row.timestamp;
  const std::int64_t duration = spec_.duration;
  const std::int64_t step = spec_.step;
  // Close first: a record never belongs to a window closing now (it would be late for it),
  // and windows closed before its slice existed must not see it.
  close(ks, stream_time);
  const std::int64_t k_first = std::max<std::int64_t>(0, floor_div(ts - duration, step) + 1);
  const std::int64_t k_last = ts / step;
  bool any_open = false;
  for (std::int64_t k = k_first; k <= k_last; ++k) {
    if (k * step + duration + spec_.grace <= stream_time) {
      state_.late(ks, row, state_.late_by(row, stream_time), k * step, k * step + duration, ctx);
    } else {
      any_open = true;
    }
  }
  if (!any_open) return;
  const std::int64_t seq = ks.next_seq++;
  const std::int64_t ps = ts - ts % slice;
  const std::size_t idx = state_.window_at(ks, ps, ps + slice);
  state_.add_record(ks, ks.windows[idx], row.value, ts, seq);
  if (spec_.has_collectors()) state_.keep_item(ks, row.value, ts, seq, false, true);
}

void SlicedHoppingWindows::close(KeyState& ks, std::int64_t stream_time) {
  const std::int64_t duration = spec_.duration;
  const std::int64_t step = spec_.step;
  const std::int64_t grace = spec_.grace;
  if (ks.windows.empty() || stream_time <= ks.closed_until) {
    ks.closed_until = std::max(ks.closed_until, stream_time);
    if (ks.windows.empty()) state_.drop_items_before(ks, [](const Item&) { return true; });
    return;
  }
  // Windows k with closed_until < k*step + duration + grace <= stream_time close now; only those
  // holding slices.
  const std::int64_t k_hi = floor_div(stream_time - duration - grace, step);
  const std::int64_t k_lo =
      ks.closed_until == kNoTime ? 0 : floor_div(ks.closed_until - duration - grace, step) + 1;
  auto k_of_first_window = [&](std::int64_t slice_start) {
    return std::max<std::int64_t>(0, floor_div(slice_start - duration, step) + 1);
  };
  std::int64_t k = std::max(k_lo, k_of_first_window(ks.windows.front().start));
  while (k <= k_hi) {
    const std::int64_t ws = k * step;
    const std::int64_t we = ws + duration;
    auto first = std::lower_bound(ks.windows.begin(), ks.windows.end(), ws,
                                  [](const Window& w, std::int64_t t) { return w.start < t; });
    if (first == ks.windows.end()) break;
    if (first->start >= we) {
      k = std::max(k + 1, k_of_first_window(first->start));
      continue;
    }
    if (state_.final_mode()) {
      Window merged;
      state_.init_window(merged, ws, we);
      for (auto p = first; p != ks.windows.end() && p->start < we; ++p)
        state_.merge_accs(ks, merged, *p);
      state_.closed(ks, merged);
    }
    ++k;
  }
  ks.closed_until = stream_time;
  // A slice leaves once the last window holding it closed.
  std::size_t n = 0;
  while (n < ks.windows.size() &&
         (ks.windows[n].start / step) * step + duration + grace <= stream_time)
    ++n;
  if (n > 0) {
    ks.windows.erase(ks.windows.begin(), ks.windows.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (spec_.has_collectors()) {
    state_.drop_items_before(
        ks, [&](const Item& i) { return (i.ts / step) * step + duration + grace <= stream_time; });
  }
  state_.mark(ks);
}

std::unique_ptr<WindowFamily> make_time_windows(WindowState& state) {
  return std::make_unique<TimeWindows>(state);
}

std::unique_ptr<WindowFamily> make_sliced_hopping_windows(WindowState& state) {
  return std::make_unique<SlicedHoppingWindows>(state);
}

}  // namespace streamframe::detail
