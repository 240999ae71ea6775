#include "kafka/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>
#include <string_view>

namespace streamframe::kafka {

namespace {

// %* in the pattern: level names as LOG-01 spells them (DEBUG, INFO, WARNING, ...).
class UpperLevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    std::string_view name;
    switch (msg.level) {
      case spdlog::level::trace:
        name = "TRACE";
        break;
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
        name = "OFF";
        break;
    }
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<UpperLevelFlag>();
  }
};

spdlog::level::level_enum from_syslog(int level) {
  if (level <= 2) return spdlog::level::critical;  // emerg, alert, crit
  if (level == 3) return spdlog::level::err;
  if (level == 4) return spdlog::level::warn;
  if (level <= 6) return spdlog::level::info;  // notice, info
  return spdlog::level::debug;
}

void log_callback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const auto logger = streamframe_logger();
  const auto lvl = from_syslog(level);
  if (!logger->should_log(lvl)) return;
  logger->log(lvl, "[rdkafka {}] {}: {}", rk != nullptr ? rd_kafka_name(rk) : "-", fac, buf);
}

}  // namespace

std::shared_ptr<spdlog::logger> streamframe_logger() {
  if (auto existing = spdlog::get("streamframe")) return existing;
  static std::mutex create_mutex;
  const std::lock_guard lock(create_mutex);
  if (auto existing = spdlog::get("streamframe")) return existing;
  auto logger = std::make_shared<spdlog::logger>(
      "streamframe", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<UpperLevelFlag>('*').set_pattern("[%Y-%m-%d %H:%M:%S,%e] [%*] [%n] : %v");
  logger->set_formatter(std::move(formatter));
  try {
    spdlog::register_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
    // Registered meanwhile by code that does not take our mutex: use that one.
    if (auto existing = spdlog::get("streamframe")) return existing;
  }
  return logger;
}

void install_log_callback(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_log_cb(conf, &log_callback);
}

}  // namespace streamframe::kafka
