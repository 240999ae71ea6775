// Dead-letter topic against the real broker (SEMANTICS EXT-03, ERR-01; issue 11 part 4).
// Messages that fail deserialization or processing, and a callback answering `dead_letter`:
// each goes to the dead-letter topic once, as consumed (raw key and value bytes, timestamp,
// its own headers, a null one included) plus the streamframe.error.* and streamframe.source.*
// headers, on the partition murmur2 of its raw key picks; the good records around them are
// processed exactly once and the application keeps running; the offsets count as processed.
// Under exactly-once the dead letters belong to the checkpoint's transaction: a reader with
// read_committed sees them once it commits, and a failed checkpoint leaves none visible.
// Everything is judged with plain librdkafka readers (test_app_helpers.hpp, kafka_probe.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <typeindex>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

namespace sft = streamframe::test;

constexpr int kDeadLetterPartitions = 3;
// Input timestamps: distinct and recent. (Timestamps older than the broker's retention.ms let
// it delete the records at once.)
const std::int64_t kBaseTimestamp =
    std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch() - std::chrono::minutes(10))
        .count();

enum class Stage { deserialization, processing, forwarding };

struct DeadLetterCase {
  ProcessingGuarantee guarantee;
  Stage stage;
};

std::string case_name(const ::testing::TestParamInfo<DeadLetterCase>& info) {
  const char* stage = info.param.stage == Stage::deserialization ? "Deserialization"
                      : info.param.stage == Stage::processing    ? "Processing"
                                                                 : "Forwarding";
  return std::string(info.param.guarantee == ProcessingGuarantee::exactly_once ? "ExactlyOnce"
                                                                               : "AtLeastOnce") +
         stage;
}

Isolation isolation_of(ProcessingGuarantee g) {
  return g == ProcessingGuarantee::exactly_once ? Isolation::read_committed
                                                : Isolation::read_uncommitted;
}

std::string good_value(int i) {
  return Value::object({{"i", i}, {"temperature", 10 * i}}).to_json();
}

// A value the stage under test rejects: malformed JSON for the deserializer (and the
// forwarding path's validation), a string in arithmetic for the pipeline (ValueTypeError).
std::string bad_value(Stage stage, int i) {
  if (stage == Stage::processing) {
    return Value::object({{"i", i}, {"temperature", "hot"}}).to_json();
  }
  return R"({"i": )" + std::to_string(i) + R"(, "temperature": )";
}

void build_pipeline(Application& app, Stage stage, const Topic& in, const Topic& out) {
  if (stage == Stage::forwarding) {
    app.dataframe(in).to_topic(out);  // forwards the original bytes
    return;
  }
  auto sdf = app.dataframe(in);
  sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
  sdf.to_topic(out);
}

// The value of header `name` (last one); "<absent>" when missing, "<null>" when null.
std::string header_of(const Headers& headers, const std::string& name) {
  std::string out = "<absent>";
  for (const auto& [k, v] : headers) {
    if (k == name) out = v.value_or("<null>");
  }
  return out;
}

std::int64_t source_offset(const Msg& m) {
  return std::stoll(header_of(m.headers, "streamframe.source.offset"));
}

class DeadLetter : public ::testing::TestWithParam<DeadLetterCase> {
 protected:
  void SetUp() override { REQUIRE_TEST_BROKERS(); }
};

