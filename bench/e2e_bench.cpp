// streamframe_bench_e2e: end-to-end throughput on a real Kafka broker (issue 2, section 8).
//
// One input topic is filled with N keyed JSON sensor readings of about 150 bytes. Then, per
// run, three cases read that whole topic from the beginning (fresh consumer group) and write a
// fresh output topic:
//   (a) a raw consume->produce pass-through against librdkafka's C API, no parsing: the ceiling;
//   (b) streamframe pass-through: app.dataframe(in).to_topic(out);
//   (c) the README pipeline: temperature_F = temperature * 9 / 5 + 32, keep > 150, to_topic;
//   (g) a group_by hop: group_by("sensor").to_topic(out), i.e. every record produced to a
//       repartition topic and consumed back before it reaches the output (not in the default
//       --only: it writes each record twice);
//   (h) the hop's floor: (a) twice in one process, input -> a second topic -> output, one
//       raw consumer reading both and one raw producer writing both (not in the default
//       --only): what (g) would cost with nothing of streamframe's own;
//   (m) (c) with Prometheus metrics on (metrics_port, EXT-08): the metrics' per-record cost is
//       (c)'s time / (m)'s time in the same run (not in the default --only);
//   (v) (c) with Avro in and out (TOP-06): the same logical records, Avro-encoded in an input
//       topic of their own, read and written with avro_deserializer / avro_serializer; Avro
//       against JSON is (c)'s time / (v)'s time in the same run (not in the default --only);
//   (p) the same with Protobuf in and out (TOP-07, bench/proto/reading.proto): Protobuf
//       against JSON is (c)'s time / (p)'s time (not in the default --only).
// Throughput = N input records / (first record consumed -> last output acknowledged). How each
// case takes those two instants is described in bench/README.md and at run_raw/run_frame.

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <sys/types.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench_driver.hpp"
#include "bench_util.hpp"
#include "streamframe/protobuf.hpp"
#include "streamframe/streamframe.hpp"

namespace {

using namespace streamframe::bench;

using Clock = std::chrono::steady_clock;

// Delivery reports of one producer, counted on the thread that polls it.
struct Deliveries {
  std::uint64_t target = 0;  // last_ack is taken when `acked` reaches it
  // When set, only this topic's acknowledgements count (the final hop of (h)); failures of
  // any topic do.
  const rd_kafka_topic_t* counted = nullptr;
  std::uint64_t acked = 0;
  std::uint64_t failed = 0;
  Clock::time_point last_ack{};
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Deliveries*>(opaque);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (d->failed++ == 0) d->first_error = rd_kafka_err2str(m->err);
    return;
  }
  if (d->counted != nullptr && m->rkt != d->counted) return;
  if (++d->acked == d->target) d->last_ack = Clock::now();
}

KafkaPtr make_producer(const Settings& settings, Deliveries& deliveries) {
  ConfPtr conf = make_conf(settings);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
  rd_kafka_conf_set_opaque(conf.get(), &deliveries);
  return make_client(RD_KAFKA_PRODUCER, std::move(conf));
}

// ---------------------------------------------------------------------------------------------
// Input data

// Sensor readings like
//   {"sensor":"sensor-17","temperature":23.4,"humidity":45.2,"ts":1764129000123,
//    "location":"site-17/hall-F/rack-017/fghijklmnopqrstuvwxyzabcdefghijk"}
// keyed "sensor-<i % 1000>", padded through "location" to the target size. A `hot_fraction`
// of them have 65.6 <= temperature <= 99.9 and pass the README filter (temperature * 9 / 5 +
// 32 > 150, i.e. temperature > 65.55...); the others have -20.0 <= temperature <= 65.5.
class ReadingGenerator {
 public:
  ReadingGenerator(std::uint64_t seed, std::size_t target_size, double hot_fraction,
                   std::int64_t base_ts)
      : rng_(seed), target_size_(target_size), hot_fraction_(hot_fraction), base_ts_(base_ts) {
    for (int i = 0; i < 512; ++i) filler_ += static_cast<char>('a' + i % 26);
  }

  // Writes reading `i` into key and value; returns whether it passes the README filter.
  bool next(std::uint64_t i, std::string& key, std::string& value) {
    const std::uint64_t sensor = i % 1000;
    const bool hot = unit_(rng_) < hot_fraction_;
    const int tenths = hot ? std::uniform_int_distribution<int>(656, 999)(rng_)
                           : std::uniform_int_distribution<int>(-200, 655)(rng_);
    const int humidity = std::uniform_int_distribution<int>(200, 950)(rng_);
    // tenths / 10.0 is the double nearest the decimal printed below (IEEE division rounds
    // correctly), so the library parses back exactly this value.
    const double temperature = tenths / 10.0;
    key.clear();
    fmt::format_to(std::back_inserter(key), "sensor-{}", sensor);
    value.clear();
    fmt::format_to(std::back_inserter(value),
                   R"({{"sensor":"{}","temperature":{:.1f},"humidity":{:.1f},"ts":{},)"
                   R"("location":"site-{:02}/hall-{}/rack-{:03})",
                   key, temperature, humidity / 10.0, base_ts_ + static_cast<std::int64_t>(i),
                   sensor % 20, static_cast<char>('A' + sensor % 6), sensor);
    const std::size_t closing = 2;  // "}
    if (value.size() + closing + 1 < target_size_) {
      const std::size_t pad = std::min(target_size_ - value.size() - closing, filler_.size() - 26);
      value += '/';
      value.append(filler_, sensor % 26, pad - 1);
    }
    value += "\"}";
    // The same double operations, in the same order, as the pipeline's Series expression.
    return temperature * 9 / 5 + 32 > 150;
  }

 private:
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
  std::size_t target_size_;
  double hot_fraction_;
  std::int64_t base_ts_;
  std::string filler_;
};

