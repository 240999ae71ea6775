#include "kafka/consumer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "kafka/error.hpp"
#include "kafka/handles.hpp"
#include "kafka/logging.hpp"
#include "kafka/oauth.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::kafka {

namespace {

constexpr std::size_t kMaxClientErrors = 1000;
// The default 32 MiB queue drains in about 0.2 s at this engine's rates: woken this often,
// the fetcher refills it before it runs dry, for 20 small requests a second.
constexpr std::chrono::milliseconds kFetchWakeInterval{50};

int to_ms(std::chrono::milliseconds timeout) {
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(timeout.count(), 0, INT_MAX));
}

bool contains(const rd_kafka_topic_partition_list_t* list, const Message& m) {
  if (m.topic().empty()) return false;
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].partition == m.partition() && m.topic() == list->elems[i].topic) {
      return true;
    }
  }
  return false;
}

}  // namespace

Consumer::Consumer(const Config& config, RebalanceHandler handler)
    : handler_(std::move(handler)), group_id_(get_option(config, "group.id").value_or("")) {
  if (group_id_.empty()) throw ConfigError("Kafka consumer needs a 'group.id' setting");
  ConfPtr conf = make_conf(config);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Consumer::rebalance_trampoline);
  rd_kafka_conf_set_error_cb(conf.get(), &Consumer::error_trampoline);

  std::array<char, 512> errstr{};
  KafkaPtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr.data(), errstr.size()));
  if (!rk) throw ConfigError(fmt::format("cannot create Kafka consumer: {}", errstr.data()));
  (void)conf.release();  // rd_kafka_new took ownership
  token_source_ = adopt_handle(rk.get(), config);

  // Serve the main queue (errors, logs, stats) from the consumer queue, i.e. from poll_batch.
  if (const rd_kafka_resp_err_t err = rd_kafka_poll_set_consumer(rk.get())) {
    throw_error(err, "redirecting the main queue to the consumer queue");
  }
  rk_ = rk.get();
  refs_ = new HandleRefs(rk.release());
  if (FetchWaker::needed()) waker_ = std::make_unique<FetchWaker>(rk_, kFetchWakeInterval);
}

Consumer::~Consumer() {
  try {
    close();
  } catch (const std::exception& e) {
    streamframe_logger()->error("closing Kafka consumer of group '{}': {}", group_id_, e.what());
  }
}

rd_kafka_t* Consumer::require_open(const char* operation) const {
  if (rk_ == nullptr) {
    throw InvalidOperation(fmt::format("Kafka consumer is closed (in {})", operation));
  }
  return rk_;
}

void Consumer::subscribe(const std::vector<std::string>& topics) {
  rd_kafka_t* rk = require_open("subscribe");
  TopicPartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const std::string& topic : topics) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, list.get())) {
    throw_error(err, fmt::format("subscribing group '{}' to {} topic(s)", group_id_, topics.size()),
                rk);
  }
  subscribed_ = true;
}

