// One partition's runtime: what the run loop, TestDriver and sdf.test() all drive, so a
// pipeline behaves the same under each (anchor: Kafka Streams' StreamTask, which its
// TopologyTestDriver drives as production does).
//
// A task owns, for one partition number, the stores of its pipelines with their open
// transactions and the operators' in-memory state over them, and the partition's stream
// time. It turns a message's bytes into rows, runs them through the pipeline, serializes
// what the pipeline produces and hands it to a TaskOutput. Checkpoints are driven from
// outside in the run loop's order: flush_operators(), sweep_expired(), the changelog records
// of for_each_change(), then commit_writes() once the checkpoint is durable (or
// discard_writes() when it is not).
//
// A task may own the same partition of several co-partitioned input topics (one pipeline
// each): the topics of a concat of different topics (TOP-15), whose records then meet in the
// same stores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/assert.hpp"
#include "dataframe/graph.hpp"
#include "state/store.hpp"
#include "state/transaction.hpp"
#include "streamframe/record.hpp"

namespace streamframe::detail {

// Where a task's results go.
class TaskOutput {
 public:
  virtual ~TaskOutput() = default;
  // A record to produce, serialized; the views are valid only during the call. `headers` is
  // null when there are none.
  virtual void send(const std::string& topic, std::optional<std::string_view> key,
                    std::optional<std::string_view> value, std::int64_t timestamp,
                    const Headers* headers) = 0;
  // A row left a leaf of the pipeline; `context` is the message it came from, `label` the
  // leaf's (StreamingDataFrame::set_label).
  virtual void emit(Row& row, const MessageContext& context, std::uint32_t label) = 0;
  // Whether emit() looks at the row's headers: if not, the task leaves them unread in the
  // message (reading them allocates, and most leaves only count the row).
  virtual bool emit_reads_headers() const { return true; }
  // A window skipped a record with a null key (WIN-01).
  virtual void count_null_key() {}
  // A window refused a record because the window had closed (WIN-08).
  virtual void count_late_record(std::string_view store) { (void)store; }
};

// One message's bytes as a consumer receives them.
struct TaskInput {
  std::optional<std::string_view> key;    // nullopt: a null key
  std::optional<std::string_view> value;  // nullopt: a tombstone
  std::int64_t timestamp = 0;
  TimestampType timestamp_type = TimestampType::create_time;
};

class PartitionTask final : public ExecContext {
 public:
  // One store of the task, with the writes since the last checkpoint. Its address is stable
  // for the task's lifetime (the run loop passes it as the delivery opaque of changelog
  // records).
  struct Store {
    std::string name;
    std::string stream_id;  // ST-01: with `name`, the store's identity
    std::string changelog;  // empty = none
    std::unique_ptr<state::PartitionStore> store;
    std::unique_ptr<state::PartitionTransaction> txn;
    // The operator's in-memory state over `txn` (windows); dropped before `txn`.
    std::unique_ptr<OperatorState> op;
    std::int64_t delivered = -1;  // highest changelog offset acknowledged
  };

  // `graphs`: the pipelines of the task's input topics (input i runs graphs[i]); every one
  // must outlive the task. `changelog_of(store)` names a store's changelog ("" = none);
  // empty function = no changelogs.
  PartitionTask(std::vector<const Graph*> graphs, std::int32_t partition, TaskOutput& output,
                const std::function<std::string(const StoreDecl& store)>& changelog_of = {});
  ~PartitionTask() override;
  PartitionTask(const PartitionTask&) = delete;
  PartitionTask& operator=(const PartitionTask&) = delete;

  std::int32_t partition() const noexcept { return partition_; }
  const Graph& graph(std::size_t input = 0) const noexcept { return *graphs_[input]; }
  // The graph of the input whose message is being processed (begin_message).
  const Graph& input_graph() const noexcept { return *graphs_[input_]; }

  // ---- stores -------------------------------------------------------------------------------
  std::vector<std::unique_ptr<Store>>& stores() noexcept { return stores_; }
  bool stateful() const noexcept { return !stores_.empty(); }
  // Makes `store` (opened by the caller) the task's store number `index`, with a fresh
  // transaction over it.
  void attach(std::size_t index, std::unique_ptr<state::PartitionStore> store);
  // Drops operator states and transactions and closes the stores (a close failure is logged).
  void close_stores();
  // Stores open and restored: the task may process messages.
  bool ready() const noexcept { return ready_; }
  void set_ready(bool ready) noexcept { ready_ = ready; }
  // Highest record timestamp a stateful operation saw: the "now" of the TTL sweep.
  std::int64_t stream_time() const noexcept { return stream_time_; }

