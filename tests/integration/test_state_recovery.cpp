// State against the real broker, in process (SEMANTICS §10, TOP-14, APP-06/09/10, ST-05/08):
// changelog topics, recovery and its boundary, corrupted and unusable stores, and the
// configuration errors around them. The process-level kill tests are in
// test_exactly_once.cpp.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "integration/test_app_helpers.hpp"
#include "support/kafka_cluster.hpp"

namespace streamframe::apptest {
namespace {

namespace fs = std::filesystem;

class StateRecovery : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TEST_BROKERS();
    input_ = streamframe::test::unique_name("st-in");
    group_ = streamframe::test::unique_name("st-grp");
    state_dir_ = fs::path(::testing::TempDir()) / streamframe::test::unique_name("st-state");
    create_topic(input_, 2);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(state_dir_, ec);
  }

  ApplicationConfig config() const {
    ApplicationConfig c = base_config(group_);
    c.state_dir = state_dir_.string();
    c.commit_interval = 200ms;
    c.consumer_extra_config = {{"session.timeout.ms", "6000"}};
    c.loglevel = "ERROR";
    return c;
  }
  std::string changelog() const { return "changelog__" + group_ + "--" + input_ + "--default"; }
  // A file put into the local store of input_[0] (APP-06 path): it disappears when the store
  // is deleted, and only then.
  fs::path mark_store() const {
    const fs::path store = state_dir_ / group_ / "default" / input_ / "0";
    if (!fs::is_directory(store)) throw std::runtime_error("no store at " + store.string());
    const fs::path marker = store / "test-marker";
    std::ofstream(marker) << "kept";
    return marker;
  }

  // Counts per (message key, value["w"]) in state; outputs {"w", "count"}.
  static void counter(Application& app, const Topic& in) {
    (void)app.dataframe(in).apply([](const Value& v, State& state) {
      const auto n = state.get(v["w"], Value(0)).as_int() + 1;
      state.set(v["w"], Value(n));
      return Value::object({{"w", v["w"]}, {"count", n}});
    });
  }

  void send(Application& app, const Topic& in,
            const std::vector<std::pair<std::string, std::string>>& kw) {
    Producer p = app.get_producer();
    for (const auto& [key, w] : kw) p.produce(in, Value::object({{"w", w}}), Value(key));
    ASSERT_TRUE(p.flush(30s));
  }

  // Runs a fresh app over what is pending and returns the outputs.
  std::vector<Value> run_counter(std::size_t count, ApplicationConfig cfg) {
    Application app(cfg);
    const Topic in = app.topic(input_);
    counter(app, in);
    return app.run({.timeout = 10s, .count = count});
  }

  std::string input_;
  std::string group_;
  fs::path state_dir_;
};

std::map<std::string, std::int64_t> max_counts(const std::vector<Value>& out) {
  std::map<std::string, std::int64_t> m;
  for (const auto& r : out)
    m[r["w"].as_string()] = std::max(m[r["w"].as_string()], r["count"].as_int());
  return m;
}

TEST_F(StateRecovery, ChangelogIsCompactedPartitionedLikeTheSourceAndCarriesHeaders) {
  {
    Application app(config());
    const Topic in = app.topic(input_);
    counter(app, in);
    send(app, in, {{"a", "x"}, {"a", "x"}, {"b", "y"}});
    EXPECT_EQ(app.run({.timeout = 10s, .count = 3}).size(), 3u);
  }
  EXPECT_EQ(partition_count(changelog()), 2);
  EXPECT_EQ(topic_config_value(changelog(), "cleanup.policy"), "compact");
  const auto records = read_topic(changelog());
  ASSERT_FALSE(records.empty());
  for (const auto& m : records) {
    std::map<std::string, HeaderValue> h(m.headers.begin(), m.headers.end());
    EXPECT_EQ(h["__column_family__"], "default");
    const std::string processed = h["__processed_tp_offsets__"].value_or("<null>");
    const Value offsets = Value::from_json(processed);
    ASSERT_TRUE(offsets.is_object()) << processed;
    EXPECT_TRUE(offsets[input_].is_int());
  }
  // The store directory follows APP-06.
  EXPECT_TRUE(fs::is_directory(state_dir_ / group_ / "default" / input_));
}