std::vector<std::string> Consumer::await_topics(const std::vector<std::string>& topics,
                                                std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_open("await_topics");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> missing = topics;
  while (true) {
    std::vector<std::string> still;
    for (const std::string& topic : missing) {
      // A named request (not all topics): only those update the cache the group join reads.
      // The consumer asks with allow.auto.create.topics=false, so it creates nothing.
      const TopicPtr rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
      const rd_kafka_metadata_t* raw = nullptr;
      const auto left = std::max(std::chrono::milliseconds(1),
                                 std::chrono::duration_cast<std::chrono::milliseconds>(
                                     deadline - std::chrono::steady_clock::now()));
      bool listed = false;
      if (rd_kafka_metadata(rk, 0, rkt.get(), &raw, to_ms(left)) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const MetadataPtr md(raw);
        listed = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                 md->topics[0].partition_cnt > 0;
      }
      if (!listed) still.push_back(topic);
    }
    missing = std::move(still);
    if (missing.empty()) return missing;
    if (std::chrono::steady_clock::now() + std::chrono::milliseconds(100) >= deadline) {
      return missing;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void Consumer::assign(const std::vector<TopicPartition>& tps) {
  rd_kafka_t* rk = require_open("assign");
  const TopicPartitionListPtr list = to_c_list(tps);
  if (const rd_kafka_resp_err_t err = rd_kafka_assign(rk, list.get())) {
    throw_error(err, fmt::format("assigning {} partition(s) to group '{}'", tps.size(), group_id_),
                rk);
  }
}

void Consumer::unsubscribe() {
  rd_kafka_t* rk = require_open("unsubscribe");
  if (const rd_kafka_resp_err_t err = rd_kafka_unsubscribe(rk)) {
    throw_error(err, "unsubscribing", rk);
  }
}

std::size_t Consumer::poll_batch(std::vector<Message>& out, std::size_t max,
                                 std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_open("poll_batch");
  if (max == 0) return 0;
  const std::size_t start = out.size();
  batch_ = &out;
  batch_start_ = start;
  rebalanced_ = false;
  struct BatchReset {
    Consumer* self;
    ~BatchReset() { self->batch_ = nullptr; }
  } reset{this};

  // Room for the whole batch first, so that a message is built in place (no move per message)
  // and emplace_back cannot throw while a raw message is not yet owned.
  out.reserve(start + max);
  rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, to_ms(timeout));
  while (m != nullptr) {
    take(out, m);
    if (out.size() - start >= max) {
      if (waker_) waker_->note_backlog();
      break;
    }
    if (rebalanced_) break;
    m = rd_kafka_consumer_poll(rk, 0);
  }
  after_batch();
  return out.size() - start;
}

std::size_t Consumer::read_batch(std::vector<Message>& out, std::size_t max,
                                 std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_open("read_batch");
  if (subscribed_) {
    throw InvalidOperation("read_batch is for consumers with a static assignment only");
  }
  if (max == 0) return 0;
  if (!queue_) queue_.reset(rd_kafka_queue_get_consumer(rk));
  if (!queue_) throw InvalidOperation("read_batch needs a consumer with a group.id");
  const std::size_t start = out.size();
  out.reserve(start + max);
  raw_.resize(max);
  const auto read = [&](int timeout_ms, std::size_t count) {
    const ssize_t n = rd_kafka_consume_batch_queue(queue_.get(), timeout_ms, raw_.data(), count);
    if (n < 0) throw_error(rd_kafka_last_error(), "reading a batch of messages", rk);
    return static_cast<std::size_t>(n);
  };
  // Each message is owned by `out` (or gone) once taken; the rest of a batch is destroyed if
  // taking one throws.
  const auto take_all = [&](std::size_t n) {
    std::size_t i = 0;
    struct DestroyRest {
      std::vector<rd_kafka_message_t*>& raw;
      std::size_t& next;
      std::size_t end;
      ~DestroyRest() {
        for (std::size_t j = next; j < end; ++j) rd_kafka_message_destroy(raw[j]);
      }
    } rest{raw_, i, n};
    while (i < n) take(out, raw_[i++]);
  };
  // With a timeout the call waits until the whole batch is there: take what is queued, and
  // only when nothing is, wait for one message and then take what came with it.
  std::size_t taken = read(0, max);
  take_all(taken);
  if (taken == 0 && timeout.count() > 0 && read(to_ms(timeout), 1) == 1) {
    take_all(1);
    taken = 1;
    if (max > 1) {
      const std::size_t more = read(0, max - 1);
      take_all(more);
      taken += more;
    }
  }
  if (taken == max && waker_) waker_->note_backlog();
  after_batch();
  return out.size() - start;
}

void Consumer::take(std::vector<Message>& out, rd_kafka_message_t* m) {
  // Consecutive messages mostly share a topic. The name of the last message's topic is
  // reused; that message holds a reference on its topic, so the name is still alive.
  std::string_view topic;
  if (!out.empty() && out.back().topic_id_ == m->rkt) {
    topic = out.back().topic_;
  } else if (m->rkt != nullptr) {
    topic = rd_kafka_topic_name(m->rkt);
  }
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    out.emplace_back(Message::Key(), m, refs_, topic);
  } else {
    // Wrapped at once: the message is destroyed with the Message, also when classify throws.
    Message message(Message::Key(), m, refs_, topic);
    if (auto error = classify(*m)) {
      message.error_ = std::make_unique<KafkaError>(std::move(*error));
      out.push_back(std::move(message));
    }
  }
}

void Consumer::after_batch() {
  rethrow_pending();
  // A failed token callback does not end the connections it authenticated, but the next
  // token would fail too: stop now with the callback's error (APP-17).
  if (token_source_) token_source_->throw_if_failed();
  bool fatal = false;
  {
    const std::lock_guard lock(errors_mutex_);
    fatal = fatal_seen_;
  }
  if (fatal) throw_error(RD_KAFKA_RESP_ERR__FATAL, "Kafka consumer", rk_);
}

void Consumer::store_offsets(const std::vector<TopicPartition>& offsets) {
  rd_kafka_t* rk = require_open("store_offsets");
  if (offsets.empty()) return;
  const TopicPartitionListPtr list = to_c_list(offsets);
  const rd_kafka_resp_err_t err = rd_kafka_offsets_store(rk, list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw_error(err, fmt::format("storing offsets of group '{}'", group_id_));
  }
  check_partition_errors(list.get(), "store_offsets");
}

bool Consumer::commit_stored() {
  rd_kafka_t* rk = require_open("commit_stored");
  const rd_kafka_resp_err_t err = rd_kafka_commit(rk, nullptr, /*async=*/0);
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return false;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw_error(err, fmt::format("committing stored offsets of group '{}'", group_id_), rk);
  }
  return true;
}

