#include "kafka/message.hpp"

#include <librdkafka/rdkafka.h>

#include <string>
#include <utility>

#include "kafka/types.hpp"

namespace streamframe::kafka {

Message::Message(Key /*only the Consumer*/, rd_kafka_message_s* raw, HandleRefs* owner,
                 std::string_view topic) noexcept
    : raw_(raw), owner_(owner), topic_(topic), topic_id_(raw->rkt) {
  if (owner_ != nullptr) owner_->add();
  partition_ = raw_->partition;
  offset_ = raw_->offset;
  end_of_partition_ = raw_->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
  if (raw_->err != RD_KAFKA_RESP_ERR_NO_ERROR) return;  // an event, not a record
  key_ = static_cast<const char*>(raw_->key);
  key_size_ = raw_->key_len;
  value_ = static_cast<const char*>(raw_->payload);
  value_size_ = value_ == nullptr ? 0 : raw_->len;
  timestamp_ = message_timestamp(*raw_, &timestamp_type_);
}

Message::~Message() {
  release();
}

Message::Message(Message&& other) noexcept
    : raw_(std::exchange(other.raw_, nullptr)),
      owner_(std::exchange(other.owner_, nullptr)),
      topic_(other.topic_),
      topic_id_(other.topic_id_),
      key_(other.key_),
      value_(other.value_),
      key_size_(other.key_size_),
      value_size_(other.value_size_),
      offset_(other.offset_),
      timestamp_(other.timestamp_),
      partition_(other.partition_),
      timestamp_type_(other.timestamp_type_),
      end_of_partition_(other.end_of_partition_),
      error_(std::move(other.error_)),
      detached_(std::move(other.detached_)) {}

Message& Message::operator=(Message&& other) noexcept {
  if (this == &other) return *this;
  release();
  raw_ = std::exchange(other.raw_, nullptr);
  owner_ = std::exchange(other.owner_, nullptr);
  topic_ = other.topic_;
  topic_id_ = other.topic_id_;
  key_ = other.key_;
  value_ = other.value_;
  key_size_ = other.key_size_;
  value_size_ = other.value_size_;
  offset_ = other.offset_;
  timestamp_ = other.timestamp_;
  partition_ = other.partition_;
  timestamp_type_ = other.timestamp_type_;
  end_of_partition_ = other.end_of_partition_;
  error_ = std::move(other.error_);
  detached_ = std::move(other.detached_);
  return *this;
}

bool Message::detach() noexcept {
  if (raw_ == nullptr || error_ || end_of_partition_) return false;
  try {
    auto d = std::make_unique<Detached>();
    message_headers(*raw_, d->headers);
    d->topic.assign(topic_);
    d->bytes.reserve(key_size_ + value_size_);
    if (key_ != nullptr) d->bytes.append(key_, key_size_);
    if (value_ != nullptr) d->bytes.append(value_, value_size_);
    if (key_ != nullptr) key_ = d->bytes.data();
    if (value_ != nullptr) value_ = d->bytes.data() + key_size_;
    topic_ = d->topic;
    detached_ = std::move(d);
  } catch (...) {
    return false;  // unparsable headers, or no memory: the message stays as it was
  }
  release();
  return true;
}

void Message::release() noexcept {
  if (raw_ != nullptr) rd_kafka_message_destroy(raw_);
  if (owner_ != nullptr) owner_->release();
  raw_ = nullptr;
  owner_ = nullptr;
}

Headers Message::headers() const {
  Headers out;
  headers(out);
  return out;
}

void Message::headers(Headers& out) const {
  if (raw_ == nullptr) {
    if (detached_) {
      out = detached_->headers;
    } else {
      out.clear();
    }
    return;
  }
  message_headers(*raw_, out);
}

std::optional<std::string_view> Message::last_header(const char* name) const noexcept {
  if (raw_ == nullptr) {
    if (!detached_) return std::nullopt;
    const auto& headers = detached_->headers;
    for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
      if (it->first == name) {
        if (!it->second) return std::nullopt;
        return std::string_view(*it->second);
      }
    }
    return std::nullopt;
  }
  rd_kafka_headers_t* headers = nullptr;  // owned by the message
  if (rd_kafka_message_headers(raw_, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* value = nullptr;
  std::size_t size = 0;
  if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return std::nullopt;
  }
  return std::string_view(static_cast<const char*>(value), size);
}

}  // namespace streamframe::kafka
