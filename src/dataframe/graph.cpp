#include "dataframe/graph.hpp"

#include <algorithm>
#include <chrono>

#include "core/assert.hpp"
#include "dataframe/nodes.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {

void Node::forward(Row& row, ExecContext& ctx) const {
  const auto n = children.size();
  if (n == 0) {
    ctx.emit(row, *this);
    return;
  }
  // Every branch but the last gets a copy of the row, which must carry its headers (read
  // only for a copy that is made: a branch's filter usually drops most records).
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const Node& child = *children[i];
    if (const auto admitted = child.admits(row)) {
      if (!*admitted) continue;  // dropped by the filter: no copy made
      ctx.load_headers(row);
      Row copy = row;
      child.forward(copy, ctx);
      continue;
    }
    ctx.load_headers(row);
    Row copy = row;
    child.process(copy, ctx);
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
  ctx.load_headers(row);  // each item gets a copy
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
  raw->label = parent->label;
  parent->children.push_back(raw);
  nodes_.push_back(std::move(node));
  return raw;
}

Node* Graph::add_detached(std::unique_ptr<Node> node) {
  SF_ASSERT(!node->stream_id.empty(), "a detached node needs its stream id");
  Node* raw = node.get();
  raw->parent = nullptr;
  nodes_.push_back(std::move(node));
  return raw;
}

std::vector<Graph::PassthroughTarget> Graph::passthrough_targets() const {
  std::vector<PassthroughTarget> targets;
  const auto& source = topic_.definition();
  if (source.timestamp_extractor || root_->children.empty()) return {};
  for (const Node* child : root_->children) {
    const Topic* target = child->plain_topic();
    if (target == nullptr || !child->children.empty()) return {};
    const auto& def = target->definition();
    if (!source.value_deserializer->round_trips_with(*def.value_serializer) ||
        !def.value_serializer->extra_headers().empty()) {
      return {};
    }
    targets.push_back({&def, !source.key_deserializer->round_trips_with(*def.key_serializer)});
  }
  return targets;
}

const std::string* Graph::projected_column() const {
  if (topic_.definition().timestamp_extractor || root_->children.size() != 1) return nullptr;
  return root_->children.front()->reads_only_column();
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

void Graph::add_feeder(const std::shared_ptr<Graph>& graph) {
  // Linked once however many joins or concats link the two.
  for (const auto& w : feeders_) {
    if (w.lock() == graph) return;
  }
  feeders_.push_back(graph);
  graph->fed_.push_back(weak_from_this());
}

std::vector<std::shared_ptr<Graph>> Graph::co_partitioned() {
  std::vector<std::shared_ptr<Graph>> out{shared_from_this()};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto visit = [&out](const std::vector<std::weak_ptr<Graph>>& links) {
      for (const auto& w : links) {
        auto g = w.lock();
        if (g && std::find(out.begin(), out.end(), g) == out.end()) out.push_back(std::move(g));
      }
    };
    visit(out[i]->feeders_);
    visit(out[i]->fed_);
  }
  return out;
}

void Graph::check_co_partitioned() {
  check_declared_partitions(co_partitioned());
}

std::vector<std::shared_ptr<Graph>> linked_graphs(const std::shared_ptr<Graph>& a,
                                                  const std::shared_ptr<Graph>& b) {
  auto linked = a->co_partitioned();
  for (auto& g : b->co_partitioned()) {
    if (std::find(linked.begin(), linked.end(), g) == linked.end()) linked.push_back(g);
  }
  return linked;
}

void check_declared_partitions(const std::vector<std::shared_ptr<Graph>>& graphs, bool stateful) {
  if (graphs.size() < 2) return;
  std::vector<std::size_t> all(graphs.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  detail::check_co_partitioned(
      graphs, {all}, [](const Graph& g) { return g.topic().config().num_partitions; }, stateful);
}

std::vector<std::vector<std::size_t>> task_groups(
    const std::vector<std::shared_ptr<Graph>>& graphs) {
  std::vector<std::vector<std::size_t>> groups;
  std::vector<char> placed(graphs.size(), 0);
  for (std::size_t i = 0; i < graphs.size(); ++i) {
    if (placed[i]) continue;
    const auto linked = graphs[i]->co_partitioned();
    std::vector<std::size_t> group;
    for (std::size_t j = i; j < graphs.size(); ++j) {
      if (std::find(linked.begin(), linked.end(), graphs[j]) == linked.end()) continue;
      group.push_back(j);
      placed[j] = 1;
    }
    groups.push_back(std::move(group));
  }
  return groups;
}

void check_co_partitioned(const std::vector<std::shared_ptr<Graph>>& graphs,
                          const std::vector<std::vector<std::size_t>>& groups,
                          const std::function<int(const Graph&)>& partitions_of, bool stateful) {
  for (const auto& group : groups) {
    if (group.size() < 2) continue;
    if (!stateful && std::none_of(group.begin(), group.end(),
                                  [&](std::size_t i) { return graphs[i]->stateful(); })) {
      continue;
    }
    std::string counts;
    bool differ = false;
    const int first = partitions_of(*graphs[group.front()]);
    for (std::size_t i : group) {
      const int n = partitions_of(*graphs[i]);
      differ = differ || n != first;
      counts +=
          (counts.empty() ? "'" : ", '") + graphs[i]->topic().name() + "' " + std::to_string(n);
    }
    if (differ) {
      throw TopicPartitionsMismatch(
          "stateful operations after concat() of different topics need the topics to have "
          "as many partitions each (a task owns one partition number of all of them); "
          "partitions: " +
          counts);
    }
  }
}

std::vector<std::shared_ptr<Graph>> Graph::feeders() const {
  std::vector<std::shared_ptr<Graph>> out;
  for (const auto& f : feeders_) {
    if (auto g = f.lock()) out.push_back(std::move(g));
  }
  return out;
}

std::size_t Graph::add_unique_store(const std::string& name, const Node* at) {
  const StoreDecl decl{at->stream_id, name};
  if (std::find(unique_stores_.begin(), unique_stores_.end(), decl) != unique_stores_.end()) {
    throw ConfigError("store '" + name + "' is used twice on stream '" + decl.stream_id +
                      "'; give one of the operations a name");
  }
  if (std::find(stores_.begin(), stores_.end(), decl) != stores_.end()) {
    throw ConfigError("store '" + name + "' is already used by a stateful operation on stream '" +
                      decl.stream_id + "'");
  }
  stores_.push_back(decl);
  try {
    check_co_partitioned();
  } catch (...) {
    stores_.pop_back();
    throw;
  }
  unique_stores_.push_back(decl);
  return stores_.size() - 1;
}

std::size_t Graph::store_index(const std::string& name, const Node* at) {
  const StoreDecl decl{at->stream_id, name};
  if (std::find(unique_stores_.begin(), unique_stores_.end(), decl) != unique_stores_.end()) {
    throw ConfigError("store '" + name + "' belongs to a window on stream '" + decl.stream_id +
                      "'");
  }
  if (name.empty()) throw ConfigError("a state store name must not be empty");
  const auto it = std::find(stores_.begin(), stores_.end(), decl);
  if (it != stores_.end()) return static_cast<std::size_t>(it - stores_.begin());
  stores_.push_back(decl);
  try {
    check_co_partitioned();
  } catch (...) {
    stores_.pop_back();
    throw;
  }
  return stores_.size() - 1;
}

bool Graph::produces() const {
  for (const auto& n : nodes_) {
    if (n->produces()) return true;
  }
  return false;
}

}  // namespace streamframe::detail
