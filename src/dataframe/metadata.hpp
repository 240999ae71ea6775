// The metadata form of a record shared by collect mode (APP-20), ListSink (SNK-04) and print.
#pragma once

#include <cstdint>
#include <string>

#include "streamframe/record.hpp"
#include "streamframe/value.hpp"

namespace streamframe::detail {

// Headers as an array of [name, value] pairs.
Value headers_to_value(const Headers& headers);

// An object starting with _key, _timestamp, _headers, _topic, _partition, _offset, followed by
// the value's own columns (or `_value` when the value is not an object).
Value with_metadata(const Value& value, const Value& key, std::int64_t timestamp,
                    const Headers& headers, const std::string& topic, std::int32_t partition,
                    std::int64_t offset);

}  // namespace streamframe::detail
