// Local files as a sink (SNK-05; Quix Streams' LocalFileSink with its JSON format): JSON lines
// under <directory>/<topic>/<partition>/, one file per batch or appended with rotation.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "streamframe/sink.hpp"

namespace streamframe {

struct FileSinkOptions {
  // The base directory (created when missing); files go to <directory>/<topic>/<partition>/,
  // the topic with every character other than [a-zA-Z0-9 ._/] replaced by '_'.
  std::string directory = ".";
  // The files' extension; compress adds ".gz".
  std::string file_extension = ".jsonl";
  // gzip each batch (a file of gzip members, which `gzip -dc` and Python's gzip read whole).
  bool compress = false;
  // false: each checkpoint's batch is a new file named by its first offset, 19 digits
  // ("0000000000000000042.jsonl"), written to a temporary name, fsynced and renamed; a batch
  // replayed after a crash starts at the same offset and replaces the file, so nothing is
  // there twice. true: batches are appended to the partition's newest file (at-least-once:
  // a replay after a crash appends its records again) until it is rotated.
  bool append = false;
  // With append: a new file is started once the current one holds this many bytes (0: no
  // limit) ...
  std::uint64_t max_file_bytes = 0;
  // ... or was started this long ago (0: no limit).
  std::chrono::milliseconds max_file_age{0};
  // The line of one record. Unset: {"_timestamp": ts, "_key": key, "_value": value} as
  // compact JSON.
  std::function<std::string(const SinkItem& item)> dumps{};
};

// Writes each record as one line of JSON (see FileSinkOptions). Every write is fsynced before
// the checkpoint commits the input offsets. A directory or file that cannot be created or
// written stops the application with an Error naming the path, nothing of that checkpoint
// committed.
class FileSink : public BatchingSink {
 public:
  explicit FileSink(FileSinkOptions options = {});
  void setup() override;
  // file_extension, with ".gz" after it when compressed.
  std::string extension() const;

 protected:
  void write(const SinkBatch& batch) override;

 private:
  // The file appended to, per partition directory.
  struct Current {
    std::string path;
    std::uint64_t bytes = 0;
    std::chrono::steady_clock::time_point started{};
  };
  FileSinkOptions options_;
  std::mutex mutex_;
  std::map<std::string, Current> current_;
};

}  // namespace streamframe