// The readings of ReadingGenerator as an Avro record, and with the README's temperature_F.
constexpr const char* k_reading_schema = R"({"type": "record", "name": "Reading", "fields": [
    {"name": "sensor", "type": "string"}, {"name": "temperature", "type": "double"},
    {"name": "humidity", "type": "double"}, {"name": "ts", "type": "long"},
    {"name": "location", "type": "string"}]})";
constexpr const char* k_reading_f_schema = R"({"type": "record", "name": "ReadingF", "fields": [
    {"name": "sensor", "type": "string"}, {"name": "temperature", "type": "double"},
    {"name": "humidity", "type": "double"}, {"name": "ts", "type": "long"},
    {"name": "location", "type": "string"}, {"name": "temperature_F", "type": "double"}]})";

constexpr auto k_idle_timeout = std::chrono::seconds(60);

struct InputData {
  std::uint64_t records = 0;
  std::uint64_t passing = 0;  // records the README filter keeps
  std::uint64_t value_bytes = 0;
  double seconds = 0;
};

// Produces with an idempotent librdkafka producer and waits for every delivery report.
InputData fill_input(const std::string& brokers, const std::string& topic, std::uint64_t records,
                     std::size_t record_size, double hot_fraction, std::uint64_t seed) {
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ReadingGenerator gen(seed, record_size, hot_fraction,
                       now_ms - static_cast<std::int64_t>(records));
  InputData data;
  data.records = records;
  data.seconds = produce_records(
      brokers, topic, 0, records,
      [&](std::uint64_t i, std::string& key, std::string& value, std::int64_t&) {
        if (gen.next(i, key, value)) ++data.passing;
      },
      &data.value_bytes, 0);
  return data;
}

// The same records as fill_input (same seed), each written by `serializer` (an Avro datum of
// k_reading_schema, a bench.Reading message): the logical records cases (v) and (p) read, as
// (c) reads them in JSON.
InputData fill_input_encoded(const std::string& brokers, const std::string& topic,
                             std::uint64_t records, std::size_t record_size, double hot_fraction,
                             std::uint64_t seed, const streamframe::Serializer& serializer) {
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ReadingGenerator gen(seed, record_size, hot_fraction,
                       now_ms - static_cast<std::int64_t>(records));
  std::string json;
  InputData data;
  data.records = records;
  data.seconds = produce_records(
      brokers, topic, 0, records,
      [&](std::uint64_t i, std::string& key, std::string& value, std::int64_t&) {
        if (gen.next(i, key, json)) ++data.passing;
        serializer.serialize(streamframe::json::parse(json), value);
      },
      &data.value_bytes, 0);
  return data;
}

std::shared_ptr<const streamframe::Serializer> avro_reading_serializer() {
  streamframe::AvroSerializerOptions options;
  options.schema = k_reading_schema;
  return streamframe::avro_serializer(options);
}

streamframe::ProtobufMessageType bench_message(const char* name) {
  return {.message_type = name, .descriptor_set_file = STREAMFRAME_BENCH_PROTO_SET};
}

// ---------------------------------------------------------------------------------------------
// The cases

struct CaseResult {
  // First record consumed -> last output acknowledged: what throughput is computed from.
  double seconds = 0;
  // Which instant ended `seconds`: "delivery_report" (a), "watermarks" (b, c), or
  // "run_return" (b, c when the watermark watcher saw nothing; an upper bound).
  std::string end_by;
  // Other instants, in seconds after the first record consumed.
  std::optional<double> watermarks;      // the output topic's watermarks reached the target
  std::optional<double> last_processed;  // (b), (c): last on_message_processed
  std::optional<double> run_returned;    // (b), (c): run() returned
  std::optional<double> committed;       // (a): final commit done
  std::optional<double> closed;          // (a): consumer closed
  std::uint64_t outputs_acked = 0;       // as the case's own producer counted them
};

std::optional<double> offset_of(Clock::time_point first, std::optional<Clock::time_point> t) {
  if (!t) return std::nullopt;
  return seconds_between(first, *t);
}

