// The "streamframe" spdlog logger (LOG-01).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <string>

namespace streamframe::detail {

// Returns the shared logger, creating it on stderr with the LOG-01 format when absent.
std::shared_ptr<spdlog::logger> logger();
// Applies `loglevel` ("DEBUG".."CRITICAL"); nullopt leaves logging alone. Unknown => ConfigError.
void configure_logging(const std::optional<std::string>& loglevel);

}  // namespace streamframe::detail
