// Runs a whole pipeline in-process, without Kafka: messages go in as the bytes a consumer
// would receive (key, value, timestamp, partition) and what the pipeline produces comes out as
// the bytes a producer would send. Like Kafka Streams' TopologyTestDriver: for tests of
// pipelines with to_topic(), and for measuring the engine on its own (bench/nexmark).
//
//   auto sdf = app.dataframe(app.topic("in"));
//   sdf.tumbling_window(10s).count().final().to_topic(app.topic("out"));
//   TestDriver driver(sdf, {.partitions = 4});
//   driver.pipe(0, "k", R"({"x":1})", 1000);
//   for (auto& o : driver.take_outputs()) ...
//
// Each input partition has its own state (in memory), stream time and message offsets, as
// it would on Kafka; a checkpoint writes the partitions' in-memory operator state back to
// their stores, as the run loop does at each commit. Errors are not routed to the
// application's error callbacks: they propagate to the caller of pipe(), with the partition's
// state as it was when the record failed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamframe/dataframe.hpp"
#include "streamframe/record.hpp"

namespace streamframe {

struct TestDriverOptions {
  // Input partitions (each with its own state and stream time).
  int partitions = 1;
  // Records between automatic checkpoints (0 = only when checkpoint() is called).
  std::uint64_t checkpoint_every = 10000;
  // Keep the rows that leave the pipeline's leaves for take_rows(). Off when only the produced
  // messages matter (a long run would otherwise hold every row in memory).
  bool collect_rows = true;
  // Rebuild every operator's in-memory state from its store before each record, so every
  // record also goes through the stored form (what a restart or a rebalance does). Slow; for
  // tests of the store codecs.
  bool reload_state = false;
};

// One message the pipeline produced.
struct TestOutput {
  std::string topic;
  std::optional<std::string> key;
  std::optional<std::string> value;  // nullopt: a tombstone
  std::int64_t timestamp = 0;
  Headers headers;
};

class TestDriver {
 public:
  // Called for every produced message instead of collecting it; the views are valid only
  // during the call (the driver reuses its buffers).
  using OutputFn =
      std::function<void(const std::string& topic, std::optional<std::string_view> key,
                         std::optional<std::string_view> value, std::int64_t timestamp)>;

  // `frame`: any frame of the pipeline; the whole pipeline of its input topic runs (as
  // sdf.test() does). With group_by, every hop runs in-process: a record produced to a
  // repartition topic goes to the partition its key hashes to (as the producer's murmur2
  // partitioner picks; the topic's partition count) and is processed before pipe() returns;
  // it is not an output. `on_output` empty => outputs are collected (take_outputs()).
  explicit TestDriver(const StreamingDataFrame& frame, TestDriverOptions options = {},
                      OutputFn on_output = nullptr);
  ~TestDriver();
  TestDriver(const TestDriver&) = delete;
  TestDriver& operator=(const TestDriver&) = delete;

  // Feeds one message to input partition `partition` (0 <= partition < options.partitions,
  // else InvalidOperation): deserialized with the topic's deserializers and run through the
  // pipeline exactly as the run loop would (a pipeline that only forwards messages forwards
  // their original bytes). `timestamp_type` is what a consumer would report and what the
  // topic's timestamp extractor sees (TOP-12). Deserialization and processing errors throw.
  void pipe(std::int32_t partition, std::optional<std::string_view> key,
            std::optional<std::string_view> value, std::int64_t timestamp,
            const Headers& headers = {}, TimestampType timestamp_type = TimestampType::create_time);

  // Writes every partition's in-memory operator state to its store.
  void checkpoint();

  // Messages produced so far (also those handed to on_output).
  std::uint64_t produced() const noexcept;
  // Collected outputs since the last call (empty when on_output is set).
  std::vector<TestOutput> take_outputs();
  // Rows that left the pipeline's leaves since the last call, as sdf.test() returns them (a
  // to_topic() at a leaf is a leaf too: its rows are here and in the outputs).
  std::vector<Row> take_rows();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamframe
