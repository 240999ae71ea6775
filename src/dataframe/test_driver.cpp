#include "streamframe/test_driver.hpp"

#include <algorithm>
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
#include "serde/parse_reuse.hpp"
#include "state/memory_store.hpp"
#include "state/transaction.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"
#include "streamframe/state.hpp"

namespace streamframe {

// Drives one PartitionTask per input partition, over in-memory stores, as the run loop drives
// its tasks over RocksDB: the same decoding, forwarding, state and checkpoint code. A pipeline
// with group_by is several graphs (each repartition topic feeds one), and an application may
// declare several input topics: what a graph produces to a topic that feeds a graph is routed
// by its key, as the producer would, and processed before pipe() returns, in the order it was
// produced (EXT-07).
struct TestDriver::Impl final : detail::TaskOutput {
  // One graph of the pipelines with its tasks, one per partition of its input.
  struct Stage {
    std::shared_ptr<detail::Graph> graph;
    bool internal = false;  // fed by a repartition topic: not piped into, not an output
    int partitions = 1;
    // By partition. The topics of a concat of different topics share their tasks (TOP-15),
    // where this stage's topic is input number `input`.
    std::vector<std::shared_ptr<detail::PartitionTask>> tasks;
    std::size_t input = 0;
    std::vector<std::int64_t> next_offsets;
  };
  // A record produced to a topic that feeds a stage, waiting for its turn.
  struct Pending {
    std::size_t stage = 0;
    std::int32_t partition = 0;
    std::optional<std::string> key;
    std::optional<std::string> value;
    std::int64_t timestamp = 0;
    Headers headers;
  };
  // A pipeline that feeds itself through its input topic never becomes quiet; Kafka would
  // loop forever too, the driver says so instead.
  static constexpr std::size_t kMaxFedBack = 1'000'000;

  Impl(const std::vector<StreamingDataFrame>& frames, TestDriverOptions opts, OutputFn fn)
      : options(opts), on_output(std::move(fn)) {
    if (options.partitions < 0) {
      throw InvalidOperation("TestDriver: partitions must be >= 0 (0 = the topic's own)");
    }
    clock_ms = options.start_time;
    if (options.state_cache_budget > 0) {
      cache_budget = std::make_shared<state::MemoryBudget>(options.state_cache_budget);
    }
    if (frames.empty()) throw InvalidOperation("TestDriver: no pipeline to run");
    // The whole pipelines: from each graph fed by an input topic, every graph downstream.
    for (const auto& frame : frames) {
      std::shared_ptr<detail::Graph> top = detail::Access::graph(frame);
      while (auto up = top->upstream()) top = std::move(up);
      add_stage(top,
                options.partitions > 0 ? options.partitions : top->topic().config().num_partitions);
    }
    for (std::size_t i = 0; i < stages.size(); ++i) {
      // Copied: add_stage grows `stages`. A concat of different topics is fed by the other
      // topics' graphs: their topics are inputs too.
      const auto feeders = stages[i].graph->feeders();
      for (auto top : feeders) {
        while (auto up = top->upstream()) top = std::move(up);
        add_stage(top, options.partitions > 0 ? options.partitions
                                              : top->topic().config().num_partitions);
      }
      const auto downstream = stages[i].graph->downstream();
      for (const auto& g : downstream) add_stage(g, g->topic().config().num_partitions);
    }
    make_tasks();
  }

  // One task per partition number of each set of stages linked by concat, as the run loop's
  // assignment makes them.
  void make_tasks() {
    std::vector<std::shared_ptr<detail::Graph>> graphs;
    for (const auto& stage : stages) graphs.push_back(stage.graph);
    const auto groups = detail::task_groups(graphs);
    detail::check_co_partitioned(graphs, groups, [this](const detail::Graph& g) {
      for (const auto& stage : stages) {
        if (stage.graph.get() == &g) return stage.partitions;
      }
      return 0;
    });
    for (const auto& group : groups) {
      std::vector<const detail::Graph*> members;
      int partitions = 0;
      for (std::size_t i : group) {
        stages[i].input = members.size();
        members.push_back(stages[i].graph.get());
        partitions = std::max(partitions, stages[i].partitions);
      }
      for (std::int32_t p = 0; p < partitions; ++p) {
        auto task = std::make_shared<detail::PartitionTask>(members, p, *this);
        for (std::size_t s = 0; s < task->stores().size(); ++s) {
          task->attach(s, std::make_unique<state::MemoryStore>(cache_budget));
        }
        task->set_manual_clock(&clock_ms);
        task->set_ready(true);
        for (std::size_t i : group) {
          if (p < stages[i].partitions) stages[i].tasks.push_back(task);
        }
        tasks.push_back(std::move(task));
      }
    }
  }

