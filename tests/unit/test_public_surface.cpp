// Public API that had no test of its own, where no broker is needed to prove the point:
// producer_poll_timeout validation (§1). The Kafka side of the same features is in
// tests/integration/test_app_surface.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "dataframe/graph.hpp"
#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// producer_poll_timeout (§1, APP-11..16): validated at construction.

TEST(ProducerPollTimeout, DefaultsToZeroAndNegativeIsAConfigError) {
  EXPECT_EQ(ApplicationConfig{}.producer_poll_timeout, 0ms);
  auto cfg = test::embedded_config("ppt");
  cfg.producer_poll_timeout = -1ms;
  try {
    Application app(cfg);
    FAIL() << "a negative producer_poll_timeout was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("producer_poll_timeout"), std::string::npos) << e.what();
  }
  cfg.producer_poll_timeout = 250ms;
  Application app(cfg);
  EXPECT_EQ(app.config().producer_poll_timeout, 250ms);
}

}  // namespace
}  // namespace streamframe
