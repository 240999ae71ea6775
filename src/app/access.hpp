// What the library's own tests and TestDriver may reach inside an Application (not installed,
// not API).
#pragma once

#include <vector>

#include "kafka/mock_cluster.hpp"
#include "streamframe/application.hpp"
#include "streamframe/dataframe.hpp"

namespace streamframe::detail {

struct ApplicationAccess {
  // The embedded broker (broker_address "embedded"), e.g. to inject request errors; null
  // otherwise.
  static kafka::MockCluster* embedded_cluster(Application& app);
  // One frame of each input topic's pipeline declared on `app` (what TestDriver(app) runs).
  static std::vector<StreamingDataFrame> frames(Application& app);
};

}  // namespace streamframe::detail
