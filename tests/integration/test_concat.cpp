// concat (SDF-13) of different topics against the real broker, under exactly-once, read
// read_committed: the records of both merged, re-keyed through one repartition topic and
// counted per new key; co-partitioned topics (TOP-15) counted right after the merge in one
// task, across a restart that restores the state from its changelog; KAF-04's idle rule on a
// topic written in transactions (its end is past a commit marker); and a topic grown since the
// declaration refused at run().
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

// `records` (key, customer) to `topic` of `partitions`, each where the default partitioner puts
// its key, so both topics hold one key in one partition number (co-partitioned).
void produce_keyed(const std::string& topic, int partitions,
                   const std::vector<std::pair<std::string, std::int64_t>>& records) {
  std::vector<std::vector<RawRecord>> by_partition(static_cast<std::size_t>(partitions));
  for (const auto& [key, ts] : records) {
    by_partition[static_cast<std::size_t>(java_partition(key, partitions))].push_back(
        RawRecord{key, R"({"ts":)" + std::to_string(ts) + "}", ts, {}});
  }
  for (int p = 0; p < partitions; ++p) produce_raw(topic, by_partition[p], p);
}

// TOP-15: both topics' partition N run in one task, so a running count right after the merge
// counts each key over both topics. Two runs: the second starts on an empty state directory
// and restores the counts from the changelog, whose records name the processed offsets of
// both topics (ST-04), before it goes on. Every count exactly once, read read_committed.
TEST(ConcatTopics, StateRightAfterTheMergeIsExactlyOnceAcrossARestore) {
  REQUIRE_TEST_BROKERS();
  const std::string eu = streamframe::test::unique_name("cs-eu");
  const std::string us = streamframe::test::unique_name("cs-us");
  const std::string output = streamframe::test::unique_name("cs-out");
  const std::string group = streamframe::test::unique_name("cs-grp");
  create_topic(eu, 2);
  create_topic(us, 2);
  create_topic(output, 1);
  std::map<std::string, int> expected;
  std::vector<std::pair<std::string, std::int64_t>> eu_records;
  std::vector<std::pair<std::string, std::int64_t>> us_records;
  constexpr int kEach = 150;
  const std::int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < kEach; ++i) {
    const std::string a = "c-" + std::to_string(i % 7);
    const std::string b = "c-" + std::to_string((i * 3) % 7);
    eu_records.emplace_back(a, t0 + 2 * i);
    us_records.emplace_back(b, t0 + 2 * i + 1);
    ++expected[a];
    ++expected[b];
  }
  produce_keyed(eu, 2, eu_records);
  produce_keyed(us, 2, us_records);

  std::size_t done = 0;
  for (const std::size_t count : {std::size_t{120}, std::size_t{2 * kEach - 120}}) {
    const fs::path state = fs::path(::testing::TempDir()) / streamframe::test::unique_name("cs-st");
    ApplicationConfig cfg = base_config(group);
    cfg.state_dir = state.string();
    cfg.commit_interval = 100ms;
    cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
    Application app(cfg);
    auto eu_orders = app.dataframe(app.topic(eu, {.key_deserializer = "string"}));
    auto us_orders = app.dataframe(app.topic(us, {.key_deserializer = "string"}));
    eu_orders.concat(us_orders)
        .aggregate({{"orders", agg::count()}})
        .to_topic(app.topic(output, {.key_serializer = "json"}));
    const auto rows = app.run({.timeout = 60s, .count = count});
    ASSERT_EQ(rows.size(), count);
    done += rows.size();
    std::error_code ec;
    fs::remove_all(state, ec);
  }
  ASSERT_EQ(done, static_cast<std::size_t>(2 * kEach));
  ASSERT_NO_FATAL_FAILURE(expect_running_counts(output, "orders", expected));
  // One changelog for the merged stream, named by both topics sorted (TOP-14).
  const std::string merged = eu < us ? eu + "--" + us : us + "--" + eu;
  EXPECT_EQ(partition_count("changelog__" + group + "--" + merged + "--aggregate"), 2);
}

