// Serializers and deserializers (SEMANTICS TOP-01..TOP-05, TOP-09..TOP-11).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "streamframe/record.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

class Serializer;

// Turns message bytes into rows. Most deserializers yield one row; one may yield N rows
// sharing the message's key, headers and offset (TOP-11), or throw IgnoreMessage (TOP-10).
// Failures throw SerializationError. Implementations must be thread-safe (shared by workers).
class Deserializer {
 public:
  virtual ~Deserializer() = default;
  // Appends the rows decoded from `data` to `out`. `out` is reused between messages.
  virtual void deserialize(std::string_view data, const Headers& headers,
                           std::vector<Value>& out) const = 0;
  // Convenience for the one-row case; throws SerializationError when not exactly one row.
  Value deserialize_one(std::string_view data) const;
  virtual std::string_view name() const = 0;

  // A pipeline that forwards messages unchanged (e.g. `sdf.to_topic(out)`) produces their
  // original bytes instead of deserializing and serializing them again (DESIGN "Data
  // model"). That is only done when this returns true: one row per message, and `serializer`
  // would write bytes this deserializer reads back as the same value. Default: false.
  virtual bool round_trips_with(const Serializer& serializer) const;
  // Throws what deserialize() would throw for `data`, without building values; used on the
  // forwarding path so bad input still reaches the error callbacks. Default: deserializes.
  virtual void validate(std::string_view data, const Headers& headers) const;
  // For a pipeline that reads only `column` of each value (a group_by by that column right
  // after the input, which sends the message's own bytes on): appends one row, which for an
  // object value is an object holding just that column (empty when the value lacks it) and
  // for any other value what deserialize() would append. Throws what validate() throws.
  // Returns false, appending nothing, to have deserialize() called instead. Default: false.
  virtual bool deserialize_column(std::string_view data, const Headers& headers,
                                  std::string_view column, std::vector<Value>& out) const;
  // For a pipeline that forwards a message's bytes but writes its key in another format (a
  // group_by hop's JSON key going to a `bytes` output): writes to `out` what `serializer`
  // would write for the value deserialize() reads from `data`, without building that value,
  // and returns true; returns false to have the caller deserialize and serialize (it must
  // when `data` is bad, so the error is the one those report). Default: false.
  virtual bool transcode(std::string_view data, const Serializer& serializer,
                         std::string& out) const;
  // Whether deserialize() looks at `headers`. The run loop reads a message's headers only
  // when something asks for them; a deserializer that answers false is given none (an empty
  // list). Default: true.
  virtual bool reads_headers() const { return true; }
};

// Turns a value into bytes. `out` is cleared first and reused between messages, so hot paths
// do not allocate. Failures throw SerializationError.
class Serializer {
 public:
  virtual ~Serializer() = default;
  virtual void serialize(const Value& value, std::string& out) const = 0;
  // Headers appended to every produced message (TOP-13).
  virtual Headers extra_headers() const { return {}; }
  virtual std::string_view name() const = 0;
  // A serializer whose output depends on the topic it writes (a Schema Registry serializer
  // names its subject after it) returns a copy bound to `topic`, for the message key when
  // `key`; a Topic keeps that copy. Default: nullptr, this serializer serves every topic.
  virtual std::shared_ptr<const Serializer> for_topic(const std::string& topic, bool key) const;
};

// Built-ins by name: "bytes", "str"/"string", "int"/"integer", "double", "json"
// (unknown => ConfigError).
std::shared_ptr<const Deserializer> make_deserializer(std::string_view name);
std::shared_ptr<const Serializer> make_serializer(std::string_view name);

namespace json {
// Parses one JSON document (simdjson). Integers that fit int64 become int, other numbers
// double; duplicate keys: last wins. Errors throw SerializationError with simdjson's message
// (its DOM API reports no byte position).
Value parse(std::string_view text);
// Appends compact JSON (TOP-05 formatting) to `out`. NaN/Inf => SerializationError.
void write(const Value& value, std::string& out);
// Checks syntax and UTF-8 like parse(), without building a Value (integers beyond int64 are
// accepted here: the bytes are forwarded as they are).
void validate(std::string_view text);
// Indented, for print(pretty=true).
std::string write_pretty(const Value& value, int indent = 2);
}  // namespace json

}  // namespace streamframe
