// MQTT as a source (SRC-06) and as a sink (SNK-05), through Debian's libmosquitto (Quix
// Streams' MQTTSource and MQTTSink).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "streamframe/sink.hpp"
#include "streamframe/source.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

// How to reach the MQTT broker.
struct MQTTConnection {
  // Unique per broker: a second client with the same id takes the session over.
  std::string client_id{};
  std::string server = "127.0.0.1";
  int port = 1883;
  std::string username{};  // empty: anonymous
  std::string password{};
  // "3.1", "3.1.1" or "5" (anything else => ConfigError).
  std::string version = "3.1.1";
  // TLS with the system's CA certificates (or tls_ca_file); Quix Streams' default too.
  bool tls_enabled = true;
  std::string tls_ca_file{};
  std::chrono::seconds keepalive{60};
  // A lost connection is re-established with backoff from the first to the second delay.
  std::chrono::milliseconds reconnect_delay_min{500};
  std::chrono::milliseconds reconnect_delay_max{10000};
};

// One MQTT message as the source's setters see it.
struct MQTTMessage {
  std::string_view topic;
  std::string_view payload;
  int qos = 0;
  bool retain = false;
  std::int64_t received_ms = 0;  // wall clock at arrival
};

struct MQTTSourceOptions {
  MQTTConnection connection{};
  // The topic filter; '+' and '#' wildcards as MQTT defines them ("sensors/#").
  std::string topic{};
  int qos = 1;  // 0 or 1; 2 => ConfigError (as Quix Streams)
  // A persistent session: the broker keeps the subscription and queues QoS 1 messages while
  // the source is away (reconnecting, or restarting with the same client_id). Quix Streams
  // (paho's default) starts clean.
  bool clean_session = false;
  // Parse each payload as JSON for the setters (and for the defaults' "_key" / "_timestamp");
  // a payload that is not JSON then reaches them as null.
  bool parse_payload = true;
  // (message, parsed payload) -> the record's key. Unset: payload["_key"] when the payload is
  // an object that has it, else the MQTT topic.
  std::function<Value(const MQTTMessage&, const Value& payload)> key_setter{};
  // (message, parsed payload) -> the record's value, serialized by the topic's serializer.
  // Unset: the payload's bytes as they are.
  std::function<Value(const MQTTMessage&, const Value& payload)> value_setter{};
  // (message, parsed payload) -> the timestamp in ms. Unset: payload["_timestamp"] when the
  // payload is an object that has it, else received_ms.
  std::function<std::int64_t(const MQTTMessage&, const Value& payload)> timestamp_setter{};
  std::chrono::milliseconds shutdown_timeout = std::chrono::seconds(10);
};

// Subscribes to a topic filter and produces each message to the source's topic (default
// "source__<client_id>": string keys, the payload's bytes as values). Runs until stopped;
// a lost connection is re-established (and the subscription renewed) with backoff.
class MQTTSource : public Source {
 public:
  explicit MQTTSource(MQTTSourceOptions options);
  ~MQTTSource() override;
  void setup() override;
  void run() override;
  void cleanup(bool failed) override;
  TopicOptions default_topic_options() const override;
  // For tests: messages produced, connections made after the first.
  std::uint64_t messages() const;
  std::uint64_t reconnects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct MQTTSinkOptions {
  MQTTConnection connection{};
  // Each record goes to "<topic_root>/<key>".
  std::string topic_root{};
  int qos = 1;  // 0 or 1; 2 => ConfigError
  bool retain = false;
  std::function<bool(const Value& value)> retain_fn{};  // wins over `retain` when set
  // Key -> the topic's last level. Unset: a string key as it is, anything else as JSON; a
  // null key => ValueTypeError (a processing error of the record).
  std::function<std::string(const Value& key)> key_serializer{};
  // Value -> payload. Unset: JSON.
  std::function<std::string(const Value& value)> value_serializer{};
  // How long flush() waits for the broker's acknowledgements (QoS 1) or the writes (QoS 0).
  std::chrono::milliseconds flush_timeout = std::chrono::seconds(10);
  // The pause after the broker was away or did not acknowledge in time (SNK-03).
  std::chrono::milliseconds retry_after = std::chrono::seconds(5);
};

// Publishes each record at once (QoS 1 by default); flush() waits until the broker
// acknowledged everything published since the last checkpoint, so the offsets commit only
// after the messages are the broker's: at-least-once. At QoS 0 it waits until they were written
// to the connection (at-most-once past that point, as QoS 0 is). A broker that is away, or does not
// acknowledge within flush_timeout, is SinkBackpressureError: the records since the checkpoint
// are published again once it is back.
class MQTTSink : public Sink {
 public:
  explicit MQTTSink(MQTTSinkOptions options);
  ~MQTTSink() override;
  MQTTSink(const MQTTSink&) = delete;
  MQTTSink& operator=(const MQTTSink&) = delete;
  void setup() override;
  void add(const Value& value, const Value& key, std::int64_t timestamp, const Headers& headers,
           const std::string& topic, std::int32_t partition, std::int64_t offset) override;
  void flush() override;
  void on_paused() override;
  // For tests and benchmarks: messages the broker acknowledged (QoS 1) or that were written to
  // the connection (QoS 0), connections after the first.
  std::uint64_t published() const;
  std::uint64_t reconnects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamframe
