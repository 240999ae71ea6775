// Application: configuration, topics, and the run loop (SEMANTICS §2).
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "streamframe/connection.hpp"
#include "streamframe/consumer.hpp"
#include "streamframe/dataframe.hpp"
#include "streamframe/producer.hpp"
#include "streamframe/record.hpp"
#include "streamframe/source.hpp"
#include "streamframe/state.hpp"
#include "streamframe/topic.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

namespace detail {
struct ApplicationAccess;
}

enum class AutoOffsetReset { latest, earliest, error };
enum class ProcessingGuarantee { at_least_once, exactly_once };
enum class ErrorAction { stop, skip, dead_letter };

// The Kafka message an error is about, as consumed (raw bytes), when there is one.
struct RawMessage {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::optional<std::string> key;    // nullopt = null key
  std::optional<std::string> value;  // nullopt = tombstone
  std::int64_t timestamp = 0;
  Headers headers;
};

struct ErrorContext {
  const RawMessage* message = nullptr;  // null for errors not tied to one consumed message
  const Row* row = nullptr;             // the row being processed (processing errors)
};

// ERR-01: decides what happens after an error. Returning `skip` drops the message or row and
// goes on; `stop` ends run() with the error and nothing after the last checkpoint committed;
// `dead_letter` (deserialization and processing errors) sends the message to
// ApplicationConfig::dead_letter_topic and goes on as `skip` does (EXT-03). For producer
// errors `dead_letter` stops. Without a callback: the error is logged, then dead-lettered when
// dead_letter_topic is set, else it stops.
using ErrorCallback = std::function<ErrorAction(const std::exception&, const ErrorContext&)>;

// LOG-02: how streamframe's log lines look.
enum class LogFormat { text, json };

struct ApplicationConfig {
  // "host:port[,host:port]" or "embedded"; empty => env STREAMFRAME_BROKER_ADDRESS.
  std::string broker_address{};
  // APP-17: a secured cluster's connection (TLS, SASL), applied to every client the
  // application makes (consumers, producers, admin, recovery, sources, get_producer()/
  // get_consumer()). Its bootstrap_servers stands for broker_address (set one of the two).
  std::optional<ConnectionConfig> connection{};
  // Empty => env STREAMFRAME_CONSUMER_GROUP, else "streamframe-default".
  std::string consumer_group{};
  // Empty => env STREAMFRAME_STATE_DIR, else "state".
  std::string state_dir{};
  AutoOffsetReset auto_offset_reset = AutoOffsetReset::latest;
  ProcessingGuarantee processing_guarantee = ProcessingGuarantee::at_least_once;
  std::chrono::milliseconds commit_interval{5000};
  std::int64_t commit_every = 0;
  std::chrono::milliseconds consumer_poll_timeout{1000};
  std::chrono::milliseconds producer_poll_timeout{0};
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds topic_create_timeout{60000};
  bool auto_create_topics = true;
  ErrorCallback on_consumer_error{};
  ErrorCallback on_processing_error{};
  ErrorCallback on_producer_error{};
  // EXT-03: the topic `ErrorAction::dead_letter` sends failed messages to (nullopt = none): the
  // message's raw key, value, timestamp and headers plus headers streamframe.error.stage,
  // .type, .message and streamframe.source.topic, .partition, .offset; partitioned by murmur2
  // of the raw key; produced as part of the checkpoint (exactly-once: in its transaction).
  // The name is checked at construction; run() creates the topic when it is absent (APP-08,
  // 1 partition: declare it first with app.topic() for another layout).
  std::optional<std::string> dead_letter_topic{};
  std::function<void(const std::string& topic, std::int32_t partition, std::int64_t offset)>
      on_message_processed{};
  std::map<std::string, std::string> producer_extra_config{};
  std::map<std::string, std::string> consumer_extra_config{};
  // "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"; nullopt leaves logging alone (LOG-01).
  std::optional<std::string> loglevel = "INFO";
  // LOG-02: the lines of the logger streamframe makes: LOG-01's text, or one JSON object per
  // line for log shippers. Left alone with loglevel nullopt or a logger of the program's own.
  LogFormat log_format = LogFormat::text;
  bool install_signal_handlers = true;

  // --- operations (EXT-08) ---
  // Prometheus metrics (GET /metrics) and the health endpoints (GET /health/live,
  // /health/ready) on this TCP port, served from the first run() until the Application is
  // destroyed; 0 = off. A port that cannot be bound => ConfigError naming it at run().
  int metrics_port = 0;
  std::string metrics_bind_address = "0.0.0.0";
  // /health/live answers 503 once a worker's loop has not turned for this long (a user
  // callback that hangs, a stuck checkpoint); a restore counts as turning while it reads.
  std::chrono::milliseconds liveness_timeout{60000};

