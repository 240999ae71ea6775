// A gtest fixture for kafka-layer tests against the real broker: skips without
// STREAMFRAME_TEST_BROKERS, creates uniquely named topics and deletes them afterwards.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kafka/admin.hpp"
#include "kafka/config.hpp"
#include "support/kafka_test_support.hpp"
#include "support/test_env.hpp"
#include "support/topic_ready.hpp"

namespace streamframe::kafka::testing {

class RealBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_BROKERS();
    brokers_ = *streamframe::test::test_brokers();
    admin_ = std::make_unique<Admin>(Config{{"bootstrap.servers", brokers_}});
  }

  void TearDown() override {
    if (!admin_) return;
    for (const std::string& topic : created_) {
      try {
        admin_->delete_topic(topic, std::chrono::seconds(30));
      } catch (const std::exception& e) {
        ADD_FAILURE() << "cleanup of topic " << topic << ": " << e.what();
      }
    }
  }

  std::string make_topic(const std::string& prefix, int partitions = 1,
                         const std::map<std::string, std::string>& config = {}) {
    std::string topic = unique_name(prefix);
    EXPECT_TRUE(admin_->create_topic(topic, partitions, 1, config, std::chrono::seconds(60)));
    created_.push_back(topic);
    streamframe::test::wait_until_every_broker_lists(brokers_, {topic}, partitions);
    return topic;
  }

  // The layer's defaults pointed at the test broker.
  Config base_producer_config() const {
    Config c = default_producer_config();
    c.emplace_back("bootstrap.servers", brokers_);
    return c;
  }
  Config base_consumer_config(const std::string& group) const {
    Config c = default_consumer_config();
    c.emplace_back("bootstrap.servers", brokers_);
    c.emplace_back("group.id", group);
    c.emplace_back("auto.offset.reset", "earliest");
    return c;
  }

  std::string brokers_;
  std::unique_ptr<Admin> admin_;
  std::vector<std::string> created_;
};

}  // namespace streamframe::kafka::testing
