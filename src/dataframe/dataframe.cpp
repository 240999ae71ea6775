#include "streamframe/dataframe.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string_view>

#include "core/assert.hpp"
#include "dataframe/graph.hpp"
#include "dataframe/metadata.hpp"
#include "dataframe/test_harness.hpp"
#include "state/memory_store.hpp"
#include "state/transaction.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"

namespace streamframe {
namespace detail {

const MessageContext*& current_message_context() {
  thread_local const MessageContext* ctx = nullptr;
  return ctx;
}

void Node::forward(Row& row, ExecContext& ctx) const {
  const auto n = children.size();
  if (n == 0) {
    ctx.emit(row);
    return;
  }
  for (std::size_t i = 0; i + 1 < n; ++i) {
    Row copy = row;
    children[i]->process(copy, ctx);
  }
  children[n - 1]->process(row, ctx);
}

void Node::forward_applied(Row& row, Value result, bool expand, ExecContext& ctx) const {
  if (!expand) {
    row.value = std::move(result);
    forward(row, ctx);
    return;
  }
  if (!result.is_array()) {
    throw ValueTypeError("apply(expand=true) must return an array, got " +
                         std::string(result.type_name()));
  }
  auto& items = result.as_array();
  for (std::size_t i = 0; i < items.size(); ++i) {
    Row item{std::move(items[i]), row.key, row.timestamp, row.headers};
    forward(item, ctx);
  }
}

StateScope& ExecContext::state(std::size_t, const Row&) {
  throw InvalidOperation("state is not available in this context");
}

OperatorState& ExecContext::operator_state(std::size_t, const Node&) {
  throw InvalidOperation("state is not available in this context");
}

std::int64_t ExecContext::now_ms() const {
  return steady_ms();
}

std::int64_t ExecContext::steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<OperatorState> Node::make_operator_state(state::PartitionTransaction&,
                                                         std::int32_t) const {
  SF_ASSERT(false, "node '{}' keeps no operator state", kind());
}

std::int64_t Graph::now_ms() const {
  return clock ? clock() : ExecContext::steady_ms();
}

namespace {

class RootNode final : public Node {
 public:
  void process(Row& row, ExecContext& ctx) const override { forward(row, ctx); }
  const char* kind() const override { return "root"; }
};

class ApplyNode final : public Node {
 public:
  ApplyNode(ApplyMetaFn f, bool expand) : f_(std::move(f)), expand_(expand) {}
  void process(Row& row, ExecContext& ctx) const override {
    Value result = f_(row.value, row.key, row.timestamp, row.headers);
    forward_applied(row, std::move(result), expand_, ctx);
  }
  const char* kind() const override { return "apply"; }

 private:
  ApplyMetaFn f_;
  bool expand_;
};

// apply / update / filter with State& (ST-01): one node, the three shapes differ only in
// what they do with the callable's result.
class StatefulApplyNode final : public Node {
 public:
  StatefulApplyNode(ApplyStateFn f, bool expand, std::size_t store)
      : f_(std::move(f)), expand_(expand), store_(store) {}
  void process(Row& row, ExecContext& ctx) const override {
    State state(ctx.state(store_, row));
    Value result = f_(row.value, row.key, row.timestamp, row.headers, state);
    forward_applied(row, std::move(result), expand_, ctx);
  }
  const char* kind() const override { return "apply"; }

 private:
  ApplyStateFn f_;
  bool expand_;
  std::size_t store_;
};

class StatefulUpdateNode final : public Node {
 public:
  StatefulUpdateNode(UpdateStateFn f, std::size_t store) : f_(std::move(f)), store_(store) {}
  void process(Row& row, ExecContext& ctx) const override {
    State state(ctx.state(store_, row));
    f_(row.value, row.key, row.timestamp, row.headers, state);
    forward(row, ctx);
  }
  const char* kind() const override { return "update"; }

