// Group consumer over librdkafka's high-level consumer API.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kafka/config.hpp"
#include "kafka/fetch_waker.hpp"
#include "kafka/message.hpp"
#include "kafka/types.hpp"

namespace streamframe::kafka {

class OAuthTokenSource;

// Called from inside poll_batch() / close() on the polling thread.
// on_assign: after the partitions are assigned (offsets are RD_KAFKA_OFFSET_INVALID: the
//   fetch starts from the committed offset, else auto.offset.reset).
// on_revoke: BEFORE the partitions are unassigned, so the application can checkpoint
//   (commit) them; commit() works from inside it.
// An exception thrown by a handler does not stop the protocol step (assign / unassign still
// happens); it is rethrown from the poll_batch() or close() call that ran the handler.
struct RebalanceHandler {
  std::function<void(const std::vector<TopicPartition>&)> on_assign;
  std::function<void(const std::vector<TopicPartition>&)> on_revoke;
  // Partitions taken away without a revoke the member could act on: its session expired
  // (e.g. the group coordinator was unreachable longer than session.timeout.ms) and the
  // group may already have given them to another member, so nothing may be committed for
  // them (the commit would fail with UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION). Unset =>
  // on_revoke is called instead.
  std::function<void(const std::vector<TopicPartition>&)> on_lost;
};

// An instance-level error reported by librdkafka's error callback (e.g. transport failures,
// RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN). These are not tied to a partition.
struct ClientError {
  int code = 0;
  std::string reason;
  bool fatal = false;
};

// Thread contract: one thread polls and calls the other methods; handle() may be used for
// librdkafka calls that are themselves thread-safe. Not movable (librdkafka holds `this`).
class Consumer {
 public:
  // `config` needs bootstrap.servers and group.id; combine with default_consumer_config().
  explicit Consumer(const Config& config, RebalanceHandler handler = {});
  ~Consumer();  // close()s, logging instead of throwing
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  void subscribe(const std::vector<std::string>& topics);
  // Asks for the metadata of `topics` by name until each shows with partitions, for up to
  // `timeout`; returns the topics still missing. Call it before subscribe(): the group join
  // takes the topics' partitions from librdkafka's metadata cache, and a subscription made
  // while the cache calls a topic unknown gets none of its partitions until the next periodic
  // refresh (topic.metadata.refresh.interval.ms, 5 minutes by default). In a cluster a broker
  // answers "unknown" for a topic the controller created a moment ago.
  std::vector<std::string> await_topics(const std::vector<std::string>& topics,
                                        std::chrono::milliseconds timeout);
  void unsubscribe();
  // Static assignment without the group protocol (no rebalance callbacks): fetching starts at
  // each partition's committed offset, else auto.offset.reset. Commits still use group.id.
  void assign(const std::vector<TopicPartition>& tps);

  // Appends up to `max` messages to `out`; returns how many were appended. Waits up to
  // `timeout` for the first one, then takes only what is already fetched (no waiting to fill
  // the batch). Rebalance callbacks run inside this call; the batch ends early after one.
  //
  // In-band errors are classified here, once for every caller: the end of a partition (only
  // with enable.partition.eof=true) comes back as a Message whose end_of_partition() is true;
  // auto_offset_reset=error without a committed offset and a fatal consumer error come back
  // in their place as a Message whose error() is a fatal KafkaError (the caller throws it when
  // it gets there: see Message::throw_if_error); any other (a fetch error librdkafka retries
  // itself) is logged and dropped. Instance-level errors (transport, all brokers down) are
  // collected for take_client_errors(); a fatal one throws KafkaError(fatal) from here.
  //
  // Revoke safety: a message is returned only if its partition is assigned when the call
  // returns. Each message is taken with rd_kafka_consumer_poll(), which drops messages
  // fetched under an older assignment/seek/pause (librdkafka's op version barrier), and on
  // revoke the messages this call already took for the revoked partitions are removed from
  // `out` before on_revoke runs. (The batch API rd_kafka_consume_batch_queue() would not let
  // us see where inside its batch a rebalance happened, and in 2.0.2 it has known issues
  // with pause/resume/rebalance.)
  std::size_t poll_batch(std::vector<Message>& out, std::size_t max,
                         std::chrono::milliseconds timeout);
  // poll_batch() for a consumer that only ever has a static assignment (assign(), no
  // subscribe) and is never paused, resumed or seeked while it reads: takes up to `max`
  // messages in one rd_kafka_consume_batch_queue() call, one queue lock for the batch instead
  // of one per message. Errors are classified as in poll_batch(). The batch API's known issues
  // in librdkafka 2.0.2 need a rebalance, pause, resume or seek during the call, which such a
  // consumer never has. Throws InvalidOperation after subscribe().
  std::size_t read_batch(std::vector<Message>& out, std::size_t max,
                         std::chrono::milliseconds timeout);

