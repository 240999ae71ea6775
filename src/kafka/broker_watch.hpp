// APP-15: notices that every Kafka broker is down, times the outage from its own start, and
// ends the application with KafkaBrokerUnavailableError once it lasts longer than the
// configured timeout. librdkafka reports the moment all brokers are down (from whichever
// client it reaches first), never the moment one is back, so a metadata probe ends an outage.
#pragma once

#include <chrono>
#include <optional>

#include "kafka/consumer.hpp"
#include "kafka/producer.hpp"

namespace streamframe::kafka {

class BrokerWatch {
 public:
  using Clock = std::chrono::steady_clock;

  // `timeout` <= 0 turns the watch off. The clients must outlive the watch.
  BrokerWatch(Consumer& consumer, Producer& producer, std::chrono::milliseconds timeout)
      : consumer_(&consumer), producer_(&producer), timeout_(timeout) {}

  // Takes both clients' reports and, during an outage, probes a broker at most once a
  // second. Throws KafkaBrokerUnavailableError once every broker has been down longer than
  // the timeout.
  void check();
  // An outage is under way that check() will end (the watch is on).
  bool down() const noexcept { return down_since_.has_value() && timeout_.count() > 0; }
  // check() threw: no broker answers, so closing the clients cannot wait for one.
  bool unavailable() const noexcept { return unavailable_; }
  // The timeout for one attempt of a call that waits on a broker: at most 1 s during an
  // outage, so check() ends the wait on time (librdkafka resumes a timed-out transaction
  // call when it is called again).
  std::chrono::milliseconds attempt_timeout(std::chrono::milliseconds budget) const noexcept;

 private:
  Consumer* consumer_;
  Producer* producer_;
  std::chrono::milliseconds timeout_;
  std::optional<Clock::time_point> down_since_;
  Clock::time_point last_probe_;
  bool unavailable_ = false;
};

}  // namespace streamframe::kafka
