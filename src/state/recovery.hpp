// Rebuilding a partition store from its changelog topic (ST-05).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/config.hpp"
#include "kafka/consumer.hpp"
#include "state/store.hpp"

namespace streamframe::state {

struct RestoreRequest {
  PartitionStore* store = nullptr;
  std::string store_name;
  std::string changelog;  // topic; its partition equals the source partition
  std::int32_t partition = 0;
  // The recovery boundary per source topic of the task (a concat of different topics has
  // several): a record is applied iff it carries no processed-offset header or every offset
  // in it is below its topic's boundary (the committed source offset); topics not listed do
  // not hold it back.
  std::vector<std::pair<std::string, std::int64_t>> boundaries;
  // APP-10 "latest": only records without the processed-offset header are applied.
  bool only_without_offsets = false;
  // Called from the restoring thread after each batch read: the records read since the last
  // call and those left up to the changelog's end as known then (-1: not known yet); (0, 0)
  // when the partition is restored. Also a sign of life while a long restore runs.
  std::function<void(std::int64_t records, std::int64_t remaining)> on_progress;
};

struct RestoreResult {
  std::int64_t applied = 0;
  std::int64_t skipped = 0;
  double seconds = 0;
};

// Reads changelogs with its own consumer (manual assignment, no group membership, no
// commits, read_committed so aborted transactions never reach a store).
class Restorer {
 public:
  // `consumer_config` needs bootstrap.servers (plus security settings).
  explicit Restorer(kafka::Config consumer_config);
  ~Restorer();

  // Replays the changelog from the store's changelog offset to its end, writing the records
  // and the new offset together. A record that cannot be decoded => SerializationError naming
  // topic, partition and offset (nothing after it is applied). `stop` ends it early (the
  // store keeps its previous offset).
  //
  // CK-07: the end is the high watermark, not the last stable offset where a read_committed
  // fetch stops: a transaction left open by a dead producer (killed while a checkpoint was
  // in flight) would otherwise hide every committed record written after it, and processing
  // would start on state older than the committed input offsets. While such a transaction
  // is open the restore waits for the coordinator to end it (fenced by a restarted
  // predecessor, or aborted after its transaction.timeout.ms), at most
  // `open_transaction_wait`; then KafkaError (timed out) naming the changelog, partition
  // and offsets.
  RestoreResult restore(const RestoreRequest& request, const std::atomic<bool>& stop,
                        std::chrono::milliseconds open_transaction_wait);

 private:
  std::unique_ptr<kafka::Consumer> consumer_;
};

// The `__processed_tp_offsets__` header value (ST-04): the last offset processed since the
// previous checkpoint of each of the task's source partitions that processed any.
std::string processed_offsets_header(
    const std::vector<std::pair<std::string_view, std::int64_t>>& offsets);

inline constexpr const char* kColumnFamilyHeader = "__column_family__";
inline constexpr const char* kProcessedOffsetsHeader = "__processed_tp_offsets__";

}  // namespace streamframe::state