  // ---- processing ---------------------------------------------------------------------------
  // The message of input `input` at `offset` (-1: none, e.g. idle closing) is processed next:
  // sets the context operations see (SDF-19). end_message() clears it.
  void begin_message(std::size_t input, std::int64_t offset, std::size_t size);
  void end_message() noexcept;
  // Deserializes `in` into `key` and `rows` (a tombstone is one null row, TOP-09) and
  // computes the rows' timestamp (the topic's extractor sees the first row and the record's
  // timestamp type). Throws IgnoreMessage (TOP-10) or the deserializer's error.
  void decode(const TaskInput& in, const Headers& headers, Value& key, std::vector<Value>& rows,
              std::int64_t& timestamp) const;
  // Runs `row` through the current input's pipeline (APP-25: depth-first, before the next).
  void run(Row& row) { graphs_[input_]->run(row, *this); }
  // Whether the input's deserializers read headers: then decode() needs them up front.
  // (Known per input when the task is made: asked once per message.)
  bool decoding_reads_headers() const noexcept { return decoding_reads_headers_[input_] != 0; }
  // `row`'s headers are still in the message being processed: `read(message, out)` reads
  // them into the row when an operation asks (load_headers). The scope forgets the row on
  // every way out, exceptions included (a row made later at the same address must not read a
  // message that is gone); `row` and `message` must outlive it.
  using HeaderReader = void (*)(const void* message, Headers& out);
  class UnreadHeaders {
   public:
    UnreadHeaders(PartitionTask& task, Row& row, HeaderReader read, const void* message) noexcept
        : task_(task) {
      task_.set_unread_headers(row, read, message);
    }
    ~UnreadHeaders() { task_.forget_unread_headers(); }
    UnreadHeaders(const UnreadHeaders&) = delete;
    UnreadHeaders& operator=(const UnreadHeaders&) = delete;

   private:
    PartitionTask& task_;
  };
  // The forwarding path (Graph::passthrough_targets): checks the bytes with the input's
  // deserializers without decoding them (throws as decode() would). A repartition topic's
  // records are not checked: this application wrote them.
  void validate(const TaskInput& in) const;
  // Re-encodes `in`'s key for the passthrough targets whose key format differs from the
  // input's (validate() first). False when a target's serializer refuses the key: nothing
  // has been sent, and the message takes the decoding path, which reports the error where a
  // to_topic would.
  bool encode_forward_keys(const TaskInput& in);
  // Sends `in` unchanged to every passthrough target, with the keys encode_forward_keys()
  // made; returns how many records went out.
  // Inline: it runs once per forwarded message, from the run loop and the TestDriver.
  std::size_t forward(const TaskInput& in, const Headers* headers) {
    const auto& targets = passthrough_[input_];
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const bool reencoded = targets[i].reencode_key && in.key;
      output_->send(targets[i].topic->name,
                    reencoded ? std::optional<std::string_view>(forward_keys_[i]) : in.key,
                    in.value, in.timestamp, headers);
    }
    return targets.size();
  }
  // The current input's passthrough targets (empty: the pipeline does more than forward).
  const std::vector<Graph::PassthroughTarget>& passthrough() const noexcept {
    return passthrough_[input_];
  }

  // ---- clock and checkpoints -----------------------------------------------------------------
  // Whether some operator may act on the application clock (idle closing, EXT-02).
  bool ticks() const noexcept;
  // Lets operators act on the clock `now_ms` (EXT-02); builds the state of a ticking
  // operator from its store when it has none yet (after a restart or an aborted checkpoint,
  // so windows left open close on a partition that stays quiet). Returns whether anything
  // changed (the next checkpoint must commit it).
  bool tick(std::int64_t now_ms);
  // Operators write their in-memory state into their transactions.
  void flush_operators();
  // ST-06: deletes expired entries, at most `limit` per store; returns how many.
  std::size_t sweep_expired(std::size_t limit);
  // Calls f(store, key, value) for every write since the last checkpoint (value nullopt: a
  // delete), store by store.
  template <class F>
  void for_each_change(F&& f) {
    for (auto& st : stores_) {
      if (!st->txn || st->txn->empty()) continue;
      st->txn->for_each_change(
          [&](std::string_view key, std::optional<std::string_view> value) { f(*st, key, value); });
    }
  }
  // Some store has writes since the last checkpoint (for its changelog and its store).
  bool has_writes() const noexcept {
    for (const auto& st : stores_) {
      if (st->txn && !st->txn->empty()) return true;
    }
    return false;
  }
  // The checkpoint is durable: each store gets its writes, with the changelog offset after
  // the last acknowledged changelog record (stores without a changelog: none). The stores may
  // apply them after this returns (PartitionStore::write_behind).
  void commit_writes();
  // Waits for the stores' writes of the last checkpoint; throws if one failed. Before any
  // later checkpoint commits offsets: the messages since may have read a store that lacks
  // that batch.
  void settle_stores() const;
  // The checkpoint is not durable: forget the writes since the last one; operator states are
  // rebuilt from the stores on next use.
  void discard_writes() noexcept;
  // Rebuild every operator state from its store on next use (tests: every record then also
  // goes through the stored form).
  void drop_operator_states() noexcept;

