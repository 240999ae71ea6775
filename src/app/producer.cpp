#include "streamframe/producer.hpp"

#include <exception>

#include "app/producer_factory.hpp"
#include "kafka/producer.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

class Producer::Impl {
 public:
  explicit Impl(const kafka::Config& config)
      : producer_(config, [this](const kafka::DeliveryReport& r) { on_delivery(r); }) {}

  void on_delivery(const kafka::DeliveryReport& r) {
    if (r.error_code == 0 || first_error_) return;
    first_error_ =
        std::make_exception_ptr(KafkaError(r.error_code, "delivery to '" + std::string(r.topic) +
                                                             "' failed: " + std::string(r.error)));
  }

  void check() {
    if (first_error_) {
      auto e = first_error_;
      first_error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

  kafka::Producer producer_;
  std::exception_ptr first_error_;
  std::string key_buf_;
  std::string value_buf_;
};

Producer::Producer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Producer::Producer(Producer&&) noexcept = default;
Producer& Producer::operator=(Producer&&) noexcept = default;
Producer::~Producer() {
  if (impl_) impl_->producer_.flush(std::chrono::seconds(30));
}

void Producer::produce(std::string_view topic, std::optional<std::string_view> key,
                       std::optional<std::string_view> value, std::int64_t timestamp,
                       const Headers& headers, std::int32_t partition) {
  impl_->producer_.produce(topic, partition, key, value, timestamp,
                           headers.empty() ? nullptr : &headers);
  impl_->producer_.poll(std::chrono::milliseconds(0));
}

void Producer::produce(const Topic& topic, const Value& value, const Value& key,
                       std::int64_t timestamp, const Headers& headers) {
  const auto& def = topic.definition();
  std::optional<std::string_view> k;
  if (!key.is_null()) {
    def.key_serializer->serialize(key, impl_->key_buf_);
    k = impl_->key_buf_;
  }
  std::optional<std::string_view> v;
  if (!value.is_null()) {
    def.value_serializer->serialize(value, impl_->value_buf_);
    v = impl_->value_buf_;
  }
  // TOP-13: as to_topic() does, the value serializer's extra headers follow the record's own.
  const Headers extra = def.value_serializer->extra_headers();
  if (extra.empty()) {
    produce(def.name, k, v, timestamp, headers, -1);
    return;
  }
  Headers all = headers;
  all.insert(all.end(), extra.begin(), extra.end());
  produce(def.name, k, v, timestamp, all, -1);
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  const bool done = impl_->producer_.flush(timeout);
  impl_->check();
  return done;
}

std::uint64_t Producer::delivered() const {
  return impl_->producer_.delivered();
}

}  // namespace streamframe

namespace streamframe::detail {
Producer make_producer(const kafka::Config& config) {
  return Producer(std::make_unique<Producer::Impl>(config));
}
}  // namespace streamframe::detail
