// Protobuf through a real schema registry (TOP-07, TOP-08): Apicurio Registry's
// Confluent-compatible API (scripts/registry) and a real broker. Confluent's wire format with
// its message indexes, the schema as confluent-kafka registers it (a base64
// FileDescriptorProto), imported files as references, the subject strategies, auto-registration
// off, and undecodable records through the error callback.
#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <chrono>
#include <string>
#include <vector>

#include "catalog.pb.h"
#include "integration/test_app_helpers.hpp"
#include "serde/schema_registry_client.hpp"
#include "shop.pb.h"
#include "streamframe/protobuf.hpp"
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

SchemaRegistryClientConfig registry() {
  return sft::test_registry_config();
}

std::shared_ptr<const Serializer> registry_serializer(
    const google::protobuf::Descriptor* type, SchemaRegistrySerializationConfig config = {}) {
  ProtobufSerializerOptions o;
  o.msg_type.descriptor = type;
  o.schema_registry_client_config = registry();
  o.schema_registry_serialization_config = config;
  return protobuf_serializer(o);
}

std::shared_ptr<const Deserializer> registry_deserializer(
    const google::protobuf::Descriptor* type) {
  ProtobufDeserializerOptions o;
  o.msg_type.descriptor = type;
  o.schema_registry_client_config = registry();
  return protobuf_deserializer(o);
}

// A file's schema as confluent-kafka's Python serializer registers it.
std::string file_schema(const google::protobuf::FileDescriptor* file) {
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  const std::string bytes = proto.SerializeAsString();
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Value reading(const char* sensor, double temperature, std::int64_t ts) {
  return Value::object(
      {{"sensor", sensor}, {"temperature", temperature}, {"ts", std::to_string(ts)}});
}

TEST(SchemaRegistryProtobuf, APipelineReadsAndWritesConfluentFramedProtobuf) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string in_name = sft::unique_name("srpb-in");
  const std::string out_name = sft::unique_name("srpb-out");
  Application app(apptest::base_config(sft::unique_name("srpb-grp")));
  const auto* type = shop::Reading::descriptor();
  const Topic in = app.topic(in_name, {.value_deserializer = registry_deserializer(type),
                                       .value_serializer = registry_serializer(type)});
  const Topic out = app.topic(out_name, {.value_serializer = registry_serializer(type)});
  {
    Producer producer = app.get_producer();
    producer.produce(in, reading("s1", 21.5, 1), Value("k1"));
    producer.produce(in, reading("s2", -3.0, 2), Value("k2"));
    ASSERT_TRUE(producer.flush(10s));
  }
  auto sdf = app.dataframe(in);
  sdf["temperature"] = sdf["temperature"] * 9 / 5 + 32;
  sdf.to_topic(out);
  ASSERT_EQ(app.run({.timeout = 20s, .count = 2}).size(), 2u);

  serde::SchemaRegistryClient client(registry());
  const std::string schema = file_schema(type->file());
  const std::int32_t out_id = client.lookup_schema(out_name + "-value", schema, "PROTOBUF");
  EXPECT_EQ(client.lookup_schema(in_name + "-value", schema, "PROTOBUF"), out_id);
  const auto registered = client.schema_by_id(out_id);
  EXPECT_EQ(registered->type, "PROTOBUF");
  EXPECT_EQ(registered->schema, schema);

  sft::KafkaProbe probe(apptest::brokers());
  const auto written = probe.read_all(out_name, 1, 20s);
  ASSERT_EQ(written.size(), 2u);
  const std::string& first = *written[0].value;
  EXPECT_EQ(header_id(first), out_id);
  // Reading is the file's fourth message: indexes [3], as a count and zigzag varints.
  ASSERT_GT(first.size(), 7u);
  EXPECT_EQ(first.substr(5, 2), std::string("\x02\x06", 2));
  shop::Reading parsed;
  ASSERT_TRUE(parsed.ParseFromString(first.substr(7)));
  EXPECT_EQ(parsed.sensor(), "s1");
  EXPECT_DOUBLE_EQ(parsed.temperature(), 21.5 * 9 / 5 + 32);
  EXPECT_EQ(parsed.ts(), 1);
  const auto de = registry_deserializer(type);
  EXPECT_EQ(de->deserialize_one(*written[1].value), reading("s2", -3.0 * 9 / 5 + 32, 2));
}

TEST(SchemaRegistryProtobuf, MessageIndexesNameNestedTypesAndTheFirstTypeIsOneZeroByte) {
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string topic = sft::unique_name("srpb-idx");
  std::string out;
  registry_serializer(shop::Item::descriptor())
      ->for_topic(topic, false)
      ->serialize(Value::object({{"sku", "a"}}), out);
  EXPECT_EQ(out.substr(5, 1), std::string(1, '\0'));  // Item is message 0: [0] is one zero byte
  registry_serializer(shop::Order::Address::descriptor())
      ->for_topic(topic + "-nested", false)
      ->serialize(Value::object({{"city", "Oslo"}}), out);
  // [2, 2]: Order is the file's third message, and Address its third nested type, after the
  // entry types of its two maps (as Confluent's serializers count them too).
  EXPECT_EQ(out.substr(5, 3), std::string("\x04\x04\x04", 3));
  EXPECT_EQ(registry_deserializer(shop::Order::Address::descriptor())->deserialize_one(out),
            Value::object({{"city", "Oslo"}}));
}

