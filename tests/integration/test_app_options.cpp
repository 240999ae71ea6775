// Application options, topics and serdes against the real broker: unreachable broker at start,
// auto_create_topics (APP-08), topic creation with partitions and config, extra client config
// (APP-17), producer delivery errors (ERR-01), Java-compatible key partitioning (KAF-01),
// built-in serdes through a real topic (TOP-01..04), headers/timestamps through to_topic and a
// timestamp_extractor (TOP-12, TOP-13).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

std::string record(int i) {
  return Value::object({{"i", i}, {"temperature", i}}).to_json();
}

// IEEE-754 bits of `d`, most significant byte first.
std::string big_endian(double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, 8);
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((bits >> shift) & 0xff));
  return out;
}

// A 127.0.0.1 port nothing listens on: bound by us, then closed.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 1;
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// B: a broker that cannot be reached at start gives a clear typed error within a bounded time.
TEST(AppOptions, UnreachableBrokerFailsFastWithClearError) {
  const std::string address = "127.0.0.1:" + std::to_string(closed_port());
  ApplicationConfig cfg;
  cfg.broker_address = address;
  cfg.consumer_group = streamframe::test::unique_name("unreach-grp");
  cfg.auto_offset_reset = AutoOffsetReset::earliest;
  cfg.loglevel = "CRITICAL";  // librdkafka's connection-refused logs are expected here
  cfg.request_timeout = 3s;
  cfg.install_signal_handlers = false;
  // Declaring a topic is the first call that needs the broker.
  for (const bool auto_create : {true, false}) {
    cfg.auto_create_topics = auto_create;
    Application app(cfg);  // construction does not connect
    const auto start = Clock::now();
    const CaughtError e = capture_error([&] { app.topic("unreachable-topic"); });
    const double elapsed = seconds_since(start);
    ASSERT_TRUE(e.thrown) << "topic() succeeded against " << address;
    EXPECT_LT(elapsed, 10.0);
    EXPECT_GE(elapsed, 2.5) << "gave up long before request_timeout: " << e.what;
    // Not TopicNotFound: the topic's existence is unknown.
    EXPECT_EQ(e.type, std::type_index(typeid(KafkaBrokerUnavailableError)))
        << "auto_create_topics=" << auto_create << ": " << e.type.name() << ": " << e.what;
    EXPECT_NE(e.what.find(address), std::string::npos) << e.what;
    EXPECT_NE(e.what.find("unreachable-topic"), std::string::npos) << e.what;
  }
}

// auto_create_topics=false and a missing topic => TopicNotFound at app.topic(); nothing is
// created. An existing topic is accepted.
TEST(AppOptions, AutoCreateTopicsOffMissingTopicIsTopicNotFound) {
  REQUIRE_TEST_BROKERS();
  const std::string missing = streamframe::test::unique_name("missing");
  const std::string existing = streamframe::test::unique_name("existing");
  create_topic(existing, 2);
  auto cfg = base_config(streamframe::test::unique_name("nocreate-grp"));
  cfg.auto_create_topics = false;
  Application app(cfg);
  const CaughtError e = capture_error([&] { app.topic(missing); });
  ASSERT_TRUE(e.thrown);
  EXPECT_EQ(e.type, std::type_index(typeid(TopicNotFound))) << e.what;
  EXPECT_NE(e.what.find(missing), std::string::npos) << e.what;
  EXPECT_FALSE(partition_count(missing).has_value());
  EXPECT_NO_THROW(app.topic(existing));
  EXPECT_EQ(partition_count(existing), 2);
}

