#include "streamframe/dataframe.hpp"

#include <algorithm>
#include <string_view>

#include "core/assert.hpp"
#include "dataframe/access.hpp"
#include "dataframe/graph.hpp"
#include "dataframe/nodes.hpp"
#include "dataframe/test_harness.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

// --- ColumnRef -----------------------------------------------------------------------------

ColumnRef::ColumnRef(StreamingDataFrame& sdf, std::string column)
    : Series(Series::column(column)), sdf_(&sdf), column_(std::move(column)) {}

StreamingDataFrame& ColumnRef::operator=(const Series& expr) {
  return sdf_->append(std::make_unique<detail::SetColumnNode>(column_, expr));
}

StreamingDataFrame& ColumnRef::operator=(const StreamingDataFrame& applied) {
  auto* node = applied.node_;
  auto* apply = dynamic_cast<const detail::ApplyNode*>(node);
  if (applied.graph_ != sdf_->graph_ || apply == nullptr || node->parent != sdf_->node_ ||
      !node->children.empty()) {
    throw InvalidOperation("sdf[\"" + column_ +
                           "\"] = ... takes a Series or an apply() of the same frame");
  }
  // Reuse the apply's callable as a column setter; the apply node itself stays a dead leaf, so
  // detach it from its parent to keep it from running.
  auto& siblings = sdf_->node_->children;
  std::erase(siblings, node);
  ApplyMetaFn f = [apply](const Value& v, const Value& k, std::int64_t t, const Headers& h) {
    Row r{v, k, t, h};
    struct Capture final : detail::ExecContext {
      Value out;
      MessageContext mc;
      void produce(const Topic::Definition&, const Row&, const Value&) override {}
      void emit(Row& row, const detail::Node&) override { out = std::move(row.value); }
      const MessageContext& context() const override { return mc; }
    } capture;
    apply->process(r, capture);
    return std::move(capture.out);
  };
  return sdf_->append(
      std::make_unique<detail::SetColumnApplyNode>(column_, std::move(f), apply->reads_headers()));
}

// --- StreamingDataFrame --------------------------------------------------------------------

StreamingDataFrame StreamingDataFrame::child(std::unique_ptr<detail::Node> node) const {
  return StreamingDataFrame(graph_, graph_->add(std::move(node), node_));
}

StreamingDataFrame& StreamingDataFrame::append(std::unique_ptr<detail::Node> node) {
  node_ = graph_->add(std::move(node), node_);
  return *this;
}

StreamingDataFrame StreamingDataFrame::apply_impl(ApplyMetaFn f, const ApplyOptions& options,
                                                  bool reads_headers) const {
  return child(std::make_unique<detail::ApplyNode>(std::move(f), options.expand, reads_headers));
}

StreamingDataFrame& StreamingDataFrame::update_impl(UpdateMetaFn f, bool reads_headers) {
  return append(std::make_unique<detail::UpdateNode>(std::move(f), reads_headers));
}

StreamingDataFrame StreamingDataFrame::filter_impl(FilterMetaFn f, bool reads_headers) const {
  return child(std::make_unique<detail::FilterNode>(std::move(f), reads_headers));
}

StreamingDataFrame StreamingDataFrame::apply_state_impl(ApplyStateFn f, const ApplyOptions& options,
                                                        bool reads_headers) const {
  const auto store = graph_->store_index(options.store, node_);
  return child(std::make_unique<detail::StatefulApplyNode>(std::move(f), options.expand, store,
                                                           reads_headers));
}

StreamingDataFrame& StreamingDataFrame::register_store(const std::string& name) {
  (void)graph_->store_index(name, node_);
  return *this;
}

StreamingDataFrame& StreamingDataFrame::set_label(std::uint32_t label) {
  node_->label = label;
  return *this;
}

std::uint32_t StreamingDataFrame::label() const noexcept {
  return node_->label;
}

StreamingDataFrame& StreamingDataFrame::update_state_impl(UpdateStateFn f,
                                                          const std::string& store_name,
                                                          bool reads_headers) {
  const auto store = graph_->store_index(store_name, node_);
  return append(std::make_unique<detail::StatefulUpdateNode>(std::move(f), store, reads_headers));
}

StreamingDataFrame StreamingDataFrame::filter_state_impl(FilterStateFn f,
                                                         const std::string& store_name,
                                                         bool reads_headers) const {
  const auto store = graph_->store_index(store_name, node_);
  return child(std::make_unique<detail::StatefulFilterNode>(std::move(f), store, reads_headers));
}

StreamingDataFrame StreamingDataFrame::operator[](const Series& predicate) const {
  return child(std::make_unique<detail::SeriesFilterNode>(predicate));
}

StreamingDataFrame StreamingDataFrame::project(std::vector<std::string> columns) const {
  return child(std::make_unique<detail::ProjectNode>(std::move(columns)));
}

Series StreamingDataFrame::contains(std::vector<std::string> keys) const {
  return detail::Access::series(std::make_shared<const detail::ContainsKeysExpr>(std::move(keys)));
}

StreamingDataFrame& StreamingDataFrame::drop(std::vector<std::string> columns, DropErrors errors) {
  return append(std::make_unique<detail::DropNode>(std::move(columns), errors));
}

