// Avro serdes (include/streamframe/avro.hpp, SEMANTICS TOP-06). The reference bytes were made
// by fastavro 1.13.1's schemaless_writer (the library behind Quix Streams' Avro serdes) from
// the record in the comment of kOrderBytes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "serde/parse_reuse.hpp"
#include "streamframe/avro.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/streamframe.hpp"
#include "streamframe/value.hpp"
#include "support/embedded_config.hpp"
#include "support/expect_error.hpp"
#include "support/hex.hpp"
#include "support/kafka_probe.hpp"

namespace streamframe {
namespace {

const char* const kOrderSchema =
    R"({"type": "record", "name": "Order", "namespace": "shop", "fields": [
  {"name": "id", "type": "long"}, {"name": "qty", "type": "int"}, {"name": "price", "type": "double"},
  {"name": "ratio", "type": "float"}, {"name": "paid", "type": "boolean"},
  {"name": "note", "type": ["null", "string"], "default": null},
  {"name": "tags", "type": {"type": "array", "items": "string"}},
  {"name": "attrs", "type": {"type": "map", "values": "long"}},
  {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
  {"name": "raw", "type": "bytes"}, {"name": "code", "type": {"type": "fixed", "name": "Code", "size": 4}},
  {"name": "day", "type": {"type": "int", "logicalType": "date"}},
  {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
  {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
  {"name": "famount", "type": {"type": "fixed", "name": "Dec8", "size": 8, "logicalType": "decimal", "precision": 12, "scale": 3}},
  {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
  {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [{"name": "name", "type": "string"}, {"name": "vip", "type": "boolean", "default": false}]}},
  {"name": "previous", "type": ["null", "Customer"], "default": null},
  {"name": "region", "type": "string", "default": "eu"}]})";

// fastavro: {"id": 9007199254740993, "qty": -3, "price": 12.5, "ratio": 0.25, "paid": True,
// "note": "fragile ✓", "tags": ["a", "bb"], "attrs": {"x": 1, "y": -200000}, "status": "PAID",
// "raw": b"\x00\xff\x10", "code": b"AB\x00C", "day": date(2024, 2, 29),
// "at": datetime(2024, 2, 29, 12, 0, 0, 123000, utc), "at_us": ... 123456 ..,
// "amount": Decimal("-1234.56"), "famount": Decimal("98765.432"),
// "ref": UUID("12345678-1234-5678-1234-567812345678"), "customer": {"name": "Ann", "vip": True},
// "previous": {"name": "Bob", "vip": False}, "region": "us"}
const char* const kOrderHex =
    "82808080808080200500000000000029400000803e01021666726167696c6520e29c930402610462620004027802"
    "0279ffb41800020600ff10414200438cb502f6d9e2cbbe6380c98efbffa0890606fe1dc00000000005e30a78483132"
    "33"
    "34353637382d313233342d353637382d313233342d35363738313233343536373806416e6e010206426f620004757"
    "3";

using test::from_hex;
using test::to_hex;

Value order() {
  Object attrs;
  attrs.set("x", Value(1));
  attrs.set("y", Value(-200000));
  return Value(Object{
      {"id", Value(9007199254740993LL)},
      {"qty", Value(-3)},
      {"price", Value(12.5)},
      {"ratio", Value(0.25)},
      {"paid", Value(true)},
      {"note", Value("fragile ✓")},
      {"tags", Value::array({"a", "bb"})},
      {"attrs", Value(std::move(attrs))},
      {"status", Value("PAID")},
      {"raw", Value(std::string("\x00\xff\x10", 3))},
      {"code", Value(std::string("AB\x00"
                                 "C",
                                 4))},
      {"day", Value("2024-02-29")},
      {"at", Value(1709208000123LL)},
      {"at_us", Value(1709208000123456LL)},
      {"amount", Value("-1234.56")},
      {"famount", Value("98765.432")},
      {"ref", Value("12345678-1234-5678-1234-567812345678")},
      {"customer", Value::object({{"name", "Ann"}, {"vip", true}})},
      {"previous", Value::object({{"name", "Bob"}, {"vip", false}})},
      {"region", Value("us")},
  });
}

struct Rules {
  const char* schema = kOrderSchema;
  bool strict = false;
  bool strict_allow_default = false;
};

std::string serialize(const Value& v, Rules rules = {}) {
  AvroSerializerOptions options;
  options.schema = rules.schema;
  options.strict = rules.strict;
  options.strict_allow_default = rules.strict_allow_default;
  std::string out;
  avro_serializer(options)->serialize(v, out);
  return out;
}

Value deserialize(std::string_view bytes, const char* schema = kOrderSchema) {
  AvroDeserializerOptions options;
  options.schema = schema;
  return avro_deserializer(options)->deserialize_one(bytes);
}

std::string error_of(auto&& f) {
  return test::error_message<SerializationError>(f);
}

TEST(Avro, ReadsWhatFastavroWroteForEveryTypeAndLogicalType) {
  EXPECT_EQ(deserialize(from_hex(kOrderHex)), order());
}

TEST(Avro, WritesTheBytesFastavroWrites) {
  EXPECT_EQ(to_hex(serialize(order())), kOrderHex);
}

TEST(Avro, MissingFieldsTakeTheirDefaultsAndUnknownOnesAreIgnored) {
  Value v = order();
  v.as_object().erase("note");
  v.as_object().erase("previous");
  v.as_object().erase("region");
  v.as_object().set("unknown", Value(1));
  v.as_object()["customer"].as_object().erase("vip");
  const Value back = deserialize(serialize(v));
  EXPECT_TRUE(back.as_object().find("note")->is_null());
  EXPECT_TRUE(back.as_object().find("previous")->is_null());
  EXPECT_EQ(*back.as_object().find("region"), Value("eu"));
  EXPECT_EQ(*back.as_object().find("customer"), Value::object({{"name", "Ann"}, {"vip", false}}));
  EXPECT_FALSE(back.as_object().contains("unknown"));
}

TEST(Avro, StrictRefusesUnknownFieldsAndMissingOnesStrictAllowDefaultOnlyUnknown) {
  Value missing = order();
  missing.as_object().erase("region");
  Value unknown = order();
  unknown.as_object().set("extra", Value(1));
  EXPECT_NE(error_of([&] { serialize(missing, {.strict = true}); }).find("field 'region': missing"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              serialize(unknown, {.strict = true});
            }).find("'extra' is not a field of record shop.Order"),
            std::string::npos);
  EXPECT_EQ(deserialize(serialize(missing, {.strict_allow_default = true}))
                .as_object()
                .find("region")
                ->as_string(),
            "eu");
  EXPECT_NE(error_of([&] { serialize(unknown, {.strict_allow_default = true}); }).find("extra"),
            std::string::npos);
}

TEST(Avro, AUnionTakesTheFirstBranchTheValueFits) {
  const char* schema = R"({"type": "record", "name": "U", "fields": [
      {"name": "u", "type": ["null", "int", "double", "string", {"type": "map", "values": "int"}]}]})";
  for (const Value& u : {Value(), Value(7), Value(2.5), Value("s"), Value::object({{"k", 1}})}) {
    const Value v = Value::object({{"u", u}});
    EXPECT_EQ(deserialize(serialize(v, {.schema = schema}), schema), v) << u.to_json();
  }
  // An int beyond int32 goes to the double branch, the first it fits.
  EXPECT_EQ(
      deserialize(serialize(Value::object({{"u", Value(1LL << 40)}}), {.schema = schema}), schema),
      Value::object({{"u", Value(static_cast<double>(1LL << 40))}}));
  EXPECT_NE(error_of([&] {
              serialize(Value::object({{"u", true}}), {.schema = schema});
            }).find("field 'u': a bool fits no branch of [null, int, double, string, map]"),
            std::string::npos);
}

