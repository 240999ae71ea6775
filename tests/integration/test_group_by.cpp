// group_by against the real broker (SDF-12, EXT-04, TOP-14): the repartition topic's name and
// partition count, the hop under both guarantees (exactly-once: read back read_committed,
// every running count exactly once), and a repartition topic whose partition count no longer
// matches.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "integration/test_app_helpers.hpp"

namespace streamframe::apptest {
namespace {

namespace fs = std::filesystem;

class GroupByHop : public ::testing::TestWithParam<ProcessingGuarantee> {
 protected:
  void SetUp() override {
    REQUIRE_TEST_BROKERS();
    input_ = streamframe::test::unique_name("gb-in");
    output_ = streamframe::test::unique_name("gb-out");
    group_ = streamframe::test::unique_name("gb-grp");
    state_dir_ = fs::path(::testing::TempDir()) / streamframe::test::unique_name("gb-state");
    create_topic(input_, 3);
    create_topic(output_, 2);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(state_dir_, ec);
  }
  ApplicationConfig config() const {
    ApplicationConfig c = base_config(group_);
    c.state_dir = state_dir_.string();
    c.commit_interval = 200ms;
    c.processing_guarantee = GetParam();
    c.consumer_extra_config = {{"session.timeout.ms", "6000"}};
    return c;
  }
  std::string repartition() const { return "repartition__" + group_ + "--" + input_ + "--user"; }

