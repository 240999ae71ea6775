#include "streamframe/test_driver.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dataframe/access.hpp"
#include "dataframe/graph.hpp"
#include "dataframe/partition_task.hpp"
#include "kafka/partitioner.hpp"
#include "state/memory_store.hpp"
#include "state/transaction.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"
#include "streamframe/state.hpp"

namespace streamframe {

// Drives one PartitionTask per input partition, over in-memory stores, as the run loop drives
// its tasks over RocksDB: the same decoding, forwarding, state and checkpoint code. A pipeline
// with group_by is several graphs (each repartition topic feeds one): what a graph produces to
// such a topic is routed by its key, as the producer would, and processed before pipe()
// returns, in the order it was produced (EXT-07).
struct TestDriver::Impl final : detail::TaskOutput {
  // One graph of the pipeline with its tasks, one per partition of its input.
  struct Stage {
    std::shared_ptr<detail::Graph> graph;
    std::vector<std::unique_ptr<detail::PartitionTask>> tasks;
    std::vector<std::int64_t> next_offsets;
  };
  // A record produced to a repartition topic, waiting for its turn.
  struct Pending {
    std::size_t stage = 0;
    std::int32_t partition = 0;
    std::optional<std::string> key;
    std::optional<std::string> value;
    std::int64_t timestamp = 0;
    Headers headers;
  };

  Impl(const StreamingDataFrame& frame, TestDriverOptions opts, OutputFn fn)
      : options(opts), on_output(std::move(fn)) {
    if (options.partitions < 1) throw InvalidOperation("TestDriver: partitions must be >= 1");
    // The whole pipeline: from the graph fed by the input topic, every graph downstream.
    std::shared_ptr<detail::Graph> top = detail::Access::graph(frame);
    while (auto up = top->upstream()) top = std::move(up);
    add_stage(top, options.partitions);
    for (std::size_t i = 0; i < stages.size(); ++i) {
      // Copied: add_stage grows `stages`.
      const auto downstream = stages[i].graph->downstream();
      for (const auto& g : downstream) add_stage(g, g->topic().config().num_partitions);
    }
  }

  void add_stage(const std::shared_ptr<detail::Graph>& graph, int partitions) {
    Stage stage;
    stage.graph = graph;
    for (std::int32_t p = 0; p < partitions; ++p) {
      auto task = std::make_unique<detail::PartitionTask>(
          std::vector<const detail::Graph*>{graph.get()}, p, *this);
      for (std::size_t s = 0; s < task->stores().size(); ++s) {
        task->attach(s, std::make_unique<state::MemoryStore>());
      }
      task->set_ready(true);
      stage.tasks.push_back(std::move(task));
      stage.next_offsets.push_back(0);
    }
    if (!stages.empty()) internal_topics.emplace(graph->topic().name(), stages.size());
    stages.push_back(std::move(stage));
  }

  void send(const std::string& topic, std::optional<std::string_view> key,
            std::optional<std::string_view> value, std::int64_t timestamp,
            const Headers* headers) override {
    if (const auto it = internal_topics.find(topic); it != internal_topics.end()) {
      const Stage& stage = stages[it->second];
      Pending p;
      p.stage = it->second;
      p.partition = kafka::partition_for_key(key, static_cast<std::int32_t>(stage.tasks.size()));
      if (key) p.key.emplace(*key);
      if (value) p.value.emplace(*value);
      p.timestamp = timestamp;
      if (headers != nullptr) p.headers = *headers;
      pending.push_back(std::move(p));
      return;
    }
    ++produced;
    if (on_output) {
      on_output(topic, key, value, timestamp);
      return;
    }
    TestOutput o{topic, std::nullopt, std::nullopt, timestamp, {}};
    if (key) o.key.emplace(*key);
    if (value) o.value.emplace(*value);
    if (headers != nullptr) o.headers = *headers;
    outputs.push_back(std::move(o));
  }

  void emit(Row& row, const MessageContext&) override {
    if (options.collect_rows) rows.push_back(row);
  }

  void pipe(std::int32_t partition, std::optional<std::string_view> key,
            std::optional<std::string_view> value, std::int64_t timestamp,
            TimestampType timestamp_type, const Headers& headers) {
    if (partition < 0 || partition >= options.partitions) {
      throw InvalidOperation("TestDriver: partition " + std::to_string(partition) +
                             " is not in [0, " + std::to_string(options.partitions) + ")");
    }
    pending.clear();  // what a failed pipe() left
    process(stages.front(), partition, {key, value, timestamp, timestamp_type}, headers);
    // Until quiet: a hop's records may produce to the next hop.
    for (std::size_t i = 0; i < pending.size(); ++i) {
      Pending p = std::move(pending[i]);
      process(stages[p.stage], p.partition,
              {p.key, p.value, p.timestamp, TimestampType::create_time}, p.headers);
    }
    pending.clear();
    if (options.checkpoint_every > 0 && ++since_checkpoint >= options.checkpoint_every) {
      checkpoint();
    }
  }

  void process(Stage& stage, std::int32_t partition, const detail::TaskInput& input,
               const Headers& headers) {
    detail::PartitionTask& task = *stage.tasks[static_cast<std::size_t>(partition)];
    const std::int64_t offset = stage.next_offsets[static_cast<std::size_t>(partition)]++;
    auto*& current_context = detail::current_message_context();
    const auto* saved = current_context;
    task.begin_message(0, offset, input.value ? input.value->size() : 0);
    struct Restore {
      const MessageContext*& slot;
      const MessageContext* saved;
      ~Restore() { slot = saved; }
    } restore{current_context, saved};

    if (!task.passthrough().empty()) {
      // As the run loop: validated, not decoded, and the original bytes go out.
      try {
        task.validate(input);
      } catch (const IgnoreMessage&) {
        return;  // TOP-10: dropped, as the run loop does; its offset is used
      }
      (void)task.forward(input, headers.empty() ? nullptr : &headers);
      return;
    }
    Value key_value;
    values.clear();
    std::int64_t ts = input.timestamp;
    try {
      task.decode(input, headers, key_value, values, ts);
    } catch (const IgnoreMessage&) {
      return;  // TOP-10: dropped, as the run loop does; its offset is used
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
      const bool last = i + 1 == values.size();
      // The key is moved only into the last row.
      Row row{std::move(values[i]),
              last ? std::move(key_value) : key_value,  // NOLINT(bugprone-use-after-move)
              ts, headers};
      if (options.reload_state) task.drop_operator_states();
      task.run(row);
    }
  }

  // The run loop's checkpoint without Kafka: operators write their state, expired entries go,
  // and the writes reach the stores.
  void checkpoint() {
    for (auto& stage : stages) {
      for (auto& task : stage.tasks) {
        task->flush_operators();
        (void)task->sweep_expired(RocksDBOptions{}.max_evictions_per_flush);
        task->commit_writes();
      }
    }
    since_checkpoint = 0;
  }

  TestDriverOptions options;
  OutputFn on_output;
  std::vector<Stage> stages;                           // [0]: the graph of the input topic
  std::map<std::string, std::size_t> internal_topics;  // repartition topic -> its stage
  std::vector<Pending> pending;
  std::vector<Value> values;
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
                      const Headers& headers, TimestampType timestamp_type) {
  impl_->pipe(partition, key, value, timestamp, timestamp_type, headers);
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
