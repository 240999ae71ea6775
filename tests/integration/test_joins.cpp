// Joins (SEMANTICS §9) against the real broker, under exactly-once: the as-of join's right
// side lives in its store's changelog, so a process without local state still finds the
// right values an earlier process stored.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace streamframe::apptest
