// The "streamframe" spdlog logger (LOG-01).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <string>

namespace streamframe::detail {

// Returns the shared logger, creating it on stderr with the LOG-01 format when absent.
std::shared_ptr<spdlog::logger> logger();
// Applies `loglevel` ("DEBUG".."CRITICAL") and, to the logger streamframe made (not to one the
// program registered), the line format: LOG-01's text, or one JSON object per line (LOG-02).
// nullopt leaves logging alone. Unknown level => ConfigError.
void configure_logging(const std::optional<std::string>& loglevel, bool json_lines = false);

}  // namespace streamframe::detail
