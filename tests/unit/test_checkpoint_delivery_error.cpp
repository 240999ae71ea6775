// A record that fails to deliver ends the checkpoint's flush at once: the checkpoint cannot
// succeed any more, so waiting for the rest of its records only delays the error. The flush once
// waited up to flush_timeout (5 minutes by default) for a record that stayed queued: under
// exactly-once, a record for a repartition topic deleted while the application ran held run()
// for minutes after the delivery error of another record had been reported (seen on a real
// broker).
//
// The embedded broker here: the pipeline writes each record to two topics; one topic's
// partitions have no leader, so its records stay queued, and the broker refuses the other's
// produce request with a permanent error.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <string>
#include <thread>

#include "app/access.hpp"
#include "kafka/mock_cluster.hpp"
#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

constexpr std::int16_t kApiProduce = 0;

TEST(CheckpointDeliveryError, AFailedRecordEndsTheFlushWithoutWaitingForTheRest) {
  ApplicationConfig c = test::embedded_config("flush-fail");
  c.commit_interval = 0ms;  // a checkpoint after every message: the failure comes in its flush
  Application app(c);
  const Topic in = app.topic("flush-fail-in");
  const Topic refused = app.topic("flush-fail-refused");
  const Topic stuck = app.topic("flush-fail-stuck");
  auto sdf = app.dataframe(in);
  sdf.to_topic(stuck);
  sdf.to_topic(refused);
  {
    Producer producer = app.get_producer();
    producer.produce(in, Value::object({{"i", 1}}), Value("k"));
    ASSERT_TRUE(producer.flush(10s));
  }
  kafka::MockCluster* cluster = detail::ApplicationAccess::embedded_cluster(app);
  ASSERT_NE(cluster, nullptr);
  // No leader for any partition of `stuck` (the embedded broker's topics have at most 4 here).
  for (int p = 0; p < 4; ++p) {
    (void)rd_kafka_mock_partition_set_leader(cluster->handle(), stuck.name().c_str(), p, -1);
  }
  // The next produce request is the application's for `refused`: refused for good.
  rd_kafka_mock_push_request_errors(cluster->handle(), kApiProduce, 1,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);

  std::promise<std::string> outcome;
  auto ended = outcome.get_future();
  const auto t0 = std::chrono::steady_clock::now();
  std::thread runner([&] {
    try {
      app.run({.timeout = 60s});
      outcome.set_value("run() returned without an error");
    } catch (const std::exception& e) {
      outcome.set_value(e.what());
    }
  });
  const bool stopped = ended.wait_for(30s) == std::future_status::ready;
  if (!stopped) app.stop(true);
  runner.join();
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(stopped) << "run() still waited 30 s after the delivery error";
  const std::string error = ended.get();
  EXPECT_NE(error.find("failed to deliver a message to topic '" + refused.name() + "'"),
            std::string::npos)
      << error;
  // Closing gives the queued record up to 10 s; the flush itself did not wait.
  EXPECT_LT(took, 25s);
}

}  // namespace
}  // namespace streamframe
