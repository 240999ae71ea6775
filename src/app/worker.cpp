#include "app/worker.hpp"

#include <librdkafka/rdkafka.h>

#include <thread>

#include "core/logging.hpp"
#include "dataframe/metadata.hpp"
#include "kafka/types.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {
namespace {

using Clock = std::chrono::steady_clock;

RawMessage raw_message_of(const rd_kafka_message_t* m) {
  RawMessage raw;
  raw.topic = std::string(kafka::message_topic(*m));
  raw.partition = m->partition;
  raw.offset = m->offset;
  if (auto key = kafka::message_key(*m)) raw.key.emplace(*key);
  if (auto value = kafka::message_value(*m)) raw.value.emplace(*value);
  raw.timestamp = kafka::message_timestamp(*m, nullptr);
  try {
    raw.headers = kafka::message_headers(*m);
  } catch (const KafkaError&) {
    // The error being reported matters more than headers librdkafka cannot parse.
  }
  return raw;
}

Value leaf_value(const Row& row, const MessageContext& mc, bool metadata) {
  if (!metadata) {
    if (row.value.is_object()) return row.value;
    return Value::object({{"_value", row.value}});
  }
  return with_metadata(row.value, row.key, row.timestamp, row.headers, mc.topic, mc.partition,
                       mc.offset);
}

// Rethrows `error` after attaching the message's origin, keeping its dynamic type.
[[noreturn]] void rethrow_with_origin(std::exception_ptr error, const MessageContext& mc) {
  try {
    std::rethrow_exception(error);
  } catch (Error& e) {
    e.set_origin(mc.topic, mc.partition, mc.offset);
    throw;
  }
}

}  // namespace

Worker::Worker(WorkerSettings settings) : settings_(std::move(settings)), config_(*settings_.app) {
  for (const auto& g : settings_.graphs) {
    TopicSlot& slot = slots_[g->topic().name()];
    slot.graph = g.get();
    slot.passthrough = g->passthrough_targets();
    for (Sink* s : g->sinks()) sinks_.push_back(s);
  }
  for (Sink* s : sinks_) s->setup();
  producer_ = std::make_unique<kafka::Producer>(
      settings_.producer_config, [this](const kafka::DeliveryReport& r) { on_delivery(r); });
  kafka::RebalanceHandler handler;
  handler.on_assign = [this](const std::vector<kafka::TopicPartition>& tps) { on_assign(tps); };
  handler.on_revoke = [this](const std::vector<kafka::TopicPartition>& tps) { on_revoke(tps); };
  consumer_ = std::make_unique<kafka::Consumer>(settings_.consumer_config, std::move(handler));
  std::vector<std::string> topics;
  for (const auto& [name, slot] : slots_) topics.push_back(name);
  if (settings_.static_assignment.empty()) {
    consumer_->subscribe(topics);
  } else {
    consumer_->assign(settings_.static_assignment);
    on_assign(settings_.static_assignment);
  }
  checkpoint_start_ = Clock::now();
}

Worker::~Worker() {
  // Closing leaves the group at once so partitions move without waiting for the session
  // timeout. Anything not checkpointed stays uncommitted.
  try {
    if (consumer_) consumer_->close();
  } catch (const std::exception& e) {
    logger()->warn("closing the consumer failed: {}", e.what());
  }
}

ErrorAction Worker::decide(const ErrorCallback& callback, const std::exception& error,
                           const ErrorContext& ctx, const char* stage) {
  if (callback) {
    const ErrorAction action = callback(error, ctx);
    if (action == ErrorAction::skip) {
      ++stats_.errors_skipped;
      logger()->debug("{} error skipped: {}", stage, error.what());
    }
    return action;
  }
  logger()->error("{} error: {}", stage, error.what());
  return ErrorAction::stop;
}

