// The State API through the public surface (ST-01, ST-02, ST-06): sdf.test() for the rules,
// and the embedded broker for stateful pipelines run by the Application (memory stores that
// outlive one run() call, N workers).
#include <gtest/gtest.h>
#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__)
// The sanitizer runtime's count of allocated bytes (GCC ships no header declaring it).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "state/memory_budget.hpp"
#include "state/memory_store.hpp"
#include "state/transaction.hpp"
#include "state/value_codec.hpp"
#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"
#include "support/expect_error.hpp"
#include "support/jemalloc_stats.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

ApplicationConfig embedded(const std::string& group) {
  return test::embedded_config(group);
}

// A counter per (message key, word): the issue's word-count shape.
StreamingDataFrame counter(StreamingDataFrame sdf) {
  return sdf.apply([](const Value& v, State& state) {
    const auto n = state.get(v["word"], Value(0)).as_int() + 1;
    state.set(v["word"], Value(n));
    return Value::object({{"word", v["word"]}, {"count", n}});
  });
}

Value word(const char* w) {
  return Value::object({{"word", w}});
}

TEST(StateApi, ReadsSeeEarlierWritesAndKeysAreScopedByMessageKey) {
  Application app(embedded("state-scope"));
  auto counts = counter(app.dataframe(app.topic("words-scope")));
  EXPECT_EQ(counts.test(word("a"), Value("k1"))[0].value["count"], Value(1));
  EXPECT_EQ(counts.test(word("a"), Value("k1"))[0].value["count"], Value(2));
  EXPECT_EQ(counts.test(word("b"), Value("k1"))[0].value["count"], Value(1));
  // Another message key does not see k1's state (ST-01).
  EXPECT_EQ(counts.test(word("a"), Value("k2"))[0].value["count"], Value(1));
  // Message keys of different types never collide: the int 1 is not the string "1".
  EXPECT_EQ(counts.test(word("a"), Value(1))[0].value["count"], Value(1));
  EXPECT_EQ(counts.test(word("a"), Value("1"))[0].value["count"], Value(1));
  EXPECT_EQ(counts.test(word("a"), Value())[0].value["count"], Value(1));
  EXPECT_EQ(counts.test(word("a"), Value())[0].value["count"], Value(2));
}

TEST(StateApi, RemoveExistsAndDefaults) {
  Application app(embedded("state-remove"));
  auto sdf = app.dataframe(app.topic("words-remove"));
  auto out = sdf.apply([](const Value& v, State& state) {
    const std::string op = v["op"].as_string();
    if (op == "set") state.set("x", v["value"]);
    if (op == "remove") state.remove("x");
    return Value::object({{"exists", state.exists("x")}, {"x", state.get("x", Value("none"))}});
  });
  auto r = out.test(Value::object({{"op", "get"}}))[0].value;
  EXPECT_EQ(r["exists"], Value(false));
  EXPECT_EQ(r["x"], Value("none"));
  r = out.test(Value::object({{"op", "set"}, {"value", Value::array({1, "two", 3.5})}}))[0].value;
  EXPECT_EQ(r["exists"], Value(true));
  EXPECT_EQ(r["x"], Value::array({1, "two", 3.5}));
  r = out.test(Value::object({{"op", "get"}}))[0].value;
  EXPECT_EQ(r["x"], Value::array({1, "two", 3.5}));
  r = out.test(Value::object({{"op", "remove"}}))[0].value;
  EXPECT_EQ(r["exists"], Value(false));
  r = out.test(Value::object({{"op", "get"}}))[0].value;
  EXPECT_EQ(r["exists"], Value(false));
}