TEST(Avro, ARecursiveSchemaRoundTrips) {
  const char* schema = R"({"type": "record", "name": "Node", "fields": [
      {"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"], "default": null}]})";
  const Value list = Value::object(
      {{"v", 1},
       {"next",
        Value::object({{"v", 2}, {"next", Value::object({{"v", 3}, {"next", nullptr}})}})}});
  EXPECT_EQ(deserialize(serialize(list, {.schema = schema}), schema), list);
}

TEST(Avro, DecimalsAndDatesAreExact) {
  const char* schema = R"({"type": "record", "name": "D", "fields": [
      {"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 4}},
      {"name": "day", "type": {"type": "int", "logicalType": "date"}}]})";
  auto round_trip = [&](const Value& d, const Value& day) {
    return deserialize(serialize(Value::object({{"d", d}, {"day", day}}), {.schema = schema}),
                       schema);
  };
  EXPECT_EQ(round_trip("12345678901234567890123456789012.3456", "1969-12-31"),
            Value::object({{"d", "12345678901234567890123456789012.3456"}, {"day", "1969-12-31"}}));
  EXPECT_EQ(round_trip(-5, 0), Value::object({{"d", "-5.0000"}, {"day", "1970-01-01"}}));
  EXPECT_EQ(round_trip(0.125, 19782), Value::object({{"d", "0.1250"}, {"day", "2024-02-29"}}));
  EXPECT_EQ(round_trip("1.50000", "2000-01-01").as_object().find("d")->as_string(), "1.5000");
  EXPECT_NE(
      error_of([&] {
        round_trip("1.23456", "2000-01-01");
      }).find("field 'd': '1.23456' has more fraction digits than the scale for decimal(38, 4)"),
      std::string::npos);
  EXPECT_NE(error_of([&] { round_trip("1.2.3", "2000-01-01"); }).find("is not a decimal number"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              round_trip("1", "2023-02-29");
            }).find("field 'day': '2023-02-29' is not a YYYY-MM-DD date"),
            std::string::npos);
}

