// SF_ASSERT: an internal invariant, checked in every build (NDEBUG does not remove it).
//
// A violation is a bug in streamframe, not bad input (bad input gets a typed error through the
// documented error path). Continuing could commit offsets or a transaction for records that
// were processed wrongly, so the process stops at once: the message names the file, line,
// condition and the values that broke it, and std::abort leaves a core dump. Nothing after
// the last checkpoint is committed; the next run resumes from it.
//
//   SF_ASSERT(state.ready, "message of {}[{}] before its state was restored", topic, p);
#pragma once

#include <fmt/format.h>

#include <string>

namespace streamframe::detail {

// Logs the violation (CRITICAL, plus stderr in case logging is off) and aborts.
[[noreturn]] void assertion_failed(const char* condition, const char* file, int line,
                                   const std::string& message) noexcept;

}  // namespace streamframe::detail

#define SF_ASSERT(condition, ...)                                             \
  do {                                                                        \
    if (!(condition)) [[unlikely]] {                                          \
      ::streamframe::detail::assertion_failed(#condition, __FILE__, __LINE__, \
                                              ::fmt::format(__VA_ARGS__));    \
    }                                                                         \
  } while (false)
