// The test broker itself: STREAMFRAME_TEST_BROKERS points at a reachable Kafka. Uses the
// librdkafka C API directly so it depends on nothing but the environment.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>

#include "support/test_env.hpp"

namespace {

TEST(TestBroker, MetadataListsBrokers) {
  REQUIRE_TEST_BROKERS();
  const std::string brokers = *streamframe::test::test_brokers();

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err),
            RD_KAFKA_CONF_OK)
      << err;
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> rk(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err), &rd_kafka_destroy);
  ASSERT_NE(rk, nullptr) << err;

  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t rc = rd_kafka_metadata(rk.get(), 1, nullptr, &md, 10000);
  ASSERT_EQ(rc, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(rc) << " from " << brokers;
  EXPECT_GE(md->broker_cnt, 1);
  rd_kafka_metadata_destroy(md);
}

TEST(TestBroker, UniqueNamesDiffer) {
  const std::string a = streamframe::test::unique_name("topic");
  const std::string b = streamframe::test::unique_name("topic");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("topic-", 0), 0u);
}

}  // namespace