// app.topic() creates an absent topic with the requested partitions and config, and never
// alters an existing one.
TEST(AppOptions, TopicIsCreatedWithRequestedPartitionsAndConfig) {
  REQUIRE_TEST_BROKERS();
  const std::string name = streamframe::test::unique_name("created");
  Application app(base_config(streamframe::test::unique_name("create-grp")));
  TopicOptions options;
  options.config =
      TopicConfig{4, 1, {{"retention.ms", "123456789"}, {"cleanup.policy", "compact"}}};
  app.topic(name, options);
  // Created at once, before any run(); another client's metadata may lag a moment behind the
  // controller on a loaded machine.
  EXPECT_TRUE(eventually([&] { return partition_count(name) == 4; }, 10s));
  EXPECT_EQ(topic_config_value(name, "retention.ms"), "123456789");
  EXPECT_EQ(topic_config_value(name, "cleanup.policy"), "compact");

  Application other(base_config(streamframe::test::unique_name("create-grp")));
  TopicOptions different;
  different.config = TopicConfig{2, 1, {{"retention.ms", "1000"}}};
  other.topic(name, different);
  EXPECT_EQ(partition_count(name), 4);
  EXPECT_EQ(topic_config_value(name, "retention.ms"), "123456789");

  // Default: 1 partition.
  const std::string plain = streamframe::test::unique_name("created-default");
  app.topic(plain);
  EXPECT_TRUE(eventually([&] { return partition_count(plain) == 1; }, 10s));
}

// producer/consumer extra config reach librdkafka (an invalid value is rejected by it), while
// bootstrap.servers, group.id and auto.offset.reset in them are ignored.
TEST(AppOptions, ExtraConfigPassesThroughExceptReservedKeys) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("extra-in");
  const std::string out = streamframe::test::unique_name("extra-out");
  const std::string group = streamframe::test::unique_name("extra-grp");
  const std::string decoy_group = streamframe::test::unique_name("extra-decoy");
  create_topic(in, 1);
  auto cfg = base_config(group);
  cfg.producer_extra_config = {{"bootstrap.servers", "127.0.0.1:1"},
                               {"compression.type", "gzip"},
                               {"message.max.bytes", "20000"}};
  cfg.consumer_extra_config = {{"bootstrap.servers", "127.0.0.1:1"},
                               {"group.id", decoy_group},
                               {"auto.offset.reset", "latest"},
                               {"client.id", "extra-config-test"}};
  Application app(cfg);
  auto sdf = app.dataframe(app.topic(in));
  sdf.to_topic(app.topic(out));
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < 3; ++i) producer.produce(in, "k", record(i));
    ASSERT_TRUE(producer.flush(30s));
    // message.max.bytes=20000 reached the producer: a 30000-byte message is refused.
    const CaughtError big = capture_error([&] {
      producer.produce(in, "k", std::string(30000, 'x'));
      producer.flush(10s);
    });
    EXPECT_TRUE(big.thrown) << "producer_extra_config message.max.bytes was not applied";
    EXPECT_TRUE(big.is_streamframe_error) << big.what;
  }
  // Bootstrap servers and group.id from the extra config are ignored; earliest still applies.
  const auto outputs = app.run({.timeout = 10s, .count = 3});
  EXPECT_EQ(outputs.size(), 3u);
  EXPECT_EQ(committed_offset(group, in), 3);
  EXPECT_EQ(committed_offset(decoy_group, in), RD_KAFKA_OFFSET_INVALID);
  const auto produced = read_topic(out);
  EXPECT_EQ(produced.size(), 3u);

  // A value librdkafka rejects shows the consumer settings are passed to it.
  {
    auto bad = base_config(group);
    bad.consumer_extra_config = {{"session.timeout.ms", "not-a-number"}};
    Application bad_app(bad);
    (void)bad_app.dataframe(bad_app.topic(in));
    const CaughtError e = capture_error([&] { bad_app.run({.timeout = 1s}); });
    ASSERT_TRUE(e.thrown);
    EXPECT_EQ(e.type, std::type_index(typeid(ConfigError))) << e.what;
    EXPECT_NE(e.what.find("session.timeout.ms"), std::string::npos) << e.what;
  }
  {
    auto bad = base_config(group);
    bad.producer_extra_config = {{"linger.ms", "soon"}};
    Application bad_app(bad);
    const CaughtError e = capture_error([&] { bad_app.get_producer(); });
    ASSERT_TRUE(e.thrown);
    EXPECT_EQ(e.type, std::type_index(typeid(ConfigError))) << e.what;
    EXPECT_NE(e.what.find("linger.ms"), std::string::npos) << e.what;
  }
}

