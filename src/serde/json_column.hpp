// Reading less of a JSON document than a parse: one column, for a pipeline that reads nothing
// else of its records (Deserializer::deserialize_column), and a plain string token's content
// (Deserializer::transcode).
#pragma once

#include <optional>
#include <string_view>

#include "streamframe/value.hpp"

namespace streamframe::detail {

// `text` is checked whole, as json::validate() checks it; an object comes back holding only
// `column` (its last occurrence, as parsing keeps; nothing when missing), in the object the run
// loop gave back when there is one; any other document as json::parse() builds it.
Value parse_json_column(std::string_view text, std::string_view column);

// The content of `text` when it is one JSON string token with nothing escaped in it and valid
// UTF-8 inside (what json::parse() reads from it is a string of exactly those bytes);
// nullopt for anything else, which only the parser can read or report.
std::optional<std::string_view> plain_json_string(std::string_view text);

}  // namespace streamframe::detail
