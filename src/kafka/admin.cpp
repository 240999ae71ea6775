#include "kafka/admin.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <thread>

#include "kafka/error.hpp"
#include "kafka/handles.hpp"
#include "kafka/oauth.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::kafka {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int to_ms(std::chrono::milliseconds timeout) {
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(timeout.count(), 0, INT_MAX));
}

AdminOptionsPtr make_options(rd_kafka_t* rk, rd_kafka_admin_op_t op,
                             std::chrono::milliseconds timeout, bool with_operation_timeout) {
  AdminOptionsPtr options(rd_kafka_AdminOptions_new(rk, op));
  std::array<char, 512> errstr{};
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), to_ms(timeout), errstr.data(),
                                                errstr.size()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw ConfigError(fmt::format("invalid admin request timeout: {}", errstr.data()));
  }
  if (with_operation_timeout &&
      rd_kafka_AdminOptions_set_operation_timeout(options.get(), to_ms(timeout), errstr.data(),
                                                  errstr.size()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw ConfigError(fmt::format("invalid admin operation timeout: {}", errstr.data()));
  }
  return options;
}

}  // namespace

Admin::Admin(const Config& config)
    : bootstrap_(get_option(config, "bootstrap.servers").value_or("")) {
  Config effective = config;
  set_option(effective, "allow.auto.create.topics", "false");
  ConfPtr conf = make_conf(effective);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_error_cb(conf.get(), &Admin::on_error);
  std::array<char, 512> errstr{};
  rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr.data(), errstr.size()));
  if (!rk_) throw ConfigError(fmt::format("cannot create Kafka admin client: {}", errstr.data()));
  (void)conf.release();  // rd_kafka_new took ownership
  token_source_ = adopt_handle(rk_.get(), config);
}

void Admin::on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
  // Authentication and TLS failures do not heal by retrying with the same settings.
  if (err != RD_KAFKA_RESP_ERR__AUTHENTICATION && err != RD_KAFKA_RESP_ERR__SSL) return;
  auto* self = static_cast<Admin*>(opaque);
  std::lock_guard lock(self->refused_mutex_);
  if (self->refused_code_ != 0) return;  // the first one says it
  self->refused_code_ = err;
  self->refused_reason_ =
      reason != nullptr ? reason : rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err));
}

rd_kafka_resp_err_t Admin::metadata_until(bool all_topics, Clock::time_point deadline,
                                          MetadataPtr& out) {
  // In slices: a refused connection (APP-17) ends the wait as soon as it is reported, where
  // one request for the whole timeout would wait it out. A slice fails early while no broker
  // connection is up (transport): the wait as a whole goes on until the deadline, as a single
  // request would. (With no local topics librdkafka 2.0.2 asks for all topics either way; it
  // never asks to create one.)
  while (true) {
    rd_kafka_poll(rk_.get(), 0);  // serves the error callback
    {
      std::lock_guard lock(refused_mutex_);
      if (refused_code_ != 0) return static_cast<rd_kafka_resp_err_t>(refused_code_);
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const rd_kafka_metadata_t* raw = nullptr;
    const rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk_.get(), all_topics ? 1 : 0, nullptr, &raw,
                          to_ms(std::clamp<std::chrono::milliseconds>(left, 1ms, 500ms)));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      out.reset(raw);
      return err;
    }
    if (Clock::now() >= deadline) return err;
    if (err != RD_KAFKA_RESP_ERR__TIMED_OUT) {
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
          100ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())));
    }
  }
}

MetadataPtr Admin::all_topics_metadata(std::chrono::milliseconds timeout, const std::string& what) {
  MetadataPtr metadata;
  if (const rd_kafka_resp_err_t err = metadata_until(true, Clock::now() + timeout, metadata)) {
    throw_if_refused();
    throw_error(err, what, rk_.get());
  }
  return metadata;
}

void Admin::throw_if_refused() const {
  // Error callbacks of a producer-type handle run only inside rd_kafka_poll().
  rd_kafka_poll(rk_.get(), 0);
  if (token_source_) token_source_->throw_if_failed();
  std::lock_guard lock(refused_mutex_);
  if (refused_code_ == 0) return;
  std::string reason = refused_reason_;
  if (refused_code_ == RD_KAFKA_RESP_ERR__SSL) {
    if (const auto certificate = refused_certificate(rk_.get()))
      reason += " (" + *certificate + ")";
  }
  throw KafkaAuthenticationError(
      refused_code_,
      fmt::format("cannot connect to the Kafka cluster at '{}': {} (check the connection's "
                  "security settings: credentials, CA, certificates)",
                  bootstrap_, reason),
      false, true);
}