// A delivery the broker refuses (record larger than the output topic's max.message.bytes)
// reaches on_producer_error as a KafkaError. Default: run() stops with it and the failing
// input is not committed. `skip`: ignored, counted, the other records are delivered.
TEST(AppOptions, ProducerDeliveryFailureReachesOnProducerError) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("deliv-in");
  const std::string out = streamframe::test::unique_name("deliv-out");
  const std::string group = streamframe::test::unique_name("deliv-grp");
  create_topic(in, 1);
  create_topic(out, 1, {{"max.message.bytes", "2000"}});
  auto build = [&](Application& app) {
    auto sdf = app.dataframe(app.topic(in));
    // Record 2 grows to 10 kB on its way out.
    sdf = sdf.apply([](const Value& v) {
      Value r = v;
      if (v["i"].as_int() == 2) r["pad"] = std::string(10000, 'p');
      return r;
    });
    sdf.to_topic(app.topic(out));
  };
  {
    Application feeder(base_config(group));
    Producer producer = feeder.get_producer();
    for (int i = 0; i < 6; ++i) producer.produce(in, "k" + std::to_string(i), record(i));
    ASSERT_TRUE(producer.flush(30s));
  }
  auto cfg = base_config(group);
  cfg.commit_every = 1;
  // One record per produce request: only the oversized record can fail.
  cfg.producer_extra_config = {{"batch.num.messages", "1"}};
  {
    Application app(cfg);
    build(app);
    const auto start = Clock::now();
    const CaughtError e = capture_error([&] { app.run({.timeout = 20s}); });
    EXPECT_LT(seconds_since(start), 20.0);
    ASSERT_TRUE(e.thrown) << "run() returned without an error";
    EXPECT_EQ(e.type, std::type_index(typeid(KafkaError))) << e.what;
    EXPECT_EQ(e.kafka_code, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) << e.what;
    EXPECT_NE(e.what.find(out), std::string::npos) << e.what;
  }
  // Records 0 and 1 were committed (their checkpoints' outputs were acknowledged, a deferred
  // one's too when record 2's failure came while it waited); record 2's checkpoint never.
  EXPECT_EQ(committed_offset(group, in), 2);
  {
    CallbackLog log;
    auto skip_cfg = cfg;
    skip_cfg.on_producer_error = log.make(ErrorAction::skip);
    Application app(skip_cfg);
    build(app);
    app.run({.timeout = 3s});
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log.calls[0].error.type, std::type_index(typeid(KafkaError)));
    EXPECT_EQ(log.calls[0].error.kafka_code, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    EXPECT_NE(log.calls[0].error.what.find(out), std::string::npos) << log.calls[0].error.what;
    EXPECT_EQ(app.stats().errors_skipped, 1u);
  }
  EXPECT_EQ(committed_offset(group, in), 6);
  std::vector<std::int64_t> ids;
  for (const auto& m : read_topic(out)) ids.push_back(Value::from_json(*m.value)["i"].as_int());
  // Record 2 never; the others at least once. The first run may have processed records after
  // 2 while 2's acknowledgement was awaited (a deferred checkpoint, src/app/checkpoint.hpp):
  // those outputs are in the topic without their offsets committed, and the second run
  // repeats them, as at-least-once allows.
  const std::set<std::int64_t> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique, (std::set<std::int64_t>{0, 1, 3, 4, 5}));
}

