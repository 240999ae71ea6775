// Joins (SEMANTICS §9) against the real broker, under exactly-once: the joins' stores live in
// their changelogs, so a process without local state still finds what an earlier process
// stored (the as-of join's right side; both sides of the interval join).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

namespace fs = std::filesystem;

TEST(AsofJoinRecovery, TheRightSideIsRestoredFromItsChangelog) {
  REQUIRE_TEST_BROKERS();
  const std::string customers = streamframe::test::unique_name("aj-cust");
  const std::string orders = streamframe::test::unique_name("aj-ord");
  const std::string group = streamframe::test::unique_name("aj-grp");
  const fs::path state = fs::path(::testing::TempDir()) / streamframe::test::unique_name("aj-st");
  create_topic(customers, 2);
  create_topic(orders, 2);
  ApplicationConfig cfg = base_config(group);
  cfg.state_dir = state.string();
  cfg.commit_interval = 200ms;
  cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
  const auto declare = [&](Application& app) {
    (void)app.dataframe(app.topic(orders))
        .join_asof(app.dataframe(app.topic(customers)), {.how = JoinHow::left});
  };
  {
    Application app(cfg);
    declare(app);
    Producer p = app.get_producer();
    p.produce(app.topic(customers), Value::object({{"tier", "gold"}}), Value("c1"), 1000);
    p.produce(app.topic(customers), Value::object({{"tier", "silver"}}), Value("c2"), 2000);
    p.produce(app.topic(customers), Value::object({{"tier", "platinum"}}), Value("c1"), 3000);
    ASSERT_TRUE(p.flush(30s));
    // Right records emit nothing: the run ends idle, with its final checkpoint.
    EXPECT_TRUE(app.run({.timeout = 3s}).empty());
  }
  const std::string changelog = "changelog__" + group + "--" + customers + "--join";
  EXPECT_EQ(partition_count(changelog), 2);
  EXPECT_FALSE(read_topic(changelog).empty());
  fs::remove_all(state);

  Application app(cfg);
  declare(app);
  {
    Producer p = app.get_producer();
    p.produce(app.topic(orders), Value::object({{"amount", 1}}), Value("c1"), 2500);
    p.produce(app.topic(orders), Value::object({{"amount", 2}}), Value("c1"), 3500);
    p.produce(app.topic(orders), Value::object({{"amount", 3}}), Value("c2"), 2500);
    p.produce(app.topic(orders), Value::object({{"amount", 4}}), Value("c3"), 2500);
    ASSERT_TRUE(p.flush(30s));
  }
  const auto out = app.run({.timeout = 20s, .count = 4});
  ASSERT_EQ(out.size(), 4u);
  std::map<std::int64_t, std::string> by_amount;
  for (const auto& v : out) by_amount[v["amount"].as_int()] = v.to_json();
  EXPECT_EQ(by_amount[1], R"({"amount":1,"tier":"gold"})");
  EXPECT_EQ(by_amount[2], R"({"amount":2,"tier":"platinum"})");
  EXPECT_EQ(by_amount[3], R"({"amount":3,"tier":"silver"})");
  EXPECT_EQ(by_amount[4], R"({"amount":4})") << "a left join without a match keeps the left value";
  fs::remove_all(state);
}

// Both sides of an interval join are stored; a process without local state pairs new records
// of either side with what the first process stored, read back from the two changelogs.
TEST(IntervalJoinRecovery, BothSidesAreRestoredFromTheirChangelogs) {
  REQUIRE_TEST_BROKERS();
  const std::string left = streamframe::test::unique_name("ij-l");
  const std::string right = streamframe::test::unique_name("ij-r");
  const std::string group = streamframe::test::unique_name("ij-grp");
  const fs::path state = fs::path(::testing::TempDir()) / streamframe::test::unique_name("ij-st");
  create_topic(left, 2);
  create_topic(right, 2);
  ApplicationConfig cfg = base_config(group);
  cfg.state_dir = state.string();
  cfg.commit_interval = 200ms;
  cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
  const auto declare = [&](Application& app) {
    (void)app.dataframe(app.topic(left))
        .join_interval(app.dataframe(app.topic(right)), {.backward = 100ms, .forward = 100ms});
  };
  {
    Application app(cfg);
    declare(app);
    Producer p = app.get_producer();
    p.produce(app.topic(left), Value::object({{"l", 1}}), Value("k1"), 1000);
    p.produce(app.topic(right), Value::object({{"r", 1}}), Value("k2"), 1000);
    ASSERT_TRUE(p.flush(30s));
    EXPECT_TRUE(app.run({.timeout = 3s}).empty());  // nothing pairs yet
  }
  EXPECT_FALSE(read_topic("changelog__" + group + "--" + left + "--join").empty());
  EXPECT_FALSE(read_topic("changelog__" + group + "--" + right + "--join").empty());
  fs::remove_all(state);

  Application app(cfg);
  declare(app);
  {
    Producer p = app.get_producer();
    p.produce(app.topic(right), Value::object({{"r", 2}}), Value("k1"), 1050);  // finds l1
    p.produce(app.topic(left), Value::object({{"l", 2}}), Value("k2"), 1080);   // finds r1
    ASSERT_TRUE(p.flush(30s));
  }
  const auto out = app.run({.timeout = 20s, .count = 2});
  ASSERT_EQ(out.size(), 2u);
  std::vector<std::string> got{out[0].to_json(), out[1].to_json()};
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{R"({"l":1,"r":2})", R"({"l":2,"r":1})"}));
  fs::remove_all(state);
}

}  // namespace
}  // namespace streamframe::apptest
