// Where a conversion error is, for the schema serdes (Avro, Protobuf): an error thrown deep in
// a value's conversion leaves as a Located, and each record field, array item and map entry it
// passes on its way out adds its name. The happy path builds no path at all.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamframe/errors.hpp"

namespace streamframe::serde {

struct Located {
  std::string message;
  std::vector<std::string> parts;  // innermost first
};

[[noreturn]] inline void fail_here(std::string message) {
  throw Located{std::move(message), {}};
}

// Runs `convert` for the child called `part`, naming it in an error that comes out.
template <typename F>
decltype(auto) within(std::string_view part, F&& convert) {
  try {
    return convert();
  } catch (Located& e) {
    e.parts.emplace_back(part);
    throw;
  }
}

template <typename F>
decltype(auto) within_index(std::size_t index, F&& convert) {
  try {
    return convert();
  } catch (Located& e) {
    e.parts.push_back(fmt::format("[{}]", index));
    throw;
  }
}

// "<format> <who>: field 'a.b[2]': <message>" ("the value" when the error is at the top).
inline SerializationError located_error(std::string_view format, std::string_view who,
                                        const Located& e) {
  std::string where = "the value";
  if (!e.parts.empty()) {
    where = "field '";
    for (std::size_t i = e.parts.size(); i-- > 0;) {
      if (i + 1 < e.parts.size() && !e.parts[i].starts_with('[')) where += '.';
      where += e.parts[i];
    }
    where += "'";
  }
  return SerializationError(fmt::format("{} {}: {}: {}", format, who, where, e.message));
}

}  // namespace streamframe::serde
