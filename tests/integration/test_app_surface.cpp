// Public API that had no test, against the real broker: to_topic with a topic-choosing callable and
// with key= (SDF-09, KAF-01), a deserializer throwing IgnoreMessage (TOP-10), serializer
// extra_headers (TOP-13), stop(fail=true) and stop() (APP-21) and producer_poll_timeout (§1,
// APP-25). Outputs, headers, partitions and committed offsets are read back with raw librdkafka
// clients (test_app_helpers.hpp).
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

using streamframe::test::unique_name;

// Record timestamps for the inputs: a minute ago. Much older ones (e.g. 1970 or 2020) are past
// the broker's retention (7 days), and its periodic retention check deletes them, inputs or
// outputs, at any moment of a test.
std::int64_t recent_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() -
         60000;
}

// ---------------------------------------------------------------------------------------------
// to_topic (SDF-09)

// A callable picks the topic per record from its value; key= changes only the produced key:
// value, headers and timestamp are the input's, and the partition is Java's murmur2 of the new
// key on a 6-partition topic (KAF-01).
TEST(AppSurface, ToTopicCallableRoutesByValueAndKeyReplacesOnlyTheKey) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("tt-in");
  const std::string hot = unique_name("tt-hot");
  const std::string cold = unique_name("tt-cold");
  const std::string rekeyed = unique_name("tt-rekeyed");
  create_topic(in, 1);
  create_topic(hot, 1);
  create_topic(cold, 1);
  create_topic(rekeyed, 6);
  Application app(base_config(unique_name("tt-grp")));
  const Topic t_in = app.topic(in);
  const Topic t_hot = app.topic(hot);
  const Topic t_cold = app.topic(cold);
  const Topic t_rekeyed = app.topic(rekeyed);

  constexpr int n = 30;
  const std::int64_t ts0 = recent_ms();
  std::vector<Value> values;
  std::vector<Headers> headers;
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < n; ++i) {
      values.push_back(Value::object({{"i", i},
                                      {"sensor", "sensor-" + std::to_string(i * 7919)},
                                      {"t", i % 3 == 0 ? Value(35.5) : Value(20)}}));
      headers.push_back(i % 2 == 0 ? Headers{{"seq", std::to_string(i)}, {"dup", "a"}, {"dup", "b"}}
                                   : Headers{});
      producer.produce(in, "key-" + std::to_string(i), values.back().to_json(), ts0 + i,
                       headers.back());
    }
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(t_in);
  sdf.to_topic([&](const Value& v, const Value&, std::int64_t, const Headers&) {
    return v["t"].as_double() > 30 ? t_hot : t_cold;
  });
  sdf.to_topic(t_rekeyed, [](const Value& v) { return v["sensor"]; });
  ASSERT_EQ(app.run({.timeout = 10s, .count = n}).size(), std::size_t{n});

  auto check_routed = [&](const std::string& topic, bool want_hot) {
    const auto messages = read_topic(topic);
    std::vector<int> ids;
    for (const auto& m : messages) {
      const Value v = Value::from_json(*m.value);
      const int i = static_cast<int>(v["i"].as_int());
      ids.push_back(i);
      EXPECT_EQ(v, values[i]) << topic;
      EXPECT_EQ(m.key, "key-" + std::to_string(i)) << topic;  // no key=: the record's key
      EXPECT_EQ(m.timestamp, ts0 + i) << topic;
      EXPECT_EQ(m.headers, headers[i]) << topic;
    }
    std::vector<int> expected;
    for (int i = 0; i < n; ++i) {
      if ((i % 3 == 0) == want_hot) expected.push_back(i);
    }
    EXPECT_EQ(ids, expected) << topic;
  };
  check_routed(hot, true);
  check_routed(cold, false);

  const auto messages = read_topic(rekeyed);
  ASSERT_EQ(messages.size(), std::size_t{n});
  std::set<int> partitions;
  std::set<int> seen;
  for (const auto& m : messages) {
    const Value v = Value::from_json(*m.value);
    const int i = static_cast<int>(v["i"].as_int());
    seen.insert(i);
    const std::string sensor = "sensor-" + std::to_string(i * 7919);
    EXPECT_EQ(m.key, sensor);
    EXPECT_EQ(m.partition, java_partition(sensor, 6)) << sensor;
    EXPECT_EQ(v, values[i]);
    EXPECT_EQ(m.timestamp, ts0 + i);
    EXPECT_EQ(m.timestamp_type, RD_KAFKA_TIMESTAMP_CREATE_TIME);
    EXPECT_EQ(m.headers, headers[i]);
    partitions.insert(m.partition);
  }
  EXPECT_EQ(seen.size(), std::size_t{n});
  EXPECT_GE(partitions.size(), 4u) << "the new keys should spread over the partitions";
}

