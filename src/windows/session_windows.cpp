// Session windows.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "windows/window_state.hpp"

namespace streamframe::detail {
namespace {

// WIN-13: sessions are half-open [start, end) with end = last timestamp + 1. At stream time W
// a record before W - gap - grace is late; sessions ending by W - 2 gap - grace close.
class SessionWindows final : public WindowFamily {
 public:
  using WindowFamily::WindowFamily;
  void process(KeyState& ks, Row& row, std::int64_t stream_time, ExecContext& ctx) override;
  void close(KeyState& ks, std::int64_t stream_time) override;
  std::int64_t next_close(const KeyState& ks) const override {
    if (ks.windows.empty()) return kNoTime;
    // The first session closes once its end <= stream time - 2 gap - grace.
    const std::int64_t end = ks.windows.front().end;
    return saturating_add(saturating_add(saturating_add(end, spec_.gap), spec_.gap), spec_.grace);
  }

 private:
  // The record joins a stored session [s, e) iff s - gap <= ts < e + gap. Sessions are kept
  // by start, each at least `gap` after the end of the one before (a record within gap of
  // both neighbours merges them), so only the two neighbours of ts can match: the last
  // session starting at or before ts and the first one after it.
  Window& add_to_session(KeyState& ks, const Row& row, std::int64_t seq);
  // Records before this are late.
  std::int64_t late_bound(std::int64_t stream_time) const {
    return saturating_sub(saturating_sub(stream_time, spec_.gap), spec_.grace);
  }
  // Sessions ending by this close.
  std::int64_t close_bound(std::int64_t stream_time) const {
    return saturating_sub(late_bound(stream_time), spec_.gap);
  }
};

}  // namespace

void SessionWindows::process(KeyState& ks, Row& row, std::int64_t stream_time, ExecContext& ctx) {
  const std::int64_t ts = row.timestamp;
  const std::int64_t late_before = late_bound(stream_time);
  if (ts < late_before) {
    state_.late(ks, row, late_before - ts, ts, ts + 1, ctx);
    return;
  }
  const std::int64_t seq = ks.next_seq++;
  const Window& session = add_to_session(ks, row, seq);
  if (spec_.has_collectors()) state_.keep_item(ks, row.value, ts, seq, false, true);
  if (!state_.final_mode()) {
    state_.emit_now(ks, session, ctx);
  }
  // The partition strategy closes every key's sessions after the record (close_partition).
  if (!state_.partition_strategy()) close(ks, stream_time);
}

Window& SessionWindows::add_to_session(KeyState& ks, const Row& row, std::int64_t seq) {
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
    state_.init_window(session, ts, ts + 1);
    state_.add_record(ks, session, row.value, ts, seq);
    return *sessions.insert(after, std::move(session));
  }
  const auto into = joins_before ? std::prev(after) : after;
  state_.add_record(ks, *into, row.value, ts, seq);
  std::int64_t end = std::max(into->end, ts + 1);
  const bool bridges = joins_before && joins_after;
  if (bridges) {
    // merge(add(acc1, v), acc2): the later session's inputs come after the record's. The
    // bounds change only once it succeeded (a user merger may throw), so the sessions stay
    // apart whatever happens.
    state_.merge_accs(ks, *into, *after);
    end = std::max(end, after->end);
  }
  into->start = std::min(into->start, ts);
  into->end = end;
  if (bridges) sessions.erase(after);  // `into` is before it, so it stays valid
  return *into;
}

void SessionWindows::close(KeyState& ks, std::int64_t stream_time) {
  const std::int64_t close_before = close_bound(stream_time);
  // Sessions are disjoint and kept by start, so their ends ascend too: the closing ones are a
  // prefix.
  std::size_t n = 0;
  while (n < ks.windows.size() && ks.windows[n].end <= close_before) {
    if (state_.final_mode()) state_.closed(ks, ks.windows[n]);
    ++n;
  }
  if (n == 0) return;
  const std::int64_t closed_end = ks.windows[n - 1].end;
  ks.windows.erase(ks.windows.begin(), ks.windows.begin() + static_cast<std::ptrdiff_t>(n));
  // Collected inputs of the closed sessions leave with them; open sessions start later.
  state_.drop_items_before(ks, [closed_end](const Item& i) { return i.ts < closed_end; });
  state_.mark(ks);
}

std::unique_ptr<WindowFamily> make_session_windows(WindowState& state) {
  return std::make_unique<SessionWindows>(state);
}

}  // namespace streamframe::detail
