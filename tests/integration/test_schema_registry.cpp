// Avro through a real schema registry (TOP-06, TOP-08): Apicurio Registry's Confluent-compatible
// API (scripts/registry) and a real broker. Confluent's wire format, the subject strategies,
// auto-registration on and off, and the failures: an unknown id, a wrong magic byte, a schema
// of another type, a registry that is down or does not answer.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "integration/test_app_helpers.hpp"
#include "serde/schema_registry_client.hpp"
#include "streamframe/streamframe.hpp"
#include "support/expect_error.hpp"
#include "support/kafka_probe.hpp"
#include "support/schema_registry_test.hpp"
#include "support/test_env.hpp"

namespace streamframe {
namespace {

namespace sft = streamframe::test;
using sft::header_id;
using namespace std::chrono_literals;

const char* const kSchema = R"({"type": "record", "name": "Order", "namespace": "shop", "fields": [
    {"name": "id", "type": "long"}, {"name": "qty", "type": "int"},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
    {"name": "note", "type": ["null", "string"], "default": null}]})";

SchemaRegistryClientConfig registry() {
  return sft::test_registry_config();
}

std::shared_ptr<const Serializer> registry_serializer(
    const std::string& schema, SchemaRegistrySerializationConfig config = {},
    SchemaRegistryClientConfig client = registry()) {
  AvroSerializerOptions o;
  o.schema = schema;
  o.schema_registry_client_config = client;
  o.schema_registry_serialization_config = config;
  return avro_serializer(o);
}

std::shared_ptr<const Deserializer> registry_deserializer() {
  AvroDeserializerOptions o;
  o.schema_registry_client_config = registry();
  return avro_deserializer(o);
}

Value order(int id, int qty, const char* status) {
  return Value::object({{"id", id}, {"qty", qty}, {"status", status}, {"note", nullptr}});
}

TEST(SchemaRegistryAvro, APipelineReadsAndWritesConfluentFramedAvroWithRegisteredIds) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string in_name = sft::unique_name("sr-in");
  const std::string out_name = sft::unique_name("sr-out");
  Application app(apptest::base_config(sft::unique_name("sr-grp")));
  const Topic in = app.topic(in_name, {.value_deserializer = registry_deserializer(),
                                       .value_serializer = registry_serializer(kSchema)});
  const Topic out = app.topic(out_name, {.value_serializer = registry_serializer(kSchema)});
  {
    Producer producer = app.get_producer();
    producer.produce(in, order(1, 2, "NEW"), Value("k1"));
    producer.produce(in, order(2, 5, "PAID"), Value("k2"));
    ASSERT_TRUE(producer.flush(10s));
  }
  auto sdf = app.dataframe(in);
  sdf["qty"] = sdf["qty"] * 10;
  sdf.to_topic(out);
  ASSERT_EQ(app.run({.timeout = 20s, .count = 2}).size(), 2u);

  serde::SchemaRegistryClient client(registry());
  // Both subjects hold the same schema text: the registry gives it one id.
  const std::int32_t in_id = client.lookup_schema(in_name + "-value", kSchema, "AVRO");
  const std::int32_t out_id = client.lookup_schema(out_name + "-value", kSchema, "AVRO");
  EXPECT_EQ(in_id, out_id);
  sft::KafkaProbe probe(apptest::brokers());
  const auto written = probe.read_all(out_name, 1, 20s);
  ASSERT_EQ(written.size(), 2u);
  const auto de = registry_deserializer();
  EXPECT_EQ(header_id(*written[0].value), out_id);
  EXPECT_EQ(de->deserialize_one(*written[0].value), order(1, 20, "NEW"));
  EXPECT_EQ(header_id(*written[1].value), out_id);
  EXPECT_EQ(de->deserialize_one(*written[1].value), order(2, 50, "PAID"));
  // The payload after the 5-byte header is plain Avro of the schema.
  AvroDeserializerOptions plain;
  plain.schema = kSchema;
  EXPECT_EQ(avro_deserializer(plain)->deserialize_one(
                std::string_view(*written[1].value).substr(serde::kWireHeaderSize)),
            order(2, 50, "PAID"));
}