// ---------------------------------------------------------------------------------------------
// IgnoreMessage (TOP-10)

// JSON, except that the value "ignore-me" (a JSON string) is dropped with IgnoreMessage
// (TOP-10). It claims to round-trip with any serializer, so a pipeline that only forwards
// (`sdf.to_topic(out)`) takes the forwarding path, which validates instead of decoding.
class IgnoringJson final : public Deserializer {
 public:
  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    if (data == "\"ignore-me\"") throw IgnoreMessage();
    out.push_back(json::parse(data));
  }
  std::string_view name() const override { return "ignoring-json"; }
  bool round_trips_with(const Serializer&) const override { return true; }
};

TopicOptions ignoring_input() {
  TopicOptions o;
  o.value_deserializer = std::shared_ptr<const Deserializer>(std::make_shared<IgnoringJson>());
  return o;
}

// What the "streamframe" logger logs from construction on, one "<level>|<message>" line per
// entry. The sink is added to the logger once and never removed: librdkafka threads may log
// through the logger at any time, and its sink list must not change under them. Create it
// after an Application (which creates the logger) and before anything runs.
class LogCapture {
 public:
  LogCapture() : start_(sink().text().size()) {}
  std::string text() const { return sink().text().substr(start_); }

 private:
  class Sink final : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::string text() {
      std::lock_guard lock(mutex_);
      return text_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      const auto level = spdlog::level::to_string_view(msg.level);
      text_.append(level.data(), level.size());
      text_ += '|';
      text_.append(msg.payload.data(), msg.payload.size());
      text_ += '\n';
    }
    void flush_() override {}

   private:
    std::string text_;
  };

  static Sink& sink() {
    static const std::shared_ptr<Sink> s = [] {
      auto logger = spdlog::get("streamframe");
      if (!logger) throw std::runtime_error("no 'streamframe' logger yet");
      auto sink = std::make_shared<Sink>();
      logger->sinks().push_back(sink);
      return sink;
    }();
    return *s;
  }

  std::size_t start_;
};

