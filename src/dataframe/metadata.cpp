#include "dataframe/metadata.hpp"

namespace streamframe::detail {

Value headers_to_value(const Headers& headers) {
  Array out;
  out.reserve(headers.size());
  for (const auto& [k, v] : headers) {
    out.push_back(Value::array({Value(k), v ? Value(*v) : Value()}));  // null stays null
  }
  return Value(std::move(out));
}

Value with_metadata(const Value& value, const Value& key, std::int64_t timestamp,
                    const Headers& headers, const std::string& topic, std::int32_t partition,
                    std::int64_t offset) {
  Object obj{{"_key", key},     {"_timestamp", timestamp}, {"_headers", headers_to_value(headers)},
             {"_topic", topic}, {"_partition", partition}, {"_offset", offset}};
  if (value.is_object()) {
    for (const auto& [k, v] : value.as_object()) obj.set(k, v);
  } else {
    obj.set("_value", value);
  }
  return Value(std::move(obj));
}

}  // namespace streamframe::detail
