// PartitionTask's side of reading headers on demand: a row's headers are read from its message
// only when something asks, at most once, and a leaf whose output does not look at headers
// (the run loop's emit outside collect-with-metadata) does not ask. The run loop's own paths
// are in test_lazy_headers.cpp; these count the reads, which those cannot see.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "dataframe/access.hpp"
#include "dataframe/partition_task.hpp"
#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe::detail {
namespace {

// Counts emits; says whether it reads headers as the test wants.
class CountingOutput final : public TaskOutput {
 public:
  explicit CountingOutput(bool reads_headers) : reads_headers_(reads_headers) {}
  void send(const std::string&, std::optional<std::string_view>, std::optional<std::string_view>,
            std::int64_t, const Headers* headers) override {
    sent_headers.push_back(headers != nullptr ? *headers : Headers{});
  }
  void emit(Row& row, const MessageContext&, std::uint32_t) override {
    emitted.push_back(row.headers);
  }
  bool emit_reads_headers() const override { return reads_headers_; }

  std::vector<Headers> emitted;
  std::vector<Headers> sent_headers;

 private:
  bool reads_headers_;
};

int reads = 0;
void read_counted(const void* message, Headers& out) {
  ++reads;
  out = *static_cast<const Headers*>(message);
}

const Headers kMessageHeaders{{"trace", "abc"}};

// Runs one row through `frame`'s pipeline with its headers left unread in a "message";
// returns how many times the message's headers were read.
int run_unread(const StreamingDataFrame& frame, TaskOutput& output) {
  reads = 0;
  PartitionTask task({Access::graph(frame).get()}, 0, output);
  task.set_ready(true);
  task.begin_message(0, 7, 10);
  Row row{Value::object({{"a", 1}}), Value("k"), 1000, {}};
  {
    PartitionTask::UnreadHeaders unread(task, row, &read_counted, &kMessageHeaders);
    task.run(row);
  }
  task.end_message();
  return reads;
}

TEST(UnreadHeaders, ALeafWhoseOutputIgnoresHeadersDoesNotReadThem) {
  Application app(test::embedded_config("uh-leaf"));
  auto sdf = app.dataframe(app.topic("uh-leaf-in"));
  sdf["b"] = sdf["a"] + 1;

  CountingOutput ignoring(false);
  EXPECT_EQ(run_unread(sdf, ignoring), 0);
  ASSERT_EQ(ignoring.emitted.size(), 1u);
  EXPECT_TRUE(ignoring.emitted[0].empty());

  CountingOutput reading(true);
  EXPECT_EQ(run_unread(sdf, reading), 1);
  ASSERT_EQ(reading.emitted.size(), 1u);
  EXPECT_EQ(reading.emitted[0], kMessageHeaders);
}

TEST(UnreadHeaders, ReadOnceForEveryUseInOneRow) {
  // to_topic twice and a metadata callable: all want the headers, the message is read once.
  Application app(test::embedded_config("uh-once"));
  auto sdf = app.dataframe(app.topic("uh-once-in"));
  sdf.to_topic(app.topic("uh-once-a"));
  sdf = sdf.apply([](const Value& v, const Value&, std::int64_t, const Headers& h) {
    Value out = v;
    out["n"] = static_cast<std::int64_t>(h.size());
    return out;
  });
  sdf.to_topic(app.topic("uh-once-b"));

  CountingOutput output(false);
  EXPECT_EQ(run_unread(sdf, output), 1);
  ASSERT_EQ(output.sent_headers.size(), 2u);
  EXPECT_EQ(output.sent_headers[0], kMessageHeaders);
  EXPECT_EQ(output.sent_headers[1], kMessageHeaders);
}

TEST(UnreadHeaders, NoneReadWhenNothingAsks) {
  Application app(test::embedded_config("uh-none"));
  auto sdf = app.dataframe(app.topic("uh-none-in"));
  sdf = sdf[sdf["a"] > 100];  // drops the row
  sdf.to_topic(app.topic("uh-none-out"));

  CountingOutput output(true);
  EXPECT_EQ(run_unread(sdf, output), 0);
  EXPECT_TRUE(output.sent_headers.empty());
}

}  // namespace
}  // namespace streamframe::detail