EventPtr Admin::run(rd_kafka_event_type_t expected, std::chrono::milliseconds timeout,
                    const std::string& what, rd_kafka_queue_t* queue) {
  // librdkafka answers on its own at the request timeout; the extra margin only guards
  // against waiting forever.
  const Clock::time_point deadline = Clock::now() + timeout + std::chrono::seconds(5);
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      throw_if_refused();
      throw_error(RD_KAFKA_RESP_ERR__TIMED_OUT, what);
    }
    EventPtr event{
        rd_kafka_queue_poll(queue, to_ms(std::min<std::chrono::milliseconds>(left, 200ms)))};
    if (!event) {
      throw_if_refused();
      continue;
    }
    if (rd_kafka_event_type(event.get()) != expected) continue;
    if (const rd_kafka_resp_err_t err = rd_kafka_event_error(event.get())) {
      throw KafkaError(err, fmt::format("{}: {}", what, rd_kafka_event_error_string(event.get())),
                       is_retriable(err));
    }
    return event;
  }
}

bool Admin::create_topic(const std::string& name, int partitions, int replication_factor,
                         const std::map<std::string, std::string>& config,
                         std::chrono::milliseconds timeout) {
  const std::string what = fmt::format("creating topic '{}'", name);
  std::array<char, 512> errstr{};
  NewTopicPtr topic(rd_kafka_NewTopic_new(name.c_str(), partitions, replication_factor,
                                          errstr.data(), errstr.size()));
  if (!topic) throw ConfigError(fmt::format("{}: {}", what, errstr.data()));
  for (const auto& [key, value] : config) {
    if (const rd_kafka_resp_err_t err =
            rd_kafka_NewTopic_set_config(topic.get(), key.c_str(), value.c_str())) {
      throw_error(err, fmt::format("{}: setting '{}'", what, key));
    }
  }
  const AdminOptionsPtr options =
      make_options(rk_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout, true);
  const QueuePtr queue(rd_kafka_queue_new(rk_.get()));
  rd_kafka_NewTopic_t* topics[] = {topic.get()};
  rd_kafka_CreateTopics(rk_.get(), topics, 1, options.get(), queue.get());
  const EventPtr event = run(RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout, what, queue.get());

  std::size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count);
  if (count != 1) throw_error(RD_KAFKA_RESP_ERR__BAD_MSG, what + ": unexpected result");
  const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[0]);
  if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return false;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* reason = rd_kafka_topic_result_error_string(results[0]);
    throw KafkaError(err, fmt::format("{}: {}", what, reason ? reason : rd_kafka_err2str(err)),
                     is_retriable(err));
  }
  return true;
}

bool Admin::delete_topic(const std::string& name, std::chrono::milliseconds timeout) {
  const std::string what = fmt::format("deleting topic '{}'", name);
  DeleteTopicPtr topic(rd_kafka_DeleteTopic_new(name.c_str()));
  const AdminOptionsPtr options =
      make_options(rk_.get(), RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout, true);
  const QueuePtr queue(rd_kafka_queue_new(rk_.get()));
  rd_kafka_DeleteTopic_t* topics[] = {topic.get()};
  rd_kafka_DeleteTopics(rk_.get(), topics, 1, options.get(), queue.get());
  const EventPtr event = run(RD_KAFKA_EVENT_DELETETOPICS_RESULT, timeout, what, queue.get());

  std::size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event.get()), &count);
  if (count != 1) throw_error(RD_KAFKA_RESP_ERR__BAD_MSG, what + ": unexpected result");
  const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[0]);
  if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return false;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* reason = rd_kafka_topic_result_error_string(results[0]);
    throw KafkaError(err, fmt::format("{}: {}", what, reason ? reason : rd_kafka_err2str(err)),
                     is_retriable(err));
  }
  return true;
}

