#include "app/metrics.hpp"

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace streamframe::detail {

namespace {

constexpr const char* kPrefix = "streamframe_";

// Seconds: a checkpoint without state changes takes about a produce round trip, one with
// exactly-once a transaction commit; long ones wait for acknowledgements of a full queue.
const prometheus::Histogram::BucketBoundaries& checkpoint_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return b;
}

const char* result_name(CheckpointResult r) {
  switch (r) {
    case CheckpointResult::committed:
      return "committed";
    case CheckpointResult::aborted:
      return "aborted";
    case CheckpointResult::empty:
      return "empty";
  }
  return "unknown";
}

}  // namespace

const std::vector<MetricInfo>& metric_reference() {
  static const std::vector<MetricInfo> list{
      {"records_consumed_total", "counter", "topic, partition",
       "messages taken from the consumer and run through the pipeline (each time: a message "
       "processed again after an aborted checkpoint counts again)"},
      {"records_produced_total", "counter", "topic",
       "records the broker acknowledged: outputs, changelog, repartition and dead-letter "
       "records alike"},
      {"processing_errors_total", "counter", "stage, action",
       "errors handed to an error callback (ERR-01): `stage` deserialization, processing or "
       "producer; `action` skip, stop or dead_letter"},
      {"late_records_dropped_total", "counter", "store",
       "records a window did not add because the window had closed (WIN-08), by window "
       "store; counted per closed window, so a hopping or sliding record can count more than "
       "once"},
      {"checkpoints_total", "counter", "result",
       "checkpoints by `result`: committed, aborted (rewound and processed again) or empty "
       "(nothing processed since the last one)"},
      {"restored_records_total", "counter", "store, partition",
       "changelog records read while restoring a store partition (ST-05)"},
      {"consumer_lag", "gauge", "topic, partition",
       "high watermark minus the consumer's position, updated about once a second per assigned "
       "partition; before its first record the position is the committed offset (absent when "
       "there is none). Under exactly-once the high watermark counts transaction markers, so an "
       "idle partition can show 1"},
      {"state_bytes", "gauge", "store, partition",
       "estimated bytes of a store partition (RocksDB's live data plus memtables), updated "
       "about once a second"},
      {"restore_remaining_records", "gauge", "store, partition",
       "changelog records left to restore; 0 once the partition is restored"},
      {"checkpoint_duration_seconds", "histogram", "",
       "time processing stood still for a committed checkpoint (an at-least-once checkpoint "
       "without state changes is committed later and stands still only to hand its offsets "
       "over)"},
  };
  return list;
}

std::string metric_reference_markdown() {
  std::string out = "| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n";
  for (const auto& m : metric_reference()) {
    std::string labels = "`worker`";
    if (*m.labels != '\0') {
      std::string rest = m.labels;
      std::size_t pos = 0;
      while (pos <= rest.size()) {
        const std::size_t comma = rest.find(", ", pos);
        const std::string label =
            rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        labels += ", `" + label + "`";
        if (comma == std::string::npos) break;
        pos = comma + 2;
      }
    }
    out += fmt::format("| `{}{}` | {} | {} | {} |\n", kPrefix, m.name, m.type, labels, m.help);
  }
  return out;
}

struct Metrics::Families {
  prometheus::Family<prometheus::Counter>* consumed;
  prometheus::Family<prometheus::Counter>* produced;
  prometheus::Family<prometheus::Counter>* errors;
  prometheus::Family<prometheus::Counter>* late;
  prometheus::Family<prometheus::Counter>* checkpoints;
  prometheus::Family<prometheus::Counter>* restored;
  prometheus::Family<prometheus::Gauge>* lag;
  prometheus::Family<prometheus::Gauge>* state_bytes;
  prometheus::Family<prometheus::Gauge>* restore_remaining;
  prometheus::Family<prometheus::Histogram>* checkpoint_duration;
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()), families_(std::make_unique<Families>()) {
  const auto& ref = metric_reference();
  const auto info = [&ref](std::string_view name) -> const MetricInfo& {
    for (const auto& m : ref) {
      if (name == m.name) return m;
    }
    throw std::logic_error("no metric " + std::string(name) + " in the reference");
  };
  const auto counter = [&](std::string_view name) {
    const MetricInfo& m = info(name);
    return &prometheus::BuildCounter()
                .Name(std::string(kPrefix) + m.name)
                .Help(m.help)
                .Register(*registry_);
  };
  const auto gauge = [&](std::string_view name) {
    const MetricInfo& m = info(name);
    return &prometheus::BuildGauge()
                .Name(std::string(kPrefix) + m.name)
                .Help(m.help)
                .Register(*registry_);
  };
  Families& f = *families_;
  f.consumed = counter("records_consumed_total");
  f.produced = counter("records_produced_total");
  f.errors = counter("processing_errors_total");
  f.late = counter("late_records_dropped_total");
  f.checkpoints = counter("checkpoints_total");
  f.restored = counter("restored_records_total");
  f.lag = gauge("consumer_lag");
  f.state_bytes = gauge("state_bytes");
  f.restore_remaining = gauge("restore_remaining_records");
  const MetricInfo& h = info("checkpoint_duration_seconds");
  f.checkpoint_duration = &prometheus::BuildHistogram()
                               .Name(std::string(kPrefix) + h.name)
                               .Help(h.help)
                               .Register(*registry_);
}

