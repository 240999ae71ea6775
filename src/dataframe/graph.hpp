// The pipeline DAG behind StreamingDataFrame handles, and how a row runs through it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/message_context.hpp"
#include "streamframe/dataframe.hpp"
#include "streamframe/record.hpp"
#include "streamframe/topic.hpp"

namespace streamframe::state {
class PartitionTransaction;
}

namespace streamframe::detail {

class StateScope;
class ExecContext;
class Node;

// What an operator keeps in memory for one partition of its store (windows: the open windows
// of every key), in front of the store: read once, updated per record in memory, written back
// to the partition's transaction at each checkpoint. Owned by whoever owns the store.
class OperatorState {
 public:
  virtual ~OperatorState() = default;
  // Writes everything changed since the last call into `txn` (checkpoint, before the
  // changelogs are produced).
  virtual void flush(state::PartitionTransaction& txn) = 0;
  // The last flush's writes are in the store (the checkpoint completed): what is cached of
  // them may be dropped.
  virtual void committed() {}
  // Called on every turn of the run loop with the application clock (ms): idle closing
  // (EXT-02). Rows it emits run through the operator's children with `ctx`. Returns whether
  // it changed anything (the next checkpoint must commit it).
  virtual bool tick(std::int64_t now_ms, ExecContext& ctx) {
    (void)now_ms, (void)ctx;
    return false;
  }
  // Whether tick() may do anything (the run loop skips the others).
  virtual bool ticks() const { return false; }
};

// What a node may ask of whoever runs the pipeline (a worker, or sdf.test()).
class ExecContext {
 public:
  virtual ~ExecContext() = default;
  // Produces `row` to `topic`; `key` is the key to produce (row.key unless to_topic computed
  // another one).
  virtual void produce(const Topic::Definition& topic, const Row& row, const Value& key) = 0;
  // produce() with the value as bytes already serialized for `topic` (nullopt: a null value).
  // A context that cannot take bytes serializes row.value instead.
  virtual void produce_bytes(const Topic::Definition& topic, const Row& row, const Value& key,
                             std::optional<std::string_view> value) {
    (void)value;
    produce(topic, row, key);
  }
  // The value bytes of the message being processed, when it decoded into exactly one row that
  // is not null: an operation that sends the row on unchanged may send these instead of
  // serializing it again. nullopt otherwise, and outside a message.
  virtual std::optional<std::string_view> input_value_bytes() const { return std::nullopt; }
  // A row left `leaf`, a leaf of the DAG.
  virtual void emit(Row& row, const Node& leaf) = 0;
  virtual const MessageContext& context() const = 0;
  // The state of store `store` (an index from Graph::store_index) for the current message's
  // partition, scoped to `row`'s key and timestamp. Contexts without state =>
  // InvalidOperation.
  virtual StateScope& state(std::size_t store, const Row& row);
  // The in-memory state `owner` keeps for store `store` in the current message's partition,
  // made by owner.make_operator_state() on first use after the partition's stores opened (and
  // again after an aborted checkpoint dropped it). Contexts without state =>
  // InvalidOperation.
  virtual OperatorState& operator_state(std::size_t store, const Node& owner);
  // A window skipped a record with a null key (WIN-01): counted in RunStats.
  virtual void count_null_key() {}
  // A window of store `store` refused a record because the window had closed (WIN-08).
  virtual void count_late_record(std::string_view store) { (void)store; }
  // concat of different topics (SDF-13): the nodes about to run belong to `graph`, so the
  // store indices they pass are that graph's. Returns what leave_graph() restores. A context
  // that runs one graph has nothing to switch.
  virtual std::size_t enter_graph(const Graph& graph) {
    (void)graph;
    return 0;
  }
  virtual void leave_graph(std::size_t previous) noexcept { (void)previous; }
  // Headers are read from a consumed message only when something asks for them: for a
  // message without headers librdkafka still allocates and frees a parse buffer on each
  // request, a tenth of a filter-heavy pipeline's run loop. Whoever reads or copies a row's
  // headers calls load_headers(row) first; whoever replaces them calls headers_replaced(row)
  // (otherwise a later load would overwrite them). Both do nothing for a row whose headers
  // are already in it (every row but the one the run loop is processing).
  virtual void load_headers(const Row& row) { (void)row; }
  virtual void headers_replaced(const Row& row) noexcept { (void)row; }
  // The application clock in ms (ApplicationConfig::clock, else steady_clock).
  virtual std::int64_t now_ms() const;
  // steady_clock in ms: the application clock when none is injected.
  static std::int64_t steady_ms();
};

class Node {
 public:
  virtual ~Node() = default;
  // Runs `row` through this node and, depth-first, everything below it. The row may be
  // modified or moved from.
  virtual void process(Row& row, ExecContext& ctx) const = 0;
  // Whether the node sends records to Kafka (sdf.test() refuses those).
  virtual bool produces() const { return false; }
  // A filter that only reads the row and keeps no state: its verdict on `row` (nullopt: not
  // such a filter). forward() asks it before copying a row for a branch, so a branch whose
  // filter drops the row costs no copy (SDF-14: the branches still see the same rows).
  virtual std::optional<bool> admits(const Row& row) const {
    (void)row;
    return std::nullopt;
  }
  virtual const char* kind() const = 0;
  virtual Sink* sink() const { return nullptr; }
  // The topic a plain `to_topic(topic)` sends to (no key callable), else null.
  virtual const Topic* plain_topic() const { return nullptr; }
  // The one column of the value this node reads when it reads no other part of it and hands
  // the row to nothing after it in this graph (a group_by by column right after the input,
  // sending the message's own value bytes on), else null.
  virtual const std::string* reads_only_column() const { return nullptr; }
  // Operators with in-memory state (see ExecContext::operator_state): builds it for one
  // partition from what `txn` (the partition's store) holds.
  virtual std::unique_ptr<OperatorState> make_operator_state(state::PartitionTransaction& txn,
                                                             std::int32_t partition) const;

