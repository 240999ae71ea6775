// The run loop reads a consumed message's headers only when an operation asks for them
// (Worker::handle_message, PartitionTask::load_headers). These run real pipelines on the
// embedded broker, where that laziness applies (sdf.test() and the TestDriver hand rows their
// headers up front), and check that every way a row's headers leave a pipeline still carries
// them: to_topic after value-only steps, branches, expand, set_headers, metadata callables,
// collect mode, sinks, error callbacks, a deserializer that reads headers; and that operations
// defined to emit no headers (aggregate) do not get the message's back.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"
#include "support/kafka_probe.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;
using Probed = std::vector<std::pair<std::string, std::optional<std::string>>>;

const Headers kHeaders{{"trace", "abc"}, {"n", std::nullopt}, {"trace", "def"}};

Probed probed(const Headers& h) {
  return Probed(h.begin(), h.end());
}

// Produces {"a": i} for i in [0, n) to `topic`, every other one with kHeaders.
void produce_inputs(Application& app, const std::string& topic, int n) {
  Producer producer = app.get_producer();
  for (int i = 0; i < n; ++i) {
    const std::string value = R"({"a":)" + std::to_string(i) + "}";
    producer.produce(topic, std::string_view("k"), std::string_view(value), 1000 + i,
                     i % 2 == 0 ? kHeaders : Headers{});
  }
  ASSERT_TRUE(producer.flush(10s));
}

// Each output's headers by its value's "a".
std::vector<Probed> headers_by_a(const std::vector<test::ProbedMessage>& out, int n) {
  std::vector<Probed> by_a(static_cast<std::size_t>(n));
  for (const auto& m : out) {
    const Value v = json::parse(*m.value);
    by_a.at(static_cast<std::size_t>(v["a"].as_int())) = m.headers;
  }
  return by_a;
}

TEST(LazyHeaders, ValueOnlyStepsThenToTopicKeepThem) {
  Application app(test::embedded_config("lh-plain"));
  produce_inputs(app, "lh-plain-in", 6);
  auto sdf = app.dataframe(app.topic("lh-plain-in"));
  sdf = sdf[sdf["a"] >= 0];
  sdf = sdf.filter([](const Value& v) { return v["a"].as_int() < 100; });
  sdf = sdf.apply([](const Value& v) { return v; });
  sdf["b"] = sdf["a"] * 2;  // the full path: the value is serialized again
  sdf.to_topic(app.topic("lh-plain-out"));
  app.run({.timeout = 1s, .collect = false});

  test::KafkaProbe probe(app.bootstrap_servers());
  const auto by_a = headers_by_a(probe.read_all("lh-plain-out", 1, 20s), 6);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(by_a[static_cast<std::size_t>(i)], i % 2 == 0 ? probed(kHeaders) : Probed{})
        << "a=" << i;
  }
}

TEST(LazyHeaders, BranchesAndExpandEachCarryThem) {
  Application app(test::embedded_config("lh-branch"));
  produce_inputs(app, "lh-branch-in", 4);
  auto sdf = app.dataframe(app.topic("lh-branch-in"));
  sdf["b"] = 1;
  // Four branches: all but the last get a copy of the row. A metadata-form filter and a
  // Series filter are asked before a copy is made.
  std::vector<std::size_t> seen;
  (void)sdf.filter([&](const Value&, const Value&, std::int64_t, const Headers& h) {
    seen.push_back(h.size());
    return false;
  });
  sdf[sdf["a"] >= 0].to_topic(app.topic("lh-branch-out0"));
  sdf.apply([](const Value& v) { return v; }).to_topic(app.topic("lh-branch-out1"));
  sdf.apply(
         [](const Value& v) {
           return Value::array({v, v});
         },
         {.expand = true})
      .to_topic(app.topic("lh-branch-out2"));
  app.run({.timeout = 1s, .collect = false});

  EXPECT_EQ(seen, (std::vector<std::size_t>{3, 0, 3, 0}));
  test::KafkaProbe probe(app.bootstrap_servers());
  const auto zero = probe.read_all("lh-branch-out0", 1, 20s);
  const auto one = probe.read_all("lh-branch-out1", 1, 20s);
  const auto two = probe.read_all("lh-branch-out2", 1, 20s);
  ASSERT_EQ(zero.size(), 4u);
  ASSERT_EQ(one.size(), 4u);
  ASSERT_EQ(two.size(), 8u);
  for (const auto& out : {zero, one, two}) {
    for (const auto& m : out) {
      const auto a = json::parse(*m.value)["a"].as_int();
      EXPECT_EQ(m.headers, a % 2 == 0 ? probed(kHeaders) : Probed{}) << "a=" << a;
    }
  }
}

