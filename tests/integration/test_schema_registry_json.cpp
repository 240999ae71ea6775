// JSON Schema through a real schema registry (TOP-05, TOP-08): Apicurio Registry's
// Confluent-compatible API (scripts/registry) and a real broker. Confluent's wire format with
// schemaType "JSON", the subject strategies (record names from the schema's "title"),
// auto-registration on and off, and the failures: an unknown id, a wrong magic byte, a schema of
// another type, a record failing the writer's schema or the reader's own.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "integration/test_app_helpers.hpp"
#include "serde/schema_registry_client.hpp"
#include "streamframe/json_schema.hpp"
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

// A title of its own per run, so the record-name subjects are new.
std::string schema_titled(const std::string& title) {
  return R"({"$schema": "http://json-schema.org/draft-07/schema#", "title": ")" + title +
         R"(", "type": "object",
  "properties": {"id": {"type": "integer"}, "qty": {"type": "integer", "minimum": 0},
                 "status": {"enum": ["NEW", "PAID"]}},
  "required": ["id", "qty", "status"]})";
}

const std::string kSchema = schema_titled("Order");

SchemaRegistryClientConfig registry() {
  return sft::test_registry_config();
}

std::shared_ptr<const Serializer> registry_serializer(
    const std::string& schema, SchemaRegistrySerializationConfig config = {},
    SchemaRegistryClientConfig client = registry()) {
  JsonSerializerOptions o;
  o.schema = schema;
  o.schema_registry_client_config = client;
  o.schema_registry_serialization_config = config;
  return json_serializer(o);
}

std::shared_ptr<const Deserializer> registry_deserializer(
    const std::string& local_schema = {}, SchemaRegistryClientConfig client = registry()) {
  JsonDeserializerOptions o;
  o.schema = local_schema;
  o.schema_registry_client_config = client;
  return json_deserializer(o);
}

Value order(int id, int qty, const char* status) {
  return Value::object({{"id", id}, {"qty", qty}, {"status", status}});
}

TEST(SchemaRegistryJson, APipelineReadsAndWritesConfluentFramedJsonWithRegisteredIds) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string in_name = sft::unique_name("srj-in");
  const std::string out_name = sft::unique_name("srj-out");
  Application app(apptest::base_config(sft::unique_name("srj-grp")));
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
  const std::int32_t in_id = client.lookup_schema(in_name + "-value", kSchema, "JSON");
  const std::int32_t out_id = client.lookup_schema(out_name + "-value", kSchema, "JSON");
  EXPECT_EQ(client.schema_by_id(out_id)->type, "JSON");
  sft::KafkaProbe probe(apptest::brokers());
  const auto read_in = probe.read_all(in_name, 1, 20s);
  ASSERT_EQ(read_in.size(), 2u);
  EXPECT_EQ(header_id(*read_in[0].value), in_id);
  const auto written = probe.read_all(out_name, 1, 20s);
  ASSERT_EQ(written.size(), 2u);
  const auto de = registry_deserializer();
  EXPECT_EQ(header_id(*written[0].value), out_id);
  EXPECT_EQ(de->deserialize_one(*written[0].value), order(1, 20, "NEW"));
  EXPECT_EQ(header_id(*written[1].value), out_id);
  EXPECT_EQ(de->deserialize_one(*written[1].value), order(2, 50, "PAID"));
  // The payload after the 5-byte header is what the plain json serializer writes.
  EXPECT_EQ(std::string_view(*written[1].value).substr(serde::kWireHeaderSize),
            R"({"id":2,"qty":50,"status":"PAID"})");
}

