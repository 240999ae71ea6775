// The Kafka error codes and special offsets the layers above src/kafka test for, with
// librdkafka's values (checked against its header in error.cpp), so that code above the Kafka
// layer never includes librdkafka. KafkaError::code() holds these values.
#pragma once

#include <cstdint>
#include <string>

namespace streamframe::kafka {

namespace code {
inline constexpr int no_error = 0;
inline constexpr int transport = -195;         // a broker connection failed
inline constexpr int resolve = -193;           // a broker name did not resolve
inline constexpr int all_brokers_down = -187;  // no broker connection is up
inline constexpr int timed_out = -185;         // a local timeout ran out
inline constexpr int purge_queue = -152;       // purged before it was sent
inline constexpr int purge_inflight = -151;    // purged while in flight
}  // namespace code

// "No offset": no committed offset, unknown position.
inline constexpr std::int64_t offset_invalid = -1001;

// An offset commit refused because the group moved on without this member: its session
// expired (UNKNOWN_MEMBER_ID), a newer generation exists (ILLEGAL_GENERATION) or a rebalance
// is under way (REBALANCE_IN_PROGRESS). Nothing was committed; the member rejoins.
bool is_group_moved_on(int code) noexcept;

// librdkafka's description of `error_code`.
std::string error_text(int error_code);

// A delivery report for a record librdkafka purged from its queues (an aborted transaction's
// records), not a failed delivery.
constexpr bool is_purged(int error_code) noexcept {
  return error_code == code::purge_queue || error_code == code::purge_inflight;
}

}  // namespace streamframe::kafka