  void add_stage(const std::shared_ptr<detail::Graph>& graph, int partitions) {
    if (graph->rekeys_in_place() && partitions != 1) {
      throw ConfigError("TestDriver: topic '" + graph->topic().name() +
                        "' has one partition in its definition, so its group_by re-keys in "
                        "place, but the driver runs it with " +
                        std::to_string(partitions) +
                        " partitions; declare the topic with that many (TopicConfig)");
    }
    for (const auto& stage : stages) {
      if (stage.graph == graph) return;  // two frames of one pipeline
    }
    const std::string& topic = graph->topic().name();
    if (topic_stage.count(topic)) {
      throw InvalidOperation("TestDriver: two pipelines read topic '" + topic +
                             "' (one dataframe per input topic; branch it instead)");
    }
    Stage stage;
    stage.graph = graph;
    stage.internal = graph->upstream() != nullptr;
    stage.partitions = partitions;
    stage.next_offsets.assign(static_cast<std::size_t>(partitions), 0);
    topic_stage.emplace(topic, stages.size());
    stages.push_back(std::move(stage));
  }

  // The stage `topic` is the input of, if any. The last answer is kept: a pipeline's records
  // mostly go to one topic, and the name compares cheaper than the map finds it.
  std::optional<std::size_t> stage_fed_by(const std::string& topic) {
    if (topic != last_sent_topic) {
      last_sent_topic = topic;
      const auto it = topic_stage.find(topic);
      last_sent_stage =
          it == topic_stage.end() ? std::nullopt : std::optional<std::size_t>(it->second);
    }
    return last_sent_stage;
  }