TEST(StateApi, TtlExpiresInEventTime) {
  Application app(embedded("state-ttl"));
  auto sdf = app.dataframe(app.topic("words-ttl"));
  auto out = sdf.apply([](const Value& v, State& state) {
    if (v["op"] == Value("set")) state.set("x", Value(42), std::chrono::milliseconds(100));
    if (v["op"] == Value("forever")) state.set("x", Value(7));
    return state.get("x", Value("expired"));
  });
  (void)out.test(Value::object({{"op", "set"}}), Value("k"), 1000);
  EXPECT_EQ(out.test(Value::object({{"op", "get"}}), Value("k"), 1099)[0].value, Value(42));
  EXPECT_EQ(out.test(Value::object({{"op", "get"}}), Value("k"), 1100)[0].value, Value("expired"));
  // Once expired it stays absent, even for an older record.
  EXPECT_EQ(out.test(Value::object({{"op", "get"}}), Value("k"), 1050)[0].value, Value("expired"));
  // set without a TTL makes the key permanent.
  (void)out.test(Value::object({{"op", "set"}}), Value("k"), 2000);
  (void)out.test(Value::object({{"op", "forever"}}), Value("k"), 2001);
  EXPECT_EQ(out.test(Value::object({{"op", "get"}}), Value("k"), 999999)[0].value, Value(7));
}

TEST(StateApi, InvalidTtlAndEmptyStoreNameFailAtTheCall) {
  Application app(embedded("state-bad"));
  auto sdf = app.dataframe(app.topic("words-bad"));
  auto zero = sdf.apply([](const Value&, State& state) {
    state.set("x", Value(1), std::chrono::milliseconds(0));
    return Value();
  });
  test::expect_error<ConfigError>([&] { (void)zero.test(Value(1)); }, "TTL must be > 0");
  auto negative = sdf.apply([](const Value&, State& state) {
    state.set_bytes("x", "b", std::chrono::milliseconds(-5));
    return Value();
  });
  test::expect_error<ConfigError>([&] { (void)negative.test(Value(1)); }, "TTL must be > 0");
  test::expect_error<ConfigError>(
      [&] { (void)sdf.apply([](const Value& v, State&) { return v; }, {.store = ""}); },
      "store name must not be empty");
  test::expect_error<ConfigError>(
      [&] { (void)sdf.filter([](const Value&, State&) { return true; }, {.store = ""}); },
      "store name must not be empty");
}

// register_store() (Quix Streams' name) declares a store without an operation: the checks of
// a stateful operation apply where it is called, and an operation declared later on the same
// stream shares the store.
TEST(StateApi, RegisterStoreChecksLikeAStatefulOperationAndSharesTheStore) {
  Application app(embedded("state-register"));
  auto sdf = app.dataframe(app.topic("words-register"));
  sdf.register_store().register_store().register_store("audit");
  test::expect_error<ConfigError>([&] { sdf.register_store(""); }, "store name must not be empty");
  auto totals = sdf.aggregate({{"n", agg::count()}});
  test::expect_error<ConfigError>([&] { totals.register_store("aggregate"); },
                                  "store 'aggregate' belongs to a window");
  auto out = sdf.apply([](const Value& v, State& s) {
    s.set("last", v);
    return v;
  });
  auto read = out.apply([](const Value&, State& s) { return s.get("last", Value("absent")); });
  // test() gives every leaf's outputs: the aggregate's count and the read-back value.
  std::vector<std::string> outputs;
  for (const auto& o : read.test(Value(7))) outputs.push_back(o.value.to_json());
  EXPECT_EQ(outputs, (std::vector<std::string>{R"({"n":1})", "7"}));
}

TEST(StateApi, NamedStoresAreSeparate) {
  Application app(embedded("state-named"));
  auto sdf = app.dataframe(app.topic("words-named"));
  auto out = sdf.apply(
                    [](const Value& v, State& s) {
                      s.set("x", v);
                      return v;
                    },
                    {.store = "first"})
                 .apply([](const Value&, State& s) { return s.get("x", Value("absent")); },
                        {.store = "second"});
  EXPECT_EQ(out.test(Value(5))[0].value, Value("absent"));
}