void Consumer::commit(const std::vector<TopicPartition>& offsets) {
  rd_kafka_t* rk = require_open("commit");
  if (offsets.empty()) return;
  const TopicPartitionListPtr list = to_c_list(offsets);

  // rd_kafka_commit_queue without a queue is synchronous and hands the per-partition results
  // to the callback before returning.
  struct Result {
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    TopicPartitionListPtr partitions;
  } result;
  auto on_commit = [](rd_kafka_t*, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* r = static_cast<Result*>(opaque);
    r->err = err;
    if (partitions != nullptr) r->partitions.reset(rd_kafka_topic_partition_list_copy(partitions));
  };
  const rd_kafka_resp_err_t err =
      rd_kafka_commit_queue(rk, list.get(), nullptr, on_commit, &result);
  const std::string what = fmt::format("committing offsets of group '{}'", group_id_);
  const rd_kafka_resp_err_t failed = err != RD_KAFKA_RESP_ERR_NO_ERROR ? err : result.err;
  if (failed == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
    // librdkafka gives the request's error to every partition the broker did not fail, so the
    // partitions do not say which topic the broker did not know: the metadata does.
    std::vector<std::string_view> topics;
    for (const TopicPartition& tp : offsets) topics.push_back(tp.topic);
    std::sort(topics.begin(), topics.end());
    topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
    const std::vector<std::string_view> gone = absent_from_metadata(topics);
    if (!gone.empty()) {
      throw KafkaError(failed,
                       fmt::format("{}: topic{} '{}' no longer exist{}: deleted while the "
                                   "application ran? ({})",
                                   what, gone.size() > 1 ? "s" : "", fmt::join(gone, "', '"),
                                   gone.size() > 1 ? "" : "s", rd_kafka_err2str(failed)),
                       /*retriable=*/false, /*fatal=*/false);
    }
    throw_error(failed,
                fmt::format("{} (topics '{}': the broker did not know one of them; was one "
                            "deleted while the application ran?)",
                            what, fmt::join(topics, "', '")),
                rk);
  }
  check_partition_errors(result.partitions.get(), what);
  if (failed != RD_KAFKA_RESP_ERR_NO_ERROR) throw_error(failed, what, rk);
}

std::vector<TopicPartition> Consumer::committed(const std::vector<TopicPartition>& tps,
                                                std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_open("committed");
  if (tps.empty()) return {};
  const TopicPartitionListPtr list = to_c_list(tps);
  const std::string what = fmt::format("fetching committed offsets of group '{}'", group_id_);
  if (const rd_kafka_resp_err_t err = rd_kafka_committed(rk, list.get(), to_ms(timeout))) {
    throw_error(err, what, rk);
  }
  check_partition_errors(list.get(), what);
  return from_c_list(list.get());
}