  // --- state (SEMANTICS §10, APP-06..10) ---
  RocksDBOptions rocksdb_options{};
  // The memory the process's state may hold, stores of every worker together: half goes to
  // RocksDB (its shared block cache, with every memtable charged to it; see
  // RocksDBOptions::block_cache_size), half to the caches in front of the stores (open
  // windows, recently read state, join records), which evict cold entries to the stores at
  // checkpoints and read them back when needed; a checkpoint comes early when they outgrow it
  // (what changed since the last one cannot be evicted before it is written). Below 16 MiB =>
  // ConfigError. A working set of hot keys larger than the caches' half is read back from
  // RocksDB: raise it for such a pipeline when memory allows.
  std::size_t state_memory_budget = 128 * RocksDBOptions::kMiB;
  // Stores are backed by compacted changelog topics and restored from them (APP-09).
  bool use_changelog_topics = true;
  bool auto_recover_from_source_offset_out_of_range = true;
  StateRecoveryOffsetReset state_recovery_offset_reset = StateRecoveryOffsetReset::earliest;
  // APP-15: run() throws KafkaBrokerUnavailableError once every broker has been unreachable
  // this long (0 = never).
  std::chrono::milliseconds broker_availability_timeout{120000};
  // Processing-time clock in ms, read for idle closing (EXT-02). Empty => steady_clock.
  // Tests inject a manual clock to make idle closing deterministic.
  std::function<std::int64_t()> clock{};
  // EXT-06: worker threads, each with its own consumer, producer and stores in the group.
  int num_workers = 1;
  // APP-13/KAF-04: messages buffered per topic partition while a concat of different topics
  // orders them by timestamp; a full buffer pauses its partition until it drains (it may reach
  // about twice this, with what was fetched before the pause). 0 => ConfigError.
  std::size_t max_partition_buffer_size = 10000;
};

struct RunOptions {
  // Stop after this long without a consumed message (0 = no limit), counted once the fetcher
  // has reported the end of every assigned partition (up to 60 s more while it has not). With
  // sources and no dataframe: stop this long after the start.
  std::chrono::milliseconds timeout{0};
  // Stop once at least this many records left the pipeline's leaves (0 = no limit). Needs a
  // dataframe (ConfigError with sources alone).
  std::size_t count = 0;
  bool collect = true;
  bool metadata = false;
  // When set, cleared at the start and filled with the label (StreamingDataFrame::set_label)
  // of the frame each collected output left, index for index with run()'s result.
  std::vector<std::uint32_t>* output_labels = nullptr;
};

// Counters of one run, for summaries and tests.
struct RunStats {
  std::uint64_t messages_consumed = 0;
  std::uint64_t rows_processed = 0;
  std::uint64_t records_produced = 0;
  std::uint64_t errors_skipped = 0;
  // Messages sent to the dead-letter topic (EXT-03); an aborted checkpoint's are sent again.
  std::uint64_t dead_lettered = 0;
  std::uint64_t checkpoints = 0;
  // Of `checkpoints`, those whose offsets were committed while processing went on: at-least-
  // once checkpoints with no state changes, committed once the outputs produced before them
  // were acknowledged (CK-02 step 3) instead of stopping to wait for those acknowledgements.
  std::uint64_t checkpoints_deferred = 0;
  // Checkpoints that committed nothing and whose messages were processed again: exactly-once
  // transactions aborted, at-least-once commits refused because the group moved on.
  std::uint64_t checkpoints_aborted = 0;
  // Records a window skipped because their key was null (WIN-01).
  std::uint64_t null_keys_skipped = 0;
};

class Application {
 public:
  explicit Application(ApplicationConfig config = {});
  ~Application();
  Application(const Application&) = delete;
  Application& operator=(const Application&) = delete;

  // Declares a topic; creates it at once when absent and auto_create_topics is on (APP-08).
  Topic topic(std::string name, const TopicOptions& options = {});
  // The root frame of a topic (APP-19). One root per topic.
  [[nodiscard]] StreamingDataFrame dataframe(const Topic& topic);
  // SRC-01: `source` runs while run() does, in a thread of its own with a producer of its own
  // (never transactional), and produces to `topic`, or else to its default topic
  // "source__<name>" (declared here, created as app.topic() creates topics). With dataframes
  // the sources start once the first partitions are assigned; without any, run() runs the
  // sources alone until they all return, stop() or its timeout. Returns the topic. A second
  // source of the same name => ConfigError.
  Topic add_source(std::shared_ptr<Source> source, std::optional<Topic> topic = std::nullopt);
  // The root frame of the topic `source` produces to (add_source, then dataframe).
  [[nodiscard]] StreamingDataFrame dataframe(std::shared_ptr<Source> source,
                                             std::optional<Topic> topic = std::nullopt);

  // Runs until stopped (signal, stop(), or a limit in `options`). APP-20.
  std::vector<Value> run(RunOptions options = {});
  // Thread-safe graceful stop (APP-21); `fail` skips the final checkpoint.
  void stop(bool fail = false);

  // A producer with the application's broker and producer settings (APP-23).
  Producer get_producer();
  // A consumer in the application's consumer group with its broker and consumer settings
  // (APP-24); `auto_commit_enable`: stored offsets are committed periodically and on close.
  Consumer get_consumer(bool auto_commit_enable = true);

  // Deletes `<state_dir>/<consumer_group>` (APP-22); while running => InvalidOperation.
  void clear_state();

  // Deletes the internal topics of the pipeline declared so far from the broker: group_by's
  // repartition topics, every store's changelog (TOP-14) and the changelogs of the stateful
  // sources added (SRC-03), those that exist. Returns the
  // names deleted. With clear_state(), the way to start a pipeline's state over; the group's
  // committed input offsets stay (use another consumer group to reprocess the input). The
  // next declaration of a group_by creates its topic again. While running, or on the
  // embedded broker (no admin API) => InvalidOperation.
  std::vector<std::string> delete_internal_topics();

  const ApplicationConfig& config() const;
  // Address of the broker in use: the embedded broker's when broker_address is "embedded".
  std::string bootstrap_servers() const;
  RunStats stats() const;

  class Impl;

 private:
  friend struct detail::ApplicationAccess;  // the library's own tests (src/app/access.hpp)
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamframe
