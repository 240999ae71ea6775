// The window store's key-state layouts (src/windows/window_node.cpp): state written before
// WIN-13 (layout 0, a session's end = its last timestamp) is read with every session as
// [start, last + 1); state written now says layout 1; a layout newer than the code is refused
// instead of misread. The rules themselves are checked by the golden cases.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataframe/access.hpp"
#include "dataframe/graph.hpp"
#include "state/memory_store.hpp"
#include "state/transaction.hpp"
#include "state/value_codec.hpp"
#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();

// Runs records through a pipeline against one in-memory store the test can write first,
// committing after every record like sdf.test().
class StoreContext final : public detail::ExecContext {
 public:
  explicit StoreContext(const detail::Graph& graph) : graph_(graph), txn_(store_) {
    mc_.topic = graph.topic().name();
  }

  void produce(const Topic::Definition&, const Row&, const Value&) override {}
  void emit(Row& row, const detail::Node&) override { rows_.push_back(row.value.to_json()); }
  const MessageContext& context() const override { return mc_; }
  detail::OperatorState& operator_state(std::size_t, const detail::Node& owner) override {
    if (!operator_) operator_ = owner.make_operator_state(txn_, 0);
    return *operator_;
  }
  std::int64_t now_ms() const override { return 0; }

  void put(const std::string& key, const std::string& value) {
    txn_.put(key, value);
    commit();
  }
  std::optional<std::string> get(const std::string& key) {
    const auto v = txn_.get(key);
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  }
  std::vector<std::string> record(std::int64_t value, const char* key, std::int64_t ts) {
    rows_.clear();
    Row row{Value(value), Value(key), ts, Headers{}};
    graph_.run(row, *this);
    commit();
    return rows_;
  }

 private:
  void commit() {
    if (operator_) operator_->flush(txn_);
    if (!txn_.empty()) store_.write(txn_.batch(), std::nullopt);
    txn_.committed();
  }

  const detail::Graph& graph_;
  state::MemoryStore store_;
  state::PartitionTransaction txn_;
  std::unique_ptr<detail::OperatorState> operator_;
  MessageContext mc_;
  std::vector<std::string> rows_;
};

std::string key_state_key(const char* key) {
  return "S" + state::encode(Value(key));
}

// A stored key state: the flag byte (bit 0 = open, bits above = layout), then the array.
std::string key_state(int layout, const Value& fields) {
  std::string out;
  state::build_stored(out, true, std::nullopt);
  out.push_back(static_cast<char>((layout << 1) | 1));
  state::encode(fields, out);
  return out;
}

// A one-aggregation window [start, end, count, first_seq, [[v, n, order]]].
Value window(std::int64_t start, std::int64_t end, std::int64_t count, std::int64_t sum) {
  return Value(Array{Value(start), Value(end), Value(count), Value(std::int64_t{0}),
                     Value(Array{Value(Array{Value(sum), Value(count), Value(std::int64_t{0})})})});
}

// Layout 0: [T, closed_T, next_seq, C, windows].
Value layout0(std::int64_t T, std::int64_t next_seq, Array windows) {
  return Value(
      Array{Value(T), Value(kNone), Value(next_seq), Value(kNone), Value(std::move(windows))});
}

TEST(WindowStore, SessionWrittenBeforeWin13IsReadWithExclusiveEnd) {
  Application app(test::embedded_config("win-store-session"));
  auto out = app.dataframe(app.topic("win-store-session-in")).session_window(10ms).sum().final();
  StoreContext ctx(*detail::Access::graph(out));
  // The old code's session of 1@0 and 2@5: [0, 5], end = last timestamp.
  ctx.put(key_state_key("k"), key_state(0, layout0(5, 2, {window(0, 5, 2, 3)})));
  // As [0, 6), 15 < 6 + 10 joins it (read as [0, 5) it would start a session of its own).
  EXPECT_TRUE(ctx.record(4, "k", 15).empty());
  // W=36: close_before 16 closes [0, 16).
  EXPECT_EQ(ctx.record(0, "k", 36), std::vector<std::string>{R"({"start":0,"end":16,"value":7})"});
  // Written back in the current layout.
  const auto stored = ctx.get(key_state_key("k"));
  ASSERT_TRUE(stored);
  const auto payload = state::parse_stored(*stored).payload;
  ASSERT_FALSE(payload.empty());
  EXPECT_EQ(static_cast<unsigned char>(payload[0]) >> 1, 1);
}

TEST(WindowStore, TumblingWrittenInLayoutZeroKeepsItsBounds) {
  Application app(test::embedded_config("win-store-tumbling"));
  auto out = app.dataframe(app.topic("win-store-tumbling-in")).tumbling_window(10ms).sum().final();
  StoreContext ctx(*detail::Access::graph(out));
  ctx.put(key_state_key("k"), key_state(0, layout0(5, 1, {window(0, 10, 1, 2)})));
  EXPECT_EQ(ctx.record(1, "k", 10), std::vector<std::string>{R"({"start":0,"end":10,"value":2})"});
}

TEST(WindowStore, NewerLayoutIsRefused) {
  Application app(test::embedded_config("win-store-newer"));
  auto out = app.dataframe(app.topic("win-store-newer-in")).session_window(10ms).sum().final();
  StoreContext ctx(*detail::Access::graph(out));
  ctx.put(key_state_key("k"), key_state(2, layout0(5, 2, {window(0, 6, 2, 3)})));
  EXPECT_THROW(ctx.record(4, "k", 15), SerializationError);
}

}  // namespace
}  // namespace streamframe
