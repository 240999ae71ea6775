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
//
// A whole application (several input topics, pipelines that feed each other):
//
//   TestDriver driver(app);
//   driver.pipe(app.topic("orders"), Value::from_json(R"({"amount":12})"), Value("o-1"));
//   for (auto& r : driver.output(app.topic("totals"))) ... r.key, r.value (Values)
//
// A record a pipeline produces to a topic that is an input of the application (or to a
// group_by repartition topic) is processed before pipe() returns, in the order produced, as
// the application would consume it; one produced to an input topic is also an output.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamframe/dataframe.hpp"
#include "streamframe/record.hpp"
#include "streamframe/topic.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

class Application;

struct TestDriverOptions {
  // Partitions of every input topic (each with its own state and stream time); 0 = each
  // topic's own TopicConfig::num_partitions. A group_by repartition topic has the partition
  // count of its topic definition.
  int partitions = 0;
  // Records between automatic checkpoints (0 = only when checkpoint() is called).
  std::uint64_t checkpoint_every = 10000;
  // Keep the rows that leave the pipeline's leaves for take_rows(). Off when only the produced
  // messages matter (a long run would otherwise hold every row in memory).
  bool collect_rows = true;
  // Rebuild every operator's in-memory state from its store before each record, so every
  // record also goes through the stored form (what a restart or a rebalance does). Slow; for
  // tests of the store codecs.
  bool reload_state = false;
  // The driver's processing-time clock at the start, in ms (advance_clock moves it; pipe()
  // without a timestamp uses it).
  std::int64_t start_time = 0;
  // Bytes the caches in front of the stores (open windows, recently read state) of every
  // partition may keep after a checkpoint, like the engine's half of
  // ApplicationConfig::state_memory_budget; cold entries are dropped and read back from the
  // stores when needed. 0 = no bound.
  std::size_t state_cache_budget = 0;
};

// One message the pipeline produced.
struct TestOutput {
  std::string topic;
  std::optional<std::string> key;
  std::optional<std::string> value;  // nullopt: a tombstone
  std::int64_t timestamp = 0;
  Headers headers;
};

// One produced message, decoded with the deserializers of the topic passed to output().
struct TestRecord {
  Value key;    // null when the message had no key
  Value value;  // null for a tombstone
  std::int64_t timestamp = 0;
  Headers headers;
  // The partition the producer's murmur2 partitioner picks for the key among the topic's
  // TopicConfig::num_partitions, and the record's position in that partition among the
  // records output() returned for it.
  std::int32_t partition = 0;
  std::int64_t offset = 0;
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
  // The pipelines of several input topics (one frame of each; every graph downstream of them
  // runs too). Two frames of one input topic are an InvalidOperation.
  explicit TestDriver(const std::vector<StreamingDataFrame>& frames, TestDriverOptions options = {},
                      OutputFn on_output = nullptr);
  // Every pipeline declared on `app` (app.dataframe(...) and what group_by added), like Kafka
  // Streams' TopologyTestDriver over a topology. `app` is only read here: nothing connects to
  // its broker, and it must outlive no part of the driver.
  explicit TestDriver(Application& app, TestDriverOptions options = {},
                      OutputFn on_output = nullptr);
  ~TestDriver();
  TestDriver(const TestDriver&) = delete;
  TestDriver& operator=(const TestDriver&) = delete;

  // Feeds one message to partition `partition` of the (first) input topic (out of range:
  // InvalidOperation): deserialized with the topic's deserializers and run through the
  // pipeline exactly as the run loop would (a pipeline that only forwards messages forwards
  // their original bytes). `timestamp_type` is what a consumer would report and what the
  // topic's timestamp extractor sees (TOP-12). Deserialization and processing errors throw.
  void pipe(std::int32_t partition, std::optional<std::string_view> key,
            std::optional<std::string_view> value, std::int64_t timestamp,
            const Headers& headers = {}, TimestampType timestamp_type = TimestampType::create_time);

  // Feeds one record to the input topic `topic` (by name; InvalidOperation when no pipeline
  // of the driver reads it, or it is a repartition topic), serialized with `topic`'s key and
  // value serializers as a producer would: a null key is no key, a null value a tombstone.
  // `timestamp` empty = the driver's clock; `partition` empty = the partition the producer's
  // murmur2 partitioner picks for the key bytes.
  void pipe(const Topic& topic, const Value& value, const Value& key = Value(),
            std::optional<std::int64_t> timestamp = std::nullopt, const Headers& headers = {},
            std::optional<std::int32_t> partition = std::nullopt);
  // The same with the bytes a consumer would receive, to partition `partition` of `topic`.
  void pipe_raw(const std::string& topic, std::int32_t partition,
                std::optional<std::string_view> key, std::optional<std::string_view> value,
                std::int64_t timestamp, const Headers& headers = {},
                TimestampType timestamp_type = TimestampType::create_time);

  // Moves the driver's processing-time clock forward by `by` (>= 0) and lets every operator
  // that acts on the clock act (idle closing of windows, EXT-02), as the run loop does on each
  // turn; what that produces is processed until quiet, as in pipe(). The clock starts at 0 and
  // is the one operators read (the application's clock is not used by the driver).
  void advance_clock(std::chrono::milliseconds by);
  // The driver's processing-time clock in ms.
  std::int64_t clock() const noexcept;

  // Writes every partition's in-memory operator state to its store (what a commit does).
  void checkpoint();
  void commit() { checkpoint(); }

  // Messages produced so far (also those handed to on_output).
  std::uint64_t produced() const noexcept;
  // The estimated bytes the caches in front of the stores held at the last checkpoint (0
  // without state_cache_budget).
  std::size_t state_cache_bytes() const noexcept;
  // Collected outputs since the last call (empty when on_output is set).
  std::vector<TestOutput> take_outputs();
  // The collected outputs to `topic` (by name) since they were last taken, in produced order,
  // decoded with `topic`'s key and value deserializers (a deserializer that yields several
  // rows per message is a SerializationError here); they are removed from what
  // take_outputs() returns.
  std::vector<TestRecord> output(const Topic& topic);
  // Rows that left the pipeline's leaves since the last call, as sdf.test() returns them (a
  // to_topic() at a leaf is a leaf too: its rows are here and in the outputs).
  std::vector<Row> take_rows();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamframe
