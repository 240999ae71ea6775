#include "state/recovery.hpp"

#include <fmt/format.h>

#include <iterator>
#include <vector>

#include "core/logging.hpp"
#include "kafka/codes.hpp"
#include "kafka/retry.hpp"
#include "state/transaction.hpp"
#include "state/value_codec.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"

namespace streamframe::state {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kBatchRecords = 10000;
// Restored records are written in batches of about this many bytes of keys and values: large
// enough that RocksDB takes each as one sorted table file, small enough to bound the memory of
// a restore (one batch per partition being restored).
constexpr std::size_t kBulkBytes = std::size_t{16} << 20;
// ERR-02: a recovery that makes no progress for this many polls is stuck.
constexpr int kMaxIdlePolls = 60;

kafka::Config restore_config(kafka::Config c) {
  kafka::set_option(c, "enable.auto.commit", "false");
  kafka::set_option(c, "enable.auto.offset.store", "false");
  kafka::set_option(c, "enable.partition.eof", "true");
  kafka::set_option(c, "isolation.level", "read_committed");
  kafka::set_option(c, "auto.offset.reset", "earliest");
  kafka::set_option(c, "fetch.wait.max.ms", "50");
  // librdkafka 2.0.2 stops fetching for a second whenever its queue reaches these limits
  // (docs/librdkafka-notes.md): keep them out of reach of one restore's pace.
  kafka::set_option(c, "queued.min.messages", "1000000");
  kafka::set_option(c, "queued.max.messages.kbytes", "131072");
  return c;
}

// Whether the record's processed offsets are all below the boundary.
bool within_boundary(std::string_view header, const RestoreRequest& r) {
  const Value offsets = json::parse(header);
  if (!offsets.is_object()) throw SerializationError("processed-offsets header is not an object");
  for (const auto& [topic, offset] : offsets.as_object()) {
    if (!offset.is_int()) throw SerializationError("processed offset is not an integer");
    for (const auto& [source, boundary] : r.boundaries) {
      if (topic == source && offset.as_int() >= boundary) return false;
    }
  }
  return true;
}

// Progress of a CK-07 wait, every 5 s.
void log_waiting(const RestoreRequest& r, std::int64_t at, std::int64_t high,
                 Clock::time_point since, std::chrono::milliseconds limit,
                 Clock::time_point& last_log) {
  const auto now = Clock::now();
  if (now - last_log < std::chrono::seconds(5)) return;
  last_log = now;
  detail::logger()->info(
      "restoring store '{}' partition {}: still waiting for the transaction open at offset {} "
      "(high watermark {}): {:.0f} of at most {} s",
      r.store_name, r.partition, at, high, std::chrono::duration<double>(now - since).count(),
      limit.count() / 1000);
}

void validate_record(std::string_view key, std::string_view bytes) {
  if (is_ttl_index_key(key)) {
    // ST-06: the TTL index is changelogged like any key; its entries have no value.
    if (!bytes.empty()) throw SerializationError("TTL index entry with a value");
    return;
  }
  const StoredValue v = parse_stored(bytes);
  if (!v.raw_bytes) validate(v.payload);
}

}  // namespace

std::string processed_offsets_header(
    const std::vector<std::pair<std::string_view, std::int64_t>>& offsets) {
  // Topic names are limited to [a-zA-Z0-9._-] by Kafka: nothing to escape.
  std::string out = "{";
  for (const auto& [topic, offset] : offsets) {
    if (out.size() > 1) out += ',';
    fmt::format_to(std::back_inserter(out), "\"{}\":{}", topic, offset);
  }
  out += '}';
  return out;
}

Restorer::Restorer(kafka::Config consumer_config)
    : consumer_(std::make_unique<kafka::Consumer>(restore_config(std::move(consumer_config)))) {}

Restorer::~Restorer() = default;

