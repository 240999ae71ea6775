// Waiting until a topic created a moment ago is usable from every broker of a cluster.
//
// In a KRaft cluster each broker learns a new topic from the controller's metadata log a
// little after CreateTopics returns. A client that asks a broker still behind is told the
// topic does not exist, and librdkafka keeps that answer in its cache: a consumer subscribed
// then gets no partitions of it until its next periodic refresh (5 minutes by default), a
// producer fails records for an "unknown partition", a watermark query fails. Tests create
// their topics and use them at once, so they wait here until every broker lists them.
//
// Written against librdkafka's C API directly, sharing no code with the library under test.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace streamframe::test {

namespace topic_ready_detail {

using Handle = std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)>;

// A client that knows only `address` at first: its metadata requests go to that broker, the
// only one it is connected to, until it has learnt and connected to the others.
inline Handle client_of(const std::string& address) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", address.c_str(), err, sizeof err) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("topic_ready config: ") + err);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("topic_ready: rd_kafka_new: ") + err);
  }
  return Handle(rk, &rd_kafka_destroy);
}

// Whether the broker `rk` asks lists `topic` with `partitions` partitions (any count > 0 when
// partitions <= 0), each with a leader.
inline bool lists(rd_kafka_t* rk, const std::string& topic, int partitions) {
  std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
      rd_kafka_topic_new(rk, topic.c_str(), nullptr), &rd_kafka_topic_destroy);
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 0, rkt.get(), &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  bool ok = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topics[0].partition_cnt > 0 &&
            (partitions <= 0 || md->topics[0].partition_cnt == partitions);
  for (int p = 0; ok && p < md->topics[0].partition_cnt; ++p) {
    ok = md->topics[0].partitions[p].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
         md->topics[0].partitions[p].leader >= 0;
  }
  rd_kafka_metadata_destroy(md);
  return ok;
}

}  // namespace topic_ready_detail

// Waits until each broker in `brokers` (comma-separated bootstrap list) lists every topic of
// `topics` with `partitions` partitions (<= 0: any), each with a leader. Throws
// std::runtime_error naming the topic and broker after `timeout`.
inline void wait_until_every_broker_lists(
    const std::string& brokers, const std::vector<std::string>& topics, int partitions,
    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  std::vector<std::string> addresses;
  std::stringstream list(brokers);
  for (std::string a; std::getline(list, a, ',');) {
    if (!a.empty()) addresses.push_back(a);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto& address : addresses) {
    auto rk = topic_ready_detail::client_of(address);
    for (const auto& topic : topics) {
      while (!topic_ready_detail::lists(rk.get(), topic, partitions)) {
        if (std::chrono::steady_clock::now() >= deadline) {
          throw std::runtime_error("broker " + address + " does not list topic '" + topic +
                                   "' with its partitions and leaders after " +
                                   std::to_string(timeout.count()) + " ms");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
}

}  // namespace streamframe::test
