// Log lines (LOG-01, LOG-02) as a log shipper reads them from stderr: with
// `log_format = LogFormat::json` every line is one JSON object, and one logged while a message
// is processed names that message; the next Application with the text format gets LOG-01's
// lines back.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "streamframe/streamframe.hpp"
#include "support/embedded_config.hpp"

namespace streamframe {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Runs a pipeline over 4 messages of which the third (offset 2) fails in processing; without
// an error callback the error is logged and the record dead-lettered (ERR-01). Returns stderr.
std::string run_with_a_failing_record(const std::string& name, LogFormat format) {
  ApplicationConfig cfg = test::embedded_config(name);
  cfg.loglevel = "INFO";
  cfg.log_format = format;
  cfg.dead_letter_topic = name + "-dlq";
  Application app(cfg);
  const Topic in = app.topic(name + "-in");
  {
    Producer producer = app.get_producer();
    for (const char* v : {R"({"t":1})", R"({"t":2})", R"({"t":"z"})", R"({"t":4})"}) {
      producer.produce(in.name(), std::string_view("k"), std::string_view(v));
    }
    EXPECT_TRUE(producer.flush(10s));
  }
  auto sdf = app.dataframe(in);
  sdf["u"] = sdf["t"] * 2;
  testing::internal::CaptureStderr();
  const auto out = app.run({.timeout = 10s, .count = 3});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.size(), 3u);
  EXPECT_EQ(app.stats().dead_lettered, 1u);
  return err;
}

TEST(Logging, JsonLinesNameTheMessageBeingProcessed) {
  const std::string err = run_with_a_failing_record("log-json", LogFormat::json);
  const auto lines = lines_of(err);
  ASSERT_FALSE(lines.empty());
  const std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  int errors = 0;
  bool assigned = false;
  for (const auto& line : lines) {
    const Value v = Value::from_json(line);  // throws on a line that is not JSON
    ASSERT_TRUE(v.is_object()) << line;
    EXPECT_TRUE(std::regex_match(v["timestamp"].as_string(), iso)) << line;
    EXPECT_EQ(v["logger"], Value("streamframe")) << line;
    EXPECT_TRUE(v["thread"].is_int()) << line;
    const std::string& level = v["level"].as_string();
    EXPECT_TRUE(level == "DEBUG" || level == "INFO" || level == "WARNING" || level == "ERROR" ||
                level == "CRITICAL")
        << line;
    const std::string& message = v["message"].as_string();
    if (level == "ERROR") {
      ++errors;
      EXPECT_NE(message.find("processing error"), std::string::npos) << line;
      EXPECT_EQ(v["topic"], Value("log-json-in")) << line;
      EXPECT_EQ(v["partition"], Value(0)) << line;
      EXPECT_EQ(v["offset"], Value(2)) << line;
    }
    if (message.starts_with("partitions assigned")) {
      assigned = true;
      EXPECT_FALSE(v.contains("topic")) << "outside a message: " << line;
    }
  }
  EXPECT_EQ(errors, 1) << err;
  EXPECT_TRUE(assigned) << err;
}

TEST(Logging, TheTextFormatComesBackWithTheNextApplication) {
  (void)run_with_a_failing_record("log-json-first", LogFormat::json);
  const std::string err = run_with_a_failing_record("log-text", LogFormat::text);
  const std::regex text_line(
      R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] \[streamframe\] : .*)");
  const auto lines = lines_of(err);
  ASSERT_FALSE(lines.empty());
  bool error_line = false;
  for (const auto& line : lines) {
    EXPECT_TRUE(std::regex_match(line, text_line)) << line;
    error_line = error_line || line.find("[ERROR] [streamframe] : processing error") == 0 ||
                 line.find("] [ERROR] [streamframe] : processing error") != std::string::npos;
  }
  EXPECT_TRUE(error_line) << err;
}

TEST(Logging, AnUnknownLevelIsAConfigError) {
  ApplicationConfig cfg = test::embedded_config("log-bad");
  cfg.loglevel = "VERBOSE";
  EXPECT_THROW(Application app(cfg), ConfigError);
}

}  // namespace
}  // namespace streamframe