  void send(const std::string& topic, std::optional<std::string_view> key,
            std::optional<std::string_view> value, std::int64_t timestamp,
            const Headers* headers) override {
    if (const auto stage_index = stage_fed_by(topic)) {
      const Stage& stage = stages[*stage_index];
      if (pending.size() >= kMaxFedBack) {
        throw InvalidOperation("TestDriver: the pipelines produced " + std::to_string(kMaxFedBack) +
                               " records to their own input topics within one call without "
                               "becoming quiet (a pipeline that feeds itself?)");
      }
      Pending p;
      p.stage = *stage_index;
      p.partition = kafka::partition_for_key(key, stage.partitions);
      if (key) p.key.emplace(*key);
      if (value) p.value.emplace(*value);
      p.timestamp = timestamp;
      if (headers != nullptr) p.headers = *headers;
      pending.push_back(std::move(p));
      if (stage.internal) return;  // a repartition topic is not an output
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

  void emit(Row& row, const MessageContext&, std::uint32_t) override {
    if (options.collect_rows) rows.push_back(row);
  }
  bool emit_reads_headers() const override { return options.collect_rows; }

  std::size_t input_stage(const std::string& topic) const {
    const auto it = topic_stage.find(topic);
    if (it == topic_stage.end()) {
      std::string inputs;
      for (const auto& stage : stages) {
        if (stage.internal) continue;
        inputs += (inputs.empty() ? "'" : ", '") + stage.graph->topic().name() + "'";
      }
      throw InvalidOperation("TestDriver: '" + topic +
                             "' is not an input topic of the pipelines (inputs: " + inputs + ")");
    }
    if (stages[it->second].internal) {
      throw InvalidOperation("TestDriver: '" + topic +
                             "' is a repartition topic: only the pipelines produce to it");
    }
    return it->second;
  }

  void pipe(std::size_t stage_index, std::int32_t partition, std::optional<std::string_view> key,
            std::optional<std::string_view> value, std::int64_t timestamp,
            TimestampType timestamp_type, const Headers& headers) {
    Stage& stage = stages[stage_index];
    if (partition < 0 || static_cast<std::size_t>(partition) >= stage.tasks.size()) {
      throw InvalidOperation("TestDriver: partition " + std::to_string(partition) + " of topic '" +
                             stage.graph->topic().name() + "' is not in [0, " +
                             std::to_string(stage.tasks.size()) + ")");
    }
    pending.clear();  // what a failed call left
    process(stage, partition, {key, value, timestamp, timestamp_type}, headers);
    if (!pending.empty()) drain();
    if (options.checkpoint_every > 0 && ++since_checkpoint >= options.checkpoint_every) {
      checkpoint();
    }
  }

  // Until quiet: a record fed back may produce more.
  void drain() {
    for (std::size_t i = 0; i < pending.size(); ++i) {
      Pending p = std::move(pending[i]);
      process(stages[p.stage], p.partition,
              {p.key, p.value, p.timestamp, TimestampType::create_time}, p.headers);
    }
    pending.clear();
  }

  void advance_clock(std::chrono::milliseconds by) {
    if (by.count() < 0) throw InvalidOperation("TestDriver: advance_clock() by a negative time");
    clock_ms += by.count();
    pending.clear();
    auto*& current_context = detail::current_message_context();
    const auto* saved = current_context;
    struct Restore {
      const MessageContext*& slot;
      const MessageContext* saved;
      ~Restore() { slot = saved; }
    } restore{current_context, saved};
    // Stage by stage, partition by partition, as the run loop's turn visits its tasks; what a
    // closing window produces to a topic that feeds a stage is processed before the next task.
    for (const auto& task : tasks) {
      if (!task->ticks()) continue;
      (void)task->tick(clock_ms);
      drain();
    }
  }

  void process(Stage& stage, std::int32_t partition, const detail::TaskInput& input,
               const Headers& headers) {
    detail::PartitionTask& task = *stage.tasks[static_cast<std::size_t>(partition)];
    const std::int64_t offset = stage.next_offsets[static_cast<std::size_t>(partition)]++;
    auto*& current_context = detail::current_message_context();
    const auto* saved = current_context;
    task.begin_message(stage.input, offset, input.value ? input.value->size() : 0);
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
      if (task.encode_forward_keys(input)) {
        (void)task.forward(input, headers.empty() ? nullptr : &headers);
        return;
      }
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
      if (options.reload_state) {
        // What the operators hold goes to the store first, as at a checkpoint: the reload
        // must not lose it, and an operator that reads its whole store back (a scan sees the
        // store, not the transaction) must find it there.
        task.flush_operators();
        task.commit_writes();
        task.drop_operator_states();
      }
      task.run(row);
      detail::give_back_parsed(std::move(row.value));  // as the run loop does
    }
  }

  // The run loop's checkpoint without Kafka: operators write their state, expired entries go,
  // and the writes reach the stores.
  void checkpoint() {
    for (auto& task : tasks) {
      task->flush_operators();
      (void)task->sweep_expired(RocksDBOptions{}.max_evictions_per_flush);
      task->commit_writes();
    }
    since_checkpoint = 0;
  }

  // pipe() with values: serialized as a producer would, partitioned by the key's bytes.
  void pipe_value(const Topic& topic, const Value& value, const Value& key,
                  std::optional<std::int64_t> timestamp, const Headers& headers,
                  std::optional<std::int32_t> partition) {
    const std::size_t stage = input_stage(topic.name());
    const auto& def = topic.definition();
    std::optional<std::string_view> key_bytes;
    std::optional<std::string_view> value_bytes;
    if (!key.is_null()) {
      def.key_serializer->serialize(key, key_buf);
      key_bytes = key_buf;
    }
    if (!value.is_null()) {
      def.value_serializer->serialize(value, value_buf);
      value_bytes = value_buf;
    }
    // The serializer's extra headers are appended (TOP-13); without any the caller's are used
    // as they are.
    auto extra = def.value_serializer->extra_headers();
    Headers with_extra;
    if (!extra.empty()) {
      with_extra = headers;
      for (auto& h : extra) with_extra.push_back(std::move(h));
    }
    const auto partitions = static_cast<std::int32_t>(stages[stage].partitions);
    pipe(stage, partition ? *partition : kafka::partition_for_key(key_bytes, partitions), key_bytes,
         value_bytes, timestamp ? *timestamp : clock_ms, TimestampType::create_time,
         extra.empty() ? headers : with_extra);
  }

  std::vector<TestRecord> output(const Topic& topic) {
    const auto& def = topic.definition();
    const auto partitions = static_cast<std::int32_t>(std::max(1, topic.config().num_partitions));
    auto& next_offsets = output_offsets[topic.name()];
    next_offsets.resize(static_cast<std::size_t>(partitions), 0);
    std::vector<TestRecord> out;
    std::vector<TestOutput> rest;
    for (auto& o : outputs) {
      if (o.topic != topic.name()) {
        rest.push_back(std::move(o));
        continue;
      }
      TestRecord r;
      if (o.key) r.key = def.key_deserializer->deserialize_one(*o.key);
      if (o.value) r.value = def.value_deserializer->deserialize_one(*o.value);
      r.timestamp = o.timestamp;
      r.headers = std::move(o.headers);
      r.partition = kafka::partition_for_key(o.key, partitions);
      r.offset = next_offsets[static_cast<std::size_t>(r.partition)]++;
      out.push_back(std::move(r));
    }
    outputs = std::move(rest);
    return out;
  }

  TestDriverOptions options;
  std::shared_ptr<state::MemoryBudget> cache_budget;
  OutputFn on_output;
  std::vector<Stage> stages;
  // Every task once, in the order of the stages' groups and partitions (the run loop's).
  std::vector<std::shared_ptr<detail::PartitionTask>> tasks;
  std::map<std::string, std::size_t> topic_stage;  // a stage's input topic -> the stage
  std::string last_sent_topic;                     // stage_fed_by()'s last question
  std::optional<std::size_t> last_sent_stage;      // and its answer
  std::vector<Pending> pending;
  std::vector<Value> values;
  std::string key_buf, value_buf;                                   // pipe() with values
  std::map<std::string, std::vector<std::int64_t>> output_offsets;  // per output partition
  std::int64_t clock_ms = 0;
  std::uint64_t produced = 0;
  std::uint64_t since_checkpoint = 0;
  std::vector<TestOutput> outputs;
  std::vector<Row> rows;
};

TestDriver::TestDriver(const StreamingDataFrame& frame, TestDriverOptions options,
                       OutputFn on_output)
    : impl_(std::make_unique<Impl>(std::vector<StreamingDataFrame>{frame}, options,
                                   std::move(on_output))) {}

TestDriver::TestDriver(const std::vector<StreamingDataFrame>& frames, TestDriverOptions options,
                       OutputFn on_output)
    : impl_(std::make_unique<Impl>(frames, options, std::move(on_output))) {}

TestDriver::~TestDriver() = default;

void TestDriver::pipe(std::int32_t partition, std::optional<std::string_view> key,
                      std::optional<std::string_view> value, std::int64_t timestamp,
                      const Headers& headers, TimestampType timestamp_type) {
  impl_->pipe(0, partition, key, value, timestamp, timestamp_type, headers);
}

void TestDriver::pipe(const Topic& topic, const Value& value, const Value& key,
                      std::optional<std::int64_t> timestamp, const Headers& headers,
                      std::optional<std::int32_t> partition) {
  impl_->pipe_value(topic, value, key, timestamp, headers, partition);
}

void TestDriver::pipe_raw(const std::string& topic, std::int32_t partition,
                          std::optional<std::string_view> key,
                          std::optional<std::string_view> value, std::int64_t timestamp,
                          const Headers& headers, TimestampType timestamp_type) {
  impl_->pipe(impl_->input_stage(topic), partition, key, value, timestamp, timestamp_type, headers);
}

void TestDriver::advance_clock(std::chrono::milliseconds by) {
  impl_->advance_clock(by);
}

std::int64_t TestDriver::clock() const noexcept {
  return impl_->clock_ms;
}

std::vector<TestRecord> TestDriver::output(const Topic& topic) {
  return impl_->output(topic);
}

void TestDriver::checkpoint() {
  impl_->checkpoint();
}

std::uint64_t TestDriver::produced() const noexcept {
  return impl_->produced;
}

std::size_t TestDriver::state_cache_bytes() const noexcept {
  return impl_->cache_budget ? impl_->cache_budget->used() : 0;
}

std::vector<TestOutput> TestDriver::take_outputs() {
  return std::exchange(impl_->outputs, {});
}

std::vector<Row> TestDriver::take_rows() {
  return std::exchange(impl_->rows, {});
}

}  // namespace streamframe
