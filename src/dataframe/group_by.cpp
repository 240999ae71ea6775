// group_by (SDF-12, EXT-04): the upstream pipeline ends in a node that produces every record
// with its new key to a repartition topic, and a new graph rooted at that topic continues the
// pipeline. The producer partitions by the new key, so every record of one new key reaches
// the same partition, and the same task, downstream. The repartition records go through the
// task's output like to_topic's, so they are part of the checkpoint (its transaction under
// exactly-once); the downstream graph reads them like any input.
#include <memory>
#include <string>
#include <utility>

#include "dataframe/access.hpp"
#include "dataframe/graph.hpp"
#include "streamframe/dataframe.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

namespace detail {
namespace {

class RepartitionNode final : public Node {
 public:
  RepartitionNode(std::string column, KeyFn key, std::string operation, Topic topic)
      : column_(std::move(column)),
        key_(std::move(key)),
        operation_(std::move(operation)),
        topic_(std::move(topic)) {}

  void process(Row& row, ExecContext& ctx) const override {
    // The column's value is used where it is (no copy per record); a callable's is owned.
    Value computed;
    const Value* key = nullptr;
    if (key_) {
      computed = key_(row.value);
      key = &computed;
    } else {
      key = &column_of(row.value);
    }
    try {
      ctx.produce(topic_.definition(), row, *key);
    } catch (const SerializationError& e) {
      throw SerializationError("group_by '" + operation_ + "': " + e.what());
    }
    // The row continues downstream from the repartition topic, not from here.
  }
  bool produces() const override { return true; }
  const char* kind() const override { return "group_by"; }

 private:
  const Value& column_of(const Value& value) const {
    if (!value.is_object()) {
      throw InvalidColumnReference("group_by '" + operation_ + "': cannot read column '" + column_ +
                                   "' of a " + std::string(value.type_name()) + " value");
    }
    const Value* v = value.as_object().find(column_);
    if (v == nullptr) {
      throw ColumnDoesNotExist("group_by '" + operation_ + "': column '" + column_ +
                               "' does not exist");
    }
    return *v;
  }

  std::string column_;
  KeyFn key_;
  std::string operation_;
  Topic topic_;
};

// TOP-14: `<type>__<group>--X--Y` used as a stream id is written `<type>.X.Y`.
std::string internal_stream_id(const std::string& stream_id, const std::string& operation) {
  return "repartition." + stream_id + "." + operation;
}

StreamingDataFrame group_by(const std::shared_ptr<Graph>& graph, Node* node, std::string column,
                            KeyFn key, std::string operation, const GroupByOptions& options) {
  if (operation.empty()) {
    throw ConfigError(key ? "group_by(key, name): a key callable needs a name"
                          : "group_by(column): the column name is empty");
  }
  const GraphEnv& env = *graph->env();
  const Topic& input = graph->topic();

  TopicOptions topic_options;
  topic_options.key_serializer = "json";
  topic_options.value_serializer = "json";
  topic_options.key_deserializer = "json";
  topic_options.value_deserializer = "json";
  TopicConfig config = options.config.value_or(TopicConfig{});
  if (!options.config) {
    // TOP-14: partitions, replication and retention of the input (app.topic() records an
    // existing topic's real ones). One input: its values are the maximum.
    config.num_partitions = input.config().num_partitions;
    config.replication_factor = input.config().replication_factor;
    for (const char* key : {"retention.ms", "retention.bytes"}) {
      const auto it = input.config().extra_config.find(key);
      if (it != input.config().extra_config.end()) config.extra_config[key] = it->second;
    }
  }
  topic_options.config = config;
  const std::string name =
      "repartition__" + env.group + "--" + graph->stream_id() + "--" + operation;
  Topic repartition = env.internal_topic ? env.internal_topic(name, topic_options)
                                         : Topic::make(name, topic_options);

  graph->claim_group_by(operation);  // after the topic: a refused topic claims nothing
  graph->add(
      std::make_unique<RepartitionNode>(std::move(column), std::move(key), operation, repartition),
      node);
  auto downstream = std::make_shared<Graph>(
      repartition, internal_stream_id(graph->stream_id(), operation), graph->env());
  downstream->clock = graph->clock;
  graph->add_downstream(downstream);
  if (env.add_graph) env.add_graph(downstream);
  return Access::frame(downstream, downstream->root());
}

}  // namespace
}  // namespace detail

StreamingDataFrame StreamingDataFrame::group_by(std::string column, GroupByOptions options) const {
  std::string operation = column;
  return detail::group_by(graph_, node_, std::move(column), nullptr, std::move(operation), options);
}

StreamingDataFrame StreamingDataFrame::group_by(KeyFn key, std::string name,
                                                GroupByOptions options) const {
  if (!key) throw ConfigError("group_by(key, name): the key callable is empty");
  return detail::group_by(graph_, node_, std::string(), std::move(key), std::move(name), options);
}

}  // namespace streamframe