  Node* parent = nullptr;
  std::vector<Node*> children;
  // ST-01: the stream the node's records belong to, which names the stores of the stateful
  // operations below it. Graph::add copies the parent's, unless the node starts a stream of
  // its own (an in-place group_by sets it before it is added).
  std::string stream_id;
  // Records of several input topics reach this node (below a concat of different topics).
  // Copied from the parent like stream_id.
  bool merges_topics = false;
  // The label of StreamingDataFrame::set_label, copied from the parent like stream_id.
  std::uint32_t label = 0;

 protected:
  // Hands the row to the children in declaration order; each branch but the last gets its
  // own copy (SDF-14). A node without children is a leaf: the row leaves the pipeline.
  void forward(Row& row, ExecContext& ctx) const;
  // apply's tail: `result` becomes the row's value, or with `expand` each element of the
  // array `result` continues as its own row (SDF-01).
  void forward_applied(Row& row, Value result, bool expand, ExecContext& ctx) const;

 public:
  // For operators emitting outside process() (idle closing): runs `row` through the children.
  void forward_from(Row& row, ExecContext& ctx) const { forward(row, ctx); }
};

class Graph;

// TOP-14: what internal topics take from their inputs besides partitions and replication.
inline constexpr const char* kInheritedTopicConfig[] = {"retention.ms", "retention.bytes"};

// A state store of a pipeline: its name and the stream it belongs to (ST-01), which together
// name its changelog (TOP-14) and its directory (APP-06).
struct StoreDecl {
  std::string stream_id;
  std::string name;
  friend bool operator==(const StoreDecl&, const StoreDecl&) = default;
};

// Where a pipeline's internal topics come from and where the pipelines they feed run: the
// application (topics created on the broker, graphs run by its workers), or, for a standalone
// pipeline, plain definitions that TestDriver runs. Shared by every graph of one pipeline.
struct GraphEnv {
  // The consumer group, part of internal topic names (TOP-14).
  std::string group = "standalone";
  // Finds or creates the internal topic `name` (options carry its serdes, partitions and
  // replication); an existing one with another partition count => TopicConfigurationMismatch.
  std::function<Topic(const std::string& name, const TopicOptions& options)> internal_topic;
  // A graph fed by an internal topic (group_by) joins the pipeline.
  std::function<void(const std::shared_ptr<Graph>&)> add_graph;
};

class Graph : public std::enable_shared_from_this<Graph> {
 public:
  // Made with std::make_shared (group_by links graphs through weak_from_this()).
  // `stream_id` empty => the topic's name (ST-01/TOP-14).
  explicit Graph(Topic topic, std::string stream_id = {}, std::shared_ptr<GraphEnv> env = nullptr);
  Node* add(std::unique_ptr<Node> node, Node* parent);
  // Links an existing node under an additional parent (concat).
  void link(Node* node, Node* parent);
  // A node with no parent in this graph, reached only through a bridge from another graph (a
  // join's right side): its stream_id must be set.
  Node* add_detached(std::unique_ptr<Node> node);
  Node* root() const noexcept { return root_; }
  const Topic& topic() const noexcept { return topic_; }
  bool produces() const;
  std::vector<Sink*> sinks() const;
  // A topic the forwarding path sends to.
  struct PassthroughTarget {
    const Topic::Definition* topic = nullptr;
    // The key is written in another format than the input's (a group_by hop's JSON key to a
    // `bytes` output): it is decoded and serialized again; the value bytes still go as read.
    bool reencode_key = false;
  };
  // Non-empty when the pipeline only forwards each message unchanged to these topics (every
  // child of the root is a leaf `to_topic(topic)` whose value serdes round-trip with the
  // input's and no timestamp extractor is set): the run loop then produces the original value
  // bytes, and the original key bytes where the key serdes round-trip too.
  std::vector<PassthroughTarget> passthrough_targets() const;
  // The only column of each input value the pipeline reads, when it reads just one (the
  // root's only child says so and no timestamp extractor sees the value): the run loop then
  // asks the deserializer for that column alone. Null otherwise.
  const std::string* projected_column() const;
  void run(Row& row, ExecContext& ctx) const { root_->process(row, ctx); }