TEST(Avro, AValueOfTheWrongShapeNamesWhereItIs) {
  Value v = order();
  v.as_object()["customer"].as_object().set("name", Value(5));
  EXPECT_NE(error_of([&] { serialize(v); }).find("field 'customer.name': expected string, got int"),
            std::string::npos);
  v = order();
  v.as_object()["tags"].as_array()[1] = Value(false);
  EXPECT_NE(error_of([&] { serialize(v); }).find("field 'tags[1]': expected string, got bool"),
            std::string::npos);
  v = order();
  v.as_object().set("status", Value("LOST"));
  EXPECT_NE(error_of([&] { serialize(v); }).find("'LOST' is not a symbol of enum shop.Status"),
            std::string::npos);
  v = order();
  v.as_object().set("qty", Value(1LL << 31));
  EXPECT_NE(
      error_of([&] { serialize(v); }).find("field 'qty': 2147483648 does not fit an Avro int"),
      std::string::npos);
  v = order();
  v.as_object().set("code", Value("ABC"));
  EXPECT_NE(error_of([&] { serialize(v); }).find("fixed shop.Code takes 4 bytes, got 3"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { serialize(Value(1)); }).find("the value: expected record shop.Order, got int"),
      std::string::npos);
}

TEST(Avro, TruncatedOrOverlongBytesAreSerializationErrors) {
  const std::string bytes = from_hex(kOrderHex);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{20}, bytes.size() - 1}) {
    EXPECT_NE(
        error_of([&] { deserialize(bytes.substr(0, n)); }).find("avro deserializer: cannot decode"),
        std::string::npos)
        << n;
  }
  EXPECT_NE(error_of([&] {
              deserialize(bytes + "x");
            }).find("bytes hold more than one datum of the schema"),
            std::string::npos);
}

std::shared_ptr<const Serializer> serializer_of(std::string schema, std::string file = {}) {
  AvroSerializerOptions options;
  options.schema = std::move(schema);
  options.schema_file = std::move(file);
  return avro_serializer(options);
}

std::shared_ptr<const Deserializer> deserializer_of(std::string schema, std::string file = {}) {
  AvroDeserializerOptions options;
  options.schema = std::move(schema);
  options.schema_file = std::move(file);
  return avro_deserializer(options);
}