// Keys land where a Java client puts them: murmur2(key bytes) & 0x7fffffff mod partitions.
TEST(AppOptions, KeysArePartitionedLikeJavaClients) {
  // The test's own murmur2 against the vectors of Kafka's UtilsTest.
  EXPECT_EQ(java_murmur2("21"), -973932308);
  EXPECT_EQ(java_murmur2("foobar"), -790332482);
  EXPECT_EQ(java_murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(java_murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(java_murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(java_murmur2("abc"), 479470107);
  // Partitions of 6 that kafka-clients 3.9.1's Utils.murmur2 gives (computed with Java).
  const std::map<std::string, int> java6{{"key-0", 1}, {"key-1", 0}, {"key-2", 2},
                                         {"key-3", 5}, {"key-4", 3}, {"key-5", 2},
                                         {"key-6", 2}, {"key-7", 1}, {"sensor-1", 1}};
  for (const auto& [k, p] : java6) EXPECT_EQ(java_partition(k, 6), p) << k;

  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("part-in");
  const std::string out = streamframe::test::unique_name("part-out");
  create_topic(in, 6);
  create_topic(out, 6);
  Application app(base_config(streamframe::test::unique_name("part-grp")));
  std::vector<std::string> keys;
  for (const auto& [k, _] : java6) keys.push_back(k);
  for (int i = 0; i < 40; ++i) keys.push_back("user-" + std::to_string(i * 7919));
  keys.push_back(std::string("\xc3\xa9t\xc3\xa9", 5));
  {
    Producer producer = app.get_producer();
    for (std::size_t i = 0; i < keys.size(); ++i) producer.produce(in, keys[i], record(int(i)));
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(app.topic(in));
  sdf.to_topic(app.topic(out));
  EXPECT_EQ(app.run({.timeout = 10s, .count = keys.size()}).size(), keys.size());

  for (const std::string& topic : {in, out}) {
    const auto messages = read_topic(topic);
    ASSERT_EQ(messages.size(), keys.size()) << topic;
    std::set<int> used;
    for (const auto& m : messages) {
      ASSERT_TRUE(m.key.has_value());
      EXPECT_EQ(m.partition, java_partition(*m.key, 6)) << topic << " key " << *m.key;
      used.insert(m.partition);
    }
    EXPECT_EQ(used.size(), 6u) << "keys should spread over all partitions";
  }
}

// int, double, string and bytes serdes round-trip through real topics, keys and values; the
// bytes on the wire are the specified encodings.
TEST(AppOptions, BuiltInSerdesRoundTripThroughRealTopics) {
  REQUIRE_TEST_BROKERS();
  struct Case {
    std::string serde;
    std::vector<Value> values;
    std::vector<std::string> wire;  // expected bytes of each value in the output topic
  };
  const std::vector<Case> cases{
      {"int",
       {0, 1, -1, 2147483647, -2147483647 - 1},
       {std::string("\0\0\0\0", 4), std::string("\0\0\0\x01", 4), "\xff\xff\xff\xff",
        std::string("\x7f\xff\xff\xff", 4), std::string("\x80\0\0\0", 4)}},
      {"double",
       {1.5, -2.0, 1e300, 3},
       {std::string("\x3f\xf8\0\0\0\0\0\0", 8), std::string("\xc0\0\0\0\0\0\0\0", 8),
        big_endian(1e300), std::string("\x40\x08\0\0\0\0\0\0", 8)}},
      {"string",
       {"plain", "h\xc3\xa9llo \xe2\x82\xac", "", "with \"quotes\""},
       {"plain", "h\xc3\xa9llo \xe2\x82\xac", "", "with \"quotes\""}},
      {"bytes",
       {std::string("\x00\xff\x10", 3), "abc", std::string("\x80\x81", 2)},
       {std::string("\x00\xff\x10", 3), "abc", std::string("\x80\x81", 2)}},
  };
  Application app(base_config(streamframe::test::unique_name("serde-grp")));
  std::vector<std::pair<std::string, std::string>> outs;
  std::size_t total = 0;
  for (const auto& c : cases) {
    const std::string in = streamframe::test::unique_name("serde-" + c.serde + "-in");
    const std::string out = streamframe::test::unique_name("serde-" + c.serde + "-out");
    TopicOptions options;
    options.value_deserializer = c.serde;
    options.value_serializer = c.serde;
    options.key_deserializer = c.serde;
    options.key_serializer = c.serde;
    const Topic tin = app.topic(in, options);
    const Topic tout = app.topic(out, options);
    {
      Producer producer = app.get_producer();
      for (const auto& v : c.values) producer.produce(tin, v, v);  // key = value
      ASSERT_TRUE(producer.flush(30s));
    }
    app.dataframe(tin).to_topic(tout);
    outs.emplace_back(c.serde, out);
    total += c.values.size();
  }
  const auto outputs = app.run({.timeout = 10s, .count = total});
  ASSERT_EQ(outputs.size(), total);
  // Collected non-object values come back as {"_value": v}; every case's values appear.
  for (const auto& c : cases) {
    for (const auto& v : c.values) {
      const Value expected = c.serde == "double" ? Value(v.as_double()) : v;
      bool found = false;
      for (const auto& o : outputs)
        found = found || (o["_value"] == expected && o["_value"].type() == expected.type());
      EXPECT_TRUE(found) << c.serde << " " << v.to_json();
    }
  }
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const auto messages = read_topic(outs[k].second);
    ASSERT_EQ(messages.size(), cases[k].wire.size()) << cases[k].serde;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      EXPECT_EQ(messages[i].value, cases[k].wire[i]) << cases[k].serde << " value " << i;
      EXPECT_EQ(messages[i].key, cases[k].wire[i]) << cases[k].serde << " key " << i;
    }
  }
}

// Headers (order, repeats, binary) and the timestamp of a record pass through to_topic
// unchanged; a null key stays null.
TEST(AppOptions, HeadersAndTimestampsPassThroughToTopic) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("hdr-in");
  const std::string out = streamframe::test::unique_name("hdr-out");
  create_topic(in, 1);
  Application app(base_config(streamframe::test::unique_name("hdr-grp")));
  const Headers headers{
      {"trace", "abc"}, {"dup", "1"}, {"dup", "2"}, {"bin", std::string("\x00\xff", 2)}};
  const std::int64_t ts = 1600000000123;
  {
    Producer producer = app.get_producer();
    producer.produce(in, "key-a", record(0), ts, headers);
    producer.produce(in, std::nullopt, record(1), ts + 1000);
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(app.topic(in));
  sdf["temperature"] = sdf["temperature"] + 1;
  sdf.to_topic(app.topic(out));
  ASSERT_EQ(app.run({.timeout = 10s, .count = 2}).size(), 2u);
  const auto messages = read_topic(out);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].key, "key-a");
  EXPECT_EQ(messages[0].headers, headers);
  EXPECT_EQ(messages[0].timestamp, ts);
  EXPECT_EQ(messages[0].timestamp_type, RD_KAFKA_TIMESTAMP_CREATE_TIME);
  EXPECT_EQ(Value::from_json(*messages[0].value)["temperature"], Value(1));
  EXPECT_FALSE(messages[1].key.has_value());
  EXPECT_TRUE(messages[1].headers.empty());
  EXPECT_EQ(messages[1].timestamp, ts + 1000);
}

