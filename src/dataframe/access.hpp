// The library's way into the public classes' internals: the constructors that take detail
// types and the accessors that return them are private in the public headers, with this one
// friend, so users of the API cannot reach a Graph, a Node, an expression tree or a store
// scope. Private to the library (and its own tests).
#pragma once

#include <memory>
#include <utility>

#include "streamframe/dataframe.hpp"
#include "streamframe/series.hpp"
#include "streamframe/state.hpp"
#include "streamframe/windows.hpp"

namespace streamframe::detail {

struct Access {
  static StreamingDataFrame frame(std::shared_ptr<Graph> graph, Node* node) {
    return StreamingDataFrame(std::move(graph), node);
  }
  static const std::shared_ptr<Graph>& graph(const StreamingDataFrame& frame) noexcept {
    return frame.graph_;
  }
  static Node* node(const StreamingDataFrame& frame) noexcept { return frame.node_; }

  static Series series(ExprPtr expr) { return Series(std::move(expr)); }
  static const ExprPtr& expr(const Series& series) noexcept { return series.expr_; }

  static State state(StateScope& scope) noexcept { return State(scope); }

  static Aggregation aggregation(std::shared_ptr<const AggregationSpec> spec) {
    return Aggregation(std::move(spec));
  }
  static const std::shared_ptr<const AggregationSpec>& spec(const Aggregation& a) noexcept {
    return a.spec_;
  }
  static WindowDefinition window(std::shared_ptr<Graph> graph, Node* node,
                                 std::shared_ptr<WindowSpec> spec) {
    return WindowDefinition(std::move(graph), node, std::move(spec));
  }
  static WindowedAggregation windowed(std::shared_ptr<Graph> graph, Node* node,
                                      std::shared_ptr<WindowSpec> spec) {
    return WindowedAggregation(std::move(graph), node, std::move(spec));
  }
};

}  // namespace streamframe::detail