GroupMetadataPtr Consumer::group_metadata() const {
  GroupMetadataPtr metadata(rd_kafka_consumer_group_metadata(require_open("group_metadata")));
  if (!metadata) {
    throw InvalidOperation(
        fmt::format("no group metadata for the consumer of group '{}'", group_id_));
  }
  return metadata;
}

std::vector<TopicPartition> Consumer::position(const std::vector<TopicPartition>& tps) {
  rd_kafka_t* rk = require_open("position");
  if (tps.empty()) return {};
  const TopicPartitionListPtr list = to_c_list(tps);
  if (const rd_kafka_resp_err_t err = rd_kafka_position(rk, list.get())) {
    throw_error(err, "reading consumer positions", rk);
  }
  check_partition_errors(list.get(), "reading consumer position");
  return from_c_list(list.get());
}

void Consumer::pause(const std::vector<TopicPartition>& tps) {
  rd_kafka_t* rk = require_open("pause");
  if (tps.empty()) return;
  const TopicPartitionListPtr list = to_c_list(tps);
  if (const rd_kafka_resp_err_t err = rd_kafka_pause_partitions(rk, list.get())) {
    throw_error(err, "pausing partitions", rk);
  }
  check_partition_errors(list.get(), "pausing partition");
}

void Consumer::resume(const std::vector<TopicPartition>& tps) {
  rd_kafka_t* rk = require_open("resume");
  if (tps.empty()) return;
  const TopicPartitionListPtr list = to_c_list(tps);
  if (const rd_kafka_resp_err_t err = rd_kafka_resume_partitions(rk, list.get())) {
    throw_error(err, "resuming partitions", rk);
  }
  check_partition_errors(list.get(), "resuming partition");

  // librdkafka 2.0.2 does not wake the broker thread on resume: when nothing else is being
  // fetched from that broker the partition restarts at the thread's next wakeup, up to ~1 s
  // later. A seek to the current position (where the resume restarts anyway) wakes it.
  // Partitions without a position (nothing consumed yet, or seek()ed while paused: librdkafka
  // then forgets the position) are left alone, so an explicit seek is never overridden.
  if (rd_kafka_position(rk, list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  TopicPartitionListPtr wake(rd_kafka_topic_partition_list_new(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    if (p.err == RD_KAFKA_RESP_ERR_NO_ERROR && p.offset >= 0) {
      rd_kafka_topic_partition_list_add(wake.get(), p.topic, p.partition)->offset = p.offset;
    }
  }
  if (wake->cnt > 0) ErrorPtr ignored{rd_kafka_seek_partitions(rk, wake.get(), 0)};
}

void Consumer::seek(const TopicPartition& tp, std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_open("seek");
  const TopicPartitionListPtr list = to_c_list({tp});
  // librdkafka < 2.1.0 waits timeout_ms MICROseconds in rd_kafka_seek_partitions (fixed
  // upstream in 2.1.0, #4230): scale the argument so the wait is what the caller asked for.
  int timeout_ms = to_ms(timeout);
  if (rd_kafka_version() < 0x020100ff && timeout_ms > 0) {
    timeout_ms = timeout_ms > INT_MAX / 1000 ? INT_MAX : timeout_ms * 1000;
  }
  const std::string what = fmt::format("seeking topic '{}' partition {} to offset {}", tp.topic,
                                       tp.partition, tp.offset);
  if (ErrorPtr error{rd_kafka_seek_partitions(rk, list.get(), timeout_ms)}) {
    throw_error(error.get(), what);
  }
  if (timeout_ms == 0) {  // not waited for: the request is merely "in progress"
    for (int i = 0; i < list->cnt; ++i) {
      if (list->elems[i].err == RD_KAFKA_RESP_ERR__IN_PROGRESS) {
        list->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
      }
    }
  }
  check_partition_errors(list.get(), what);
}

std::pair<std::int64_t, std::int64_t> Consumer::query_watermarks(
    const std::string& topic, std::int32_t partition, std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_open("query_watermarks");
  std::int64_t low = RD_KAFKA_OFFSET_INVALID;
  std::int64_t high = RD_KAFKA_OFFSET_INVALID;
  if (const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          rk, topic.c_str(), partition, &low, &high, to_ms(timeout))) {
    if (err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
        err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
      // librdkafka 2.0.2 keeps asking the leader it has cached: a metadata request refreshes
      // the cache so that a retry reaches the new leader.
      const rd_kafka_metadata_t* md = nullptr;
      if (rd_kafka_metadata(rk, 1, nullptr, &md, to_ms(timeout)) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
      }
    }
    throw_error(
        err, fmt::format("querying watermarks of topic '{}' partition {}", topic, partition), rk);
  }
  return {low, high};
}

std::vector<TopicPartition> Consumer::query_low_watermarks(const std::vector<TopicPartition>& tps,
                                                           std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_open("query_low_watermarks");
  if (tps.empty()) return {};
  TopicPartitionListPtr list = to_c_list(tps);
  // ListOffsets takes -2 (RD_KAFKA_OFFSET_BEGINNING) as "the earliest offset".
  for (int i = 0; i < list->cnt; ++i) list->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
  const std::string what =
      fmt::format("querying the low watermarks of {} partition(s)", tps.size());
  if (const rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, list.get(), to_ms(timeout))) {
    throw_error(err, what, rk);
  }
  check_partition_errors(list.get(), what);
  return from_c_list(list.get());
}

std::vector<TopicPartition> Consumer::offsets_for_times(const std::vector<TopicPartition>& tps,
                                                        std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_open("offsets_for_times");
  if (tps.empty()) return {};
  TopicPartitionListPtr list = to_c_list(tps);
  const std::string what =
      fmt::format("looking up offsets by timestamp in {} partition(s)", tps.size());
  if (const rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, list.get(), to_ms(timeout))) {
    throw_error(err, what, rk);
  }
  check_partition_errors(list.get(), what);
  return from_c_list(list.get());
}

