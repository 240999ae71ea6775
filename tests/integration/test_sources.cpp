// Sources (SRC-01..04) against the real broker: a source's records reach its default topic and
// the dataframe over it; sources alone run until they return; a failing source stops the
// application gracefully and run() throws SourceException; stop() and the shutdown timeout; a
// source's producer is not transactional under exactly-once. Records are read back with plain
// librdkafka clients.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

// Produces `count` records {"i": n} keyed "k<n>" with timestamp 1000 + n and a header, flushes,
// then throws `fail_with` if set.
class CountingSource : public Source {
 public:
  CountingSource(std::string name, int count, std::string fail_with = {})
      : Source(std::move(name)), count_(count), fail_with_(std::move(fail_with)) {}
  void run() override {
    for (int i = 0; i < count_ && running(); ++i) {
      produce(serialize(Value("k" + std::to_string(i)), Value::object({{"i", i}}),
                        {{"origin", std::string("counter")}}, 1000 + i));
    }
    if (!fail_with_.empty()) {
      flush();
      throw std::runtime_error(fail_with_);
    }
  }
  std::atomic<int> cleanups{0};
  std::atomic<bool> cleanup_failed{false};
  void cleanup(bool failed) override {
    ++cleanups;
    cleanup_failed = failed;
    Source::cleanup(failed);
  }

 private:
  int count_;
  std::string fail_with_;
};

// SRC-01/02: app.dataframe(source) reads the source's default topic "source__<name>", which
// holds the records as the source serialized them (key, JSON value, timestamp, headers).
TEST(Sources, DataframeOfASourceReadsItsDefaultTopic) {
  REQUIRE_TEST_BROKERS();
  const std::string name = streamframe::test::unique_name("counter");
  Application app(base_config(streamframe::test::unique_name("src-grp")));
  auto source = std::make_shared<CountingSource>(name, 50);
  auto sdf = app.dataframe(source);
  sdf["double"] = sdf["i"] * 2;
  const auto out = app.run({.count = 50, .metadata = true});
  ASSERT_EQ(out.size(), 50U);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(out[i]["i"], Value(i));
    EXPECT_EQ(out[i]["double"], Value(2 * i));
    EXPECT_EQ(out[i]["_key"], Value("k" + std::to_string(i)));
    EXPECT_EQ(out[i]["_timestamp"], Value(1000 + i));
    EXPECT_EQ(out[i]["_topic"], Value("source__" + name));
  }
  EXPECT_EQ(source->topic().name(), "source__" + name);
  EXPECT_EQ(source->cleanups.load(), 1);
  EXPECT_FALSE(source->cleanup_failed.load());
  EXPECT_FALSE(source->running());
  const auto msgs = read_topic("source__" + name);
  ASSERT_EQ(msgs.size(), 50U);
  EXPECT_EQ(msgs[7].key, "k7");
  EXPECT_EQ(msgs[7].value, R"({"i":7})");
  EXPECT_EQ(msgs[7].timestamp, 1007);
  ASSERT_EQ(msgs[7].headers.size(), 1U);
  EXPECT_EQ(msgs[7].headers[0].first, "origin");
  EXPECT_EQ(msgs[7].headers[0].second, "counter");
}

// SRC-01: without a dataframe, run() runs the sources until they all return; a source given a
// topic produces there.
TEST(Sources, SourcesAloneRunUntilTheyReturn) {
  REQUIRE_TEST_BROKERS();
  const std::string out = streamframe::test::unique_name("src-out");
  Application app(base_config(streamframe::test::unique_name("src-grp")));
  auto a = std::make_shared<CountingSource>(streamframe::test::unique_name("a"), 30);
  auto b = std::make_shared<CountingSource>(streamframe::test::unique_name("b"), 20);
  EXPECT_EQ(app.add_source(a, app.topic(out)).name(), out);
  EXPECT_EQ(app.add_source(b).name(), "source__" + b->name());
  const auto start = Clock::now();
  EXPECT_TRUE(app.run().empty());
  EXPECT_LT(seconds_since(start), 30.0);
  EXPECT_EQ(read_topic(out).size(), 30U);
  EXPECT_EQ(read_topic("source__" + b->name()).size(), 20U);
}

