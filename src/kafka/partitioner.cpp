#include "kafka/partitioner.hpp"

#include <librdkafka/rdkafka.h>

namespace streamframe::kafka {

std::int32_t partition_for_key(std::optional<std::string_view> key, std::int32_t partitions) {
  // The murmur2 partitioner reads neither the topic nor the opaques.
  return rd_kafka_msg_partitioner_murmur2(nullptr, key ? key->data() : nullptr,
                                          key ? key->size() : 0, partitions, nullptr, nullptr);
}

}  // namespace streamframe::kafka