  // Stores used by the pipeline's stateful operations, in registration order; a store
  // belongs to the stream of the node `at` the operation is declared on.
  std::size_t store_index(const std::string& name, const Node* at);
  // Registers a store only one operation may use (WIN-12); taken already => ConfigError.
  std::size_t add_unique_store(const std::string& name, const Node* at);
  const std::vector<StoreDecl>& stores() const noexcept { return stores_; }
  bool stateful() const noexcept { return !stores_.empty(); }
  // The operator of store `store` that acts on the clock (idle closing, EXT-02): the run loop
  // builds its state as soon as the partition is ready, not on its first record, so what a
  // restart or an aborted checkpoint left open still closes on a partition that stays quiet.
  void set_ticking_owner(std::size_t store, const Node* owner);
  const Node* ticking_owner(std::size_t store) const noexcept {
    return store < ticking_owners_.size() ? ticking_owners_[store] : nullptr;
  }
  bool ticks() const noexcept;
  // ST-01/TOP-14: the stream id of the graph's root: a single-topic pipeline's is its topic's
  // name; a graph fed by a repartition topic has `repartition.<upstream stream id>.<operation>`.
  // Nodes below an in-place group_by have another one (Node::stream_id).
  const std::string& stream_id() const noexcept { return stream_id_; }
  const std::shared_ptr<GraphEnv>& env() const noexcept { return env_; }
  // SDF-12/EXT-04: a group_by operation may appear once per stream; again => GroupByDuplicate.
  void claim_group_by(const std::string& stream_id, const std::string& operation);
  // An in-place group_by (one partition) holds only while the topic keeps one partition: the
  // run and TestDriver check it.
  void set_rekeys_in_place() noexcept { rekeys_in_place_ = true; }
  bool rekeys_in_place() const noexcept { return rekeys_in_place_; }
  // concat of different topics (SDF-13): `graph`'s records continue in this graph's nodes. The
  // feeder holds this graph (its bridge node points into it); this graph only names the
  // feeder, so TestDriver finds every input of a merged frame.
  void add_feeder(const std::shared_ptr<Graph>& graph);
  std::vector<std::shared_ptr<Graph>> feeders() const;
  // TOP-15: every graph linked to this one by concat, this one included, in no set order:
  // their partitions of one number run in one task.
  std::vector<std::shared_ptr<Graph>> co_partitioned();
  // TOP-15: stateful operations over several topics need equal partition counts (declared
  // counts; the run checks the broker's again). Throws TopicPartitionsMismatch naming them.
  void check_co_partitioned();
  // group_by: the graph fed by this one's repartition topic. TestDriver runs it in-process.
  void add_downstream(const std::shared_ptr<Graph>& graph);
  const std::vector<std::shared_ptr<Graph>>& downstream() const noexcept { return downstream_; }
  // The graph whose repartition topic feeds this one, if it still exists.
  std::shared_ptr<Graph> upstream() const { return upstream_.lock(); }
  // The application clock (ApplicationConfig::clock); empty = steady_clock.
  std::function<std::int64_t()> clock;
  std::int64_t now_ms() const;