// Offsets 0..8 of one input partition; 1, 3, 5 (null key) and 6 are bad.
TEST_P(DeadLetter, BadMessagesAreDeadLetteredOnceAndTheRestProcessedOnce) {
  const auto [guarantee, stage] = GetParam();
  const std::string in = sft::unique_name("dl-in");
  const std::string out = sft::unique_name("dl-out");
  const std::string dlq = sft::unique_name("dl-dlq");
  const std::string group = sft::unique_name("dl-grp");
  create_topic(in, 1);
  create_topic(out, 1);
  create_topic(dlq, kDeadLetterPartitions);

  const std::map<int, std::optional<std::string>> bad_keys{
      {1, "bad-a"}, {3, "bad-b"}, {5, std::nullopt}, {6, "bad-c-xyz"}};
  std::vector<RawRecord> inputs;
  for (int i = 0; i < 9; ++i) {
    RawRecord r;
    r.timestamp = kBaseTimestamp + 1000 * i;
    if (bad_keys.count(i)) {
      r.key = bad_keys.at(i);
      r.value = bad_value(stage, i);
      r.headers = {{"trace", "t-" + std::to_string(i)}, {"nullh", std::nullopt}, {"empty", ""}};
    } else {
      r.key = "k" + std::to_string(i);
      r.value = good_value(i);
    }
    inputs.push_back(std::move(r));
  }
  produce_raw(in, inputs);

  CallbackLog consumer_log, processing_log, producer_log;
  auto cfg = base_config(group);
  cfg.processing_guarantee = guarantee;
  cfg.commit_every = 2;  // several checkpoints, dead letters in several of them
  cfg.dead_letter_topic = dlq;
  cfg.on_consumer_error = consumer_log.make(ErrorAction::dead_letter);
  cfg.on_processing_error = processing_log.make(ErrorAction::dead_letter);
  cfg.on_producer_error = producer_log.make(ErrorAction::stop);
  std::vector<std::int64_t> processed;
  cfg.on_message_processed = [&](const std::string&, std::int32_t, std::int64_t offset) {
    processed.push_back(offset);
  };
  Application app(cfg);
  build_pipeline(app, stage, app.topic(in), app.topic(out));
  // Not collecting: the production paths (forwarding included). run() returns after 3 s
  // without a message, having committed everything: the errors did not stop it.
  const CaughtError e = capture_error([&] { app.run({.timeout = 3s, .collect = false}); });
  ASSERT_FALSE(e.thrown) << e.what;

  // Each bad message reached its callback once; every offset counts as processed.
  CallbackLog& log = stage == Stage::processing ? processing_log : consumer_log;
  CallbackLog& other = stage == Stage::processing ? consumer_log : processing_log;
  ASSERT_EQ(log.size(), bad_keys.size());
  EXPECT_EQ(other.size(), 0u);
  EXPECT_EQ(producer_log.size(), 0u);
  EXPECT_EQ(processed, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(app.stats().dead_lettered, bad_keys.size());
  EXPECT_EQ(app.stats().errors_skipped, 0u);
  EXPECT_EQ(committed_offset(group, in), 9);

  // The good records, each exactly once, in order.
  const auto outputs = read_topic(out, 30s, isolation_of(guarantee));
  std::vector<int> seen;
  for (const auto& m : outputs) {
    ASSERT_TRUE(m.value.has_value());
    const Value v = Value::from_json(*m.value);
    seen.push_back(static_cast<int>(v["i"].as_int()));
    EXPECT_EQ(m.key, "k" + std::to_string(seen.back()));
  }
  EXPECT_EQ(seen, (std::vector<int>{0, 2, 4, 7, 8}));

  // The dead letters, each once, as consumed plus the error headers.
  auto dead = read_topic(dlq, 30s, isolation_of(guarantee));
  ASSERT_EQ(dead.size(), bad_keys.size());
  std::sort(dead.begin(), dead.end(),
            [](const Msg& a, const Msg& b) { return source_offset(a) < source_offset(b); });
  const std::string type = stage == Stage::processing ? "ValueTypeError" : "SerializationError";
  std::size_t n = 0;
  for (const auto& [offset, key] : bad_keys) {
    SCOPED_TRACE("dead letter of offset " + std::to_string(offset));
    const Msg& m = dead.at(n);
    const RawRecord& original = inputs.at(static_cast<std::size_t>(offset));
    EXPECT_EQ(m.key, key);
    EXPECT_EQ(m.value, original.value);
    EXPECT_EQ(m.timestamp, original.timestamp);
    // KAF-01: murmur2 of the raw key; librdkafka's murmur2 partitioner hashes a null key as
    // an empty one (one fixed partition).
    EXPECT_EQ(m.partition, java_partition(key.value_or(""), kDeadLetterPartitions));
    const auto& call = log.calls.at(n);
    Headers want = original.headers;
    want.emplace_back("streamframe.error.stage",
                      stage == Stage::processing ? "processing" : "deserialization");
    want.emplace_back("streamframe.error.type", type);
    want.emplace_back("streamframe.error.message", call.error.what);
    want.emplace_back("streamframe.source.topic", in);
    want.emplace_back("streamframe.source.partition", "0");
    want.emplace_back("streamframe.source.offset", std::to_string(offset));
    EXPECT_EQ(m.headers, want);
    EXPECT_EQ(call.error.offset, offset);
    EXPECT_NE(call.error.what.find(origin_text(in, 0, offset)), std::string::npos)
        << call.error.what;
    ++n;
  }
  // The keys spread over more than one partition: the partitioner was really used.
  std::set<std::int32_t> partitions;
  for (const auto& m : dead) partitions.insert(m.partition);
  EXPECT_GT(partitions.size(), 1u);

  if (guarantee == ProcessingGuarantee::exactly_once) {
    // Nothing was aborted: a read_uncommitted reader sees no more than read_committed.
    EXPECT_EQ(read_topic(dlq).size(), bad_keys.size());
    EXPECT_EQ(read_topic(out).size(), 5u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Guarantees, DeadLetter,
    ::testing::Values(DeadLetterCase{ProcessingGuarantee::at_least_once, Stage::deserialization},
                      DeadLetterCase{ProcessingGuarantee::at_least_once, Stage::processing},
                      DeadLetterCase{ProcessingGuarantee::at_least_once, Stage::forwarding},
                      DeadLetterCase{ProcessingGuarantee::exactly_once, Stage::deserialization},
                      DeadLetterCase{ProcessingGuarantee::exactly_once, Stage::processing},
                      DeadLetterCase{ProcessingGuarantee::exactly_once, Stage::forwarding}),
    case_name);

// Yields one row per element of a JSON array (TOP-11).
class ArrayRowsDeserializer final : public Deserializer {
 public:
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    const Value parsed = Value::from_json(data);
    for (const auto& v : parsed.as_array()) out.push_back(v);
  }
  std::string_view name() const override { return "array-rows"; }
};

// A message whose rows fail twice is dead-lettered once (with the first error); its other
// rows are processed. Exactly-once, so every output and dead letter is counted exactly.
TEST(DeadLetterOnce, SeveralFailingRowsOfOneMessageGiveOneDeadLetter) {
  REQUIRE_TEST_BROKERS();
  const std::string in = sft::unique_name("dlrows-in");
  const std::string out = sft::unique_name("dlrows-out");
  const std::string dlq = sft::unique_name("dlrows-dlq");
  const std::string group = sft::unique_name("dlrows-grp");
  create_topic(in, 1);
  create_topic(out, 1);
  create_topic(dlq, 1);
  const std::string bad = R"([{"t":1},{"t":"x"},{"t":"y"},{"t":4}])";
  produce_raw(in, {{"k0", bad, kBaseTimestamp, {}}, {"k1", R"([{"t":5}])", kBaseTimestamp, {}}});

  CallbackLog log;
  auto cfg = base_config(group);
  cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
  cfg.dead_letter_topic = dlq;
  cfg.on_processing_error = log.make(ErrorAction::dead_letter);
  Application app(cfg);
  TopicOptions rows;
  rows.value_deserializer =
      std::shared_ptr<const Deserializer>(std::make_shared<ArrayRowsDeserializer>());
  auto sdf = app.dataframe(app.topic(in, rows));
  sdf["u"] = sdf["t"] * 2;
  sdf.to_topic(app.topic(out));
  // Until the third output (the last message's), not until 3 s pass without a message: on a
  // loaded machine the first fetch after the assignment can take that long (it failed once so
  // while a soak ran beside it).
  app.run({.timeout = 30s, .count = 3, .collect = false});

  ASSERT_EQ(log.size(), 2u);  // both failing rows were reported
  const auto outputs = read_topic(out, 30s, Isolation::read_committed);
  std::vector<std::int64_t> u;
  for (const auto& m : outputs) u.push_back(Value::from_json(*m.value)["u"].as_int());
  EXPECT_EQ(u, (std::vector<std::int64_t>{2, 8, 10}));
  const auto dead = read_topic(dlq, 30s, Isolation::read_committed);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].value, bad);
  EXPECT_EQ(header_of(dead[0].headers, "streamframe.error.message"), log.calls[0].error.what);
  EXPECT_EQ(committed_offset(group, in), 2);
}

