// window_app: a windowed aggregation as a standalone program, for the windows' exactly-once
// acceptance test (tests/integration/test_windows_eos.cpp), which runs it as a child process
// against a real broker and kills it.
//
// Input: JSON {"v": <number>} keyed by any key, windowed by the Kafka message timestamp. Per
// message key, tumbling windows of --window-ms with --grace-ms grace sum "v" and count the
// records, and each window is produced once when it closes (final()):
//   key = the message key, timestamp = the window's start,
//   value {"sum": <sum of v>, "n": <records>, "start": <ms>, "end": <ms>}
// Windows close when end + grace <= stream time: the key's largest timestamp seen, or the
// partition's with --closing partition; with --idle-timeout-ms also when the partition has
// seen no record for that long (idle closing, EXT-02).
// With --group-by, the stream is first re-keyed by value["k"] through a repartition topic
// (group_by, SDF-12); inputs carry their key there, so the windows are the same.
//
// It runs until SIGTERM/SIGINT. Exit codes: 0 graceful stop; 1 error (message on stderr, the
// error's type name first); 2 bad command line; 130 second SIGINT.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <streamframe/streamframe.hpp>
#include <string>

#include "app_cli.hpp"

namespace sf = streamframe;

int main(int argc, char** argv) {
  CLI::App cli{"streamframe window app: per-key tumbling window sum and count, final()"};
  sf::test_apps::StatefulAppCli opts;
  opts.add_to(cli);
  std::int64_t window_ms = 1000;
  std::int64_t grace_ms = 0;
  std::string closing = "key";
  std::int64_t idle_timeout_ms = 0;
  cli.add_option("--window-ms", window_ms)->check(CLI::PositiveNumber);
  cli.add_option("--grace-ms", grace_ms)->check(CLI::NonNegativeNumber);
  cli.add_option("--closing", closing)->check(CLI::IsMember({"key", "partition"}));
  cli.add_option("--idle-timeout-ms", idle_timeout_ms, "idle closing (EXT-02); 0 = off")
      ->check(CLI::NonNegativeNumber);
  bool group_by = false;
  cli.add_flag("--group-by", group_by, "re-key by value[\"k\"] through a repartition topic first");
  CLI11_PARSE(cli, argc, argv);

  return sf::test_apps::run_guarded("window_app", [&] {
    sf::Application app(opts.config());
    auto sdf = app.dataframe(app.topic(opts.input));
    if (group_by) sdf = sdf.group_by("k");
    sdf.tumbling_window(std::chrono::milliseconds(window_ms),
                        {.grace = std::chrono::milliseconds(grace_ms)})
        .agg({{"sum", sf::agg::sum("v")}, {"n", sf::agg::count()}})
        .final({.closing_strategy = closing == "partition" ? sf::ClosingStrategy::partition
                                                           : sf::ClosingStrategy::key,
                .idle_timeout = std::chrono::milliseconds(idle_timeout_ms)})
        .to_topic(app.topic(opts.output));
    app.run();
    sf::test_apps::print_stopped("window_app", app);
    return 0;
  });
}
