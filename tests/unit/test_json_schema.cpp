// JSON Schema validation on the json serdes (include/streamframe/json_schema.hpp, SEMANTICS
// TOP-05): what each keyword accepts and refuses, the failing path in the message, bad schemas,
// the bytes (the plain json serde's), threads, and a failing record in a running application.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "streamframe/application.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/json_schema.hpp"
#include "streamframe/producer.hpp"
#include "streamframe/serde.hpp"
#include "streamframe/topic.hpp"
#include "streamframe/value.hpp"
#include "support/embedded_config.hpp"
#include "support/expect_error.hpp"
#include "support/kafka_probe.hpp"

namespace streamframe {
namespace {

using test::error_message;
using test::expect_error;

const char* const kOrderSchema = R"({
  "title": "Order",
  "type": "object",
  "properties": {
    "id": {"type": "integer"},
    "price": {"type": "number", "minimum": 0, "maximum": 1000},
    "status": {"enum": ["NEW", "PAID"]},
    "kind": {"const": "order"},
    "sku": {"type": "string", "minLength": 3, "pattern": "^[A-Z]+[0-9]+$"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "items": {"type": "array", "items": {"$ref": "#/definitions/line"}},
    "customer": {"type": "object", "properties": {"address": {"type": "object",
                 "properties": {"zip": {"type": "string"}}, "required": ["zip"]}}}
  },
  "required": ["id", "price"],
  "additionalProperties": false,
  "definitions": {
    "line": {"type": "object", "properties": {"price": {"type": "number", "minimum": 0}},
             "required": ["price"]}
  }
})";

Value order() {
  return Value::object(
      {{"id", 7},
       {"price", 12.5},
       {"status", "NEW"},
       {"kind", "order"},
       {"sku", "AB12"},
       {"tags", Value::array({"a", "b"})},
       {"items", Value::array({Value::object({{"price", 1}}), Value::object({{"price", 2.5}})})},
       {"customer", Value::object({{"address", Value::object({{"zip", "1000"}})}})}});
}

Value with(Value v, std::string_view key, Value field) {
  v.as_object().set(key, std::move(field));
  return v;
}

std::shared_ptr<const Serializer> serializer(const char* schema = kOrderSchema) {
  return json_serializer({.schema = schema});
}

std::string serialize(const Value& v, const char* schema = kOrderSchema) {
  std::string out;
  serializer(schema)->serialize(v, out);
  return out;
}

// The message a value failing kOrderSchema gets from the serializer.
std::string failure(const Value& v, const char* schema = kOrderSchema) {
  return error_message<SerializationError>([&] { serialize(v, schema); });
}

TEST(JsonSchema, AValidValueIsWrittenAsThePlainJsonSerializerWritesIt) {
  const Value v = order();
  std::string plain;
  make_serializer("json")->serialize(v, plain);
  EXPECT_EQ(serialize(v), plain);
  EXPECT_EQ(json_serializer({.schema = kOrderSchema})->name(), "json");
  // The output buffer is cleared first, as every serializer's.
  std::string out = "left over";
  serializer()->serialize(v, out);
  EXPECT_EQ(out, plain);
}

TEST(JsonSchema, WithoutASchemaTheSerdesAreThePlainJsonOnes) {
  EXPECT_EQ(json_serializer({}), make_serializer("json"));
  EXPECT_EQ(json_deserializer({}), make_deserializer("json"));
}

TEST(JsonSchema, TypeIsChecked) {
  EXPECT_EQ(failure(Value(3)),
            "json serializer: schema validation failed at '' (the document): Value type not "
            "permitted by 'type' constraint.");
  const std::string m = failure(with(order(), "id", "7"));
  EXPECT_NE(m.find("schema validation failed at '/id': Value type not permitted by 'type' "
                   "constraint."),
            std::string::npos)
      << m;
  EXPECT_NE(failure(with(order(), "tags", Value::object())).find("at '/tags'"), std::string::npos);
}

TEST(JsonSchema, AnIntegralDoubleIsAnIntegerAsInDraft6AndLater) {
  EXPECT_NO_THROW(serialize(with(order(), "id", 7.0)));
  EXPECT_NE(failure(with(order(), "id", 7.5)).find("at '/id'"), std::string::npos);
  EXPECT_NE(failure(with(order(), "id", true)).find("at '/id'"), std::string::npos);
}

TEST(JsonSchema, RequiredPropertiesAreChecked) {
  Value v = order();
  v.as_object().erase("price");
  EXPECT_EQ(failure(v),
            "json serializer: schema validation failed at '' (the document): Missing required "
            "property 'price'.");
}

TEST(JsonSchema, AdditionalPropertiesFalseRefusesOthers) {
  const std::string m = failure(with(order(), "extra", 1));
  EXPECT_NE(m.find("at '' (the document): Object contains a property that could not be "
                   "validated using 'properties' or 'additionalProperties' constraints: 'extra'"),
            std::string::npos)
      << m;
}

TEST(JsonSchema, EnumAndConstAreChecked) {
  EXPECT_NO_THROW(serialize(with(order(), "status", "PAID")));
  EXPECT_NE(failure(with(order(), "status", "LOST"))
                .find("at '/status': Failed to match against any enum values."),
            std::string::npos);
  EXPECT_NE(failure(with(order(), "kind", "refund")).find("at '/kind'"), std::string::npos);
  EXPECT_NE(failure(with(order(), "kind", "refund")).find("const"), std::string::npos);
}

TEST(JsonSchema, MinimumAndMaximumAreChecked) {
  EXPECT_NO_THROW(serialize(with(order(), "price", 0)));
  EXPECT_NO_THROW(serialize(with(order(), "price", 1000.0)));
  EXPECT_EQ(failure(with(order(), "price", -0.5)),
            "json serializer: schema validation failed at '/price': Expected number greater "
            "than or equal to 0.000000");
  EXPECT_NE(failure(with(order(), "price", 1000.5))
                .find("at '/price': Expected number less than or equal to 1000.000000"),
            std::string::npos);
}

TEST(JsonSchema, MinLengthAndPatternAreChecked) {
  EXPECT_NE(failure(with(order(), "sku", "A1"))
                .find("at '/sku': String should be no fewer than 3 characters in length."),
            std::string::npos);
  EXPECT_NE(failure(with(order(), "sku", "ab12"))
                .find("at '/sku': Failed to match regex specified by 'pattern' constraint."),
            std::string::npos);
}

TEST(JsonSchema, ItemsAreChecked) {
  EXPECT_NE(failure(with(order(), "tags", Value::array({"a", 2}))).find("at '/tags/1'"),
            std::string::npos);
}

TEST(JsonSchema, NestedFailuresNameTheirPathThroughObjectsArraysAndRefs) {
  Value v = order();
  v["items"].as_array()[0].as_object().set("price", Value(-1));
  const std::string m = failure(v);
  EXPECT_NE(m.find("schema validation failed at '/items/0/price': Expected number greater than "
                   "or equal to 0.000000"),
            std::string::npos)
      << m;
  Value missing = order();
  missing["items"].as_array()[1].as_object().erase("price");
  EXPECT_NE(failure(missing).find("at '/items/1': Missing required property 'price'."),
            std::string::npos);
  Value zip = order();
  zip["customer"]["address"].as_object().set("zip", Value(1000));
  EXPECT_NE(failure(zip).find("at '/customer/address/zip'"), std::string::npos);
}

TEST(JsonSchema, BooleanSchemasAcceptEverythingOrNothing) {
  EXPECT_NO_THROW(serialize(Value::object({{"any", Value::array({1, "x"})}}), "true"));
  EXPECT_EQ(failure(Value(1), "false").rfind("json serializer: schema validation failed", 0), 0u);
  EXPECT_NO_THROW(serialize(Value(1), R"({"properties": {"a": false}})"));
  // valijson reports nothing for the false schema itself: the property that met it is named.
  EXPECT_EQ(failure(Value::object({{"a", 1}}), R"({"properties": {"a": false}})"),
            "json serializer: schema validation failed at '' (the document): Failed to validate "
            "against schema associated with property name 'a'.");
}

TEST(JsonSchema, CombinatorsAreChecked) {
  const char* schema = R"({"properties": {"v": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                                          "w": {"oneOf": [{"minimum": 0}, {"maximum": 10}]},
                                          "x": {"not": {"type": "null"}}}})";
  EXPECT_NO_THROW(serialize(Value::object({{"v", "s"}, {"w", -1}, {"x", 1}}), schema));
  EXPECT_NE(failure(Value::object({{"v", true}}), schema).find("at '/v'"), std::string::npos);
  EXPECT_NE(failure(Value::object({{"w", 5}}), schema).find("at '/w'"), std::string::npos);
  EXPECT_NE(failure(Value::object({{"x", nullptr}}), schema).find("at '/x'"), std::string::npos);
}

