#include "dataframe/graph.hpp"

#include <algorithm>
#include <chrono>

#include "core/assert.hpp"
#include "dataframe/nodes.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {

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

Graph::Graph(Topic topic, std::string stream_id, std::shared_ptr<GraphEnv> env)
    : topic_(std::move(topic)),
      stream_id_(stream_id.empty() ? topic_.name() : std::move(stream_id)),
      env_(env ? std::move(env) : std::make_shared<GraphEnv>()) {
  nodes_.push_back(std::make_unique<RootNode>());
  root_ = nodes_.back().get();
  root_->stream_id = stream_id_;
}

void Graph::claim_group_by(const std::string& stream_id, const std::string& operation) {
  const StoreDecl claim{stream_id, operation};
  if (std::find(group_by_ops_.begin(), group_by_ops_.end(), claim) != group_by_ops_.end()) {
    throw GroupByDuplicate("group_by '" + operation + "' is already used on stream '" + stream_id +
                           "'; give the other one another name");
  }
  group_by_ops_.push_back(claim);
}

void Graph::add_downstream(const std::shared_ptr<Graph>& graph) {
  SF_ASSERT(graph->upstream_.expired(), "a graph has one upstream graph");
  graph->upstream_ = weak_from_this();
  downstream_.push_back(graph);
}

Node* Graph::add(std::unique_ptr<Node> node, Node* parent) {
  Node* raw = node.get();
  raw->parent = parent;
  if (raw->stream_id.empty()) raw->stream_id = parent->stream_id;
  raw->merges_topics = raw->merges_topics || parent->merges_topics;
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

namespace {
// State below a concat of different topics needs their co-partitioned partitions in one task
// and their records in timestamp order (KAF-04); until then it is refused at the declaration.
void refuse_merged_state(const Node* at, const std::string& name) {
  if (!at->merges_topics) return;
  throw InvalidOperation(
      "store '" + name + "': stateful operations after concat() of different topics ('" +
      at->stream_id +
      "') are not supported yet; group_by() after the concat re-keys the merged records "
      "through a repartition topic, and state after it works");
}
}  // namespace

std::vector<std::shared_ptr<Graph>> Graph::feeders() const {
  std::vector<std::shared_ptr<Graph>> out;
  for (const auto& f : feeders_) {
    if (auto g = f.lock()) out.push_back(std::move(g));
  }
  return out;
}

std::size_t Graph::add_unique_store(const std::string& name, const Node* at) {
  refuse_merged_state(at, name);
  const StoreDecl decl{at->stream_id, name};
  if (std::find(unique_stores_.begin(), unique_stores_.end(), decl) != unique_stores_.end()) {
    throw ConfigError("store '" + name + "' is used twice on stream '" + decl.stream_id +
                      "'; give one of the operations a name");
  }
  if (std::find(stores_.begin(), stores_.end(), decl) != stores_.end()) {
    throw ConfigError("store '" + name + "' is already used by a stateful operation on stream '" +
                      decl.stream_id + "'");
  }
  unique_stores_.push_back(decl);
  stores_.push_back(decl);
  return stores_.size() - 1;
}

std::size_t Graph::store_index(const std::string& name, const Node* at) {
  refuse_merged_state(at, name);
  const StoreDecl decl{at->stream_id, name};
  if (std::find(unique_stores_.begin(), unique_stores_.end(), decl) != unique_stores_.end()) {
    throw ConfigError("store '" + name + "' belongs to a window on stream '" + decl.stream_id +
                      "'");
  }
  if (name.empty()) throw ConfigError("a state store name must not be empty");
  const auto it = std::find(stores_.begin(), stores_.end(), decl);
  if (it != stores_.end()) return static_cast<std::size_t>(it - stores_.begin());
  stores_.push_back(decl);
  return stores_.size() - 1;
}

bool Graph::produces() const {
  for (const auto& n : nodes_) {
    if (n->produces()) return true;
  }
  return false;
}

}  // namespace streamframe::detail