  // Synchronous commit; offsets are the NEXT offset to read per partition. Empty = no-op.
  // Throws KafkaError on a request or any per-partition error.
  void commit(const std::vector<TopicPartition>& offsets);

  // Stores offsets (the NEXT offset to read) for the next commit_stored() or auto-commit; the
  // consumer must run with enable.auto.offset.store=false. Throws KafkaError, e.g. for a
  // partition not assigned to it.
  void store_offsets(const std::vector<TopicPartition>& offsets);
  // Synchronously commits what store_offsets() stored; false when nothing was stored since
  // the last commit.
  bool commit_stored();

  // Committed offsets of `tps` (RD_KAFKA_OFFSET_INVALID when the group has none).
  std::vector<TopicPartition> committed(const std::vector<TopicPartition>& tps,
                                        std::chrono::milliseconds timeout);

  // Current positions (offset of the last message returned + 1, or INVALID).
  std::vector<TopicPartition> position(const std::vector<TopicPartition>& tps);

  // Pausing drops what was prefetched for the partitions; resuming continues right after
  // the last message returned (or at a position seek()ed while paused). A resumed partition
  // needs a new fetch: on a real broker that can wait for the fetch in flight, i.e. up to
  // fetch.wait.max.ms — avoid pause/resume churn.
  void pause(const std::vector<TopicPartition>& tps);
  void resume(const std::vector<TopicPartition>& tps);

  // Moves the fetch position of an assigned partition to tp.offset (an offset or
  // RD_KAFKA_OFFSET_BEGINNING/END) and waits up to `timeout` for the move (0 = don't wait;
  // then only immediate errors are reported).
  void seek(const TopicPartition& tp, std::chrono::milliseconds timeout);

  // {low, high} watermarks queried from the partition leader.
  std::pair<std::int64_t, std::int64_t> query_watermarks(const std::string& topic,
                                                         std::int32_t partition,
                                                         std::chrono::milliseconds timeout);
  // The low watermarks (log start offsets) of `tps`, in tp.offset, asked in one ListOffsets
  // request per leader rather than one round trip per partition. A partition's error throws.
  // A broker answers a connection's requests in order, so on a consumer with a fetch in
  // flight this waits for that fetch (up to fetch.wait.max.ms): ask through a handle that
  // does not fetch when that matters.
  std::vector<TopicPartition> query_low_watermarks(const std::vector<TopicPartition>& tps,
                                                   std::chrono::milliseconds timeout);
  // Per partition, the first offset whose record timestamp is >= tp.offset (a timestamp in
  // ms), asked in one ListOffsets request per leader; -1 (RD_KAFKA_OFFSET_END) when no record
  // is that late. A partition's error throws.
  std::vector<TopicPartition> offsets_for_times(const std::vector<TopicPartition>& tps,
                                                std::chrono::milliseconds timeout);
  // {low, high} as last seen by the fetcher (no request); RD_KAFKA_OFFSET_INVALID when
  // unknown (e.g. nothing fetched from the partition yet).
  std::pair<std::int64_t, std::int64_t> get_watermarks(const std::string& topic,
                                                       std::int32_t partition) const;

