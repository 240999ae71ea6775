// Helpers shared by the Kafka layer tests (unit: mock cluster; integration: real broker).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/consumer.hpp"
#include "kafka/types.hpp"
#include "support/test_env.hpp"

namespace streamframe::kafka::testing {

using ::streamframe::test::unique_name;

// An independent reference of the Java client's murmur2 (org.apache.kafka.common.utils.
// Utils.murmur2), written from the published algorithm: MurmurHash2, seed 0x9747b28c,
// little-endian 4-byte blocks, tail bytes folded in from the highest.
inline std::int32_t java_murmur2(std::string_view data) {
  const auto length = static_cast<std::uint32_t>(data.size());
  const std::uint32_t m = 0x5bd1e995;
  std::uint32_t h = 0x9747b28c ^ length;
  const auto byte = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(data[i]));
  };
  const std::size_t blocks = length / 4;
  for (std::size_t i = 0; i < blocks; ++i) {
    std::uint32_t k =
        byte(4 * i) | (byte(4 * i + 1) << 8) | (byte(4 * i + 2) << 16) | (byte(4 * i + 3) << 24);
    k *= m;
    k ^= k >> 24;
    k *= m;
    h *= m;
    h ^= k;
  }
  const std::size_t tail = length & ~3u;
  switch (length % 4) {
    case 3:
      h ^= byte(tail + 2) << 16;
      [[fallthrough]];
    case 2:
      h ^= byte(tail + 1) << 8;
      [[fallthrough]];
    case 1:
      h ^= byte(tail);
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<std::int32_t>(h);
}

// The Java producer's partition for a non-null key: toPositive(murmur2(key)) % partitions.
inline std::int32_t java_partition(std::string_view key, std::int32_t partitions) {
  return static_cast<std::int32_t>((static_cast<std::uint32_t>(java_murmur2(key)) & 0x7fffffffu) %
                                   static_cast<std::uint32_t>(partitions));
}

// Polls until `n` good messages arrived or `limit` passed; in-band error events are skipped.
inline std::vector<Message> consume(Consumer& consumer, std::size_t n,
                                    std::chrono::milliseconds limit) {
  using Clock = std::chrono::steady_clock;
  std::vector<Message> got;
  std::vector<Message> batch;
  const auto deadline = Clock::now() + limit;
  while (got.size() < n && Clock::now() < deadline) {
    batch.clear();
    consumer.poll_batch(batch, 1000, std::chrono::milliseconds(100));
    for (auto& m : batch) {
      if (!m.end_of_partition()) got.push_back(std::move(m));
    }
  }
  return got;
}

}  // namespace streamframe::kafka::testing