StreamingDataFrame& StreamingDataFrame::fill(std::vector<std::string> columns,
                                             std::vector<std::pair<std::string, Value>> values) {
  if (columns.empty() && values.empty()) {
    throw ConfigError("fill() needs at least one column");
  }
  std::vector<std::pair<std::string, Value>> fills;
  fills.reserve(columns.size() + values.size());
  for (auto& c : columns) fills.emplace_back(std::move(c), Value());
  for (auto& v : values) fills.push_back(std::move(v));
  return append(std::make_unique<detail::FillNode>(std::move(fills)));
}

StreamingDataFrame& StreamingDataFrame::print(PrintOptions options) {
  return append(std::make_unique<detail::PrintNode>(options.pretty, options.metadata));
}

StreamingDataFrame& StreamingDataFrame::to_topic(const Topic& topic, KeyFn key) {
  return append(std::make_unique<detail::ToTopicNode>(topic, std::move(key)));
}

StreamingDataFrame& StreamingDataFrame::to_topic(TopicFn choose, KeyFn key) {
  if (!choose) throw ConfigError("to_topic() needs a topic or a callable choosing one");
  return append(std::make_unique<detail::DynamicToTopicNode>(std::move(choose), std::move(key)));
}

StreamingDataFrame& StreamingDataFrame::set_timestamp(TimestampFn f) {
  if (!f) throw ConfigError("set_timestamp() needs a callable");
  return append(std::make_unique<detail::SetTimestampNode>(std::move(f)));
}

StreamingDataFrame& StreamingDataFrame::set_headers(HeadersFn f) {
  if (!f) throw ConfigError("set_headers() needs a callable");
  return append(std::make_unique<detail::SetHeadersNode>(std::move(f)));
}

StreamingDataFrame StreamingDataFrame::standalone(const Topic& topic) {
  auto graph = std::make_shared<detail::Graph>(topic);
  detail::Node* root = graph->root();
  return StreamingDataFrame(std::move(graph), root);
}

StreamingDataFrame StreamingDataFrame::concat(const StreamingDataFrame& other) const {
  if (other.graph_ == graph_) {
    auto* merged = graph_->add(std::make_unique<detail::PassNode>(), node_);
    graph_->link(merged, other.node_);
    return StreamingDataFrame(graph_, merged);
  }
  // Standalone frames (no application) may meet; an application's frames only its own.
  if (other.graph_->env() != graph_->env() &&
      (other.graph_->env()->add_graph || graph_->env()->add_graph)) {
    throw InvalidOperation("concat(): the frames belong to different applications");
  }
  // TOP-15: the two topics are about to share tasks; state on either side needs equal
  // partition counts (checked before anything is linked).
  detail::check_declared_partitions(detail::linked_graphs(graph_, other.graph_));
  // SDF-13/TOP-14: the merged stream's id is made of both streams' ids, sorted.
  std::string a = node_->stream_id;
  std::string b = other.node_->stream_id;
  if (b < a) std::swap(a, b);
  auto merge = std::make_unique<detail::PassNode>();
  merge->stream_id = a == b ? a : a + "--" + b;
  merge->merges_topics = true;
  auto* merged = graph_->add(std::move(merge), node_);
  other.graph_->add(std::make_unique<detail::BridgeNode>(graph_, merged), other.node_);
  graph_->add_feeder(other.graph_);
  return StreamingDataFrame(graph_, merged);
}

void StreamingDataFrame::sink(std::shared_ptr<Sink> sink) const {
  if (!sink) throw ConfigError("sink(): the sink is null");
  // A branch of its own, as Quix Streams' sink is: what is defined on this dataframe after the
  // sink() call follows this dataframe, not the sink.
  (void)child(std::make_unique<detail::SinkNode>(std::move(sink)));
}

const MessageContext& StreamingDataFrame::message_context() {
  const auto* ctx = detail::current_message_context();
  if (!ctx)
    throw InvalidOperation("message_context() is only available while a record is processed");
  return *ctx;
}

std::vector<Row> StreamingDataFrame::test(Value value, Value key, std::int64_t timestamp,
                                          Headers headers) const {
  if (!graph_->feeders().empty() || node_->merges_topics) {
    throw ConfigError(
        "sdf.test() cannot tell which topic a record of a concat of different topics comes "
        "from; use the test driver (TestDriver::pipe names the topic)");
  }
  if (graph_->produces()) {
    throw InvalidOperation("sdf.test() cannot run a pipeline with to_topic(); use the test driver");
  }
  detail::TestHarness& harness = detail::test_harness(*this);
  detail::PartitionTask& task = harness.task();
  (void)harness.take_rows();  // what a failed call emitted is not this call's
  // Everything goes through the stored form: operators are rebuilt from their stores.
  if (harness.reload_state) task.drop_operator_states();
  Row row{std::move(value), std::move(key), timestamp, std::move(headers)};
  const auto* saved = detail::current_message_context();
  task.begin_message(0, 0, 0);
  try {
    task.run(row);
  } catch (...) {
    detail::current_message_context() = saved;
    harness.commit();  // like a skipped row: writes made before the error stay (ERR-01)
    throw;
  }
  detail::current_message_context() = saved;
  harness.commit();
  return harness.take_rows();
}

std::vector<Row> StreamingDataFrame::test_idle() const {
  detail::TestHarness& harness = detail::test_harness(*this);
  detail::PartitionTask& task = harness.task();
  (void)harness.take_rows();
  const auto* saved = detail::current_message_context();
  try {
    (void)task.tick(graph_->now_ms());
  } catch (...) {
    detail::current_message_context() = saved;
    harness.commit();
    throw;
  }
  detail::current_message_context() = saved;
  harness.commit();
  return harness.take_rows();
}

}  // namespace streamframe