void Worker::on_assign(const std::vector<kafka::TopicPartition>& tps) {
  for (const auto& tp : tps) {
    if (TopicSlot* slot = slot_of(tp.topic, tp.partition)) {
      if (!slot->assigned[tp.partition]) ++assigned_count_;
      slot->assigned[tp.partition] = 1;
    }
  }
  logger()->info("partitions assigned: {}", tps.size());
  last_activity_ = Clock::now();
}

void Worker::on_revoke(const std::vector<kafka::TopicPartition>& tps) {
  // Called from inside librdkafka: exceptions must not cross it.
  try {
    if (!pending_error_ && !failed_) checkpoint(true);
  } catch (...) {
    if (!pending_error_) pending_error_ = std::current_exception();
  }
  for (const auto& tp : tps) {
    if (TopicSlot* slot = slot_of(tp.topic, tp.partition)) {
      if (slot->assigned[tp.partition]) --assigned_count_;
      slot->assigned[tp.partition] = 0;
      slot->offsets[tp.partition] = -1;
    }
  }
  logger()->info("partitions revoked: {}", tps.size());
  last_activity_ = Clock::now();
}

void Worker::on_delivery(const kafka::DeliveryReport& report) {
  if (report.error_code == 0) {
    ++stats_.records_produced;
    return;
  }
  if (pending_error_) return;
  KafkaError error(report.error_code, "failed to deliver a message to topic '" +
                                          std::string(report.topic) + "' partition " +
                                          std::to_string(report.partition) + ": " +
                                          std::string(report.error));
  try {
    const ErrorAction action = decide(config_.on_producer_error, error, ErrorContext{}, "producer");
    if (action != ErrorAction::skip) pending_error_ = std::make_exception_ptr(error);
  } catch (...) {
    pending_error_ = std::current_exception();
  }
}

void Worker::rethrow_pending() {
  if (pending_error_) {
    auto e = pending_error_;
    pending_error_ = nullptr;
    std::rethrow_exception(e);
  }
}

bool Worker::flush_producer() {
  // Flush in short steps so a second SIGINT (stop with fail) cuts a hanging flush short.
  const auto deadline = Clock::now() + settings_.flush_timeout;
  while (!producer_->flush(std::chrono::milliseconds(100))) {
    if (stop_fail_ && stop_fail_->load()) {
      throw Interrupted("checkpoint interrupted while waiting for the producer");
    }
    if (Clock::now() >= deadline) return false;
  }
  return true;
}

bool Worker::checkpoint_due() const {
  if (offsets_stored_ == 0) return false;
  if (config_.commit_every > 0 && offsets_stored_ >= config_.commit_every) return true;
  return Clock::now() - checkpoint_start_ >= config_.commit_interval;
}

void Worker::checkpoint(bool force) {
  (void)force;
  checkpoint_start_ = Clock::now();
  std::vector<kafka::TopicPartition> commit;
  for (const auto& [name, slot] : slots_) {
    for (std::size_t p = 0; p < slot.offsets.size(); ++p) {
      if (slot.offsets[p] >= 0) {
        commit.push_back({name, static_cast<std::int32_t>(p), slot.offsets[p] + 1});
      }
    }
  }
  if (commit.empty()) {
    offsets_stored_ = 0;
    return;
  }
  // CK-02: sinks, then everything produced is acknowledged, then offsets are committed; a
  // failure in any step leaves the offsets uncommitted so the records are processed again.
  for (Sink* s : sinks_) s->flush();
  if (!flush_producer()) {
    throw CheckpointProducerTimeout("checkpoint: the producer did not deliver " +
                                    std::to_string(producer_->outstanding()) +
                                    " records within the flush timeout");
  }
  rethrow_pending();
  try {
    consumer_->commit(commit);
  } catch (const KafkaError& e) {
    throw CheckpointConsumerCommitError(std::string("checkpoint: committing offsets failed: ") +
                                        e.what());
  }
  for (auto& [name, slot] : slots_) std::fill(slot.offsets.begin(), slot.offsets.end(), -1);
  offsets_stored_ = 0;
  ++stats_.checkpoints;
}

