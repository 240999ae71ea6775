// The ApplicationConfig reference: one entry per field, in declaration order, with the default
// read from a default-constructed ApplicationConfig. docs/guide.md's option table is rendered
// from it, and the unit test ConfigReference.* fails when the table in the guide differs or
// when ApplicationConfig has a field without an entry, so the table cannot go stale.
#pragma once

#include <string>
#include <vector>

#include "streamframe/application.hpp"

namespace streamframe::detail {

struct ConfigEntry {
  std::string field;          // the member of ApplicationConfig
  std::string default_value;  // as a reader writes it: "5 s", "`latest`", "none"
  std::string meaning;
};

std::vector<ConfigEntry> application_config_reference();

// librdkafka's auto.offset.reset value; the reference shows the same name.
const char* offset_reset_name(AutoOffsetReset r);

// The markdown table (header, separator, one row per entry, trailing newline).
std::string config_reference_markdown();

}  // namespace streamframe::detail
