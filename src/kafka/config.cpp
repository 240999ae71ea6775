#include "kafka/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "kafka/handles.hpp"
#include "kafka/logging.hpp"
#include "kafka/oauth.hpp"
#include "kafka/tls.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::kafka {

ConfPtr make_conf(const Config& config) {
  ConfPtr conf(rd_kafka_conf_new());
  std::array<char, 512> errstr{};
  for (const auto& [key, value] : config) {
    if (key == kOAuthTokenSourceKey) {
      detail::prepare_token_source_conf(conf.get());
      continue;
    }
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr.data(), errstr.size()) !=
        RD_KAFKA_CONF_OK) {
      throw ConfigError(
          fmt::format("invalid Kafka setting '{}' = '{}': {}", key, value, errstr.data()));
    }
  }
  install_log_callback(conf.get());
  detail::prepare_certificate_check(conf.get());
  return conf;
}

void set_option(Config& config, std::string_view key, std::string value) {
  auto same_key = [key](const auto& entry) { return entry.first == key; };
  const auto first = std::find_if(config.begin(), config.end(), same_key);
  if (first == config.end()) {
    config.emplace_back(std::string(key), std::move(value));
    return;
  }
  first->second = std::move(value);
  config.erase(std::remove_if(std::next(first), config.end(), same_key), config.end());
}

std::optional<std::string> get_option(const Config& config, std::string_view key) {
  for (auto it = config.rbegin(); it != config.rend(); ++it) {
    if (it->first == key) return it->second;
  }
  return std::nullopt;
}

Config merge(Config base, const Config& overrides) {
  for (const auto& [key, value] : overrides) set_option(base, key, value);
  return base;
}

bool option_supported(std::string_view key) {
  const ConfPtr conf(rd_kafka_conf_new());
  std::array<char, 64> value{};
  std::size_t size = value.size();
  // rd_kafka_conf_get answers UNKNOWN only for properties this build does not have.
  return rd_kafka_conf_get(conf.get(), std::string(key).c_str(), value.data(), &size) !=
         RD_KAFKA_CONF_UNKNOWN;
}

Config default_consumer_config() {
  Config config{
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"partition.assignment.strategy", "range"},
      {"max.poll.interval.ms", "300000"},
      {"isolation.level", "read_committed"},
      // Send requests at once, as Java clients do (TCP_NODELAY): with Nagle on, small
      // fetch and commit requests wait for the previous segment's ACK (bench/nexmark
      // latency at 20k records/s: p99 250 ms -> 91 ms with both clients on).
      {"socket.nagle.disable", "true"},
      // librdkafka keeps fetching until this many messages per partition are queued
      // locally (bounded by queued.max.messages.kbytes, 64 MiB by default). The default
      // (100000) lets the fetcher idle between batches at high rates (DESIGN: consumption
      // stalls at 0.2-0.5 M msg/s with defaults).
      {"queued.min.messages", "1000000"},
      // 32 MiB, half librdkafka's default. Before 2.4 librdkafka stops fetching for up to 1 s
      // whenever the local queue is full, and at ~800k msg/s of 200 B records 32 MiB drains in
      // a fifth of that; the consumer's FetchWaker wakes the fetcher instead of the queue
      // holding more than a second of records (256 MiB here once: q8 peaked at ~990 MiB RSS
      // with it, ~510 MiB with 32 MiB, in the same time; bench/nexmark/notes.md).
      {"queued.max.messages.kbytes", "32768"},
  };
  static const bool has_fetch_queue_backoff = option_supported("fetch.queue.backoff.ms");
  if (has_fetch_queue_backoff) config.emplace_back("fetch.queue.backoff.ms", "100");
  return config;
}

Config default_producer_config() {
  return Config{
      {"partitioner", "murmur2"},
      {"enable.idempotence", "true"},
      {"linger.ms", "5"},
      {"socket.nagle.disable", "true"},  // see default_consumer_config()
      // Up to 10000 messages or 1 MB per batch (librdkafka's batch.size default), and a
      // local queue deep enough that bursts do not hit QUEUE_FULL at ~1-2 M msg/s.
      {"batch.num.messages", "10000"},
      {"queue.buffering.max.messages", "1000000"},
  };
}

}  // namespace streamframe::kafka