std::optional<TopicDescription> Admin::describe_topic(const std::string& name,
                                                      std::chrono::milliseconds timeout) {
  const std::string what = fmt::format("reading metadata of topic '{}'", name);
  // Metadata for ALL topics, then pick ours: a request naming the topic may create it.
  // librdkafka 2.0.2 sends allow.auto.create.topics=false only with Metadata v4+, and the
  // mock cluster speaks Metadata v2 at most, so it auto-creates any named topic (with 4
  // partitions). An all-topics request never creates anything, on any broker.
  const MetadataPtr metadata = all_topics_metadata(timeout, what);
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = metadata->topics[i];
    if (name != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return std::nullopt;
    if (t.partition_cnt > 0) {
      return TopicDescription{t.partition_cnt, t.partitions[0].replica_cnt};
    }
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) throw_error(t.err, what);
    return TopicDescription{0, 0};
  }
  return std::nullopt;
}

std::optional<int> Admin::partition_count(const std::string& name,
                                          std::chrono::milliseconds timeout) {
  if (auto description = describe_topic(name, timeout)) return description->partitions;
  return std::nullopt;
}

bool Admin::topic_exists(const std::string& name, std::chrono::milliseconds timeout) {
  return describe_topic(name, timeout).has_value();
}

std::optional<TopicDescription> Admin::wait_for_topic(const std::string& name,
                                                      std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    const auto left =
        std::max(std::chrono::milliseconds(1),
                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (auto description = describe_topic(name, left); description && description->partitions > 0) {
      return description;
    }
    if (Clock::now() + std::chrono::milliseconds(100) >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::map<std::string, std::string> Admin::topic_config(const std::string& name,
                                                       std::chrono::milliseconds timeout) {
  const std::string what = fmt::format("describing the configuration of topic '{}'", name);
  ConfigResourcePtr resource(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str()));
  const AdminOptionsPtr options =
      make_options(rk_.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout, false);
  const QueuePtr queue(rd_kafka_queue_new(rk_.get()));
  rd_kafka_ConfigResource_t* resources[] = {resource.get()};
  rd_kafka_DescribeConfigs(rk_.get(), resources, 1, options.get(), queue.get());
  const EventPtr event = run(RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout, what, queue.get());

  std::size_t count = 0;
  const rd_kafka_ConfigResource_t** results = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(event.get()), &count);
  if (count != 1) throw_error(RD_KAFKA_RESP_ERR__BAD_MSG, what + ": unexpected result");
  if (const rd_kafka_resp_err_t err = rd_kafka_ConfigResource_error(results[0])) {
    const char* reason = rd_kafka_ConfigResource_error_string(results[0]);
    throw KafkaError(err, fmt::format("{}: {}", what, reason ? reason : rd_kafka_err2str(err)),
                     is_retriable(err));
  }
  std::map<std::string, std::string> out;
  std::size_t entries = 0;
  const rd_kafka_ConfigEntry_t** configs = rd_kafka_ConfigResource_configs(results[0], &entries);
  for (std::size_t i = 0; i < entries; ++i) {
    const char* value = rd_kafka_ConfigEntry_value(configs[i]);
    if (value != nullptr) out.emplace(rd_kafka_ConfigEntry_name(configs[i]), value);
  }
  return out;
}

bool Admin::wait_until_reachable(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    MetadataPtr metadata;
    // A refused connection never becomes reachable: metadata_until says so at once.
    if (metadata_until(false, deadline, metadata) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    if (metadata->broker_cnt > 0) return true;
  }
  return false;
}

std::map<std::string, int> Admin::topics(std::chrono::milliseconds timeout) {
  const MetadataPtr metadata = all_topics_metadata(timeout, "listing the cluster's topics");
  std::map<std::string, int> out;
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = metadata->topics[i];
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR || std::string_view(t.topic).starts_with("__"))
      continue;
    out.emplace(t.topic, t.partition_cnt);
  }
  return out;
}

GroupDescription Admin::describe_group(const std::string& group,
                                       std::chrono::milliseconds timeout) {
  const std::string what = fmt::format("describing consumer group '{}'", group);
  const AdminOptionsPtr options =
      make_options(rk_.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, timeout, false);
  const QueuePtr queue(rd_kafka_queue_new(rk_.get()));
  const char* groups[] = {group.c_str()};
  rd_kafka_DescribeConsumerGroups(rk_.get(), groups, 1, options.get(), queue.get());
  const EventPtr event =
      run(RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, timeout, what, queue.get());
  std::size_t count = 0;
  const rd_kafka_ConsumerGroupDescription_t** results =
      rd_kafka_DescribeConsumerGroups_result_groups(
          rd_kafka_event_DescribeConsumerGroups_result(event.get()), &count);
  if (count != 1) throw_error(RD_KAFKA_RESP_ERR__BAD_MSG, what + ": unexpected result");
  if (const rd_kafka_error_t* error = rd_kafka_ConsumerGroupDescription_error(results[0])) {
    const rd_kafka_resp_err_t err = rd_kafka_error_code(error);
    if (err == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) return {"Dead", 0};
    throw KafkaError(err, fmt::format("{}: {}", what, rd_kafka_error_string(error)),
                     is_retriable(err));
  }
  return {rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(results[0])),
          rd_kafka_ConsumerGroupDescription_member_count(results[0])};
}

