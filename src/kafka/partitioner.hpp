// The partition the producer picks for a key (its "murmur2" partitioner, as Kafka's Java
// clients do), for code that routes records without a producer (TestDriver's internal topics).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace streamframe::kafka {

// `partitions` >= 1. A null key hashes like an empty one (librdkafka's murmur2 partitioner).
std::int32_t partition_for_key(std::optional<std::string_view> key, std::int32_t partitions);

}  // namespace streamframe::kafka
