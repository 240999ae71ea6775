// Turning librdkafka errors into streamframe::KafkaError.
#pragma once

#include <librdkafka/rdkafka.h>

#include <string_view>

#include "kafka/codes.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::kafka {

// Codes that are worth retrying (timeouts, transport, coordinator moves). librdkafka only
// flags retriability on rd_kafka_error_t objects; plain codes are classified here.
bool is_retriable(rd_kafka_resp_err_t err) noexcept;

// "<what>: <rd_kafka_err2str(err)>". With `rk` given and err == RD_KAFKA_RESP_ERR__FATAL, the
// instance's underlying fatal error (rd_kafka_fatal_error) is reported and marked fatal.
KafkaError make_error(rd_kafka_resp_err_t err, std::string_view what, rd_kafka_t* rk = nullptr);

// Same from an rd_kafka_error_t, keeping its retriable / fatal / txn_requires_abort flags.
KafkaError make_error(const rd_kafka_error_t* err, std::string_view what);

[[noreturn]] void throw_error(rd_kafka_resp_err_t err, std::string_view what,
                              rd_kafka_t* rk = nullptr);
[[noreturn]] void throw_error(const rd_kafka_error_t* err, std::string_view what);

// Throws the first per-partition error of `list` (if any), naming the partition.
void check_partition_errors(const rd_kafka_topic_partition_list_t* list, std::string_view what);

}  // namespace streamframe::kafka