TEST(SchemaRegistryAvro, SubjectsFollowTheStrategyAndKeysGetTheKeySubject) {
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string topic = sft::unique_name("sr-subjects");
  // A schema of its own (another namespace), so its record-name subject is new.
  const std::string schema =
      std::string(kSchema).replace(std::string(kSchema).find("\"shop\""), 6,
                                   "\"" + std::string("ns") + std::to_string(::getpid()) + "\"");
  const std::string record = "ns" + std::to_string(::getpid()) + ".Order";
  serde::SchemaRegistryClient client(registry());
  std::string out;
  auto serialize_with = [&](SubjectNameStrategy strategy, bool key) {
    SchemaRegistrySerializationConfig c;
    c.subject_name_strategy = strategy;
    registry_serializer(schema, c)->for_topic(topic, key)->serialize(order(1, 1, "NEW"), out);
    return header_id(out);
  };
  // Each serializes (registering) before its subject is looked up.
  const std::int32_t by_topic = serialize_with(SubjectNameStrategy::topic_name, false);
  EXPECT_EQ(by_topic, client.lookup_schema(topic + "-value", schema, "AVRO"));
  const std::int32_t by_topic_key = serialize_with(SubjectNameStrategy::topic_name, true);
  EXPECT_EQ(by_topic_key, client.lookup_schema(topic + "-key", schema, "AVRO"));
  const std::int32_t by_record = serialize_with(SubjectNameStrategy::record_name, false);
  EXPECT_EQ(by_record, client.lookup_schema(record, schema, "AVRO"));
  const std::int32_t by_topic_record =
      serialize_with(SubjectNameStrategy::topic_record_name, false);
  EXPECT_EQ(by_topic_record, client.lookup_schema(topic + "-" + record, schema, "AVRO"));
  // Not given to a topic, a topic-name serializer cannot know its subject.
  EXPECT_NE(sft::serialization_error_of([&] {
              registry_serializer(schema)->serialize(order(1, 1, "NEW"), out);
            }).find("need the topic"),
            std::string::npos);
}

TEST(SchemaRegistryAvro, WithoutAutoRegistrationTheSchemaMustAlreadyBeThere) {
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string topic = sft::unique_name("sr-noauto");
  SchemaRegistrySerializationConfig c;
  c.auto_register_schemas = false;
  const auto ser = registry_serializer(kSchema, c)->for_topic(topic, false);
  std::string out;
  const std::string error =
      sft::serialization_error_of([&] { ser->serialize(order(1, 1, "NEW"), out); });
  EXPECT_NE(error.find("looking up the AVRO schema under subject '" + topic + "-value'"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("HTTP 404"), std::string::npos) << error;
  serde::SchemaRegistryClient client(registry());
  const std::int32_t id = client.register_schema(topic + "-value", kSchema, "AVRO");
  ser->serialize(order(1, 1, "NEW"), out);  // the failed lookup is asked again
  EXPECT_EQ(header_id(out), id);
}

TEST(SchemaRegistryAvro, UndecodableRecordsReachTheErrorCallbackNamingWhereAndWhy) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string in_name = sft::unique_name("sr-bad");
  serde::SchemaRegistryClient client(registry());
  const std::int32_t json_id =
      client.register_schema(sft::unique_name("sr-json") + "-value",
                             R"({"$schema": "http://json-schema.org/draft-07/schema#",
                                                          "type": "object"})",
                             "JSON");
  auto config = apptest::base_config(sft::unique_name("sr-bad-grp"));
  std::vector<std::string> errors;
  config.on_consumer_error = [&](const std::exception& e, const ErrorContext&) {
    errors.emplace_back(e.what());
    return ErrorAction::skip;
  };
  Application app(config);
  const Topic in = app.topic(in_name, {.value_deserializer = registry_deserializer(),
                                       .value_serializer = registry_serializer(kSchema)});
  std::string unknown_id;
  serde::append_wire_header(2'000'000'000, unknown_id);
  unknown_id += "\x02\x02";
  std::string json_schema_id;
  serde::append_wire_header(json_id, json_schema_id);
  json_schema_id += "{}";
  {
    Producer producer = app.get_producer();
    producer.produce(in_name, std::nullopt, std::string_view(unknown_id));
    producer.produce(in_name, std::nullopt, std::string_view("\x01\x00\x00\x00\x01\x02", 6));
    producer.produce(in_name, std::nullopt, std::string_view(json_schema_id));
    producer.produce(in, order(7, 1, "PAID"));
    ASSERT_TRUE(producer.flush(10s));
  }
  const auto rows = app.dataframe(in);
  const auto out = app.run({.timeout = 20s, .count = 1});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], order(7, 1, "PAID"));
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("fetching schema id 2000000000: HTTP 404"), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[0].find("error_code 40403"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("(topic '" + in_name + "', partition 0, offset 0)"), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("magic byte 0x01"), std::string::npos) << errors[1];
  EXPECT_NE(errors[1].find("offset 1)"), std::string::npos) << errors[1];
  EXPECT_NE(errors[2].find("is a JSON schema"), std::string::npos) << errors[2];
}

TEST(SchemaRegistryAvro, AReaderSchemaReadsEveryWriterVersionOfASubject) {
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string topic = sft::unique_name("sr-versions");
  const std::string v2 = std::string(kSchema).replace(
      std::string(kSchema).rfind("]}"), 2,
      R"(, {"name": "channel", "type": "string", "default": "web"}]})");
  std::string old_record;
  std::string new_record;
  registry_serializer(kSchema)->for_topic(topic, false)->serialize(order(1, 2, "NEW"), old_record);
  Value newer = order(2, 3, "PAID");
  newer.as_object().set("channel", Value("shop"));
  registry_serializer(v2)->for_topic(topic, false)->serialize(newer, new_record);
  EXPECT_NE(header_id(old_record), header_id(new_record));  // two versions of the subject

  AvroDeserializerOptions o;
  o.schema_registry_client_config = registry();
  o.reader_schema = v2;
  const auto de = avro_deserializer(o);
  Value older = order(1, 2, "NEW");
  older.as_object().set("channel", Value("web"));  // the reader's default
  EXPECT_EQ(de->deserialize_one(old_record), older);
  EXPECT_EQ(de->deserialize_one(new_record), newer);
}

