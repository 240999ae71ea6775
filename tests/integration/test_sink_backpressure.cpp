// Sinks against the real broker: BatchingSink batches per partition (SNK-02), and
// SinkBackpressureError (SNK-03) pauses, rewinds and replays without losing, duplicating or
// committing anything early, under both guarantees.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

// Writes batches into memory; refuses the first `refusals` writes with backpressure.
class FlakyTable : public BatchingSink {
 public:
  FlakyTable(int refusals, std::chrono::milliseconds retry_after)
      : refusals_(refusals), retry_after_(retry_after) {}

  void write(const SinkBatch& batch) override {
    std::lock_guard lock(mutex_);
    if (refusals_ > 0) {
      --refusals_;
      refused_at_.push_back(Clock::now());
      throw SinkBackpressureError(retry_after_);
    }
    if (!refused_at_.empty() && first_write_after_refusal_ == Clock::time_point{}) {
      first_write_after_refusal_ = Clock::now();
    }
    ++writes_;
    for (const auto& item : batch.items()) {
      rows_[{batch.topic(), batch.partition()}].push_back(item.offset);
      values_.push_back(item.value["i"].as_int());
    }
  }
  // Offsets written per partition, in write order.
  std::map<std::pair<std::string, std::int32_t>, std::vector<std::int64_t>> rows() const {
    std::lock_guard lock(mutex_);
    return rows_;
  }
  std::size_t written() const {
    std::lock_guard lock(mutex_);
    return values_.size();
  }
  double seconds_paused() const {
    std::lock_guard lock(mutex_);
    return std::chrono::duration<double>(first_write_after_refusal_ - refused_at_.back()).count();
  }
  int refusals_left() const {
    std::lock_guard lock(mutex_);
    return refusals_;
  }

 private:
  mutable std::mutex mutex_;
  int refusals_;
  std::chrono::milliseconds retry_after_;
  std::vector<Clock::time_point> refused_at_;
  Clock::time_point first_write_after_refusal_{};
  int writes_ = 0;
  std::map<std::pair<std::string, std::int32_t>, std::vector<std::int64_t>> rows_;
  std::vector<std::int64_t> values_;
};

void feed(const std::string& topic, int partitions, int per_partition) {
  for (int p = 0; p < partitions; ++p) {
    std::vector<RawRecord> records;
    for (int i = 0; i < per_partition; ++i) {
      records.push_back({"k" + std::to_string(i),
                         Value::object({{"i", p * per_partition + i}}).to_json(),
                         0,
                         {}});
    }
    produce_raw(topic, records, p);
  }
}

void run_backpressure_case(ProcessingGuarantee guarantee) {
  const bool eos = guarantee == ProcessingGuarantee::exactly_once;
  const std::string in = streamframe::test::unique_name("bp-in");
  const std::string out = streamframe::test::unique_name("bp-out");
  const std::string group = streamframe::test::unique_name("bp-grp");
  constexpr int kPartitions = 2, kPer = 150;
  create_topic(in, kPartitions);
  feed(in, kPartitions, kPer);
  auto config = base_config(group);
  config.processing_guarantee = guarantee;
  config.commit_every = 40;  // checkpoints (and sink flushes) during the run
  config.state_dir = streamframe::test::unique_name("/tmp/streamframe-bp-state");
  auto sink = std::make_shared<FlakyTable>(3, 400ms);
  Application app(config);
  auto sdf = app.dataframe(app.topic(in));
  sdf.sink(sink);
  sdf.to_topic(app.topic(out, {.config = TopicConfig{1}}));
  std::thread stopper([&] {
    (void)eventually([&] { return sink->written() >= kPartitions * kPer; }, 60s);
    app.stop();
  });
  (void)app.run();
  stopper.join();

  EXPECT_EQ(sink->refusals_left(), 0);
  // The pause held: nothing was written for retry_after after the last refusal.
  EXPECT_GE(sink->seconds_paused(), 0.39);
  EXPECT_GE(app.stats().checkpoints_aborted, 3U);
  // Every record reached the sink exactly once, in offset order per partition: a refused
  // batch was dropped whole and replayed.
  const auto rows = sink->rows();
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(kPartitions));
  for (int p = 0; p < kPartitions; ++p) {
    std::vector<std::int64_t> expected(kPer);
    for (int i = 0; i < kPer; ++i) expected[i] = i;
    EXPECT_EQ(rows.at({in, p}), expected) << "partition " << p;
    EXPECT_EQ(committed_offset(group, in, p), kPer) << "partition " << p;
  }
  // Outputs: under exactly-once the refused checkpoints' transactions were aborted, so a
  // read_committed reader sees each record once; under at-least-once each at least once.
  std::map<std::int64_t, int> seen;
  for (const auto& m :
       read_topic(out, 30s, eos ? Isolation::read_committed : Isolation::read_uncommitted)) {
    ++seen[Value::from_json(*m.value)["i"].as_int()];
  }
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kPartitions * kPer));
  if (eos) {
    for (const auto& [i, n] : seen) EXPECT_EQ(n, 1) << "record " << i;
  }
}