// A timestamp_extractor sees (value, headers, Kafka timestamp, type) and sets the record's
// timestamp, which to_topic writes.
TEST(AppOptions, TimestampExtractorSetsOutputTimestamp) {
  REQUIRE_TEST_BROKERS();
  const std::string in = streamframe::test::unique_name("tsx-in");
  const std::string out = streamframe::test::unique_name("tsx-out");
  create_topic(in, 1);
  Application app(base_config(streamframe::test::unique_name("tsx-grp")));
  struct Seen {
    std::int64_t kafka_ts;
    TimestampType type;
    Headers headers;
  };
  std::vector<Seen> seen;
  TopicOptions options;
  options.timestamp_extractor = [&](const Value& v, const Headers& h, std::int64_t kafka_ts,
                                    TimestampType type) -> std::int64_t {
    seen.push_back({kafka_ts, type, h});
    return v["event_time"].as_int();
  };
  {
    Producer producer = app.get_producer();
    producer.produce(in, "a", R"({"event_time": 1500000000000})", 1700000000000, {{"h", "x"}});
    producer.produce(in, "b", R"({"event_time": 1500000000500})", 1700000000001);
    ASSERT_TRUE(producer.flush(30s));
  }
  auto sdf = app.dataframe(app.topic(in, options));
  sdf.to_topic(app.topic(out));
  const auto outputs = app.run({.timeout = 10s, .count = 2, .metadata = true});
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0]["_timestamp"], Value(1500000000000LL));
  EXPECT_EQ(outputs[1]["_timestamp"], Value(1500000000500LL));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].kafka_ts, 1700000000000);
  EXPECT_EQ(seen[0].type, TimestampType::create_time);
  EXPECT_EQ(seen[0].headers, (Headers{{"h", "x"}}));
  EXPECT_EQ(seen[1].kafka_ts, 1700000000001);
  const auto messages = read_topic(out);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].timestamp, 1500000000000);
  EXPECT_EQ(messages[1].timestamp, 1500000000500);
}

}  // namespace
}  // namespace streamframe::apptest