TEST(JsonSchema, PathStepsAreEscapedAsJsonPointerTokens) {
  const char* schema = R"({"properties": {"a/b": {"properties": {"c~d": {"type": "string"}}}}})";
  EXPECT_NE(failure(Value::object({{"a/b", Value::object({{"c~d", 1}})}}), schema)
                .find("at '/a~1b/c~0d'"),
            std::string::npos);
}

TEST(JsonSchema, FormatIsNotAsserted) {
  // As Quix Streams' and confluent-kafka's validators (no format checker); valijson would.
  const char* schema = R"({"properties": {"day": {"type": "string", "format": "date"},
                                          "at": {"format": "date-time"}}})";
  EXPECT_NO_THROW(
      serialize(Value::object({{"day", "not a date"}, {"at", Value::object({{"x", 1}})}}), schema));
  // ... wherever a "$ref" finds it; and a "format" inside data ("const") stays data.
  const char* anywhere = R"({"properties": {"d": {"$ref": "#/x/day"},
                                            "c": {"const": {"format": "date"}}},
                             "x": {"day": {"format": "date"}}})";
  EXPECT_NO_THROW(serialize(Value::object({{"d", "never"}}), anywhere));
  EXPECT_NO_THROW(serialize(Value::object({{"c", Value::object({{"format", "date"}})}}), anywhere));
  EXPECT_NE(failure(Value::object({{"c", Value::object()}}), anywhere).find("at '/c'"),
            std::string::npos);
  // ... and a property named "format" is still a property.
  const char* named = R"({"properties": {"format": {"type": "string"}}})";
  EXPECT_NE(failure(Value::object({{"format", 1}}), named).find("at '/format'"), std::string::npos);
}

