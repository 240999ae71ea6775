// The suite's workloads on streamframe (bench/nexmark/SPEC.md, "Workloads and their outputs"),
// written as a user would write them with the Streaming DataFrame API. The same declaration
// runs on Kafka (`run`) and in-process (`engine`, through TestDriver).
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "generator.hpp"
#include "streamframe/streamframe.hpp"

namespace streamframe::bench::nexmark {

inline const std::vector<std::string>& workload_names() {
  static const std::vector<std::string> names{"q0", "q1",        "q2",         "q5",
                                              "q7", "wordcount", "temperature"};
  return names;
}

inline Kind input_kind(std::string_view workload) {
  if (workload == "wordcount") return Kind::words;
  if (workload == "temperature") return Kind::temperature;
  if (workload == "q0" || workload == "q1" || workload == "q2" || workload == "q5" ||
      workload == "q7") {
    return Kind::nexmark;
  }
  throw std::invalid_argument(fmt::format("unknown workload '{}'", workload));
}

// Declares `workload` on `root` (the frame of the input topic), producing to `out`.
inline void declare_workload(std::string_view workload, StreamingDataFrame root, const Topic& out) {
  using std::chrono::seconds;
  const EmitOptions partition_closing{.closing_strategy = ClosingStrategy::partition};
  if (workload == "q0") {
    root.to_topic(out);
    return;
  }
  if (workload == "wordcount") {
    root.apply(
            [](const Value& v) {
              Array words;
              const std::string& text = v["text"].as_string();
              std::size_t begin = 0;
              while (begin <= text.size()) {
                const std::size_t end = std::min(text.find(' ', begin), text.size());
                words.emplace_back(text.substr(begin, end - begin));
                begin = end + 1;
              }
              return Value(std::move(words));
            },
            {.expand = true})
        .apply([](const Value& word, State& state) {
          const std::int64_t n = state.get(word, Value(0)).as_int() + 1;
          state.set(word, Value(n));
          return Value::object({{"word", word}, {"count", Value(n)}});
        })
        .to_topic(out);
    return;
  }
  if (workload == "temperature") {
    auto sdf = root;
    sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
    sdf = sdf[sdf["temperature_F"] > 150];
    sdf.to_topic(out);
    return;
  }
  auto bids = root[root["type"] == "bid"];
  if (workload == "q1") {
    bids["price"] = bids["price"] * 0.908;
    bids.to_topic(out);
  } else if (workload == "q2") {
    bids = bids[bids["auction"] % 123 == 0];
    bids[{"auction", "price"}].to_topic(out);
  } else if (workload == "q5") {
    bids.hopping_window(seconds(10), seconds(2)).count().final(partition_closing).to_topic(out);
  } else if (workload == "q7") {
    bids.apply([](const Value& bid) { return bid["price"]; })
        .tumbling_window(seconds(10))
        .max()
        .final(partition_closing)
        .to_topic(out);
  } else {
    throw std::invalid_argument(fmt::format("unknown workload '{}'", workload));
  }
}

}  // namespace streamframe::bench::nexmark