Metrics::~Metrics() = default;

std::string Metrics::scrape() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

WorkerMetrics::WorkerMetrics(Metrics& metrics, int worker)
    : f_(metrics.families()), worker_(std::to_string(worker)) {}

WorkerMetrics::~WorkerMetrics() {
  // The run is over: what measured its partitions no longer applies. Counters stay (a next
  // run() continues them).
  publish();
  for (auto& [key, g] : lag_) f_.lag->Remove(g);
  for (auto& [key, g] : state_bytes_) f_.state_bytes->Remove(g);
  for (auto& [key, g] : restore_remaining_) f_.restore_remaining->Remove(g);
}

void WorkerMetrics::produced_slow(std::string_view topic) {
  for (auto& t : produced_) {
    if (t.name == topic) {
      // Another handle of a known topic: remember this pointer too.
      produced_.push_back({topic.data(), t.name, t.counter, 1});
      return;
    }
  }
  auto& c = f_.produced->Add({{"worker", worker_}, {"topic", std::string(topic)}});
  produced_.push_back({topic.data(), std::string(topic), &c, 1});
}

void WorkerMetrics::consumed(const std::string& topic, std::int32_t partition, std::uint64_t n) {
  auto key = std::make_pair(topic, partition);
  auto it = consumed_.find(key);
  if (it == consumed_.end()) {
    auto& c = f_.consumed->Add(
        {{"worker", worker_}, {"topic", topic}, {"partition", std::to_string(partition)}});
    it = consumed_.emplace(std::move(key), &c).first;
  }
  it->second->Increment(static_cast<double>(n));
}

void WorkerMetrics::processing_error(std::string_view stage, std::string_view action) {
  f_.errors
      ->Add({{"worker", worker_}, {"stage", std::string(stage)}, {"action", std::string(action)}})
      .Increment();
}

void WorkerMetrics::late_record(std::string_view store) {
  f_.late->Add({{"worker", worker_}, {"store", std::string(store)}}).Increment();
}

void WorkerMetrics::checkpoint(CheckpointResult result, std::chrono::steady_clock::duration took) {
  f_.checkpoints->Add({{"worker", worker_}, {"result", result_name(result)}}).Increment();
  if (result == CheckpointResult::committed) {
    f_.checkpoint_duration->Add({{"worker", worker_}}, checkpoint_buckets())
        .Observe(std::chrono::duration<double>(took).count());
  }
}

namespace {

prometheus::Gauge& gauge_of(std::map<std::pair<std::string, std::int32_t>, prometheus::Gauge*>& m,
                            prometheus::Family<prometheus::Gauge>& family,
                            const std::string& worker, const char* what, const std::string& name,
                            std::int32_t partition) {
  auto key = std::make_pair(name, partition);
  auto it = m.find(key);
  if (it == m.end()) {
    auto& g =
        family.Add({{"worker", worker}, {what, name}, {"partition", std::to_string(partition)}});
    it = m.emplace(std::move(key), &g).first;
  }
  return *it->second;
}

void drop(std::map<std::pair<std::string, std::int32_t>, prometheus::Gauge*>& m,
          prometheus::Family<prometheus::Gauge>& family, const std::string& name,
          std::int32_t partition) {
  const auto it = m.find(std::make_pair(name, partition));
  if (it == m.end()) return;
  family.Remove(it->second);
  m.erase(it);
}

}  // namespace

void WorkerMetrics::lag(const std::string& topic, std::int32_t partition, std::int64_t lag) {
  gauge_of(lag_, *f_.lag, worker_, "topic", topic, partition).Set(static_cast<double>(lag));
}

void WorkerMetrics::state_bytes(const std::string& store, std::int32_t partition,
                                std::uint64_t bytes) {
  gauge_of(state_bytes_, *f_.state_bytes, worker_, "store", store, partition)
      .Set(static_cast<double>(bytes));
}

void WorkerMetrics::forget(const std::string& topic, std::int32_t partition) {
  drop(lag_, *f_.lag, topic, partition);
}

void WorkerMetrics::forget_store(const std::string& store, std::int32_t partition) {
  drop(state_bytes_, *f_.state_bytes, store, partition);
  drop(restore_remaining_, *f_.restore_remaining, store, partition);
}

std::function<void(std::int64_t, std::int64_t)> WorkerMetrics::restore_observer(
    const std::string& store, std::int32_t partition) {
  prometheus::Counter& restored = f_.restored->Add(
      {{"worker", worker_}, {"store", store}, {"partition", std::to_string(partition)}});
  prometheus::Gauge& remaining =
      gauge_of(restore_remaining_, *f_.restore_remaining, worker_, "store", store, partition);
  return [&restored, &remaining](std::int64_t records, std::int64_t left) {
    if (records > 0) restored.Increment(static_cast<double>(records));
    if (left >= 0) remaining.Set(static_cast<double>(left));
  };
}

void WorkerMetrics::publish() {
  for (auto& t : produced_) {
    if (t.pending == 0) continue;
    t.counter->Increment(static_cast<double>(t.pending));
    t.pending = 0;
  }
}

}  // namespace streamframe::detail