// Sees when the last output of a case is acknowledged, from outside the client under test:
// once armed (near the end of the input), its own client asks the broker for the output
// topic's end offsets in a tight loop until they sum to `target`. With one replica the
// leader advances the high watermark before it answers the producer, so the instant is the
// broker's acknowledgement, to within one ListOffsets round trip (well under a millisecond on
// loopback). Case (a) runs it too, as a cross-check against its exact delivery-report time.
class AckWatcher {
 public:
  AckWatcher(const std::string& brokers, const std::string& topic, int partitions,
             std::uint64_t target)
      : rk_(make_client(RD_KAFKA_PRODUCER, make_conf({{"bootstrap.servers", brokers}}))),
        topic_(topic),
        partitions_(partitions),
        poller_(
            [this]() -> std::optional<std::int64_t> {
              const auto sum = end_offsets();
              if (!sum) return std::nullopt;
              return static_cast<std::int64_t>(*sum);
            },
            static_cast<std::int64_t>(target), std::chrono::microseconds(100)) {}

  void arm() noexcept { poller_.arm(); }
  std::optional<Clock::time_point> finish(std::chrono::milliseconds timeout) {
    return poller_.finish(timeout);
  }

 private:
  // Sum of the partitions' end offsets (ListOffsets "latest", one request per leader).
  std::optional<std::uint64_t> end_offsets() {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions_));
    for (int p = 0; p < partitions_; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), p)->offset =
          RD_KAFKA_OFFSET_END;
    }
    if (rd_kafka_offsets_for_times(rk_.get(), list.get(), 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::nullopt;
    }
    std::uint64_t sum = 0;
    for (int i = 0; i < list->cnt; ++i) {
      const auto& e = list->elems[i];
      if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR || e.offset < 0) return std::nullopt;
      sum += static_cast<std::uint64_t>(e.offset);
    }
    return sum;
  }

  KafkaPtr rk_;
  std::string topic_;
  int partitions_;
  ArmedPoller poller_;  // last: stopped before the client goes
};

// The watcher is armed k_arm_before_end input records before the end (in (c) the run stops at
// the last record that passes the filter, a few records before the last one).