TEST(SinkBackpressure, AtLeastOnceReplaysFromTheLastCheckpointWithoutLoss) {
  REQUIRE_TEST_BROKERS();
  run_backpressure_case(ProcessingGuarantee::at_least_once);
}

TEST(SinkBackpressure, ExactlyOnceAbortsTheTransactionAndReplaysOnce) {
  REQUIRE_TEST_BROKERS();
  run_backpressure_case(ProcessingGuarantee::exactly_once);
}

// SNK-01: any other write error aborts the checkpoint and stops the application; nothing of
// that checkpoint is committed.
TEST(SinkBackpressure, OtherWriteErrorsStopTheAppWithNothingCommitted) {
  REQUIRE_TEST_BROKERS();
  class Broken : public BatchingSink {
    void write(const SinkBatch&) override { throw std::runtime_error("table is gone"); }
  };
  const std::string in = streamframe::test::unique_name("bp-err-in");
  const std::string group = streamframe::test::unique_name("bp-err-grp");
  create_topic(in, 1);
  feed(in, 1, 20);
  auto config = base_config(group);
  config.commit_every = 10;
  Application app(config);
  app.dataframe(app.topic(in)).sink(std::make_shared<Broken>());
  try {
    (void)app.run({.timeout = 5s});
    FAIL() << "run() returned";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "table is gone");
  }
  EXPECT_LT(committed_offset(group, in, 0), 1);
}

// SNK-01: a failing setup() goes to on_client_connect_failure, which may resolve it.
TEST(SinkBackpressure, SetupFailureGoesToTheConnectCallback) {
  REQUIRE_TEST_BROKERS();
  class Picky : public BatchingSink {
   public:
    explicit Picky(bool resolve) : resolve_(resolve) {}
    void setup() override { throw std::runtime_error("no route to database"); }
    void on_client_connect_failure(std::exception_ptr e) override {
      ++failures;
      if (!resolve_) std::rethrow_exception(e);
    }
    void on_client_connect_success() override { ++successes; }
    void write(const SinkBatch& batch) override { written += static_cast<int>(batch.size()); }
    std::atomic<int> failures{0}, successes{0}, written{0};

   private:
    bool resolve_;
  };
  const std::string in = streamframe::test::unique_name("bp-setup-in");
  create_topic(in, 1);
  feed(in, 1, 5);
  {
    Application app(base_config(streamframe::test::unique_name("bp-setup-grp")));
    auto sink = std::make_shared<Picky>(false);
    app.dataframe(app.topic(in)).sink(sink);
    EXPECT_THROW((void)app.run({.timeout = 3s}), std::runtime_error);
    EXPECT_EQ(sink->failures.load(), 1);
  }
  {
    Application app(base_config(streamframe::test::unique_name("bp-setup-grp")));
    auto sink = std::make_shared<Picky>(true);
    app.dataframe(app.topic(in)).sink(sink);
    (void)app.run({.count = 5});
    EXPECT_EQ(sink->failures.load(), 1);
    EXPECT_EQ(sink->successes.load(), 0);
    EXPECT_EQ(sink->written.load(), 5);
  }
}

TEST(SinkBatch, ChunksCoverTheItemsInOrder) {
  SinkBatch batch("t", 3);
  for (int i = 0; i < 7; ++i) {
    SinkItem item;
    item.value = Value(i);
    item.offset = i;
    batch.append(std::move(item));
  }
  const auto chunks = batch.chunks(3);
  ASSERT_EQ(chunks.size(), 3U);
  EXPECT_EQ(chunks[0].size(), 3U);
  EXPECT_EQ(chunks[2].size(), 1U);
  EXPECT_EQ(chunks[2][0].offset, 6);
  EXPECT_THROW((void)batch.chunks(0), ConfigError);
}

}  // namespace
}  // namespace streamframe::apptest
