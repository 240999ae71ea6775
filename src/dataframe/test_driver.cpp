#include "streamframe/test_driver.hpp"

#include <string>
#include <utility>

#include "dataframe/access.hpp"
#include "dataframe/graph.hpp"
#include "dataframe/partition_task.hpp"
#include "state/memory_store.hpp"
#include "state/transaction.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"
#include "streamframe/state.hpp"

namespace streamframe {

// Drives one PartitionTask per input partition, over in-memory stores, as the run loop drives
// its tasks over RocksDB: the same decoding, forwarding, state and checkpoint code.
struct TestDriver::Impl final : detail::TaskOutput {
  Impl(const StreamingDataFrame& root, TestDriverOptions opts, OutputFn fn)
      : graph(detail::Access::graph(root)), options(opts), on_output(std::move(fn)) {
    if (options.partitions < 1) throw InvalidOperation("TestDriver: partitions must be >= 1");
    for (std::int32_t p = 0; p < options.partitions; ++p) {
      auto task = std::make_unique<detail::PartitionTask>(
          std::vector<const detail::Graph*>{graph.get()}, p, *this);
      for (std::size_t s = 0; s < task->stores().size(); ++s) {
        task->attach(s, std::make_unique<state::MemoryStore>());
      }
      task->set_ready(true);
      tasks.push_back(std::move(task));
      next_offsets.push_back(0);
    }
  }

  void send(const std::string& topic, std::optional<std::string_view> key,
            std::optional<std::string_view> value, std::int64_t timestamp,
            const Headers* headers) override {
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
    detail::PartitionTask& task = *tasks[static_cast<std::size_t>(partition)];
    const std::int64_t offset = next_offsets[static_cast<std::size_t>(partition)]++;
    auto*& current_context = detail::current_message_context();
    const auto* saved = current_context;
    task.begin_message(0, offset, value ? value->size() : 0);
    struct Restore {
      const MessageContext*& slot;
      const MessageContext* saved;
      ~Restore() { slot = saved; }
    } restore{current_context, saved};

    const detail::TaskInput input{key, value, timestamp, timestamp_type};
    if (!task.passthrough().empty()) {
      // As the run loop: validated, not decoded, and the original bytes go out.
      try {
        task.validate(input);
      } catch (const IgnoreMessage&) {
        return;  // TOP-10: dropped, as the run loop does; its offset is used
      }
      (void)task.forward(input, headers.empty() ? nullptr : &headers);
    } else {
      Value key_value;
      values.clear();
      std::int64_t ts = timestamp;
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
    if (options.checkpoint_every > 0 && ++since_checkpoint >= options.checkpoint_every) {
      checkpoint();
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

  std::shared_ptr<detail::Graph> graph;
  TestDriverOptions options;
  OutputFn on_output;
  std::vector<std::unique_ptr<detail::PartitionTask>> tasks;
  std::vector<std::int64_t> next_offsets;
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