  std::string input_;
  std::string output_;
  std::string group_;
  fs::path state_dir_;
};

// Clicks keyed by device, spread over the input's 3 partitions; counted per user after the hop.
TEST_P(GroupByHop, CountsPerNewKeyExactlyAcrossTheRepartitionTopic) {
  constexpr int kUsers = 7;
  constexpr int kClicks = 700;
  std::vector<RawRecord> by_partition[3];
  std::map<std::string, int> expected;
  for (int i = 0; i < kClicks; ++i) {
    const std::string user = "user-" + std::to_string(i * 5 % kUsers);
    ++expected[user];
    by_partition[i % 3].push_back(
        RawRecord{"device-" + std::to_string(i % 11),
                  R"({"user":")" + user + R"(","n":)" + std::to_string(i) + "}",
                  0,
                  {}});
  }
  for (int p = 0; p < 3; ++p) produce_raw(input_, by_partition[p], p);

  Application app(config());
  const Topic in = app.topic(input_);
  const Topic out = app.topic(output_, {.key_serializer = "json"});
  app.dataframe(in).group_by("user").aggregate({{"clicks", agg::count()}}).to_topic(out);
  // The repartition topic exists from the declaration on, partitioned like the input (on a
  // cluster the other brokers may list it a moment later).
  EXPECT_TRUE(eventually([&] { return partition_count(repartition()) == 3; }, 30s));
  const auto collected = app.run({.timeout = 60s, .count = kClicks});
  EXPECT_EQ(collected.size(), static_cast<std::size_t>(kClicks));

  // Every running count of every user exactly once, in order per user.
  ASSERT_NO_FATAL_FAILURE(expect_running_counts(output_, "clicks", expected));
  // The hop's records are in the repartition topic with the new key and the input's value.
  const auto hop = read_topic(repartition(), 30s, Isolation::read_committed);
  ASSERT_EQ(hop.size(), static_cast<std::size_t>(kClicks));
  const Value first = Value::from_json(*hop.front().value);
  EXPECT_EQ(*hop.front().key, Value(first["user"]).to_json());
  // The state after the hop has its changelog under the hop's stream id (TOP-14).
  EXPECT_EQ(
      partition_count("changelog__" + group_ + "--repartition." + input_ + ".user--aggregate"), 3);
}

// A repartition topic deleted while the app runs: run() ends with an error that names the
// topic, instead of hanging, or producing the hop's records into nothing while the input's
// offsets are committed.
TEST_P(GroupByHop, ARepartitionTopicDeletedWhileRunningIsAClearError) {
  ApplicationConfig c = config();
  std::atomic<int> hopped{0};  // messages processed from the repartition topic
  c.on_message_processed = [&](const std::string& topic, std::int32_t, std::int64_t) {
    if (topic == repartition()) ++hopped;
  };
  Application app(c);
  const Topic in = app.topic(input_);
  const Topic out = app.topic(output_, {.key_serializer = "json"});
  app.dataframe(in).group_by("user").aggregate({{"clicks", agg::count()}}).to_topic(out);

  std::atomic<bool> feeding{true};
  std::thread feeder([&] {
    for (int i = 0; feeding; ++i) {
      produce_raw(input_,
                  {RawRecord{"device-" + std::to_string(i % 11),
                             R"({"user":"user-)" + std::to_string(i % 5) + R"("})",
                             0,
                             {}}},
                  i % 3);
      std::this_thread::sleep_for(50ms);
    }
  });
  std::promise<std::string> outcome;
  auto ended = outcome.get_future();
  std::thread runner([&] {
    try {
      app.run();
      outcome.set_value("run() returned without an error");
    } catch (const std::exception& e) {
      outcome.set_value(e.what());
    }
  });
  const bool flowing = eventually([&] { return hopped.load() > 0; }, 60s);
  if (flowing) delete_topic(repartition());
  const bool stopped = flowing && ended.wait_for(120s) == std::future_status::ready;
  if (!stopped) app.stop(true);
  feeding = false;
  feeder.join();
  runner.join();
  ASSERT_TRUE(flowing) << "no record came back from the repartition topic within 60 s";
  ASSERT_TRUE(stopped) << "run() went on for 120 s after the repartition topic was deleted";
  const std::string error = ended.get();
  EXPECT_NE(error.find(repartition()), std::string::npos) << error;
  // The input is still there: the error must not blame it (a failed offset commit reports the
  // request's error on every partition, the input's too).
  EXPECT_EQ(error.find("'" + input_ + "'"), std::string::npos) << error;
}

INSTANTIATE_TEST_SUITE_P(Guarantees, GroupByHop,
                         ::testing::Values(ProcessingGuarantee::at_least_once,
                                           ProcessingGuarantee::exactly_once),
                         [](const auto& info) {
                           return info.param == ProcessingGuarantee::exactly_once
                                      ? std::string("ExactlyOnce")
                                      : std::string("AtLeastOnce");
                         });

TEST(GroupByTopics, ARepartitionTopicWithAnotherPartitionCountIsAMismatch) {
  REQUIRE_TEST_BROKERS();
  const std::string input = streamframe::test::unique_name("gbm-in");
  const std::string group = streamframe::test::unique_name("gbm-grp");
  create_topic(input, 2);
  create_topic("repartition__" + group + "--" + input + "--user", 3);
  Application app(base_config(group));
  auto sdf = app.dataframe(app.topic(input));
  expect_throw<TopicConfigurationMismatch>([&] { (void)sdf.group_by("user"); });
  // With the partitions asked for explicitly, the existing topic fits.
  (void)sdf.group_by("user", {.config = TopicConfig{.num_partitions = 3}});
}

// TOP-14: a repartition topic takes its input's retention (here an existing topic's, which
// app.topic() reads from the broker), and a config given to group_by replaces the derived one.
TEST(GroupByTopics, TheRepartitionTopicTakesTheInputsRetention) {
  REQUIRE_TEST_BROKERS();
  const std::string input = streamframe::test::unique_name("gbr-in");
  const std::string group = streamframe::test::unique_name("gbr-grp");
  create_topic(input, 2, {{"retention.ms", "3600000"}, {"retention.bytes", "1073741824"}});
  // On a cluster, a broker that has not caught up yet does not know a new topic.
  const auto config_is = [](const std::string& topic, const std::string& key,
                            const std::string& want) {
    return eventually(
        [&] {
          try {
            return topic_config_value(topic, key) == std::optional<std::string>(want);
          } catch (const std::exception&) {
            return false;
          }
        },
        30s);
  };
  Application app(base_config(group));
  const Topic in = app.topic(input);
  EXPECT_EQ(in.config().extra_config.at("retention.ms"), "3600000");
  auto sdf = app.dataframe(in);
  (void)sdf.group_by("user");
  const std::string repartition = "repartition__" + group + "--" + input + "--user";
  EXPECT_TRUE(eventually([&] { return partition_count(repartition) == 2; }, 30s));
  EXPECT_TRUE(config_is(repartition, "retention.ms", "3600000"));
  EXPECT_TRUE(config_is(repartition, "retention.bytes", "1073741824"));

  (void)sdf.group_by(
      "country",
      {.config = TopicConfig{.num_partitions = 2, .extra_config = {{"retention.ms", "60000"}}}});
  EXPECT_TRUE(
      config_is("repartition__" + group + "--" + input + "--country", "retention.ms", "60000"));
}

// The way to start a pipeline's state over: its repartition and changelog topics go, the
// input and output topics stay, and a new declaration creates the repartition topic again.
TEST(GroupByTopics, DeleteInternalTopicsRemovesRepartitionAndChangelogTopicsOnly) {
  REQUIRE_TEST_BROKERS();
  const std::string input = streamframe::test::unique_name("gbd-in");
  const std::string group = streamframe::test::unique_name("gbd-grp");
  const fs::path state = fs::path(::testing::TempDir()) / streamframe::test::unique_name("gbd-st");
  create_topic(input, 2);
  const std::string repartition = "repartition__" + group + "--" + input + "--user";
  const std::string changelog =
      "changelog__" + group + "--repartition." + input + ".user--aggregate";
  ApplicationConfig cfg = base_config(group);
  cfg.state_dir = state.string();
  {
    Application app(cfg);
    const Topic in = app.topic(input);
    (void)app.dataframe(in).group_by("user").aggregate({{"n", agg::count()}});
    Producer p = app.get_producer();
    p.produce(in, Value::object({{"user", "ann"}}), Value("d1"));
    ASSERT_TRUE(p.flush(30s));
    ASSERT_EQ(app.run({.timeout = 10s, .count = 1}).size(), 1u);
    ASSERT_EQ(partition_count(changelog), 2);

    auto deleted = app.delete_internal_topics();
    std::sort(deleted.begin(), deleted.end());
    EXPECT_EQ(deleted, (std::vector<std::string>{changelog, repartition}));
    EXPECT_TRUE(eventually(
        [&] { return !partition_count(repartition) && !partition_count(changelog); }, 30s));
    EXPECT_EQ(partition_count(input), 2);
    EXPECT_TRUE(app.delete_internal_topics().empty());  // nothing left to delete
  }
  Application app(cfg);
  (void)app.dataframe(app.topic(input)).group_by("user");
  EXPECT_TRUE(eventually([&] { return partition_count(repartition) == 2; }, 30s));
  std::error_code ec;
  fs::remove_all(state, ec);
}

// SDF-12: an input of one partition is re-keyed in place, with no repartition topic; the
// state after it belongs to `<input>--groupby--<operation>`. Exactly-once: every running count
// exactly once, read read_committed.
TEST(GroupByTopics, OnePartitionReKeysInPlaceExactlyOnce) {
  REQUIRE_TEST_BROKERS();
  const std::string input = streamframe::test::unique_name("gbi-in");
  const std::string output = streamframe::test::unique_name("gbi-out");
  const std::string group = streamframe::test::unique_name("gbi-grp");
  const fs::path state = fs::path(::testing::TempDir()) / streamframe::test::unique_name("gbi-st");
  create_topic(input, 1);
  create_topic(output, 1);
  constexpr int kClicks = 300;
  std::vector<RawRecord> records;
  std::map<std::string, int> expected;
  for (int i = 0; i < kClicks; ++i) {
    const std::string user = "user-" + std::to_string(i * 3 % 5);
    ++expected[user];
    records.push_back(
        RawRecord{"device-" + std::to_string(i % 7), R"({"user":")" + user + R"("})", 0, {}});
  }
  produce_raw(input, records, 0);

  ApplicationConfig cfg = base_config(group);
  cfg.state_dir = state.string();
  cfg.commit_interval = 200ms;
  cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
  Application app(cfg);
  const Topic in = app.topic(input);
  const Topic out = app.topic(output, {.key_serializer = "json"});
  app.dataframe(in).group_by("user").aggregate({{"clicks", agg::count()}}).to_topic(out);
  ASSERT_EQ(app.run({.timeout = 60s, .count = kClicks}).size(), static_cast<std::size_t>(kClicks));

  ASSERT_NO_FATAL_FAILURE(expect_running_counts(output, "clicks", expected));
  EXPECT_FALSE(partition_count("repartition__" + group + "--" + input + "--user").has_value());
  EXPECT_EQ(partition_count("changelog__" + group + "--" + input + "--groupby--user--aggregate"),
            1);
  std::error_code ec;
  fs::remove_all(state, ec);
}

// The in-place decision holds only while the topic has one partition: grown since the
// declaration, the run refuses to start rather than split keys over partitions.
TEST(GroupByTopics, AnInPlaceGroupByOnATopicThatGrewIsAMismatchAtRun) {
  REQUIRE_TEST_BROKERS();
  const std::string input = streamframe::test::unique_name("gbg-in");
  const std::string group = streamframe::test::unique_name("gbg-grp");
  create_topic(input, 1);
  Application app(base_config(group));
  (void)app.dataframe(app.topic(input)).group_by("user");
  add_partitions(input, 3);
  const auto e = expect_throw<TopicConfigurationMismatch>([&] { app.run({.timeout = 5s}); });
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(std::string(e->what()).find("has 3 partitions"), std::string::npos) << e->what();
}

}  // namespace
}  // namespace streamframe::apptest