TEST(SchemaRegistryJson, SubjectsFollowTheStrategyAndKeysGetTheKeySubject) {
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string topic = sft::unique_name("srj-subjects");
  const std::string title = "Order" + std::to_string(::getpid()) + "x" +
                            std::to_string(std::chrono::system_clock::now().time_since_epoch() /
                                           std::chrono::milliseconds(1));
  const std::string schema = schema_titled(title);
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
  EXPECT_EQ(by_topic, client.lookup_schema(topic + "-value", schema, "JSON"));
  const std::int32_t by_topic_key = serialize_with(SubjectNameStrategy::topic_name, true);
  EXPECT_EQ(by_topic_key, client.lookup_schema(topic + "-key", schema, "JSON"));
  const std::int32_t by_record = serialize_with(SubjectNameStrategy::record_name, false);
  EXPECT_EQ(by_record, client.lookup_schema(title, schema, "JSON"));
  const std::int32_t by_topic_record =
      serialize_with(SubjectNameStrategy::topic_record_name, false);
  EXPECT_EQ(by_topic_record, client.lookup_schema(topic + "-" + title, schema, "JSON"));
  // None of them was registered under another strategy's subject.
  EXPECT_NE(sft::serialization_error_of([&] {
              client.lookup_schema(title + "-value", schema, "JSON");
            }).find("404"),
            std::string::npos);
  // Not given to a topic, a topic-name serializer cannot know its subject.
  EXPECT_NE(sft::serialization_error_of([&] {
              registry_serializer(schema)->serialize(order(1, 1, "NEW"), out);
            }).find("need the topic"),
            std::string::npos);
}