// register_store() without any stateful operation: run() creates the changelog of each store
// (partitioned like the input) and opens the stores of every assigned partition.
TEST_F(StateRecovery, RegisteredStoreGetsItsChangelogWithoutAnOperationUsingIt) {
  {
    Application app(config());
    const Topic in = app.topic(input_);
    app.dataframe(in).register_store().register_store("audit");
    send(app, in, {{"a", "x"}, {"b", "y"}, {"c", "z"}});
    EXPECT_EQ(app.run({.timeout = 10s, .count = 3}).size(), 3u);
  }
  EXPECT_EQ(partition_count(changelog()), 2);
  const std::string audit = "changelog__" + group_ + "--" + input_ + "--audit";
  EXPECT_EQ(partition_count(audit), 2);
  EXPECT_EQ(topic_config_value(audit, "cleanup.policy"), "compact");
  EXPECT_TRUE(fs::is_directory(state_dir_ / group_ / "audit" / input_));
}

TEST_F(StateRecovery, DeletedStateIsRestoredFromTheChangelog) {
  {
    Application app(config());
    const Topic in = app.topic(input_);
    counter(app, in);
    send(app, in, {{"a", "x"}, {"a", "x"}, {"a", "x"}, {"b", "x"}});
    EXPECT_EQ(max_counts(app.run({.timeout = 10s, .count = 4}))["x"], 3);
  }
  fs::remove_all(state_dir_);
  Application app(config());
  const Topic in = app.topic(input_);
  counter(app, in);
  send(app, in, {{"a", "x"}, {"b", "x"}});
  const auto out = app.run({.timeout = 10s, .count = 2});
  ASSERT_EQ(out.size(), 2u);
  std::vector<std::int64_t> counts{out[0]["count"].as_int(), out[1]["count"].as_int()};
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<std::int64_t>{2, 4}));  // b: 1 + 1, a: 3 + 1
}

// ST-05 at a size where recovery takes the bulk path (RocksDB ingests a restore batch of 4,096
// or more records as one sorted table file), onto a store that has data: a copy of the state
// taken earlier catches up with the changes made since (every key's newer value, and keys
// deleted since stay deleted), as a store left on a machine does when its partition returns.
TEST_F(StateRecovery, StaleStoreCatchesUpWithEveryChangeAndDelete) {
  constexpr int kWords = 12000;
  const auto pipeline = [](Application& app, const Topic& in) {
    (void)app.dataframe(in).apply([](const Value& v, State& state) {
      if (v.contains("op")) {
        state.remove(v["w"]);
        return Value::object({{"w", v["w"]}, {"count", 0}});
      }
      const auto n = state.get(v["w"], Value(0)).as_int() + 1;
      state.set(v["w"], Value(n));
      return Value::object({{"w", v["w"]}, {"count", n}});
    });
  };
  const auto key_of = [](int i) { return Value("k" + std::to_string(i % 16)); };
  const auto word_of = [](int i) { return "w" + std::to_string(i); };
  // Every word once more, and with `deletes` every tenth word deleted after it.
  const auto run_all = [&](bool deletes) -> std::vector<Value> {
    Application app(config());
    const Topic in = app.topic(input_);
    pipeline(app, in);
    Producer p = app.get_producer();
    std::size_t sent = 0;
    for (int i = 0; i < kWords; ++i, ++sent) {
      p.produce(in, Value::object({{"w", word_of(i)}}), key_of(i));
    }
    for (int i = 0; deletes && i < kWords; i += 10, ++sent) {
      p.produce(in, Value::object({{"w", word_of(i)}, {"op", "del"}}), key_of(i));
    }
    EXPECT_TRUE(p.flush(30s));
    auto out = app.run({.timeout = 60s, .count = sent});
    EXPECT_EQ(out.size(), sent);
    return out;
  };
  const auto per_partition = [&] {
    std::map<std::int32_t, std::size_t> n;
    for (const auto& m : read_topic(changelog())) ++n[m.partition];
    return n;
  };
  run_all(false);
  const auto before = per_partition();
  const fs::path stale = state_dir_.string() + "-stale";
  fs::copy(state_dir_, stale, fs::copy_options::recursive);
  run_all(true);
  // Both partitions replay more records than the bulk path's threshold onto the stale copy.
  const auto after = per_partition();
  ASSERT_EQ(after.size(), 2u);
  for (const auto& [partition, n] : after) EXPECT_GE(n - before.at(partition), 4096u) << partition;

  fs::remove_all(state_dir_);
  fs::rename(stale, state_dir_);
  const auto out = run_all(false);
  std::size_t wrong = 0;
  for (const auto& r : out) {
    const int i = std::stoi(r["w"].as_string().substr(1));
    const std::int64_t expected = i % 10 == 0 ? 1 : 3;
    if (r["count"].as_int() != expected && ++wrong <= 5) {
      ADD_FAILURE() << r["w"].as_string() << ": count " << r["count"].as_int() << ", expected "
                    << expected;
    }
  }
  EXPECT_EQ(wrong, 0u);
}

