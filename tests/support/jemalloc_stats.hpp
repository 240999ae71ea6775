#pragma once
// jemalloc's mallctl values for tests, found at run time: programs linked with streamframe
// allocate with jemalloc (docs/guide.md, "Memory allocator"), the sanitizer build does not.

#include <dlfcn.h>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace streamframe::test {

// The value of jemalloc's `name`, or nullopt when jemalloc is not the process's allocator.
template <class T>
std::optional<T> jemalloc_value(const char* name) {
  using Mallctl = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
  static const auto mallctl = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"));
  if (mallctl == nullptr) return std::nullopt;
  T value{};
  std::size_t size = sizeof(value);
  if (mallctl(name, &value, &size, nullptr, 0) != 0) return std::nullopt;
  return value;
}

}  // namespace streamframe::test
