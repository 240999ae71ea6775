#include "core/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

#include "streamframe/errors.hpp"

namespace streamframe::detail {
namespace {

// Prints levels the way SEMANTICS LOG-01 names them (WARNING, not spdlog's "warning").
class LevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const char* name = "INFO";
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        name = "DEBUG";
        break;
      case spdlog::level::info:
        name = "INFO";
        break;
      case spdlog::level::warn:
        name = "WARNING";
        break;
      case spdlog::level::err:
        name = "ERROR";
        break;
      case spdlog::level::critical:
        name = "CRITICAL";
        break;
      default:
        break;
    }
    dest.append(name, name + std::char_traits<char>::length(name));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelFlag>();
  }
};

std::mutex& logger_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger() {
  if (auto existing = spdlog::get("streamframe")) return existing;
  std::lock_guard lock(logger_mutex());
  if (auto existing = spdlog::get("streamframe")) return existing;
  auto log = std::make_shared<spdlog::logger>(
      "streamframe", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<LevelFlag>('*').set_pattern("[%Y-%m-%d %H:%M:%S,%e] [%*] [%n] : %v");
  log->set_formatter(std::move(formatter));
  log->set_level(spdlog::level::info);
  try {
    spdlog::register_logger(log);
  } catch (const spdlog::spdlog_ex&) {
    // Registered meanwhile by user code that does not take our mutex: that one wins (LOG-01).
    if (auto existing = spdlog::get("streamframe")) return existing;
  }
  return log;
}

void configure_logging(const std::optional<std::string>& loglevel) {
  if (!loglevel) return;
  const auto& l = *loglevel;
  spdlog::level::level_enum level;
  if (l == "DEBUG")
    level = spdlog::level::debug;
  else if (l == "INFO")
    level = spdlog::level::info;
  else if (l == "WARNING" || l == "WARN")
    level = spdlog::level::warn;
  else if (l == "ERROR")
    level = spdlog::level::err;
  else if (l == "CRITICAL")
    level = spdlog::level::critical;
  else
    throw ConfigError("loglevel must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got '" + l + "'");
  logger()->set_level(level);
}

}  // namespace streamframe::detail
