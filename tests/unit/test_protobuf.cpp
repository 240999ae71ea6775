// Protobuf serdes (include/streamframe/protobuf.hpp, SEMANTICS TOP-07). The reference bytes and
// dicts were made by Python's protobuf 7.36.2 (the runtime behind Quix Streams' Protobuf serdes)
// from tests/proto/shop.proto: SerializeToString(deterministic=True) and
// json_format.MessageToDict(always_print_fields_with_no_presence=True), as Quix calls it.
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "legacy.pb.h"
#include "serde/parse_reuse.hpp"
#include "shop.pb.h"
#include "streamframe/errors.hpp"
#include "streamframe/protobuf.hpp"
#include "streamframe/streamframe.hpp"
#include "streamframe/value.hpp"
#include "support/embedded_config.hpp"
#include "support/expect_error.hpp"
#include "support/hex.hpp"
#include "support/kafka_probe.hpp"

namespace streamframe {
namespace {

using test::from_hex;
using test::to_hex;

// An Order with every kind of field set (tests/proto/shop.proto).
const char* const kOrderHex =
    "0a036f2d3110021a0e0a0161100219000000000000f43f1a0e0a01621001199a9999999999b93f220c0a017810"
    "81808080808080102a0908071205736576656e38fbffffffffffffffff014200520c01feffffffffffffffff01"
    "035a0b0880e2cfaa0610c0a9d33a6208085a1080cab5ee016a02080c72060a04534156457a5d0a0e0a05636f6c"
    "6f7212051a037265640a1a0a046c697374121232100a0911000000000000f03f0a031a01780a150a066e657374"
    "6564120b2a090a070a0161120208000a0e0a016e12091100000000000000400a080a026f6b120220018201071a"
    "0568656c6c6f8a01110a041a0274310a0911000000000000044092011c0a086f726465725f69640a106974656d"
    "732e756e69745f70726963659a012f0a1d747970652e676f6f676c65617069732e636f6d2f73686f702e497465"
    "6d120e0a017a1003190000000000002340a20100aa01020102b20100c201060a044f736c6f";

const char* const kOrderJson =
    R"({"orderId":"o-1","status":"STATUS_SHIPPED","items":[{"sku":"a","quantity":2,"unitPrice":1.25},)"
    R"({"sku":"b","quantity":1,"unitPrice":0.1}],"counts":{"x":"9007199254740993"},"labels":{"7":"seven"},)"
    R"("voucherId":"-5","note":"","codes":[1,-2,3],"placedAt":"2023-11-14T22:13:20.123Z","ttl":"90.500s",)"
    R"("discount":"12","coupon":"SAVE","attributes":{"color":"red","nested":{"a":null},"ok":true,"n":2.0,)"
    R"("list":[1.0,"x"]},"extra":"hello","tags":["t1",2.5],"mask":"orderId,items.unitPrice",)"
    R"("detail":{"@type":"type.googleapis.com/shop.Item","sku":"z","quantity":3,"unitPrice":9.5},)"
    R"("nothing":{},"history":["STATUS_PLACED","STATUS_SHIPPED"],"weight":0.0,"shipTo":{"city":"Oslo"}})";

// The same with preserving_proto_field_name=True, use_integers_for_enums=True.
const char* const kOrderJsonProtoNames =
    R"({"order_id":"o-1","status":2,"items":[{"sku":"a","quantity":2,"unit_price":1.25},)"
    R"({"sku":"b","quantity":1,"unit_price":0.1}],"counts":{"x":"9007199254740993"},"labels":{"7":"seven"},)"
    R"("voucher_id":"-5","note":"","codes":[1,-2,3],"placed_at":"2023-11-14T22:13:20.123Z","ttl":"90.500s",)"
    R"("discount":"12","coupon":"SAVE","attributes":{"color":"red","nested":{"a":null},"ok":true,"n":2.0,)"
    R"("list":[1.0,"x"]},"extra":"hello","tags":["t1",2.5],"mask":"orderId,items.unitPrice",)"
    R"("detail":{"@type":"type.googleapis.com/shop.Item","sku":"z","quantity":3,"unit_price":9.5},)"
    R"("nothing":{},"history":[1,2],"weight":0.0,"ship_to":{"city":"Oslo"}})";

const char* const kScalarsHex =
    "08ffffffffffffffffff0110ffffffffffffffefff0118ffffffff0f20ffffffffffffffffff01280530073d05"
    "0000004106000000000000004df9ffffff51f8ffffffffffffff5dcdcccc3d61000000000000f87f68017205c3"
    "a9e29c937a0200ff";

const char* const kScalarsJson =
    R"({"fInt32":-1,"fInt64":"-9007199254740993","fUint32":4294967295,"fUint64":"18446744073709551615",)"
    R"("fSint32":-3,"fSint64":"-4","fFixed32":5,"fFixed64":"6","fSfixed32":-7,"fSfixed64":"-8",)"
    R"("fFloat":0.1,"fDouble":"NaN","fBool":true,"fString":"é✓","fBytes":"AP8="})";

// Every field unset: the fields without presence, with their defaults, in declaration order.
const char* const kEmptyOrderJson =
    R"({"orderId":"","status":"STATUS_UNKNOWN","items":[],"counts":{},"labels":{},"codes":[],)"
    R"("history":[]})";

ProtobufMessageType from_set(const std::string& name) {
  return {.message_type = name, .descriptor_set_file = STREAMFRAME_TEST_PROTO_SET};
}

std::vector<std::string> keys_of(const Value& v) {
  std::vector<std::string> keys;
  for (const auto& entry : v.as_object()) keys.push_back(entry.first);
  return keys;
}

std::string error_of(auto&& f) {
  return test::error_message<SerializationError>(f);
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(Protobuf, ReadsWhatPythonWroteAsMessageToDictDoes) {
  const auto from_descriptor_set = protobuf_deserializer({.msg_type = from_set("shop.Order")});
  const auto generated =
      protobuf_deserializer({.msg_type = {.descriptor = shop::Order::descriptor()}});
  const Value expected = Value::from_json(kOrderJson);
  for (const auto& d : {from_descriptor_set, generated}) {
    const Value v = d->deserialize_one(from_hex(kOrderHex));
    EXPECT_EQ(v, expected) << v.to_json();
    // Set fields by number, as MessageToDict lists them.
    EXPECT_EQ(keys_of(v), keys_of(expected));
  }
}

TEST(Protobuf, ProtoFieldNamesAndIntegerEnums) {
  const auto d = protobuf_deserializer({.msg_type = from_set("shop.Order"),
                                        .use_integers_for_enums = true,
                                        .preserving_proto_field_name = true});
  const Value v = d->deserialize_one(from_hex(kOrderHex));
  EXPECT_EQ(v, Value::from_json(kOrderJsonProtoNames)) << v.to_json();
}

TEST(Protobuf, EveryScalarType) {
  const auto d = protobuf_deserializer({.msg_type = from_set("shop.Scalars")});
  const Value v = d->deserialize_one(from_hex(kScalarsHex));
  EXPECT_EQ(v, Value::from_json(kScalarsJson)) << v.to_json();
  EXPECT_EQ(v.to_json(), kScalarsJson);  // 0.1f reads as 0.1, the bytes as base64

  const auto ints =
      protobuf_deserializer({.msg_type = from_set("shop.Scalars"), .int64_as_int = true});
  const Value i = ints->deserialize_one(from_hex(kScalarsHex));
  EXPECT_EQ(i["fInt64"], Value(-9007199254740993LL));
  EXPECT_EQ(i["fSint64"], Value(-4));
  EXPECT_EQ(i["fFixed64"], Value(6));
  // A uint64 beyond int64 has no int: it stays a string.
  EXPECT_EQ(i["fUint64"], Value("18446744073709551615"));
}

TEST(Protobuf, UnsetFieldsWithoutPresenceReadAsTheirDefaults) {
  const auto d = protobuf_deserializer({.msg_type = from_set("shop.Order")});
  EXPECT_EQ(d->deserialize_one("").to_json(), kEmptyOrderJson);
}

TEST(Protobuf, WritesTheBytesPythonWrites) {
  // The message read back from Python's bytes, written again: the same message, from either
  // the JSON names or the proto names with enum numbers. Not always the same bytes:
  // "deterministic" orders map entries by each runtime's own rule (upb puts the Struct key
  // "nested" before "n", libprotobuf after), so the messages are compared.
  shop::Order expected;
  ASSERT_TRUE(expected.ParseFromString(from_hex(kOrderHex)));
  for (const char* json : {kOrderJson, kOrderJsonProtoNames}) {
    for (const auto& type :
         {from_set("shop.Order"), ProtobufMessageType{.descriptor = shop::Order::descriptor()}}) {
      const auto s = protobuf_serializer({.msg_type = type, .deterministic = true});
      std::string out;
      s->serialize(Value::from_json(json), out);
      shop::Order written;
      ASSERT_TRUE(written.ParseFromString(out));
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(written, expected))
          << written.DebugString();
      // Deterministic: the same bytes every time, map entries in key order.
      std::string again;
      s->serialize(Value::from_json(json), again);
      EXPECT_EQ(again, out);
      EXPECT_EQ(out.size(), from_hex(kOrderHex).size());
    }
  }
  // Without maps the bytes are Python's.
  const auto s = protobuf_serializer({.msg_type = from_set("shop.Scalars")});
  std::string out;
  s->serialize(Value::from_json(kScalarsJson), out);
  EXPECT_EQ(to_hex(out), kScalarsHex);
}

TEST(Protobuf, WritingAcceptsWhatParseDictAccepts) {
  const auto s = protobuf_serializer({.msg_type = from_set("shop.Scalars")});
  const auto d =
      protobuf_deserializer({.msg_type = from_set("shop.Scalars"), .int64_as_int = true});
  auto round_trip = [&](const Value& in) {
    std::string out;
    s->serialize(in, out);
    return d->deserialize_one(out);
  };
  // 64-bit fields from ints or decimal strings; int fields from integral doubles and strings.
  Value v = round_trip(Value::object({{"fInt64", 5},
                                      {"fUint64", "18446744073709551615"},
                                      {"fInt32", 3.0},
                                      {"fUint32", "7"},
                                      {"f_sint32", -9}}));
  EXPECT_EQ(v["fInt64"], Value(5));
  EXPECT_EQ(v["fUint64"], Value("18446744073709551615"));
  EXPECT_EQ(v["fInt32"], Value(3));
  EXPECT_EQ(v["fUint32"], Value(7));
  EXPECT_EQ(v["fSint32"], Value(-9));
  // Floats from numbers and the JSON mapping's strings; null leaves a field unset.
  v = round_trip(Value::object({{"fDouble", "-Infinity"}, {"fFloat", 2}, {"fString", nullptr}}));
  EXPECT_EQ(v["fDouble"], Value("-Infinity"));
  EXPECT_EQ(v["fFloat"], Value(2.0));
  EXPECT_EQ(v["fString"], Value(""));
  // bytes from URL-safe base64 too.
  v = round_trip(Value::object({{"fBytes", "_-8"}}));
  EXPECT_EQ(v["fBytes"], Value("/+8="));
}

TEST(Protobuf, WriteErrorsNameTheField) {
  const auto s = protobuf_serializer({.msg_type = from_set("shop.Order")});
  auto write = [&](const char* json) {
    std::string out;
    s->serialize(Value::from_json(json), out);
  };
  std::string e = error_of([&] { write(R"({"orderId":"x","colour":"red"})"); });
  EXPECT_TRUE(
      contains(e, "protobuf serializer: field 'colour': shop.Order has no field named 'colour'"))
      << e;
  e = error_of([&] { write(R"({"items":[{"sku":"a"},{"quantity":"many"}]})"); });
  EXPECT_TRUE(
      contains(e, "field 'items[1].quantity': \"many\" is not an integer, for a int32 field"))
      << e;
  e = error_of([&] { write(R"({"items":[{"quantity":3000000000}]})"); });
  EXPECT_TRUE(contains(e, "3000000000 is out of range for int32")) << e;
  e = error_of([&] { write(R"({"status":"STATUS_LOST"})"); });
  EXPECT_TRUE(contains(e, "field 'status': \"STATUS_LOST\" is not a value of enum shop.Status"))
      << e;
  e = error_of([&] { write(R"({"placedAt":"yesterday"})"); });
  EXPECT_TRUE(contains(e, "field 'placedAt': expected an RFC 3339 time")) << e;
  e = error_of([&] { write(R"({"cardToken":"t","voucherId":3})"); });
  EXPECT_TRUE(contains(e, "'card_token' and 'voucher_id' are both members of oneof 'payment'"))
      << e;
  e = error_of([&] { write(R"({"codes":[1,null]})"); });
  EXPECT_TRUE(contains(e, "field 'codes[1]': null is not allowed")) << e;
  e = error_of([&] { write(R"({"gift":[1]})"); });
  EXPECT_TRUE(contains(e, "field 'gift': expected an object for message shop.Item, got array"))
      << e;
  e = error_of([&] { write(R"({"counts":{"x":true}})"); });
  EXPECT_TRUE(contains(e, "field 'counts.x': expected an integer for a int64 field, got bool"))
      << e;
  e = error_of([&] { write(R"([1])"); });
  EXPECT_TRUE(
      contains(e, "protobuf serializer: the value: expected an object for message shop.Order"))
      << e;

  // ignore_unknown_fields skips what the type lacks.
  const auto lenient =
      protobuf_serializer({.msg_type = from_set("shop.Order"), .ignore_unknown_fields = true});
  std::string out;
  lenient->serialize(Value::from_json(R"({"orderId":"x","colour":"red"})"), out);
  EXPECT_EQ(out, std::string("\x0a\x01x", 3));
}

TEST(Protobuf, BadBytesAreSerializationErrors) {
  const auto d = protobuf_deserializer({.msg_type = from_set("shop.Order")});
  const std::string good = from_hex(kOrderHex);
  std::string e = error_of([&] { d->deserialize_one(good.substr(0, 40)); });
  EXPECT_TRUE(contains(e, "protobuf deserializer: 40 bytes are not a valid shop.Order message"))
      << e;
  // Item.quantity (field 2, an int32) sent length-delimited, inside items[0].
  const std::string wrong_wire_type("\x1a\x03\x12\x01\x41", 5);
  e = error_of([&] { d->deserialize_one(wrong_wire_type); });
  EXPECT_TRUE(contains(e,
                       "field 'items[0]': field 'quantity' (number 2) of shop.Item came as a "
                       "length-delimited, which a int32 field is never written as"))
      << e;
  // An unknown field number is not an error: a newer writer's field is skipped.
  const Value v = d->deserialize_one(std::string("\x0a\x01x\xf8\x07\x01", 6));
  EXPECT_EQ(v["orderId"], Value("x"));
}

TEST(Protobuf, Proto2RequiredFieldsAndClosedEnums) {
  const auto s = protobuf_serializer({.msg_type = {.descriptor = legacy::Paint::descriptor()}});
  const auto d = protobuf_deserializer({.msg_type = from_set("legacy.Paint")});
  std::string out;
  std::string e = error_of([&] { s->serialize(Value::object({{"color", "RED"}}), out); });
  EXPECT_TRUE(contains(e, "protobuf serializer: legacy.Paint message lacks required fields: name"))
      << e;
  e = error_of([&] { d->deserialize_one(std::string("\x10\x01", 2)); });
  EXPECT_TRUE(
      contains(e, "protobuf deserializer: legacy.Paint message lacks required fields: name"))
      << e;
  e = error_of([&] { s->serialize(Value::object({{"name", "x"}, {"color", 7}}), out); });
  EXPECT_TRUE(contains(e, "7 is not a value of closed enum legacy.Color")) << e;
  s->serialize(Value::object({{"name", "x"}, {"color", 2}}), out);
  // proto2 optional fields have presence: the unset `coats` is not read as its default.
  EXPECT_EQ(d->deserialize_one(out), Value::object({{"name", "x"}, {"color", "GREEN"}}));
}

TEST(Protobuf, ConfigErrors) {
  test::expect_error<ConfigError>([] { protobuf_serializer({}); }, "no message type");
  test::expect_error<ConfigError>([] { protobuf_serializer({.msg_type = from_set("shop.Nope")}); },
                                  "no message type 'shop.Nope' in the descriptor set");
  test::expect_error<ConfigError>(
      [] {
        protobuf_deserializer({.msg_type = {.message_type = "shop.Order",
                                            .descriptor_set_file = "/nonexistent.desc"}});
      },
      "cannot read descriptor_set_file '/nonexistent.desc'");
  test::expect_error<ConfigError>(
      [] {
        protobuf_deserializer(
            {.msg_type = {.message_type = "shop.Order", .descriptor_set = "\xff\xff"}});
      },
      "is not a FileDescriptorSet");
  test::expect_error<ConfigError>(
      [] {
        protobuf_deserializer(
            {.msg_type = {.descriptor = shop::Order::descriptor(), .message_type = "shop.Order"}});
      },
      "not both");
  // A set without the files its file imports is not consistent.
  google::protobuf::FileDescriptorSet partial;
  shop::Order::descriptor()->file()->CopyTo(partial.add_file());
  test::expect_error<ConfigError>(
      [&] {
        protobuf_deserializer({.msg_type = {.message_type = "shop.Order",
                                            .descriptor_set = partial.SerializeAsString()}});
      },
      "the descriptor set is not consistent");
}

TEST(Protobuf, OneSerdeServesManyThreads) {
  const auto s = protobuf_serializer({.msg_type = from_set("shop.Order"), .deterministic = true});
  const auto d = protobuf_deserializer({.msg_type = from_set("shop.Order")});
  const Value order = Value::from_json(kOrderJson);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string out;
      std::vector<Value> rows;
      for (int i = 0; i < 2000; ++i) {
        Value v = order;
        v.as_object().set("orderId", Value(std::to_string(t * 100000 + i)));
        s->serialize(v, out);
        rows.clear();
        d->deserialize(out, {}, rows);
        if (rows.size() != 1 || rows[0] != v) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// Plain proto3 messages take the direct codec (no reflection); it must give what the
// reflection path and the generated classes give, and leave whatever is off its path to them.
TEST(Protobuf, ThePlainMessageCodecAgreesWithTheGeneratedClasses) {
  shop::Basket b;
  auto* item = b.add_items();
  item->set_sku("a");
  item->set_quantity(-3);
  item->set_unit_price(-0.0);  // not a default to proto3: its bits are not zero
  b.add_items();               // all defaults: an empty message, still there
  b.mutable_best()->set_sku("best");
  b.add_tags("x");
  b.add_tags("");
  b.add_counts(-1);
  b.add_counts(9007199254740993LL);
  b.add_prices(0.5);
  b.set_status(shop::STATUS_PLACED);
  b.add_statuses(shop::STATUS_SHIPPED);
  b.add_statuses(static_cast<shop::Status>(7));  // open enum: a number it does not name
  b.set_blob(std::string("\x00\x01\xfe", 3));
  b.add_deltas(-70000);
  b.add_marks(1);
  b.add_marks(4000000000U);
  const std::string bytes = b.SerializeAsString();
  const Value expected = Value::from_json(
      R"({"items":[{"sku":"a","quantity":-3,"unitPrice":-0.0},{"sku":"","quantity":0,"unitPrice":0.0}],)"
      R"("best":{"sku":"best","quantity":0,"unitPrice":0.0},"tags":["x",""],)"
      R"("counts":["-1","9007199254740993"],"prices":[0.5],"status":"STATUS_PLACED",)"
      R"("statuses":["STATUS_SHIPPED",7],"blob":"AAH+","deltas":[-70000],"marks":[1,4000000000],)"
      R"("weight":0.0})");
  for (const auto& type :
       {from_set("shop.Basket"), ProtobufMessageType{.descriptor = shop::Basket::descriptor()}}) {
    const auto d = protobuf_deserializer({.msg_type = type});
    const auto s = protobuf_serializer({.msg_type = type});
    const Value v = d->deserialize_one(bytes);
    EXPECT_EQ(v.to_json(), expected.to_json());
    std::string out;
    s->serialize(v, out);
    EXPECT_EQ(to_hex(out), to_hex(bytes));
  }
  const auto d = protobuf_deserializer({.msg_type = from_set("shop.Basket")});
  // Off the direct path: `best` twice merges (the reflection path reads it), counts unpacked,
  // a field number the type does not know.
  std::string twice = bytes;
  shop::Basket more;
  more.mutable_best()->set_quantity(5);
  twice += more.SerializeAsString();
  twice += std::string("\x20\x05\x20\x06", 4);  // counts 5 and 6, one tag each
  twice += std::string("\xf8\x07\x01", 3);      // field 127
  shop::Basket merged;
  ASSERT_TRUE(merged.ParseFromString(twice));
  EXPECT_EQ(d->deserialize_one(twice), d->deserialize_one(merged.SerializeAsString()));
  EXPECT_EQ(d->deserialize_one(twice)["best"]["quantity"], Value(5));
  EXPECT_EQ(d->deserialize_one(twice)["counts"].size(), 4u);
  // Truncated inside a nested message, a zero tag, a wrong wire type, invalid UTF-8.
  std::string e = error_of([&] { d->deserialize_one(bytes.substr(0, 6)); });
  EXPECT_TRUE(contains(e, "6 bytes are not a valid shop.Basket message")) << e;
  e = error_of([&] { d->deserialize_one(std::string("\x00\x01", 2)); });
  EXPECT_TRUE(contains(e, "are not a valid shop.Basket message")) << e;
  e = error_of([&] { d->deserialize_one(std::string("\x31\0\0\0\0\0\0\0\0", 9)); });
  EXPECT_TRUE(contains(e, "field 'status' (number 6) of shop.Basket came as a fixed64")) << e;
  e = error_of([&] { d->deserialize_one(std::string("\x1a\x02\xc3\x28", 4)); });
  EXPECT_TRUE(contains(e, "are not a valid shop.Basket message")) << e;
  // Values the direct writer does not take go to the reflection path for its error.
  const auto s = protobuf_serializer({.msg_type = from_set("shop.Basket")});
  std::string out;
  e = error_of([&] { s->serialize(Value::from_json(R"({"items":[{"quantity":"x"}]})"), out); });
  EXPECT_TRUE(contains(e, "field 'items[0].quantity': \"x\" is not an integer")) << e;
  e = error_of([&] { s->serialize(Value::from_json(R"({"deltas":[1,null]})"), out); });
  EXPECT_TRUE(contains(e, "field 'deltas[1]': null is not allowed")) << e;
  e = error_of([&] { s->serialize(Value::from_json(R"({"statuses":["STATUS_GONE"]})"), out); });
  EXPECT_TRUE(contains(e, "field 'statuses[0]': \"STATUS_GONE\" is not a value of enum")) << e;
  // A long nested message: its length takes two bytes.
  Value big = Value::object({{"best", Value::object({{"sku", std::string(300, 'z')}})}});
  s->serialize(big, out);
  shop::Basket parsed;
  ASSERT_TRUE(parsed.ParseFromString(out));
  EXPECT_EQ(parsed.best().sku(), std::string(300, 'z'));
}

// The run loop gives each record back for the next one to be built into (parse_reuse.hpp):
// whatever that record held, the next message reads the same.
TEST(Protobuf, ARecordGivenBackIsRebuiltIntoTheNextMessageUnchanged) {
  const auto d = protobuf_deserializer({.msg_type = from_set("shop.Basket")});
  shop::Basket big;
  for (int i = 0; i < 5; ++i) {
    auto* item = big.add_items();
    item->set_sku(std::string(40, static_cast<char>('a' + i)));
    item->set_quantity(i + 1);
  }
  big.add_tags("a long tag that does not fit in a small string");
  big.add_counts(1);
  big.set_blob("blob");
  shop::Basket small;
  small.add_items()->set_sku("s");
  small.set_weight(2.5);
  small.add_statuses(shop::STATUS_PLACED);
  const Value big_alone = d->deserialize_one(big.SerializeAsString());
  const Value small_alone = d->deserialize_one(small.SerializeAsString());
  const std::vector<Value> previous = {
      big_alone, small_alone,
      Value::from_json(R"({"weight":"x","items":{"a":1},"tags":[1,[2]],"z":null,"q":1,"r":2,)"
                       R"("s":3,"t":4,"u":5,"v":6,"w":7,"x":8,"y":9,"zz":10})")};
  for (const Value& before : previous) {
    for (const auto& [message, alone] :
         {std::pair{&big, &big_alone}, std::pair{&small, &small_alone}}) {
      Value given = before;
      detail::give_back_parsed(std::move(given));
      const Value v = d->deserialize_one(message->SerializeAsString());
      EXPECT_EQ(v.to_json(), alone->to_json()) << "after " << before.to_json();
    }
  }
}

TEST(ProtobufEmbedded, APipelineReadsAndWritesProtobufAndSkipsARecordItCannotDecode) {
  using namespace std::chrono_literals;
  auto cfg = test::embedded_config("protobuf-app");
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
      app.topic("pb-in", {.value_deserializer = protobuf_deserializer(
                              {.msg_type = {.descriptor = shop::Order::descriptor()}})});
  const Topic out = app.topic(
      "pb-out", {.value_serializer =
                     protobuf_serializer({.msg_type = {.descriptor = shop::Item::descriptor()}})});
  shop::Order second;
  second.set_order_id("o-2");
  auto* item = second.add_items();
  item->set_sku("q");
  item->set_quantity(4);
  const std::string good = from_hex(kOrderHex);
  {
    Producer producer = app.get_producer();
    producer.produce("pb-in", std::string_view("a"), std::string_view(good));
    producer.produce("pb-in", std::string_view("b"), std::string_view(good).substr(0, 30));
    producer.produce("pb-in", std::string_view("c"), std::string_view(second.SerializeAsString()));
    ASSERT_TRUE(producer.flush(10s));
  }
  auto sdf = app.dataframe(in);
  sdf = sdf.apply([](const Value& order) {
    Value first = order["items"][0];
    first.as_object().set("quantity", Value(first["quantity"].as_int() * 10));
    return first;
  });
  sdf.to_topic(out);
  const auto rows = app.run({.timeout = 10s, .count = 2});
  ASSERT_EQ(rows.size(), 2u);

  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(contains(errors[0], "protobuf deserializer: 30 bytes are not a valid shop.Order"))
      << errors[0];
  EXPECT_TRUE(contains(errors[0], "(topic 'pb-in', partition 0, offset 1)")) << errors[0];
  EXPECT_EQ(offsets, std::vector<std::int64_t>{1});

  test::KafkaProbe probe(app.bootstrap_servers());
  const auto written = probe.read_all("pb-out", 1, 20s);
  ASSERT_EQ(written.size(), 2u);
  shop::Item a;
  shop::Item b;
  ASSERT_TRUE(a.ParseFromString(*written[0].value));
  ASSERT_TRUE(b.ParseFromString(*written[1].value));
  EXPECT_EQ(a.sku(), "a");
  EXPECT_EQ(a.quantity(), 20);
  EXPECT_DOUBLE_EQ(a.unit_price(), 1.25);
  EXPECT_EQ(b.sku(), "q");
  EXPECT_EQ(b.quantity(), 40);
}

}  // namespace
}  // namespace streamframe