// A sink whose flush fails while `failing` is set: the checkpoint fails before its commit.
class FailingFlushSink final : public Sink {
 public:
  void add(const Value&, const Value&, std::int64_t, const Headers&, const std::string&,
           std::int32_t, std::int64_t) override {}
  void flush() override {
    if (failing) throw Error("sink flush failed on purpose");
  }
  std::atomic<bool> failing{true};
};

// Exactly-once: a dead letter produced in a checkpoint that then fails is aborted with it
// (written to the log, invisible to read_committed); the restart processes the message again
// and its dead letter commits once.
TEST(DeadLetterOnce, FailedExactlyOnceCheckpointLeavesNoVisibleDeadLetter) {
  REQUIRE_TEST_BROKERS();
  const std::string in = sft::unique_name("dlabort-in");
  const std::string out = sft::unique_name("dlabort-out");
  const std::string dlq = sft::unique_name("dlabort-dlq");
  const std::string group = sft::unique_name("dlabort-grp");
  create_topic(in, 1);
  create_topic(out, 1);
  create_topic(dlq, 1);
  produce_raw(in, {{"k0", good_value(0), kBaseTimestamp, {}},
                   {"bad", bad_value(Stage::processing, 1), kBaseTimestamp, {}},
                   {"k2", good_value(2), kBaseTimestamp, {}}});

  auto sink = std::make_shared<FailingFlushSink>();
  auto run_once = [&] {
    auto cfg = base_config(group);
    cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
    cfg.commit_interval = 60s;  // the only checkpoint is the final one
    cfg.dead_letter_topic = dlq;
    cfg.on_processing_error = [](const std::exception&, const ErrorContext&) {
      return ErrorAction::dead_letter;
    };
    Application app(cfg);
    auto sdf = app.dataframe(app.topic(in));
    sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
    sdf.to_topic(app.topic(out));
    sdf.sink(sink);
    return capture_error([&] { app.run({.timeout = 3s, .collect = false}); });
  };

  const CaughtError failed = run_once();
  ASSERT_TRUE(failed.thrown) << "the checkpoint did not fail";
  EXPECT_NE(failed.what.find("sink flush failed on purpose"), std::string::npos) << failed.what;
  EXPECT_EQ(committed_offset(group, in), RD_KAFKA_OFFSET_INVALID);
  // The dead letter was written and its transaction aborted: read_uncommitted sees it,
  // read_committed does not (nor the outputs).
  EXPECT_EQ(read_topic(dlq).size(), 1u);
  EXPECT_TRUE(read_topic(dlq, 30s, Isolation::read_committed).empty());
  EXPECT_TRUE(read_topic(out, 30s, Isolation::read_committed).empty());

  sink->failing = false;
  const CaughtError again = run_once();
  ASSERT_FALSE(again.thrown) << again.what;
  EXPECT_EQ(committed_offset(group, in), 3);
  const auto dead = read_topic(dlq, 30s, Isolation::read_committed);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].key, "bad");
  EXPECT_EQ(header_of(dead[0].headers, "streamframe.source.offset"), "1");
  EXPECT_EQ(read_topic(out, 30s, Isolation::read_committed).size(), 2u);
  EXPECT_EQ(read_topic(dlq).size(), 2u);  // the aborted copy stays in the log, hidden
}