// EXT-05: sdf.aggregate's accumulators live in the store "aggregate" with its own changelog;
// a process without local state continues every key's totals from it, and a key deleted by a
// null value stays deleted.
TEST_F(StateRecovery, AggregateIsRestoredFromItsChangelog) {
  const auto totals = [](Application& app, const Topic& in) {
    (void)app.dataframe(in).aggregate({{"total", agg::sum("x")}, {"n", agg::count()}});
  };
  const auto send_x = [&](Application& app, const Topic& in,
                          const std::vector<std::pair<std::string, std::optional<int>>>& kx) {
    Producer p = app.get_producer();
    for (const auto& [key, x] : kx) {
      if (x) {
        p.produce(in, Value::object({{"x", *x}}), Value(key));
      } else {
        p.produce(in, Value(), Value(key));  // a tombstone deletes the key's aggregate
      }
    }
    ASSERT_TRUE(p.flush(30s));
  };
  {
    Application app(config());
    const Topic in = app.topic(input_);
    totals(app, in);
    send_x(app, in, {{"a", 1}, {"a", 2}, {"b", 10}, {"c", 5}, {"c", std::nullopt}});
    EXPECT_EQ(app.run({.timeout = 10s, .count = 5}).size(), 5u);
  }
  const std::string changelog = "changelog__" + group_ + "--" + input_ + "--aggregate";
  EXPECT_EQ(partition_count(changelog), 2);
  fs::remove_all(state_dir_);

  Application app(config());
  const Topic in = app.topic(input_);
  totals(app, in);
  send_x(app, in, {{"a", 3}, {"b", 1}, {"c", 7}});
  const auto out = app.run({.timeout = 10s, .count = 3});
  ASSERT_EQ(out.size(), 3u);
  std::vector<std::string> got;
  for (const auto& v : out) got.push_back(v.to_json());
  std::sort(got.begin(), got.end());
  // a: 1 + 2 + 3 over 3 records, b: 10 + 1 over 2, c: only the record after its deletion.
  EXPECT_EQ(got, (std::vector<std::string>{R"({"total":11,"n":2})", R"({"total":6,"n":3})",
                                           R"({"total":7,"n":1})"}));
}

TEST_F(StateRecovery, CorruptedStoreIsRebuiltFromTheChangelog) {
  {
    Application app(config());
    const Topic in = app.topic(input_);
    counter(app, in);
    send(app, in, {{"a", "x"}, {"a", "x"}});
    EXPECT_EQ(app.run({.timeout = 10s, .count = 2}).size(), 2u);
  }
  // Damage every partition's store: RocksDB refuses a CURRENT file without a newline.
  int damaged = 0;
  for (const auto& e : fs::recursive_directory_iterator(state_dir_)) {
    if (e.path().filename() == "CURRENT") {
      std::ofstream(e.path(), std::ios::trunc) << "garbage";
      ++damaged;
    }
  }
  ASSERT_EQ(damaged, 2);
  {
    // on_corrupted_recreate = false: the damage is reported, not repaired.
    ApplicationConfig strict = config();
    strict.rocksdb_options.on_corrupted_recreate = false;
    Application app(strict);
    const Topic in = app.topic(input_);
    counter(app, in);
    send(app, in, {{"a", "x"}});
    expect_throw<RocksDBCorruptedError>([&] { app.run({.timeout = 10s, .count = 1}); });
  }
  const auto out = run_counter(1, config());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["count"], Value(3));
}