TEST(SchemaRegistryProtobuf, ImportedFilesAreRegisteredAsReferences) {
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string topic = sft::unique_name("srpb-refs");
  std::string out;
  registry_serializer(catalog::Listing::descriptor())
      ->for_topic(topic, false)
      ->serialize(Value::object({{"item", Value::object({{"sku", "a"}})}, {"seller", "me"}}), out);
  serde::SchemaRegistryClient client(registry());
  // shop.proto under its own name, the well-known files it imports not at all.
  const serde::SubjectVersion shop_file = client.lookup_version(
      "shop.proto", file_schema(shop::Item::descriptor()->file()), "PROTOBUF");
  EXPECT_GE(shop_file.version, 1);
  const std::int32_t listing_id =
      client.lookup_schema(topic + "-value", file_schema(catalog::Listing::descriptor()->file()),
                           "PROTOBUF", {{"shop.proto", "shop.proto", shop_file.version}});
  EXPECT_EQ(header_id(out), listing_id);
  EXPECT_NE(sft::serialization_error_of([&] {
              client.lookup_version("google/protobuf/timestamp.proto", "x", "PROTOBUF");
            }).find("HTTP 404"),
            std::string::npos);
}

TEST(SchemaRegistryProtobuf, SubjectStrategiesAndAutoRegistrationOff) {
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string topic = sft::unique_name("srpb-subjects");
  const auto* type = shop::Reading::descriptor();
  const std::string schema = file_schema(type->file());
  serde::SchemaRegistryClient client(registry());
  std::string out;
  SchemaRegistrySerializationConfig c;
  c.subject_name_strategy = SubjectNameStrategy::topic_record_name;
  registry_serializer(type, c)->for_topic(topic, false)->serialize(reading("a", 1, 1), out);
  EXPECT_EQ(header_id(out), client.lookup_schema(topic + "-shop.Reading", schema, "PROTOBUF"));
  c.subject_name_strategy = SubjectNameStrategy::record_name;
  registry_serializer(type, c)->for_topic(topic, false)->serialize(reading("a", 1, 1), out);
  EXPECT_EQ(header_id(out), client.lookup_schema("shop.Reading", schema, "PROTOBUF"));

  SchemaRegistrySerializationConfig off;
  off.auto_register_schemas = false;
  const auto ser = registry_serializer(type, off)->for_topic(topic + "-none", false);
  const std::string error =
      sft::serialization_error_of([&] { ser->serialize(reading("a", 1, 1), out); });
  EXPECT_NE(error.find("looking up the PROTOBUF schema under subject '" + topic + "-none-value'"),
            std::string::npos)
      << error;
  const std::int32_t id = client.register_schema(topic + "-none-value", schema, "PROTOBUF");
  ser->serialize(reading("a", 1, 1), out);  // the failed lookup is asked again
  EXPECT_EQ(header_id(out), id);
}

TEST(SchemaRegistryProtobuf, UndecodableRecordsReachTheErrorCallbackNamingWhereAndWhy) {
  REQUIRE_TEST_BROKERS();
  REQUIRE_TEST_SCHEMA_REGISTRY();
  const std::string in_name = sft::unique_name("srpb-bad");
  serde::SchemaRegistryClient client(registry());
  const std::int32_t avro_id = client.register_schema(sft::unique_name("srpb-avro") + "-value",
                                                      R"({"type": "string"})", "AVRO");
  auto config = apptest::base_config(sft::unique_name("srpb-bad-grp"));
  std::vector<std::string> errors;
  config.on_consumer_error = [&](const std::exception& e, const ErrorContext&) {
    errors.emplace_back(e.what());
    return ErrorAction::skip;
  };
  Application app(config);
  const auto* type = shop::Reading::descriptor();
  const Topic in = app.topic(in_name, {.value_deserializer = registry_deserializer(type),
                                       .value_serializer = registry_serializer(type)});
  std::string unknown_id;
  serde::append_wire_header(2'000'000'000, unknown_id);
  unknown_id += std::string("\x00\x0a\x01x", 4);
  std::string avro_schema_id;
  serde::append_wire_header(avro_id, avro_schema_id);
  avro_schema_id += std::string("\x00\x02x", 3);
  {
    Producer producer = app.get_producer();
    producer.produce(in_name, std::nullopt, std::string_view(unknown_id));
    producer.produce(in_name, std::nullopt, std::string_view("\x01\x00\x00\x00\x01\x00", 6));
    producer.produce(in_name, std::nullopt, std::string_view(avro_schema_id));
    producer.produce(in, reading("ok", 1.5, 7));
    ASSERT_TRUE(producer.flush(10s));
  }
  const auto sdf = app.dataframe(in);
  const auto out = app.run({.timeout = 20s, .count = 1});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], reading("ok", 1.5, 7));
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("fetching schema id 2000000000: HTTP 404"), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[0].find("(topic '" + in_name + "', partition 0, offset 0)"), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("magic byte 0x01"), std::string::npos) << errors[1];
  EXPECT_NE(errors[1].find("offset 1)"), std::string::npos) << errors[1];
  EXPECT_NE(errors[2].find("is a AVRO schema"), std::string::npos) << errors[2];

  // Malformed message indexes (checked after the id).
  const auto de = registry_deserializer(type);
  std::string good_header;
  serde::append_wire_header(
      client.lookup_schema(in_name + "-value", file_schema(type->file()), "PROTOBUF"), good_header);
  EXPECT_NE(sft::serialization_error_of([&] {
              de->deserialize_one(good_header + "\xff");
            }).find("message indexes after the schema id are malformed"),
            std::string::npos);
}

}  // namespace
}  // namespace streamframe
