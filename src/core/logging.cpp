#include "core/logging.hpp"

#include <fmt/chrono.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <chrono>
#include <mutex>

#include "core/message_context.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/value.hpp"

namespace streamframe::detail {
namespace {

// Prints levels the way SEMANTICS LOG-01 names them (WARNING, not spdlog's "warning").
const char* level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "DEBUG";
    case spdlog::level::warn:
      return "WARNING";
    case spdlog::level::err:
      return "ERROR";
    case spdlog::level::critical:
      return "CRITICAL";
    default:
      return "INFO";
  }
}

class LevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const char* name = level_name(msg.level);
    dest.append(name, name + std::char_traits<char>::length(name));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelFlag>();
  }
};

// LOG-02: one JSON object per line for log shippers, with the message being processed on the
// logging thread where there is one (so an error names its record without parsing the text).
class JsonLineFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto ms = std::chrono::time_point_cast<std::chrono::milliseconds>(msg.time);
    Value line = Value::object({
        {"timestamp", Value(fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", ms,
                                        ms.time_since_epoch().count() % 1000))},
        {"level", Value(level_name(msg.level))},
        {"logger", Value(std::string(msg.logger_name.data(), msg.logger_name.size()))},
        {"message", Value(std::string(msg.payload.data(), msg.payload.size()))},
        {"thread", Value(static_cast<std::int64_t>(msg.thread_id))},
    });
    if (const MessageContext* ctx = current_message_context()) {
      line["topic"] = Value(ctx->topic);
      line["partition"] = Value(static_cast<std::int64_t>(ctx->partition));
      line["offset"] = Value(ctx->offset);
    }
    const std::string text = line.to_json();
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>();
  }
};

std::unique_ptr<spdlog::formatter> text_formatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<LevelFlag>('*').set_pattern("[%Y-%m-%d %H:%M:%S,%e] [%*] [%n] : %v");
  return formatter;
}

std::mutex& logger_mutex() {
  static std::mutex m;
  return m;
}

// The logger streamframe made itself (null while a program's own logger is in use): only its
// format is streamframe's to set.
std::weak_ptr<spdlog::logger>& own_logger() {
  static std::weak_ptr<spdlog::logger> own;
  return own;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger() {
  if (auto existing = spdlog::get("streamframe")) return existing;
  std::lock_guard lock(logger_mutex());
  if (auto existing = spdlog::get("streamframe")) return existing;
  auto log = std::make_shared<spdlog::logger>(
      "streamframe", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  log->set_formatter(text_formatter());
  log->set_level(spdlog::level::info);
  try {
    spdlog::register_logger(log);
  } catch (const spdlog::spdlog_ex&) {
    // Registered meanwhile by user code that does not take our mutex: that one wins (LOG-01).
    if (auto existing = spdlog::get("streamframe")) return existing;
  }
  own_logger() = log;
  return log;
}

void configure_logging(const std::optional<std::string>& loglevel, bool json_lines) {
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
  const auto log = logger();
  log->set_level(level);
  if (log == own_logger().lock()) {
    if (json_lines) {
      log->set_formatter(std::make_unique<JsonLineFormatter>());
    } else {
      log->set_formatter(text_formatter());
    }
  }
}

}  // namespace streamframe::detail
