// group_by (SDF-12, EXT-04): the upstream pipeline ends in a node that produces every record
// with its new key to a repartition topic, and a new graph rooted at that topic continues the
// pipeline. The producer partitions by the new key, so every record of one new key reaches
// the same partition, and the same task, downstream. The repartition records go through the
// task's output like to_topic's, so they are part of the checkpoint (its transaction under
// exactly-once); the downstream graph reads them like any input.
//
// With one partition there is nothing to redistribute: every key already meets in the one
// task, so the key is replaced in place and the pipeline goes on in the same graph, under a
// stream id of its own (its stores are not the ones of the stream it came from).
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

// The new key of a record: a column of its value or what a callable makes of it.
class KeySelector {
 public:
  KeySelector(std::string column, KeyFn key, std::string operation)
      : column_(std::move(column)), key_(std::move(key)), operation_(std::move(operation)) {}

  // The column's value is used where it is (no copy per record); a callable's goes to
  // `computed`.
  const Value& select(const Value& value, Value& computed) const {
    if (!key_) return column_of(value);
    computed = key_(value);
    return computed;
  }
  const std::string& operation() const noexcept { return operation_; }
  // The column the key is read from; null for a callable (it may read anything).
  const std::string* column() const noexcept { return key_ ? nullptr : &column_; }

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
};

class RepartitionNode final : public Node {
 public:
  // `forward_bytes`: the row arrives as its message decoded it (the node hangs right off the
  // input) and the repartition topic's serializer writes what the input's deserializer
  // reads: the message's own value bytes can go out instead of the row serialized again.
  RepartitionNode(KeySelector selector, Topic topic, bool forward_bytes)
      : selector_(std::move(selector)), topic_(std::move(topic)), forward_bytes_(forward_bytes) {}

  void process(Row& row, ExecContext& ctx) const override {
    Value computed;
    const Value& key = selector_.select(row.value, computed);
    try {
      if (forward_bytes_) {
        if (const auto bytes = ctx.input_value_bytes()) {
          ctx.produce_bytes(topic_.definition(), row, key, bytes);
          return;
        }
      }
      ctx.produce(topic_.definition(), row, key);
    } catch (const SerializationError& e) {
      throw SerializationError("group_by '" + selector_.operation() + "': " + e.what());
    }
    // The row continues downstream from the repartition topic, not from here.
  }
  bool produces() const override { return true; }
  const char* kind() const override { return "group_by"; }
  // Sending the message's bytes on, a group_by by column needs nothing of the value but the
  // column: decoding the rest would be most of the hop's first stage.
  const std::string* reads_only_column() const override {
    return forward_bytes_ ? selector_.column() : nullptr;
  }

 private:
  KeySelector selector_;
  Topic topic_;
  bool forward_bytes_;
};

// One partition: the row keeps going with its new key.
class RekeyNode final : public Node {
 public:
  RekeyNode(KeySelector selector, std::string stream) : selector_(std::move(selector)) {
    stream_id = std::move(stream);
  }

  void process(Row& row, ExecContext& ctx) const override {
    Value computed;
    const Value& key = selector_.select(row.value, computed);
    row.key = &key == &computed ? std::move(computed) : key;
    forward(row, ctx);
  }
  const char* kind() const override { return "group_by"; }

 private:
  KeySelector selector_;
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
  const std::string& stream_id = node->stream_id;
  KeySelector selector(std::move(column), std::move(key), operation);

  const int partitions =
      options.config ? options.config->num_partitions : input.config().num_partitions;
  if (partitions == 1) {
    graph->claim_group_by(stream_id, operation);
    graph->set_rekeys_in_place();
    Node* rekey = graph->add(
        std::make_unique<RekeyNode>(std::move(selector), stream_id + "--groupby--" + operation),
        node);
    return Access::frame(graph, rekey);
  }

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
    for (const char* key : kInheritedTopicConfig) {
      const auto it = input.config().extra_config.find(key);
      if (it != input.config().extra_config.end()) config.extra_config[key] = it->second;
    }
  }
  topic_options.config = config;
  const std::string name = "repartition__" + env.group + "--" + stream_id + "--" + operation;
  Topic repartition = env.internal_topic ? env.internal_topic(name, topic_options)
                                         : Topic::make(name, topic_options);

  graph->claim_group_by(stream_id, operation);  // after the topic: a refused one claims nothing
  const auto& source = input.definition();
  const auto& target = repartition.definition();
  const bool forward_bytes =
      node == graph->root() &&
      source.value_deserializer->round_trips_with(*target.value_serializer) &&
      target.value_serializer->extra_headers().empty();
  graph->add(std::make_unique<RepartitionNode>(std::move(selector), repartition, forward_bytes),
             node);
  auto downstream =
      std::make_shared<Graph>(repartition, internal_stream_id(stream_id, operation), graph->env());
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
