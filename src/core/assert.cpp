#include "core/assert.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/logging.hpp"

namespace streamframe::detail {

void assertion_failed(const char* condition, const char* file, int line,
                      const std::string& message) noexcept {
  const std::string text = fmt::format(
      "internal invariant violated at {}:{}: {} ({}); this is a streamframe bug, "
      "stopping without committing anything",
      file, line, message, condition);
  try {
    logger()->critical("{}", text);
    logger()->flush();
  } catch (...) {
    // The logger itself failed: stderr below still says it.
  }
  std::fprintf(stderr, "streamframe: %s\n", text.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace streamframe::detail
