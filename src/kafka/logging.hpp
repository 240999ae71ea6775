// The "streamframe" spdlog logger and the route of librdkafka's logs into it.
#pragma once

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace streamframe::kafka {

// The registered spdlog logger "streamframe". When none is registered yet, one is created on
// stderr with the LOG-01 format "[YYYY-MM-DD HH:MM:SS,mmm] [LEVEL] [streamframe] : message";
// an existing logger (e.g. configured by the application) is used as it is. Thread-safe.
std::shared_ptr<spdlog::logger> streamframe_logger();

// Installs a log_cb on `conf` that forwards librdkafka's log lines (called from librdkafka's
// own threads) to streamframe_logger(), mapping syslog levels to spdlog levels.
void install_log_callback(rd_kafka_conf_t* conf);

}  // namespace streamframe::kafka
