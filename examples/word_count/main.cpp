// Word count with state: sentences in, a running count per word out.
//
// Each sentence is split into words (apply with expand), and a stateful apply keeps a counter
// per word in the state of the sentence's key (here: the author). Counts survive restarts:
// on a real broker they live in RocksDB under --state-dir and in a compacted changelog topic,
// and with --exactly-once every count is produced exactly once even if the process dies.
//
//   word_count                                  # embedded broker, built-in sentences
//   word_count --broker localhost:9092 --exactly-once --state-dir /tmp/wc
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <streamframe/streamframe.hpp>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace sf = streamframe;

int main(int argc, char** argv) {
  CLI::App cli{"streamframe word count: per-key word counts kept in state"};
  std::string broker = "embedded";
  std::string state_dir = "state";
  bool exactly_once = false;
  cli.add_option("--broker", broker, "broker address, or \"embedded\" (default)");
  cli.add_option("--state-dir", state_dir, "where the RocksDB stores live (default ./state)");
  cli.add_flag("--exactly-once", exactly_once, "processing_guarantee = exactly_once (real broker)");
  CLI11_PARSE(cli, argc, argv);

  try {
    sf::Application app({.broker_address = broker,
                         .consumer_group = "word-count",
                         .state_dir = state_dir,
                         .auto_offset_reset = sf::AutoOffsetReset::earliest,
                         .processing_guarantee = exactly_once
                                                     ? sf::ProcessingGuarantee::exactly_once
                                                     : sf::ProcessingGuarantee::at_least_once,
                         .commit_interval = 1s});
    auto sentences = app.topic("sentences", {.config = sf::TopicConfig{.num_partitions = 2}});
    auto counts = app.topic("word-counts", {.config = sf::TopicConfig{.num_partitions = 2}});

    {
      auto producer = app.get_producer();
      const std::vector<std::pair<std::string, std::string>> input{
          {"ada", "the quick brown fox"},
          {"alan", "the lazy dog"},
          {"ada", "the fox jumps"},
          {"alan", "the dog sleeps and the fox runs"}};
      for (const auto& [author, text] : input) {
        producer.produce(sentences, sf::Value::object({{"text", text}}), sf::Value(author));
      }
      producer.flush(10s);
    }

    app.dataframe(sentences)
        .apply(
            [](const sf::Value& v) {
              sf::Array words;
              std::istringstream in(v["text"].as_string());
              for (std::string w; in >> w;) words.emplace_back(w);
              return sf::Value(std::move(words));
            },
            {.expand = true})
        .apply([](const sf::Value& word, sf::State& state) {
          const auto n = state.get(word, sf::Value(0)).as_int() + 1;
          state.set(word, sf::Value(n));
          return sf::Value::object({{"word", word}, {"count", n}});
        })
        .print({.pretty = false, .metadata = true})
        .to_topic(counts);

    // Stop once the app has been idle for 3 s (a production app just calls run()).
    app.run({.timeout = 3s, .collect = false});
    std::printf("word_count: %llu sentences, %llu counts produced, %llu checkpoints\n",
                static_cast<unsigned long long>(app.stats().messages_consumed),
                static_cast<unsigned long long>(app.stats().records_produced),
                static_cast<unsigned long long>(app.stats().checkpoints));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "word_count: error: %s\n", e.what());
    return 1;
  }
}