TEST(SchemaRegistryAvro, ARegistryThatIsDownOrSilentFailsWithinTheTimeout) {
  // A port with nothing listening, and a socket that listens but never answers.
  const int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(silent, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(silent, 8), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int silent_port = ntohs(addr.sin_port);
  const int closed = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in closed_addr{};
  closed_addr.sin_family = AF_INET;
  closed_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(closed, reinterpret_cast<sockaddr*>(&closed_addr), sizeof closed_addr), 0);
  ASSERT_EQ(::getsockname(closed, reinterpret_cast<sockaddr*>(&closed_addr), &len), 0);
  const int closed_port = ntohs(closed_addr.sin_port);  // bound, not listening: refused

  for (const auto& [port, expected] :
       {std::pair{closed_port, std::string("Couldn't connect to server")},
        std::pair{silent_port, std::string("Timeout was reached")}}) {
    SchemaRegistryClientConfig client;
    client.url = "http://127.0.0.1:" + std::to_string(port);
    client.timeout = 1500ms;
    const auto ser = registry_serializer(kSchema, {}, client)->for_topic("t", false);
    AvroDeserializerOptions o;
    o.schema_registry_client_config = client;
    const auto de = avro_deserializer(o);
    std::string wire;
    serde::append_wire_header(1, wire);
    std::string out;
    for (auto&& call : {std::function<void()>([&] { ser->serialize(order(1, 1, "NEW"), out); }),
                        std::function<void()>([&] { (void)de->deserialize_one(wire + "x"); })}) {
      const auto start = std::chrono::steady_clock::now();
      const std::string error = sft::serialization_error_of(call);
      const auto took = std::chrono::steady_clock::now() - start;
      EXPECT_NE(error.find("schema registry at '" + client.url + "'"), std::string::npos) << error;
      EXPECT_NE(error.find(expected), std::string::npos) << error;
      EXPECT_LT(took, 5s) << error;
    }
  }
  ::close(silent);
  ::close(closed);
}

// HTTPS with the registry's CA, and basic authentication: scripts/test starts the registry with
// both, so every test above sent the credentials; here, what happens without them.
TEST(SchemaRegistryAvro, HttpsWithItsCaAndBasicAuthWorkAndTheirAbsenceIsAClearError) {
  REQUIRE_TEST_SECURED_SCHEMA_REGISTRY();
  const std::string topic = sft::unique_name("sr-tls");
  SchemaRegistryClientConfig tls = registry();
  tls.url = *sft::test_schema_registry_tls();
  tls.ssl_ca_location = *sft::test_schema_registry_ca();
  std::string out;
  registry_serializer(kSchema, {}, tls)
      ->for_topic(topic, false)
      ->serialize(order(1, 1, "NEW"), out);
  AvroDeserializerOptions o;
  o.schema_registry_client_config = tls;
  EXPECT_EQ(avro_deserializer(o)->deserialize_one(out), order(1, 1, "NEW"));

  SchemaRegistryClientConfig untrusted = tls;
  untrusted.ssl_ca_location.clear();  // the system's CAs only
  EXPECT_NE(sft::serialization_error_of([&] {
              registry_serializer(kSchema, {}, untrusted)
                  ->for_topic(topic, false)
                  ->serialize(order(1, 1, "NEW"), out);
            }).find("SSL"),
            std::string::npos);
  for (const std::string user_info : {"", "alice:wrong"}) {
    SchemaRegistryClientConfig refused = registry();
    refused.basic_auth_user_info = user_info;
    const std::string error = sft::serialization_error_of([&] {
      registry_serializer(kSchema, {}, refused)
          ->for_topic(topic, false)
          ->serialize(order(1, 1, "NEW"), out);
    });
    EXPECT_NE(error.find("HTTP 401"), std::string::npos) << error;
    EXPECT_NE(error.find("basic_auth_user_info"), std::string::npos) << error;
  }
}

TEST(SchemaRegistryAvro, SettingsThatCannotWorkAreConfigErrors) {
  SchemaRegistryClientConfig bad;
  bad.url = "127.0.0.1:8081";
  EXPECT_THROW((void)registry_serializer(kSchema, {}, bad), ConfigError);
  AvroDeserializerOptions both;
  both.schema = kSchema;
  both.schema_registry_client_config = SchemaRegistryClientConfig{.url = "http://127.0.0.1:1"};
  EXPECT_THROW((void)avro_deserializer(both), ConfigError);
  SchemaRegistrySerializationConfig by_record;
  by_record.subject_name_strategy = SubjectNameStrategy::record_name;
  EXPECT_THROW((void)registry_serializer(R"("string")", by_record,
                                         SchemaRegistryClientConfig{.url = "http://127.0.0.1:1"}),
               ConfigError);
}

}  // namespace
}  // namespace streamframe