 private:
  Topic topic_;
  std::string stream_id_;
  std::shared_ptr<GraphEnv> env_;
  std::vector<StoreDecl> group_by_ops_;  // (stream id, operation)
  std::vector<std::shared_ptr<Graph>> downstream_;
  std::weak_ptr<Graph> upstream_;
  std::vector<std::unique_ptr<Node>> nodes_;
  Node* root_;
  std::vector<StoreDecl> stores_;
  std::vector<StoreDecl> unique_stores_;
  std::vector<const Node*> ticking_owners_;  // by store index, null = none
  bool rekeys_in_place_ = false;
  std::vector<std::weak_ptr<Graph>> feeders_;
  std::vector<std::weak_ptr<Graph>> fed_;  // the graphs this one's bridges lead into
};

// TOP-15/KAF-04: `graphs` (an application's) split into the sets that share tasks: each set
// is the graphs linked by concat of different topics, in `graphs`' order (the declaration
// order, which breaks KAF-04's timestamp ties); a graph linked to no other is a set of one.
// Returns indices into `graphs`.
std::vector<std::vector<std::size_t>> task_groups(
    const std::vector<std::shared_ptr<Graph>>& graphs);

// TOP-15: the graphs that share tasks with `a` or with `b` once the two are linked (concat,
// joins), each once.
std::vector<std::shared_ptr<Graph>> linked_graphs(const std::shared_ptr<Graph>& a,
                                                  const std::shared_ptr<Graph>& b);

// TOP-15: `graphs` (one set that shares tasks) by their declared partition counts; see below.
// `stateful`: the set is about to keep state (a join being declared) even if no graph has a
// store yet.
void check_declared_partitions(const std::vector<std::shared_ptr<Graph>>& graphs,
                               bool stateful = false);

// TOP-15: the stateful sets among task_groups() whose topics have different partition counts
// (`partitions_of` gives a graph's topic's count) => TopicPartitionsMismatch naming them.
// `stateful`: every set counts as stateful.
void check_co_partitioned(const std::vector<std::shared_ptr<Graph>>& graphs,
                          const std::vector<std::vector<std::size_t>>& groups,
                          const std::function<int(const Graph&)>& partitions_of,
                          bool stateful = false);

}  // namespace streamframe::detail