// Avro's zigzag varint of `n`.
std::string varint(std::int64_t n) {
  auto z = (static_cast<std::uint64_t>(n) << 1) ^ static_cast<std::uint64_t>(n >> 63);
  std::string out;
  do {
    unsigned char b = z & 0x7f;
    z >>= 7;
    if (z != 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (z != 0);
  return out;
}

TEST(Avro, LengthsTheDataCannotHoldAreErrorsNotAllocations) {
  // A string claiming 2^60 bytes; an array claiming 2^40 nulls (which take no bytes each).
  EXPECT_NE(error_of([&] {
              deserialize(varint(1LL << 60) + "abc", R"("string")");
            }).find("cannot decode"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              deserialize(varint(1LL << 40) + varint(0), R"({"type": "array", "items": "null"})");
            }).find("cannot decode"),
            std::string::npos);
  // A well-formed array of 1,000 nulls is fine.
  EXPECT_EQ(deserialize(varint(1000) + varint(0), R"({"type": "array", "items": "null"})")
                .as_array()
                .size(),
            1000u);
}

// Datums are decoded straight into the record the run loop gave back (parse_reuse.hpp), and
// what that decoder leaves (a map key twice here) to libavro reads as libavro reads it.
TEST(Avro, ARecordGivenBackIsRebuiltIntoTheNextDatumUnchanged) {
  const Value alone = deserialize(from_hex(kOrderHex));
  for (const Value& before :
       {alone,
        Value::from_json(R"({"id":"x","tags":{"a":1},"attrs":[1,2,3],"customer":null,)"
                         R"("a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,)"
                         R"("k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"s":19,)"
                         R"("t":20,"u":21,"v":22,"w":23,"x":24,"y":25,"z":26})"),
        Value::from_json(R"({"only":1})")}) {
    Value given = before;
    detail::give_back_parsed(std::move(given));
    const Value v = deserialize(from_hex(kOrderHex));
    EXPECT_EQ(v.to_json(), alone.to_json()) << "after " << before.to_json();
  }
  const char* map_schema = R"({"type": "map", "values": "long"})";
  const std::string twice =
      varint(2) + varint(1) + "a" + varint(1) + varint(1) + "a" + varint(2) + varint(0);
  EXPECT_EQ(deserialize(twice, map_schema).to_json(), R"({"a":2})");
  // Blocks with their byte size (a negative count), and a union's branches.
  const std::string sized = varint(-2) + varint(6) + varint(1) + "a" + varint(3) + varint(1) + "b" +
                            varint(-4) + varint(0);
  EXPECT_EQ(deserialize(sized, map_schema).to_json(), R"({"a":3,"b":-4})");
  const char* union_schema = R"(["null", "string", {"type": "array", "items": "int"}])";
  EXPECT_EQ(deserialize(varint(0), union_schema), Value());
  EXPECT_EQ(deserialize(varint(1) + varint(2) + "hi", union_schema), Value("hi"));
  EXPECT_EQ(deserialize(varint(2) + varint(2) + varint(7) + varint(-7) + varint(0), union_schema),
            Value::array({7, -7}));
  EXPECT_NE(error_of([&] { deserialize(varint(3), union_schema); }).find("cannot decode"),
            std::string::npos);
}

TEST(Avro, ASchemaThatIsNotAvroOrMissingIsAConfigError) {
  EXPECT_THROW((void)serializer_of("{\"type\": \"record\"}"), ConfigError);
  EXPECT_THROW((void)serializer_of("not json"), ConfigError);
  EXPECT_THROW((void)deserializer_of(R"({"type": "array", "items": "Nope"})"), ConfigError);
  EXPECT_THROW((void)deserializer_of(""), ConfigError);
  EXPECT_THROW((void)deserializer_of("\"int\"", "x.avsc"), ConfigError);
  EXPECT_THROW((void)deserializer_of("", "/nonexistent/x.avsc"), ConfigError);
}

TEST(Avro, TheSchemaMayComeFromAFile) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("streamframe-avro-" + std::to_string(::getpid()) + ".avsc");
  std::ofstream(path) << kOrderSchema;
  EXPECT_EQ(deserializer_of("", path.string())->deserialize_one(from_hex(kOrderHex)), order());
  std::string out;
  serializer_of("", path.string())->serialize(order(), out);
  EXPECT_EQ(to_hex(out), kOrderHex);
  std::filesystem::remove(path);
}