TEST(SchemaRegistryJson, WithoutAutoRegistrationTheSchemaMustAlreadyBeThere) {
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string topic = sft::unique_name("srj-noauto");
  SchemaRegistrySerializationConfig c;
  c.auto_register_schemas = false;
  const auto ser = registry_serializer(kSchema, c)->for_topic(topic, false);
  std::string out;
  const std::string error =
      sft::serialization_error_of([&] { ser->serialize(order(1, 1, "NEW"), out); });
  EXPECT_NE(error.find("looking up the JSON schema under subject '" + topic + "-value'"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("HTTP 404"), std::string::npos) << error;
  serde::SchemaRegistryClient client(registry());
  const std::int32_t id = client.register_schema(topic + "-value", kSchema, "JSON");
  ser->serialize(order(1, 1, "NEW"), out);  // the failed lookup is asked again
  EXPECT_EQ(header_id(out), id);
}

TEST(SchemaRegistryJson, AValueFailingTheSchemaIsRefusedBeforeAnythingIsWritten) {
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const auto ser = registry_serializer(kSchema)->for_topic(sft::unique_name("srj-refuse"), false);
  std::string out = "untouched";
  EXPECT_EQ(sft::serialization_error_of([&] { ser->serialize(order(1, -1, "NEW"), out); }),
            "json serializer: schema validation failed at '/qty': Expected number greater than or "
            "equal to 0.000000");
  EXPECT_EQ(out, "untouched");
}

TEST(SchemaRegistryJson, BadRecordsReachTheErrorCallbackNamingWhereAndWhy) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string in_name = sft::unique_name("srj-bad");
  serde::SchemaRegistryClient client(registry());
  const std::int32_t avro_id = client.register_schema(sft::unique_name("srj-avro") + "-value",
                                                      R"({"type": "string"})", "AVRO");
  const std::int32_t json_id =
      client.register_schema(sft::unique_name("srj-json") + "-value", kSchema, "JSON");
  auto config = apptest::base_config(sft::unique_name("srj-bad-grp"));
  std::vector<std::string> errors;
  std::vector<std::int64_t> offsets;
  config.on_consumer_error = [&](const std::exception& e, const ErrorContext& ctx) {
    errors.emplace_back(e.what());
    offsets.push_back(ctx.message != nullptr ? ctx.message->offset : -1);
    return ErrorAction::skip;
  };
  Application app(config);
  const Topic in = app.topic(in_name, {.value_deserializer = registry_deserializer(),
                                       .value_serializer = registry_serializer(kSchema)});
  std::string unknown_id;
  serde::append_wire_header(2'000'000'000, unknown_id);
  unknown_id += "{}";
  std::string avro_schema_id;
  serde::append_wire_header(avro_id, avro_schema_id);
  avro_schema_id += "\"x\"";
  std::string failing;  // framed with the registered JSON schema, but missing "status"
  serde::append_wire_header(json_id, failing);
  failing += R"({"id": 3, "qty": 1})";
  std::string not_json;
  serde::append_wire_header(json_id, not_json);
  not_json += "{\"id\": ";
  {
    Producer producer = app.get_producer();
    producer.produce(in_name, std::nullopt, std::string_view(unknown_id));
    producer.produce(in_name, std::nullopt, std::string_view("\x01\x00\x00\x00\x01{}", 7));
    producer.produce(in_name, std::nullopt, std::string_view(avro_schema_id));
    producer.produce(in_name, std::nullopt, std::string_view(failing));
    producer.produce(in_name, std::nullopt, std::string_view(not_json));
    producer.produce(in, order(7, 1, "PAID"));
    ASSERT_TRUE(producer.flush(10s));
  }
  const auto rows = app.dataframe(in);
  const auto out = app.run({.timeout = 20s, .count = 1});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], order(7, 1, "PAID"));
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(offsets, (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_NE(errors[0].find("fetching schema id 2000000000: HTTP 404"), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[0].find("(topic '" + in_name + "', partition 0, offset 0)"), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("magic byte 0x01"), std::string::npos) << errors[1];
  EXPECT_NE(errors[2].find("json deserializer: schema id " + std::to_string(avro_id) +
                           " in the schema registry at '" + registry().url + "' is a AVRO schema"),
            std::string::npos)
      << errors[2];
  EXPECT_NE(errors[3].find("json deserializer: schema validation failed at '' (the document): "
                           "Missing required property 'status'. (topic '" +
                           in_name + "', partition 0, offset 3)"),
            std::string::npos)
      << errors[3];
  EXPECT_NE(errors[4].find("offset 4)"), std::string::npos) << errors[4];
}

TEST(SchemaRegistryJson, AReaderSchemaOfItsOwnIsValidatedInsteadOfTheWriters) {
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string topic = sft::unique_name("srj-local");
  std::string small;
  std::string big;
  const auto ser = registry_serializer(kSchema)->for_topic(topic, false);
  ser->serialize(order(1, 5, "NEW"), small);
  ser->serialize(order(2, 500, "NEW"), big);
  // The writer's schema takes both; the reader's own caps qty.
  EXPECT_EQ(registry_deserializer()->deserialize_one(big), order(2, 500, "NEW"));
  const auto de = registry_deserializer(R"({"properties": {"qty": {"maximum": 100}}})");
  EXPECT_EQ(de->deserialize_one(small), order(1, 5, "NEW"));
  EXPECT_EQ(sft::serialization_error_of([&] { (void)de->deserialize_one(big); }),
            "json deserializer: schema validation failed at '/qty': Expected number less than or "
            "equal to 100.000000");
  // The id is still checked against the registry.
  std::string unknown;
  serde::append_wire_header(2'000'000'001, unknown);
  EXPECT_NE(sft::serialization_error_of([&] {
              (void)de->deserialize_one(unknown + "{}");
            }).find("HTTP 404"),
            std::string::npos);
}

// HTTPS with the registry's CA, and basic authentication: scripts/test starts the registry with
// both; here, what happens without them.
TEST(SchemaRegistryJson, HttpsWithItsCaAndBasicAuthWorkAndTheirAbsenceIsAClearError) {
  REQUIRE_TEST_SECURED_SCHEMA_REGISTRY();
  const std::string topic = sft::unique_name("srj-tls");
  SchemaRegistryClientConfig tls = registry();
  tls.url = *sft::test_schema_registry_tls();
  tls.ssl_ca_location = *sft::test_schema_registry_ca();
  std::string out;
  registry_serializer(kSchema, {}, tls)
      ->for_topic(topic, false)
      ->serialize(order(1, 1, "NEW"), out);
  EXPECT_EQ(registry_deserializer({}, tls)->deserialize_one(out), order(1, 1, "NEW"));

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
    // ... and reading: the id of the record written above is fetched without the credentials.
    SchemaRegistryClientConfig refused_tls = tls;
    refused_tls.basic_auth_user_info = user_info;
    EXPECT_NE(sft::serialization_error_of([&] {
                (void)registry_deserializer({}, refused_tls)->deserialize_one(out);
              }).find("HTTP 401"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace streamframe
