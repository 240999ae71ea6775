// Shared by the golden runners (tests/golden/README.md): the case text helpers, error names
// and the expected/actual transcript diff. Only for those runners' translation units.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "streamframe/streamframe.hpp"

namespace streamframe::golden {

// Thrown for mistakes in a case file (as opposed to errors of the library under test).
struct CaseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

inline std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

inline std::int64_t parse_int(const std::string& s, const std::string& what) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    throw CaseError("expected an integer for " + what + ", got '" + s + "'");
  }
  if (used != s.size()) throw CaseError("expected an integer for " + what + ": '" + s + "'");
  return v;
}

// Splits "<first> <second> <rest...>" into the two leading tokens and the remainder.
inline bool take_two(const std::string& line, std::string& a, std::string& b, std::string& rest) {
  std::istringstream in(line);
  if (!(in >> a >> b)) return false;
  std::getline(in, rest);
  rest = trim(rest);
  return true;
}

inline std::string key_text(const Value& key) {
  return key.is_string() ? key.as_string() : key.to_json();
}

inline Value parse_key(const std::string& token) {
  if (token == "null") return Value();
  return Value(token);
}

// `late` lines: "late <key> f=v ..." with spaces collapsed; other lines: "<key> <ts> <json>"
// with the JSON re-serialized (whitespace-insensitive, key order and int/double kept).
inline std::string canonical_expect(const std::string& line) {
  const auto tokens = split_ws(line);
  if (tokens.empty()) throw std::runtime_error("empty expect line");
  if (tokens[0] == "late" || tokens[0] == "error") {
    std::string out;
    for (const auto& t : tokens) out += (out.empty() ? "" : " ") + t;
    return out;
  }
  if (tokens[0] == "advance" || tokens[0] == "tick")
    throw std::runtime_error("'" + tokens[0] + "' is not an output line");
  std::string key, ts, json;
  if (!take_two(line, key, ts, json) || json.empty())
    throw std::runtime_error("expect line needs '<key> <timestamp> <json>': " + line);
  parse_int(ts, "timestamp");
  return key + " " + ts + " " + Value::from_json(json).to_json();
}

inline std::string collapse(const std::string& line) {
  std::string out;
  for (const auto& t : split_ws(line)) out += (out.empty() ? "" : " ") + t;
  return out;
}

inline std::string error_name(const std::exception& e) {
#define GOLDEN_ERROR(T) \
  if (dynamic_cast<const T*>(&e)) return #T;
  GOLDEN_ERROR(KafkaBrokerUnavailableError)
  GOLDEN_ERROR(KafkaError)
  GOLDEN_ERROR(IgnoreMessage)
  GOLDEN_ERROR(ConfigError)
  GOLDEN_ERROR(InvalidOperation)
  GOLDEN_ERROR(ColumnDoesNotExist)
  GOLDEN_ERROR(InvalidColumnReference)
  GOLDEN_ERROR(ValueTypeError)
  GOLDEN_ERROR(ArithmeticError)
  GOLDEN_ERROR(OverlappingColumns)
  GOLDEN_ERROR(SerializationError)
  GOLDEN_ERROR(TopicNotFound)
  GOLDEN_ERROR(TopicPartitionsMismatch)
  GOLDEN_ERROR(TopicConfigurationMismatch)
  GOLDEN_ERROR(InvalidStoredOffset)
  GOLDEN_ERROR(RocksDBCorruptedError)
  GOLDEN_ERROR(StateRecoveryOffsetOutOfRange)
  GOLDEN_ERROR(IncompatibleStateStoreError)
  GOLDEN_ERROR(CheckpointProducerTimeout)
  GOLDEN_ERROR(CheckpointConsumerCommitError)
  GOLDEN_ERROR(SourceException)
  GOLDEN_ERROR(Interrupted)
  GOLDEN_ERROR(InvalidTimestamp)
  GOLDEN_ERROR(AggregationError)
  GOLDEN_ERROR(Error)
#undef GOLDEN_ERROR
  return "std::exception(" + std::string(e.what()) + ")";
}

inline std::string listing(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += "    " + l + "\n";
  return s;
}

// A line diff (LCS) of expected against actual: "-" expected only, "+" actual only.
inline std::string diff(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> l(n + 1, std::vector<std::size_t>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;)
    for (std::size_t j = m; j-- > 0;)
      l[i][j] = a[i] == b[j] ? l[i + 1][j + 1] + 1 : std::max(l[i + 1][j], l[i][j + 1]);
  std::string out;
  std::size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      out += "    " + a[i++] + "\n";
      ++j;
    } else if (j < m && (i == n || l[i][j + 1] >= l[i + 1][j])) {
      out += "  + " + b[j++] + "\n";
    } else {
      out += "  - " + a[i++] + "\n";
    }
  }
  return out;
}

// Every case of the *.test files under <root>/<subdir>, in file-name order, parsed by
// `parse(path, relative name, cases, errors)`.
template <class Case>
struct Loaded {
  std::vector<Case> cases;
  std::vector<std::string> errors;
  std::vector<std::string> files;
};

template <class Case, class Parse>
Loaded<Case> load_cases(const std::string& root_dir, const std::string& subdir, Parse parse) {
  namespace fs = std::filesystem;
  Loaded<Case> l;
  const fs::path root(root_dir);
  const fs::path dir = root / subdir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    l.errors.push_back(dir.string() + ": not a directory");
    return l;
  }
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".test")
      paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    const std::string rel = fs::relative(p, root).string();
    l.files.push_back(rel);
    parse(p, rel, l.cases, l.errors);
  }
  return l;
}

// The input lines (steps[1..]) with what each produced under it ("> ..."), as compared and
// as shown; steps[0] is the definition, whose outputs come first.
template <class Case>
std::vector<std::string> transcript(const Case& c,
                                    const std::vector<std::vector<std::string>>& outputs) {
  std::vector<std::string> t;
  for (std::size_t i = 0; i < c.steps.size(); ++i) {
    if (i > 0) t.push_back(c.steps[i].text);
    for (const auto& line : outputs[i]) t.push_back("> " + line);
  }
  return t;
}

// A gtest name for a case: <file stem>_L<line>_<name with non-alphanumerics as '_'>.
inline std::string case_test_name(const std::string& file, int line, const std::string& name) {
  std::string s = std::filesystem::path(file).stem().string() + "_L" + std::to_string(line) + "_";
  for (char ch : name) {
    if (std::isalnum(static_cast<unsigned char>(ch)))
      s += ch;
    else if (s.back() != '_')
      s += '_';
  }
  while (!s.empty() && s.back() == '_') s.pop_back();
  return s;
}

}  // namespace streamframe::golden