  // The group metadata (group id, generation id, member id) for
  // Producer::send_offsets_to_transaction(). Take it right before sending the offsets: it is
  // a snapshot, and the broker fences offsets sent with a stale generation (KIP-447).
  GroupMetadataPtr group_metadata() const;

  std::vector<TopicPartition> assignment() const;
  std::string memberid() const;  // "" before the first join
  const std::string& group_id() const noexcept { return group_id_; }

  // Asks a broker for metadata (a real request, no cache): code::no_error when one answered
  // within `timeout`, else the error code (e.g. code::transport, code::timed_out). Blocks up
  // to `timeout` while no broker is reachable.
  int probe_brokers(std::chrono::milliseconds timeout);

  // Drains the instance-level errors seen so far (bounded; the oldest are dropped).
  std::vector<ClientError> take_client_errors();

  // Leaves the group (runs on_revoke for the current assignment) and releases the handle:
  // it is destroyed now, or when the last MessagePtr taken from it is destroyed. Idempotent.
  // Rethrows a handler exception raised during the close.
  void close();
  bool closed() const noexcept { return rk_ == nullptr; }

  // nullptr once closed.
  rd_kafka_t* handle() const noexcept { return rk_; }

  // Times the fetcher was woken while a backlog lasted (FetchWaker; 0 where librdkafka
  // bounds its own queue-full backoff). Tests.
  std::uint64_t fetch_wakes() const noexcept { return waker_ ? waker_->wakes() : 0; }

 private:
  static void rebalance_trampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void error_trampoline(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void on_error(int err, const char* reason);
  // An in-band error other than the end of a partition (see poll_batch): the error that stops
  // the caller, or nullopt after logging one librdkafka retries itself.
  std::optional<KafkaError> classify(const rd_kafka_message_t& m);
  // Whether `topic`, which the broker says it does not know, is assigned to this member and
  // absent from a full metadata answer: deleted while the application ran.
  bool deleted_while_assigned(const std::string& topic);
  // The ones of `topics` that a full metadata answer does not list; none when no answer came
  // within 5 s (nothing confirmed).
  std::vector<std::string_view> absent_from_metadata(
      const std::vector<std::string_view>& topics) const;
  void drop_taken_messages_of(const rd_kafka_topic_partition_list_t* revoked);
  void remember(std::exception_ptr error);
  void rethrow_pending();
  // Wraps one polled message into `out` (or drops an error classify() logged).
  void take(std::vector<Message>& out, rd_kafka_message_t* m);
  // What every batch call checks once it has its messages: pending handler exceptions, a
  // failed token callback, a fatal error.
  void after_batch();
  rd_kafka_t* require_open(const char* operation) const;

  RebalanceHandler handler_;
  std::string group_id_;
  std::set<std::string> deleted_topics_;  // confirmed by deleted_while_assigned()
  // rk_ is owned through refs_ (shared with the messages handed out; see HandleRefs).
  std::shared_ptr<OAuthTokenSource> token_source_;
  HandleRefs* refs_ = nullptr;
  rd_kafka_t* rk_ = nullptr;

  // The poll_batch call in progress: its output vector and where this call's messages start.
  std::vector<Message>* batch_ = nullptr;
  std::size_t batch_start_ = 0;
  bool rebalanced_ = false;
  // librdkafka < 2.4 only: see kafka/fetch_waker.hpp. Stopped before the handle goes.
  std::unique_ptr<FetchWaker> waker_;
  // read_batch(): the consumer queue (destroyed before the handle) and the raw batch.
  QueuePtr queue_;
  std::vector<rd_kafka_message_t*> raw_;
  bool subscribed_ = false;

  std::exception_ptr pending_;  // first handler exception not yet rethrown

  mutable std::mutex errors_mutex_;
  std::vector<ClientError> client_errors_;
  bool fatal_seen_ = false;
};

}  // namespace streamframe::kafka
