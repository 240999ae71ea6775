// An aborted checkpoint rewinds the fetch positions to its first offsets and forgets its state
// writes: every message after the last good checkpoint must then run again, also when the
// abort happens in the checkpoint at the end of a loop turn (between two batches). The run
// loop once kept a "rewound" flag that the end-of-turn checkpoint left set, so the next batch
// (the rewound messages) stopped after its first message and the rest were skipped: their
// state was lost and later commits passed over them.
//
// The embedded broker refuses one offset commit with ILLEGAL_GENERATION (the group moved on,
// so the at-least-once checkpoint aborts and rewinds).
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "app/access.hpp"
#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

constexpr std::int16_t kApiOffsetCommit = 8;

// The embedded broker answers the app's next OffsetCommit with ILLEGAL_GENERATION.
::testing::AssertionResult refuse_next_offset_commit(Application& app) {
  kafka::MockCluster* cluster = detail::ApplicationAccess::embedded_cluster(app);
  if (cluster == nullptr) return ::testing::AssertionFailure() << "no embedded broker";
  rd_kafka_mock_push_request_errors(cluster->handle(), kApiOffsetCommit, 1,
                                    RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION);
  return ::testing::AssertionSuccess();
}

TEST(CheckpointRewind, AbortedEndOfTurnCheckpointRunsEveryRewoundMessageAgain) {
  ApplicationConfig c = test::embedded_config("rewind-turn");
  // Long enough that the five messages run in the first turn without a checkpoint, so the
  // first checkpoint (the one refused) is the one at the end of an idle turn.
  c.commit_interval = 1500ms;
  Application app(c);
  const Topic in = app.topic("rewind-turn-in");
  auto counts = app.dataframe(in).apply([](const Value& v, State& state) {
    const std::int64_t n = state.get("n", Value(0)).as_int() + 1;
    state.set("n", Value(n));
    return Value::object({{"i", v["i"]}, {"n", Value(n)}});
  });
  (void)counts;
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < 5; ++i) {
      producer.produce(in.name(), "k", Value::object({{"i", i}}).to_json(), 1000 + i);
    }
    ASSERT_TRUE(producer.flush(10s));
  }
  ASSERT_TRUE(refuse_next_offset_commit(app));

  const auto outputs = app.run({.timeout = 4s});
  std::vector<std::string> seen;
  for (const auto& v : outputs) seen.push_back(v.to_json());
  // First pass, then the whole rewound batch again from the state of the last checkpoint
  // (none: counting starts over).
  std::vector<std::string> expected;
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < 5; ++i) {
      expected.push_back(Value::object({{"i", i}, {"n", i + 1}}).to_json());
    }
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(app.stats().checkpoints_aborted, 1u);
  EXPECT_EQ(app.stats().messages_consumed, 10u);
}

// A checkpoint aborted in the middle of a batch rewinds only the partitions it processed
// messages of; the batch's messages of the other partitions are the only copy the consumer
// will return (its position is past them), so they must still run. The loop once dropped the
// rest of the batch after a rewind: a partition whose messages came after the abort lost
// them, and its next commit passed over them.
TEST(CheckpointRewind, AMidBatchAbortLosesNoMessageOfAnotherPartition) {
  ApplicationConfig c = test::embedded_config("rewind-mid");
  c.commit_every = 2;  // the first checkpoint (the refused one) comes after two messages
  c.commit_interval = 60s;
  Application app(c);
  const Topic in = app.topic("rewind-mid-in", {.config = TopicConfig{.num_partitions = 2}});
  (void)app.dataframe(in);
  constexpr int kMessages = 20;
  {
    Producer producer = app.get_producer();
    for (int i = 0; i < kMessages; ++i) {
      producer.produce(in.name(), "k-" + std::to_string(i), Value::object({{"i", i}}).to_json(),
                       1000 + i);
    }
    ASSERT_TRUE(producer.flush(10s));
  }
  ASSERT_TRUE(refuse_next_offset_commit(app));

  const auto outputs = app.run({.timeout = 4s});
  std::set<std::int64_t> seen;
  for (const auto& v : outputs) seen.insert(v["i"].as_int());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(app.stats().checkpoints_aborted, 1u);
}

}  // namespace
}  // namespace streamframe