// KAF-04's idle rule on a topic written in transactions: its last record is followed by a
// commit marker, so "the end" is past the last record's offset + 1; the fetcher's end of
// partition says when it is reached. Its records (and not those of the aborted transaction)
// come first by timestamp, then the other topic's, and nothing waits for more.
TEST(ConcatTopics, ATransactionalTopicAtItsEndDoesNotHoldTheOtherBack) {
  REQUIRE_TEST_BROKERS();
  const std::string plain = streamframe::test::unique_name("ct-plain");
  const std::string txn = streamframe::test::unique_name("ct-txn");
  const std::string group = streamframe::test::unique_name("ct-grp");
  create_topic(plain, 1);
  create_topic(txn, 1);
  const std::int64_t t0 = 1'700'000'000'000;
  {
    Rk rk = make_client(RD_KAFKA_PRODUCER,
                        {{"bootstrap.servers", brokers()},
                         {"transactional.id", streamframe::test::unique_name("ct-txn-id")}});
    const auto check = [](rd_kafka_error_t* e, const char* what) {
      if (e == nullptr) return;
      const std::string text = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      throw std::runtime_error(std::string(what) + ": " + text);
    };
    check(rd_kafka_init_transactions(rk.get(), 30000), "init_transactions");
    for (const bool commit : {true, false}) {
      check(rd_kafka_begin_transaction(rk.get()), "begin_transaction");
      for (int i = 0; i < 5; ++i) {
        const std::string value = std::string(R"({"from":")") + (commit ? "txn" : "aborted") +
                                  R"(","i":)" + std::to_string(i) + "}";
        ASSERT_EQ(rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(txn.c_str()),
                                    RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY("k", 1),
                                    RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                    RD_KAFKA_V_TIMESTAMP(t0 + i),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
      }
      // Every record acknowledged first: an abort racing the records' own requests was
      // refused by the broker now and then (INVALID_TXN_STATE, 1 run in 25 here).
      ASSERT_EQ(rd_kafka_flush(rk.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
      if (commit) {
        check(rd_kafka_commit_transaction(rk.get(), 30000), "commit_transaction");
      } else {
        check(rd_kafka_abort_transaction(rk.get(), 30000), "abort_transaction");
      }
    }
  }
  std::vector<RawRecord> later;
  for (int i = 0; i < 20; ++i) {
    later.push_back(
        RawRecord{"k", R"({"from":"plain","i":)" + std::to_string(i) + "}", t0 + 100 + i, {}});
  }
  produce_raw(plain, later);

  ApplicationConfig cfg = base_config(group);
  cfg.state_dir =
      (fs::path(::testing::TempDir()) / streamframe::test::unique_name("ct-st")).string();
  cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
  Application app(cfg);
  auto merged = app.dataframe(app.topic(plain)).concat(app.dataframe(app.topic(txn)));
  merged = merged.apply([](const Value& v, State& state) {
    const std::int64_t n = state.get(Value("n"), Value(0)).as_int() + 1;
    state.set(Value("n"), Value(n));
    Value out = v;
    out["n"] = Value(n);
    return out;
  });
  const auto t = Clock::now();
  const auto rows = app.run({.timeout = 30s, .count = 25});
  ASSERT_EQ(rows.size(), 25u);
  EXPECT_LT(seconds_since(t), 25.0) << "the run waited for the idle timeout";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["from"].as_string(), i < 5 ? "txn" : "plain") << i;
    EXPECT_EQ(rows[i]["n"].as_int(), static_cast<std::int64_t>(i + 1));
  }
  std::error_code ec;
  fs::remove_all(cfg.state_dir, ec);
}