TEST(Avro, OneSerdeServesManyThreadsAtOnce) {
  const auto ser = serializer_of(kOrderSchema);
  const auto de = deserializer_of(kOrderSchema);
  const Value expected = order();
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::string out;
      for (int i = 0; i < 2000; ++i) {
        ser->serialize(expected, out);
        if (de->deserialize_one(out) != expected) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

std::shared_ptr<const Deserializer> resolving(const char* writer, const char* reader) {
  AvroDeserializerOptions options;
  options.schema = writer;
  options.reader_schema = reader;
  return avro_deserializer(options);
}

TEST(AvroResolution, TheReadersSchemaRenamesDropsAddsAndPromotes) {
  const char* v1 = R"({"type": "record", "name": "User", "namespace": "a", "fields": [
      {"name": "id", "type": "int"}, {"name": "mail", "type": "string"},
      {"name": "age", "type": "int"}, {"name": "legacy", "type": "string"},
      {"name": "tier", "type": {"type": "enum", "name": "Tier", "symbols": ["FREE", "GOLD", "IRON"]}},
      {"name": "nick", "type": ["null", "int"]}, {"name": "tags", "type": {"type": "array", "items": "int"}}]})";
  // Another namespace and order, a renamed field (alias), a promoted int, a dropped field,
  // new fields with defaults (a nested record's, a union's, a date's), an enum with a default.
  const char* v2 = R"({"type": "record", "name": "User", "namespace": "b", "fields": [
      {"name": "email", "type": "string", "aliases": ["mail"]},
      {"name": "id", "type": "long"}, {"name": "age", "type": "double"},
      {"name": "tier", "type": {"type": "enum", "name": "Tier", "symbols": ["FREE", "GOLD"], "default": "FREE"}},
      {"name": "nick", "type": ["null", "long", "string"]},
      {"name": "tags", "type": {"type": "array", "items": "float"}},
      {"name": "country", "type": "string", "default": "NL"},
      {"name": "since", "type": {"type": "int", "logicalType": "date"}, "default": 19782},
      {"name": "prefs", "type": {"type": "record", "name": "Prefs", "fields": [
          {"name": "mails", "type": "boolean", "default": true}, {"name": "lang", "type": "string"}]},
       "default": {"lang": "nl"}},
      {"name": "note", "type": ["null", "string"], "default": null}]})";
  const Value written = Value::object({{"id", 7},
                                       {"mail", "a@b.c"},
                                       {"age", 30},
                                       {"legacy", "x"},
                                       {"tier", "IRON"},
                                       {"nick", 5},
                                       {"tags", Value::array({1, 2})}});
  AvroSerializerOptions w;
  w.schema = v1;
  std::string bytes;
  avro_serializer(w)->serialize(written, bytes);
  EXPECT_EQ(resolving(v1, v2)->deserialize_one(bytes),
            Value::object({{"email", "a@b.c"},
                           {"id", 7},
                           {"age", 30.0},
                           {"tier", "FREE"},
                           {"nick", 5},
                           {"tags", Value::array({1.0, 2.0})},
                           {"country", "NL"},
                           {"since", "2024-02-29"},
                           {"prefs", Value::object({{"mails", true}, {"lang", "nl"}})},
                           {"note", nullptr}}));
  // The writer's own schema as the reader's reads what it wrote.
  EXPECT_EQ(resolving(v1, v1)->deserialize_one(bytes), written);
}

