// Bounded state memory (issue 15 item 3): with a cache budget far below what the open windows
// take, cold keys leave memory at checkpoints and are read back from the store by their next
// record, by the partition strategy's closing or by idle closing. The output must be exactly
// what the same records give with everything in memory, for every window family, and the
// caches must end inside the budget.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kBudget = 32 * 1024;

struct Case {
  const char* name;
  std::function<StreamingDataFrame(StreamingDataFrame&)> build;
  bool idle = false;  // advance the clock past the idle timeout at the end
};

struct Result {
  std::vector<std::string> rows;
  std::size_t cache_bytes = 0;
};

// Records of 1500 keys with rising timestamps and some disorder within the grace, the same
// for every run.
Result run(const Case& c, std::size_t budget) {
  Application app(test::embedded_config(std::string("win-mem-") + c.name));
  auto sdf = app.dataframe(app.topic(std::string("win-mem-in-") + c.name));
  auto out = c.build(sdf);
  TestDriver driver(out, {.partitions = 2, .checkpoint_every = 97, .state_cache_budget = budget});
  std::uint64_t x = 12345;
  auto next = [&x] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x >> 33;
  };
  Result r;
  auto take = [&] {
    for (const Row& row : driver.take_rows()) {
      r.rows.push_back(row.key.to_json() + " " + row.value.to_json() + " @" +
                       std::to_string(row.timestamp));
    }
  };
  for (int i = 0; i < 6000; ++i) {
    const std::string key = "key-" + std::to_string(next() % 1500);
    const std::int64_t ts = 1000 + i * 7 - static_cast<std::int64_t>(next() % 40);
    const std::int32_t partition = static_cast<std::int32_t>(next() % 2);
    driver.pipe(partition, key, "{\"x\":" + std::to_string(next() % 100) + "}", ts);
    take();
  }
  driver.checkpoint();
  if (c.idle) {
    driver.advance_clock(10min);
    take();
    driver.checkpoint();
  }
  take();
  // Each cache trims against what the others charged at their last checkpoint, so a cache
  // that grew after the others trimmed leaves the sum over the budget until the next one.
  driver.checkpoint();
  r.cache_bytes = driver.state_cache_bytes();
  return r;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all{
      {"tumbling",
       [](StreamingDataFrame& s) {
         return s.tumbling_window(500ms).agg({{"s", agg::sum("x")}}).final();
       }},
      {"tumbling-current",
       [](StreamingDataFrame& s) {
         return s.tumbling_window(500ms).agg({{"s", agg::sum("x")}}).current();
       }},
      {"tumbling-partition",
       [](StreamingDataFrame& s) {
         return s.tumbling_window(500ms, {.grace = 50ms})
             .agg({{"s", agg::sum("x")}})
             .final({.closing_strategy = ClosingStrategy::partition});
       }},
      {"tumbling-idle",
       [](StreamingDataFrame& s) {
         return s.tumbling_window(2s).count().final({.idle_timeout = 1s});
       },
       true},
      {"hopping-sliced",
       [](StreamingDataFrame& s) {
         return s.hopping_window(2s, 500ms).agg({{"s", agg::sum("x")}}).final();
       }},
      {"hopping-collect",
       [](StreamingDataFrame& s) {
         return s.hopping_window(1s, 500ms).agg({{"xs", agg::collect("x")}}).final();
       }},
      {"sliding",
       [](StreamingDataFrame& s) {
         return s.sliding_window(1s, {.grace = 50ms}).agg({{"m", agg::max("x")}}).final();
       }},
      {"session-collect",
       [](StreamingDataFrame& s) {
         return s.session_window(300ms)
             .agg({{"n", agg::count()}, {"xs", agg::collect("x")}})
             .final({.closing_strategy = ClosingStrategy::partition});
       }},
      {"count-collect",
       [](StreamingDataFrame& s) {
         return s.hopping_count_window(4, 2).agg({{"xs", agg::collect("x")}}).final();
       }},
  };
  return all;
}

class WindowMemory : public ::testing::TestWithParam<std::size_t> {};

TEST_P(WindowMemory, EvictedKeysGiveTheSameOutputAndTheCachesEndInsideTheBudget) {
  const Case& c = cases()[GetParam()];
  const Result unbounded = run(c, 0);
  const Result roomy = run(c, std::size_t{1} << 30);
  const Result bounded = run(c, kBudget);
  ASSERT_FALSE(unbounded.rows.empty()) << c.name;
  // Without eviction the caches would not fit: the bound is what made the difference.
  EXPECT_GT(roomy.cache_bytes, 2 * kBudget) << c.name;
  EXPECT_LE(bounded.cache_bytes, kBudget) << c.name;
  EXPECT_EQ(roomy.rows, unbounded.rows) << c.name;
  ASSERT_EQ(bounded.rows.size(), unbounded.rows.size()) << c.name;
  for (std::size_t i = 0; i < bounded.rows.size(); ++i) {
    ASSERT_EQ(bounded.rows[i], unbounded.rows[i]) << c.name << " row " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, WindowMemory, ::testing::Range<std::size_t>(0, 9),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           std::string name = cases()[info.param].name;
                           for (char& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name;
                         });

// With a commit interval of an hour only the final checkpoint is due, unless the open
// windows outgrow the budget: then checkpoints come early, so that what changed is written out
// and can leave memory.
std::uint64_t checkpoints_over(int keys, std::size_t budget, const std::string& name) {
  auto config = test::embedded_config(name);
  config.state_memory_budget = budget;
  config.commit_interval = 1h;
  Application app(config);
  const Topic in = app.topic(name + "-in");
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < keys; ++i) {
      producer.produce(in, Value::object({{"x", i}}), Value("key-" + std::to_string(i)), 1000 + i);
    }
    EXPECT_TRUE(producer.flush(30s));
  }
  (void)app.dataframe(in).tumbling_window(1h).agg({{"n", agg::count()}}).final();
  (void)app.run({.timeout = 2s});
  EXPECT_EQ(app.stats().messages_consumed, static_cast<std::uint64_t>(keys));
  return app.stats().checkpoints;
}

TEST(WindowMemory, OpenWindowsOutgrowingTheBudgetMakeACheckpointDue) {
  const std::uint64_t roomy = checkpoints_over(60000, std::size_t{1} << 30, "win-mem-roomy");
  const std::uint64_t tight = checkpoints_over(60000, 16 * RocksDBOptions::kMiB, "win-mem-tight");
  EXPECT_LE(roomy, 1u);
  EXPECT_GE(tight, roomy + 2);
}

TEST(WindowMemory, BudgetBelowSixteenMiBIsAConfigError) {
  auto config = test::embedded_config("win-mem-small");
  config.state_memory_budget = 8 * RocksDBOptions::kMiB;
  EXPECT_THROW(Application app(config), ConfigError);
}

}  // namespace
}  // namespace streamframe