TEST(JsonSchema, Draft4SchemasAreReadAsDraft4) {
  // Draft 4's boolean exclusiveMinimum; draft 7 would take it as the number form and refuse it.
  const char* schema = R"({"$schema": "http://json-schema.org/draft-04/schema#",
    "properties": {"n": {"type": "number", "minimum": 0, "exclusiveMinimum": true}}})";
  EXPECT_NO_THROW(serialize(Value::object({{"n", 0.5}}), schema));
  EXPECT_NE(failure(Value::object({{"n", 0}}), schema).find("Expected number greater than 0"),
            std::string::npos);
}

// docs/behaviour.md TOP-05: "$defs" is found by its JSON Pointer; keywords new in 2019-09 and
// 2020-12 are ignored, as unknown keywords are (a Δ from Quix Streams' Draft 2020-12).
TEST(JsonSchema, Draft2020KeywordsValijsonLacksAreIgnored) {
  const char* defs = R"({"$schema": "https://json-schema.org/draft/2020-12/schema",
    "properties": {"p": {"$ref": "#/$defs/positive"}}, "$defs": {"positive": {"minimum": 1}}})";
  EXPECT_NO_THROW(serialize(Value::object({{"p", 2}}), defs));
  EXPECT_NE(failure(Value::object({{"p", 0}}), defs).find("at '/p'"), std::string::npos);
  const char* newer = R"({"prefixItems": [{"type": "string"}],
    "dependentRequired": {"a": ["b"]}, "unevaluatedProperties": false})";
  EXPECT_NO_THROW(serialize(Value::array({1}), newer));
  EXPECT_NO_THROW(serialize(Value::object({{"a", 1}, {"c", 2}}), newer));
}