TEST(LazyHeaders, MetadataCallablesAndSetHeadersSeeThem) {
  Application app(test::embedded_config("lh-meta"));
  produce_inputs(app, "lh-meta-in", 4);
  std::vector<Headers> seen;
  auto sdf = app.dataframe(app.topic("lh-meta-in"));
  sdf["b"] = 1;
  sdf = sdf.filter([&](const Value&, const Value&, std::int64_t, const Headers& h) {
    seen.push_back(h);
    return true;
  });
  // Replaced headers must not be overwritten by the message's when to_topic asks for them.
  sdf.set_headers([](const Value& v, const Value&, std::int64_t, const Headers& h) {
    Headers out{{"count", std::to_string(h.size())}};
    out.emplace_back("a", v["a"].to_json());
    return out;
  });
  sdf.to_topic(app.topic("lh-meta-out"));
  app.run({.timeout = 1s, .collect = false});

  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0], kHeaders);
  EXPECT_EQ(seen[1], Headers{});
  test::KafkaProbe probe(app.bootstrap_servers());
  const auto by_a = headers_by_a(probe.read_all("lh-meta-out", 1, 20s), 4);
  EXPECT_EQ(by_a[0], (Probed{{"count", "3"}, {"a", "0"}}));
  EXPECT_EQ(by_a[1], (Probed{{"count", "0"}, {"a", "1"}}));
}

TEST(LazyHeaders, CollectModeAndSinksGetThem) {
  Application app(test::embedded_config("lh-collect"));
  produce_inputs(app, "lh-collect-in", 2);
  auto sink = std::make_shared<ListSink>(ListSinkOptions{.metadata = true});
  auto sdf = app.dataframe(app.topic("lh-collect-in"));
  sdf["b"] = 1;
  sdf.sink(sink);
  Application again(test::embedded_config("lh-collect-2"));  // a broker of its own
  produce_inputs(again, "lh-collect-in", 2);
  auto sdf2 = again.dataframe(again.topic("lh-collect-in"));
  sdf2["b"] = 1;
  app.run({.timeout = 1s, .collect = false});
  const auto rows = again.run({.timeout = 10s, .count = 2, .metadata = true});

  const Value as_value = Value::array({Value::array({Value("trace"), Value("abc")}),
                                       Value::array({Value("n"), Value()}),
                                       Value::array({Value("trace"), Value("def")})});
  ASSERT_EQ(sink->size(), 2u);
  EXPECT_EQ(sink->rows()[0]["_headers"], as_value) << sink->rows()[0].to_json();
  EXPECT_EQ(sink->rows()[1]["_headers"], Value::array({})) << sink->rows()[1].to_json();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["_headers"], as_value) << rows[0].to_json();
}

TEST(LazyHeaders, AggregateOutputsHaveNoneOfTheMessage) {
  Application app(test::embedded_config("lh-agg"));
  produce_inputs(app, "lh-agg-in", 2);
  auto sdf = app.dataframe(app.topic("lh-agg-in"));
  sdf.aggregate({{"total", agg::sum("a")}}).to_topic(app.topic("lh-agg-out"));
  app.run({.timeout = 1s, .collect = false});

  test::KafkaProbe probe(app.bootstrap_servers());
  const auto out = probe.read_all("lh-agg-out", 1, 20s);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].headers, Probed{});  // the input had kHeaders
  EXPECT_EQ(out[1].headers, Probed{});
}

TEST(LazyHeaders, AProcessingErrorCallbackSeesThem) {
  ApplicationConfig config = test::embedded_config("lh-error");
  std::mutex m;
  std::vector<Headers> seen;
  config.on_processing_error = [&](const std::exception&, const ErrorContext& ctx) {
    std::lock_guard lock(m);
    if (ctx.row != nullptr) seen.push_back(ctx.row->headers);
    return ErrorAction::skip;
  };
  Application app(config);
  produce_inputs(app, "lh-error-in", 2);
  auto sdf = app.dataframe(app.topic("lh-error-in"));
  // Value-only: nothing has read the headers when it throws.
  sdf = sdf.apply([](const Value&) -> Value { throw std::runtime_error("boom"); });
  sdf.to_topic(app.topic("lh-error-out"));
  app.run({.timeout = 1s, .collect = false});

  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], kHeaders);
  EXPECT_EQ(seen[1], Headers{});
}

// A deserializer of the public interface that does not say otherwise is given the headers.
class HeaderTaggingDeserializer final : public Deserializer {
 public:
  void deserialize(std::string_view data, const Headers& headers,
                   std::vector<Value>& out) const override {
    Value v = json::parse(data);
    v.as_object().set("header_count", static_cast<std::int64_t>(headers.size()));
    out.push_back(std::move(v));
  }
  std::string_view name() const override { return "header-tagging"; }
};

TEST(LazyHeaders, ADeserializerThatReadsHeadersGetsThem) {
  Application app(test::embedded_config("lh-deser"));
  produce_inputs(app, "lh-deser-in", 2);
  TopicOptions options;
  options.value_deserializer =
      std::shared_ptr<const Deserializer>(std::make_shared<HeaderTaggingDeserializer>());
  auto sdf = app.dataframe(app.topic("lh-deser-in", options));
  const auto rows = app.run({.timeout = 10s, .count = 2});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["header_count"], Value(3)) << rows[0].to_json();
  EXPECT_EQ(rows[1]["header_count"], Value(0)) << rows[1].to_json();
}

}  // namespace
}  // namespace streamframe
