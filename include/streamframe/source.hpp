// Sources: code that brings data into Kafka from somewhere else (SEMANTICS SRC-01..04).
//
// A source runs in a thread of its own with a producer of its own (not transactional: what a
// source produced is in Kafka once its flush() returns, whatever the application's
// processing guarantee). Add it with Application::add_source(), or read its topic at once
// with Application::dataframe(source).
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "streamframe/record.hpp"
#include "streamframe/topic.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

namespace detail {
struct SourceAccess;
class SourceStore;
}  // namespace detail

// A record serialized with the serializers of a source's topic (Source::serialize).
struct SourceMessage {
  std::optional<std::string> key;    // nullopt = null key
  std::optional<std::string> value;  // nullopt = tombstone
  Headers headers;
  std::int64_t timestamp = 0;  // 0 = the producer's clock
};

// Subclass it and implement run(): a loop that fetches data while running() and produces it.
//
//   class Counter : public streamframe::Source {
//    public:
//     Counter() : Source("counter") {}
//     void run() override {
//       for (std::int64_t i = 0; running(); ++i) produce(serialize(Value(), Value(i)));
//     }
//   };
//
// Lifecycle, all on the source's thread except stop(): setup() (a throw goes to
// on_client_connect_failure, else on_client_connect_success runs), run(), then cleanup(false)
// when run() returned or cleanup(true) when it threw. An exception out of setup, run or
// cleanup stops the application gracefully (final checkpoint), after which run() throws
// SourceException (SRC-04). A source is run by one application at a time.
class Source {
 public:
  // `name` names the default topic, "source__<name>" (SRC-02); unique within an application.
  // `shutdown_timeout`: how long the application waits for run() to return after stop().
  explicit Source(std::string name,
                  std::chrono::milliseconds shutdown_timeout = std::chrono::seconds(10));
  virtual ~Source();
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  const std::string& name() const noexcept { return name_; }
  std::chrono::milliseconds shutdown_timeout() const noexcept { return shutdown_timeout_; }

  // Fetches data and produces it; return when running() turns false (or when there is no more
  // data: a source that ends is not an error).
  virtual void run() = 0;
  // Connects to what the source reads, before run(). A throw is a connection failure.
  virtual void setup() {}
  virtual void on_client_connect_success() {}
  // Gets setup()'s exception; the default rethrows it (the source then fails).
  virtual void on_client_connect_failure(std::exception_ptr error);
  // After run(): flushes the producer (up to half the shutdown timeout) unless `failed`.
  virtual void cleanup(bool failed);
  // Called by the application, from another thread, when it stops: running() turns false.
  // An override must call Source::stop().
  virtual void stop();
  // Serdes and config of the default topic; its name is always "source__<name>". JSON values
  // and bytes keys unless overridden.
  virtual TopicOptions default_topic_options() const;

  // True from start until stop().
  bool running() const noexcept;
  // The topic the source produces to; valid once the source was added to an application.
  const Topic& topic() const;

  // Serializes with the topic's key and value serializers (with the value serializer's extra
  // headers after `headers`); a null Value gives a null key or a tombstone.
  SourceMessage serialize(const Value& key, const Value& value, const Headers& headers = {},
                          std::int64_t timestamp = 0) const;
  // Produces raw bytes to the topic; partition -1 = by key (murmur2). Blocks while the local
  // queue is full. A failed delivery throws KafkaError from a later produce() or flush().
  void produce(std::optional<std::string_view> value, std::optional<std::string_view> key = {},
               const Headers& headers = {}, std::int32_t partition = -1,
               std::int64_t timestamp = 0);
  void produce(const SourceMessage& message, std::int32_t partition = -1);
  // Waits until everything produced is acknowledged. Throws CheckpointProducerTimeout when
  // `timeout` passes first, KafkaError when a delivery failed.
  virtual void flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  struct Runtime;

 private:
  friend struct detail::SourceAccess;
  friend class StatefulSource;
  std::string name_;
  std::chrono::milliseconds shutdown_timeout_;
  std::shared_ptr<Runtime> runtime_;
};

// The state of a StatefulSource (SRC-03): keys and values are Values (stored as JSON), kept
// in memory and written to the source's changelog topic at each flush().
class SourceState {
 public:
  // The value stored under `key`, or `default_value` when there is none.
  Value get(const Value& key, Value default_value = Value()) const;
  void set(const Value& key, const Value& value);
  // `delete` is a C++ keyword.
  void remove(const Value& key);
  bool exists(const Value& key) const;

 private:
  friend class StatefulSource;
  explicit SourceState(detail::SourceStore& store) noexcept : store_(&store) {}
  detail::SourceStore* store_;
};

// A Source whose state survives restarts (SRC-03), e.g. the position it read up to:
//
//   void run() override {
//     auto n = state().get("next", Value(0)).as_int();
//     while (running()) {
//       produce(serialize(Value(), Value(n++)));
//       state().set("next", Value(n));
//       if (n % 1000 == 0) flush();  // the records, then the state that counts them
//     }
//   }
//
// The state is restored from its compacted changelog topic
// "changelog__<consumer_group>--source__<name>--default" (one partition, created by
// add_source) before setup() runs. flush() makes the produced records durable first and then
// what changed in the state, so after a crash the state never claims records that were lost:
// a restarted source resumes from its last flush and may produce the records after it again
// (at-least-once, as Kafka's source connectors).
class StatefulSource : public Source {
 public:
  using Source::Source;
  // Valid while the source runs; reads see every write made since the start.
  SourceState& state();
  void flush(std::chrono::milliseconds timeout = std::chrono::seconds(30)) override;
};

}  // namespace streamframe