void Worker::produce(const Topic::Definition& topic, const Row& row, const Value& key) {
  std::optional<std::string_view> key_bytes;
  if (!key.is_null()) {
    topic.key_serializer->serialize(key, key_buf_);
    key_bytes = key_buf_;
  }
  std::optional<std::string_view> value_bytes;
  if (!row.value.is_null()) {
    topic.value_serializer->serialize(row.value, value_buf_);
    value_bytes = value_buf_;
  }
  const Headers* headers = &row.headers;
  auto extra = topic.value_serializer->extra_headers();
  if (!extra.empty()) {
    produce_headers_ = row.headers;
    produce_headers_.insert(produce_headers_.end(), extra.begin(), extra.end());
    headers = &produce_headers_;
  }
  producer_->produce(topic.name, -1, key_bytes, value_bytes, row.timestamp,
                     headers->empty() ? nullptr : headers, nullptr);
}

void Worker::emit(Row& row) {
  ++run_->outputs;
  const auto& opts = run_->options;
  if (opts.collect && (opts.count > 0 || opts.timeout.count() > 0)) {
    run_->collected.push_back(leaf_value(row, context_, opts.metadata));
  }
}

void Worker::handle_message(rd_kafka_message_t* m, RunState& run) {
  if (m->err) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
      // auto_offset_reset = error and no valid committed offset (APP-03).
      throw KafkaError(m->err,
                       std::string("no valid committed offset and auto_offset_reset is 'error': ") +
                           rd_kafka_message_errstr(m) + " (topic '" +
                           (m->rkt ? rd_kafka_topic_name(m->rkt) : "?") + "', partition " +
                           std::to_string(m->partition) + ")",
                       false, true);
    }
    KafkaError error(m->err, std::string("consumer error: ") + rd_kafka_message_errstr(m));
    if (rd_kafka_fatal_error(consumer_->handle(), nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw KafkaError(m->err, std::string("fatal consumer error: ") + rd_kafka_message_errstr(m),
                       false, true);
    }
    // Other consumer errors are transient: librdkafka retries them itself.
    logger()->warn("{}", error.what());
    return;
  }
  TopicSlot* slot = slot_of(m);
  if (slot == nullptr || !slot->assigned[m->partition]) return;  // fetched before a revoke
  const Graph& graph = *slot->graph;
  const Topic::Definition& topic = graph.topic().definition();

  ++stats_.messages_consumed;
  context_.topic = topic.name;
  context_.partition = m->partition;
  context_.offset = m->offset;
  context_.size = m->len;
  context_.leader_epoch = -1;  // librdkafka 2.0.2 does not expose it per message
  current_message_context() = &context_;
  last_activity_ = Clock::now();

  const bool collecting =
      run.options.collect && (run.options.count > 0 || run.options.timeout.count() > 0);
  if (!slot->passthrough.empty() && !collecting) {
    forward_raw(m, topic, *slot, run);
    return;
  }

  // Deserialization (consumer stage).
  Value key;
  rows_.clear();
  Headers headers;
  std::int64_t timestamp = 0;
  try {
    headers = kafka::message_headers(*m);
    if (m->key) {
      key = topic.key_deserializer->deserialize_one(
          std::string_view(static_cast<const char*>(m->key), m->key_len));
    }
    if (m->payload == nullptr) {
      rows_.emplace_back();  // tombstone: skips deserialization, enters as null (TOP-09)
    } else {
      topic.value_deserializer->deserialize(
          std::string_view(static_cast<const char*>(m->payload), m->len), headers, rows_);
    }
    rd_kafka_timestamp_type_t tstype;
    timestamp = rd_kafka_message_timestamp(m, &tstype);
    if (topic.timestamp_extractor) {
      const auto type = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME ? TimestampType::create_time
                        : tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME
                            ? TimestampType::log_append_time
                            : TimestampType::none;
      // The extractor sees the first row's value; rows of one message share a timestamp.
      timestamp = topic.timestamp_extractor(rows_.empty() ? Value() : rows_.front(), headers,
                                            timestamp, type);
    }
  } catch (const IgnoreMessage&) {
    logger()->debug("message ignored by the deserializer at {}[{}]@{}", topic.name, m->partition,
                    m->offset);
    rows_.clear();
  } catch (Error& e) {
    e.set_origin(topic.name, m->partition, m->offset);
    RawMessage raw = raw_message_of(m);
    ErrorContext ctx{&raw, nullptr};
    if (decide(config_.on_consumer_error, e, ctx, "deserialization") != ErrorAction::skip) throw;
    rows_.clear();
  } catch (const std::exception& e) {
    SerializationError wrapped(std::string("deserialization failed: ") + e.what());
    wrapped.set_origin(topic.name, m->partition, m->offset);
    RawMessage raw = raw_message_of(m);
    ErrorContext ctx{&raw, nullptr};
    if (decide(config_.on_consumer_error, wrapped, ctx, "deserialization") != ErrorAction::skip)
      throw wrapped;
    rows_.clear();
  }

  // Processing: each row runs the whole DAG depth-first before the next (APP-25).
  const std::size_t row_count = rows_.size();
  for (std::size_t i = 0; i < row_count; ++i) {
    // The last (usually only) row takes the key and headers; earlier ones get copies.
    const bool last = i + 1 == row_count;
    Row row{std::move(rows_[i]), last ? std::move(key) : key, timestamp,
            last ? std::move(headers) : headers};
    ++stats_.rows_processed;
    try {
      graph.run(row, *this);
    } catch (const std::exception& e) {
      // The row as it entered the pipeline: decoded again from the raw message (only on this
      // error path) rather than copied up front for every row.
      Row failed{Value(), row.key, timestamp, row.headers};
      try {
        std::vector<Value> again;
        if (m->payload != nullptr) {
          topic.value_deserializer->deserialize(
              std::string_view(static_cast<const char*>(m->payload), m->len), failed.headers,
              again);
        }
        if (i < again.size()) failed.value = std::move(again[i]);
      } catch (const std::exception&) {
        // It decoded a moment ago; if it does not now, the context just has no value.
      }
      RawMessage raw = raw_message_of(m);
      ErrorContext ctx{&raw, &failed};
      auto error = std::current_exception();
      if (auto* sf = dynamic_cast<const Error*>(&e); sf == nullptr) {
        error = std::make_exception_ptr(Error(std::string("processing failed: ") + e.what()));
      }
      try {
        rethrow_with_origin(error, context_);
      } catch (const std::exception& located) {
        if (decide(config_.on_processing_error, located, ctx, "processing") != ErrorAction::skip)
          throw;
      }
    }
  }

  store_offset(*slot, topic, m);
}

