#include "kafka/types.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "kafka/error.hpp"
#include "kafka/logging.hpp"

namespace streamframe::kafka {

void destroy_bounded(rd_kafka_t* rk) noexcept {
  constexpr std::chrono::seconds kWait{10};
  try {
    std::packaged_task<void()> destroy([rk] { rd_kafka_destroy(rk); });
    auto done = destroy.get_future();
    std::thread destroyer(std::move(destroy));
    if (done.wait_for(kWait) == std::future_status::ready) {
      destroyer.join();
      return;
    }
    destroyer.detach();
    streamframe_logger()->error(
        "librdkafka did not finish destroying a client within {} s (its broker threads still "
        "wait, as librdkafka 2.0.2 does after a topic the client read was deleted); leaving it "
        "behind",
        kWait.count());
  } catch (...) {
    // No thread to spare: destroy here, as before.
    rd_kafka_destroy(rk);
  }
}

TopicPartitionListPtr to_c_list(const std::vector<TopicPartition>& tps) {
  TopicPartitionListPtr list(
      rd_kafka_topic_partition_list_new(static_cast<int>(std::max<std::size_t>(tps.size(), 1))));
  for (const TopicPartition& tp : tps) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset =
        tp.offset;
  }
  return list;
}

std::vector<TopicPartition> from_c_list(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  out.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    out.push_back(TopicPartition{p.topic, p.partition, p.offset});
  }
  return out;
}

Headers message_headers(const rd_kafka_message_t& m) {
  Headers out;
  message_headers(m, out);
  return out;
}

void message_headers(const rd_kafka_message_t& m, Headers& out) {
  rd_kafka_headers_t* hdrs = nullptr;  // owned by the message
  const rd_kafka_resp_err_t err = rd_kafka_message_headers(&m, &hdrs);
  if (err == RD_KAFKA_RESP_ERR__NOENT) {
    out.clear();
    return;
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    out.clear();
    throw_error(err, fmt::format("reading headers of message at offset {}", m.offset));
  }
  const std::size_t count = rd_kafka_header_cnt(hdrs);
  if (out.size() < count) out.resize(count);
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  std::size_t n = 0;
  for (; n < count &&
         rd_kafka_header_get_all(hdrs, n, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
       ++n) {
    auto& [out_name, out_value] = out[n];
    out_name.assign(name);
    // A null value stays null (nullopt), an empty one empty.
    if (value == nullptr) {
      out_value.reset();
    } else if (out_value) {
      out_value->assign(static_cast<const char*>(value), size);
    } else {
      out_value.emplace(static_cast<const char*>(value), size);
    }
  }
  out.resize(n);
}

}  // namespace streamframe::kafka