TEST(StateApi, BytesVariantsRoundTripAndDoNotMixWithValues) {
  Application app(embedded("state-bytes"));
  auto sdf = app.dataframe(app.topic("words-bytes"));
  const std::string raw("\x00\xff\x01zz", 5);
  auto out = sdf.apply([raw](const Value& v, State& state) {
    if (v == Value("write")) state.set_bytes("b", raw);
    auto got = state.get_bytes("b");
    return got ? Value(*got) : Value();
  });
  EXPECT_EQ(out.test(Value("write"))[0].value, Value(raw));
  EXPECT_EQ(out.test(Value("read"))[0].value, Value(raw));
  auto wrong = sdf.apply([](const Value&, State& state) { return state.get("b"); });
  test::expect_error<ValueTypeError>([&] { (void)wrong.test(Value("x")); }, "get_bytes");
}

TEST(StateApi, StatefulUpdateAndFilter) {
  Application app(embedded("state-uf"));
  auto sdf = app.dataframe(app.topic("words-uf"));
  // Keeps only the first record per value (dedup), then numbers it.
  auto firsts = sdf.filter([](const Value& v, State& state) {
                     if (state.exists(v)) return false;
                     state.set(v, Value(true));
                     return true;
                   })
                    .update([](Value& v, State& state) {
                      const auto n = state.get("seq", Value(0)).as_int() + 1;
                      state.set("seq", Value(n));
                      v = Value::object({{"v", v}, {"seq", n}});
                    });
  EXPECT_EQ(firsts.test(Value("a")).size(), 1u);
  EXPECT_EQ(firsts.test(Value("a")).size(), 0u);
  auto rows = firsts.test(Value("b"));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].value["seq"], Value(2));
}

TEST(StateStoredValue, LayoutRoundTripsAndRejectsGarbage) {
  std::string out;
  state::build_stored(out, false, std::nullopt);
  state::encode(Value::object({{"a", 1}}), out);
  auto v = state::parse_stored(out);
  EXPECT_FALSE(v.raw_bytes);
  EXPECT_FALSE(v.expiry);
  EXPECT_EQ(state::decode(v.payload), Value::object({{"a", 1}}));

  state::build_stored(out, true, -1234567890123LL);
  out += "raw";
  v = state::parse_stored(out);
  EXPECT_TRUE(v.raw_bytes);
  ASSERT_TRUE(v.expiry);
  EXPECT_EQ(*v.expiry, -1234567890123LL);
  EXPECT_EQ(v.payload, "raw");

  test::expect_error<SerializationError>([] { state::parse_stored(""); }, "empty");
  test::expect_error<SerializationError>([] { state::parse_stored("\x02\x01"); },
                                         "truncated expiry");
  test::expect_error<SerializationError>([] { state::parse_stored("\x40"); }, "unknown flags");
}

// A stateful pipeline run by the Application on the embedded broker: counts are right, and
// the state survives from one run() to the next (stores live as long as the Application).
TEST(StateApp, WordCountAcrossRunsOnTheEmbeddedBroker) {
  Application app(embedded("state-wc"));
  const Topic in = app.topic("sentences-wc", {.config = TopicConfig{.num_partitions = 3}});
  counter(app.dataframe(in).apply(
      [](const Value& v) {
        Array words;
        std::string cur;
        for (char c : v["text"].as_string() + " ") {
          if (c == ' ') {
            if (!cur.empty()) words.push_back(Value::object({{"word", cur}}));
            cur.clear();
          } else {
            cur += c;
          }
        }
        return Value(std::move(words));
      },
      {.expand = true}));
  auto send = [&](const std::vector<std::pair<std::string, std::string>>& msgs) {
    Producer p = app.get_producer();
    for (const auto& [key, text] : msgs) p.produce(in, Value::object({{"text", text}}), Value(key));
    ASSERT_TRUE(p.flush(10s));
  };
  send({{"u1", "a b a"}, {"u2", "a"}, {"u1", "b"}});
  auto out = app.run({.timeout = 3s, .count = 5});
  std::map<std::string, std::int64_t> last;
  for (const auto& r : out)
    last[r["word"].as_string()] = std::max(last[r["word"].as_string()], r["count"].as_int());
  EXPECT_EQ(out.size(), 5u);
  EXPECT_EQ(last["a"], 2);  // u1 saw a twice; u2 once (separate keys)
  EXPECT_EQ(last["b"], 2);
  send({{"u1", "a"}});
  out = app.run({.timeout = 3s, .count = 1});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["count"], Value(3));  // u1's "a": 2 from the first run, + 1
}