 private:
  UpdateStateFn f_;
  std::size_t store_;
};

class StatefulFilterNode final : public Node {
 public:
  StatefulFilterNode(FilterStateFn f, std::size_t store) : f_(std::move(f)), store_(store) {}
  void process(Row& row, ExecContext& ctx) const override {
    State state(ctx.state(store_, row));
    if (f_(row.value, row.key, row.timestamp, row.headers, state)) forward(row, ctx);
  }
  const char* kind() const override { return "filter"; }

 private:
  FilterStateFn f_;
  std::size_t store_;
};

class UpdateNode final : public Node {
 public:
  explicit UpdateNode(UpdateMetaFn f) : f_(std::move(f)) {}
  void process(Row& row, ExecContext& ctx) const override {
    f_(row.value, row.key, row.timestamp, row.headers);
    forward(row, ctx);
  }
  const char* kind() const override { return "update"; }

 private:
  UpdateMetaFn f_;
};

class FilterNode final : public Node {
 public:
  explicit FilterNode(FilterMetaFn f) : f_(std::move(f)) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (f_(row.value, row.key, row.timestamp, row.headers)) forward(row, ctx);
  }
  const char* kind() const override { return "filter"; }

 private:
  FilterMetaFn f_;
};

class SeriesFilterNode final : public Node {
 public:
  explicit SeriesFilterNode(Series predicate) : predicate_(std::move(predicate)) {}
  void process(Row& row, ExecContext& ctx) const override {
    Value scratch;
    if (predicate_.evaluate(row.value, scratch).truthy()) forward(row, ctx);
  }
  const char* kind() const override { return "filter"; }

 private:
  Series predicate_;
};

Object& object_of(Value& v, std::string_view column) {
  if (!v.is_object()) {
    throw ValueTypeError("cannot set column '" + std::string(column) + "' on a " +
                         std::string(v.type_name()) + " value (expected object)");
  }
  return v.as_object();
}

class SetColumnNode final : public Node {
 public:
  SetColumnNode(std::string column, Series expr)
      : column_(std::move(column)), expr_(std::move(expr)) {}
  void process(Row& row, ExecContext& ctx) const override {
    Value scratch;
    const Value& result = expr_.evaluate(row.value, scratch);
    // The result may refer into row.value, which set() modifies: take it out first.
    Value owned;
    if (&result == &scratch) {
      owned = std::move(scratch);
    } else {
      owned = result;
    }
    object_of(row.value, column_).set(column_, std::move(owned));
    forward(row, ctx);
  }
  const char* kind() const override { return "set_column"; }

 private:
  std::string column_;
  Series expr_;
};

class SetColumnApplyNode final : public Node {
 public:
  SetColumnApplyNode(std::string column, ApplyMetaFn f)
      : column_(std::move(column)), f_(std::move(f)) {}
  void process(Row& row, ExecContext& ctx) const override {
    Value result = f_(row.value, row.key, row.timestamp, row.headers);
    object_of(row.value, column_).set(column_, std::move(result));
    forward(row, ctx);
  }
  const char* kind() const override { return "set_column"; }

 private:
  std::string column_;
  ApplyMetaFn f_;
};

class ProjectNode final : public Node {
 public:
  explicit ProjectNode(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (!row.value.is_object()) {
      throw InvalidColumnReference("cannot select columns of a " +
                                   std::string(row.value.type_name()) + " value");
    }
    Object out;
    out.reserve(columns_.size());
    auto& in = row.value.as_object();
    for (const auto& c : columns_) {
      Value* v = in.find(c);
      if (!v) throw ColumnDoesNotExist("column '" + c + "' does not exist");
      out.set(c, *v);
    }
    row.value = Value(std::move(out));
    forward(row, ctx);
  }
  const char* kind() const override { return "project"; }

 private:
  std::vector<std::string> columns_;
};

class DropNode final : public Node {
 public:
  DropNode(std::vector<std::string> columns, DropErrors errors)
      : columns_(std::move(columns)), errors_(errors) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (!columns_.empty()) {
      if (!row.value.is_object()) {
        throw InvalidColumnReference("cannot drop columns of a " +
                                     std::string(row.value.type_name()) + " value");
      }
      auto& obj = row.value.as_object();
      for (const auto& c : columns_) {
        if (!obj.erase(c) && errors_ == DropErrors::raise) {
          throw ColumnDoesNotExist("column '" + c + "' does not exist");
        }
      }
    }
    forward(row, ctx);
  }
  const char* kind() const override { return "drop"; }

