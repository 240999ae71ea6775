// FileSink (SNK-05): JSON lines under <dir>/<topic>/<partition>/ named by the batch's first
// offset, a replayed batch replacing its file, appending with rotation by size and by age,
// gzip members readable as one stream, and errors naming the path. Driven through an
// application on the embedded broker and through the sink's own add()/flush().
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("streamframe-filesink-" + std::to_string(::getpid()) + "-" + std::to_string(n_++));
    fs::remove_all(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int n_ = 0;
  fs::path path_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> names(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Adds records with offsets [from, to) of topic "t" partition 0 and flushes: one batch.
void batch(FileSink& sink, std::int64_t from, std::int64_t to) {
  for (std::int64_t o = from; o < to; ++o) {
    sink.add(Value::object({{"n", o}}), Value("k" + std::to_string(o)), 1000 + o, {}, "t", 0, o);
  }
  sink.flush();
}

TEST(FileSink, AnApplicationWritesAFilePerCheckpointPerPartition) {
  TempDir dir;
  Application app(test::embedded_config("file-sink"));
  auto topic = app.topic("sensor-readings.v1", {.config = TopicConfig{2}});
  auto producer = app.get_producer();
  for (int i = 0; i < 6; ++i) {
    producer.produce(topic.name(), "k" + std::to_string(i % 2),
                     R"({"i":)" + std::to_string(i) + "}", 5000 + i, {}, i % 2);
  }
  producer.flush();
  app.dataframe(topic).sink(std::make_shared<FileSink>(FileSinkOptions{.directory = dir.path()}));
  (void)app.run({.timeout = 1500ms, .collect = false});
  // Characters outside [a-zA-Z0-9 ._/] (here '-') become '_'.
  const fs::path p0 = dir.path() / "sensor_readings.v1" / "0";
  ASSERT_TRUE(fs::exists(p0)) << p0;
  EXPECT_EQ(names(p0), std::vector<std::string>{"0000000000000000000.jsonl"});
  EXPECT_EQ(read_file(p0 / "0000000000000000000.jsonl"),
            "{\"_timestamp\":5000,\"_key\":\"k0\",\"_value\":{\"i\":0}}\n"
            "{\"_timestamp\":5002,\"_key\":\"k0\",\"_value\":{\"i\":2}}\n"
            "{\"_timestamp\":5004,\"_key\":\"k0\",\"_value\":{\"i\":4}}\n");
  EXPECT_EQ(names(dir.path() / "sensor_readings.v1" / "1"),
            std::vector<std::string>{"0000000000000000000.jsonl"});
}

TEST(FileSink, EachBatchIsAFileNamedByItsFirstOffsetAndAReplayReplacesIt) {
  TempDir dir;
  FileSink sink({.directory = dir.path()});
  sink.setup();
  batch(sink, 0, 3);
  batch(sink, 3, 5);
  const fs::path p = dir.path() / "t" / "0";
  EXPECT_EQ(names(p),
            (std::vector<std::string>{"0000000000000000000.jsonl", "0000000000000000003.jsonl"}));
  // A crash after the second write, before its commit: the replay starts at offset 3 again,
  // maybe with more records; the file is replaced, nothing is there twice.
  batch(sink, 3, 6);
  EXPECT_EQ(names(p).size(), 2U);
  const std::string second = read_file(p / "0000000000000000003.jsonl");
  EXPECT_EQ(second.find("\"n\":3"), second.rfind("\"n\":3"));
  EXPECT_NE(second.find("\"n\":5"), std::string::npos);
  EXPECT_EQ(std::count(second.begin(), second.end(), '\n'), 3);
}

// Records made without an input message (offset -1, e.g. windows closed by idle closing):
// their batches never replace one another.
TEST(FileSink, BatchesWithoutOffsetsGetFilesOfTheirOwn) {
  TempDir dir;
  FileSink sink({.directory = dir.path()});
  sink.setup();
  for (int b = 0; b < 2; ++b) {
    sink.add(Value::object({{"b", b}}), Value("k"), 1, {}, "t", 0, -1);
    sink.flush();
    std::this_thread::sleep_for(5ms);  // the wall clock names them
  }
  const auto files = names(dir.path() / "t" / "0");
  ASSERT_EQ(files.size(), 2U);
  EXPECT_NE(read_file(dir.path() / "t" / "0" / files[0]),
            read_file(dir.path() / "t" / "0" / files[1]));
}

TEST(FileSink, AppendRotatesBySize) {
  TempDir dir;
  FileSink sink({.directory = dir.path(), .append = true, .max_file_bytes = 100});
  sink.setup();
  for (int b = 0; b < 6; ++b) batch(sink, b * 2, b * 2 + 2);  // ~45 bytes a line
  const fs::path p = dir.path() / "t" / "0";
  const auto files = names(p);
  // 2 lines (~90 bytes) < 100, the next batch goes to the same file (~180 bytes), then a new one.
  EXPECT_EQ(files,
            (std::vector<std::string>{"0000000000000000000.jsonl", "0000000000000000004.jsonl",
                                      "0000000000000000008.jsonl"}));
  std::string all;
  for (const auto& f : files) all += read_file(p / f);
  for (int o = 0; o < 12; ++o) {
    EXPECT_NE(all.find("\"n\":" + std::to_string(o) + "}"), std::string::npos) << o;
  }
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 12);
  // A new sink (a restart) goes on with the newest file.
  FileSink again({.directory = dir.path(), .append = true, .max_file_bytes = 1000});
  batch(again, 12, 13);
  EXPECT_EQ(names(p).size(), 3U);
  EXPECT_NE(read_file(p / "0000000000000000008.jsonl").find("\"n\":12}"), std::string::npos);
}

TEST(FileSink, AppendRotatesByAge) {
  TempDir dir;
  FileSink sink({.directory = dir.path(), .append = true, .max_file_age = 300ms});
  sink.setup();
  batch(sink, 0, 1);
  batch(sink, 1, 2);
  std::this_thread::sleep_for(400ms);
  batch(sink, 2, 3);
  EXPECT_EQ(names(dir.path() / "t" / "0"),
            (std::vector<std::string>{"0000000000000000000.jsonl", "0000000000000000002.jsonl"}));
}

TEST(FileSink, CompressedBatchesAreGzipMembersReadAsOneStream) {
  TempDir dir;
  FileSink sink({.directory = dir.path(), .compress = true, .append = true});
  sink.setup();
  EXPECT_EQ(sink.extension(), ".jsonl.gz");
  batch(sink, 0, 2);
  batch(sink, 2, 4);
  const fs::path file = dir.path() / "t" / "0" / "0000000000000000000.jsonl.gz";
  ASSERT_TRUE(fs::exists(file));
  const fs::path out = dir.path() / "plain.jsonl";
  const std::string cmd = "gzip -dc '" + file.string() + "' > '" + out.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string text = read_file(out);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4);
  EXPECT_NE(text.find("{\"_timestamp\":1003,\"_key\":\"k3\",\"_value\":{\"n\":3}}"),
            std::string::npos)
      << text;
}

TEST(FileSink, CustomLinesAndErrorsNamingThePath) {
  TempDir dir;
  FileSink sink({.directory = dir.path(), .dumps = [](const SinkItem& item) {
                   return item.key.as_string() + "=" + item.value["n"].to_json();
                 }});
  sink.setup();
  batch(sink, 7, 9);
  EXPECT_EQ(read_file(dir.path() / "t" / "0" / "0000000000000000007.jsonl"), "k7=7\nk8=8\n");

  // The base directory is a file: setup fails naming it.
  const fs::path blocker = dir.path() / "blocker";
  std::ofstream(blocker) << "x";
  FileSink bad({.directory = (blocker / "sub").string()});
  try {
    bad.setup();
    ADD_FAILURE() << "setup() did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocker"), std::string::npos) << e.what();
  }
  EXPECT_THROW(FileSink({.max_file_bytes = 10}), ConfigError);  // rotation needs append
}

}  // namespace
}  // namespace streamframe
