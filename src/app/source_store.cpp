#include "app/source_store.hpp"

#include <fmt/format.h>

#include "core/logging.hpp"
#include "kafka/codes.hpp"
#include "kafka/consumer.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {

SourceStore::SourceStore(std::string changelog, kafka::Config consumer_config)
    : changelog_(std::move(changelog)), consumer_config_(std::move(consumer_config)) {
  kafka::set_option(consumer_config_, "enable.auto.commit", "false");
  kafka::set_option(consumer_config_, "enable.auto.offset.store", "false");
  kafka::set_option(consumer_config_, "enable.partition.eof", "true");
  kafka::set_option(consumer_config_, "auto.offset.reset", "earliest");
  kafka::set_option(consumer_config_, "fetch.wait.max.ms", "50");
}

void SourceStore::restore(std::chrono::milliseconds timeout) {
  values_.clear();
  changed_.clear();
  kafka::Consumer consumer(consumer_config_);
  consumer.assign({{changelog_, 0, RD_KAFKA_OFFSET_BEGINNING}});
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<kafka::Message> batch;
  std::size_t records = 0;
  for (bool at_end = false; !at_end;) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw KafkaError(kafka::code::timed_out,
                       fmt::format("restoring the state of '{}': its end was not reached within "
                                   "{} ms ({} records read)",
                                   changelog_, timeout.count(), records),
                       true, false);
    }
    batch.clear();
    consumer.poll_batch(batch, 1024, std::chrono::milliseconds(100));
    for (const auto& m : batch) {
      m.throw_if_error();
      if (m.end_of_partition()) {
        at_end = true;
        break;
      }
      ++records;
      const std::string key(m.key().value_or(""));
      if (!m.value()) {
        values_.erase(key);
        continue;
      }
      try {
        values_[key] = Value::from_json(*m.value());
      } catch (const std::exception& e) {
        throw SerializationError(fmt::format("state changelog '{}' offset {}: not JSON: {}",
                                             changelog_, m.offset(), e.what()));
      }
    }
  }
  logger()->info("restored the state of '{}': {} keys from {} records", changelog_, values_.size(),
                 records);
}

Value SourceStore::get(const Value& key, Value default_value) const {
  auto it = values_.find(key.to_json());
  return it == values_.end() ? std::move(default_value) : it->second;
}

void SourceStore::set(const Value& key, const Value& value) {
  std::string k = key.to_json();
  values_[k] = value;
  changed_.insert(std::move(k));
}

void SourceStore::remove(const Value& key) {
  std::string k = key.to_json();
  values_.erase(k);
  changed_.insert(std::move(k));
}

bool SourceStore::exists(const Value& key) const {
  return values_.count(key.to_json()) > 0;
}

std::vector<std::pair<std::string, std::optional<std::string>>> SourceStore::take_changes() {
  std::vector<std::pair<std::string, std::optional<std::string>>> out;
  out.reserve(changed_.size());
  for (const auto& k : changed_) {
    auto it = values_.find(k);
    out.emplace_back(
        k, it == values_.end() ? std::nullopt : std::optional<std::string>(it->second.to_json()));
  }
  changed_.clear();
  return out;
}

}  // namespace streamframe::detail
