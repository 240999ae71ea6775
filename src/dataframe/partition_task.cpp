#include "dataframe/partition_task.hpp"

#include <algorithm>
#include <utility>

#include "core/assert.hpp"
#include "core/logging.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"

namespace streamframe::detail {

namespace {
const Headers kNoHeaders;  // the forwarding path validates without decoding the headers
}  // namespace

PartitionTask::PartitionTask(std::vector<const Graph*> graphs, std::int32_t partition,
                             TaskOutput& output,
                             const std::function<std::string(const StoreDecl&)>& changelog_of)
    : graphs_(std::move(graphs)), partition_(partition), output_(&output) {
  SF_ASSERT(!graphs_.empty(), "a task needs at least one input");
  for (const Graph* graph : graphs_) {
    store_base_.push_back(stores_.size());
    passthrough_.push_back(graph->passthrough_targets());
    const auto& targets = passthrough_.back();
    reencodes_key_.push_back(static_cast<char>(
        std::any_of(targets.begin(), targets.end(), [](const auto& t) { return t.reencode_key; })));
    validates_.push_back(static_cast<char>(graph->upstream() == nullptr));
    const Topic::Definition& topic = graph->topic().definition();
    decoding_reads_headers_.push_back(
        static_cast<char>(topic.timestamp_extractor || topic.value_deserializer->reads_headers()));
    projected_.push_back(graph->projected_column());
    for (const StoreDecl& decl : graph->stores()) {
      auto st = std::make_unique<Store>();
      st->name = decl.name;
      st->stream_id = decl.stream_id;
      if (changelog_of) st->changelog = changelog_of(decl);
      stores_.push_back(std::move(st));
    }
  }
  context_.topic = graphs_.front()->topic().name();
  context_input_ = 0;
  context_.partition = partition_;
}

PartitionTask::~PartitionTask() {
  close_stores();
}

void PartitionTask::attach(std::size_t index, std::unique_ptr<state::PartitionStore> store) {
  Store& st = *stores_.at(index);
  st.op.reset();
  st.txn.reset();
  st.store = std::move(store);
  st.txn = std::make_unique<state::PartitionTransaction>(*st.store);
  st.delivered = -1;
}

void PartitionTask::close_stores() {
  for (auto& st : stores_) {
    st->op.reset();
    st->txn.reset();
    if (!st->store) continue;
    try {
      st->store->close();
    } catch (const std::exception& e) {
      logger()->warn("closing store '{}' partition {} failed: {}", st->name, partition_, e.what());
    }
    st->store.reset();
  }
  ready_ = false;
}

void PartitionTask::begin_message(std::size_t input, std::int64_t offset, std::size_t size) {
  // The topic's name is copied only when the input changes: not once per message.
  if (input != context_input_) {
    context_.topic = graphs_[input]->topic().name();
    context_input_ = input;
  }
  input_ = input;
  store_input_ = input;
  single_value_.reset();
  context_.offset = offset;
  context_.size = size;
  context_.leader_epoch = -1;  // librdkafka 2.0.2 does not expose it per message
  current_message_context() = &context_;
}

void PartitionTask::end_message() noexcept {
  single_value_.reset();
  current_message_context() = nullptr;
}

void PartitionTask::decode(const TaskInput& in, const Headers& headers, Value& key,
                           std::vector<Value>& rows, std::int64_t& timestamp) const {
  const Topic::Definition& topic = graphs_[input_]->topic().definition();
  if (in.key) {
    if (!decode_key(*in.key)) {
      throw SerializationError(std::string(topic.key_deserializer->name()) +
                               " deserializer: expected exactly one row for a key, got " +
                               std::to_string(key_rows_.size()));
    }
    key = std::move(key_rows_.front());
  }
  if (in.value) {
    const std::string* column = projected_[input_];
    if (column == nullptr ||
        !topic.value_deserializer->deserialize_column(*in.value, headers, *column, rows)) {
      topic.value_deserializer->deserialize(*in.value, headers, rows);
    }
    if (rows.size() == 1) single_value_ = in.value;
  } else {
    rows.emplace_back();  // tombstone: skips deserialization, enters as null (TOP-09)
  }
  timestamp = in.timestamp;
  if (topic.timestamp_extractor) {
    // The extractor sees the first row's value; rows of one message share a timestamp.
    timestamp = topic.timestamp_extractor(rows.empty() ? Value() : rows.front(), headers,
                                          in.timestamp, in.timestamp_type);
  }
}

bool PartitionTask::decode_key(std::string_view key) const {
  key_rows_.clear();
  graphs_[input_]->topic().definition().key_deserializer->deserialize(key, kNoHeaders, key_rows_);
  return key_rows_.size() == 1;
}

void PartitionTask::validate(const TaskInput& in) const {
  // Bad input must reach the error path even though nothing is deserialized. A repartition
  // topic is not input: only this application writes it, with its own serializer or the bytes
  // of a value it already decoded or checked, so checking them again would only cost a parse
  // per record (a quarter of a group_by hop's run-loop instructions).
  if (validates_[input_] == 0) return;
  const Topic::Definition& topic = graphs_[input_]->topic().definition();
  if (in.key) topic.key_deserializer->validate(*in.key, kNoHeaders);
  if (in.value) topic.value_deserializer->validate(*in.value, kNoHeaders);
}

bool PartitionTask::encode_forward_keys(const TaskInput& in) {
  if (reencodes_key_[input_] == 0 || !in.key) return true;
  const auto& targets = passthrough_[input_];
  forward_keys_.resize(targets.size());
  const Deserializer& key_format = *graphs_[input_]->topic().definition().key_deserializer;
  try {
    // Decoded at most once for all the targets that re-encode it (and not at all when the
    // deserializer can write each target's format straight from the bytes), into a vector
    // kept across messages. Not one key, or none to send: the decoding path reports or sends
    // it.
    bool decoded = false;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (!targets[i].reencode_key) continue;
      const Serializer& to = *targets[i].topic->key_serializer;
      if (!decoded && key_format.transcode(*in.key, to, forward_keys_[i])) continue;
      if (!decoded) {
        if (!decode_key(*in.key) || key_rows_.front().is_null()) return false;
        decoded = true;
      }
      forward_keys_[i].clear();
      to.serialize(key_rows_.front(), forward_keys_[i]);
    }
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

void PartitionTask::produce(const Topic::Definition& topic, const Row& row, const Value& key) {
  std::optional<std::string_view> value_bytes;
  if (!row.value.is_null()) {
    topic.value_serializer->serialize(row.value, value_buf_);
    value_bytes = value_buf_;
  }
  produce_bytes(topic, row, key, value_bytes);
}

void PartitionTask::produce_bytes(const Topic::Definition& topic, const Row& row, const Value& key,
                                  std::optional<std::string_view> value_bytes) {
  std::optional<std::string_view> key_bytes;
  if (!key.is_null()) {
    topic.key_serializer->serialize(key, key_buf_);
    key_bytes = key_buf_;
  }
  load_headers(row);
  const Headers* headers = &row.headers;
  auto extra = topic.value_serializer->extra_headers();
  if (!extra.empty()) {
    produce_headers_ = row.headers;
    produce_headers_.insert(produce_headers_.end(), extra.begin(), extra.end());
    headers = &produce_headers_;
  }
  output_->send(topic.name, key_bytes, value_bytes, row.timestamp,
                headers->empty() ? nullptr : headers);
}

StateScope& PartitionTask::state(std::size_t store, const Row& row) {
  stream_time_ = std::max(stream_time_, row.timestamp);
  scope_.reset(*store_of(store).txn, row.key, row.timestamp);
  return scope_;
}

std::size_t PartitionTask::enter_graph(const Graph& graph) {
  const std::size_t previous = store_input_;
  const auto it = std::find(graphs_.begin(), graphs_.end(), &graph);
  store_input_ = static_cast<std::size_t>(it - graphs_.begin());  // size(): not this task's
  return previous;
}

OperatorState& PartitionTask::operator_state(std::size_t store, const Node& owner) {
  Store& st = store_of(store);
  if (!st.op) st.op = owner.make_operator_state(*st.txn, partition_);
  return *st.op;
}

bool PartitionTask::ticks() const noexcept {
  for (const auto& st : stores_) {
    if (st->op && st->op->ticks()) return true;
  }
  return std::any_of(graphs_.begin(), graphs_.end(), [](const Graph* g) { return g->ticks(); });
}

bool PartitionTask::tick(std::int64_t now_ms) {
  bool changed = false;
  for (std::size_t input = 0; input < graphs_.size(); ++input) {
    const Graph& graph = *graphs_[input];
    for (std::size_t i = 0; i < graph.stores().size(); ++i) {
      Store& st = *stores_[store_base_[input] + i];
      if (!st.op) {
        const Node* owner = graph.ticking_owner(i);
        if (owner == nullptr || !st.txn) continue;
        st.op = owner->make_operator_state(*st.txn, partition_);
      }
      if (!st.op->ticks()) continue;
      // EXT-02: outputs carry the input topic and partition, offset -1.
      begin_message(input, -1, 0);
      try {
        changed = st.op->tick(now_ms, *this) || changed;
      } catch (...) {
        end_message();
        throw;
      }
      end_message();
    }
  }
  return changed;
}

void PartitionTask::flush_operators() {
  for (auto& st : stores_) {
    if (st->op && st->txn) st->op->flush(*st->txn);
  }
}

std::size_t PartitionTask::sweep_expired(std::size_t limit) {
  if (stream_time_ == std::numeric_limits<std::int64_t>::min()) return 0;
  std::size_t total = 0;
  for (auto& st : stores_) {
    if (!st->txn) continue;
    const auto n = st->txn->sweep_expired(stream_time_, limit);
    if (n > 0) logger()->debug("store '{}': {} expired entries deleted", st->name, n);
    total += n;
  }
  return total;
}

void PartitionTask::commit_writes() {
  for (auto& st : stores_) {
    if (!st->txn) continue;
    if (!st->txn->empty()) {
      std::optional<std::int64_t> offset;
      if (!st->changelog.empty() && st->delivered >= 0) offset = st->delivered + 1;
      st->store->write_behind(st->txn->take_changes(), offset);
    }
    // Also without writes: reads alone grow the caches.
    st->txn->committed();
    if (st->op) st->op->committed();
  }
}

void PartitionTask::settle_stores() const {
  for (const auto& st : stores_) {
    if (st->store) st->store->settle();
  }
}

void PartitionTask::discard_writes() noexcept {
  for (auto& st : stores_) {
    st->op.reset();  // rebuilt from the store on next use
    if (st->txn) st->txn->discard();
  }
}

void PartitionTask::drop_operator_states() noexcept {
  for (auto& st : stores_) st->op.reset();
}

}  // namespace streamframe::detail