// ST-04/ST-05 with two source topics: a changelog record names the offsets of both topics'
// partitions that its checkpoint processed, and recovery applies it only if each is below its
// topic's committed offset. Two records are put into the changelog after a first run, as a
// crash between changelog flush and offset commit leaves them: one whose offsets are all
// committed (applied), then one whose second topic's offset is not (skipped).
TEST(ConcatTopics, RecoveryAppliesAChangeOnlyIfEveryMergedTopicCommittedIt) {
  REQUIRE_TEST_BROKERS();
  const std::string a = streamframe::test::unique_name("cr-a");
  const std::string b = streamframe::test::unique_name("cr-b");
  const std::string group = streamframe::test::unique_name("cr-grp");
  create_topic(a, 1);
  create_topic(b, 1);
  const fs::path state = fs::path(::testing::TempDir()) / streamframe::test::unique_name("cr-st");
  const auto run_once = [&](const std::vector<std::pair<std::string, std::int64_t>>& sends) {
    ApplicationConfig cfg = base_config(group);
    cfg.state_dir = state.string();
    Application app(cfg);
    const Topic ta = app.topic(a);
    const Topic tb = app.topic(b);
    (void)app.dataframe(ta).concat(app.dataframe(tb)).apply([](const Value& v, State& st) {
      const auto n = st.get(Value("n"), Value(0)).as_int() + 1;
      st.set(Value("n"), Value(n));
      return Value::object({{"i", v["i"]}, {"n", n}});
    });
    {
      Producer p = app.get_producer();
      for (const auto& [topic, i] : sends) {
        p.produce(topic == a ? ta : tb, Value::object({{"i", i}}), Value("k"), 1000 + i);
      }
      EXPECT_TRUE(p.flush(30s));
    }
    return app.run({.timeout = 20s, .count = sends.size()});
  };
  ASSERT_EQ(run_once({{a, 1}, {b, 2}}).size(), 2u);
  const std::string merged = a < b ? a + "--" + b : b + "--" + a;
  const std::string changelog = "changelog__" + group + "--" + merged + "--default";
  const auto records = read_topic(changelog);
  ASSERT_FALSE(records.empty());
  const Msg& real = records.back();
  ASSERT_EQ(committed_offset(group, a, 0), 1);
  ASSERT_EQ(committed_offset(group, b, 0), 1);
  // A header naming both topics (ST-04), read back from the real record.
  Value header;
  for (const auto& [name, value] : real.headers) {
    if (name == "__processed_tp_offsets__" && value) header = Value::from_json(*value);
  }
  EXPECT_TRUE(header.is_object() && header.contains(a) && header.contains(b)) << header.to_json();

  Rk producer = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers()}});
  const auto inject = [&](std::string value, const std::string& offsets) {
    ASSERT_EQ(rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(changelog.c_str()),
                                RD_KAFKA_V_PARTITION(0),
                                RD_KAFKA_V_KEY(real.key->data(), real.key->size()),
                                RD_KAFKA_V_VALUE(value.data(), value.size()),
                                RD_KAFKA_V_HEADER("__processed_tp_offsets__", offsets.data(),
                                                  static_cast<ssize_t>(offsets.size())),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  };
  // The state codec's int: a 0 byte, type 3, zigzag varint (50 => 100 = 0x64, 100 => 0xc8 0x01).
  inject(std::string("\x00\x03\x64", 3), "{\"" + a + "\":0,\"" + b + "\":0}");
  inject(std::string("\x00\x03\xc8\x01", 4), "{\"" + a + "\":0,\"" + b + "\":1}");
  ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);

  std::error_code ec;
  fs::remove_all(state, ec);
  const auto out = run_once({{a, 3}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["n"], Value(51));  // 50 applied, 100 skipped (b's offset 1 not committed)
  fs::remove_all(state, ec);
}

// TOP-15 at run(): the topics had equal counts when the pipeline was declared; one grew since,
// so the same key would no longer meet in one task.
TEST(ConcatTopics, ATopicGrownSinceTheDeclarationIsAMismatchAtRun) {
  REQUIRE_TEST_BROKERS();
  const std::string a = streamframe::test::unique_name("cg-a");
  const std::string b = streamframe::test::unique_name("cg-b");
  create_topic(a, 2);
  create_topic(b, 2);
  Application app(base_config(streamframe::test::unique_name("cg-grp")));
  (void)app.dataframe(app.topic(a))
      .concat(app.dataframe(app.topic(b)))
      .aggregate({{"n", agg::count()}});
  add_partitions(b, 3);
  const auto error = expect_throw<TopicPartitionsMismatch>([&] { (void)app.run({.timeout = 5s}); });
  ASSERT_TRUE(error);
  EXPECT_NE(std::string(error->what()).find("'" + b + "' 3"), std::string::npos) << error->what();
}

}  // namespace
}  // namespace streamframe::apptest
