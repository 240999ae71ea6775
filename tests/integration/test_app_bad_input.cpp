// Bad input against the real broker (issue 2, "Bad input"; SEMANTICS ERR-01, CK-03, TOP-02..05,
// TOP-09, SER-01/02): each bad record reaches the matching error callback with a typed error
// naming topic, partition and offset; by default run() stops with that error and the failing
// offset stays uncommitted so a restart re-reads it; a callback answering `skip` drops the
// record, counts it, and everything after it is processed.
#include <gtest/gtest.h>

#include <string>
#include <typeindex>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

enum class Stage { consumer, processing };

// The issue's pipeline without the filter, so every good record gives one output.
void build_pipeline(Application& app, const Topic& in, const Topic& out) {
  auto sdf = app.dataframe(in);
  sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
  sdf.to_topic(out);
}

struct BadInputCase {
  Stage stage;
  std::type_index expected;  // exact dynamic type of the error
  std::optional<std::string> bad_key;
  std::optional<std::string> bad_value;
  std::string key_deserializer = "bytes";
};

// Good records carry i = 0, 1, 2, 4, 5, 6; the bad one sits at offset 3.
constexpr std::int64_t kBadOffset = 3;
const std::vector<int> kGoodBefore{0, 1, 2};
const std::vector<int> kGoodAfter{4, 5, 6};

std::string good_value(int i) {
  return Value::object({{"i", i}, {"temperature", 10 * i}}).to_json();
}

void expect_good_output(const Value& out, int i) {
  ASSERT_TRUE(out.is_object()) << out.to_json();
  EXPECT_EQ(out["i"], Value(i)) << out.to_json();
  EXPECT_EQ(out["temperature_F"], Value(10.0 * i * 9 / 5 + 32)) << out.to_json();
}

