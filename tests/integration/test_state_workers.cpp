// num_workers (EXT-06) against the real broker: N worker threads in one group give the same
// state as one, and an error in one worker stops all of them with the others' work committed.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

namespace fs = std::filesystem;

struct WorkersFixture : ::testing::Test {
  void SetUp() override {
    REQUIRE_TEST_BROKERS();
    input = streamframe::test::unique_name("wk-in");
    group = streamframe::test::unique_name("wk-grp");
    create_topic(input, 4);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(fs::path(::testing::TempDir()) / group, ec);
  }
  ApplicationConfig config(int workers) const {
    ApplicationConfig c = base_config(group);
    c.state_dir = (fs::path(::testing::TempDir()) / group).string();
    c.num_workers = workers;
    c.commit_interval = 200ms;
    c.loglevel = "ERROR";
    return c;
  }
  void produce(Application& app, const Topic& in, int n) {
    Producer p = app.get_producer();
    for (int i = 0; i < n; ++i) {
      p.produce(in, Value::object({{"i", i}}), Value("key-" + std::to_string(i % 16)));
    }
    ASSERT_TRUE(p.flush(30s));
  }
  std::string input;
  std::string group;
};

StreamingDataFrame count_per_key(Application& app, const Topic& in) {
  return app.dataframe(in).apply([](const Value& v, State& state) {
    const auto n = state.get("n", Value(0)).as_int() + 1;
    state.set("n", Value(n));
    return Value::object({{"i", v["i"]}, {"n", n}});
  });
}

TEST_F(WorkersFixture, TwoWorkersCountLikeOne) {
  Application app(config(2));
  const Topic in = app.topic(input);
  count_per_key(app, in);
  produce(app, in, 1600);
  const auto out = app.run({.timeout = 20s, .count = 1600});
  ASSERT_EQ(out.size(), 1600u);
  // Per key, counts are 1..100 in input order: every key was handled by exactly one worker.
  std::map<std::int64_t, std::int64_t> max_per_key;
  for (const auto& r : out) {
    auto& m = max_per_key[r["i"].as_int() % 16];
    m = std::max(m, r["n"].as_int());
  }
  EXPECT_EQ(max_per_key.size(), 16u);
  for (const auto& [key, n] : max_per_key) EXPECT_EQ(n, 100) << "key " << key;
  for (int p = 0; p < 4; ++p) EXPECT_GT(committed_offset(group, input, p), 0) << p;
}

TEST_F(WorkersFixture, AnErrorInOneWorkerStopsAllAndRunRethrowsIt) {
  Application app(config(2));
  const Topic in = app.topic(input);
  app.dataframe(in).apply([](const Value& v, State& state) {
    if (v["i"] == Value(777)) throw ValueTypeError("record 777 is bad");
    state.set("last", v["i"]);
    return v;
  });
  produce(app, in, 1600);
  const auto e = expect_throw<ValueTypeError>([&] { app.run({.timeout = 20s, .count = 1600}); });
  ASSERT_TRUE(e);
  EXPECT_NE(std::string(e->what()).find("record 777 is bad"), std::string::npos);
  // The failing record's partition did not commit past it.
  const int bad_partition = java_partition("key-" + std::to_string(777 % 16), 4);
  const auto committed = committed_offset(group, input, bad_partition);
  std::int64_t bad_offset = -1;
  {
    const auto msgs = read_topic(input);
    for (const auto& m : msgs) {
      if (m.partition == bad_partition && m.value &&
          Value::from_json(*m.value)["i"] == Value(777)) {
        bad_offset = m.offset;
      }
    }
  }
  ASSERT_GE(bad_offset, 0);
  EXPECT_LE(committed, bad_offset);
  // The other worker stopped gracefully and committed what it processed.
  int committed_partitions = 0;
  for (int p = 0; p < 4; ++p) committed_partitions += committed_offset(group, input, p) > 0;
  EXPECT_GE(committed_partitions, 1);
}

}  // namespace
}  // namespace streamframe::apptest