TEST_F(StateRecovery, UndecodableChangelogRecordStopsRecoveryNamingWhere) {
  {
    Application app(config());
    const Topic in = app.topic(input_);
    counter(app, in);
    send(app, in, {{"a", "x"}});
    EXPECT_EQ(app.run({.timeout = 10s, .count = 1}).size(), 1u);
  }
  // A record no streamframe version wrote: unknown flags in the stored-value header.
  Rk producer = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers()}});
  for (int p = 0; p < 2; ++p) {
    ASSERT_EQ(rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(changelog().c_str()),
                                RD_KAFKA_V_PARTITION(p), RD_KAFKA_V_KEY("k", 1),
                                RD_KAFKA_V_VALUE(const_cast<char*>("\x7f!"), 2), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  fs::remove_all(state_dir_);
  Application app(config());
  const Topic in = app.topic(input_);
  counter(app, in);
  const auto error =
      expect_throw<SerializationError>([&] { app.run({.timeout = 10s, .count = 1}); });
  ASSERT_TRUE(error);
  const std::string what = error->what();
  EXPECT_NE(what.find(changelog()), std::string::npos) << what;
  EXPECT_NE(what.find("cannot be decoded"), std::string::npos) << what;
  EXPECT_NE(what.find("offset"), std::string::npos) << what;
}

TEST_F(StateRecovery, UnusableStateDirIsAClearErrorAtStart) {
  // A regular file where the state directory should be.
  const fs::path file = fs::path(::testing::TempDir()) / streamframe::test::unique_name("st-file");
  std::ofstream(file) << "x";
  ApplicationConfig c = config();
  c.state_dir = file.string();
  const auto at_construction = expect_throw<ConfigError>([&] { Application app(c); });
  ASSERT_TRUE(at_construction);
  EXPECT_NE(std::string(at_construction->what()).find(file.string()), std::string::npos);
  // A directory that cannot be created (its parent is a file): named at run().
  c.state_dir = (file / "sub").string();
  Application app(c);
  const Topic in = app.topic(input_);
  counter(app, in);
  const auto at_run = expect_throw<ConfigError>([&] { app.run({.timeout = 5s, .count = 1}); });
  ASSERT_TRUE(at_run);
  EXPECT_NE(std::string(at_run->what()).find((file / "sub").string()), std::string::npos)
      << at_run->what();
  fs::remove(file);
}

TEST_F(StateRecovery, ExistingChangelogWithOtherPartitionCountIsAMismatch) {
  create_topic(changelog(), 3, {{"cleanup.policy", "compact"}});
  Application app(config());
  const Topic in = app.topic(input_);
  counter(app, in);
  const auto e =
      expect_throw<TopicConfigurationMismatch>([&] { app.run({.timeout = 5s, .count = 1}); });
  ASSERT_TRUE(e);
  EXPECT_NE(std::string(e->what()).find(changelog()), std::string::npos) << e->what();
}

TEST_F(StateRecovery, WithoutChangelogsStateStaysLocal) {
  ApplicationConfig c = config();
  c.use_changelog_topics = false;
  {
    Application app(c);
    const Topic in = app.topic(input_);
    counter(app, in);
    send(app, in, {{"a", "x"}, {"a", "x"}});
    EXPECT_EQ(app.run({.timeout = 10s, .count = 2}).size(), 2u);
  }
  EXPECT_EQ(partition_count(changelog()), std::nullopt);
  Application app(c);
  const Topic in = app.topic(input_);
  counter(app, in);
  send(app, in, {{"a", "x"}});
  const auto out = app.run({.timeout = 10s, .count = 1});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["count"], Value(3));  // from the local store
}