std::pair<std::int64_t, std::int64_t> Consumer::get_watermarks(const std::string& topic,
                                                               std::int32_t partition) const {
  rd_kafka_t* rk = require_open("get_watermarks");
  std::int64_t low = RD_KAFKA_OFFSET_INVALID;
  std::int64_t high = RD_KAFKA_OFFSET_INVALID;
  if (rd_kafka_get_watermark_offsets(rk, topic.c_str(), partition, &low, &high) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return {RD_KAFKA_OFFSET_INVALID, RD_KAFKA_OFFSET_INVALID};
  }
  return {low, high};
}

std::vector<TopicPartition> Consumer::assignment() const {
  rd_kafka_t* rk = require_open("assignment");
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (const rd_kafka_resp_err_t err = rd_kafka_assignment(rk, &raw)) {
    throw_error(err, "reading the consumer assignment", rk);
  }
  const TopicPartitionListPtr list(raw);
  return from_c_list(list.get());
}

std::string Consumer::memberid() const {
  rd_kafka_t* rk = require_open("memberid");
  char* id = rd_kafka_memberid(rk);
  if (id == nullptr) return {};
  std::string out(id);
  rd_kafka_mem_free(rk, id);
  return out;
}

int Consumer::probe_brokers(std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = require_open("probe_brokers");
  const rd_kafka_metadata_t* md = nullptr;
  // all_topics = 0 and no topic: only the locally known topics, a small response.
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, 0, nullptr, &md, static_cast<int>(timeout.count()));
  const MetadataPtr holder(md);
  return err;
}

std::vector<ClientError> Consumer::take_client_errors() {
  const std::lock_guard lock(errors_mutex_);
  std::vector<ClientError> out;
  out.swap(client_errors_);
  return out;
}