// The ignored messages leave no output and reach no error callback; their offsets count as
// processed (on_message_processed, the committed offset even when the last message is an
// ignored one) and the messages after them are processed. A DEBUG line names each one. Both
// paths: decoding (a pipeline with apply) and forwarding (a plain to_topic).
TEST(AppSurface, IgnoreMessageDropsTheMessageStoresItsOffsetAndGoesOn) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("ign-in");
  const std::string out = unique_name("ign-out");
  const std::string forwarded = unique_name("ign-fwd");
  create_topic(in, 1);
  create_topic(out, 1);
  create_topic(forwarded, 1);
  const std::vector<std::string> inputs{"1", "\"ignore-me\"", "3", "4", "\"ignore-me\""};
  {
    Application feeder(base_config(unique_name("ign-feed")));
    Producer producer = feeder.get_producer();
    for (const auto& v : inputs) producer.produce(in, "k", v);
    ASSERT_TRUE(producer.flush(30s));
  }

  for (const bool forwarding : {false, true}) {
    SCOPED_TRACE(forwarding ? "forwarding path" : "decoding path");
    const std::string group = unique_name("ign-grp");
    CallbackLog consumer_errors;
    std::vector<std::int64_t> processed;
    auto cfg = base_config(group);
    cfg.loglevel = "DEBUG";
    cfg.commit_interval = std::chrono::hours(1);
    cfg.on_consumer_error = consumer_errors.make(ErrorAction::stop);
    Application* running = nullptr;
    cfg.on_message_processed = [&](const std::string&, std::int32_t, std::int64_t offset) {
      processed.push_back(offset);
      if (offset == 4) running->stop();  // the last input (an ignored one) ends the run
    };
    Application app(cfg);
    running = &app;
    LogCapture log;
    const Topic t_in = app.topic(in, ignoring_input());
    auto sdf = app.dataframe(t_in);
    if (forwarding) {
      sdf.to_topic(app.topic(forwarded));
      // Not collecting: collect mode always decodes. The timeout only bounds a failure.
      app.run({.timeout = 60s, .collect = false});
    } else {
      sdf = sdf.apply([](const Value& v) { return Value::object({{"v", v}}); });
      sdf.to_topic(app.topic(out));
      const auto outputs = app.run({.timeout = 60s});
      EXPECT_EQ(outputs, (std::vector<Value>{Value::object({{"v", 1}}), Value::object({{"v", 3}}),
                                             Value::object({{"v", 4}})}));
    }
    std::vector<std::string> produced;
    for (const auto& m : read_topic(forwarding ? forwarded : out)) produced.push_back(*m.value);
    EXPECT_EQ(produced, forwarding
                            ? (std::vector<std::string>{"1", "3", "4"})
                            : (std::vector<std::string>{R"({"v":1})", R"({"v":3})", R"({"v":4})"}));
    EXPECT_EQ(consumer_errors.size(), 0u) << "an ignored message is not an error";
    EXPECT_EQ(app.stats().errors_skipped, 0u);
    EXPECT_EQ(processed, (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(committed_offset(group, in), 5);
    const std::string text = log.text();
    for (const int offset : {1, 4}) {
      const std::string line =
          "debug|message ignored by the deserializer at " + in + "[0]@" + std::to_string(offset);
      EXPECT_NE(text.find(line), std::string::npos) << "no log line '" << line << "' in:\n" << text;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// extra_headers (TOP-13)

// JSON that adds two headers to every message it serializes (TOP-13); "trace" is also a
// header name the inputs use, so appending (not replacing) shows.
class TaggingJson final : public Serializer {
 public:
  void serialize(const Value& value, std::string& out) const override {
    out.clear();
    json::write(value, out);
  }
  Headers extra_headers() const override {
    return {{"content-type", "application/json"}, {"trace", "from-serializer"}};
  }
  std::string_view name() const override { return "tagging-json"; }
};

TopicOptions tagging_output() {
  TopicOptions o;
  o.value_serializer = std::shared_ptr<const Serializer>(std::make_shared<TaggingJson>());
  return o;
}

// A serializer's extra headers are appended after the record's own headers (a name the record
// already has is repeated, not replaced): through to_topic after processing, through a
// pipeline that only forwards (which must not take the forwarding path, as that would skip
// the serializer), and through Producer::produce(topic, ...).
TEST(AppSurface, SerializerExtraHeadersAreAppendedAfterTheRecordsOwn) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("xh-in");
  const std::string processed = unique_name("xh-processed");
  const std::string forwarded = unique_name("xh-forwarded");
  const std::string direct = unique_name("xh-direct");
  create_topic(in, 1);
  create_topic(processed, 1);
  create_topic(forwarded, 1);
  create_topic(direct, 1);
  const std::int64_t ts0 = recent_ms();
  const Headers extra{{"content-type", "application/json"}, {"trace", "from-serializer"}};
  const Headers own{{"trace", "from-input"}, {"x", "1"}};
  auto with_extra = [&](Headers h) {
    h.insert(h.end(), extra.begin(), extra.end());
    return h;
  };
  {
    Application feeder(base_config(unique_name("xh-feed")));
    Producer producer = feeder.get_producer();
    producer.produce(in, "k", R"({"a":  1})", ts0, own);
    producer.produce(in, "k", R"({"a":2})", ts0 + 1);
    ASSERT_TRUE(producer.flush(30s));
    // The public producer with a Topic serializes like to_topic, extra headers included.
    const Topic t_direct = feeder.topic(direct, tagging_output());
    producer.produce(t_direct, Value::object({{"d", 1}}), Value("k"), ts0 + 2, own);
    ASSERT_TRUE(producer.flush(30s));
  }
  const auto direct_messages = read_topic(direct);
  ASSERT_EQ(direct_messages.size(), 1u);
  EXPECT_EQ(direct_messages[0].headers, with_extra(own));
  EXPECT_EQ(direct_messages[0].value, R"({"d":1})");

  for (const bool forwarding : {false, true}) {
    SCOPED_TRACE(forwarding ? "pipeline that only forwards" : "pipeline that processes");
    const std::string target = forwarding ? forwarded : processed;
    Application app(base_config(unique_name("xh-grp")));
    auto sdf = app.dataframe(app.topic(in, ignoring_input()));
    if (!forwarding) sdf["b"] = sdf["a"] * 10;
    sdf.to_topic(app.topic(target, tagging_output()));
    app.run({.timeout = 60s, .count = 2, .collect = false});
    const auto messages = read_topic(target);
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[0].headers, with_extra(own));
    EXPECT_EQ(messages[1].headers, extra);
    EXPECT_EQ(messages[0].timestamp, ts0);
    // Serialized by the serializer: the input's spacing is gone.
    EXPECT_EQ(messages[0].value, forwarding ? R"({"a":1})" : R"({"a":1,"b":10})");
  }
}

// ---------------------------------------------------------------------------------------------
// stop() and stop(fail=true) (APP-21)

// stop(fail=true) ends run() without the final checkpoint: run() returns normally (it is not
// an error), the committed offset stays where the last checkpoint left it and the next run
// processes those messages again. stop() commits them.
TEST(AppSurface, StopWithFailSkipsTheFinalCheckpointAndStopCommits) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("stop-in");
  const std::string group = unique_name("stop-grp");
  create_topic(in, 1);
  {
    Application feeder(base_config(unique_name("stop-feed")));
    Producer producer = feeder.get_producer();
    for (int i = 0; i < 10; ++i) {
      producer.produce(in, "k", Value::object({{"i", i}}).to_json());
    }
    ASSERT_TRUE(producer.flush(30s));
  }
  auto ids = [](const std::vector<Value>& outputs) {
    std::vector<std::int64_t> out;
    for (const auto& v : outputs) out.push_back(v["i"].as_int());
    return out;
  };
  // Checkpoints only when run() ends (or a stop commits).
  auto cfg = base_config(group);
  cfg.commit_interval = std::chrono::hours(1);
  Application* running = nullptr;
  bool fail = false;
  cfg.on_message_processed = [&](const std::string&, std::int32_t, std::int64_t offset) {
    if (offset == 5) running->stop(fail);
  };
  {
    Application app(cfg);
    running = &app;
    (void)app.dataframe(app.topic(in));
    // A first run commits offset 2 at its end.
    EXPECT_EQ(ids(app.run({.count = 2})), (std::vector<std::int64_t>{0, 1}));
    ASSERT_EQ(committed_offset(group, in), 2);
    fail = true;
    std::vector<Value> outputs;
    EXPECT_NO_THROW(outputs = app.run({.timeout = 30s}));
    EXPECT_EQ(ids(outputs), (std::vector<std::int64_t>{2, 3, 4, 5}));
    EXPECT_EQ(committed_offset(group, in), 2) << "stop(fail=true) committed";
    EXPECT_EQ(app.stats().checkpoints, 1u);  // the first run's only
  }
  {
    // A new instance resumes at the last commit: 2..5 again; a plain stop() commits them.
    fail = false;
    Application app(cfg);
    running = &app;
    (void)app.dataframe(app.topic(in));
    EXPECT_EQ(ids(app.run({.timeout = 30s})), (std::vector<std::int64_t>{2, 3, 4, 5}));
    EXPECT_EQ(committed_offset(group, in), 6);
    EXPECT_EQ(app.stats().checkpoints, 1u);
  }
}

// ---------------------------------------------------------------------------------------------
// producer_poll_timeout (§1, APP-25)

// Writes {"i": 0} .. {"i": n - 1} to `in` (key "k"), then runs `app` on in -> j = i + 1 ->
// `out` until n records left the pipeline.
void run_plus_one(Application& app, const std::string& in, const std::string& out, int n) {
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < n; ++i) producer.produce(in, "k", Value::object({{"i", i}}).to_json());
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(app.topic(in));
  sdf["j"] = sdf["i"] + 1;
  sdf.to_topic(app.topic(out));
  app.run({.timeout = 60s, .count = static_cast<std::size_t>(n), .collect = false});
}