TEST(StateApp, TwoWorkersGiveTheSameCountsAsOne) {
  ApplicationConfig cfg = embedded("state-workers");
  cfg.num_workers = 2;
  Application app(cfg);
  const Topic in = app.topic("words-workers", {.config = TopicConfig{.num_partitions = 4}});
  counter(app.dataframe(in));
  {
    Producer p = app.get_producer();
    for (int i = 0; i < 400; ++i) {
      p.produce(in, word(i % 2 ? "odd" : "even"), Value("key-" + std::to_string(i % 8)));
    }
    ASSERT_TRUE(p.flush(10s));
  }
  auto out = app.run({.timeout = 3s, .count = 400});
  ASSERT_EQ(out.size(), 400u);
  std::map<std::string, std::int64_t> max_count;
  for (const auto& r : out) {
    auto& m = max_count[r["word"].as_string()];
    m = std::max(m, r["count"].as_int());
  }
  // 8 keys, each sees only one word 50 times.
  EXPECT_EQ(max_count["odd"], 50);
  EXPECT_EQ(max_count["even"], 50);
  EXPECT_EQ(app.stats().messages_consumed, 400u);
}

TEST(StateApp, ClearStateForgetsEverything) {
  Application app(embedded("state-clear"));
  const Topic in = app.topic("words-clear");
  counter(app.dataframe(in));
  auto send = [&] {
    Producer p = app.get_producer();
    p.produce(in, word("w"), Value("k"));
    ASSERT_TRUE(p.flush(10s));
  };
  send();
  EXPECT_EQ(app.run({.timeout = 3s, .count = 1})[0]["count"], Value(1));
  send();
  EXPECT_EQ(app.run({.timeout = 3s, .count = 1})[0]["count"], Value(2));
  app.clear_state();
  send();
  EXPECT_EQ(app.run({.timeout = 3s, .count = 1})[0]["count"], Value(1));
}

TEST(StateApp, NumWorkersBelowOneIsRefused) {
  ApplicationConfig cfg = embedded("state-w0");
  cfg.num_workers = 0;
  test::expect_error<ConfigError>([&] { Application app(cfg); }, "num_workers");
}

}  // namespace
}  // namespace streamframe

namespace streamframe {
namespace {

// ST-06 sweep: expired entries leave the store at a checkpoint, in expiry order, at most
// `limit` at a time; a key re-set without TTL survives its old index entry.
TEST(StateTtlSweep, DeletesExpiredEntriesOnlyAndRespectsTheLimit) {
  state::MemoryStore store;
  state::PartitionTransaction txn(store);
  detail::StateScope scope;
  auto commit = [&] {
    store.write(txn.batch(), std::nullopt);
    txn.committed();
  };
  scope.reset(txn, Value("k"), 1000);
  for (int i = 0; i < 5; ++i) scope.set(Value(i), Value(i), 100 + i);  // expire 1100..1104
  scope.set(Value("keep"), Value(1), std::nullopt);
  scope.set(Value("renewed"), Value(1), 50);            // expiry 1050 ...
  scope.set(Value("renewed"), Value(2), std::nullopt);  // ... then permanent
  commit();
  EXPECT_EQ(store.size(), 5u + 2u + 6u);  // data + 6 index entries (one stale)

  // At 1101: the stale "renewed" index entry and keys 0, 1 (expiry 1100, 1101).
  EXPECT_EQ(txn.sweep_expired(1101, 100), 2u);
  commit();
  EXPECT_EQ(store.size(), 3u + 2u + 3u);
  scope.reset(txn, Value("k"), 1101);
  EXPECT_EQ(scope.get(Value("renewed"), Value()), Value(2));
  EXPECT_EQ(scope.get(Value(2), Value()), Value(2));

  // A limit of 1 takes only the earliest.
  EXPECT_EQ(txn.sweep_expired(5000, 1), 1u);
  commit();
  EXPECT_EQ(store.size(), 2u + 2u + 2u);
  EXPECT_EQ(txn.sweep_expired(5000, 100), 2u);
  commit();
  EXPECT_EQ(store.size(), 2u);  // "keep" and "renewed", no index entries left
}

}  // namespace
}  // namespace streamframe