void Consumer::close() {
  if (rk_ == nullptr) return;
  if (waker_) waker_->stop();  // its requests use the handle
  queue_.reset();
  // Leaving the group runs the rebalance callback (on_revoke) from inside this call.
  const rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    streamframe_logger()->warn("Kafka consumer of group '{}' closed with error: {}", group_id_,
                               rd_kafka_err2str(err));
  }
  // No callback of ours runs after consumer_close: librdkafka calls them only from polls.
  rk_ = nullptr;
  std::exchange(refs_, nullptr)->release();
  rethrow_pending();
}

// ---- callbacks (run on the polling thread, inside librdkafka C frames: never throw) -------

void Consumer::rebalance_trampoline(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                                    rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  try {
    self->on_rebalance(err, partitions);
  } catch (...) {  // e.g. bad_alloc: must not unwind through librdkafka
    self->remember(std::current_exception());
  }
}

void Consumer::error_trampoline(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  try {
    static_cast<Consumer*>(opaque)->on_error(err, reason);
  } catch (...) {  // logging/allocation failure: the error stays in librdkafka's log
  }
}

void Consumer::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
  rebalanced_ = true;
  rd_kafka_t* rk = rk_;
  // NULL once the consumer has left its group (the revoke that rd_kafka_consumer_close runs):
  // that final revoke unassigns everything, the eager way.
  const char* protocol = rd_kafka_rebalance_protocol(rk);
  const bool cooperative = protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
  const auto log = streamframe_logger();

  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (cooperative) {
      if (ErrorPtr error{rd_kafka_incremental_assign(rk, partitions)}) {
        remember(std::make_exception_ptr(make_error(error.get(), "incremental assign")));
      }
    } else if (const rd_kafka_resp_err_t e = rd_kafka_assign(rk, partitions)) {
      remember(std::make_exception_ptr(make_error(e, "assigning partitions", rk)));
    }
    log->debug("group '{}': assigned {} partition(s)", group_id_, partitions->cnt);
    if (handler_.on_assign) {
      try {
        handler_.on_assign(from_c_list(partitions));
      } catch (...) {
        remember(std::current_exception());
      }
    }
    return;
  }

  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    log->debug("group '{}': revoking {} partition(s)", group_id_, partitions->cnt);
    drop_taken_messages_of(partitions);
    const bool lost = rd_kafka_assignment_lost(rk) != 0;
    const auto& handle = lost && handler_.on_lost ? handler_.on_lost : handler_.on_revoke;
    if (handle) {
      try {
        handle(from_c_list(partitions));
      } catch (...) {
        remember(std::current_exception());
      }
    }
    if (cooperative) {
      if (ErrorPtr error{rd_kafka_incremental_unassign(rk, partitions)}) {
        remember(std::make_exception_ptr(make_error(error.get(), "incremental unassign")));
      }
    } else if (const rd_kafka_resp_err_t e = rd_kafka_assign(rk, nullptr)) {
      remember(std::make_exception_ptr(make_error(e, "unassigning partitions", rk)));
    }
    return;
  }

  // Any other code is a failed rebalance: librdkafka asks the application to drop its
  // assignment. The partitions are gone without an orderly revoke, so the app is told.
  log->error("group '{}': rebalance failed: {}", group_id_, rd_kafka_err2str(err));
  drop_taken_messages_of(partitions);
  if (handler_.on_revoke && partitions != nullptr && partitions->cnt > 0) {
    try {
      handler_.on_revoke(from_c_list(partitions));
    } catch (...) {
      remember(std::current_exception());
    }
  }
  rd_kafka_assign(rk, nullptr);
}

void Consumer::on_error(int err, const char* reason) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  bool fatal = code == RD_KAFKA_RESP_ERR__FATAL;
  std::string text = reason != nullptr ? reason : rd_kafka_err2str(code);
  if (fatal && rk_ != nullptr) {
    std::array<char, 512> buf{};
    const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk_, buf.data(), buf.size());
    if (orig != RD_KAFKA_RESP_ERR_NO_ERROR) text = buf.data();
  }
  streamframe_logger()->log(fatal ? spdlog::level::err : spdlog::level::warn,
                            "Kafka consumer of group '{}': {} ({})", group_id_, text,
                            rd_kafka_err2name(code));
  const std::lock_guard lock(errors_mutex_);
  if (client_errors_.size() >= kMaxClientErrors) client_errors_.erase(client_errors_.begin());
  client_errors_.push_back(ClientError{err, std::move(text), fatal});
  fatal_seen_ = fatal_seen_ || fatal;
}

