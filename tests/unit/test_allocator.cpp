// Programs linked with streamframe allocate with jemalloc (CMake option STREAMFRAME_JEMALLOC, on
// by default, off under the sanitizers): malloc resolves to jemalloc's for the whole process, and
// librdkafka's own allocations, which a pipeline makes per record, are served by it too.

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <sys/types.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "support/jemalloc_stats.hpp"

#ifndef STREAMFRAME_TEST_EXPECT_JEMALLOC
#error "tests/CMakeLists.txt defines STREAMFRAME_TEST_EXPECT_JEMALLOC (0 or 1)"
#endif

namespace streamframe {
namespace {

std::string library_of(const char* symbol) {
  void* address = dlsym(RTLD_DEFAULT, symbol);
  if (address == nullptr) return {};
  Dl_info info{};
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) return {};
  return info.dli_fname;
}

// jemalloc's count of bytes this thread allocated so far.
std::uint64_t thread_allocated() {
  return test::jemalloc_value<std::uint64_t>("thread.allocated").value_or(0);
}

TEST(Allocator, ProgramsLinkedWithStreamframeAllocateWithJemalloc) {
  const std::string malloc_library = library_of("malloc");
  ASSERT_FALSE(malloc_library.empty());
  if (!STREAMFRAME_TEST_EXPECT_JEMALLOC) {
    // Built without it (STREAMFRAME_JEMALLOC=OFF, or the sanitizers' allocator): then nothing
    // may have slipped jemalloc in.
    EXPECT_EQ(malloc_library.find("jemalloc"), std::string::npos) << malloc_library;
    return;
  }
  EXPECT_NE(malloc_library.find("libjemalloc"), std::string::npos) << malloc_library;

  // A block librdkafka allocates is jemalloc's: the thread's allocated bytes grow by its size.
  constexpr std::size_t kBytes = 3 << 20;
  const std::uint64_t before = thread_allocated();
  void* block = rd_kafka_mem_malloc(nullptr, kBytes);
  ASSERT_NE(block, nullptr);
  const std::uint64_t after = thread_allocated();
  rd_kafka_mem_free(nullptr, block);
  EXPECT_GE(after - before, kBytes);

  // streamframe's settings (src/core/allocator.cpp) reached it, unless the environment set
  // its own.
  if (std::getenv("MALLOC_CONF") == nullptr) {
    EXPECT_EQ(test::jemalloc_value<ssize_t>("opt.dirty_decay_ms").value_or(-2), 1000);
    EXPECT_EQ(test::jemalloc_value<ssize_t>("opt.muzzy_decay_ms").value_or(-2), 0);
  }
}

}  // namespace
}  // namespace streamframe
