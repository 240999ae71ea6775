// concat (SDF-13) of two topics against the real broker, under exactly-once: the records of
// both, merged, re-keyed through one repartition topic and counted per new key; every running
// count exactly once, read read_committed.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

namespace fs = std::filesystem;

TEST(ConcatTopics, TwoTopicsMergeAndCountPerNewKeyExactlyOnce) {
  REQUIRE_TEST_BROKERS();
  const std::string eu = streamframe::test::unique_name("cc-eu");
  const std::string us = streamframe::test::unique_name("cc-us");
  const std::string output = streamframe::test::unique_name("cc-out");
  const std::string group = streamframe::test::unique_name("cc-grp");
  const fs::path state = fs::path(::testing::TempDir()) / streamframe::test::unique_name("cc-st");
  // Partition counts differ: nothing before the re-key needs the topics co-partitioned.
  create_topic(eu, 2);
  create_topic(us, 3);
  create_topic(output, 1);
  std::map<std::string, int> expected;
  int total = 0;
  for (const auto& [topic, n, partitions] : {std::tuple{eu, 200, 2}, std::tuple{us, 300, 3}}) {
    std::vector<std::vector<RawRecord>> by_partition(static_cast<std::size_t>(partitions));
    for (int i = 0; i < n; ++i) {
      const std::string customer = "c-" + std::to_string((i * 7 + n) % 5);
      ++expected[customer];
      by_partition[static_cast<std::size_t>(i % partitions)].push_back(
          RawRecord{"order-" + std::to_string(i), R"({"customer":")" + customer + R"("})", 0, {}});
    }
    for (int p = 0; p < partitions; ++p) {
      produce_raw(topic, by_partition[static_cast<std::size_t>(p)], p);
    }
    total += n;
  }

  ApplicationConfig cfg = base_config(group);
  cfg.state_dir = state.string();
  cfg.commit_interval = 200ms;
  cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
  Application app(cfg);
  auto eu_orders = app.dataframe(app.topic(eu));
  auto us_orders = app.dataframe(app.topic(us));
  const Topic out = app.topic(output, {.key_serializer = "json"});
  eu_orders.concat(us_orders)
      .group_by("customer", {.config = TopicConfig{.num_partitions = 2}})
      .aggregate({{"orders", agg::count()}})
      .to_topic(out);
  ASSERT_EQ(app.run({.timeout = 60s, .count = static_cast<std::size_t>(total)}).size(),
            static_cast<std::size_t>(total));

  ASSERT_NO_FATAL_FAILURE(expect_running_counts(output, "orders", expected));
  // The merged stream's id is both topics' names, sorted (TOP-14).
  const std::string merged = eu < us ? eu + "--" + us : us + "--" + eu;
  EXPECT_EQ(partition_count("repartition__" + group + "--" + merged + "--customer"), 2);
  std::error_code ec;
  fs::remove_all(state, ec);
}

}  // namespace
}  // namespace streamframe::apptest
