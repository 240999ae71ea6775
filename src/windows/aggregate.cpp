// Global aggregation (EXT-05): sdf.aggregate({...}) keeps one accumulator per key and column,
// with no window around it, and emits the updated results after every record. It shares the
// window aggregations' accumulators (aggregation.hpp) but not their in-memory window state:
// a key's accumulators are read from and written to the store through the partition's
// transaction, which caches them between checkpoints.
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/logging.hpp"
#include "dataframe/access.hpp"
#include "dataframe/graph.hpp"
#include "state/transaction.hpp"
#include "streamframe/dataframe.hpp"
#include "streamframe/errors.hpp"
#include "windows/aggregation.hpp"

namespace streamframe {

namespace detail {
namespace {

class AggregateNode final : public Node {
 public:
  AggregateNode(std::vector<std::string> columns,
                std::vector<std::shared_ptr<const AggregationSpec>> aggs, std::size_t store,
                std::string store_name)
      : columns_(std::move(columns)),
        aggs_(std::move(aggs)),
        store_(store),
        store_name_(std::move(store_name)) {
    // The state key of a column names its aggregation too (as windows do, WIN-12): a program
    // that changes a column's aggregation starts it afresh instead of misreading the old one.
    state_keys_.reserve(columns_.size());
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      state_keys_.emplace_back(columns_[i] + "/" + aggs_[i]->state_suffix());
    }
  }

  void process(Row& row, ExecContext& ctx) const override {
    if (row.key.is_null()) {
      skip_null_key(ctx);
      return;
    }
    StateScope& state = ctx.state(store_, row);
    ctx.headers_replaced(row);
    row.headers.clear();
    if (row.value.is_null()) {
      for (const Value& key : state_keys_) state.remove(key);
      forward(row, ctx);
      return;
    }
    // Every column is computed before any is stored, so an aggregation that throws (a value
    // of the wrong type) leaves the key's aggregate as it was.
    thread_local std::vector<Acc> accs;
    accs.resize(aggs_.size());
    for (std::size_t i = 0; i < aggs_.size(); ++i) {
      const AggregationSpec& spec = *aggs_[i];
      const Value stored = state.get(state_keys_[i], Value());
      if (stored.is_null()) {
        accs[i] = Acc{};
        acc_init(spec, accs[i]);
      } else {
        accs[i] = acc_from_value(stored);
      }
      // One accumulator per key for ever: the input count serves as first/last's order.
      acc_add(spec, accs[i], spec.input(row.value), row.timestamp, accs[i].n);
    }
    Object out;
    out.reserve(aggs_.size());
    for (std::size_t i = 0; i < aggs_.size(); ++i) {
      state.set(state_keys_[i], acc_to_value(accs[i]), std::nullopt);
      out.set(columns_[i], acc_result(*aggs_[i], accs[i]));
    }
    row.value = Value(std::move(out));
    forward(row, ctx);
  }

  const char* kind() const override { return "aggregate"; }

 private:
  void skip_null_key(ExecContext& ctx) const {
    ctx.count_null_key();
    // Logged at the first and then at every power of two, so a stream of keyless records
    // cannot flood the log but the count stays visible (as windows do, WIN-01).
    const std::uint64_t n = null_keys_.fetch_add(1, std::memory_order_relaxed) + 1;
    if ((n & (n - 1)) == 0) {
      logger()->warn("aggregate '{}': skipped a record with a null key ({} so far)", store_name_,
                     n);
    }
  }

  std::vector<std::string> columns_;
  std::vector<std::shared_ptr<const AggregationSpec>> aggs_;
  std::vector<Value> state_keys_;
  std::size_t store_;
  std::string store_name_;
  mutable std::atomic<std::uint64_t> null_keys_{0};  // the node is shared by every partition
};

}  // namespace
}  // namespace detail

StreamingDataFrame StreamingDataFrame::aggregate(
    const std::vector<std::pair<std::string, Aggregation>>& columns,
    const AggregateOptions& options) const {
  if (columns.empty()) throw ConfigError("aggregate(): needs at least one column");
  std::vector<std::string> names;
  std::vector<std::shared_ptr<const detail::AggregationSpec>> aggs;
  std::set<std::string> seen;
  for (const auto& [name, aggregation] : columns) {
    if (name.empty()) throw ConfigError("aggregate(): a column needs a name");
    if (!seen.insert(name).second) {
      throw ConfigError("aggregate(): column '" + name + "' given twice");
    }
    const auto& spec = detail::Access::spec(aggregation);
    if (!spec) throw ConfigError("aggregate(): column '" + name + "' has no aggregation");
    if (spec->is_collector()) {
      throw ConfigError("aggregate(): column '" + name +
                        "' is a collector; collectors need a window that closes");
    }
    names.push_back(name);
    aggs.push_back(spec);
  }
  std::string store = options.name.empty() ? "aggregate" : options.name + "_aggregate";
  const std::size_t index = graph_->add_unique_store(store, node_);
  auto node = std::make_unique<detail::AggregateNode>(std::move(names), std::move(aggs), index,
                                                      std::move(store));
  return child(std::move(node));
}

}  // namespace streamframe
