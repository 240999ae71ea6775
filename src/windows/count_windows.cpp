// Count windows.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "windows/window_state.hpp"

namespace streamframe::detail {
namespace {

// WIN-05: tumbling, hopping and sliding count windows: a window holds `count` records of the
// key; a new one opens every `step` records. They close by count only, never by time.
class CountWindows final : public WindowFamily {
 public:
  using WindowFamily::WindowFamily;
  void process(KeyState& ks, Row& row, std::int64_t stream_time, ExecContext& ctx) override;
  void close(KeyState&, std::int64_t) override {}
  std::int64_t next_close(const KeyState&) const override { return kNoTime; }
};

}  // namespace

void CountWindows::process(KeyState& ks, Row& row, std::int64_t, ExecContext& ctx) {
  const std::int64_t ts = row.timestamp;
  const std::int64_t n = spec_.count;
  const std::int64_t step = spec_.kind == WindowKind::tumbling_count  ? n
                            : spec_.kind == WindowKind::sliding_count ? 1
                                                                      : spec_.step;
  const std::int64_t seq = ks.next_seq++;
  if (ks.windows.empty() ||
      (ks.windows.front().count > 0 && ks.windows.front().count % step == 0)) {
    Window w;
    state_.init_window(w, ts, ts);
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
    state_.add_record(ks, w, row.value, ts, seq);
  }
  if (spec_.has_collectors()) state_.keep_item(ks, row.value, ts, seq, false, false);
  if (!state_.final_mode()) {
    std::vector<const Window*> order;
    order.reserve(ks.windows.size());
    for (const Window& w : ks.windows) order.push_back(&w);
    std::stable_sort(order.begin(), order.end(),
                     [](const Window* a, const Window* b) { return a->start < b->start; });
    for (const Window* w : order) {
      state_.emit_now(ks, *w, ctx);
    }
  }
  // Close the windows that reached n records.
  for (auto it = ks.windows.begin(); it != ks.windows.end();) {
    if (it->count >= n) {
      if (state_.final_mode()) state_.closed(ks, *it);
      it = ks.windows.erase(it);
    } else {
      ++it;
    }
  }
  if (spec_.has_collectors()) {
    const std::int64_t oldest = ks.windows.empty() ? ks.next_seq : ks.windows.front().first_seq;
    state_.drop_items_before(ks, [oldest](const Item& i) { return i.seq < oldest; });
  }
}

std::unique_ptr<WindowFamily> make_count_windows(WindowState& state) {
  return std::make_unique<CountWindows>(state);
}

}  // namespace streamframe::detail