// A producer_poll_timeout far longer than the test: an idle loop (nothing awaiting a delivery
// report) must not wait for it, and every record is processed and produced in order. (A loop
// that waited the full timeout whenever no event came would hang here until the test times
// out.)
TEST(AppSurface, LongProducerPollTimeoutProcessesEverything) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("ppt-in");
  const std::string out = unique_name("ppt-out");
  const std::string group = unique_name("ppt-grp");
  create_topic(in, 1);
  create_topic(out, 1);
  auto cfg = base_config(group);
  cfg.producer_poll_timeout = std::chrono::minutes(10);
  Application app(cfg);
  ASSERT_NO_FATAL_FAILURE(run_plus_one(app, in, out, 50));
  const auto messages = read_topic(out);
  ASSERT_EQ(messages.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(Value::from_json(*messages[i].value), Value::object({{"i", i}, {"j", i + 1}}));
  }
  EXPECT_EQ(committed_offset(group, in), 50);
  EXPECT_EQ(app.stats().records_produced, 50u);
}

// With producer_poll_timeout > 0 the loop waits for the delivery report of what a message
// produced before it takes the next message (APP-25: serve producer callbacks, then take the
// next message). Observable: a delivery failure of message 0's output reaches
// on_producer_error before message 1 is processed, although message 1 is in the topic before
// message 0's output is even sent (linger.ms 1000). Message 1 is produced from inside the
// callback for message 0, so it cannot be in message 0's batch. No checkpoint runs in between
// (its flush would serve the report too).
TEST(AppSurface, ProducerPollTimeoutServesDeliveryReportsBeforeTheNextMessage) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("pptdr-in");
  const std::string out = unique_name("pptdr-out");
  const std::string group = unique_name("pptdr-grp");
  create_topic(in, 1);
  create_topic(out, 1, {{"max.message.bytes", "2000"}});
  auto cfg = base_config(group);
  cfg.commit_interval = std::chrono::hours(1);
  cfg.producer_poll_timeout = 30s;
  cfg.producer_extra_config = {{"linger.ms", "1000"}};
  std::vector<std::string> events;
  Application* running = nullptr;
  std::unique_ptr<Producer> feeder;
  cfg.on_message_processed = [&](const std::string&, std::int32_t, std::int64_t offset) {
    events.push_back("processed " + std::to_string(offset));
    if (offset == 0) {
      feeder->produce(in, "k", R"({"i":1})");
      if (!feeder->flush(30s)) events.push_back("feeding message 1 timed out");
    } else {
      running->stop();
    }
  };
  cfg.on_producer_error = [&](const std::exception& e, const ErrorContext&) {
    const auto* ke = dynamic_cast<const KafkaError*>(&e);
    events.push_back(ke != nullptr && ke->code() == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
                         ? "delivery failed"
                         : std::string("unexpected producer error: ") + e.what());
    return ErrorAction::skip;
  };
  Application app(cfg);
  running = &app;
  feeder = std::make_unique<Producer>(app.get_producer());
  feeder->produce(in, "k", R"({"i":0})");
  ASSERT_TRUE(feeder->flush(30s));
  auto sdf = app.dataframe(app.topic(in));
  // Message 0's output is far over the output topic's 2000 bytes: the broker refuses it.
  sdf = sdf.apply([](const Value& v) {
    Value r = v;
    if (v["i"].as_int() == 0) r["pad"] = std::string(10000, 'p');
    return r;
  });
  sdf.to_topic(app.topic(out));
  app.run({.timeout = 60s, .collect = false});
  EXPECT_EQ(events, (std::vector<std::string>{"processed 0", "delivery failed", "processed 1"}));
  EXPECT_EQ(committed_offset(group, in), 2);
  const auto messages = read_topic(out);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].value, R"({"i":1})");
}

