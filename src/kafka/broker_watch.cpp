#include "kafka/broker_watch.hpp"

#include <algorithm>
#include <string>

#include "kafka/codes.hpp"
#include "kafka/logging.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::kafka {

std::chrono::milliseconds BrokerWatch::attempt_timeout(
    std::chrono::milliseconds budget) const noexcept {
  return down() ? std::min(budget, std::chrono::milliseconds(1000)) : budget;
}

void BrokerWatch::check() {
  if (timeout_.count() <= 0 || consumer_->closed()) return;
  const auto now = Clock::now();
  // Either client may be the first to notice: a checkpoint flushing the producer does not
  // poll the consumer.
  std::string reason;
  bool reported_down = false;
  for (const auto& e : consumer_->take_client_errors()) {
    if (e.code == code::all_brokers_down) {
      reported_down = true;
      reason = e.reason;
    }
  }
  if (producer_->take_all_brokers_down()) reported_down = true;
  if (reported_down && !down_since_) {
    // A client that was not polled during an outage (the consumer while a checkpoint waits
    // on the producer) hands over its report only after the outage ended: a broker that
    // answers now makes the report out of date.
    if (consumer_->probe_brokers(std::chrono::milliseconds(500)) == code::no_error) {
      streamframe_logger()->debug(
          "ignoring an out-of-date report that all Kafka brokers are "
          "down{}{}",
          reason.empty() ? "" : ": ", reason);
      return;
    }
    down_since_ = now;
    last_probe_ = Clock::now();
    streamframe_logger()->warn("all Kafka brokers are down{}{}", reason.empty() ? "" : ": ",
                               reason);
  }
  if (!down_since_ || now - last_probe_ < std::chrono::seconds(1)) return;
  // During an outage, a metadata request once a second: any broker that answers ends it, so
  // the next outage is timed from its own start (APP-15).
  last_probe_ = now;
  const bool timed_out = now - *down_since_ >= timeout_;
  const int err = consumer_->probe_brokers(timed_out ? std::chrono::milliseconds(2000)
                                                     : std::chrono::milliseconds(500));
  if (err == code::no_error) {
    streamframe_logger()->info("Kafka brokers are reachable again after {:.1f} s",
                               std::chrono::duration<double>(Clock::now() - *down_since_).count());
    down_since_.reset();
    return;
  }
  if (!timed_out) return;
  unavailable_ = true;
  throw KafkaBrokerUnavailableError(err,
                                    "all Kafka brokers have been unavailable for more than " +
                                        std::to_string(timeout_.count()) +
                                        " ms (broker_availability_timeout): " + error_text(err),
                                    true, false);
}

}  // namespace streamframe::kafka
