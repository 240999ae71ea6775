// What both benchmark programs need besides Kafka: describing the machine and its load,
// formatting numbers and times. Header-only: each program is one translation unit.
#pragma once

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace streamframe::bench {

using Clock = std::chrono::steady_clock;
using Settings = std::vector<std::pair<std::string, std::string>>;

class BenchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// librdkafka handles

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* rkt) const { rd_kafka_topic_destroy(rkt); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* ev) const { rd_kafka_event_destroy(ev); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using AdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

inline ConfPtr make_conf(const Settings& settings) {
  ConfPtr conf(rd_kafka_conf_new());
  std::array<char, 512> errstr{};
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr.data(), errstr.size()) !=
        RD_KAFKA_CONF_OK) {
      throw BenchError(fmt::format("librdkafka setting {}={}: {}", key, value, errstr.data()));
    }
  }
  return conf;
}

// rd_kafka_new takes the configuration only when it succeeds.
inline KafkaPtr make_client(rd_kafka_type_t type, ConfPtr conf) {
  std::array<char, 512> errstr{};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr.data(), errstr.size());
  if (rk == nullptr) throw BenchError(fmt::format("rd_kafka_new: {}", errstr.data()));
  conf.release();
  return KafkaPtr(rk);
}

inline TopicPtr make_topic(rd_kafka_t* rk, const std::string& name) {
  TopicPtr rkt(rd_kafka_topic_new(rk, name.c_str(), nullptr));
  if (!rkt) {
    throw BenchError(
        fmt::format("rd_kafka_topic_new({}): {}", name, rd_kafka_err2str(rd_kafka_last_error())));
  }
  return rkt;
}

inline std::string command_output(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 256> buf{};
  while (fgets(buf.data(), static_cast<int>(buf.size()), pipe) != nullptr) out += buf.data();
  pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

struct Machine {
  long nproc = 0;
  std::string model;
  double mem_gb = 0;
};

inline Machine machine_info() {
  Machine m;
  m.nproc = sysconf(_SC_NPROCESSORS_ONLN);
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        m.model = line.substr(line.find_first_not_of(" \t", colon + 1));
      }
      break;
    }
  }
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("MemTotal:", 0) == 0) {
      const double kb = std::strtod(line.c_str() + 9, nullptr);
      m.mem_gb = std::round(kb / (1024.0 * 1024.0) * 10) / 10;
      break;
    }
  }
  return m;
}

inline double load_average_1m() {
  double load = 0;
  std::ifstream in("/proc/loadavg");
  in >> load;
  return load;
}

inline double clock_ticks(std::uint64_t ticks) {
  static const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(ticks) / hz;
}

// utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15).
inline double process_cpu(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  std::uint64_t utime = 0;
  std::uint64_t stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return clock_ticks(utime + stime);
}

inline std::string iso8601_utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

inline double round_to(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}

// 1234567 -> "1,234,567".
inline std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

inline double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace streamframe::bench
