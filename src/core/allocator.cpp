// jemalloc's settings for the programs linked with streamframe (CMake option STREAMFRAME_JEMALLOC;
// docs/guide.md, "Memory allocator"). jemalloc reads the global `malloc_conf` at its first
// allocation; libstreamframe.so comes before libjemalloc.so on such a program's link line, so
// this definition is the one it finds. A program's own `malloc_conf`, or the MALLOC_CONF
// environment variable, still overrides it. Without jemalloc in the process the symbol is unused.
//
// Freed pages go back to the kernel within about a second instead of jemalloc's default ten (and
// skip the lazily-purged "muzzy" stage): a pipeline frees fetch buffers and records at a high
// rate, and with the defaults q1's peak RSS was 237-257 MiB against glibc's 134-140 MiB; with
// these 154-158 MiB (bench/nexmark/notes.md).
extern "C" {
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): jemalloc's interface
__attribute__((visibility("default"))) const char* malloc_conf =
    "dirty_decay_ms:1000,muzzy_decay_ms:0";
}