namespace streamframe {
namespace {

// The transaction's cache: committed writes stay readable without the store, a discarded
// checkpoint falls back to the store, and only written keys reach the batch.
TEST(PartitionTransactionCache, CommitDiscardAndBatchContents) {
  state::MemoryStore store;
  {
    state::WriteBatch seed;
    seed.put("a", "stored-a");
    store.write(seed, std::nullopt);
  }
  state::PartitionTransaction txn(store);
  EXPECT_EQ(txn.get("a"), "stored-a");  // read through, cached clean
  EXPECT_EQ(txn.get("missing"), std::nullopt);
  EXPECT_TRUE(txn.empty());  // reads are not changes
  txn.put("b", "1");
  txn.put("b", "2");
  txn.remove("a");
  EXPECT_EQ(txn.size(), 2u);
  std::vector<std::pair<std::string, std::optional<std::string>>> ops;
  txn.batch().for_each([&](const state::WriteBatch::Op& op) {
    ops.emplace_back(std::string(op.key),
                     op.value ? std::optional<std::string>(std::string(*op.value)) : std::nullopt);
  });
  std::sort(ops.begin(), ops.end());  // a batch comes in no particular order
  ASSERT_EQ(ops.size(), 2u);          // a (deleted), b = 2
  EXPECT_EQ(ops[0], (std::pair<std::string, std::optional<std::string>>{"a", std::nullopt}));
  EXPECT_EQ(ops[1], (std::pair<std::string, std::optional<std::string>>{"b", "2"}));

  // Aborted checkpoint: the writes vanish, the store is the truth again.
  txn.discard();
  EXPECT_TRUE(txn.empty());
  EXPECT_EQ(txn.get("a"), "stored-a");
  EXPECT_EQ(txn.get("b"), std::nullopt);

  txn.put("c", "3");
  store.write(txn.batch(), std::nullopt);
  txn.committed();
  EXPECT_TRUE(txn.empty());
  EXPECT_EQ(txn.get("c"), "3");
  EXPECT_EQ(store.get("c"), "3");
}

// take_changes() is batch() and the entries' clean-up in one walk: the batch holds each
// change once, the transaction is empty after it, and a key written again is a change again.
TEST(PartitionTransactionCache, TakeChangesEmptiesTheTransactionAndKeepsTheCache) {
  state::MemoryStore store;
  state::PartitionTransaction txn(store);
  for (int i = 0; i < 50; ++i) txn.put("k" + std::to_string(i), std::to_string(i));
  txn.put("k3", "again");
  txn.remove("k4");
  const state::WriteBatch batch = txn.take_changes();
  EXPECT_TRUE(txn.empty());
  EXPECT_EQ(batch.size(), 50u);
  store.write(batch, std::nullopt);
  txn.committed();
  EXPECT_EQ(store.get("k3"), "again");
  EXPECT_EQ(store.get("k4"), std::nullopt);
  EXPECT_EQ(store.get("k49"), "49");
  EXPECT_EQ(txn.get("k49"), "49");  // still cached, and reading it is no change
  EXPECT_TRUE(txn.empty());

  txn.put("k49", "x");
  EXPECT_EQ(txn.size(), 1u);
  EXPECT_EQ(txn.take_changes().size(), 1u);
  EXPECT_TRUE(txn.empty());
}

}  // namespace
}  // namespace streamframe

