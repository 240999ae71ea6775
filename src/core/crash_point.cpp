#include "core/crash_point.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/logging.hpp"

namespace streamframe::detail {
namespace {

// The armed point, parsed once from the environment.
struct CrashSpec {
  std::string point;  // empty = no crash point armed
  long hit = 1;       // the pass that crashes
  std::atomic<long> passes{0};

  CrashSpec() {
    const char* env = std::getenv("STREAMFRAME_TEST_CRASH_AT");
    if (env == nullptr || *env == '\0') return;
    const std::string_view v(env);
    const auto colon = v.rfind(':');
    point = std::string(v.substr(0, colon));
    if (colon != std::string_view::npos) {
      hit = std::max(1L, std::strtol(std::string(v.substr(colon + 1)).c_str(), nullptr, 10));
    }
  }
};

CrashSpec& spec() {
  static CrashSpec s;
  return s;
}

}  // namespace

void crash_point(const char* point) {
  CrashSpec& s = spec();
  if (s.point.empty() || s.point != point) return;
  if (s.passes.fetch_add(1) + 1 != s.hit) return;
  // The test reads the log to know the crash happened where it asked.
  logger()->critical("crash point '{}' (pass {}): killing the process", point, s.hit);
  logger()->flush();
  ::kill(::getpid(), SIGKILL);
  ::_exit(137);  // not reached
}

}  // namespace streamframe::detail
