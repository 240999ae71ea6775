#include "streamframe/test_driver.hpp"

#include <string>
#include <utility>

#include "dataframe/graph.hpp"
#include "state/memory_store.hpp"
#include "state/transaction.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"

namespace streamframe {

namespace {

// One input partition: its stores (one per store the pipeline registered), their open
// transactions and the operators' in-memory state, as a worker keeps them per partition.
struct PartitionState {
  std::vector<std::unique_ptr<state::MemoryStore>> stores;
  std::vector<std::unique_ptr<state::PartitionTransaction>> txns;
  std::vector<std::unique_ptr<detail::OperatorState>> operators;
  std::int64_t next_offset = 0;
};

}  // namespace

struct TestDriver::Impl final : detail::ExecContext {
  Impl(const StreamingDataFrame& root, TestDriverOptions opts, OutputFn fn)
      : graph(root.graph()), options(opts), on_output(std::move(fn)) {
    if (options.partitions < 1) throw InvalidOperation("TestDriver: partitions must be >= 1");
    passthrough = graph->passthrough_targets();
    partitions.resize(static_cast<std::size_t>(options.partitions));
    for (auto& p : partitions) {
      for (std::size_t s = 0; s < graph->stores().size(); ++s) {
        p.stores.push_back(std::make_unique<state::MemoryStore>());
        p.txns.push_back(std::make_unique<state::PartitionTransaction>(*p.stores.back()));
        p.operators.emplace_back();
      }
    }
    mc.topic = graph->topic().name();
  }

  void produce(const Topic::Definition& topic, const Row& row, const Value& key) override {
    std::optional<std::string_view> key_bytes;
    if (!key.is_null()) {
      topic.key_serializer->serialize(key, key_buf);
      key_bytes = key_buf;
    }
    std::optional<std::string_view> value_bytes;
    if (!row.value.is_null()) {
      topic.value_serializer->serialize(row.value, value_buf);
      value_bytes = value_buf;
    }
    output(topic.name, key_bytes, value_bytes, row.timestamp, row.headers,
           topic.value_serializer->extra_headers());
  }

  void output(const std::string& topic, std::optional<std::string_view> key,
              std::optional<std::string_view> value, std::int64_t timestamp, const Headers& headers,
              const Headers& extra) {
    ++produced;
    if (on_output) {
      on_output(topic, key, value, timestamp);
      return;
    }
    TestOutput o{topic, std::nullopt, std::nullopt, timestamp, headers};
    if (key) o.key.emplace(*key);
    if (value) o.value.emplace(*value);
    o.headers.insert(o.headers.end(), extra.begin(), extra.end());
    outputs.push_back(std::move(o));
  }

  void emit(Row& row) override {
    if (options.collect_rows) rows.push_back(row);
  }
  const MessageContext& context() const override { return mc; }

  detail::StateScope& state(std::size_t store, const Row& row) override {
    scope.reset(*current->txns.at(store), row.key, row.timestamp);
    return scope;
  }
  detail::OperatorState& operator_state(std::size_t store, const detail::Node& owner) override {
    auto& op = current->operators.at(store);
    if (!op) op = owner.make_operator_state(*current->txns.at(store), mc.partition);
    return *op;
  }
  std::int64_t now_ms() const override { return graph->now_ms(); }

  void pipe(std::int32_t partition, std::optional<std::string_view> key,
            std::optional<std::string_view> value, std::int64_t timestamp, const Headers& headers) {
    if (partition < 0 || partition >= options.partitions) {
      throw InvalidOperation("TestDriver: partition " + std::to_string(partition) +
                             " is not in [0, " + std::to_string(options.partitions) + ")");
    }
    current = &partitions[static_cast<std::size_t>(partition)];
    mc.partition = partition;
    mc.offset = current->next_offset++;
    mc.size = value ? value->size() : 0;
    const Topic::Definition& topic = graph->topic().definition();
    auto*& current_context = detail::current_message_context();
    const auto* saved = current_context;
    current_context = &mc;
    struct Restore {
      const MessageContext*& slot;
      const MessageContext* saved;
      ~Restore() { slot = saved; }
    } restore{current_context, saved};

    if (!passthrough.empty()) {
      // As the run loop: validated, not decoded, and the original bytes go out.
      try {
        if (key) topic.key_deserializer->validate(*key, headers);
        if (value) topic.value_deserializer->validate(*value, headers);
      } catch (const IgnoreMessage&) {
        return;  // TOP-10: dropped, as the run loop does; its offset is used
      }
      for (const Topic::Definition* target : passthrough) {
        output(target->name, key, value, timestamp, headers, {});
      }
    } else {
      Value key_value;
      values.clear();
      try {
        if (key) key_value = topic.key_deserializer->deserialize_one(*key);
        if (value) {
          topic.value_deserializer->deserialize(*value, headers, values);
        } else {
          values.emplace_back();  // tombstone (TOP-09)
        }
      } catch (const IgnoreMessage&) {
        return;  // TOP-10: dropped, as the run loop does; its offset is used
      }
      std::int64_t ts = timestamp;
      if (topic.timestamp_extractor) {
        ts = topic.timestamp_extractor(values.empty() ? Value() : values.front(), headers, ts,
                                       TimestampType::create_time);
      }
      for (std::size_t i = 0; i < values.size(); ++i) {
        const bool last = i + 1 == values.size();
        // The key is moved only into the last row.
        Row row{std::move(values[i]),
                last ? std::move(key_value) : key_value,  // NOLINT(bugprone-use-after-move)
                ts, headers};
        graph->run(row, *this);
      }
    }
    if (options.checkpoint_every > 0 && ++since_checkpoint >= options.checkpoint_every) {
      checkpoint();
    }
  }

  void checkpoint() {
    for (auto& p : partitions) {
      for (std::size_t s = 0; s < p.txns.size(); ++s) {
        auto& txn = *p.txns[s];
        if (p.operators[s]) p.operators[s]->flush(txn);
        if (!txn.empty()) txn.store().write(txn.batch(), std::nullopt);
        txn.committed();
      }
    }
    since_checkpoint = 0;
  }

  std::shared_ptr<detail::Graph> graph;
  TestDriverOptions options;
  OutputFn on_output;
  std::vector<const Topic::Definition*> passthrough;
  std::vector<PartitionState> partitions;
  PartitionState* current = nullptr;
  MessageContext mc;
  detail::StateScope scope;
  std::vector<Value> values;
  std::string key_buf;
  std::string value_buf;
  std::uint64_t produced = 0;
  std::uint64_t since_checkpoint = 0;
  std::vector<TestOutput> outputs;
  std::vector<Row> rows;
};

TestDriver::TestDriver(const StreamingDataFrame& frame, TestDriverOptions options,
                       OutputFn on_output)
    : impl_(std::make_unique<Impl>(frame, options, std::move(on_output))) {}

TestDriver::~TestDriver() = default;

void TestDriver::pipe(std::int32_t partition, std::optional<std::string_view> key,
                      std::optional<std::string_view> value, std::int64_t timestamp,
                      const Headers& headers) {
  impl_->pipe(partition, key, value, timestamp, headers);
}

void TestDriver::checkpoint() {
  impl_->checkpoint();
}

std::uint64_t TestDriver::produced() const noexcept {
  return impl_->produced;
}

std::vector<TestOutput> TestDriver::take_outputs() {
  return std::exchange(impl_->outputs, {});
}

std::vector<Row> TestDriver::take_rows() {
  return std::exchange(impl_->rows, {});
}

}  // namespace streamframe