namespace streamframe {
namespace {

// A checkpoint sees only the keys written since the last one, however many are cached: a key
// written again after a checkpoint is a change once more, cached reads and earlier writes are
// not.
TEST(PartitionTransactionCache, OnlyTheWritesSinceTheLastCheckpointAreChanges) {
  state::MemoryStore store;
  state::PartitionTransaction txn(store);
  for (int i = 0; i < 100; ++i) txn.put("k" + std::to_string(i), "v");
  EXPECT_EQ(txn.size(), 100u);
  store.write(txn.batch(), std::nullopt);
  txn.committed();
  EXPECT_TRUE(txn.empty());

  EXPECT_EQ(txn.get("k1"), "v");  // a cached read is no change
  txn.put("k7", "w");
  txn.put("k7", "x");
  txn.remove("k8");
  txn.put("new", "y");
  std::vector<std::pair<std::string, std::optional<std::string>>> changes;
  txn.for_each_change([&](std::string_view key, std::optional<std::string_view> value) {
    changes.emplace_back(std::string(key), value);
  });
  std::sort(changes.begin(), changes.end());
  using Change = std::pair<std::string, std::optional<std::string>>;
  EXPECT_EQ(changes, (std::vector<Change>{{"k7", "x"}, {"k8", std::nullopt}, {"new", "y"}}));
  EXPECT_EQ(txn.size(), 3u);
  store.write(txn.batch(), std::nullopt);
  txn.committed();
  EXPECT_TRUE(txn.empty());
  EXPECT_EQ(store.get("k7"), "x");
  EXPECT_EQ(store.get("k8"), std::nullopt);

  // Past the cache's bound the cache starts again: the next writes are the only changes.
  for (std::size_t i = 0; i <= state::PartitionTransaction::kCacheEntries; ++i) {
    txn.put("bulk" + std::to_string(i), "b");
  }
  store.write(txn.batch(), std::nullopt);
  txn.committed();
  txn.put("after", "z");
  EXPECT_EQ(txn.size(), 1u);
  std::size_t seen = 0;
  txn.for_each_change([&](std::string_view key, std::optional<std::string_view> value) {
    ++seen;
    EXPECT_EQ(key, "after");
    EXPECT_EQ(value, "z");
  });
  EXPECT_EQ(seen, 1u);
  EXPECT_EQ(txn.get("bulk5"), "b");  // read back from the store
}

// A store read that fails leaves nothing in the cache: the next read asks the store again
// instead of finding the key "absent".
TEST(PartitionTransactionCache, AFailedStoreReadIsNotCached) {
  class FailingStore final : public state::PartitionStore {
   public:
    std::optional<std::string> get(std::string_view key) const override {
      if (fail) throw RocksDBCorruptedError("store read failed");
      return inner.get(key);
    }
    void scan(std::string_view b, std::string_view e, const ScanFn& f) const override {
      inner.scan(b, e, f);
    }
    void write(const state::WriteBatch& batch, std::optional<std::int64_t> offset) override {
      inner.write(batch, offset);
    }
    std::optional<std::int64_t> changelog_offset() const override {
      return inner.changelog_offset();
    }
    void close() override { inner.close(); }
    bool closed() const noexcept override { return inner.closed(); }
    state::MemoryStore inner;
    bool fail = false;
  };
  FailingStore store;
  state::WriteBatch stored;
  stored.put("k", "v");
  store.write(stored, std::nullopt);
  state::PartitionTransaction txn(store);
  store.fail = true;
  EXPECT_THROW((void)txn.get("k"), RocksDBCorruptedError);
  EXPECT_EQ(txn.cached(), 0u);
  store.fail = false;
  EXPECT_EQ(txn.get("k"), "v");
}

// A cache trimmed to a budget leaves holes in its table; the inserts after it may reorganise
// the table without growing it. Writes made in between are all still found at the next
// checkpoint, with their values, and the trimmed entries are read back from the store.
// Several budgets and write counts, so that trims leave tables at many different fillings
// (a trim that empties most of the table shrinks it, one that drops less leaves holes).
TEST(PartitionTransactionCache, WritesSurviveTheCacheReorganisingAfterATrim) {
  const auto key = [](int i) { return "key-" + std::to_string(i); };
  for (std::size_t kib : {96, 192, 256, 384}) {
    auto budget = std::make_shared<state::MemoryBudget>(kib * 1024);
    state::MemoryStore store(budget);
    state::PartitionTransaction txn(store);
    std::map<std::string, std::string> stored;
    int next = 0;
    for (int round = 0; round < 24; ++round) {
      // Reads of cached and trimmed keys, then new keys and rewrites, all in one checkpoint.
      std::map<std::string, std::optional<std::string>> expected;
      for (int i = round % 50; i < next; i += 50) ASSERT_EQ(txn.get(key(i)), stored[key(i)]);
      for (int n = 0; n < 500 + 53 * (round % 7); ++n, ++next) {
        txn.put(key(next), "v" + std::to_string(next));
        expected[key(next)] = "v" + std::to_string(next);
        if (next % 4 == 0) {
          const int earlier = next / 2;
          txn.put(key(earlier), "round" + std::to_string(round));
          expected[key(earlier)] = "round" + std::to_string(round);
        }
      }
      std::map<std::string, std::optional<std::string>> changes;
      txn.for_each_change([&](std::string_view k, std::optional<std::string_view> v) {
        EXPECT_TRUE(
            changes.emplace(std::string(k), v ? std::optional<std::string>(*v) : std::nullopt)
                .second)
            << "changed twice: " << k;
      });
      ASSERT_EQ(changes, expected) << kib << " KiB, round " << round;
      store.write(txn.batch(), std::nullopt);
      txn.committed();
      for (const auto& [k, v] : expected) stored[k] = *v;
    }
    // The budget made the cache give entries up (else nothing was reorganised).
    EXPECT_LT(txn.cached(), static_cast<std::size_t>(next)) << kib;
    for (int i = 0; i < next; ++i) ASSERT_EQ(txn.get(key(i)), stored[key(i)]) << key(i);
  }
}

// What the heap holds now: malloc's in-use bytes, mmapped blocks included (a large table is
// one). The sanitizer's allocator keeps its own count, and so does jemalloc, which serves
// programs linked with streamframe (docs/guide.md, "Memory allocator"); glibc's mallinfo2
// would then describe an arena nothing uses.
std::size_t heap_in_use() {
#if defined(__SANITIZE_ADDRESS__)
  return __sanitizer_get_current_allocated_bytes();
#else
  // This thread's bytes allocated minus freed: exact at once, where the process-wide
  // "stats.allocated" is refreshed only per epoch and counts other threads too.
  const auto allocated = test::jemalloc_value<std::uint64_t>("thread.allocated");
  const auto freed = test::jemalloc_value<std::uint64_t>("thread.deallocated");
  if (allocated && freed) return static_cast<std::size_t>(*allocated - *freed);
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
#endif
}

// A store that keeps nothing in memory, so that the heap a test measures is the cache's.
class ForgetfulStore final : public state::PartitionStore {
 public:
  explicit ForgetfulStore(std::shared_ptr<state::MemoryBudget> budget)
      : budget_(std::move(budget)) {}
  std::optional<std::string> get(std::string_view) const override { return std::nullopt; }
  void scan(std::string_view, std::string_view, const ScanFn&) const override {}
  void write(const state::WriteBatch&, std::optional<std::int64_t>) override {}
  std::optional<std::int64_t> changelog_offset() const override { return std::nullopt; }
  std::shared_ptr<state::MemoryBudget> memory_budget() const override { return budget_; }
  void close() override {}
  bool closed() const noexcept override { return false; }