// Records the changelog holds past the committed offset (written by a checkpoint whose commit
// never happened) are not applied (ST-05): the state matches the committed position.
TEST_F(StateRecovery, RecoverySkipsChangesPastTheCommittedOffset) {
  {
    Application app(config());
    const Topic in = app.topic(input_);
    counter(app, in);
    send(app, in, {{"a", "x"}});
    EXPECT_EQ(app.run({.timeout = 10s, .count = 1}).size(), 1u);
  }
  // What a crash between changelog flush and offset commit leaves: a change whose processed
  // offset is at the committed offset. Copy the key of the real record, with a big count.
  auto records = read_topic(changelog());
  ASSERT_EQ(records.size(), 1u);
  const auto& real = records[0];
  const std::int64_t committed = committed_offset(group_, input_, real.partition);
  ASSERT_EQ(committed, 1);
  std::string value("\x00", 1);
  value += std::string("\x03\xc8\x01", 3);  // codec: int 100 (zigzag varint 200)
  const std::string header = "{\"" + input_ + "\":" + std::to_string(committed) + "}";
  Rk producer = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers()}});
  ASSERT_EQ(rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(changelog().c_str()),
                              RD_KAFKA_V_PARTITION(real.partition),
                              RD_KAFKA_V_KEY(real.key->data(), real.key->size()),
                              RD_KAFKA_V_VALUE(value.data(), value.size()),
                              RD_KAFKA_V_HEADER("__processed_tp_offsets__", header.data(),
                                                static_cast<ssize_t>(header.size())),
                              RD_KAFKA_V_END),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  fs::remove_all(state_dir_);
  Application app(config());
  const Topic in = app.topic(input_);
  counter(app, in);
  send(app, in, {{"a", "x"}});
  const auto out = app.run({.timeout = 10s, .count = 1});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["count"], Value(2));  // not 101
}

}  // namespace
}  // namespace streamframe::apptest

namespace streamframe::apptest {
namespace {

// Deletes the records of topic[partition] below `before` (what retention does).
void delete_records_before(const std::string& topic, std::int32_t partition, std::int64_t before) {
  Rk rk = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers()}});
  rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(offsets, topic.c_str(), partition)->offset = before;
  rd_kafka_DeleteRecords_t* del = rd_kafka_DeleteRecords_new(offsets);
  rd_kafka_topic_partition_list_destroy(offsets);
  rd_kafka_event_t* ev = detail_::admin_call(rk.get(), RD_KAFKA_ADMIN_OP_DELETERECORDS,
                                             [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                               rd_kafka_DeleteRecords(rk.get(), &del, 1, o, q);
                                             });
  const rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
  rd_kafka_event_destroy(ev);
  rd_kafka_DeleteRecords_destroy(del);
  if (err) throw std::runtime_error(std::string("DeleteRecords: ") + rd_kafka_err2str(err));
}

// APP-10: the committed offset of a stateful partition fell below the low watermark.
TEST_F(StateRecovery, CommittedOffsetBelowLowWatermark) {
  // One partition so all keys share it.
  const std::string single = streamframe::test::unique_name("st-in1");
  create_topic(single, 1);
  input_ = single;
  {
    Application app(config());
    const Topic in = app.topic(input_);
    counter(app, in);
    send(app, in, {{"a", "x"}, {"a", "x"}});
    EXPECT_EQ(app.run({.timeout = 10s, .count = 2}).size(), 2u);
    // Two more records the group never processes, then retention takes everything below 3.
    send(app, in, {{"a", "x"}, {"a", "x"}});
  }
  ASSERT_EQ(committed_offset(group_, input_), 2);
  delete_records_before(input_, 0, 3);
  const fs::path marker = mark_store();
  {
    // Off: the state is kept and the error names the partition.
    ApplicationConfig c = config();
    c.auto_recover_from_source_offset_out_of_range = false;
    Application app(c);
    const Topic in = app.topic(input_);
    counter(app, in);
    const auto e =
        expect_throw<StateRecoveryOffsetOutOfRange>([&] { app.run({.timeout = 5s, .count = 1}); });
    ASSERT_TRUE(e);
    EXPECT_NE(std::string(e->what()).find(input_ + "[0]"), std::string::npos) << e->what();
    EXPECT_TRUE(fs::exists(marker)) << "the store was deleted";
  }
  // On (default, earliest): the local store is deleted, rebuilt from the changelog up to the
  // low watermark, and processing goes on from the low watermark: offset 3 counts as the
  // third "x" (offset 2 is gone).
  const auto out = run_counter(1, config());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["count"], Value(3));
  EXPECT_FALSE(fs::exists(marker)) << "the store was not deleted";
}

