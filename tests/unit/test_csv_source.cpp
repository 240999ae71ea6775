// CSVSource (SRC-05) and CSVSink (SNK-04) on the embedded broker: rows as objects of strings in
// file order, keys and timestamps from extractors, quoting as Python's csv module reads it,
// dialects, and malformed lines failing with their line number or skipped.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe {
namespace {

class CsvFile {
 public:
  explicit CsvFile(const std::string& content) {
    path_ =
        std::filesystem::temp_directory_path() / ("streamframe-csv-" + std::to_string(::getpid()) +
                                                  "-" + std::to_string(counter_++) + ".csv");
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~CsvFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

std::vector<Value> run_csv(const std::string& content, int expected, CSVSourceOptions options = {},
                           const std::string& group = "csv") {
  CsvFile file(content);
  Application app(test::embedded_config(group));
  auto sdf = app.dataframe(std::make_shared<CSVSource>(file.path(), "readings", options));
  return app.run({.timeout = std::chrono::milliseconds(expected > 0 ? 3000 : 1000),
                  .count = static_cast<std::size_t>(expected),
                  .metadata = true});
}

TEST(CSVSource, RowsAreObjectsOfStringsInFileOrderWithKeysAndTimestamps) {
  CSVSourceOptions options;
  options.key_extractor = [](const Value& row) { return row["sensor"]; };
  options.timestamp_extractor = [](const Value& row) { return std::stoll(row["ts"].as_string()); };
  const auto out = run_csv(
      "sensor,ts,reading,note\n"
      "s1,1000,20.5,plain\n"
      "\n"
      "s2,2000, 21 ,\"with, comma\"\n"
      "s1,3000,22,\"two\nlines and \"\"quotes\"\"\"\r\n"
      "s3,4000,,\n",
      4, options);
  ASSERT_EQ(out.size(), 4U);
  EXPECT_EQ(out[0]["_key"], Value("s1"));
  EXPECT_EQ(out[0]["_timestamp"], Value(1000));
  EXPECT_EQ(out[0]["reading"], Value("20.5"));
  EXPECT_EQ(out[0]["_topic"], Value("source__readings"));
  // Spaces are kept, as Python's csv module keeps them.
  EXPECT_EQ(out[1]["reading"], Value(" 21 "));
  EXPECT_EQ(out[1]["note"], Value("with, comma"));
  EXPECT_EQ(out[2]["note"], Value("two\nlines and \"quotes\""));
  EXPECT_EQ(out[2]["_timestamp"], Value(3000));
  EXPECT_EQ(out[3]["_key"], Value("s3"));
  EXPECT_EQ(out[3]["reading"], Value(""));
  EXPECT_EQ(out[3]["note"], Value(""));
  // Exactly the header's columns, in its order (plus the metadata columns before them).
  const auto& row = out[3].as_object();
  std::vector<std::string> names;
  for (const auto& [k, v] : row) {
    if (k[0] != '_') names.push_back(k);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"sensor", "ts", "reading", "note"}));
}

TEST(CSVSource, TabDialectAndNullKeysWithoutAnExtractor) {
  CSVSourceOptions options;
  options.dialect = "excel-tab";
  const auto out = run_csv("a\tb\n1\t2,3\n", 1, options);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0]["b"], Value("2,3"));
  EXPECT_TRUE(out[0]["_key"].is_null());
  options.dialect = "semicolons";
  EXPECT_THROW(CSVSource("x.csv", "bad", options), ConfigError);
}

TEST(CSVSource, MalformedLineFailsTheSourceWithItsLineNumber) {
  CsvFile file("a,b\n1,2\n3,4,5\n6,7\n");
  Application app(test::embedded_config("csv-bad"));
  auto sdf = app.dataframe(std::make_shared<CSVSource>(file.path(), "bad-rows"));
  try {
    (void)app.run({.timeout = std::chrono::milliseconds(5000)});
    FAIL() << "run() returned";
  } catch (const SourceException& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("line 3"), std::string::npos) << what;
    EXPECT_NE(what.find("3 fields where the header has 2"), std::string::npos) << what;
    try {
      std::rethrow_exception(e.cause());
    } catch (const SerializationError&) {
    }
  }
}

TEST(CSVSource, MalformedLinesAreSkippedWhenAskedAndCounted) {
  CSVSourceOptions options;
  options.skip_malformed = true;
  // Line 3: too few fields; line 4 is fine (a quote inside an unquoted field is a character of
  // it, as in Python); line 6: an unterminated quote running to the end of the file.
  const auto out = run_csv("a,b\n1,2\n3\n4,x\"y\n5,6\n7,\"open\n", 3, options);
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[0]["a"], Value("1"));
  EXPECT_EQ(out[1]["b"], Value("x\"y"));
  EXPECT_EQ(out[2]["a"], Value("5"));
}

TEST(CSVSource, MissingFileFailsTheSourceNamingIt) {
  Application app(test::embedded_config("csv-missing"));
  auto sdf = app.dataframe(std::make_shared<CSVSource>("/nonexistent/file.csv", "missing"));
  try {
    (void)app.run({.timeout = std::chrono::milliseconds(5000)});
    FAIL() << "run() returned";
  } catch (const SourceException& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/file.csv"), std::string::npos) << e.what();
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// SNK-04: key, value, timestamp, topic, partition, offset per record; the header once, when
// the file is new; fields quoted as Python's csv module quotes them; a second run appends.
TEST(CSVSink, AppendsRowsWithTheHeaderOnceAndPythonsQuoting) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("streamframe-csvsink-" + std::to_string(::getpid()) + ".csv"))
                               .string();
  std::filesystem::remove(path);
  const auto run_once = [&](const std::string& group, const std::string& csv) {
    CsvFile input(csv);
    Application app(test::embedded_config(group));
    CSVSourceOptions options;
    options.key_extractor = [](const Value& row) { return row["k"]; };
    options.timestamp_extractor = [](const Value&) { return std::int64_t{1234}; };
    app.dataframe(std::make_shared<CSVSource>(input.path(), "rows", options))
        .sink(std::make_shared<CSVSink>(path));
    (void)app.run({.timeout = std::chrono::milliseconds(1500), .collect = false});
  };
  run_once("csv-sink-1", "k,v\na,plain\nb,\"x, \"\"y\"\"\"\n");
  EXPECT_EQ(
      read_file(path),
      "key,value,timestamp,topic,partition,offset\r\n"
      "a,\"{\"\"k\"\":\"\"a\"\",\"\"v\"\":\"\"plain\"\"}\",1234,source__rows,0,0\r\n"
      "b,\"{\"\"k\"\":\"\"b\"\",\"\"v\"\":\"\"x, \\\"\"y\\\"\"\"\"}\",1234,source__rows,0,1\r\n");
  // A second application appends, without a second header.
  run_once("csv-sink-2", "k,v\nc,3\n");
  const std::string text = read_file(path);
  EXPECT_EQ(text.find("key,value"), 0U);
  EXPECT_EQ(text.find("key,value", 1), std::string::npos);
  EXPECT_NE(text.find("c,\"{\"\"k\"\":\"\"c\"\",\"\"v\"\":\"\"3\"\"}\",1234,source__rows,0,"),
            std::string::npos)
      << text;
  std::filesystem::remove(path);
  EXPECT_THROW(CSVSink("x.csv", {.dialect = "semicolons"}), ConfigError);
}

}  // namespace
}  // namespace streamframe
