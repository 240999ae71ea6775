// What the library's own tests may reach inside an Application (not installed, not API).
#pragma once

#include "kafka/mock_cluster.hpp"
#include "streamframe/application.hpp"

namespace streamframe::detail {

struct ApplicationAccess {
  // The embedded broker (broker_address "embedded"), e.g. to inject request errors; null
  // otherwise.
  static kafka::MockCluster* embedded_cluster(Application& app);
};

}  // namespace streamframe::detail
