// The configuration unit tests run applications with: the embedded broker, earliest offsets,
// quiet logs (its start-up warning is expected) and no signal handlers.
#pragma once

#include <string>

#include "streamframe/application.hpp"

namespace streamframe::test {

inline ApplicationConfig embedded_config(const std::string& group) {
  ApplicationConfig c;
  c.broker_address = "embedded";
  c.consumer_group = group;
  c.auto_offset_reset = AutoOffsetReset::earliest;
  c.loglevel = "ERROR";
  c.install_signal_handlers = false;
  return c;
}

}  // namespace streamframe::test