 private:
  std::vector<std::string> columns_;
  DropErrors errors_;
};

class FillNode final : public Node {
 public:
  explicit FillNode(std::vector<std::pair<std::string, Value>> fills) : fills_(std::move(fills)) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (row.value.is_object()) {
      auto& obj = row.value.as_object();
      for (const auto& [col, fill] : fills_) {
        Value* v = obj.find(col);
        if (!v) {
          obj.set(col, fill);
        } else if (v->is_null()) {
          *v = fill;
        }
      }
    }
    forward(row, ctx);
  }
  const char* kind() const override { return "fill"; }

 private:
  std::vector<std::pair<std::string, Value>> fills_;
};

class PrintNode final : public Node {
 public:
  PrintNode(bool pretty, bool metadata) : pretty_(pretty), metadata_(metadata) {}
  void process(Row& row, ExecContext& ctx) const override {
    Value shown = row.value;
    if (metadata_) {
      shown = Value::object({{"value", row.value},
                             {"key", row.key},
                             {"timestamp", row.timestamp},
                             {"headers", headers_to_value(row.headers)}});
    }
    std::string text;
    if (pretty_) {
      text = json::write_pretty(shown);
    } else {
      json::write(shown, text);
    }
    text.push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    forward(row, ctx);
  }
  const char* kind() const override { return "print"; }

 private:
  bool pretty_;
  bool metadata_;
};

// to_topic: the record's key, or the one `key` computes from the value, goes with it.
void produce_with_key(const Topic::Definition& topic, const KeyFn& key, const Row& row,
                      ExecContext& ctx) {
  if (key) {
    const Value computed = key(row.value);
    ctx.produce(topic, row, computed);
  } else {
    ctx.produce(topic, row, row.key);
  }
}

class ToTopicNode final : public Node {
 public:
  ToTopicNode(Topic topic, KeyFn key) : topic_(std::move(topic)), key_(std::move(key)) {}
  void process(Row& row, ExecContext& ctx) const override {
    produce_with_key(topic_.definition(), key_, row, ctx);
    forward(row, ctx);
  }
  bool produces() const override { return true; }
  const char* kind() const override { return "to_topic"; }
  const Topic* plain_topic() const override { return key_ ? nullptr : &topic_; }

 private:
  Topic topic_;
  KeyFn key_;
};

class DynamicToTopicNode final : public Node {
 public:
  DynamicToTopicNode(TopicFn choose, KeyFn key)
      : choose_(std::move(choose)), key_(std::move(key)) {}
  void process(Row& row, ExecContext& ctx) const override {
    const Topic topic = choose_(row.value, row.key, row.timestamp, row.headers);
    produce_with_key(topic.definition(), key_, row, ctx);
    forward(row, ctx);
  }
  bool produces() const override { return true; }
  const char* kind() const override { return "to_topic"; }

 private:
  TopicFn choose_;
  KeyFn key_;
};

class SetTimestampNode final : public Node {
 public:
  explicit SetTimestampNode(TimestampFn f) : f_(std::move(f)) {}
  void process(Row& row, ExecContext& ctx) const override {
    row.timestamp = f_(row.value, row.key, row.timestamp, row.headers);
    forward(row, ctx);
  }
  const char* kind() const override { return "set_timestamp"; }

 private:
  TimestampFn f_;
};

class SetHeadersNode final : public Node {
 public:
  explicit SetHeadersNode(HeadersFn f) : f_(std::move(f)) {}
  void process(Row& row, ExecContext& ctx) const override {
    Headers copy = row.headers;  // the callable gets a copy (SDF-11)
    row.headers = f_(row.value, row.key, row.timestamp, copy);
    forward(row, ctx);
  }
  const char* kind() const override { return "set_headers"; }

 private:
  HeadersFn f_;
};