void run_bad_input_case(const BadInputCase& c) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("bad-in");
  const std::string out = streamframe::test::unique_name("bad-out");
  const std::string group = streamframe::test::unique_name("bad-grp");
  create_topic(in, 1);
  create_topic(out, 1);

  TopicOptions in_options;
  in_options.key_deserializer = c.key_deserializer;
  {
    Application feeder(base_config(group));
    Producer producer = feeder.get_producer();
    for (int i : kGoodBefore) producer.produce(in, "k" + std::to_string(i), good_value(i));
    producer.produce(in, c.bad_key, c.bad_value);
    for (int i : kGoodAfter) producer.produce(in, "k" + std::to_string(i), good_value(i));
    ASSERT_TRUE(producer.flush(30s));
  }
  const std::string origin = origin_text(in, 0, kBadOffset);
  auto expect_located = [&](const CaughtError& e, const char* where) {
    EXPECT_TRUE(e.thrown) << where;
    EXPECT_EQ(e.type, c.expected) << where << ": got " << e.type.name() << ": " << e.what;
    EXPECT_TRUE(e.is_streamframe_error) << where;
    EXPECT_TRUE(e.has_origin) << where;
    EXPECT_EQ(e.topic, in) << where;
    EXPECT_EQ(e.partition, 0) << where;
    EXPECT_EQ(e.offset, kBadOffset) << where;
    EXPECT_NE(e.what.find(origin), std::string::npos) << where << ": " << e.what;
  };

  // (1) Default: no callback. run() stops with the typed error; the records before it were
  // checkpointed (commit_every=1), the failing offset was not.
  {
    auto cfg = base_config(group);
    cfg.commit_every = 1;
    Application app(cfg);
    build_pipeline(app, app.topic(in, in_options), app.topic(out));
    const auto start = Clock::now();
    const CaughtError e = capture_error([&] { app.run({.timeout = 20s}); });
    ASSERT_TRUE(e.thrown) << "run() returned without an error";
    EXPECT_LT(seconds_since(start), 20.0);
    expect_located(e, "default run()");
    EXPECT_EQ(app.stats().errors_skipped, 0u);
  }
  EXPECT_EQ(committed_offset(group, in), kBadOffset);

  // A callback answering `stop`: called once with the same typed error and the raw message; a
  // new app in the same group starts at the failing offset and meets the same error there.
  {
    CallbackLog consumer_log, processing_log, producer_log;
    auto cfg = base_config(group);
    cfg.commit_every = 1;
    cfg.on_consumer_error = consumer_log.make(ErrorAction::stop);
    cfg.on_processing_error = processing_log.make(ErrorAction::stop);
    cfg.on_producer_error = producer_log.make(ErrorAction::stop);
    Application app(cfg);
    build_pipeline(app, app.topic(in, in_options), app.topic(out));
    const CaughtError e = capture_error([&] { app.run({.timeout = 20s}); });
    ASSERT_TRUE(e.thrown) << "run() returned without an error";
    expect_located(e, "restarted run()");

    CallbackLog& expected_log = c.stage == Stage::consumer ? consumer_log : processing_log;
    CallbackLog& other_log = c.stage == Stage::consumer ? processing_log : consumer_log;
    ASSERT_EQ(expected_log.size(), 1u);
    EXPECT_EQ(other_log.size(), 0u);
    EXPECT_EQ(producer_log.size(), 0u);
    const auto& call = expected_log.calls.front();
    expect_located(call.error, "callback");
    ASSERT_TRUE(call.has_message);
    EXPECT_EQ(call.message.topic, in);
    EXPECT_EQ(call.message.partition, 0);
    EXPECT_EQ(call.message.offset, kBadOffset);
    EXPECT_EQ(call.message.key, c.bad_key);
    EXPECT_EQ(call.message.value, c.bad_value);
    EXPECT_EQ(call.has_row, c.stage == Stage::processing);
  }
  EXPECT_EQ(committed_offset(group, in), kBadOffset);

  // (2) A callback answering `skip`: the bad record is dropped and counted, the rest processed.
  {
    CallbackLog consumer_log, processing_log;
    auto cfg = base_config(group);
    cfg.on_consumer_error = consumer_log.make(ErrorAction::skip);
    cfg.on_processing_error = processing_log.make(ErrorAction::skip);
    std::vector<std::int64_t> processed;  // a skipped message counts as processed (APP-16)
    cfg.on_message_processed = [&](const std::string&, std::int32_t, std::int64_t offset) {
      processed.push_back(offset);
    };
    Application app(cfg);
    build_pipeline(app, app.topic(in, in_options), app.topic(out));
    const auto outputs = app.run({.timeout = 20s, .count = kGoodAfter.size()});
    EXPECT_EQ(processed, (std::vector<std::int64_t>{3, 4, 5, 6}));
    ASSERT_EQ(outputs.size(), kGoodAfter.size());
    for (std::size_t k = 0; k < outputs.size(); ++k) expect_good_output(outputs[k], kGoodAfter[k]);
    EXPECT_EQ(app.stats().errors_skipped, 1u);
    EXPECT_EQ(consumer_log.size() + processing_log.size(), 1u);
    EXPECT_EQ((c.stage == Stage::consumer ? consumer_log : processing_log).size(), 1u);
  }
  EXPECT_EQ(committed_offset(group, in), kBadOffset + 1 + std::int64_t(kGoodAfter.size()));

  // Output topic: every good record exactly once (each checkpoint flushed before committing),
  // nothing for the bad one.
  const auto produced = read_topic(out);
  std::vector<int> seen;
  for (const auto& m : produced) {
    ASSERT_TRUE(m.value.has_value());
    const Value v = Value::from_json(*m.value);
    seen.push_back(static_cast<int>(v["i"].as_int()));
    EXPECT_EQ(m.key, "k" + std::to_string(seen.back()));
  }
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 4, 5, 6}));
}

TEST(AppBadInput, MalformedJsonIsSerializationErrorOnConsumerCallback) {
  run_bad_input_case({Stage::consumer, typeid(SerializationError), "kbad",
                      std::string(R"({"i": 3, "temperature": )")});
}

TEST(AppBadInput, StringTimesNumberIsValueTypeErrorOnProcessingCallback) {
  run_bad_input_case({Stage::processing, typeid(ValueTypeError), "kbad",
                      std::string(R"({"i": 3, "temperature": "hot"})")});
}

TEST(AppBadInput, MissingColumnIsColumnDoesNotExist) {
  run_bad_input_case({Stage::processing, typeid(ColumnDoesNotExist), "kbad",
                      std::string(R"({"i": 3, "humidity": 40})")});
}

// A tombstone enters as a null value (TOP-09); reading a column of a non-object value is
// InvalidColumnReference (SER-01).
TEST(AppBadInput, TombstoneIsInvalidColumnReference) {
  run_bad_input_case({Stage::processing, typeid(InvalidColumnReference), "kbad", std::nullopt});
}

