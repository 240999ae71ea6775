// The public join API (SEMANTICS §9): options checked here, the join's nodes linked into the
// left stream's graph.
#include <memory>
#include <string>
#include <utility>

#include "dataframe/graph.hpp"
#include "dataframe/nodes.hpp"
#include "joins/asof_join.hpp"
#include "streamframe/dataframe.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

namespace {

// JOIN-01/TOP-15: both sides' topics will share tasks, and the join keeps state: every topic
// linked to either side needs as many partitions (as declared; the run checks the broker's).
void check_join_partitions(const char* join, const std::shared_ptr<detail::Graph>& left,
                           const std::shared_ptr<detail::Graph>& right) {
  auto linked = left->co_partitioned();
  for (auto& g : right->co_partitioned()) {
    if (std::find(linked.begin(), linked.end(), g) == linked.end()) linked.push_back(g);
  }
  const int first = linked.front()->topic().config().num_partitions;
  std::string counts;
  bool differ = false;
  for (const auto& g : linked) {
    const int n = g->topic().config().num_partitions;
    differ = differ || n != first;
    counts += (counts.empty() ? "'" : ", '") + g->topic().name() + "' " + std::to_string(n);
  }
  if (differ) {
    throw TopicPartitionsMismatch(std::string(join) +
                                  ": the joined topics need as many partitions each (a task "
                                  "owns one partition number of all of them); partitions: " +
                                  counts);
  }
}

}  // namespace

StreamingDataFrame StreamingDataFrame::join_asof(const StreamingDataFrame& right,
                                                 JoinAsofOptions options) const {
  if (options.how != JoinHow::inner && options.how != JoinHow::left) {
    throw ConfigError("join_asof: how must be inner or left");
  }
  if (options.grace.count() < 0) {
    throw ConfigError("join_asof: grace must not be negative, got " +
                      std::to_string(options.grace.count()) + " ms");
  }
  if (options.name.empty()) throw ConfigError("join_asof: the store name must not be empty");
  const bool same_graph = right.graph_ == graph_;
  if (!same_graph) {
    if (right.graph_->env() != graph_->env() &&
        (right.graph_->env()->add_graph || graph_->env()->add_graph)) {
      throw InvalidOperation("join_asof: the frames belong to different applications");
    }
    check_join_partitions("join_asof", graph_, right.graph_);
  }
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
  if (same_graph) {
    // Declared before the left node: a record reaching both sides is stored first (EXT-04).
    graph_->add(std::move(right_node), right.node_);
  } else {
    graph_->add_detached(std::move(right_node));
    right.graph_->add(std::make_unique<detail::BridgeNode>(graph_, stored), right.node_);
    graph_->add_feeder(right.graph_);
  }

  auto left_node = std::make_unique<detail::AsofLeftNode>(
      *stored, options.how,
      detail::Merger(options.on_merge, std::move(options.merge), "join_asof"));
  // SDF-13/TOP-14: what follows is the merged stream of both sides.
  std::string a = left_id;
  std::string b = right_id;
  if (b < a) std::swap(a, b);
  left_node->stream_id = a == b ? a : a + "--" + b;
  left_node->merges_topics = node_->merges_topics || !same_graph;
  detail::Node* joined = graph_->add(std::move(left_node), node_);
  return StreamingDataFrame(graph_, joined);
}

}  // namespace streamframe
