// counter_app: a stateful pipeline as a standalone program, for the state and exactly-once
// acceptance tests (tests/integration/test_state_*.cpp), which run it as a child process
// against a real broker and kill it.
//
// Input: JSON {"id": <int>, "words": [<string>...]} keyed by any key. For every word of a
// record the app adds one to the state counter of (message key, word) and produces
//   {"id": id, "word": word, "count": <count after this record>}
// with the message's key. Under exactly-once every (key, word) has outputs counting 1, 2, 3...
// with no gap and no repeat, and the last count equals the number of inputs containing it.
//
// It runs until SIGTERM/SIGINT. Exit codes: 0 graceful stop; 1 error (message on stderr, the
// error's type name first); 2 bad command line; 130 second SIGINT.
#include <CLI/CLI.hpp>
#include <streamframe/streamframe.hpp>
#include <utility>

#include "app_cli.hpp"

namespace sf = streamframe;

int main(int argc, char** argv) {
  CLI::App cli{"streamframe counter app: per-key word counts in state"};
  sf::test_apps::StatefulAppCli opts;
  opts.add_to(cli);
  CLI11_PARSE(cli, argc, argv);

  return sf::test_apps::run_guarded("counter_app", [&] {
    sf::Application app(opts.config());
    auto sdf = app.dataframe(app.topic(opts.input));
    sdf.apply(
           [](const sf::Value& v) {
             sf::Array out;
             for (const auto& w : v["words"].as_array()) {
               out.push_back(sf::Value::object({{"id", v["id"]}, {"word", w}}));
             }
             return sf::Value(std::move(out));
           },
           {.expand = true})
        .apply([](const sf::Value& v, sf::State& state) {
          const auto n = state.get(v["word"], sf::Value(0)).as_int() + 1;
          state.set(v["word"], sf::Value(n));
          return sf::Value::object({{"id", v["id"]}, {"word", v["word"]}, {"count", n}});
        })
        .to_topic(app.topic(opts.output));
    app.run();
    sf::test_apps::print_stopped("counter_app", app);
    return 0;
  });
}