// A null column in arithmetic is ValueTypeError (SER-02: null operands too).
TEST(AppBadInput, NullColumnValueIsValueTypeError) {
  run_bad_input_case({Stage::processing, typeid(ValueTypeError), "kbad",
                      std::string(R"({"i": 3, "temperature": null})")});
}

// A 0-byte value is not a tombstone: the JSON deserializer rejects it.
TEST(AppBadInput, EmptyMessageIsSerializationError) {
  run_bad_input_case({Stage::consumer, typeid(SerializationError), "kbad", std::string()});
}

TEST(AppBadInput, InvalidUtf8KeyWithStringDeserializerIsSerializationError) {
  run_bad_input_case({Stage::consumer, typeid(SerializationError), std::string("\xff\xfe\x80k", 4),
                      good_value(3), "string"});
}

// A skipped bad record that is the last one of its partition is still committed: a new app in
// the group does not meet it again (ERR-01: skip => dropped, offset stored).
TEST(AppBadInput, SkippedLastRecordIsCommitted) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("badlast-in");
  const std::string out = streamframe::test::unique_name("badlast-out");
  const std::string group = streamframe::test::unique_name("badlast-grp");
  create_topic(in, 1);
  {
    CallbackLog log;
    auto cfg = base_config(group);
    cfg.on_consumer_error = log.make(ErrorAction::skip);
    Application app(cfg);
    build_pipeline(app, app.topic(in), app.topic(out));
    {
      Producer producer = app.get_producer();
      producer.produce(in, "k0", good_value(0));
      producer.produce(in, "k1", good_value(1));
      producer.produce(in, "k2", std::string("not json"));
      ASSERT_TRUE(producer.flush(30s));
    }
    const auto outputs = app.run({.timeout = 2s});
    ASSERT_EQ(outputs.size(), 2u);
    EXPECT_EQ(log.size(), 1u);
    EXPECT_EQ(app.stats().errors_skipped, 1u);
  }
  EXPECT_EQ(committed_offset(group, in), 3);
  Application again(base_config(group));  // no callback: meeting the record again would throw
  build_pipeline(again, again.topic(in), again.topic(out));
  EXPECT_TRUE(again.run({.timeout = 1s}).empty());
}

// A deserializer that yields one row per element of a JSON array (TOP-11).
class ArrayRowsDeserializer : public Deserializer {
 public:
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    const Value parsed = Value::from_json(data);
    for (const auto& v : parsed.as_array()) out.push_back(v);
  }
  std::string_view name() const override { return "array-rows"; }
};

// A processing error in one of several rows of a message: `skip` goes on with the next row,
// and the outputs of the rows before it stay (ERR-01).
TEST(AppBadInput, ProcessingErrorSkipContinuesWithNextRowOfTheMessage) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("badrow-in");
  const std::string group = streamframe::test::unique_name("badrow-grp");
  create_topic(in, 1);
  CallbackLog log;
  auto cfg = base_config(group);
  cfg.on_processing_error = log.make(ErrorAction::skip);
  Application app(cfg);
  {
    Producer producer = app.get_producer();
    producer.produce(in, "k", std::string(R"([{"t": 1}, {"t": "x"}, {"t": 3}])"));
    producer.produce(in, "k", std::string(R"([{"t": 4}])"));
    ASSERT_TRUE(producer.flush(30s));
  }
  TopicOptions options;
  options.value_deserializer =
      std::shared_ptr<const Deserializer>(std::make_shared<ArrayRowsDeserializer>());
  auto sdf = app.dataframe(app.topic(in, options));
  sdf["u"] = sdf["t"] * 2;
  const auto outputs = app.run({.timeout = 10s, .count = 3});
  const auto st = app.stats();
  ASSERT_EQ(outputs.size(), 3u) << "consumed " << st.messages_consumed << " rows "
                                << st.rows_processed << " skipped " << st.errors_skipped
                                << " calls " << log.size() << ": "
                                << (log.size() ? log.calls[0].error.what : "");
  EXPECT_EQ(outputs[0]["u"], Value(2));
  EXPECT_EQ(outputs[1]["u"], Value(6));
  EXPECT_EQ(outputs[2]["u"], Value(8));
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log.calls[0].error.type, std::type_index(typeid(ValueTypeError)));
  EXPECT_EQ(log.calls[0].error.offset, 0);
  EXPECT_TRUE(log.calls[0].has_row);
  EXPECT_EQ(app.stats().errors_skipped, 1u);
  EXPECT_EQ(committed_offset(group, in), 2);
}

