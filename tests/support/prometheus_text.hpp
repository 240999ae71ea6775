// Reading a /metrics answer (Prometheus text format 0.0.4) in tests.
#pragma once

#include <map>
#include <sstream>
#include <string>

namespace streamframe::test {

// The sum of the samples of `name` whose labels include every one of `labels` (written
// name="value"); -1 when there is none.
inline double sample_sum(const std::string& scrape, const std::string& name,
                         const std::map<std::string, std::string>& labels = {}) {
  std::istringstream in(scrape);
  double sum = 0;
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, name.size(), name) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      if (line.find(k + "=\"" + v + "\"") == std::string::npos) match = false;
    }
    if (!match) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
    found = true;
  }
  return found ? sum : -1;
}

}  // namespace streamframe::test