TEST(JsonSchema, ABadSchemaIsAConfigError) {
  expect_error<ConfigError>([] { json_serializer({.schema = "{not json"}); },
                            "json serializer: the schema is not JSON");
  expect_error<ConfigError>(
      [] { json_deserializer({.schema = "[1, 2]"}); },
      "json deserializer: a JSON Schema is an object or a boolean, got array");
  expect_error<ConfigError>([] { json_serializer({.schema = R"({"type": "nonsense"})"}); },
                            "json serializer: not a valid JSON Schema");
  expect_error<ConfigError>([] { json_serializer({.schema = R"({"minimum": "zero"})"}); },
                            "json serializer: not a valid JSON Schema");
  expect_error<ConfigError>([] { json_serializer({.schema = R"({"$ref": "#/definitions/x"})"}); },
                            "json serializer: not a valid JSON Schema");
  expect_error<ConfigError>(
      [] { json_serializer({.schema = R"({"$ref": "http://example.com/s.json"})"}); },
      "json serializer: not a valid JSON Schema");
  expect_error<ConfigError>([] { json_serializer({.schema = "{}", .schema_file = "/tmp/x.json"}); },
                            "json serializer: set one of schema and schema_file, not both");
  expect_error<ConfigError>(
      [] { json_deserializer({.schema_file = "/nonexistent/streamframe/schema.json"}); },
      "json deserializer: cannot read the schema file '/nonexistent/streamframe/schema.json'");
}

TEST(JsonSchema, TheSchemaMayComeFromAFile) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("sf-json-schema-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream f(path);
    f << kOrderSchema;
  }
  auto s = json_serializer({.schema_file = path.string()});
  auto d = json_deserializer({.schema_file = path.string()});
  std::filesystem::remove(path);
  std::string out;
  s->serialize(order(), out);
  EXPECT_EQ(d->deserialize_one(out), order());
  expect_error<SerializationError>([&] { s->serialize(with(order(), "price", -1), out); },
                                   "at '/price'");
}

TEST(JsonSchema, TheDeserializerParsesThenValidates) {
  auto d = json_deserializer({.schema = kOrderSchema});
  EXPECT_EQ(d->name(), "json");
  const std::string good = order().to_json();
  EXPECT_EQ(d->deserialize_one(good), order());
  // What the plain json deserializer reads, this one reads the same.
  EXPECT_EQ(d->deserialize_one(good), make_deserializer("json")->deserialize_one(good));
  const std::string bad = with(order(), "price", -2).to_json();
  EXPECT_EQ(error_message<SerializationError>([&] { d->deserialize_one(bad); }),
            "json deserializer: schema validation failed at '/price': Expected number greater "
            "than or equal to 0.000000");
  // validate() (the forwarding path) refuses it too.
  expect_error<SerializationError>([&] { d->validate(bad, Headers{}); },
                                   "json deserializer: schema validation failed at '/price'");
  // Not JSON: the json deserializer's own error.
  expect_error<SerializationError>([&] { d->deserialize_one("{\"id\": "); }, "");
  // It does not forward original bytes in place of its serializer's: the check would be lost.
  EXPECT_FALSE(d->round_trips_with(*json_serializer({.schema = kOrderSchema})));
}

TEST(JsonSchema, ARegistrySerializerNeedsASchemaAndATitleForRecordNames) {
  const SchemaRegistryClientConfig registry{.url = "http://127.0.0.1:9"};
  expect_error<ConfigError>(
      [&] { json_serializer({.schema_registry_client_config = registry}); },
      "json serializer: with a schema registry the serializer registers its schema");
  for (auto strategy : {SubjectNameStrategy::record_name, SubjectNameStrategy::topic_record_name}) {
    expect_error<ConfigError>(
        [&] {
          json_serializer(
              {.schema = R"({"type": "object"})",
               .schema_registry_client_config = registry,
               .schema_registry_serialization_config = {.subject_name_strategy = strategy}});
        },
        "the record-name subject strategies name the subject after the schema's \"title\"");
  }
  EXPECT_NO_THROW(
      json_serializer({.schema = kOrderSchema,
                       .schema_registry_client_config = registry,
                       .schema_registry_serialization_config = {
                           .subject_name_strategy = SubjectNameStrategy::record_name}}));
  // Reading from a registry needs no schema of its own.
  EXPECT_NO_THROW(json_deserializer({.schema_registry_client_config = registry}));
}

TEST(JsonSchema, OneSerializerValidatesOnManyThreadsAtOnce) {
  // "pattern" is the keyword whose compiled regex valijson caches in its Validator.
  auto s = serializer();
  auto d = json_deserializer({.schema = kOrderSchema});
  std::atomic<int> refused{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string out;
      const std::string plain = order().to_json();
      for (int i = 0; i < 2000; ++i) {
        const bool bad = (i + t) % 3 == 0;
        const Value v = bad ? with(order(), "sku", "bad sku") : order();
        try {
          s->serialize(v, out);
          if (bad || out != plain || d->deserialize_one(out) != v) ++wrong;
        } catch (const SerializationError& e) {
          if (!bad || std::string(e.what()).find("at '/sku'") == std::string::npos) ++wrong;
          ++refused;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  int expected = 0;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 2000; ++i) expected += (i + t) % 3 == 0 ? 1 : 0;
  }
  EXPECT_EQ(refused.load(), expected);
}

// A record failing its schema in a running application: the deserializer's failure goes to
// on_consumer_error and the serializer's to on_processing_error, each naming topic, partition
// and offset; with `skip` the records after it are all processed.
TEST(JsonSchemaEmbedded, RecordsFailingTheSchemaGoThroughTheErrorCallbacksAndNothingElseIsLost) {
  using namespace std::chrono_literals;
  auto cfg = test::embedded_config("json-schema-app");
  std::vector<std::string> consumer_errors;
  std::vector<std::string> processing_errors;
  std::vector<std::int64_t> offsets;
  cfg.on_consumer_error = [&](const std::exception& e, const ErrorContext& ctx) {
    consumer_errors.emplace_back(e.what());
    offsets.push_back(ctx.message != nullptr ? ctx.message->offset : -1);
    return ErrorAction::skip;
  };
  cfg.on_processing_error = [&](const std::exception& e, const ErrorContext& ctx) {
    processing_errors.emplace_back(e.what());
    offsets.push_back(ctx.message != nullptr ? ctx.message->offset : -1);
    return ErrorAction::skip;
  };
  Application app(cfg);
  const char* out_schema = R"({"type": "object", "properties": {"qty2": {"maximum": 100}}})";
  const Topic in = app.topic("json-schema-in",
                             {.value_deserializer = json_deserializer({.schema = kOrderSchema})});
  const Topic out =
      app.topic("json-schema-out", {.value_serializer = json_serializer({.schema = out_schema})});
  {
    Producer producer = app.get_producer();
    producer.produce("json-schema-in", std::string_view("a"), std::string_view(order().to_json()));
    producer.produce("json-schema-in", std::string_view("b"),
                     std::string_view(with(order(), "price", -1).to_json()));
    producer.produce("json-schema-in", std::string_view("c"),
                     std::string_view(with(order(), "id", 60).to_json()));
    producer.produce("json-schema-in", std::string_view("d"),
                     std::string_view(with(order(), "id", 8).to_json()));
    ASSERT_TRUE(producer.flush(10s));
  }
  auto sdf = app.dataframe(in);
  sdf["qty2"] = sdf["id"] * 2;
  sdf = sdf[{"id", "qty2"}];
  sdf.to_topic(out);
  const auto rows = app.run({.timeout = 10s, .count = 2});
  EXPECT_EQ(rows.size(), 2u);

  ASSERT_EQ(consumer_errors.size(), 1u);
  EXPECT_NE(consumer_errors[0].find("json deserializer: schema validation failed at '/price'"),
            std::string::npos)
      << consumer_errors[0];
  EXPECT_NE(consumer_errors[0].find("(topic 'json-schema-in', partition 0, offset 1)"),
            std::string::npos)
      << consumer_errors[0];
  ASSERT_EQ(processing_errors.size(), 1u);
  EXPECT_NE(processing_errors[0].find("json serializer: schema validation failed at '/qty2': "
                                      "Expected number less than or equal to 100.000000"),
            std::string::npos)
      << processing_errors[0];
  EXPECT_NE(processing_errors[0].find("(topic 'json-schema-in', partition 0, offset 2)"),
            std::string::npos)
      << processing_errors[0];
  EXPECT_EQ(offsets, (std::vector<std::int64_t>{1, 2}));

  test::KafkaProbe probe(app.bootstrap_servers());
  const auto written = probe.read_all("json-schema-out", 1, 20s);
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(*written[0].value, R"({"id":7,"qty2":14})");
  EXPECT_EQ(*written[1].value, R"({"id":8,"qty2":16})");
}

// The dead-letter choice: the record failing its schema goes to the dead-letter topic as it
// came, with the validation error in its headers, and the app goes on.
TEST(JsonSchemaEmbedded, ARecordFailingTheSchemaIsDeadLettered) {
  using namespace std::chrono_literals;
  auto cfg = test::embedded_config("json-schema-dl");
  cfg.dead_letter_topic = "json-schema-dl-dlq";
  cfg.on_consumer_error = [](const std::exception&, const ErrorContext&) {
    return ErrorAction::dead_letter;
  };
  Application app(cfg);
  const Topic in = app.topic("json-schema-dl-in",
                             {.value_deserializer = json_deserializer({.schema = kOrderSchema})});
  const std::string bad = with(order(), "status", "LOST").to_json();
  {
    Producer producer = app.get_producer();
    producer.produce("json-schema-dl-in", std::string_view("a"), std::string_view(bad));
    producer.produce("json-schema-dl-in", std::string_view("b"),
                     std::string_view(order().to_json()));
    ASSERT_TRUE(producer.flush(10s));
  }
  const auto sdf = app.dataframe(in);
  const auto out = app.run({.timeout = 10s, .count = 1});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], order());
  EXPECT_EQ(app.stats().dead_lettered, 1u);

  test::KafkaProbe probe(app.bootstrap_servers());
  const auto dead = probe.read_all("json-schema-dl-dlq", 1, 20s);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].value, std::optional<std::string>(bad));
  std::map<std::string, std::string> headers;
  for (const auto& [k, v] : dead[0].headers) headers[k] = v.value_or("<null>");
  EXPECT_EQ(headers["streamframe.error.type"], "SerializationError");
  EXPECT_NE(headers["streamframe.error.message"].find(
                "json deserializer: schema validation failed at '/status': Failed to match "
                "against any enum values."),
            std::string::npos)
      << headers["streamframe.error.message"];
  EXPECT_EQ(headers["streamframe.source.offset"], "0");
}

// Without a callback (and no dead-letter topic) the error stops the app: run() throws it, with
// where it came from.
TEST(JsonSchemaEmbedded, WithoutACallbackARecordFailingTheSchemaStopsTheApp) {
  using namespace std::chrono_literals;
  Application app(test::embedded_config("json-schema-stop"));
  const Topic in = app.topic("json-schema-stop-in",
                             {.value_deserializer = json_deserializer({.schema = kOrderSchema})});
  {
    Producer producer = app.get_producer();
    producer.produce("json-schema-stop-in", std::string_view("a"),
                     std::string_view(order().to_json()));
    producer.produce("json-schema-stop-in", std::string_view("b"),
                     std::string_view(with(order(), "id", "x").to_json()));
    ASSERT_TRUE(producer.flush(10s));
  }
  const auto sdf = app.dataframe(in);
  try {
    app.run({.timeout = 10s, .count = 2});
    ADD_FAILURE() << "run() returned";
  } catch (const SerializationError& e) {
    EXPECT_NE(std::string(e.what()).find("schema validation failed at '/id'"), std::string::npos)
        << e.what();
    EXPECT_EQ(e.topic(), "json-schema-stop-in");
    EXPECT_EQ(e.partition(), 0);
    EXPECT_EQ(e.offset(), 1);
  }
}

}  // namespace
}  // namespace streamframe
