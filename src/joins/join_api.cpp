// The public join API (SEMANTICS §9): options checked here, the join's nodes linked into the
// left stream's graph.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "dataframe/graph.hpp"
#include "dataframe/nodes.hpp"
#include "joins/asof_join.hpp"
#include "joins/interval_join.hpp"
#include "joins/lookup_join.hpp"
#include "streamframe/dataframe.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

namespace {

void check_frames(const char* join, const std::shared_ptr<detail::Graph>& left,
                  const std::shared_ptr<detail::Graph>& right) {
  if (right == left) return;
  if (right->env() != left->env() && (right->env()->add_graph || left->env()->add_graph)) {
    throw InvalidOperation(std::string(join) + ": the frames belong to different applications");
  }
  // JOIN-01/TOP-15: both sides' topics will share tasks, and the join keeps state: every
  // topic linked to either side needs as many partitions.
  detail::check_declared_partitions(detail::linked_graphs(left, right), /*stateful=*/true);
}

void check_common(const char* join, std::chrono::milliseconds grace, const std::string& name) {
  if (grace.count() < 0) {
    throw ConfigError(std::string(join) + ": grace must not be negative, got " +
                      std::to_string(grace.count()) + " ms");
  }
  if (name.empty()) throw ConfigError(std::string(join) + ": the store name must not be empty");
}

// SDF-13/TOP-14: what follows a join is the merged stream of both sides.
std::string merged_stream_id(std::string a, std::string b) {
  if (b < a) std::swap(a, b);
  return a == b ? a : a + "--" + b;
}

// Links a join's right-side node into the left graph: under the right frame's node when it is
// of the same graph (then before anything the left side adds, so a record reaching both sides
// is handled by the right side first, EXT-04), else reached through a bridge from the right
// frame's graph, whose topic then shares the left one's tasks (TOP-15).
void link_right(const std::shared_ptr<detail::Graph>& graph,
                const std::shared_ptr<detail::Graph>& right_graph, detail::Node* right_node,
                std::unique_ptr<detail::Node> node) {
  detail::Node* raw = node.get();
  if (right_graph == graph) {
    graph->add(std::move(node), right_node);
    return;
  }
  graph->add_detached(std::move(node));
  right_graph->add(std::make_unique<detail::BridgeNode>(graph, raw), right_node);
  graph->add_feeder(right_graph);
}

}  // namespace

StreamingDataFrame StreamingDataFrame::join_asof(const StreamingDataFrame& right,
                                                 JoinAsofOptions options) const {
  if (options.how != JoinHow::inner && options.how != JoinHow::left) {
    throw ConfigError("join_asof: how must be inner or left");
  }
  check_common("join_asof", options.grace, options.name);
  const bool same_graph = right.graph_ == graph_;
  check_frames("join_asof", graph_, right.graph_);
  const std::string& left_id = node_->stream_id;
  const std::string& right_id = right.node_->stream_id;
  // EXT-04: a self-join's store says which side it is.
  const std::string store_name = left_id == right_id ? options.name + "-right" : options.name;

  auto right_node = std::make_unique<detail::AsofRightNode>(options.grace.count());
  right_node->stream_id = right_id;
  right_node->merges_topics = !same_graph;
  // Before anything is linked: a store name taken already refuses the join here.
  right_node->set_store(graph_->add_unique_store(store_name, right_node.get()));
  detail::AsofRightNode* stored = right_node.get();
  link_right(graph_, right.graph_, right.node_, std::move(right_node));

  auto left_node = std::make_unique<detail::AsofLeftNode>(
      *stored, options.how,
      detail::Merger(options.on_merge, std::move(options.merge), "join_asof"));
  left_node->stream_id = merged_stream_id(left_id, right_id);
  left_node->merges_topics = node_->merges_topics || !same_graph;
  detail::Node* joined = graph_->add(std::move(left_node), node_);
  return StreamingDataFrame(graph_, joined);
}

