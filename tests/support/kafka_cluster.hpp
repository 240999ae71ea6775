// A Kafka cluster of its own for a test that breaks brokers or needs special broker settings,
// started with scripts/kafka in a private run directory and stopped when the object dies.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "support/test_env.hpp"

#ifndef STREAMFRAME_KAFKA_SCRIPT
#error "STREAMFRAME_KAFKA_SCRIPT (path of scripts/kafka) is set by tests/CMakeLists.txt"
#endif

namespace streamframe::test {

class KafkaCluster {
 public:
  // `extra_properties`: ';'-separated broker settings (STREAMFRAME_KAFKA_EXTRA_PROPERTIES).
  explicit KafkaCluster(int brokers = 1, const std::string& extra_properties = "")
      : dir_(std::filesystem::temp_directory_path() / unique_name("sf-kafka")) {
    std::string cmd = "STREAMFRAME_KAFKA_EXTRA_PROPERTIES='" + extra_properties + "' " +
                      script("start --brokers " + std::to_string(brokers));
    address_ = last_line(cmd);
    if (address_.find(':') == std::string::npos) {
      stop();
      throw std::runtime_error("scripts/kafka start did not print an address: " + address_);
    }
  }
  ~KafkaCluster() { stop(); }
  KafkaCluster(const KafkaCluster&) = delete;
  KafkaCluster& operator=(const KafkaCluster&) = delete;

  const std::string& address() const { return address_; }
  // e.g. "stop-broker 2", "start-broker 2", "kill-broker 1"; throws if it fails.
  void control(const std::string& args) {
    if (std::system((script(args) + " >/dev/null").c_str()) != 0) {
      throw std::runtime_error("scripts/kafka " + args + " failed");
    }
  }

 private:
  std::string script(const std::string& args) const {
    return "STREAMFRAME_KAFKA_DIR='" + dir_.string() + "' '" STREAMFRAME_KAFKA_SCRIPT "' " + args;
  }
  static std::string last_line(const std::string& cmd) {
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) throw std::runtime_error("popen failed: " + cmd);
    std::string out, line;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) {
      line = buf;
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
      if (!line.empty()) out = line;
    }
    ::pclose(p);
    return out;
  }
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    std::system((script("stop") + " >/dev/null 2>&1").c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::filesystem::path dir_;
  std::string address_;
  bool stopped_ = false;
};

}  // namespace streamframe::test
