#include <csv.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "streamframe/csv.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {
namespace {

// One field in CSV: libcsv quotes it (doubling its quote characters) when the dialect quotes
// every field or when it holds a delimiter, a quote or a line break.
void append_field(std::string& line, std::string_view field, char delimiter, bool quote_all) {
  const bool quote = quote_all || field.find_first_of(std::string{delimiter, '"', '\r', '\n'}) !=
                                      std::string_view::npos;
  if (!quote) {
    line.append(field);
    return;
  }
  // csv_write2 needs at most 2 * size + 2 bytes: every quote doubled, plus the two around.
  const std::size_t start = line.size();
  line.resize(start + 2 * field.size() + 2);
  const std::size_t n = csv_write2(line.data() + start, line.size() - start, field.data(),
                                   field.size(), static_cast<unsigned char>('"'));
  line.resize(start + n);
}

std::string default_key(const Value& key) {
  if (key.is_null()) return "None";
  if (key.is_string()) return key.as_string();
  return key.to_json();
}

}  // namespace

CSVSink::CSVSink(std::string path, CSVSinkOptions options)
    : path_(std::move(path)), options_(std::move(options)) {
  if (options_.dialect == "excel" || options_.dialect == "excel-tab") {
    delimiter_ = options_.dialect == "excel" ? ',' : '\t';
    quote_all_ = false;
    line_end_ = "\r\n";
  } else if (options_.dialect == "unix") {
    delimiter_ = ',';
    quote_all_ = true;
    line_end_ = "\n";
  } else {
    throw ConfigError("CSVSink: unknown dialect '" + options_.dialect +
                      "' (expected \"excel\", \"excel-tab\" or \"unix\")");
  }
}

void CSVSink::write(const SinkBatch& batch) {
  const auto row = [this](std::string& out, std::initializer_list<std::string_view> fields) {
    bool first = true;
    for (const auto f : fields) {
      if (!first) out += delimiter_;
      first = false;
      append_field(out, f, delimiter_, quote_all_);
    }
    out += line_end_;
  };
  std::string text;
  const std::string partition = std::to_string(batch.partition());
  for (const auto& item : batch.items()) {
    const std::string key =
        options_.key_serializer ? options_.key_serializer(item.key) : default_key(item.key);
    const std::string value =
        options_.value_serializer ? options_.value_serializer(item.value) : item.value.to_json();
    row(text, {key, value, std::to_string(item.timestamp), batch.topic(), partition,
               std::to_string(item.offset)});
  }
  std::lock_guard lock(mutex_);
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(fmt::format("CSVSink: cannot open '{}': {}", path_, std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::lseek(fd, 0, SEEK_END) == 0) {
    std::string header;
    row(header, {"key", "value", "timestamp", "topic", "partition", "offset"});
    text.insert(0, header);
  }
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("CSVSink: writing '{}' failed: {}", path_, std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
  // The rows must be on the disk before the checkpoint commits the offsets that produced them.
  if (::fsync(fd) != 0) {
    throw Error(fmt::format("CSVSink: fsync of '{}' failed: {}", path_, std::strerror(errno)));
  }
}

}  // namespace streamframe