// (a) Raw pass-through. The consumer and producer use the settings streamframe uses (range
// assignment, read_committed, manual commit; idempotent murmur2 producer, linger.ms=5,
// batch.num.messages=10000) with the consumer prefetch limits at their maximums and batched
// reads from the consumer queue. Each message is produced with its key, value and timestamp,
// copied. Timing: first message out of rd_kafka_consume_batch_queue -> the delivery report that
// completes N acknowledgements (taken inside the callback). The final synchronous commit and
// the consumer's close come after it and are reported separately.
//
// (h) With `via`, the same client pair makes two hops: records of `input` are produced to
// `via` (same key, so the same partitioner spreads them as a re-key by an equal key would),
// records read back from `via` to `output`, by the same consumer (subscribed to both) and
// producer. Timing: first input message -> the N-th acknowledgement of `output`.
CaseResult run_raw(const std::string& brokers, const std::string& input, const std::string& output,
                   const std::string& group, int partitions, std::uint64_t records,
                   const std::optional<std::string>& via = std::nullopt) {
  AckWatcher watcher(brokers, output, partitions, records);
  const std::uint64_t arm_at = records > k_arm_before_end ? records - k_arm_before_end : 1;
  Deliveries deliveries;
  deliveries.target = records;
  KafkaPtr producer = make_producer(raw_producer_settings(brokers), deliveries);
  TopicPtr out_rkt = make_topic(producer.get(), output);
  TopicPtr via_rkt = via ? make_topic(producer.get(), *via) : nullptr;
  deliveries.counted = via ? out_rkt.get() : nullptr;

  KafkaPtr consumer =
      make_client(RD_KAFKA_CONSUMER, make_conf(raw_consumer_settings(brokers, group)));
  rd_kafka_poll_set_consumer(consumer.get());
  {
    PartitionListPtr topics(rd_kafka_topic_partition_list_new(2));
    rd_kafka_topic_partition_list_add(topics.get(), input.c_str(), RD_KAFKA_PARTITION_UA);
    if (via) rd_kafka_topic_partition_list_add(topics.get(), via->c_str(), RD_KAFKA_PARTITION_UA);
    const auto err = rd_kafka_subscribe(consumer.get(), topics.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw BenchError(fmt::format("subscribe: {}", rd_kafka_err2str(err)));
    }
  }
  QueuePtr queue(rd_kafka_queue_get_consumer(consumer.get()));

  // Next offsets per partition of the input and of `via`: int keys, as before (h) existed, so
  // that (a) pays no per-message string for them.
  std::map<std::int32_t, std::int64_t> next_offsets;
  std::map<std::int32_t, std::int64_t> next_via_offsets;
  // Which topic a message's handle is: its name compared once per change of handle, since
  // messages of one topic come in runs.
  const rd_kafka_topic_t* last_rkt = nullptr;
  bool last_is_via = false;
  std::array<rd_kafka_message_t*, 1024> batch{};
  std::uint64_t consumed = 0;  // of the last hop
  std::uint64_t first_hop = 0;
  std::string fatal;
  Clock::time_point first{};
  auto last_message = Clock::now();
  while (consumed < records) {
    const ssize_t n = rd_kafka_consume_batch_queue(queue.get(), 100, batch.data(), batch.size());
    if (n < 0) {
      throw BenchError(fmt::format("consume: {}", rd_kafka_err2str(rd_kafka_last_error())));
    }
    for (ssize_t j = 0; j < n; ++j) {
      rd_kafka_message_t* m = batch[static_cast<std::size_t>(j)];
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const std::string what = rd_kafka_message_errstr(m);
        if (rd_kafka_fatal_error(consumer.get(), nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
          fatal = what;
        } else {
          fmt::print(stderr, "warning: consumer: {}\n", what);
        }
      } else if (fatal.empty()) {
        if (consumed == 0 && first_hop == 0) first = Clock::now();
        const std::int64_t timestamp = rd_kafka_message_timestamp(m, nullptr);
        if (via && m->rkt != last_rkt) {
          last_rkt = m->rkt;
          last_is_via = rd_kafka_topic_name(m->rkt) == *via;
        }
        const bool to_via = via && !last_is_via;
        for (;;) {
          const auto err = rd_kafka_producev(
              producer.get(), RD_KAFKA_V_RKT(to_via ? via_rkt.get() : out_rkt.get()),
              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(m->key, m->key_len),
              RD_KAFKA_V_VALUE(m->payload, m->len),
              RD_KAFKA_V_TIMESTAMP(timestamp < 0 ? 0 : timestamp), RD_KAFKA_V_END);
          if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
          if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fatal = fmt::format("produce: {}", rd_kafka_err2str(err));
            break;
          }
          rd_kafka_poll(producer.get(), 1);
        }
        (to_via || !via ? next_offsets : next_via_offsets)[m->partition] = m->offset + 1;
        if (to_via) {
          ++first_hop;
        } else if (++consumed == arm_at) {
          watcher.arm();
        }
      }
      rd_kafka_message_destroy(m);
    }
    if (!fatal.empty()) throw BenchError(fmt::format("raw pass-through: {}", fatal));
    rd_kafka_poll(producer.get(), 0);
    if (deliveries.failed > 0) {
      throw BenchError(fmt::format("raw pass-through delivery failed: {}", deliveries.first_error));
    }
    const auto now = Clock::now();
    if (n > 0) {
      last_message = now;
    } else if (now - last_message > k_idle_timeout) {
      throw BenchError(fmt::format("raw pass-through: nothing consumed for 60 s after {} of {}",
                                   consumed, records));
    }
  }
  const auto wait_deadline = Clock::now() + std::chrono::minutes(5);
  while (deliveries.acked + deliveries.failed < records && Clock::now() < wait_deadline) {
    rd_kafka_poll(producer.get(), 100);
  }
  if (deliveries.failed > 0 || deliveries.acked != records) {
    throw BenchError(fmt::format("raw pass-through: {} of {} outputs acknowledged, {} failed ({})",
                                 deliveries.acked, records, deliveries.failed,
                                 deliveries.first_error));
  }
  PartitionListPtr offsets(rd_kafka_topic_partition_list_new(
      static_cast<int>(next_offsets.size() + next_via_offsets.size())));
  for (const auto& [partition, offset] : next_offsets) {
    rd_kafka_topic_partition_list_add(offsets.get(), input.c_str(), partition)->offset = offset;
  }
  for (const auto& [partition, offset] : next_via_offsets) {
    rd_kafka_topic_partition_list_add(offsets.get(), via->c_str(), partition)->offset = offset;
  }
  const auto commit_err = rd_kafka_commit(consumer.get(), offsets.get(), 0);
  const auto committed = Clock::now();
  if (commit_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw BenchError(fmt::format("commit: {}", rd_kafka_err2str(commit_err)));
  }
  rd_kafka_consumer_close(consumer.get());
  const auto closed = Clock::now();

  CaseResult result;
  result.seconds = seconds_between(first, deliveries.last_ack);
  result.end_by = "delivery_report";
  result.watermarks = offset_of(first, watcher.finish(std::chrono::seconds(10)));
  result.committed = seconds_between(first, committed);
  result.closed = seconds_between(first, closed);
  result.outputs_acked = deliveries.acked;
  return result;
}

enum class Pipeline { passthrough, readme, group_by, readme_avro, readme_protobuf };

// Extra librdkafka settings for the application's clients in (b) and (c)
// (ApplicationConfig::consumer_extra_config / producer_extra_config), to try a tuning
// without changing the library. Empty by default: the bench measures the library's defaults.
struct AppExtraConfig {
  std::map<std::string, std::string> consumer;
  std::map<std::string, std::string> producer;
};

