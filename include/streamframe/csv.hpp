// CSV files as a source (SRC-05) and as a sink (SNK-04).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "streamframe/sink.hpp"
#include "streamframe/source.hpp"
#include "streamframe/value.hpp"

namespace streamframe {

struct CSVSourceOptions {
  // Row (an object of strings) -> the record's key; unset => null keys.
  std::function<Value(const Value& row)> key_extractor{};
  // Row -> the record's timestamp in ms; unset => the producer's clock.
  std::function<std::int64_t(const Value& row)> timestamp_extractor{};
  // Pause after each row, to replay a file as a stream.
  std::chrono::milliseconds delay{0};
  std::chrono::milliseconds shutdown_timeout{10000};
  // Python's csv dialects: "excel" (comma), "excel-tab" (tab) or "unix" (comma); the quote
  // character is '"' in each. Anything else => ConfigError.
  std::string dialect = "excel";
  // A row with more or fewer fields than the header, or a quoted field still open at the end
  // of the file: true => logged with its line number and skipped; false => the source fails
  // with SerializationError naming file and line. (Python's csv.DictReader pads short rows
  // with None and keeps extra fields under a None key instead.)
  bool skip_malformed = false;
};

// Reads a CSV file whose first row names the columns and produces each following row as an
// object of strings {column: field} (SRC-05), in file order, then returns. Blank lines are
// skipped. The default topic is "source__<name>" with string keys and JSON values. A file
// that cannot be opened fails the source with a ConfigError naming it.
class CSVSource : public Source {
 public:
  CSVSource(std::string path, std::string name, CSVSourceOptions options = {});
  void run() override;
  TopicOptions default_topic_options() const override;

 private:
  std::string path_;
  CSVSourceOptions options_;
};

struct CSVSinkOptions {
  // "excel" (comma, fields quoted when they need it, CRLF line ends, as Python's csv module
  // writes it), "excel-tab" (the same with tabs) or "unix" (every field quoted, LF). Anything
  // else => ConfigError.
  std::string dialect = "excel";
  // Key -> its column; unset => a string key as it is, a null key as "None" (as Quix Streams'
  // default `str` writes it), any other key as JSON.
  std::function<std::string(const Value&)> key_serializer{};
  // Value -> its column; unset => JSON.
  std::function<std::string(const Value&)> value_serializer{};
};

// Appends every record to one CSV file (SNK-04) as key, value, timestamp, topic, partition,
// offset, the header written when the file is new. Each checkpoint's batches are written and
// flushed to the disk (fsync) before the input offsets are committed: at-least-once. For
// local debugging and small exports; all workers write the one file.
class CSVSink : public BatchingSink {
 public:
  explicit CSVSink(std::string path, CSVSinkOptions options = {});

 protected:
  void write(const SinkBatch& batch) override;

 private:
  std::string path_;
  CSVSinkOptions options_;
  char delimiter_;
  bool quote_all_;
  const char* line_end_;
  std::mutex mutex_;  // workers' checkpoints write one at a time
};

}  // namespace streamframe
