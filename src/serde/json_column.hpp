// One column of a JSON document, for a pipeline that reads nothing else of its records
// (Deserializer::deserialize_column).
#pragma once

#include <string_view>

#include "streamframe/value.hpp"

namespace streamframe::detail {

// `text` is checked whole, as json::validate() checks it; an object comes back holding only
// `column` (its last occurrence, as parsing keeps; nothing when missing), in the object the run
// loop gave back when there is one; any other document as json::parse() builds it.
Value parse_json_column(std::string_view text, std::string_view column);

}  // namespace streamframe::detail