void Worker::store_offset(TopicSlot& slot, const Topic::Definition& topic,
                          const rd_kafka_message_t* m) {
  std::int64_t& stored = slot.offsets[m->partition];
  if (m->offset <= stored) {
    throw InvalidStoredOffset("offset " + std::to_string(m->offset) + " of " + topic.name + "[" +
                              std::to_string(m->partition) + "] is not above the stored " +
                              std::to_string(stored));
  }
  stored = m->offset;
  ++offsets_stored_;
  if (config_.on_message_processed)
    config_.on_message_processed(topic.name, m->partition, m->offset);
  current_message_context() = nullptr;
}

void Worker::forward_raw(const rd_kafka_message_t* m, const Topic::Definition& topic,
                         TopicSlot& slot, RunState& run) {
  const auto key = kafka::message_key(*m);
  const auto value = kafka::message_value(*m);
  try {
    // Bad input must still reach the error path even though nothing is deserialized.
    static const Headers no_headers;
    if (key) topic.key_deserializer->validate(*key, no_headers);
    if (value) topic.value_deserializer->validate(*value, no_headers);
  } catch (Error& e) {
    e.set_origin(topic.name, m->partition, m->offset);
    RawMessage raw = raw_message_of(m);
    ErrorContext ctx{&raw, nullptr};
    if (decide(config_.on_consumer_error, e, ctx, "deserialization") != ErrorAction::skip) throw;
    store_offset(slot, topic, m);
    return;
  }
  ++stats_.rows_processed;
  const Headers headers = kafka::message_headers(*m);
  const std::int64_t timestamp = kafka::message_timestamp(*m);
  for (const Topic::Definition* target : slot.passthrough) {
    producer_->produce(target->name, -1, key, value, timestamp,
                       headers.empty() ? nullptr : &headers, nullptr);
  }
  run.outputs += slot.passthrough.size();
  store_offset(slot, topic, m);
}