// APP-10 with state_recovery_offset_reset latest and match. The situation, on a fresh
// one-partition input: offsets 0-2 (a:x, a:x, a:y) processed and committed (3), 3-4 (a:x, a:y)
// never processed, retention removed everything below 4 (low watermark 4, high watermark 5),
// and after the app's changelog records (each with a processed-offsets header) one change
// without that header, (a, y) = 100, as a change made outside any message is written.
class StateRecoveryOutOfRange : public StateRecovery {
 protected:
  void SetUp() override {
    StateRecovery::SetUp();
    if (IsSkipped()) return;
    input_ = streamframe::test::unique_name("st-oor");
    create_topic(input_, 1);
    {
      Application app(config());
      const Topic in = app.topic(input_);
      counter(app, in);
      send(app, in, {{"a", "x"}, {"a", "x"}, {"a", "y"}});
      ASSERT_EQ(app.run({.timeout = 10s, .count = 3}).size(), 3u);
      send(app, in, {{"a", "x"}, {"a", "y"}});
    }
    ASSERT_EQ(committed_offset(group_, input_), 3);
    delete_records_before(input_, 0, 4);
    // The store key of (a, y): the app wrote it; its last byte is the state key's "y".
    std::optional<std::string> y_key;
    for (const auto& m : read_topic(changelog())) {
      if (m.key && !m.key->empty() && m.key->back() == 'y') y_key = m.key;
    }
    ASSERT_TRUE(y_key) << "no changelog record for (a, y)";
    std::string value("\x00", 1);             // stored-value flags: a Value, no expiry
    value += std::string("\x03\xc8\x01", 3);  // codec: int 100 (zigzag varint 200)
    Rk producer = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers()}});
    ASSERT_EQ(
        rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(changelog().c_str()),
                          RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(y_key->data(), y_key->size()),
                          RD_KAFKA_V_VALUE(value.data(), value.size()),
                          RD_KAFKA_V_HEADER("__column_family__", "default", 7), RD_KAFKA_V_END),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    marker_ = mark_store();
  }

  // Runs the counter with `c` while a feeder appends (a:x, a:y) pairs, which the app reaches
  // only if it starts at the high watermark; returns its first two outputs with metadata.
  std::vector<Value> run_while_feeding(const ApplicationConfig& c) {
    Application app(c);
    const Topic in = app.topic(input_);
    counter(app, in);
    std::atomic<bool> done{false};
    std::thread feeder([&] {
      Producer p = app.get_producer();
      while (!done) {
        p.produce(in, Value::object({{"w", "x"}}), Value("a"));
        p.produce(in, Value::object({{"w", "y"}}), Value("a"));
        p.flush(10s);
        std::this_thread::sleep_for(200ms);
      }
    });
    std::vector<Value> out;
    try {
      out = app.run({.timeout = 30s, .count = 2, .metadata = true});
    } catch (...) {
      done = true;
      feeder.join();
      throw;
    }
    done = true;
    feeder.join();
    return out;
  }

  // latest: the store is deleted; of the changelog only the change without a processed-offsets
  // header is applied (y = 100; x's records are not, so x starts again from nothing); the
  // first message processed is at or past the high watermark 5 (offset 4 is skipped).
  void expect_latest(const ApplicationConfig& c) {
    const auto out = run_while_feeding(c);
    ASSERT_EQ(out.size(), 2u);
    std::map<std::string, std::int64_t> first;
    for (const auto& r : out) {
      EXPECT_GE(r["_offset"].as_int(), 5) << r.to_json();
      first.emplace(r["w"].as_string(), r["count"].as_int());
    }
    EXPECT_EQ(first, (std::map<std::string, std::int64_t>{{"x", 1}, {"y", 101}}));
    EXPECT_FALSE(fs::exists(marker_)) << "the store was not deleted";
  }

  fs::path marker_;
};

TEST_F(StateRecoveryOutOfRange, LatestAppliesOnlyChangesWithoutOffsetsAndStartsAtTheEnd) {
  ApplicationConfig c = config();
  c.state_recovery_offset_reset = StateRecoveryOffsetReset::latest;
  expect_latest(c);
}