// SRC-04: a source that throws stops the application gracefully: the final checkpoint commits
// what was processed, then run() throws SourceException with the source's own exception as
// its cause.
TEST(Sources, FailingSourceStopsTheAppAfterAFinalCheckpoint) {
  REQUIRE_TEST_BROKERS();
  const std::string group = streamframe::test::unique_name("src-fail-grp");
  const std::string name = streamframe::test::unique_name("failing");
  Application app(base_config(group));
  auto source = std::make_shared<CountingSource>(name, 40, "sensor unplugged");
  auto sdf = app.dataframe(source);
  std::atomic<int> seen{0};
  sdf = sdf.update([&](const Value&) { ++seen; });
  try {
    (void)app.run();
    FAIL() << "run() returned";
  } catch (const SourceException& e) {
    EXPECT_NE(std::string(e.what()).find("sensor unplugged"), std::string::npos) << e.what();
    EXPECT_EQ(e.source_name(), name);
    ASSERT_TRUE(e.cause());
    try {
      std::rethrow_exception(e.cause());
    } catch (const std::runtime_error& cause) {
      EXPECT_STREQ(cause.what(), "sensor unplugged");
    }
  }
  EXPECT_EQ(source->cleanups.load(), 1);
  EXPECT_TRUE(source->cleanup_failed.load());
  // Graceful: what the app processed is committed (the source flushed all 40 before failing).
  EXPECT_EQ(committed_offset(group, "source__" + name, 0), seen.load());
  EXPECT_EQ(read_topic("source__" + name).size(), 40U);
}

// Loops until stop(); counts its records.
class LoopingSource : public Source {
 public:
  using Source::Source;
  void run() override {
    while (running()) {
      produce(serialize(Value(), Value(produced.load())));
      ++produced;
      std::this_thread::sleep_for(5ms);
    }
  }
  std::atomic<int> produced{0};
};

// APP-20 with sources alone: the timeout is the run's length; stop() reaches the loop, and the
// records it produced are all in Kafka (cleanup flushes).
TEST(Sources, TimeoutStopsALoopingSourceAndItsRecordsAreFlushed) {
  REQUIRE_TEST_BROKERS();
  Application app(base_config(streamframe::test::unique_name("src-grp")));
  auto source = std::make_shared<LoopingSource>(streamframe::test::unique_name("loop"));
  app.add_source(source);
  const auto start = Clock::now();
  (void)app.run({.timeout = 1500ms});
  const double took = seconds_since(start);
  EXPECT_GE(took, 1.4);
  EXPECT_LT(took, 10.0);
  EXPECT_FALSE(source->running());
  ASSERT_GT(source->produced.load(), 10);
  EXPECT_EQ(static_cast<int>(read_topic("source__" + source->name()).size()),
            source->produced.load());
}

// SRC-02: a source that ignores stop() is left behind after its shutdown timeout; run() does
// not hang on it.
TEST(Sources, SourceThatIgnoresStopIsLeftAfterItsShutdownTimeout) {
  REQUIRE_TEST_BROKERS();
  static std::atomic<bool> release{false};
  class Stubborn : public Source {
   public:
    Stubborn(std::string name) : Source(std::move(name), 300ms) {}
    void run() override {
      while (!release) std::this_thread::sleep_for(10ms);
    }
  };
  Application app(base_config(streamframe::test::unique_name("src-grp")));
  auto source = std::make_shared<Stubborn>(streamframe::test::unique_name("stubborn"));
  app.add_source(source);
  const auto start = Clock::now();
  (void)app.run({.timeout = 500ms});
  const double took = seconds_since(start);
  EXPECT_GE(took, 0.75);
  EXPECT_LT(took, 5.0);
  EXPECT_TRUE(source->running() == false);
  // Its thread still runs: it cannot run again until that ends.
  EXPECT_THROW((void)app.run({.timeout = 100ms}), InvalidOperation);
  release = true;  // lets the thread left behind end
  std::this_thread::sleep_for(100ms);
}

