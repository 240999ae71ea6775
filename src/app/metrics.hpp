// Prometheus metrics (EXT-08): the families of one application, and the series one worker
// writes. The run loop never touches a Prometheus series per record: per-record counts are
// plain integers of the worker, added to the series once per loop turn (publish()), so a
// scrape lags a turn (at most ~100 ms) and a record costs an increment of a local counter.
// Series are prometheus-cpp atomics, so a scrape from the HTTP thread reads them without
// locking the run loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace streamframe::detail {

// One metric of the reference: docs/operations.md's table is rendered from this list and the
// families are registered from it, so the two cannot differ.
struct MetricInfo {
  const char* name;  // without the streamframe_ prefix
  const char* type;  // counter, gauge, histogram
  const char* labels;
  const char* help;
};
const std::vector<MetricInfo>& metric_reference();
// The markdown table of metric_reference() (header, separator, one row each, trailing newline).
std::string metric_reference_markdown();

enum class CheckpointResult { committed, aborted, empty };

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Every series in the Prometheus text format 0.0.4.
  std::string scrape() const;

  struct Families;
  Families& families() noexcept { return *families_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
};

// One worker's series (label worker="<index>"). Used from the worker's thread, except the
// restore observer, which restore threads call. The series of partitions this worker gives
// up are removed, so a scrape never shows the lag of a partition another process now owns.
class WorkerMetrics {
 public:
  WorkerMetrics(Metrics& metrics, int worker);
  ~WorkerMetrics();
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // A record was acknowledged by the broker (outputs, changelogs, dead letters alike). Per
  // record: a pointer comparison against the few topics seen (librdkafka keeps one name per
  // topic handle), then an increment.
  void produced(std::string_view topic) {
    for (auto& t : produced_) {
      if (t.name_data == topic.data()) {
        ++t.pending;
        return;
      }
    }
    produced_slow(topic);
  }
  // Records consumed from a partition since the last call.
  void consumed(const std::string& topic, std::int32_t partition, std::uint64_t n);
  void processing_error(std::string_view stage, std::string_view action);
  void late_record(std::string_view store);
  void checkpoint(CheckpointResult result, std::chrono::steady_clock::duration took);
  // high watermark - position; the series is made on first use.
  void lag(const std::string& topic, std::int32_t partition, std::int64_t lag);
  void state_bytes(const std::string& store, std::int32_t partition, std::uint64_t bytes);
  // The partition is no longer this worker's: its lag and state series go.
  void forget(const std::string& topic, std::int32_t partition);
  void forget_store(const std::string& store, std::int32_t partition);
  // Called by a restore per batch read, from its own thread: `records` read since the last
  // call, `remaining` up to the changelog's end as known now (-1: not known yet).
  std::function<void(std::int64_t records, std::int64_t remaining)> restore_observer(
      const std::string& store, std::int32_t partition);
  // Adds what was counted since the last call to the series.
  void publish();

 private:
  struct ProducedTopic {
    const char* name_data;
    std::string name;
    prometheus::Counter* counter;
    std::uint64_t pending;
  };
  void produced_slow(std::string_view topic);

  Metrics::Families& f_;
  std::string worker_;
  std::vector<ProducedTopic> produced_;
  std::map<std::pair<std::string, std::int32_t>, prometheus::Counter*> consumed_;
  std::map<std::pair<std::string, std::int32_t>, prometheus::Gauge*> lag_;
  std::map<std::pair<std::string, std::int32_t>, prometheus::Gauge*> state_bytes_;
  std::map<std::pair<std::string, std::int32_t>, prometheus::Gauge*> restore_remaining_;
};

}  // namespace streamframe::detail