TEST_F(StateRecoveryOutOfRange, MatchWithAutoOffsetResetLatestActsAsLatest) {
  ApplicationConfig c = config();
  c.state_recovery_offset_reset = StateRecoveryOffsetReset::match;
  c.auto_offset_reset = AutoOffsetReset::latest;
  expect_latest(c);
}

// match + earliest = earliest: the store is rebuilt from the changelog up to the low
// watermark (every record, the header-less one last: y = 100) and processing starts at the
// low watermark, offset 4 (a:y).
TEST_F(StateRecoveryOutOfRange, MatchWithAutoOffsetResetEarliestActsAsEarliest) {
  ApplicationConfig c = config();
  c.state_recovery_offset_reset = StateRecoveryOffsetReset::match;
  c.auto_offset_reset = AutoOffsetReset::earliest;
  Application app(c);
  const Topic in = app.topic(input_);
  counter(app, in);
  const auto out = app.run({.timeout = 10s, .count = 1, .metadata = true});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["_offset"], Value(4));
  EXPECT_EQ(out[0]["w"], Value("y"));
  EXPECT_EQ(out[0]["count"], Value(101));
  EXPECT_FALSE(fs::exists(marker_)) << "the store was not deleted";
}

// match + error: StateRecoveryOffsetOutOfRange naming the partition; nothing is deleted.
TEST_F(StateRecoveryOutOfRange, MatchWithAutoOffsetResetErrorIsAnError) {
  ApplicationConfig c = config();
  c.state_recovery_offset_reset = StateRecoveryOffsetReset::match;
  c.auto_offset_reset = AutoOffsetReset::error;
  Application app(c);
  const Topic in = app.topic(input_);
  counter(app, in);
  const auto e =
      expect_throw<StateRecoveryOffsetOutOfRange>([&] { app.run({.timeout = 10s, .count = 1}); });
  ASSERT_TRUE(e);
  EXPECT_NE(std::string(e->what()).find(input_ + "[0]"), std::string::npos) << e->what();
  EXPECT_TRUE(fs::exists(marker_)) << "the store was deleted";
  EXPECT_EQ(committed_offset(group_, input_), 3);
}

