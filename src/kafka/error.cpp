#include "kafka/error.hpp"

#include <fmt/format.h>

#include <array>

#include "kafka/codes.hpp"

namespace streamframe::kafka {

static_assert(code::no_error == RD_KAFKA_RESP_ERR_NO_ERROR);
static_assert(code::transport == RD_KAFKA_RESP_ERR__TRANSPORT);
static_assert(code::resolve == RD_KAFKA_RESP_ERR__RESOLVE);
static_assert(code::all_brokers_down == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN);
static_assert(code::timed_out == RD_KAFKA_RESP_ERR__TIMED_OUT);
static_assert(code::purge_queue == RD_KAFKA_RESP_ERR__PURGE_QUEUE);
static_assert(code::purge_inflight == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT);
static_assert(offset_invalid == RD_KAFKA_OFFSET_INVALID);

std::string error_text(int error_code) {
  return rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(error_code));
}

bool is_retriable(rd_kafka_resp_err_t err) noexcept {
  switch (err) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT:
      return true;
    default:
      return false;
  }
}

bool is_group_moved_on(int code) noexcept {
  return code == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
         code == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
         code == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
}

KafkaError make_error(rd_kafka_resp_err_t err, std::string_view what, rd_kafka_t* rk) {
  if (err == RD_KAFKA_RESP_ERR__FATAL && rk != nullptr) {
    std::array<char, 512> reason{};
    const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, reason.data(), reason.size());
    if (orig != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaError(orig, fmt::format("{}: fatal error: {}", what, reason.data()),
                        /*retriable=*/false, /*fatal=*/true);
    }
  }
  return KafkaError(err, fmt::format("{}: {}", what, rd_kafka_err2str(err)), is_retriable(err),
                    err == RD_KAFKA_RESP_ERR__FATAL);
}

KafkaError make_error(const rd_kafka_error_t* err, std::string_view what) {
  return KafkaError(rd_kafka_error_code(err),
                    fmt::format("{}: {}", what, rd_kafka_error_string(err)),
                    rd_kafka_error_is_retriable(err) != 0 || is_retriable(rd_kafka_error_code(err)),
                    rd_kafka_error_is_fatal(err) != 0, rd_kafka_error_txn_requires_abort(err) != 0);
}

void throw_error(rd_kafka_resp_err_t err, std::string_view what, rd_kafka_t* rk) {
  throw make_error(err, what, rk);
}

void throw_error(const rd_kafka_error_t* err, std::string_view what) {
  throw make_error(err, what);
}

void check_partition_errors(const rd_kafka_topic_partition_list_t* list, std::string_view what) {
  if (list == nullptr) return;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const bool missing = p.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
      throw_error(p.err, fmt::format("{} (topic '{}', partition {}{})", what, p.topic, p.partition,
                                     missing ? ": the broker does not know it; was the topic "
                                               "deleted while the application ran?"
                                             : ""));
    }
  }
}

}  // namespace streamframe::kafka