// (b), (c) through the public API, run({.count}) with the expected number of outputs. A
// count-limited run stops once that many records left the pipeline, takes its final checkpoint
// (producer flush: every output acknowledged; then the offset commit), closes its consumer and
// its clients, and returns.
// Timing: start = the first on_message_processed (the first message consumed, deserialized, run
// through the pipeline and handed to the producer: microseconds after consumption). End = the
// AckWatcher seeing every output in the output topic; run() returning (which also includes the
// commit and the teardown) is the fallback and is reported beside it, as is the last
// on_message_processed (everything produced, not yet acknowledged: a lower bound).
CaseResult run_frame(Pipeline pipeline, const std::string& brokers, const std::string& input,
                     const std::string& output, const std::string& group, int partitions,
                     std::uint64_t input_records, std::uint64_t count, const AppExtraConfig& extra,
                     bool metrics = false) {
  AckWatcher watcher(brokers, output, partitions, count);
  std::uint64_t processed = 0;
  Clock::time_point first{};
  Clock::time_point last{};
  // Reading the clock for every message would cost ~1 % here: only the first message and the
  // last k_arm_before_end.
  const std::uint64_t mark =
      input_records > k_arm_before_end ? input_records - k_arm_before_end : 1;

  streamframe::ApplicationConfig config;
  config.broker_address = brokers;
  config.consumer_group = group;
  config.auto_offset_reset = streamframe::AutoOffsetReset::earliest;
  config.loglevel = "WARNING";
  config.install_signal_handlers = false;  // Ctrl-C ends the whole bench, not one case
  config.consumer_extra_config = extra.consumer;
  config.producer_extra_config = extra.producer;
  if (metrics) {
    config.metrics_port = free_tcp_port();
    config.metrics_bind_address = "127.0.0.1";
  }
  // With a group_by hop each record is processed twice, once from the input and once from
  // the repartition topic: the first instant is the input's, the last ones the hop's.
  std::uint64_t hop_processed = 0;
  config.on_message_processed = [&](const std::string& topic, std::int32_t, std::int64_t) {
    if (pipeline == Pipeline::group_by && topic != input) {
      if (++hop_processed >= mark) {
        last = Clock::now();
        if (hop_processed == mark) watcher.arm();
      }
      return;
    }
    if (++processed == 1) first = Clock::now();
    if (pipeline != Pipeline::group_by && processed >= mark) {
      last = Clock::now();
      if (processed == mark) watcher.arm();
    }
  };
  streamframe::Application app(std::move(config));
  streamframe::TopicOptions topic_options;
  topic_options.config = streamframe::TopicConfig{.num_partitions = partitions};
  streamframe::TopicOptions in_options = topic_options;
  streamframe::TopicOptions out_options = topic_options;
  if (pipeline == Pipeline::readme_avro) {
    streamframe::AvroDeserializerOptions reading;
    reading.schema = k_reading_schema;
    in_options.value_deserializer = streamframe::avro_deserializer(reading);
    streamframe::AvroSerializerOptions reading_f;
    reading_f.schema = k_reading_f_schema;
    out_options.value_serializer = streamframe::avro_serializer(reading_f);
  }
  if (pipeline == Pipeline::readme_protobuf) {
    in_options.value_deserializer =
        streamframe::protobuf_deserializer({.msg_type = bench_message("bench.Reading")});
    out_options.value_serializer =
        streamframe::protobuf_serializer({.msg_type = bench_message("bench.ReadingF")});
  }
  const streamframe::Topic in = app.topic(input, in_options);
  const streamframe::Topic out = app.topic(output, out_options);

  auto sdf = app.dataframe(in);
  if (pipeline == Pipeline::readme || pipeline == Pipeline::readme_avro ||
      pipeline == Pipeline::readme_protobuf) {
    sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
    sdf = sdf[sdf["temperature_F"] > 150];
  }
  if (pipeline == Pipeline::group_by) sdf = sdf.group_by("sensor");
  sdf.to_topic(out);

  // The idle timeout only guards against a count that is never reached (it would hang).
  app.run({.timeout = std::chrono::seconds(30), .count = count, .collect = false});
  const auto returned = Clock::now();
  const streamframe::RunStats stats = app.stats();
  // The repartition topic goes with the case (a fresh group makes a fresh one each run).
  if (pipeline == Pipeline::group_by) (void)app.delete_internal_topics();
  if (processed == 0) throw BenchError("no message was processed");
  if (stats.records_produced < count) {
    throw BenchError(fmt::format(
        "run() ended (idle timeout) with {} of {} outputs acknowledged after {} messages",
        stats.records_produced, count, stats.messages_consumed));
  }
  CaseResult result;
  result.watermarks = offset_of(first, watcher.finish(std::chrono::seconds(10)));
  result.run_returned = seconds_between(first, returned);
  result.last_processed = seconds_between(first, last);
  if (result.watermarks) {
    result.seconds = *result.watermarks;
    result.end_by = "watermarks";
  } else {
    result.seconds = *result.run_returned;
    result.end_by = "run_return";
  }
  result.outputs_acked = stats.records_produced;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Results

struct Measurement {
  int run = 0;
  char case_id = 'a';
  CaseResult result;
  std::uint64_t outputs_in_topic = 0;
  std::uint64_t outputs_expected = 0;
  std::optional<double> ratio_vs_a;
  std::string date;
  CpuUse cpu;
  bool ok() const { return outputs_in_topic == outputs_expected; }
};

struct RunContext : Provenance {
  AppExtraConfig app_extra;
  std::uint64_t records = 0;
  int partitions = 0;
  double value_bytes = 0;
};

std::string describe_case(char c) {
  switch (c) {
    case 'a':
      return "raw librdkafka consume->produce (ceiling)";
    case 'b':
      return "streamframe pass-through, to_topic";
    case 'g':
      return "streamframe group_by(sensor) hop, to_topic";
    case 'h':
      return "raw librdkafka two hops (the hop's floor)";
    case 'm':
      return "README pipeline, Prometheus metrics on";
    case 'v':
      return "README pipeline, Avro in and out";
    case 'p':
      return "README pipeline, Protobuf in and out";
    default:
      return "streamframe README pipeline (F, filter)";
  }
}

std::string json_line(const Measurement& m, const RunContext& ctx) {
  using streamframe::Object;
  using streamframe::Value;
  Object line = line_head(
      "e2e", std::string(1, m.case_id), ctx.records, m.result.seconds,
      {{"ratio_vs_a", m.ratio_vs_a ? Value(round_to(*m.ratio_vs_a, 4)) : Value()}}, ctx, m.date);
  line.set("run", Value(m.run));
  line.set("partitions", Value(ctx.partitions));
  line.set("value_bytes", Value(round_to(ctx.value_bytes, 1)));
  line.set("outputs", Value(static_cast<long long>(m.outputs_in_topic)));
  line.set("verified", Value(m.ok()));
  line.set("end_by", Value(m.result.end_by));
  const std::pair<const char*, const std::optional<double>*> instants[] = {
      {"seconds_watermarks", &m.result.watermarks},
      {"seconds_last_processed", &m.result.last_processed},
      {"seconds_run_returned", &m.result.run_returned},
      {"seconds_committed", &m.result.committed},
      {"seconds_closed", &m.result.closed}};
  for (const auto& [name, value] : instants) {
    if (*value) line.set(name, Value(round_to(**value, 6)));
  }
  if (m.case_id != 'a') set_app_config_fields(line, ctx.app_extra.consumer, ctx.app_extra.producer);
  line.set("cpu", cpu_json(m.cpu));
  set_tail_fields(line, ctx);
  return Value(std::move(line)).to_json();
}

void print_header() {
  fmt::print("{:>3}  {:<4} {:<42} {:>9} {:>12} {:>6} {:>10}  {}\n", "run", "case", "what",
             "seconds", "records/s", "vs a", "outputs", "detail");
}

void print_row(const Measurement& m, std::uint64_t records) {
  const auto rps =
      static_cast<std::uint64_t>(std::llround(static_cast<double>(records) / m.result.seconds));
  // The other instants, relative to the end of the measurement.
  std::string detail;
  const auto add = [&](const char* what, const std::optional<double>& t) {
    if (!t) return;
    if (!detail.empty()) detail += ", ";
    detail += fmt::format("{} {:+.1f} ms", what, (*t - m.result.seconds) * 1000);
  };
  if (m.case_id == 'a') {
    add("watermarks", m.result.watermarks);
    add("committed", m.result.committed);
    add("closed", m.result.closed);
  } else {
    add("last processed", m.result.last_processed);
    add("run() returned", m.result.run_returned);
    if (m.result.end_by != "watermarks") detail += " (end = run() return)";
  }
  detail += fmt::format("; cpu s: bench {:.1f}", m.cpu.self);
  if (m.cpu.broker)
    detail += fmt::format(", broker {:.1f}, others {:.1f}", *m.cpu.broker, *m.cpu.others);
  if (m.cpu.noisy()) detail += "  NOISY";
  fmt::print(
      "{:>3}  {:<4} {:<42} {:>9.3f} {:>12} {:>6} {:>10}  {}{}\n", m.run, m.case_id,
      describe_case(m.case_id), m.result.seconds, grouped(rps),
      m.ratio_vs_a ? fmt::format("{:.3f}", *m.ratio_vs_a) : std::string("-"),
      grouped(m.outputs_in_topic), detail,
      m.ok() ? "" : fmt::format("  MISMATCH: expected {} outputs", grouped(m.outputs_expected)));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "streamframe end-to-end benchmark: (a) raw librdkafka pass-through, (b) streamframe "
      "pass-through, (c) the README pipeline, on a real Kafka broker"};
  std::string brokers;
  std::uint64_t records = 2'000'000;
  int partitions = 4;
  std::size_t size = 150;
  int runs = 3;
  std::vector<std::string> only{"a", "b", "c"};
  std::string results_file = std::string(STREAMFRAME_SOURCE_DIR) + "/bench/results/e2e.jsonl";
  double hot_fraction = 0.15;
  std::uint64_t seed = 42;
  bool keep_topics = false;
  int warmup = 2;
  std::string broker_pid;
  double pause_s = 5.0;
  cli.add_option("--brokers", brokers, "bootstrap servers, host:port[,host:port]")->required();
  cli.add_option("--records", records, "input records (N)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000}));
  cli.add_option("--partitions", partitions, "partitions of the input and output topics")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cli.add_option("--size", size, "approximate JSON value size in bytes (min ~130)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{16}, std::size_t{100000}));
  cli.add_option("--runs", runs, "measurements of each case (fresh output topics and groups)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cli.add_option("--only", only, "cases to run, e.g. --only a,c")
      ->delimiter(',')
      ->check(CLI::IsMember({"a", "b", "c", "g", "h", "m", "v", "p"}))
      ->capture_default_str();
  cli.add_option("--results-file", results_file, "JSON lines appended here ('' = none)")
      ->capture_default_str();
  cli.add_option("--hot-fraction", hot_fraction, "fraction of records the README filter keeps")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1.0));
  cli.add_option("--seed", seed, "data generator seed")->capture_default_str();
  cli.add_option("--pause", pause_s, "seconds to let the broker settle between cases")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  cli.add_flag("--keep-topics", keep_topics, "do not delete the bench topics at the end");
  cli.add_option("--warmup", warmup, "untimed passes of case (a) before the measurements")
      ->capture_default_str()
      ->check(CLI::Range(0, 10));
  std::vector<std::string> app_consumer_config;
  std::vector<std::string> app_producer_config;
  add_client_options(cli, broker_pid, app_consumer_config, app_producer_config,
                     "extra librdkafka consumer settings for (b) and (c): key=value[,key=value]; "
                     "recorded with their results",
                     "extra librdkafka producer settings for (b) and (c): key=value[,key=value]");
  CLI11_PARSE(cli, argc, argv);

  std::vector<char> cases;
  for (char c : {'a', 'b', 'c', 'g', 'h', 'm', 'v', 'p'}) {
    if (std::find(only.begin(), only.end(), std::string(1, c)) != only.end()) cases.push_back(c);
  }

  RunContext ctx;
  ctx.app_extra.consumer = key_values(app_consumer_config);
  ctx.app_extra.producer = key_values(app_producer_config);
  ctx.records = records;
  ctx.partitions = partitions;
  read_provenance(ctx);

  const std::string run_id = make_run_id(unix_seconds());
  const std::string input_topic = fmt::format("bench-e2e-{}-in", run_id);
  std::vector<std::string> topics{input_topic};
  std::vector<Measurement> measurements;
  int failures = 0;

  try {
    Admin admin(brokers);
    print_banner("e2e", brokers, ctx);
    admin.create_topics({input_topic}, partitions);
    const InputData input = fill_input(brokers, input_topic, records, size, hot_fraction, seed);
    if (const auto n = admin.record_count(input_topic, partitions); n != records) {
      throw BenchError(fmt::format("input topic holds {} records, expected {}", n, records));
    }
    ctx.value_bytes = static_cast<double>(input.value_bytes) / static_cast<double>(records);
    fmt::print(
        stderr,
        "  {} records ({:.1f} bytes average, {} partitions) in {:.1f} s, {:.1f}% pass the filter\n",
        grouped(records), ctx.value_bytes, partitions, input.seconds,
        100.0 * static_cast<double>(input.passing) / static_cast<double>(records));
    if (input.passing == 0) throw BenchError("no record passes the filter: raise --hot-fraction");
    // The encoded inputs of (v) and (p): the same logical records in Avro and in Protobuf.
    std::map<char, std::string> encoded_inputs;
    for (const auto& [c, format] : {std::pair{'v', "avro"}, std::pair{'p', "protobuf"}}) {
      if (std::find(cases.begin(), cases.end(), c) == cases.end()) continue;
      const std::string topic = input_topic + "-" + format;
      topics.push_back(topic);
      admin.create_topics({topic}, partitions);
      const auto serializer =
          c == 'v' ? avro_reading_serializer()
                   : streamframe::protobuf_serializer({.msg_type = bench_message("bench.Reading")});
      const InputData encoded =
          fill_input_encoded(brokers, topic, records, size, hot_fraction, seed, *serializer);
      if (encoded.passing != input.passing) {
        throw BenchError(fmt::format("the {} input has {} passing records, the JSON one {}", format,
                                     encoded.passing, input.passing));
      }
      fmt::print(stderr, "  the same records in {}: {:.1f} bytes average, in {:.1f} s\n", format,
                 static_cast<double>(encoded.value_bytes) / static_cast<double>(records),
                 encoded.seconds);
      encoded_inputs[c] = topic;
    }
    // Untimed passes of (a), so that the first measured cases do not pay for the fresh
    // broker's JIT compilation and heap growth on its fetch and produce paths, or for reading
    // the log back into the page cache (one pass of 2 M records is not quite enough).
    for (int pass = 1; pass <= warmup; ++pass) {
      const std::string warm_topic = fmt::format("bench-e2e-{}-warm-up{}-out", run_id, pass);
      topics.push_back(warm_topic);
      admin.create_topics({warm_topic}, partitions);
      const CaseResult warm =
          run_raw(brokers, input_topic, warm_topic,
                  fmt::format("bench-e2e-{}-warm-up{}", run_id, pass), partitions, records);
      fmt::print(stderr, "  warm-up {}/{}: case (a), untimed ({} records/s)\n", pass, warmup,
                 grouped(static_cast<std::uint64_t>(static_cast<double>(records) / warm.seconds)));
    }

    fmt::print(
        "\nstreamframe e2e: {} records of ~{:.0f} B JSON, {} partitions, {} pass the filter"
        " ({:.1f}%)\n{}\n\n",
        grouped(records), ctx.value_bytes, partitions, grouped(input.passing),
        100.0 * static_cast<double>(input.passing) / static_cast<double>(records),
        provenance_text(ctx));
    const auto show = [](const char* what, const std::map<std::string, std::string>& m) {
      if (m.empty()) return;
      std::string list;
      for (const auto& [k, v] : m) list += fmt::format("{}{}={}", list.empty() ? "" : ", ", k, v);
      fmt::print("(b), (c) with {} settings: {}\n", what, list);
    };
    show("extra consumer", ctx.app_extra.consumer);
    show("extra producer", ctx.app_extra.producer);
    print_header();

    for (int run = 1; run <= runs; ++run) {
      std::map<char, std::string> outputs;
      for (char c : cases) {
        outputs[c] = fmt::format("bench-e2e-{}-run{}-{}-out", run_id, run, c);
        topics.push_back(outputs[c]);
      }
      std::vector<std::string> new_topics;
      for (const auto& [c, name] : outputs) new_topics.push_back(name);
      const std::string via_topic = fmt::format("bench-e2e-{}-run{}-h-via", run_id, run);
      if (outputs.count('h')) {
        new_topics.push_back(via_topic);
        topics.push_back(via_topic);
      }
      admin.create_topics(new_topics, partitions);

      std::optional<double> seconds_a;
      for (char c : cases) {
        std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
        const std::string group = fmt::format("bench-e2e-{}-run{}-{}", run_id, run, c);
        Measurement m;
        m.run = run;
        m.case_id = c;
        m.outputs_expected = c == 'c' || c == 'm' || c == 'v' || c == 'p' ? input.passing : records;
        const CpuSample cpu_before = sample_cpu(broker_pid);
        try {
          if (c == 'a') {
            m.result = run_raw(brokers, input_topic, outputs[c], group, partitions, records);
          } else if (c == 'h') {
            m.result =
                run_raw(brokers, input_topic, outputs[c], group, partitions, records, via_topic);
          } else {
            const Pipeline pipeline = c == 'b'   ? Pipeline::passthrough
                                      : c == 'g' ? Pipeline::group_by
                                      : c == 'v' ? Pipeline::readme_avro
                                      : c == 'p' ? Pipeline::readme_protobuf
                                                 : Pipeline::readme;
            const auto encoded = encoded_inputs.find(c);
            m.result = run_frame(pipeline, brokers,
                                 encoded != encoded_inputs.end() ? encoded->second : input_topic,
                                 outputs[c], group, partitions, records, m.outputs_expected,
                                 ctx.app_extra, c == 'm');
          }
        } catch (const std::exception& e) {
          ++failures;
          fmt::print("{:>3}  {:<4} {:<42} FAILED: {}\n", run, c, describe_case(c), e.what());
          std::fflush(stdout);
          continue;
        }
        m.cpu = cpu_use(cpu_before, sample_cpu(broker_pid), !broker_pid.empty());
        m.date = iso8601_utc_now();
        m.outputs_in_topic = admin.record_count(outputs[c], partitions);
        if (!m.ok()) ++failures;
        if (c == 'a') seconds_a = m.result.seconds;
        if (seconds_a) m.ratio_vs_a = *seconds_a / m.result.seconds;
        print_row(m, records);
        measurements.push_back(m);
      }
    }

    if (runs > 1) {
      fmt::print("\nmedian of {} runs\n", runs);
      std::map<char, double> med;
      for (char c : cases) {
        std::vector<double> secs;
        for (const auto& m : measurements) {
          if (m.case_id == c) secs.push_back(m.result.seconds);
        }
        if (secs.empty()) continue;
        med[c] = median(secs);
        const auto rps =
            static_cast<std::uint64_t>(std::llround(static_cast<double>(records) / med[c]));
        fmt::print("     {:<4} {:<42} {:>9.3f} {:>12} {:>6}\n", c, describe_case(c), med[c],
                   grouped(rps),
                   med.count('a') ? fmt::format("{:.3f}", med['a'] / med[c]) : std::string("-"));
      }
      if (med.count('c') && med.count('v')) {
        fmt::print("     Avro: (c) seconds / (v) seconds = {:.3f} (>= 1: Avro as fast as JSON)\n",
                   med['c'] / med['v']);
      }
      if (med.count('c') && med.count('p')) {
        fmt::print(
            "     Protobuf: (c) seconds / (p) seconds = {:.3f} (>= 1: Protobuf as fast as JSON)\n",
            med['c'] / med['p']);
      }
      if (med.count('g') && med.count('h')) {
        fmt::print(
            "     group_by hop against its floor: (h) seconds / (g) seconds = {:.3f} (1 = only "
            "Kafka's cost)\n",
            med['h'] / med['g']);
      }
      if (med.count('c') && med.count('m')) {
        fmt::print("     metrics on: (c) seconds / (m) seconds = {:.3f} (1 = free)\n",
                   med['c'] / med['m']);
      }
    }
    fmt::print(
        "\n(seconds: first record consumed -> last output acknowledged; records/s = {} "
        "input records / seconds; vs a = (a) seconds / case seconds)\n",
        grouped(records));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    ++failures;
  }

  std::vector<std::string> lines;
  for (const auto& m : measurements) lines.push_back(json_line(m, ctx));
  return finish_bench(results_file, lines, failures, keep_topics, brokers, topics);
}