// A 5 MB record on topics that allow 8 MiB messages, with the client limits raised to match,
// is valid Kafka data: it must go through the pipeline intact, not crash, hang or be dropped.
TEST(AppBadInput, FiveMegabyteMessageIsProcessed) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("big-in");
  const std::string out = streamframe::test::unique_name("big-out");
  const std::string group = streamframe::test::unique_name("big-grp");
  const std::map<std::string, std::string> big_topic{{"max.message.bytes", "8388608"}};
  auto cfg = base_config(group);
  cfg.producer_extra_config = {{"message.max.bytes", "8388608"}};
  Application app(cfg);
  TopicOptions options;
  options.config = TopicConfig{1, 1, big_topic};
  const Topic tin = app.topic(in, options);
  const Topic tout = app.topic(out, options);
  EXPECT_EQ(topic_config_value(in, "max.message.bytes"), "8388608");
  build_pipeline(app, tin, tout);

  const std::string payload(5 * 1024 * 1024, 'x');
  const std::string big =
      Value::object({{"i", 1}, {"temperature", 10}, {"payload", payload}}).to_json();
  ASSERT_GT(big.size(), 5u * 1024 * 1024);
  {
    Producer producer = app.get_producer();
    producer.produce(in, "k0", good_value(0));
    producer.produce(in, "k1", big);
    producer.produce(in, "k2", good_value(2));
    ASSERT_TRUE(producer.flush(60s));
  }
  const auto start = Clock::now();
  const auto outputs = app.run({.timeout = 30s, .count = 3});
  EXPECT_LT(seconds_since(start), 30.0);
  ASSERT_EQ(outputs.size(), 3u);
  expect_good_output(outputs[0], 0);
  expect_good_output(outputs[1], 1);
  EXPECT_EQ(outputs[1]["payload"].as_string().size(), payload.size());
  EXPECT_EQ(outputs[1]["payload"], Value(payload));
  expect_good_output(outputs[2], 2);
  EXPECT_EQ(app.stats().errors_skipped, 0u);
  EXPECT_EQ(committed_offset(group, in), 3);

  const auto produced = read_topic(out);
  ASSERT_EQ(produced.size(), 3u);
  ASSERT_TRUE(produced[1].value.has_value());
  EXPECT_GT(produced[1].value->size(), payload.size());
  const Value v = Value::from_json(*produced[1].value);
  EXPECT_EQ(v["payload"].as_string().size(), payload.size());
  EXPECT_EQ(v["temperature_F"], Value(50.0));
}

// The same 5 MB output towards a topic that keeps the broker's default limit (about 1 MB)
// cannot be delivered: a typed KafkaError reaches on_producer_error and run() stops with it
// within bounded time; the input record is not committed.
TEST(AppBadInput, FiveMegabyteOutputOverTopicLimitIsTypedProducerError) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("big2-in");
  const std::string out = streamframe::test::unique_name("big2-out");
  const std::string group = streamframe::test::unique_name("big2-grp");
  create_topic(in, 1, {{"max.message.bytes", "8388608"}});
  create_topic(out, 1);  // broker default max.message.bytes
  CallbackLog producer_log;
  auto cfg = base_config(group);
  cfg.producer_extra_config = {{"message.max.bytes", "8388608"}};
  cfg.on_producer_error = producer_log.make(ErrorAction::stop);
  Application app(cfg);
  build_pipeline(app, app.topic(in), app.topic(out));
  {
    Producer producer = app.get_producer();
    producer.produce(
        in, "k1",
        Value::object({{"i", 1}, {"temperature", 10}, {"payload", std::string(5 << 20, 'y')}})
            .to_json());
    ASSERT_TRUE(producer.flush(60s));
  }
  const auto start = Clock::now();
  const CaughtError e = capture_error([&] { app.run({.timeout = 30s}); });
  EXPECT_LT(seconds_since(start), 30.0);
  ASSERT_TRUE(e.thrown) << "run() returned without an error";
  EXPECT_EQ(e.type, std::type_index(typeid(KafkaError))) << e.what;
  EXPECT_NE(e.what.find(out), std::string::npos) << e.what;
  ASSERT_EQ(producer_log.size(), 1u);
  EXPECT_EQ(producer_log.calls[0].error.type, std::type_index(typeid(KafkaError)));
  const std::int64_t committed = committed_offset(group, in);
  EXPECT_TRUE(committed == RD_KAFKA_OFFSET_INVALID || committed == 0) << committed;
}

}  // namespace
}  // namespace streamframe::apptest