  // ---- ExecContext ----------------------------------------------------------------------------
  void produce(const Topic::Definition& topic, const Row& row, const Value& key) override;
  void produce_bytes(const Topic::Definition& topic, const Row& row, const Value& key,
                     std::optional<std::string_view> value) override;
  std::optional<std::string_view> input_value_bytes() const override { return single_value_; }
  void emit(Row& row, const Node& leaf) override {
    if (output_->emit_reads_headers()) load_headers(row);
    output_->emit(row, context_, leaf.label);
  }
  void load_headers(const Row& row) override {
    if (&row != unread_row_) return;
    Row& target = *unread_row_;
    unread_row_ = nullptr;  // once, even if reading throws
    read_headers_(unread_message_, target.headers);
  }
  void headers_replaced(const Row& row) noexcept override {
    if (&row == unread_row_) unread_row_ = nullptr;
  }
  const MessageContext& context() const override { return context_; }
  StateScope& state(std::size_t store, const Row& row) override;
  OperatorState& operator_state(std::size_t store, const Node& owner) override;
  void count_null_key() override { output_->count_null_key(); }
  void count_late_record(std::string_view store) override { output_->count_late_record(store); }
  std::size_t enter_graph(const Graph& graph) override;
  void leave_graph(std::size_t previous) noexcept override { store_input_ = previous; }
  std::int64_t now_ms() const override {
    return manual_clock_ != nullptr ? *manual_clock_ : graphs_.front()->now_ms();
  }
  // The TestDriver's clock (advance_clock) instead of the application's; null = the graph's.
  void set_manual_clock(const std::int64_t* now_ms) noexcept { manual_clock_ = now_ms; }

 private:
  Store& store_of(std::size_t store) {
    SF_ASSERT(store_input_ < graphs_.size(), "a store of a graph this task does not run");
    return *stores_[store_base_[store_input_] + store];
  }

  std::vector<const Graph*> graphs_;
  std::vector<std::size_t> store_base_;  // per input: index of its first store in stores_
  std::int32_t partition_;
  TaskOutput* output_;
  const std::int64_t* manual_clock_ = nullptr;
  std::vector<std::unique_ptr<Store>> stores_;
  std::vector<std::vector<Graph::PassthroughTarget>> passthrough_;  // per input
  std::vector<char> reencodes_key_;  // per input: whether a passthrough target re-encodes keys
  std::vector<char> validates_;      // per input: false for a repartition topic (validate())
  std::vector<char> decoding_reads_headers_;  // per input: decoding_reads_headers()
  // Per input: Graph::projected_column(), the one column decode() asks for (null: all).
  std::vector<const std::string*> projected_;
  bool ready_ = false;
  std::int64_t stream_time_ = std::numeric_limits<std::int64_t>::min();
  std::size_t input_ = 0;
  // The graph whose nodes are running (the input's, or past a concat bridge the merge's):
  // store indices are relative to its stores.
  std::size_t store_input_ = 0;
  MessageContext context_;
  void set_unread_headers(Row& row, HeaderReader read, const void* message) noexcept {
    unread_row_ = &row;
    read_headers_ = read;
    unread_message_ = message;
  }
  void forget_unread_headers() noexcept { unread_row_ = nullptr; }
  // The row whose headers are still in the message (UnreadHeaders), or null.
  Row* unread_row_ = nullptr;
  HeaderReader read_headers_ = nullptr;
  const void* unread_message_ = nullptr;
  std::size_t context_input_ = 0;  // the input whose topic context_ names
  // The current message's value bytes when it decoded into one row (decode() sets it; the
  // caller keeps the bytes alive while the message is processed).
  mutable std::optional<std::string_view> single_value_;
  // The current input's key deserialized into key_rows_ (kept across records: a key costs no
  // vector allocation); true when it made exactly one row. decode() and encode_forward_keys().
  bool decode_key(std::string_view key) const;
  mutable std::vector<Value> key_rows_;
  StateScope scope_;
  // Buffers of produce(), kept across records: no allocation per record once warm.
  std::string key_buf_;
  std::string value_buf_;
  std::vector<std::string> forward_keys_;  // per passthrough target of the current input
  Headers produce_headers_;
};

}  // namespace streamframe::detail
