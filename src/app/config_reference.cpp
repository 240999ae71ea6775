#include "app/config_reference.hpp"

#include <fmt/format.h>

#include <chrono>

#include "streamframe/application.hpp"

namespace streamframe::detail {
namespace {

std::string duration(std::chrono::milliseconds ms) {
  if (ms.count() == 0) return "0";
  if (ms.count() % 1000 == 0) return fmt::format("{} s", ms.count() / 1000);
  return fmt::format("{} ms", ms.count());
}

std::string flag(bool b) {
  return b ? "true" : "false";
}

std::string code(const std::string& s) {
  return "`" + s + "`";
}

const char* name_of(ProcessingGuarantee g) {
  return g == ProcessingGuarantee::exactly_once ? "exactly_once" : "at_least_once";
}

const char* name_of(StateRecoveryOffsetReset r) {
  switch (r) {
    case StateRecoveryOffsetReset::earliest:
      return "earliest";
    case StateRecoveryOffsetReset::latest:
      return "latest";
    case StateRecoveryOffsetReset::match:
      return "match";
  }
  return "?";
}

}  // namespace

std::vector<ConfigEntry> application_config_reference() {
  const ApplicationConfig d{};
  return {
      {"broker_address", "env `STREAMFRAME_BROKER_ADDRESS`",
       "`host:port[,host:port]`, or `\"embedded\"` for the in-process broker; none at all => "
       "`ConfigError`"},
      {"connection", "none",
       "APP-17: a secured cluster's `ConnectionConfig` (security protocol, SASL mechanism and "
       "credentials, TLS CA, certificate and key), applied to every client; its "
       "`bootstrap_servers` stands for `broker_address`; a refused connection is "
       "`KafkaAuthenticationError` (docs/operations.md)"},
      {"consumer_group", "env `STREAMFRAME_CONSUMER_GROUP`, else `streamframe-default`",
       "Kafka group id; more processes with the same group share the partitions"},
      {"state_dir", "env `STREAMFRAME_STATE_DIR`, else `state`",
       "where the state stores live, under `<state_dir>/<consumer_group>`"},
      {"auto_offset_reset", code(offset_reset_name(d.auto_offset_reset)),
       "where a group without a committed offset starts; `error` stops with a fatal "
       "`KafkaError`"},
      {"processing_guarantee", code(name_of(d.processing_guarantee)),
       "`exactly_once` commits outputs, changelogs and offsets in one transaction; refused on "
       "the embedded broker"},
      {"commit_interval", duration(d.commit_interval),
       "checkpoint at least this often, checked after every message; `<= 0` checkpoints after "
       "each message"},
      {"commit_every", std::to_string(d.commit_every),
       "also checkpoint after this many messages (0 = off)"},
      {"consumer_poll_timeout", duration(d.consumer_poll_timeout), "longest wait in one poll"},
      {"producer_poll_timeout", duration(d.producer_poll_timeout),
       "how long each turn of the run loop waits for the producer's delivery reports (a failed "
       "delivery reaches `on_producer_error` there) before it takes the next messages; it "
       "waits only while records await a report, so an idle loop never blocks on it; 0 serves "
       "the reports already there; negative => `ConfigError`"},
      {"request_timeout", duration(d.request_timeout),
       "bound for admin and metadata requests and the broker reachability check at `run()`"},
      {"topic_create_timeout", duration(d.topic_create_timeout),
       "bound for creating a topic and for metadata to list it"},
      {"auto_create_topics", flag(d.auto_create_topics),
       "`app.topic()` creates a missing topic at once; off => `TopicNotFound`"},
      {"on_consumer_error", "stop", "see Errors"},
      {"on_processing_error", "stop (dead letter when `dead_letter_topic` is set)", "see Errors"},
      {"on_producer_error", "stop", "see Errors"},
      {"dead_letter_topic", d.dead_letter_topic ? code(*d.dead_letter_topic) : "none",
       "where `ErrorAction::dead_letter` sends failed messages; see Errors"},
      {"on_message_processed", "none", "`(topic, partition, offset)` after each message"},
      {"producer_extra_config", "none",
       "passed to librdkafka's producer; `bootstrap.servers`, `group.id` and "
       "`auto.offset.reset` are kept (with a warning)"},
      {"consumer_extra_config", "none",
       "passed to librdkafka's consumer; `bootstrap.servers`, `group.id`, "
       "`auto.offset.reset` and the assignment strategy are kept (with a warning)"},
      {"loglevel", d.loglevel ? code("\"" + *d.loglevel + "\"") : "none",
       "`DEBUG`..`CRITICAL`; `nullopt` leaves the `streamframe` spdlog logger alone. At `DEBUG` "
       "each checkpoint logs what it committed and where its time went (`checkpoint: N messages, "
       "P partition offsets; T ms in all: ...`): processing waits for a checkpoint, so this is "
       "where to look when latency has spikes"},
      {"log_format", code(d.log_format == LogFormat::json ? "json" : "text"),
       "`text` (LOG-01) or `json`: one object per line with `timestamp` (UTC, ms), `level`, "
       "`logger`, `message`, `thread` and, logged while a message is processed, its `topic`, "
       "`partition` and `offset`. Applies to the logger streamframe makes, not to one your "
       "program registered"},
      {"install_signal_handlers", flag(d.install_signal_handlers),
       "SIGINT/SIGTERM stop gracefully; a second SIGINT aborts without commit (`Interrupted`)"},
      {"metrics_port", std::to_string(d.metrics_port),
       "EXT-08: Prometheus metrics at `GET /metrics` and the health probes `GET /health/live` "
       "and `/health/ready` on this port, from the first `run()` until the Application is "
       "destroyed (0 = off); a port that cannot be bound is a `ConfigError` naming it "
       "(docs/operations.md)"},
      {"metrics_bind_address", code("\"" + d.metrics_bind_address + "\""),
       "the address the metrics port listens on (`127.0.0.1`: this host only)"},
      {"liveness_timeout", duration(d.liveness_timeout),
       "`/health/live` answers 503 once a worker's loop has not turned for this long; a restore "
       "counts as turning while it reads"},
      {"rocksdb_options", "see State",
       "RocksDB settings of every store (`RocksDBOptions`: caches, compression, fsync, open "
       "retries, what to do with a corrupted store)"},
      {"state_memory_budget", fmt::format("{} MiB", d.state_memory_budget / RocksDBOptions::kMiB),
       "memory the process's state may hold, all workers together: half for RocksDB (one block "
       "cache shared by every store, memtables charged to it), half for the caches in front of "
       "the stores (open windows, recently read state), whose cold entries are dropped at "
       "checkpoints and read back from the store when needed; a checkpoint comes early when "
       "they outgrow it; below 16 MiB => `ConfigError`"},
      {"use_changelog_topics", flag(d.use_changelog_topics),
       "back every store with a compacted changelog topic and restore from it; off => state "
       "stays on the local disk only"},
      {"auto_recover_from_source_offset_out_of_range",
       flag(d.auto_recover_from_source_offset_out_of_range),
       "when a stateful partition's committed offset fell below the low watermark, go on as "
       "`state_recovery_offset_reset` says; off => `StateRecoveryOffsetOutOfRange`"},
      {"state_recovery_offset_reset", code(name_of(d.state_recovery_offset_reset)),
       "where such a partition resumes: `earliest` at the low watermark after replaying the "
       "changelog, `latest` at the high watermark, `match` as `auto_offset_reset` says (see "
       "State)"},
      {"broker_availability_timeout", duration(d.broker_availability_timeout),
       "`run()` throws `KafkaBrokerUnavailableError` once every broker has been unreachable "
       "this long (0 = never)"},
      {"clock", "steady clock",
       "processing-time clock in ms, read for idle closing of windows; tests inject one"},
      {"num_workers", std::to_string(d.num_workers),
       "worker threads, each with its own consumer, producer and stores in the group"},
      {"max_partition_buffer_size", std::to_string(d.max_partition_buffer_size),
       "messages buffered per topic partition while a concat of different topics orders them "
       "by timestamp; a full buffer pauses its partition until it drains"},
  };
}

const char* offset_reset_name(AutoOffsetReset r) {
  switch (r) {
    case AutoOffsetReset::earliest:
      return "earliest";
    case AutoOffsetReset::latest:
      return "latest";
    case AutoOffsetReset::error:
      return "error";
  }
  return "latest";
}

std::string config_reference_markdown() {
  std::string out = "| Option | Default | Meaning |\n|---|---|---|\n";
  for (const auto& e : application_config_reference()) {
    out += fmt::format("| `{}` | {} | {} |\n", e.field, e.default_value, e.meaning);
  }
  return out;
}

}  // namespace streamframe::detail