 private:
  std::shared_ptr<state::MemoryBudget> budget_;
};

// The cache charges its budget what it really holds: the table at its allocated size (just
// after growing it is less than half full) and the keys too long for a slot with their own
// allocations. 230,000 entries of 30-byte keys had been charged 27 MB for 49 MB of heap.
TEST(PartitionTransactionCache, ChargesTheMemoryItHolds) {
  auto budget = std::make_shared<state::MemoryBudget>(std::size_t{1} << 30);
  ForgetfulStore store(budget);
  const std::size_t before = heap_in_use();
  {
    state::PartitionTransaction txn(store);
    char key[31];
    for (int i = 0; i < 230000; ++i) {
      std::snprintf(key, sizeof key, "a-key-longer-than-a-slot%06d", i);
      txn.put(std::string_view(key, 30), "8 bytes!");
    }
    txn.committed();
    const std::size_t held = heap_in_use() - before;
    const std::size_t charged = budget->used();
    EXPECT_GE(charged, held * 9 / 10) << "held " << held;
    EXPECT_LE(charged, held * 5 / 4) << "held " << held;
  }
  EXPECT_EQ(budget->used(), 0u);
}

// Under a budget that binds, what a cache keeps after each checkpoint is inside it in real
// memory too: a trimmed table is sized down to the entries left (one that kept its size held
// twice what it was charged). Keys are new in every checkpoint, so every trim has work.
TEST(PartitionTransactionCache, ATrimmedCacheHoldsNoMoreThanItsBudget) {
  constexpr std::size_t kLimit = 4 << 20;
  auto budget = std::make_shared<state::MemoryBudget>(kLimit);
  ForgetfulStore store(budget);
  const std::size_t before = heap_in_use();
  state::PartitionTransaction txn(store);
  int next = 0;
  int trims = 0;
  for (int round = 0; round < 12; ++round) {
    const std::size_t cached = txn.cached();
    for (int n = 0; n < 20000 + 7000 * round; ++n, ++next) {
      txn.put("key-" + std::to_string(next), std::to_string(round));
    }
    const std::size_t grown = txn.cached();
    txn.committed();
    trims += txn.cached() < grown ? 1 : 0;
    EXPECT_LE(heap_in_use() - before, kLimit) << "round " << round << ", " << cached << " -> "
                                              << grown << " -> " << txn.cached() << " entries";
    EXPECT_LE(budget->used(), kLimit) << "round " << round;
  }
  EXPECT_GE(trims, 6);
}

// The cache's table moves its slots when it grows; the writes since the last checkpoint must
// all still be found, once each, with their last value, whatever their sizes (short keys and
// values live in the slot, long ones do not). Keys are read, written, rewritten and deleted
// while the table grows through many sizes.
TEST(PartitionTransactionCache, WritesSurviveTheCacheGrowing) {
  state::MemoryStore store;
  state::WriteBatch stored;
  for (int i = 0; i < 3000; i += 5) stored.put("stored" + std::to_string(i), "old");
  store.write(stored, std::nullopt);
  state::PartitionTransaction txn(store);
  std::map<std::string, std::optional<std::string>> expected;
  for (int i = 0; i < 3000; ++i) {
    // Keys of 1 to 60 bytes, values of 0 to 40.
    const std::string key = std::string(1 + i % 60, 'k') + std::to_string(i);
    const std::string value(i % 41, static_cast<char>('a' + i % 26));
    txn.put(key, value);
    expected[key] = value;
    // Reads of stored and absent keys grow the table without being changes.
    EXPECT_EQ(txn.get("stored" + std::to_string(i)),
              i % 5 == 0 ? std::optional<std::string_view>("old") : std::nullopt);
    if (i % 3 == 0 && i > 0) {
      const std::string earlier = std::string(1 + (i / 2) % 60, 'k') + std::to_string(i / 2);
      txn.put(earlier, "rewritten-" + earlier);
      expected[earlier] = "rewritten-" + earlier;
    }
    if (i % 7 == 0) {
      txn.remove(key);
      expected[key] = std::nullopt;
    }
  }
  std::map<std::string, std::optional<std::string>> changes;
  std::size_t calls = 0;
  txn.for_each_change([&](std::string_view key, std::optional<std::string_view> value) {
    ++calls;
    changes[std::string(key)] = value ? std::optional<std::string>(*value) : std::nullopt;
  });
  EXPECT_EQ(calls, expected.size());
  EXPECT_EQ(txn.size(), expected.size());
  EXPECT_EQ(changes, expected);

  store.write(txn.batch(), std::nullopt);
  txn.committed();
  for (const auto& [key, value] : expected) {
    ASSERT_EQ(store.get(key), value) << key;
    ASSERT_EQ(txn.get(key), value) << key;
  }
}

}  // namespace
}  // namespace streamframe