std::optional<KafkaError> Consumer::classify(const rd_kafka_message_t& m) {
  const std::string topic(message_topic(m));
  if (m.err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
    // auto.offset.reset=error and no valid committed offset (APP-03).
    return KafkaError(
        m.err,
        fmt::format("no valid committed offset and auto_offset_reset is 'error': {} "
                    "(topic '{}', partition {})",
                    rd_kafka_message_errstr(&m), topic.empty() ? "?" : topic, m.partition),
        false, true);
  }
  if (rd_kafka_fatal_error(rk_, nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaError(m.err, fmt::format("fatal consumer error: {}", rd_kafka_message_errstr(&m)),
                      false, true);
  }
  if ((m.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
       m.err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) &&
      !topic.empty() && deleted_while_assigned(topic)) {
    // librdkafka would report it forever while the run went on without the topic (and under
    // exactly-once, aborted every transaction that names it).
    return KafkaError(m.err,
                      fmt::format("topic '{}' no longer exists: it was deleted while the "
                                  "application ran ({})",
                                  topic, rd_kafka_message_errstr(&m)),
                      false, true);
  }
  // Everything else (a partition's leader moving, a fetch error) librdkafka retries itself.
  streamframe_logger()->warn(
      "Kafka consumer of group '{}': consumer error on topic '{}' "
      "partition {}: {}",
      group_id_, topic, m.partition, rd_kafka_message_errstr(&m));
  return std::nullopt;
}

bool Consumer::deleted_while_assigned(const std::string& topic) {
  if (deleted_topics_.count(topic) != 0) return true;
  rd_kafka_topic_partition_list_t* assigned = nullptr;
  if (rd_kafka_assignment(rk_, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  const TopicPartitionListPtr holder(assigned);
  bool was_assigned = false;
  for (int i = 0; i < assigned->cnt; ++i) was_assigned |= topic == assigned->elems[i].topic;
  // Not assigned: a subscription's topic that is not there yet, or one this member does not
  // read; the rebalance deals with it.
  if (!was_assigned) return false;
  // Confirmed by a full metadata answer: the error alone also comes from a broker that has not
  // caught up. No answer: not confirmed, librdkafka goes on retrying.
  if (absent_from_metadata({topic}).empty()) return false;
  deleted_topics_.insert(topic);
  return true;
}

std::vector<std::string_view> Consumer::absent_from_metadata(
    const std::vector<std::string_view>& topics) const {
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk_, 1, nullptr, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const MetadataPtr metadata(md);
  const std::span<const rd_kafka_metadata_topic_t> listed(md->topics,
                                                          static_cast<std::size_t>(md->topic_cnt));
  std::vector<std::string_view> absent;
  for (const std::string_view topic : topics) {
    if (std::none_of(listed.begin(), listed.end(), [topic](const rd_kafka_metadata_topic_t& t) {
          return topic == t.topic && t.err == RD_KAFKA_RESP_ERR_NO_ERROR;
        })) {
      absent.push_back(topic);
    }
  }
  return absent;
}

void Consumer::drop_taken_messages_of(const rd_kafka_topic_partition_list_t* revoked) {
  if (batch_ == nullptr || revoked == nullptr || revoked->cnt == 0) return;
  std::vector<Message>& out = *batch_;
  const auto first = out.begin() + static_cast<std::ptrdiff_t>(batch_start_);
  out.erase(std::remove_if(first, out.end(),
                           [revoked](const Message& m) { return contains(revoked, m); }),
            out.end());
}

void Consumer::remember(std::exception_ptr error) {
  if (!pending_) pending_ = std::move(error);
}

void Consumer::rethrow_pending() {
  if (pending_) std::rethrow_exception(std::exchange(pending_, nullptr));
}

}  // namespace streamframe::kafka
