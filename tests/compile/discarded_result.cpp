// Compiled by the api.nodiscard.* tests (tests/CMakeLists.txt), never linked: each CASE
// discards what an operation returns, which must be diagnosed ([[nodiscard]]), because the
// frame it built is lost and the pipeline silently runs without it. CASE=keep uses every
// result and must compile cleanly: it proves the other cases fail for the discard alone.
#include <chrono>

#include "streamframe/streamframe.hpp"

namespace sf = streamframe;

void declare(sf::StreamingDataFrame sdf) {
#if CASE_filter
  sdf.filter([](const sf::Value& v) { return v["x"].as_int() > 1; });
#elif CASE_apply
  sdf.apply([](const sf::Value& v) { return v; });
#elif CASE_predicate
  sdf[sdf["x"] > 1];
#elif CASE_window
  sdf.tumbling_window(std::chrono::seconds(10)).sum().final();
#elif CASE_series
  sdf["x"] * 9;
#else
  sdf = sdf.filter([](const sf::Value& v) { return v["x"].as_int() > 1; });
  sdf = sdf.apply([](const sf::Value& v) { return v; });
  sdf = sdf[sdf["x"] > 1];
  auto windowed = sdf.tumbling_window(std::chrono::seconds(10)).sum().final();
  sdf["y"] = sdf["x"] * 9;
  windowed.print();
#endif
}