class SinkNode final : public Node {
 public:
  explicit SinkNode(std::shared_ptr<Sink> sink) : sink_(std::move(sink)) {}
  void process(Row& row, ExecContext& ctx) const override {
    const auto& mc = ctx.context();
    sink_->add(row.value, row.key, row.timestamp, row.headers, mc.topic, mc.partition, mc.offset);
    forward(row, ctx);
  }
  const char* kind() const override { return "sink"; }
  Sink* sink() const override { return sink_.get(); }

 private:
  std::shared_ptr<Sink> sink_;
};

}  // namespace

// sdf.contains(keys): true iff the record value is an object holding every key (SDF-05).
class ContainsKeysExpr final : public Expr {
 public:
  explicit ContainsKeysExpr(std::vector<std::string> keys) : keys_(std::move(keys)) {}
  const Value& eval(const Value& row, Value& scratch) const override {
    bool all = row.is_object();
    for (std::size_t i = 0; all && i < keys_.size(); ++i) all = row.contains(keys_[i]);
    scratch = Value(all);
    return scratch;
  }
  std::string describe() const override {
    std::string out = "contains(";
    for (std::size_t i = 0; i < keys_.size(); ++i) out += (i ? ", " : "") + keys_[i];
    return out + ")";
  }

 private:
  std::vector<std::string> keys_;
};

namespace {

class PassNode final : public Node {
 public:
  void process(Row& row, ExecContext& ctx) const override { forward(row, ctx); }
  const char* kind() const override { return "concat"; }
};

}  // namespace

Graph::Graph(Topic topic) : topic_(std::move(topic)) {
  nodes_.push_back(std::make_unique<RootNode>());
  root_ = nodes_.back().get();
}

Node* Graph::add(std::unique_ptr<Node> node, Node* parent) {
  Node* raw = node.get();
  raw->parent = parent;
  parent->children.push_back(raw);
  nodes_.push_back(std::move(node));
  return raw;
}

std::vector<const Topic::Definition*> Graph::passthrough_targets() const {
  std::vector<const Topic::Definition*> targets;
  const auto& source = topic_.definition();
  if (source.timestamp_extractor || root_->children.empty()) return {};
  for (const Node* child : root_->children) {
    const Topic* target = child->plain_topic();
    if (target == nullptr || !child->children.empty()) return {};
    const auto& def = target->definition();
    if (!source.value_deserializer->round_trips_with(*def.value_serializer) ||
        !source.key_deserializer->round_trips_with(*def.key_serializer) ||
        !def.value_serializer->extra_headers().empty()) {
      return {};
    }
    targets.push_back(&def);
  }
  return targets;
}

std::vector<Sink*> Graph::sinks() const {
  std::vector<Sink*> out;
  for (const auto& n : nodes_) {
    if (Sink* s = n->sink()) out.push_back(s);
  }
  return out;
}

void Graph::link(Node* node, Node* parent) {
  parent->children.push_back(node);
}

void Graph::set_ticking_owner(std::size_t store, const Node* owner) {
  if (ticking_owners_.size() <= store) ticking_owners_.resize(store + 1, nullptr);
  ticking_owners_[store] = owner;
}

bool Graph::ticks() const noexcept {
  return std::any_of(ticking_owners_.begin(), ticking_owners_.end(),
                     [](const Node* n) { return n != nullptr; });
}

std::size_t Graph::add_unique_store(const std::string& name) {
  for (const auto& taken : unique_stores_) {
    if (taken == name) {
      throw ConfigError("store '" + name + "' is used twice on stream '" + stream_id() +
                        "'; give one of the windows a name");
    }
  }
  for (const auto& taken : stores_) {
    if (taken == name) {
      throw ConfigError("store '" + name + "' is already used by a stateful operation on stream '" +
                        stream_id() + "'");
    }
  }
  unique_stores_.push_back(name);
  stores_.push_back(name);
  return stores_.size() - 1;
}

