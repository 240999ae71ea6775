#include "kafka/logging.hpp"

#include "core/logging.hpp"

namespace streamframe::kafka {

namespace {

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

// One logger for the whole library: core owns its creation and format (LOG-01).
std::shared_ptr<spdlog::logger> streamframe_logger() {
  return detail::logger();
}

void install_log_callback(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_log_cb(conf, &log_callback);
}

}  // namespace streamframe::kafka