class DeadLetterStops : public ::testing::TestWithParam<ProcessingGuarantee> {
 protected:
  void SetUp() override { REQUIRE_TEST_BROKERS(); }
};

// A dead letter that cannot be delivered (here: larger than the dead-letter topic accepts)
// stops the application whatever on_producer_error says: skipping it would lose the message.
// The failing message's offset is not committed.
TEST_P(DeadLetterStops, UndeliverableDeadLetterStopsTheApplication) {
  const ProcessingGuarantee guarantee = GetParam();
  const std::string in = sft::unique_name("dlbig-in");
  const std::string out = sft::unique_name("dlbig-out");
  const std::string dlq = sft::unique_name("dlbig-dlq");
  const std::string group = sft::unique_name("dlbig-grp");
  create_topic(in, 1);
  create_topic(out, 1);
  create_topic(dlq, 1, {{"max.message.bytes", "1000"}});
  produce_raw(
      in,
      {{"k0", good_value(0), kBaseTimestamp, {}},
       {"big", bad_value(Stage::deserialization, 1) + std::string(3000, ' '), kBaseTimestamp, {}},
       {"k2", good_value(2), kBaseTimestamp, {}}});

  CallbackLog producer_log;
  auto cfg = base_config(group);
  cfg.processing_guarantee = guarantee;
  cfg.commit_every = 1;
  cfg.dead_letter_topic = dlq;
  cfg.on_consumer_error = [](const std::exception&, const ErrorContext&) {
    return ErrorAction::dead_letter;
  };
  cfg.on_producer_error = producer_log.make(ErrorAction::skip);
  Application app(cfg);
  build_pipeline(app, Stage::deserialization, app.topic(in), app.topic(out));
  const auto start = Clock::now();
  const CaughtError e = capture_error([&] { app.run({.timeout = 30s, .collect = false}); });
  EXPECT_LT(seconds_since(start), 30.0);
  ASSERT_TRUE(e.thrown) << "run() returned without an error";
  EXPECT_EQ(e.type, std::type_index(typeid(KafkaError))) << e.what;
  EXPECT_NE(e.what.find("dead-letter"), std::string::npos) << e.what;
  EXPECT_NE(e.what.find(dlq), std::string::npos) << e.what;
  EXPECT_EQ(producer_log.size(), 0u);  // not the producer callback's to decide
  EXPECT_EQ(committed_offset(group, in), 1);
  EXPECT_TRUE(read_topic(dlq, 30s, isolation_of(guarantee)).empty());
}