std::size_t Graph::store_index(const std::string& name) {
  for (const auto& taken : unique_stores_) {
    if (taken == name) {
      throw ConfigError("store '" + name + "' belongs to a window on stream '" + stream_id() + "'");
    }
  }
  if (name.empty()) throw ConfigError("a state store name must not be empty");
  for (std::size_t i = 0; i < stores_.size(); ++i) {
    if (stores_[i] == name) return i;
  }
  stores_.push_back(name);
  return stores_.size() - 1;
}

bool Graph::produces() const {
  for (const auto& n : nodes_) {
    if (n->produces()) return true;
  }
  return false;
}

}  // namespace detail

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
      void emit(Row& row) override { out = std::move(row.value); }
      const MessageContext& context() const override { return mc; }
    } capture;
    apply->process(r, capture);
    return std::move(capture.out);
  };
  return sdf_->append(std::make_unique<detail::SetColumnApplyNode>(column_, std::move(f)));
}

// --- StreamingDataFrame --------------------------------------------------------------------

StreamingDataFrame StreamingDataFrame::child(std::unique_ptr<detail::Node> node) const {
  return StreamingDataFrame(graph_, graph_->add(std::move(node), node_));
}

StreamingDataFrame& StreamingDataFrame::append(std::unique_ptr<detail::Node> node) {
  node_ = graph_->add(std::move(node), node_);
  return *this;
}

StreamingDataFrame StreamingDataFrame::apply_impl(ApplyMetaFn f,
                                                  const ApplyOptions& options) const {
  return child(std::make_unique<detail::ApplyNode>(std::move(f), options.expand));
}

StreamingDataFrame& StreamingDataFrame::update_impl(UpdateMetaFn f) {
  return append(std::make_unique<detail::UpdateNode>(std::move(f)));
}

StreamingDataFrame StreamingDataFrame::filter_impl(FilterMetaFn f) const {
  return child(std::make_unique<detail::FilterNode>(std::move(f)));
}

StreamingDataFrame StreamingDataFrame::apply_state_impl(ApplyStateFn f,
                                                        const ApplyOptions& options) const {
  const auto store = graph_->store_index(options.store);
  return child(std::make_unique<detail::StatefulApplyNode>(std::move(f), options.expand, store));
}

StreamingDataFrame& StreamingDataFrame::update_state_impl(UpdateStateFn f,
                                                          const std::string& store_name) {
  const auto store = graph_->store_index(store_name);
  return append(std::make_unique<detail::StatefulUpdateNode>(std::move(f), store));
}

StreamingDataFrame StreamingDataFrame::filter_state_impl(FilterStateFn f,
                                                         const std::string& store_name) const {
  const auto store = graph_->store_index(store_name);
  return child(std::make_unique<detail::StatefulFilterNode>(std::move(f), store));
}

StreamingDataFrame StreamingDataFrame::operator[](const Series& predicate) const {
  return child(std::make_unique<detail::SeriesFilterNode>(predicate));
}

StreamingDataFrame StreamingDataFrame::project(std::vector<std::string> columns) const {
  return child(std::make_unique<detail::ProjectNode>(std::move(columns)));
}

Series StreamingDataFrame::contains(std::vector<std::string> keys) const {
  return Series(std::make_shared<const detail::ContainsKeysExpr>(std::move(keys)));
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
  if (other.graph_ != graph_) {
    throw InvalidOperation(
        "concat() of frames of different topics is not supported yet; concatenate branches of "
        "one topic");
  }
  auto* merged = graph_->add(std::make_unique<detail::PassNode>(), node_);
  graph_->link(merged, other.node_);
  return StreamingDataFrame(graph_, merged);
}

void StreamingDataFrame::sink(std::shared_ptr<Sink> sink) {
  if (!sink) throw ConfigError("sink(): the sink is null");
  append(std::make_unique<detail::SinkNode>(std::move(sink)));
}

const MessageContext& StreamingDataFrame::message_context() {
  const auto* ctx = detail::current_message_context();
  if (!ctx)
    throw InvalidOperation("message_context() is only available while a record is processed");
  return *ctx;
}

std::vector<Row> StreamingDataFrame::test(Value value, Value key, std::int64_t timestamp,
                                          Headers headers) const {
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