namespace {

// The partitions of a group result; a partition's error throws naming it.
std::vector<TopicPartition> group_result_partitions(const rd_kafka_group_result_t* result,
                                                    const std::string& what) {
  if (const rd_kafka_error_t* error = rd_kafka_group_result_error(result)) {
    const rd_kafka_resp_err_t err = rd_kafka_error_code(error);
    throw KafkaError(err, fmt::format("{}: {}", what, rd_kafka_error_string(error)),
                     is_retriable(err));
  }
  std::vector<TopicPartition> out;
  const rd_kafka_topic_partition_list_t* list = rd_kafka_group_result_partitions(result);
  for (int i = 0; list != nullptr && i < list->cnt; ++i) {
    const auto& p = list->elems[i];
    if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw KafkaError(p.err,
                       fmt::format("{}: topic '{}' partition {}: {}", what, p.topic, p.partition,
                                   rd_kafka_err2str(p.err)),
                       is_retriable(p.err));
    }
    out.push_back({p.topic, p.partition, p.offset});
  }
  return out;
}

}  // namespace

std::vector<TopicPartition> Admin::group_offsets(const std::string& group,
                                                 std::chrono::milliseconds timeout) {
  const std::string what = fmt::format("reading the committed offsets of group '{}'", group);
  const AdminOptionsPtr options =
      make_options(rk_.get(), RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout, false);
  const QueuePtr queue(rd_kafka_queue_new(rk_.get()));
  rd_kafka_ListConsumerGroupOffsets_t* request =
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), nullptr);
  rd_kafka_ListConsumerGroupOffsets(rk_.get(), &request, 1, options.get(), queue.get());
  rd_kafka_ListConsumerGroupOffsets_destroy(request);
  const EventPtr event =
      run(RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT, timeout, what, queue.get());
  std::size_t count = 0;
  const rd_kafka_group_result_t** results = rd_kafka_ListConsumerGroupOffsets_result_groups(
      rd_kafka_event_ListConsumerGroupOffsets_result(event.get()), &count);
  if (count != 1) throw_error(RD_KAFKA_RESP_ERR__BAD_MSG, what + ": unexpected result");
  std::vector<TopicPartition> out;
  for (auto& tp : group_result_partitions(results[0], what)) {
    if (tp.offset >= 0) out.push_back(std::move(tp));
  }
  return out;
}

void Admin::alter_group_offsets(const std::string& group,
                                const std::vector<TopicPartition>& offsets,
                                std::chrono::milliseconds timeout) {
  if (offsets.empty()) return;
  const std::string what = fmt::format("setting the committed offsets of group '{}'", group);
  const AdminOptionsPtr options =
      make_options(rk_.get(), RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, timeout, false);
  const QueuePtr queue(rd_kafka_queue_new(rk_.get()));
  const TopicPartitionListPtr list = to_c_list(offsets);
  rd_kafka_AlterConsumerGroupOffsets_t* request =
      rd_kafka_AlterConsumerGroupOffsets_new(group.c_str(), list.get());
  rd_kafka_AlterConsumerGroupOffsets(rk_.get(), &request, 1, options.get(), queue.get());
  rd_kafka_AlterConsumerGroupOffsets_destroy(request);
  const EventPtr event =
      run(RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT, timeout, what, queue.get());
  std::size_t count = 0;
  const rd_kafka_group_result_t** results = rd_kafka_AlterConsumerGroupOffsets_result_groups(
      rd_kafka_event_AlterConsumerGroupOffsets_result(event.get()), &count);
  if (count != 1) throw_error(RD_KAFKA_RESP_ERR__BAD_MSG, what + ": unexpected result");
  (void)group_result_partitions(results[0], what);
}

}  // namespace streamframe::kafka