// ERR-01: for a producer delivery error, `dead_letter` means stop; nothing is dead-lettered.
TEST_P(DeadLetterStops, ProducerErrorAnsweredWithDeadLetterStops) {
  const ProcessingGuarantee guarantee = GetParam();
  const std::string in = sft::unique_name("dlprod-in");
  const std::string out = sft::unique_name("dlprod-out");
  const std::string dlq = sft::unique_name("dlprod-dlq");
  const std::string group = sft::unique_name("dlprod-grp");
  create_topic(in, 1);
  create_topic(out, 1, {{"max.message.bytes", "1000"}});
  create_topic(dlq, 1);
  produce_raw(
      in,
      {{"k0",
        Value::object({{"i", 0}, {"temperature", 1}, {"pad", std::string(3000, 'p')}}).to_json(),
        kBaseTimestamp,
        {}}});
  CallbackLog producer_log;
  auto cfg = base_config(group);
  cfg.processing_guarantee = guarantee;
  cfg.dead_letter_topic = dlq;
  cfg.on_producer_error = producer_log.make(ErrorAction::dead_letter);
  Application app(cfg);
  build_pipeline(app, Stage::processing, app.topic(in), app.topic(out));
  const CaughtError e = capture_error([&] { app.run({.timeout = 30s, .collect = false}); });
  ASSERT_TRUE(e.thrown) << "run() returned without an error";
  EXPECT_EQ(e.type, std::type_index(typeid(KafkaError))) << e.what;
  EXPECT_NE(e.what.find(out), std::string::npos) << e.what;
  EXPECT_EQ(producer_log.size(), 1u);
  EXPECT_EQ(app.stats().dead_lettered, 0u);
  EXPECT_TRUE(read_topic(dlq).empty());
  const std::int64_t committed = committed_offset(group, in);
  EXPECT_TRUE(committed == RD_KAFKA_OFFSET_INVALID || committed == 0) << committed;
}

INSTANTIATE_TEST_SUITE_P(Guarantees, DeadLetterStops,
                         ::testing::Values(ProcessingGuarantee::at_least_once,
                                           ProcessingGuarantee::exactly_once),
                         [](const ::testing::TestParamInfo<ProcessingGuarantee>& info) {
                           return std::string(info.param == ProcessingGuarantee::exactly_once
                                                  ? "ExactlyOnce"
                                                  : "AtLeastOnce");
                         });

// The dead-letter topic is created at run() when absent (APP-08) and refused when absent with
// auto_create_topics off.
TEST(DeadLetterTopic, CreatedAtRunOrTopicNotFound) {
  REQUIRE_TEST_BROKERS();
  const std::string in = sft::unique_name("dlnew-in");
  const std::string dlq = sft::unique_name("dlnew-dlq");
  create_topic(in, 1);
  create_topic(in + "-out", 1);
  {
    auto cfg = base_config(sft::unique_name("dlnew-grp"));
    cfg.dead_letter_topic = dlq;
    cfg.auto_create_topics = false;
    Application app(cfg);
    app.dataframe(app.topic(in)).to_topic(app.topic(in + "-out"));
    const CaughtError e = capture_error([&] { app.run({.timeout = 1s}); });
    ASSERT_TRUE(e.thrown);
    EXPECT_EQ(e.type, std::type_index(typeid(TopicNotFound))) << e.what;
    EXPECT_NE(e.what.find("dead_letter_topic"), std::string::npos) << e.what;
    EXPECT_NE(e.what.find(dlq), std::string::npos) << e.what;
  }
  EXPECT_EQ(partition_count(dlq), std::nullopt);
  {
    auto cfg = base_config(sft::unique_name("dlnew-grp"));
    cfg.dead_letter_topic = dlq;
    Application app(cfg);
    app.dataframe(app.topic(in)).to_topic(app.topic(in + "-out"));
    app.run({.timeout = 1s});
  }
  EXPECT_EQ(partition_count(dlq), 1);
}

}  // namespace
}  // namespace streamframe::apptest
