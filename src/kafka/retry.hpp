// Retrying a Kafka request whose error librdkafka reports as retriable (leader elections,
// coordinator moves, timeouts), within a time budget.
#pragma once

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/logging.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::kafka {

// Calls f() until it returns without a retriable KafkaError or `budget` has passed (then the
// last error is rethrown). Backs off 200 ms, doubling up to 2 s.
template <class F>
auto with_retries(F&& f, std::chrono::milliseconds budget, const char* what) -> decltype(f()) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  auto backoff = std::chrono::milliseconds(200);
  for (;;) {
    try {
      return f();
    } catch (const KafkaError& e) {
      if (!e.retriable() || e.fatal() || std::chrono::steady_clock::now() + backoff >= deadline) {
        throw;
      }
      detail::logger()->warn("{} failed, retrying in {} ms: {}", what, backoff.count(), e.what());
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }
}

}  // namespace streamframe::kafka
