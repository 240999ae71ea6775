#include "streamframe/consumer.hpp"

#include <utility>

#include "app/consumer_factory.hpp"
#include "kafka/consumer.hpp"
#include "kafka/message.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

class Consumer::Impl {
 public:
  explicit Impl(const kafka::Config& config) : consumer_(config) {}

  kafka::Consumer& open() {
    if (consumer_.closed()) throw InvalidOperation("the consumer is closed");
    return consumer_;
  }

  kafka::Consumer consumer_;
  std::vector<kafka::Message> batch_;  // reused by poll()
};

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Consumer::Consumer(Consumer&&) noexcept = default;
Consumer& Consumer::operator=(Consumer&&) noexcept = default;
Consumer::~Consumer() = default;  // kafka::Consumer's destructor closes, logging a failure

void Consumer::subscribe(const std::vector<std::string>& topics) {
  auto& c = impl_->open();
  // A topic created a moment ago may still be unknown to the broker asked: wait for it briefly
  // so the group join gives its partitions (see kafka::Consumer::await_topics).
  (void)c.await_topics(topics, std::chrono::seconds(5));
  c.subscribe(topics);
}

std::optional<ConsumedMessage> Consumer::poll(std::chrono::milliseconds timeout) {
  auto& c = impl_->open();
  auto& batch = impl_->batch_;
  batch.clear();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (batch.empty()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (c.poll_batch(batch, 1, std::max(left, std::chrono::milliseconds(0))) == 0) {
      if (left.count() <= 0) return std::nullopt;
      continue;
    }
    if (batch.front().end_of_partition()) {  // not a message (enable.partition.eof)
      batch.clear();
      if (left.count() <= 0) return std::nullopt;
    }
  }
  const kafka::Message& m = batch.front();
  m.throw_if_error();
  ConsumedMessage out;
  out.topic = std::string(m.topic());
  out.partition = m.partition();
  out.offset = m.offset();
  if (auto k = m.key()) out.key = std::string(*k);
  if (auto v = m.value()) out.value = std::string(*v);
  out.timestamp = m.timestamp();
  m.headers(out.headers);
  batch.clear();
  return out;
}

void Consumer::store_offsets(const ConsumedMessage& message) {
  impl_->open().store_offsets({{message.topic, message.partition, message.offset + 1}});
}

void Consumer::commit() {
  impl_->open().commit_stored();
}

void Consumer::commit(const ConsumedMessage& message) {
  store_offsets(message);
  commit();
}

std::vector<std::pair<std::string, std::int32_t>> Consumer::assignment() const {
  std::vector<std::pair<std::string, std::int32_t>> out;
  for (const auto& tp : impl_->open().assignment()) out.emplace_back(tp.topic, tp.partition);
  return out;
}

void Consumer::close() {
  impl_->consumer_.close();
}

}  // namespace streamframe

namespace streamframe::detail {
Consumer make_consumer(const kafka::Config& config) {
  return Consumer(std::make_unique<Consumer::Impl>(config));
}
}  // namespace streamframe::detail