// Quix Streams fails a source whose stop() raises; so does streamframe, and the other
// sources are still stopped.
TEST(Sources, StopThatThrowsFailsTheRunAndTheOtherSourcesStillStop) {
  REQUIRE_TEST_BROKERS();
  class BadStop : public LoopingSource {
   public:
    using LoopingSource::LoopingSource;
    void stop() override {
      Source::stop();
      throw std::runtime_error("stop failed");
    }
  };
  Application app(base_config(streamframe::test::unique_name("src-grp")));
  auto bad = std::make_shared<BadStop>(streamframe::test::unique_name("badstop"));
  auto good = std::make_shared<LoopingSource>(streamframe::test::unique_name("good"));
  app.add_source(bad);
  app.add_source(good);
  try {
    (void)app.run({.timeout = 300ms});
    FAIL() << "run() returned";
  } catch (const SourceException& e) {
    EXPECT_NE(std::string(e.what()).find("stop failed"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(good->running());
  // Both threads ended: their producers are closed.
  EXPECT_THROW(good->produce(std::string_view("late")), InvalidOperation);
}

// SRC-01: setup() failing goes to on_client_connect_failure, which by default rethrows (the
// source fails); one that returns lets run() go ahead.
TEST(Sources, ConnectFailureFailsTheSourceUnlessTheCallbackResolvesIt) {
  REQUIRE_TEST_BROKERS();
  class Flaky : public Source {
   public:
    Flaky(std::string name, bool resolve) : Source(std::move(name)), resolve_(resolve) {}
    void setup() override { throw std::runtime_error("connection refused"); }
    void on_client_connect_failure(std::exception_ptr error) override {
      ++failures;
      if (!resolve_) Source::on_client_connect_failure(error);
    }
    void on_client_connect_success() override { ++successes; }
    void run() override { ran = true; }
    std::atomic<int> failures{0}, successes{0};
    std::atomic<bool> ran{false};

   private:
    bool resolve_;
  };
  {
    Application app(base_config(streamframe::test::unique_name("src-grp")));
    auto source = std::make_shared<Flaky>(streamframe::test::unique_name("flaky"), false);
    app.add_source(source);
    EXPECT_THROW((void)app.run(), SourceException);
    EXPECT_EQ(source->failures.load(), 1);
    EXPECT_EQ(source->successes.load(), 0);
    EXPECT_FALSE(source->ran.load());
  }
  {
    Application app(base_config(streamframe::test::unique_name("src-grp")));
    auto source = std::make_shared<Flaky>(streamframe::test::unique_name("flaky"), true);
    app.add_source(source);
    EXPECT_NO_THROW((void)app.run());
    EXPECT_EQ(source->failures.load(), 1);
    EXPECT_EQ(source->successes.load(), 0);
    EXPECT_TRUE(source->ran.load());
  }
}

// SRC-01 under exactly-once: the app's outputs are transactional, the source's records are
// not (they are readable by read_committed consumers at once), and nothing is lost or
// duplicated through the pipeline.
TEST(Sources, ExactlyOnceAppReadsItsSourcesRecordsOnce) {
  REQUIRE_TEST_BROKERS();
  const std::string out = streamframe::test::unique_name("src-eos-out");
  const std::string name = streamframe::test::unique_name("eos");
  auto config = base_config(streamframe::test::unique_name("src-eos-grp"));
  config.processing_guarantee = ProcessingGuarantee::exactly_once;
  config.commit_interval = 200ms;
  config.state_dir = streamframe::test::unique_name("/tmp/streamframe-src-state");
  {
    Application app(config);
    auto sdf = app.dataframe(std::make_shared<CountingSource>(name, 200));
    sdf.to_topic(app.topic(out));
    EXPECT_EQ(app.run({.count = 200}).size(), 200U);
  }
  const auto source_records = read_topic("source__" + name, 30s, Isolation::read_committed);
  EXPECT_EQ(source_records.size(), 200U);
  std::vector<int> ids;
  for (const auto& m : read_topic(out, 30s, Isolation::read_committed)) {
    ids.push_back(static_cast<int>(Value::from_json(*m.value)["i"].as_int()));
  }
  EXPECT_EQ(ids, range(0, 200));
}

// Produces `per_run` numbers from where its state says it stopped; flushes every 5 records.
// With `fail_after` >= 0 it sets its state past that record and throws before the next flush.
class ResumingSource : public StatefulSource {
 public:
  ResumingSource(std::string name, int per_run, int fail_after = -1)
      : StatefulSource(std::move(name)), per_run_(per_run), fail_after_(fail_after) {}
  void run() override {
    started_at = static_cast<int>(state().get("next", Value(0)).as_int());
    had_marker = state().exists("marker");
    if (had_marker)
      state().remove("marker");
    else
      state().set("marker", Value::object({{"set_by", started_at}}));
    for (int n = started_at; n < started_at + per_run_ && running(); ++n) {
      produce(serialize(Value(), Value(n)));
      state().set("next", Value(n + 1));
      if (n == fail_after_) throw std::runtime_error("lost power");
      if ((n + 1) % 5 == 0) flush();
    }
  }
  int started_at = -1;
  bool had_marker = false;

 private:
  int per_run_;
  int fail_after_;
};

std::vector<int> numbers_in(const std::string& topic) {
  std::vector<int> out;
  for (const auto& m : read_topic(topic)) out.push_back(std::stoi(*m.value));
  return out;
}

// SRC-03: the state is restored from its changelog before run() and written at each flush
// after the records; the next run resumes where the last flush left it. A source that fails
// keeps the state of its last flush, so it produces the records after it again (never fewer).
TEST(Sources, StatefulSourceResumesFromItsLastFlush) {
  REQUIRE_TEST_BROKERS();
  const std::string group = streamframe::test::unique_name("src-state-grp");
  const std::string name = streamframe::test::unique_name("resuming");
  auto run_once = [&](int per_run, int fail_after) {
    Application app(base_config(group));
    auto source = std::make_shared<ResumingSource>(name, per_run, fail_after);
    app.add_source(source);
    if (fail_after >= 0) {
      EXPECT_THROW((void)app.run(), SourceException);
    } else {
      EXPECT_NO_THROW((void)app.run());
    }
    return std::make_pair(source->started_at, source->had_marker);
  };
  EXPECT_EQ(run_once(10, -1), std::make_pair(0, false));
  EXPECT_EQ(run_once(10, -1), std::make_pair(10, true));  // the marker was restored
  // Fails after producing 20..27 with the state flushed at 25 (after 20..24).
  EXPECT_EQ(run_once(10, 27), std::make_pair(20, false));  // the marker's tombstone too
  EXPECT_EQ(run_once(5, -1), std::make_pair(25, true));
  std::vector<int> expected = range(0, 28);
  for (int n = 25; n < 30; ++n) expected.push_back(n);  // 25..27 again after the failure
  EXPECT_EQ(numbers_in("source__" + name), expected);
  const std::string changelog = "changelog__" + group + "--source__" + name + "--default";
  EXPECT_EQ(partition_count(changelog), 1);
  EXPECT_EQ(topic_config_value(changelog, "cleanup.policy"), "compact");
  // Starting over: delete_internal_topics() takes the source's changelog too, and the next run
  // starts from an empty state.
  {
    Application app(base_config(group));
    app.add_source(std::make_shared<ResumingSource>(name, 1));
    const auto deleted = app.delete_internal_topics();
    EXPECT_NE(std::find(deleted.begin(), deleted.end(), changelog), deleted.end());
  }
  EXPECT_TRUE(eventually([&] { return !partition_count(changelog).has_value(); }, 30s));
  EXPECT_EQ(run_once(5, -1), std::make_pair(0, false));
}

TEST(Sources, BadDeclarationsAreConfigErrors) {
  REQUIRE_TEST_BROKERS();
  Application app(base_config(streamframe::test::unique_name("src-grp")));
  const std::string name = streamframe::test::unique_name("dup");
  auto a = std::make_shared<CountingSource>(name, 1);
  app.add_source(a);
  EXPECT_THROW(app.add_source(a), ConfigError);
  EXPECT_THROW(app.add_source(std::make_shared<CountingSource>(name, 1)), ConfigError);
  EXPECT_THROW(app.add_source(nullptr), ConfigError);
  // Sources alone have no outputs to count.
  EXPECT_THROW((void)app.run({.count = 1}), ConfigError);
  // A source outside an application has no topic to produce to.
  CountingSource loose("loose", 1);
  EXPECT_THROW((void)loose.topic(), InvalidOperation);
  EXPECT_THROW(loose.produce(std::string_view("x")), InvalidOperation);
  EXPECT_FALSE(loose.running());
  ResumingSource stateful("stateful", 1);
  EXPECT_THROW((void)stateful.state(), InvalidOperation);
}

}  // namespace
}  // namespace streamframe::apptest