Worker::TopicSlot* Worker::slot_of(const rd_kafka_message_t* m) {
  auto it = slot_by_handle_.find(m->rkt);
  if (it == slot_by_handle_.end()) {
    // First message of this topic handle: librdkafka keeps one handle per topic, so the
    // string lookup happens once per topic, not per message.
    TopicSlot* slot = slot_of(rd_kafka_topic_name(m->rkt), m->partition);
    if (slot == nullptr) return nullptr;
    it = slot_by_handle_.emplace(m->rkt, slot).first;
  }
  TopicSlot* slot = it->second;
  if (static_cast<std::size_t>(m->partition) >= slot->assigned.size()) return nullptr;
  return slot;
}

Worker::TopicSlot* Worker::slot_of(const std::string& topic, std::int32_t partition) {
  auto it = slots_.find(topic);
  if (it == slots_.end() || partition < 0) return nullptr;
  TopicSlot& slot = it->second;
  if (static_cast<std::size_t>(partition) >= slot.assigned.size()) {
    // Partitions can be added to a topic while it is consumed: grow on demand.
    slot.assigned.resize(partition + 1, 0);
    slot.offsets.resize(partition + 1, -1);
  }
  return &slot;
}

void Worker::run(RunState& run, const std::atomic<bool>& stop, const std::atomic<bool>& stop_fail) {
  run_ = &run;
  stop_fail_ = &stop_fail;
  const auto started = Clock::now();
  last_activity_ = started;
  std::vector<kafka::MessagePtr> batch;
  batch.reserve(1024);
  const auto poll_timeout = std::min<std::chrono::milliseconds>(config_.consumer_poll_timeout,
                                                                std::chrono::milliseconds(100));
  try {
    while (!stop.load(std::memory_order_relaxed)) {
      batch.clear();
      consumer_->poll_batch(batch, 1024, poll_timeout);
      rethrow_pending();
      for (auto& m : batch) {
        handle_message(m.get(), run);
        if (checkpoint_due()) checkpoint(false);
        if (run.options.count > 0 && run.outputs >= run.options.count) {
          run.limit_reached = true;
          break;
        }
        if (stop.load(std::memory_order_relaxed)) break;
      }
      producer_->poll(std::chrono::milliseconds(0));
      rethrow_pending();
      if (run.limit_reached) break;
      if (checkpoint_due()) checkpoint(false);
      if (run.options.timeout.count() > 0) {
        // Before the first assignment the app may still be joining the group: allow 60 s.
        const auto grace =
            assigned_count_ == 0 ? std::chrono::seconds(60) : std::chrono::seconds(0);
        if (Clock::now() - last_activity_ >= run.options.timeout + grace) break;
      }
    }
    current_message_context() = nullptr;
    if (stop_fail.load()) {
      failed_ = true;
    } else {
      checkpoint(true);
    }
  } catch (...) {
    current_message_context() = nullptr;
    run_ = nullptr;
    failed_ = true;  // the consumer's close must not commit what the error left behind
    throw;
  }
  run_ = nullptr;
}

}  // namespace streamframe::detail