// ST-06 + ST-04: a value set with a TTL is swept at the first checkpoint after a record whose
// timestamp passes its expiry (a record that reads no key: only the sweep deletes it), and the
// sweep is a tombstone in the changelog. The swept key reads as absent even for a record older
// than the expiry (so it was deleted, not only hidden by the read-time rule), and again after
// the state is rebuilt from the changelog (which needs the changelogged TTL index to restore).
TEST_F(StateRecovery, ExpiredTtlEntryIsATombstoneInTheChangelog) {
  input_ = streamframe::test::unique_name("st-ttl");
  create_topic(input_, 1);
  ApplicationConfig c = config();
  c.commit_every = 1;  // a checkpoint after every message
  // Recent record timestamps: ones past the broker's retention (7 days) may be deleted by its
  // retention check before they are consumed.
  const std::int64_t t0 = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count() -
                          60000;
  auto session = [](Application& app, const Topic& in) {
    (void)app.dataframe(in).apply([](const Value& v, State& state) {
      if (v["op"] == Value("set")) state.set("session", v["value"], 1000ms);
      if (v["op"] == Value("tick")) return Value::object({{"op", v["op"]}});
      return Value::object({{"op", v["op"]}, {"session", state.get("session")}});
    });
  };
  auto send_at = [&](Application& app, const Topic& in, const std::string& json, std::int64_t ts) {
    Producer p = app.get_producer();
    p.produce(in.name(), "k", json, ts);
    ASSERT_TRUE(p.flush(30s));
  };
  auto sessions = [](const std::vector<Value>& out) {  // as JSON, for readable failures
    std::vector<std::string> s;
    for (const auto& r : out) s.push_back(r.get_or("session", Value()).to_json());
    return s;
  };
  {
    Application app(c);
    const Topic in = app.topic(input_);
    session(app, in);
    send_at(app, in, R"({"op":"set","value":"v1"})", t0);  // expires at t0 + 1000
    send_at(app, in, R"({"op":"get"})", t0 + 500);
    send_at(app, in, R"({"op":"tick"})", t0 + 10000);  // past the expiry: swept at its checkpoint
    send_at(app, in, R"({"op":"get"})", t0 + 600);     // before the expiry, after the sweep
    EXPECT_EQ(sessions(app.run({.timeout = 10s, .count = 4})),
              (std::vector<std::string>{"\"v1\"", "\"v1\"", "null", "null"}));
  }
  // The changelog: the data key's value, then its tombstone from the checkpoint of offset 2.
  // (Keys starting with 0xFF 'T' belong to the TTL index, which is swept with it.)
  std::vector<Msg> data;
  int index_records = 0;
  for (auto& m : read_topic(changelog())) {
    ASSERT_TRUE(m.key.has_value());
    if (m.key->rfind("\xffT", 0) == 0) {
      ++index_records;
    } else {
      data.push_back(std::move(m));
    }
  }
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0].key, data[1].key);
  EXPECT_TRUE(data[0].value.has_value());
  EXPECT_FALSE(data[1].value.has_value()) << "the expired entry is not a tombstone";
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : data[1].headers) headers[name] = value.value_or("");
  EXPECT_EQ(Value::from_json(headers["__processed_tp_offsets__"]),
            Value::object({{input_, 2}}));  // written by the checkpoint after offset 2
  EXPECT_EQ(index_records, 2);              // its index entry: written, then deleted
  // Rebuilt from the changelog, the key is absent at a time before its expiry.
  fs::remove_all(state_dir_);
  Application app(c);
  const Topic in = app.topic(input_);
  session(app, in);
  send_at(app, in, R"({"op":"get"})", t0 + 700);
  EXPECT_EQ(sessions(app.run({.timeout = 10s, .count = 1})), (std::vector<std::string>{"null"}));
}

}  // namespace
}  // namespace streamframe::apptest

namespace streamframe::apptest {
namespace {

// Exactly-once on a broker whose transaction coordinator cannot work (its log needs three
// replicas on a one-node cluster): a clear error at start, and nothing produced at all.
TEST(ExactlyOnceStart, UnavailableTransactionCoordinatorIsAClearError) {
  REQUIRE_TEST_BROKERS();
  streamframe::test::KafkaCluster cluster(
      1, "transaction.state.log.replication.factor=3;transaction.state.log.min.isr=2");
  const std::string group = streamframe::test::unique_name("eos-nocoord");
  ApplicationConfig c;
  c.broker_address = cluster.address();
  c.consumer_group = group;
  c.auto_offset_reset = AutoOffsetReset::earliest;
  c.processing_guarantee = ProcessingGuarantee::exactly_once;
  c.request_timeout = 5s;
  c.loglevel = "CRITICAL";
  c.install_signal_handlers = false;
  c.state_dir = (std::filesystem::path(::testing::TempDir()) / group).string();
  Application app(c);
  const Topic in = app.topic("eos-in");
  const Topic out = app.topic("eos-out");
  {
    Producer p = app.get_producer();
    p.produce(in, Value::object({{"w", "x"}}), Value("k"));
    ASSERT_TRUE(p.flush(30s));
  }
  app.dataframe(in).to_topic(out);
  const auto started = Clock::now();
  const auto e = expect_throw<KafkaError>([&] { app.run({.timeout = 10s, .count = 1}); });
  ASSERT_TRUE(e);
  EXPECT_NE(std::string(e->what()).find("transaction coordinator is not available"),
            std::string::npos)
      << e->what();
  EXPECT_LT(seconds_since(started), 30.0);
  // Nothing reached the output topic, committed or not.
  Rk rk = make_client(RD_KAFKA_CONSUMER,
                      {{"bootstrap.servers", cluster.address()}, {"group.id", group + "-check"}});
  std::int64_t lo = -1, hi = -1;
  ASSERT_EQ(rd_kafka_query_watermark_offsets(rk.get(), "eos-out", 0, &lo, &hi, 10000),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(hi, 0);
  rd_kafka_consumer_close(rk.get());
}

}  // namespace
}  // namespace streamframe::apptest