StreamingDataFrame StreamingDataFrame::join_interval(const StreamingDataFrame& right,
                                                     JoinIntervalOptions options) const {
  check_common("join_interval", options.grace, options.name);
  if (options.backward.count() < 0 || options.forward.count() < 0) {
    throw ConfigError("join_interval: backward and forward must not be negative");
  }
  if (options.backward > options.grace) {
    throw ConfigError("join_interval: backward (" + std::to_string(options.backward.count()) +
                      " ms) must not exceed grace (" + std::to_string(options.grace.count()) +
                      " ms): the right records it reaches back to would be gone");
  }
  const bool same_graph = right.graph_ == graph_;
  check_frames("join_interval", graph_, right.graph_);
  const std::string& left_id = node_->stream_id;
  const std::string& right_id = right.node_->stream_id;
  const bool self = left_id == right_id;  // EXT-04: the stores say which side they are
  const std::string left_store = self ? options.name + "-left" : options.name;
  const std::string right_store = self ? options.name + "-right" : options.name;
  for (const auto& decl :
       {detail::StoreDecl{left_id, left_store}, detail::StoreDecl{right_id, right_store}}) {
    const auto& stores = graph_->stores();
    if (std::find(stores.begin(), stores.end(), decl) != stores.end()) {
      throw ConfigError("join_interval: store '" + decl.name + "' is already used on stream '" +
                        decl.stream_id + "'; give the join another name");
    }
  }

  const detail::Merger merger(options.on_merge, std::move(options.merge), "join_interval");
  const bool left_unmatched = options.how == JoinHow::left || options.how == JoinHow::outer;
  const bool right_unmatched = options.how == JoinHow::right || options.how == JoinHow::outer;
  auto left_node = std::make_unique<detail::IntervalSideNode>(
      true, options.grace.count(), options.backward.count(), left_unmatched, merger);
  auto right_node = std::make_unique<detail::IntervalSideNode>(
      false, options.grace.count(), options.forward.count(), right_unmatched, merger);
  left_node->stream_id = left_id;
  right_node->stream_id = right_id;
  right_node->merges_topics = !same_graph;
  left_node->set_store(graph_->add_unique_store(left_store, left_node.get()));
  right_node->set_store(graph_->add_unique_store(right_store, right_node.get()));
  left_node->set_other(*right_node);
  right_node->set_other(*left_node);

  detail::Node* right_raw = right_node.get();
  link_right(graph_, right.graph_, right.node_, std::move(right_node));
  detail::Node* left_raw = graph_->add(std::move(left_node), node_);
  auto merge = std::make_unique<detail::PassNode>();
  merge->stream_id = merged_stream_id(left_id, right_id);
  merge->merges_topics = node_->merges_topics || !same_graph;
  detail::Node* merged = graph_->add(std::move(merge), left_raw);
  graph_->link(merged, right_raw);
  return StreamingDataFrame(graph_, merged);
}

StreamingDataFrame StreamingDataFrame::join_lookup(std::shared_ptr<Lookup> lookup,
                                                   LookupFields fields,
                                                   JoinLookupOptions options) const {
  if (!lookup) throw ConfigError("join_lookup: no lookup given");
  if (fields.empty()) throw ConfigError("join_lookup: no fields given");
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].first.empty()) throw ConfigError("join_lookup: a field has no name");
    for (std::size_t j = 0; j < i; ++j) {
      if (fields[j].first == fields[i].first) {
        throw ConfigError("join_lookup: field '" + fields[i].first + "' is given twice");
      }
    }
  }
  lookup->check_fields(fields);
  detail::LookupEnricher enricher(std::move(lookup), std::move(fields), std::move(options.on));
  if (!options.buffer) {
    detail::Node* added =
        graph_->add(std::make_unique<detail::LookupNode>(std::move(enricher)), node_);
    return StreamingDataFrame(graph_, added);
  }
  LookupBuffer& buffer = *options.buffer;
  if (buffer.grace.count() <= 0) {
    throw ConfigError(
        "join_lookup: buffer grace must be > 0 (without a wait, leave the buffer "
        "out), got " +
        std::to_string(buffer.grace.count()) + " ms");
  }
  if (!buffer.is_resolved) throw ConfigError("join_lookup: buffer is_resolved is required");
  if (buffer.max_buffered_per_key < 1) {
    throw ConfigError("join_lookup: buffer max_buffered_per_key must be >= 1");
  }
  if (buffer.store.empty()) throw ConfigError("join_lookup: buffer store name must not be empty");
  // The store is registered first: a name taken already refuses the join here.
  const std::size_t store = graph_->add_unique_store(buffer.store, node_);
  auto node = std::make_unique<detail::LookupBufferNode>(std::move(enricher), std::move(buffer));
  node->set_store(store);
  detail::Node* added = graph_->add(std::move(node), node_);
  // Held records time out on a quiet partition too: the run loop ticks the buffer.
  graph_->set_ticking_owner(store, added);
  return StreamingDataFrame(graph_, added);
}

}  // namespace streamframe
