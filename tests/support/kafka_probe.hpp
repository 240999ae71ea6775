// An outside observer of a Kafka cluster for process-level tests, written directly against
// librdkafka's C API so it shares no code with the library under test: end offsets, a
// group's committed offsets, and reading a whole topic. Errors throw std::runtime_error.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace streamframe::test {

struct ProbedMessage {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t timestamp = -1;
  // nullopt = a header whose value is null (Kafka tells it from an empty value).
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
};

class KafkaProbe {
 public:
  // A consumer-type handle in `group` that never joins it (no subscribe): committed() reads
  // that group's offsets, read_all() uses manual assignment. Empty group => a private one.
  explicit KafkaProbe(const std::string& brokers, std::string group = {}) : brokers_(brokers) {
    if (group.empty())
      group = "streamframe-probe-" + std::to_string(reinterpret_cast<std::uintptr_t>(this));
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const char* k, const std::string& v) {
      if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error(std::string("KafkaProbe config ") + k + ": " + err);
      }
    };
    set("bootstrap.servers", brokers);
    set("group.id", group);
    set("enable.auto.commit", "false");
    set("enable.auto.offset.store", "false");
    set("auto.offset.reset", "earliest");
    set("enable.partition.eof", "false");
    set("isolation.level", "read_uncommitted");
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("KafkaProbe: rd_kafka_new: ") + err);
    }
    rk_.reset(rk);
    rd_kafka_poll_set_consumer(rk);
  }

  int partition_count(const std::string& topic,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
        rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr), &rd_kafka_topic_destroy);
    const rd_kafka_metadata_t* md = nullptr;
    const auto rc =
        rd_kafka_metadata(rk_.get(), 0, rkt.get(), &md, static_cast<int>(timeout.count()));
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("metadata of '" + topic + "': " + rd_kafka_err2str(rc));
    }
    std::unique_ptr<const rd_kafka_metadata_t, decltype(&rd_kafka_metadata_destroy)> holder(
        md, &rd_kafka_metadata_destroy);
    if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error(
          "metadata of '" + topic +
          "': " + (md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "no topic"));
    }
    return md->topics[0].partition_cnt;
  }

  // Partition count from a named metadata request (which also refreshes librdkafka's cache of
  // the topic); 0 when the request fails or the topic is not listed.
  int partition_count_or_zero(const std::string& topic) {
    std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
        rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr), &rd_kafka_topic_destroy);
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk_.get(), 0, rkt.get(), &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return 0;
    }
    const int n = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR
                      ? md->topics[0].partition_cnt
                      : 0;
    rd_kafka_metadata_destroy(md);
    return n;
  }

  // High watermark (end offset) of each partition 0..partitions-1.
  std::vector<std::int64_t> end_offsets(
      const std::string& topic, int partitions,
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::vector<std::int64_t> ends;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int p = 0; p < partitions; ++p) {
      std::int64_t low = -1, high = -1;
      rd_kafka_resp_err_t rc;
      // A topic created a moment ago may have no leader yet: wait for it within the timeout.
      while (true) {
        rc = rd_kafka_query_watermark_offsets(rk_.get(), topic.c_str(), p, &low, &high,
                                              static_cast<int>(timeout.count()));
        const bool no_leader_yet = rc == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                                   rc == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                                   rc == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                                   // the broker that answered metadata has not caught up
                                   rc == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                                   rc == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        if (!no_leader_yet || std::chrono::steady_clock::now() >= deadline) break;
        // librdkafka keeps what its cache says about the topic (unknown, no such partition,
        // an old leader) until a metadata refresh: ask for the topic by name.
        partition_count_or_zero(topic);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("watermarks of '" + topic + "' [" + std::to_string(p) +
                                 "]: " + rd_kafka_err2str(rc));
      }
      ends.push_back(high);
    }
    return ends;
  }

  // Last stable offset of each partition (ListOffsets with read_committed): the first offset
  // of the oldest transaction still open, or the end offset when none is open.
  std::vector<std::int64_t> stable_end_offsets(
      const std::string& topic, int partitions,
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    if (!committed_rk_) {
      char err[512];
      rd_kafka_conf_t* conf = rd_kafka_conf_new();
      if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers_.c_str(), err, sizeof err) !=
              RD_KAFKA_CONF_OK ||
          rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof err) !=
              RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error(std::string("KafkaProbe read_committed config: ") + err);
      }
      rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
      if (rk == nullptr) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error(std::string("KafkaProbe: rd_kafka_new: ") + err);
      }
      committed_rk_.reset(rk);
    }
    std::vector<std::int64_t> out;
    for (int p = 0; p < partitions; ++p) {
      std::int64_t low = -1, high = -1;
      const auto rc = rd_kafka_query_watermark_offsets(committed_rk_.get(), topic.c_str(), p, &low,
                                                       &high, static_cast<int>(timeout.count()));
      if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("last stable offsets of '" + topic + "' [" + std::to_string(p) +
                                 "]: " + rd_kafka_err2str(rc));
      }
      out.push_back(high);
    }
    return out;
  }

  // Names of the cluster's topics that start with `prefix`.
  std::vector<std::string> topics_with_prefix(
      const std::string& prefix, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const rd_kafka_metadata_t* md = nullptr;
    const auto rc =
        rd_kafka_metadata(rk_.get(), 1, nullptr, &md, static_cast<int>(timeout.count()));
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error(std::string("metadata: ") + rd_kafka_err2str(rc));
    }
    std::unique_ptr<const rd_kafka_metadata_t, decltype(&rd_kafka_metadata_destroy)> holder(
        md, &rd_kafka_metadata_destroy);
    std::vector<std::string> out;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const std::string name = md->topics[i].topic;
      if (name.rfind(prefix, 0) == 0) out.push_back(name);
    }
    return out;
  }

  std::int64_t total_end(const std::string& topic, int partitions,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto ends = end_offsets(topic, partitions, timeout);
    return std::accumulate(ends.begin(), ends.end(), std::int64_t{0});
  }

  // The group's committed offsets of `topic` summed over its partitions (a partition without
  // one counts 0): how many inputs the group has committed, for an input fed from offset 0.
  std::int64_t total_committed(const std::string& topic, int partitions) {
    std::int64_t total = 0;
    for (const std::int64_t offset : committed(topic, partitions)) total += offset < 0 ? 0 : offset;
    return total;
  }

  // This probe's group's committed offset of each partition (RD_KAFKA_OFFSET_INVALID, -1001,
  // when the group has committed nothing there).
  std::vector<std::int64_t> committed(
      const std::string& topic, int partitions,
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    decltype(&rd_kafka_topic_partition_list_destroy)>
        list(rd_kafka_topic_partition_list_new(partitions), &rd_kafka_topic_partition_list_destroy);
    for (int p = 0; p < partitions; ++p)
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    const auto rc = rd_kafka_committed(rk_.get(), list.get(), static_cast<int>(timeout.count()));
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("committed offsets of '" + topic + "': " + rd_kafka_err2str(rc));
    }
    std::vector<std::int64_t> out(static_cast<std::size_t>(partitions), RD_KAFKA_OFFSET_INVALID);
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("committed offset of '" + topic + "' [" +
                                 std::to_string(tp.partition) + "]: " + rd_kafka_err2str(tp.err));
      }
      out.at(static_cast<std::size_t>(tp.partition)) = tp.offset;
    }
    return out;
  }

  // Every message of `topic` from the beginning up to the end offsets at the time of the
  // call, partition by partition in offset order.
  std::vector<ProbedMessage> read_all(
      const std::string& topic, int partitions,
      std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto ends = end_offsets(topic, partitions);
    std::vector<std::vector<ProbedMessage>> by_partition(static_cast<std::size_t>(partitions));
    std::vector<std::int64_t> next(static_cast<std::size_t>(partitions), 0);
    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    decltype(&rd_kafka_topic_partition_list_destroy)>
        list(rd_kafka_topic_partition_list_new(partitions), &rd_kafka_topic_partition_list_destroy);
    int remaining = 0;
    for (int p = 0; p < partitions; ++p) {
      if (ends[static_cast<std::size_t>(p)] == 0) continue;
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
      ++remaining;
    }
    if (remaining == 0) return {};
    if (auto rc = rd_kafka_assign(rk_.get(), list.get()); rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("assign '" + topic + "': " + rd_kafka_err2str(rc));
    }
    struct Unassign {
      rd_kafka_t* rk;
      ~Unassign() { rd_kafka_assign(rk, nullptr); }
    } unassign{rk_.get()};
    while (remaining > 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        throw std::runtime_error("read_all('" + topic + "'): timed out with " +
                                 std::to_string(remaining) + " partitions not read to their end");
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 200);
      if (m == nullptr) continue;
      std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)> msg(
          m, &rd_kafka_message_destroy);
      if (m->err) {
        throw std::runtime_error("read_all('" + topic + "'): " + rd_kafka_message_errstr(m));
      }
      const auto p = static_cast<std::size_t>(m->partition);
      if (m->offset >= ends[p]) continue;
      ProbedMessage out;
      out.partition = m->partition;
      out.offset = m->offset;
      if (m->key) out.key.emplace(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) out.value.emplace(static_cast<const char*>(m->payload), m->len);
      out.timestamp = rd_kafka_message_timestamp(m, nullptr);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* val;
        size_t size;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          std::optional<std::string> bytes;
          if (val != nullptr) bytes.emplace(static_cast<const char*>(val), size);
          out.headers.emplace_back(name, std::move(bytes));
        }
      }
      by_partition[p].push_back(std::move(out));
      next[p] = m->offset + 1;
      if (next[p] >= ends[p]) --remaining;
    }
    std::vector<ProbedMessage> all;
    for (auto& part : by_partition) {
      for (auto& msg : part) all.push_back(std::move(msg));
    }
    return all;
  }

  rd_kafka_t* handle() const noexcept { return rk_.get(); }

 private:
  struct Closer {
    void operator()(rd_kafka_t* rk) const noexcept {
      rd_kafka_consumer_close(rk);
      rd_kafka_destroy(rk);
    }
  };
  std::string brokers_;
  std::unique_ptr<rd_kafka_t, Closer> rk_;
  struct Destroyer {
    void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
  };
  std::unique_ptr<rd_kafka_t, Destroyer> committed_rk_;  // read_committed, for stable offsets
};

}  // namespace streamframe::test
