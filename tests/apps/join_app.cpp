// join_app: an as-of join and an interval join of two topics as a standalone program, for the
// joins' exactly-once acceptance test (tests/integration/test_joins_eos.cpp), which runs it as
// a child process against a real broker and kills it.
//
// Input: the left topic (--input) and the right topic (--right), JSON objects keyed alike and
// co-partitioned. Outputs:
//   --asof-output: left.join_asof(right) (inner, raise): each left record merged with its key's
//                  newest right record at or before it;
//   --output:      left.join_interval(right, {backward, forward}) (inner, raise, store "iv"):
//                  every pair within the window.
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
  CLI::App cli{"streamframe join app: an as-of and an interval join of two topics"};
  sf::test_apps::StatefulAppCli opts;
  opts.add_to(cli);
  std::string right_topic;
  std::string asof_output;
  std::int64_t backward_ms = 0;
  std::int64_t forward_ms = 0;
  cli.add_option("--right", right_topic)->required();
  cli.add_option("--asof-output", asof_output)->required();
  cli.add_option("--backward-ms", backward_ms)->check(CLI::NonNegativeNumber);
  cli.add_option("--forward-ms", forward_ms)->check(CLI::NonNegativeNumber);
  CLI11_PARSE(cli, argc, argv);

  return sf::test_apps::run_guarded("join_app", [&] {
    sf::Application app(opts.config());
    auto left = app.dataframe(app.topic(opts.input));
    auto right = app.dataframe(app.topic(right_topic));
    left.join_asof(right).to_topic(app.topic(asof_output));
    left.join_interval(right, {.name = "iv",
                               .backward = std::chrono::milliseconds(backward_ms),
                               .forward = std::chrono::milliseconds(forward_ms)})
        .to_topic(app.topic(opts.output));
    app.run();
    sf::test_apps::print_stopped("join_app", app);
    return 0;
  });
}