RestoreResult Restorer::restore(const RestoreRequest& r, const std::atomic<bool>& stop,
                                std::chrono::milliseconds open_transaction_wait) {
  RestoreResult result;
  const auto started = Clock::now();
  // No watermark request up front: the fetch itself finds the end (PARTITION_EOF) and follows
  // leader changes, which a watermark request in librdkafka 2.0.2 does not.
  const std::int64_t start = r.store->changelog_offset().value_or(0);
  std::int64_t high = -1;  // known once the fetcher has seen the partition
  detail::logger()->info("restoring store '{}' partition {} from '{}' offset {}", r.store_name,
                         r.partition, r.changelog, start);
  consumer_->assign({{r.changelog, r.partition, start}});
  r.store->begin_bulk_load();
  struct Unassign {
    kafka::Consumer& c;
    ~Unassign() {
      try {
        c.assign({});
      } catch (...) {
      }
    }
  } unassign{*consumer_};

  WriteBatch batch;
  std::int64_t first = -1;  // first offset read (start may be below the low watermark)
  std::string last_header;
  bool last_header_valid = false;
  bool last_apply = true;
  std::int64_t next = start;  // the changelog offset the store reflects once batch is written
  auto last_log = started;
  int idle = 0;
  // CK-07: set while the fetch stands at the last stable offset below the high watermark.
  bool waiting = false;
  Clock::time_point waiting_since{};
  std::int64_t waiting_at = -1;
  std::vector<kafka::Message> msgs;
  std::int64_t reported = 0;  // records passed to on_progress
  bool done = false;
  while (!done) {
    if (stop.load()) {
      r.store->end_bulk_load();
      return result;
    }
    msgs.clear();
    consumer_->read_batch(msgs, kBatchRecords, std::chrono::milliseconds(500));
    if (msgs.empty()) {
      if (r.on_progress) r.on_progress(0, -1);  // alive, waiting (EXT-08's liveness)
      if (waiting) {
        // Polls stay empty until the coordinator ends the open transaction; the fetcher then
        // goes on by itself and reports the partition's end again.
        if (Clock::now() - waiting_since >= open_transaction_wait) {
          throw KafkaError(
              kafka::code::timed_out,
              fmt::format("recovery of '{}' partition {} cannot complete: a transaction open at "
                          "offset {} (high watermark {}) hides committed changelog records after "
                          "it and did not end within {} ms; its producer may be alive (a zombie "
                          "instance) or use a transaction.timeout.ms longer than this "
                          "application's",
                          r.changelog, r.partition, waiting_at, high,
                          open_transaction_wait.count()),
              true, false);
        }
        log_waiting(r, waiting_at, high, waiting_since, open_transaction_wait, last_log);
        continue;
      }
      if (++idle >= kMaxIdlePolls) {
        throw KafkaError(kafka::code::timed_out,
                         fmt::format("recovery of '{}' partition {} is stuck at offset {} "
                                     "(end {}) after {} polls",
                                     r.changelog, r.partition, next, high, kMaxIdlePolls),
                         false, true);
      }
      continue;
    }
    if (high < 0) high = consumer_->get_watermarks(r.changelog, r.partition).second;
    idle = 0;
    for (const kafka::Message& m : msgs) {
      m.throw_if_error();
      if (m.end_of_partition()) {
        next = std::max(next, m.offset());
        // The fetch response that reported the end also updated the cached high watermark.
        high = consumer_->get_watermarks(r.changelog, r.partition).second;
        if (m.offset() >= high) {
          done = true;
          break;
        }
        // The end of a read_committed fetch is the last stable offset: the first offset of a
        // transaction still open. Records after it may be committed already (CK-07).
        if (!waiting || waiting_at != m.offset()) {
          waiting = true;
          waiting_since = Clock::now();
          waiting_at = m.offset();
          detail::logger()->warn(
              "restoring store '{}' partition {}: changelog '{}' has a transaction open at "
              "offset {} (high watermark {}), left by a producer that stopped mid-checkpoint; "
              "waiting up to {} ms for it to be aborted, because committed records may follow "
              "it",
              r.store_name, r.partition, r.changelog, m.offset(), high,
              open_transaction_wait.count());
        }
        continue;
      }
      if (waiting) {
        // The open transaction ended (committed: its records come now; aborted: the fetch
        // skips them) and the fetch goes on.
        detail::logger()->info(
            "restoring store '{}' partition {}: the transaction open at offset {} ended after "
            "{:.1f} s",
            r.store_name, r.partition, waiting_at,
            std::chrono::duration<double>(Clock::now() - waiting_since).count());
        waiting = false;
      }
      try {
        bool apply = true;
        if (auto header = m.last_header(kProcessedOffsetsHeader)) {
          // Every record of one checkpoint carries the same header: decide once per value.
          if (*header != last_header || !last_header_valid) {
            last_header.assign(*header);
            last_header_valid = true;
            last_apply = !r.only_without_offsets && within_boundary(*header, r);
          }
          apply = last_apply;
        }
        const auto key = m.key();
        if (!key) throw SerializationError("changelog record has no key");
        if (apply) {
          if (auto value = m.value()) {
            validate_record(*key, *value);
            batch.put(*key, *value);
          } else {
            batch.remove(*key);
          }
          ++result.applied;
        } else {
          ++result.skipped;
        }
      } catch (const std::exception& e) {
        SerializationError error(fmt::format(
            "changelog record of store '{}' cannot be decoded; recovery of the partition stopped: "
            "{}",
            r.store_name, e.what()));
        error.set_origin(r.changelog, r.partition, m.offset());
        throw error;
      }
      if (first < 0) first = m.offset();
      next = m.offset() + 1;
    }
    if (batch.bytes() >= kBulkBytes || done) {
      r.store->bulk_write(batch, next);
      batch.clear();
    }
    if (r.on_progress) {
      const std::int64_t read = result.applied + result.skipped;
      r.on_progress(read - reported,
                    done ? 0 : (high >= 0 ? std::max<std::int64_t>(high - next, 0) : -1));
      reported = read;
    }
    const auto now = Clock::now();
    if (now - last_log >= std::chrono::seconds(5)) {
      last_log = now;
      const double secs = std::chrono::duration<double>(now - started).count();
      const std::int64_t from = first >= 0 ? first : start;
      detail::logger()->info("restoring store '{}' partition {}: {}/{} records ({:.0f}/s)",
                             r.store_name, r.partition, next - from,
                             std::max(high - from, next - from),
                             static_cast<double>(next - from) / std::max(secs, 1e-3));
    }
  }
  r.store->end_bulk_load();
  if (r.on_progress) r.on_progress(0, 0);
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (result.applied + result.skipped == 0) return result;  // nothing new: stay quiet
  detail::logger()->info(
      "restored store '{}' partition {}: {} records applied, {} skipped in {:.2f} s ({:.0f}/s)",
      r.store_name, r.partition, result.applied, result.skipped, result.seconds,
      static_cast<double>(result.applied + result.skipped) / std::max(result.seconds, 1e-3));
  return result;
}

}  // namespace streamframe::state