TEST(AvroResolution, WhatCannotBeResolvedIsAnErrorOnceOrPerRecord) {
  const char* writer = R"({"type": "record", "name": "R", "fields": [
      {"name": "a", "type": "long"}, {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}}]})";
  // Once, when the serde is made: a field without default the writer lacks; a narrowing.
  test::expect_error<ConfigError>(
      [&] {
        (void)resolving(
            writer, R"({"type": "record", "name": "R", "fields": [{"name": "b", "type": "int"}]})");
      },
      "field 'b': the reader's record R has it, the writer's does not");
  test::expect_error<ConfigError>(
      [&] {
        (void)resolving(
            writer, R"({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})");
      },
      "field 'a': the writer's long cannot be read as the reader's int");
  // Per record: an enum symbol the reader lacks, without an enum default.
  const auto de = resolving(writer, R"({"type": "record", "name": "R", "fields": [
      {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X"]}}]})");
  AvroSerializerOptions w;
  w.schema = writer;
  std::string x;
  std::string y;
  avro_serializer(w)->serialize(Value::object({{"a", 1}, {"e", "X"}}), x);
  avro_serializer(w)->serialize(Value::object({{"a", 1}, {"e", "Y"}}), y);
  EXPECT_EQ(de->deserialize_one(x), Value::object({{"e", "X"}}));
  EXPECT_NE(error_of([&] {
              (void)de->deserialize_one(y);
            }).find("field 'e': the writer's symbol 'Y' is not in the reader's enum E"),
            std::string::npos);
}

// Through an application on the embedded broker: Avro in, a Series expression, Avro out; a
// truncated record in the middle goes to on_consumer_error naming where it is, and is skipped.
TEST(AvroEmbedded, APipelineReadsAndWritesAvroAndSkipsARecordItCannotDecode) {
  using namespace std::chrono_literals;
  const char* out_schema = R"({"type": "record", "name": "Line", "fields": [
      {"name": "id", "type": "long"}, {"name": "qty2", "type": "int"},
      {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
      {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}}]})";
  auto cfg = test::embedded_config("avro-app");
  std::vector<std::string> errors;
  std::vector<std::int64_t> offsets;
  cfg.on_consumer_error = [&](const std::exception& e, const ErrorContext& ctx) {
    errors.emplace_back(e.what());
    offsets.push_back(ctx.message != nullptr ? ctx.message->offset : -1);
    return ErrorAction::skip;
  };
  Application app(cfg);
  // As docs/guide.md writes it.
  const Topic in =
      app.topic("avro-in", {.value_deserializer = avro_deserializer({.schema = kOrderSchema})});
  const Topic out =
      app.topic("avro-out", {.value_serializer = avro_serializer({.schema = out_schema})});
  Value second = order();
  second.as_object().set("id", Value(2));
  second.as_object().set("qty", Value(21));
  second.as_object().set("status", Value("NEW"));
  const std::string good = from_hex(kOrderHex);
  {
    Producer producer = app.get_producer();
    producer.produce("avro-in", std::string_view("a"), std::string_view(good));
    producer.produce("avro-in", std::string_view("b"), std::string_view(good).substr(0, 30));
    producer.produce("avro-in", std::string_view("c"), std::string_view(serialize(second)));
    ASSERT_TRUE(producer.flush(10s));
  }
  auto sdf = app.dataframe(in);
  sdf["qty2"] = sdf["qty"] * 2;
  sdf = sdf[{"id", "qty2", "status", "amount"}];
  sdf.to_topic(out);
  const auto rows = app.run({.timeout = 10s, .count = 2});
  ASSERT_EQ(rows.size(), 2u);

  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("avro deserializer: cannot decode 30 bytes"), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[0].find("(topic 'avro-in', partition 0, offset 1)"), std::string::npos)
      << errors[0];
  EXPECT_EQ(offsets, std::vector<std::int64_t>{1});

  test::KafkaProbe probe(app.bootstrap_servers());
  const auto written = probe.read_all("avro-out", 1, 20s);
  ASSERT_EQ(written.size(), 2u);
  const auto read_out = deserializer_of(out_schema);
  EXPECT_EQ(
      read_out->deserialize_one(*written[0].value),
      Value::object(
          {{"id", 9007199254740993LL}, {"qty2", -6}, {"status", "PAID"}, {"amount", "-1234.56"}}));
  EXPECT_EQ(read_out->deserialize_one(*written[1].value),
            Value::object({{"id", 2}, {"qty2", 42}, {"status", "NEW"}, {"amount", "-1234.56"}}));
}

}  // namespace
}  // namespace streamframe
