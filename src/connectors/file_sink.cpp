// FileSink: JSON lines per topic partition, each write fsynced before the checkpoint commits.
// A new file per batch is written under a temporary name and renamed, so a file is either all
// of its batch or absent; gzip members come from zlib, one per batch, so appending to a .gz
// file keeps it readable as a whole.
#include "streamframe/file_sink.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include "streamframe/errors.hpp"

namespace streamframe {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what, const fs::path& path) {
  throw Error(
      fmt::format("FileSink: cannot {} '{}': {}", what, path.string(), std::strerror(errno)));
}

std::string safe_topic(const std::string& topic) {
  std::string out = topic;
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == ' ' || c == '.' || c == '_' || c == '/';
    if (!ok) c = '_';
  }
  return out;
}

// One gzip member holding `text`.
std::string gzip(const std::string& text) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw Error("FileSink: zlib deflateInit2 failed");
  }
  std::string out(deflateBound(&z, static_cast<uLong>(text.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw Error("FileSink: zlib deflate failed");
  return out;
}

void write_all(int fd, const std::string& data, const fs::path& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      errno = saved;
      fail("write", path);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    fail("fsync", path);
  }
  if (::close(fd) != 0) fail("close", path);
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("open the directory", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) fail("fsync the directory", dir);
}

// The newest file of this sink's kind in `dir` (19-digit offset + extension), if any.
std::optional<fs::path> newest(const fs::path& dir, const std::string& extension) {
  std::optional<fs::path> best;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 19 + extension.size() || !name.ends_with(extension)) continue;
    if (name.find_first_not_of("0123456789") != 19) continue;
    if (!best || name > best->filename().string()) best = entry.path();
  }
  return best;
}

}  // namespace

FileSink::FileSink(FileSinkOptions options) : options_(std::move(options)) {
  if (options_.directory.empty())
    options_.directory.push_back('.');  // (assigning "." trips GCC 12's -Wrestrict)
  if (!options_.append && (options_.max_file_bytes > 0 || options_.max_file_age.count() > 0)) {
    throw ConfigError(
        "FileSink: max_file_bytes and max_file_age rotate appended files: set "
        "append (without it every batch is a file of its own)");
  }
  if (options_.max_file_age.count() < 0) throw ConfigError("FileSink: max_file_age must be >= 0");
  if (options_.file_extension.find('/') != std::string::npos) {
    throw ConfigError("FileSink: file_extension must not hold '/'");
  }
}

std::string FileSink::extension() const {
  return options_.compress ? options_.file_extension + ".gz" : options_.file_extension;
}

void FileSink::setup() {
  std::error_code ec;
  fs::create_directories(options_.directory, ec);
  if (ec) {
    throw Error(fmt::format("FileSink: cannot create '{}': {}", options_.directory, ec.message()));
  }
}

void FileSink::write(const SinkBatch& batch) {
  if (batch.empty()) return;
  const fs::path dir =
      fs::path(options_.directory) / safe_topic(batch.topic()) / std::to_string(batch.partition());
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("FileSink: cannot create '{}': {}", dir.string(), ec.message()));

  std::string text;
  for (const auto& item : batch.items()) {
    if (options_.dumps) {
      text += options_.dumps(item);
    } else {
      text += Value::object(
                  {{"_timestamp", item.timestamp}, {"_key", item.key}, {"_value", item.value}})
                  .to_json();
    }
    text += '\n';
  }
  const std::string data = options_.compress ? gzip(text) : text;
  // Named by the batch's first offset. Records made without an input message (windows closed
  // by idle closing) carry offset -1: the first real offset names the file then, and a batch
  // of none of those gets the wall clock's milliseconds, so it never replaces another file.
  std::int64_t first_offset = -1;
  for (const auto& item : batch.items()) {
    if (item.offset >= 0) {
      first_offset = item.offset;
      break;
    }
  }
  if (first_offset < 0) {
    first_offset = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  }
  const std::string first = fmt::format("{:019d}{}", first_offset, extension());

  if (!options_.append) {
    const fs::path path = dir / first;
    const fs::path tmp = dir / ("." + first + ".tmp");
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail("create", tmp);
    write_all(fd, data, tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename to", path);
    fsync_dir(dir);
    return;
  }

  std::lock_guard lock(mutex_);
  auto& current = current_[dir.string()];
  const auto now = Clock::now();
  if (current.path.empty()) {
    // First write since the start: go on with the newest file there (its age counts from now).
    if (auto last = newest(dir, extension())) {
      current.path = last->string();
      current.bytes = fs::file_size(*last, ec);
      current.started = now;
    }
  }
  const bool full = options_.max_file_bytes > 0 && current.bytes >= options_.max_file_bytes;
  const bool old =
      options_.max_file_age.count() > 0 && now - current.started >= options_.max_file_age;
  if (current.path.empty() || full || old) {
    current = Current{(dir / first).string(), 0, now};
  }
  const bool created = !fs::exists(current.path, ec);
  const int fd = ::open(current.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) fail("open", current.path);
  write_all(fd, data, current.path);
  if (created) fsync_dir(dir);
  current.bytes += data.size();
}

}  // namespace streamframe
