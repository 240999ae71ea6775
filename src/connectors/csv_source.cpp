#include <csv.h>
#include <fmt/format.h>

#include <fstream>
#include <optional>
#include <thread>
#include <vector>

#include "core/logging.hpp"
#include "streamframe/csv.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {
namespace {

char delimiter_of(const std::string& dialect) {
  if (dialect == "excel" || dialect == "unix") return ',';
  if (dialect == "excel-tab") return '\t';
  throw ConfigError("CSVSource: unknown dialect '" + dialect +
                    "' (expected \"excel\", \"excel-tab\" or \"unix\")");
}

// Read as Python's csv module reads the excel dialect (not strict): a quote inside an unquoted
// field is a character of it; a quoted field still open at the end of the file is an error.
// Python's csv module keeps spaces around fields; libcsv trims them unless told otherwise.
int no_space(unsigned char) {
  return 0;
}

// libcsv calls back per field and per record; a record is handed over whole.
class RowReader {
 public:
  explicit RowReader(char delimiter) : delim_(static_cast<unsigned char>(delimiter)) {
    if (csv_init(&parser_, CSV_STRICT_FINI) != 0) {
      throw Error("CSVSource: cannot initialise the CSV parser");
    }
    csv_set_delim(&parser_, delim_);
    csv_set_space_func(&parser_, no_space);
  }
  ~RowReader() { csv_free(&parser_); }
  RowReader(const RowReader&) = delete;
  RowReader& operator=(const RowReader&) = delete;

  // Feeds one physical line (without its newline). Returns the fields of the record it ends,
  // if any; nullopt while a quoted field goes on to the next line. Throws Error for a line
  // that is not CSV (the parser is reset so the next line starts a record).
  std::optional<std::vector<std::string>> feed(const std::string& line) {
    done_ = false;
    std::string chunk = line;
    chunk += '\n';
    if (csv_parse(&parser_, chunk.data(), chunk.size(), on_field, on_record, this) !=
        chunk.size()) {
      const std::string what = csv_strerror(csv_error(&parser_));
      reset();
      throw Error(what);
    }
    in_record_ = !done_;
    if (!done_) return std::nullopt;
    return std::move(record_);
  }

  // At the end of the file: a record still open (an unterminated quote) => Error.
  void finish() {
    if (csv_fini(&parser_, on_field, on_record, this) != 0) {
      const std::string what = csv_strerror(csv_error(&parser_));
      reset();
      throw Error(what);
    }
  }

  // Whether the last line left a record open (a quoted field with a line break).
  bool in_record() const { return in_record_; }

 private:
  static void on_field(void* field, std::size_t size, void* self) {
    static_cast<RowReader*>(self)->fields_.emplace_back(static_cast<const char*>(field), size);
  }
  static void on_record(int, void* self) {
    auto* r = static_cast<RowReader*>(self);
    r->record_ = std::move(r->fields_);
    r->fields_.clear();
    r->done_ = true;
  }
  void reset() {
    csv_free(&parser_);
    fields_.clear();
    in_record_ = false;
    (void)csv_init(&parser_, CSV_STRICT_FINI);
    csv_set_delim(&parser_, delim_);
    csv_set_space_func(&parser_, no_space);
  }

  unsigned char delim_;
  csv_parser parser_{};
  bool in_record_ = false;
  std::vector<std::string> fields_;
  std::vector<std::string> record_;
  bool done_ = false;
};

}  // namespace

CSVSource::CSVSource(std::string path, std::string name, CSVSourceOptions options)
    : Source(std::move(name), options.shutdown_timeout),
      path_(std::move(path)),
      options_(std::move(options)) {
  (void)delimiter_of(options_.dialect);
}

TopicOptions CSVSource::default_topic_options() const {
  TopicOptions o;
  o.key_serializer = "string";
  o.key_deserializer = "string";
  return o;
}

void CSVSource::run() {
  std::ifstream in(path_);
  if (!in) throw ConfigError("CSVSource '" + name() + "': cannot open '" + path_ + "'");
  detail::logger()->info("CSVSource '{}': producing the rows of '{}'", name(), path_);
  RowReader reader(delimiter_of(options_.dialect));
  std::vector<std::string> header;
  std::string line;
  std::size_t line_no = 0;
  std::size_t record_line = 0;  // where the record being read started
  std::size_t rows = 0, skipped = 0;
  const auto malformed = [&](std::size_t at, const std::string& why) {
    const std::string what =
        fmt::format("CSVSource '{}': '{}' line {}: {}", name(), path_, at, why);
    if (!options_.skip_malformed || header.empty()) throw SerializationError(what);
    detail::logger()->warn("{}; the row was skipped", what);
    ++skipped;
  };
  while (running() && std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const bool starts_record = !reader.in_record();
    if (starts_record) {
      if (line.empty()) continue;  // a blank line between records
      record_line = line_no;
    }
    std::optional<std::vector<std::string>> fields;
    try {
      fields = reader.feed(line);
    } catch (const Error& e) {
      malformed(record_line, e.what());
      continue;
    }
    if (!fields) continue;
    if (header.empty()) {
      header = std::move(*fields);
      continue;
    }
    if (fields->size() != header.size()) {
      malformed(record_line,
                fmt::format("{} fields where the header has {}", fields->size(), header.size()));
      continue;
    }
    Object row;
    row.reserve(header.size());
    // A repeated column name keeps its last field, as Python's csv.DictReader does.
    for (std::size_t i = 0; i < header.size(); ++i) row.set(header[i], Value((*fields)[i]));
    Value value(std::move(row));
    const Value key = options_.key_extractor ? options_.key_extractor(value) : Value();
    const std::int64_t ts = options_.timestamp_extractor ? options_.timestamp_extractor(value) : 0;
    produce(serialize(key, value, {}, ts));
    ++rows;
    if (options_.delay.count() > 0) std::this_thread::sleep_for(options_.delay);
  }
  if (running()) {
    try {
      reader.finish();
    } catch (const Error& e) {
      malformed(record_line, e.what());
    }
  }
  detail::logger()->info("CSVSource '{}': {} rows produced, {} skipped", name(), rows, skipped);
}

}  // namespace streamframe
