// num_workers (EXT-06) against the real broker: N worker threads in one group give the same
// state as one, and an error in one worker stops all of them with the others' work committed.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

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
  // Both workers must own partitions before the bad record arrives: it is produced once
  // messages were processed on two different threads.
  std::mutex mutex;
  std::set<std::thread::id> threads;
  ApplicationConfig c = config(2);
  c.on_message_processed = [&](const std::string&, std::int32_t, std::int64_t) {
    std::lock_guard lock(mutex);
    threads.insert(std::this_thread::get_id());
  };
  Application app(c);
  const Topic in = app.topic(input);
  (void)app.dataframe(in).apply([](const Value& v, State& state) {
    if (v["i"] == Value(-1)) throw ValueTypeError("record -1 is bad");
    state.set("last", v["i"]);
    return v;
  });
  produce(app, in, 1600);
  const std::string bad_key = "bad";
  std::thread feeder([&] {
    // Keeps records coming (the first worker may take every partition before the second one
    // joins and drain the input) until both workers processed some.
    Producer p = app.get_producer();
    const auto deadline = Clock::now() + 60s;
    int i = 1600;
    while (Clock::now() < deadline) {
      {
        std::lock_guard lock(mutex);
        if (threads.size() == 2) break;
      }
      p.produce(in, Value::object({{"i", i}}), Value("key-" + std::to_string(i % 16)));
      ++i;
      std::this_thread::sleep_for(10ms);
    }
    {
      std::lock_guard lock(mutex);
      EXPECT_EQ(threads.size(), 2u) << "the two workers never both processed messages";
    }
    p.produce(in, Value::object({{"i", -1}}), Value(bad_key));
    EXPECT_TRUE(p.flush(30s));
  });
  const auto e = expect_throw<ValueTypeError>([&] { app.run({.timeout = 60s}); });
  feeder.join();
  ASSERT_TRUE(e);
  EXPECT_NE(std::string(e->what()).find("record -1 is bad"), std::string::npos);
  // The failing record's partition did not commit past it; the other worker stopped
  // gracefully and committed what it processed.
  const int bad_partition = java_partition(bad_key, 4);
  std::int64_t bad_offset = -1;
  for (const auto& m : read_topic(input)) {
    if (m.value && Value::from_json(*m.value)["i"] == Value(-1)) bad_offset = m.offset;
  }
  ASSERT_GE(bad_offset, 0);
  EXPECT_LE(committed_offset(group, input, bad_partition), bad_offset);
  int committed_elsewhere = 0;
  for (int p = 0; p < 4; ++p) {
    if (p != bad_partition) committed_elsewhere += committed_offset(group, input, p) > 0;
  }
  EXPECT_GE(committed_elsewhere, 1);
}

}  // namespace
}  // namespace streamframe::apptest