// At DEBUG level each checkpoint names what it committed and where its time went (processing
// stands still meanwhile): the trace for finding where latency comes from.
TEST(AppSurface, CheckpointTimesAreTracedAtDebugLevel) {
  REQUIRE_TEST_BROKERS();
  const std::string in = unique_name("cpt-in");
  const std::string out = unique_name("cpt-out");
  const std::string group = unique_name("cpt-grp");
  create_topic(in, 1);
  create_topic(out, 1);
  auto cfg = base_config(group);
  cfg.loglevel = "DEBUG";
  cfg.commit_every = 2;
  cfg.commit_interval = std::chrono::hours(1);
  Application app(cfg);
  LogCapture log;
  ASSERT_NO_FATAL_FAILURE(run_plus_one(app, in, out, 4));
  EXPECT_EQ(committed_offset(group, in), 4);
  const std::string text = log.text();
  // This pipeline has no state, so its checkpoints are deferred (src/app/checkpoint.hpp): the
  // trace says when their offsets were committed; one that waits says where its time went.
  const std::regex line(
      R"(debug\|checkpoint: 2 messages, 1 partition offsets (committed [0-9.]+ ms after it )"
      R"(started \(deferred: processing went on while their outputs were acknowledged\)|; )"
      R"([0-9.]+ ms in all: before the flush [0-9.]+ ms, waiting for acknowledgements [0-9.]+ )"
      R"(ms, offset commit and stores [0-9.]+ ms)\n)");
  const auto lines =
      std::distance(std::sregex_iterator(text.begin(), text.end(), line), std::sregex_iterator());
  EXPECT_EQ(lines, 2) << text;
}

}  // namespace
}  // namespace streamframe::apptest
