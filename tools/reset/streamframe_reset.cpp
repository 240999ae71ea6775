// streamframe-reset: the application reset tool (issue 18), modelled on Kafka Streams'
// kafka-streams-application-reset. For an application (its consumer group) it moves the
// committed offsets of its input topics (to the earliest or latest offset, a point in time or
// a duration ago), deletes its internal topics (changelog__<group>--*, repartition__<group>--*)
// and, when asked, its local state directory; it refuses while the group has active members,
// because they would commit their own offsets over the reset and keep their stores. `inspect`
// lists what the application has: offsets and lag of its inputs, its stores' changelogs and
// their offsets, the local state directory's size.
//
// Exit codes: 0 done (or nothing to do), 1 an error (Kafka, configuration), 2 bad arguments,
// 3 refused: the group has active members.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "kafka/admin.hpp"
#include "kafka/codes.hpp"
#include "kafka/config.hpp"
#include "kafka/consumer.hpp"
#include "streamframe/connection.hpp"
#include "streamframe/errors.hpp"

namespace {

using std::chrono::milliseconds;
using streamframe::ConfigError;
using streamframe::kafka::TopicPartition;

constexpr int kRefused = 3;

struct Options {
  std::string bootstrap_servers;
  std::string group;
  std::vector<std::string> input_topics;
  bool to_earliest = false;
  bool to_latest = false;
  std::string to_datetime;
  std::string by_duration;
  std::string state_dir;
  bool keep_internal_topics = false;
  bool dry_run = false;
  std::string command_config;
  int timeout_ms = 30000;
};

// ISO 8601 instant: 2026-12-01T10:00:00[.123](Z|+01:00|-0500) -> ms since the epoch (UTC).
std::int64_t parse_datetime(const std::string& text) {
  static const std::regex re(
      R"((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}:?\d{2}))");
  std::smatch m;
  if (!std::regex_match(text, m, re)) {
    throw ConfigError("--to-datetime '" + text +
                      "': expected YYYY-MM-DDTHH:MM:SS[.sss] with Z or an offset like +01:00");
  }
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  std::int64_t ms = static_cast<std::int64_t>(::timegm(&tm)) * 1000;
  if (m[7].matched) {
    std::string frac = m[7];
    frac.resize(3, '0');
    ms += std::stoi(frac);
  }
  const std::string zone = m[8];
  if (zone != "Z") {
    const int sign = zone[0] == '-' ? -1 : 1;
    const std::string digits = std::regex_replace(zone.substr(1), std::regex(":"), "");
    const int minutes = std::stoi(digits.substr(0, 2)) * 60 + std::stoi(digits.substr(2, 2));
    ms -= sign * static_cast<std::int64_t>(minutes) * 60000;
  }
  return ms;
}

// ISO 8601 duration as Kafka's tool takes it (PnDTnHnMnS, e.g. PT1H30M, P1D), or a number with
// a unit (90s, 15m, 2h, 1d, 500ms) -> ms.
std::int64_t parse_duration(const std::string& text) {
  static const std::regex iso(R"(P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?)",
                              std::regex::icase);
  static const std::regex simple(R"((\d+)(ms|s|m|h|d))");
  std::smatch m;
  if (std::regex_match(text, m, simple)) {
    const std::int64_t n = std::stoll(m[1]);
    const std::string unit = m[2];
    const std::int64_t per = unit == "ms"  ? 1
                             : unit == "s" ? 1000
                             : unit == "m" ? 60000
                             : unit == "h" ? 3600000
                                           : 86400000;
    return n * per;
  }
  if (text.size() > 1 && std::regex_match(text, m, iso) && text != "PT") {
    auto part = [&m](int i) { return m[i].matched ? std::stod(m[i]) : 0.0; };
    return static_cast<std::int64_t>((part(1) * 86400 + part(2) * 3600 + part(3) * 60 + part(4)) *
                                     1000);
  }
  throw ConfigError("--by-duration '" + text +
                    "': expected an ISO 8601 duration (PT1H30M, P1D) or a number with a unit "
                    "(90s, 15m, 2h, 1d)");
}

std::uint64_t directory_bytes(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

std::string human_bytes(std::uint64_t b) {
  if (b >= (1ULL << 30)) return fmt::format("{:.1f} GiB", static_cast<double>(b) / (1ULL << 30));
  if (b >= (1ULL << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1ULL << 20));
  if (b >= (1ULL << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(b) / (1ULL << 10));
  return fmt::format("{} B", b);
}

class Tool {
 public:
  explicit Tool(const Options& o) : o_(o), timeout_(o.timeout_ms) {
    streamframe::kafka::Config config{{"bootstrap.servers", o.bootstrap_servers}};
    if (!o.command_config.empty()) {
      const auto connection = streamframe::ConnectionConfig::from_properties_file(o.command_config);
      for (const auto& [k, v] : connection.to_librdkafka()) {
        if (k != "bootstrap.servers") config.emplace_back(k, v);
      }
    }
    admin_ = std::make_unique<streamframe::kafka::Admin>(config);
    // Offsets by time and watermarks come from a consumer that never joins a group.
    auto consumer_config = config;
    consumer_config.emplace_back("group.id", o.group + "-reset-tool");
    consumer_config.emplace_back("enable.auto.commit", "false");
    lookups_ = std::make_unique<streamframe::kafka::Consumer>(consumer_config);
    if (!admin_->wait_until_reachable(timeout_)) {
      throw streamframe::KafkaBrokerUnavailableError(streamframe::kafka::code::transport,
                                                     "no Kafka broker reachable at '" +
                                                         o.bootstrap_servers + "' within " +
                                                         std::to_string(o.timeout_ms) + " ms",
                                                     true, false);
    }
    topics_ = admin_->topics(timeout_);
  }

  bool internal(const std::string& topic) const {
    return topic.starts_with("changelog__" + o_.group + "--") ||
           topic.starts_with("repartition__" + o_.group + "--");
  }

  std::vector<std::string> internal_topics() const {
    std::vector<std::string> out;
    for (const auto& [name, partitions] : topics_) {
      if (internal(name)) out.push_back(name);
    }
    return out;
  }

  // The input topics: as given, else every topic the group has committed offsets for that is
  // not one of its internal topics (a group_by's repartition topic is internal: it is
  // deleted, so its offsets go with it).
  std::vector<std::string> input_topics(const std::vector<TopicPartition>& committed) const {
    if (!o_.input_topics.empty()) {
      for (const auto& t : o_.input_topics) {
        if (!topics_.contains(t)) throw ConfigError("input topic '" + t + "' does not exist");
      }
      return o_.input_topics;
    }
    std::set<std::string> names;
    for (const auto& tp : committed) {
      if (!internal(tp.topic)) names.insert(tp.topic);
    }
    return {names.begin(), names.end()};
  }

  std::vector<TopicPartition> partitions_of(const std::vector<std::string>& topics) const {
    std::vector<TopicPartition> tps;
    for (const auto& t : topics) {
      for (int p = 0; p < topics_.at(t); ++p) tps.push_back({t, p, 0});
    }
    return tps;
  }

  std::pair<std::int64_t, std::int64_t> watermarks(const TopicPartition& tp) {
    return lookups_->query_watermarks(tp.topic, tp.partition, timeout_);
  }

  int reset() {
    const auto group = admin_->describe_group(o_.group, timeout_);
    fmt::print("consumer group '{}': state {}, {} member(s)\n", o_.group, group.state,
               group.members);
    if (group.members > 0) {
      fmt::print(stderr,
                 "error: consumer group '{}' has {} active member(s) (state {}): stop every "
                 "instance of the application before resetting it; nothing was changed\n",
                 o_.group, group.members, group.state);
      return kRefused;
    }
    const auto committed = admin_->group_offsets(o_.group, timeout_);
    std::map<std::pair<std::string, int>, std::int64_t> before;
    for (const auto& tp : committed) before[{tp.topic, tp.partition}] = tp.offset;
    const auto inputs = input_topics(committed);
    const auto targets = target_offsets(partitions_of(inputs));

    fmt::print("input offsets ({}):\n", describe_target());
    if (targets.empty()) fmt::print("  none (the group has committed no input offsets)\n");
    for (const auto& tp : targets) {
      const auto it = before.find({tp.topic, tp.partition});
      fmt::print("  {}[{}]: {} -> {}\n", tp.topic, tp.partition,
                 it == before.end() ? std::string("none") : std::to_string(it->second), tp.offset);
    }
    const auto internals = internal_topics();
    if (o_.keep_internal_topics) {
      fmt::print("internal topics: kept (--keep-internal-topics)\n");
    } else {
      fmt::print("internal topics to delete:\n");
      if (internals.empty()) fmt::print("  none\n");
      for (const auto& t : internals) {
        fmt::print("  {} ({} partitions)\n", t, topics_.at(t));
      }
    }
    std::filesystem::path state;
    if (!o_.state_dir.empty()) {
      state = std::filesystem::path(o_.state_dir) / o_.group;
      fmt::print("local state to delete: {} ({})\n", state.string(),
                 std::filesystem::exists(state) ? human_bytes(directory_bytes(state))
                                                : std::string("absent"));
    }
    if (o_.dry_run) {
      fmt::print("dry run: nothing was changed\n");
      return 0;
    }
    admin_->alter_group_offsets(o_.group, targets, timeout_);
    if (!o_.keep_internal_topics) {
      for (const auto& t : internals) (void)admin_->delete_topic(t, timeout_);
    }
    if (!state.empty()) std::filesystem::remove_all(state);
    fmt::print("done: {} offset(s) set, {} internal topic(s) deleted{}\n", targets.size(),
               o_.keep_internal_topics ? 0 : internals.size(),
               state.empty() ? "" : ", local state deleted");
    return 0;
  }

  int inspect() {
    const auto group = admin_->describe_group(o_.group, timeout_);
    fmt::print("application '{}': consumer group state {}, {} member(s)\n", o_.group, group.state,
               group.members);
    const auto committed = admin_->group_offsets(o_.group, timeout_);
    std::map<std::pair<std::string, int>, std::int64_t> offsets;
    for (const auto& tp : committed) offsets[{tp.topic, tp.partition}] = tp.offset;
    fmt::print("input offsets:\n");
    const auto inputs = input_topics(committed);
    if (inputs.empty()) fmt::print("  none committed\n");
    for (const auto& tp : partitions_of(inputs)) {
      const auto [low, high] = watermarks(tp);
      const auto it = offsets.find({tp.topic, tp.partition});
      if (it == offsets.end()) {
        fmt::print("  {}[{}]: no committed offset, log {}..{}\n", tp.topic, tp.partition, low,
                   high);
      } else {
        fmt::print("  {}[{}]: committed {}, end {}, lag {}\n", tp.topic, tp.partition, it->second,
                   high, std::max<std::int64_t>(high - it->second, 0));
      }
    }
    fmt::print("stores (changelog topics):\n");
    const std::string prefix = "changelog__" + o_.group + "--";
    bool any = false;
    for (const auto& t : internal_topics()) {
      if (!t.starts_with(prefix)) continue;
      any = true;
      const std::string rest = t.substr(prefix.size());
      const auto sep = rest.rfind("--");
      fmt::print("  store '{}' of stream '{}': {} ({} partitions)\n",
                 sep == std::string::npos ? rest : rest.substr(sep + 2),
                 sep == std::string::npos ? std::string("?") : rest.substr(0, sep), t,
                 topics_.at(t));
      for (int p = 0; p < topics_.at(t); ++p) {
        const auto [low, high] = watermarks({t, p, 0});
        fmt::print("    [{}] offsets {}..{} ({} records before compaction)\n", p, low, high,
                   high - low);
      }
    }
    if (!any) fmt::print("  none\n");
    for (const auto& t : internal_topics()) {
      if (t.starts_with("repartition__")) {
        fmt::print("repartition topic: {} ({} partitions)\n", t, topics_.at(t));
      }
    }
    if (!o_.state_dir.empty()) {
      const auto state = std::filesystem::path(o_.state_dir) / o_.group;
      fmt::print("local state {}: {}\n", state.string(),
                 std::filesystem::exists(state) ? human_bytes(directory_bytes(state))
                                                : std::string("absent"));
    }
    return 0;
  }

 private:
  std::string describe_target() const {
    if (o_.to_latest) return "to the latest offsets";
    if (!o_.to_datetime.empty()) return "to the first record at or after " + o_.to_datetime;
    if (!o_.by_duration.empty()) return "to the first record of the last " + o_.by_duration;
    return "to the earliest offsets";
  }

  std::vector<TopicPartition> target_offsets(std::vector<TopicPartition> tps) {
    std::optional<std::int64_t> at;
    if (!o_.to_datetime.empty()) at = parse_datetime(o_.to_datetime);
    if (!o_.by_duration.empty()) {
      at = std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() -
           parse_duration(o_.by_duration);
    }
    if (at) {
      for (auto& tp : tps) tp.offset = *at;
      auto found = lookups_->offsets_for_times(tps, timeout_);
      // No record that late: the end, as Kafka's tools do.
      for (auto& tp : found) {
        if (tp.offset < 0) tp.offset = watermarks(tp).second;
      }
      return found;
    }
    for (auto& tp : tps) {
      const auto [low, high] = watermarks(tp);
      tp.offset = o_.to_latest ? high : low;
    }
    return tps;
  }

  const Options& o_;
  const milliseconds timeout_;
  std::unique_ptr<streamframe::kafka::Admin> admin_;
  std::unique_ptr<streamframe::kafka::Consumer> lookups_;
  std::map<std::string, int> topics_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App cli{
      "Resets a streamframe application so it processes its input again (committed offsets, "
      "internal topics, local state), or inspects what it has. Stop every instance first.",
      "streamframe-reset"};
  cli.add_option("--bootstrap-servers", o.bootstrap_servers, "Kafka brokers, host:port[,...]")
      ->required();
  cli.add_option("--application-id,--consumer-group", o.group,
                 "the application's consumer group (ApplicationConfig::consumer_group)")
      ->required();
  cli.add_option("--command-config", o.command_config,
                 "librdkafka properties file (key=value lines): security settings etc.")
      ->check(CLI::ExistingFile);
  cli.add_option("--state-dir", o.state_dir,
                 "the application's state_dir: reset deletes <state-dir>/<group>; inspect "
                 "reports its size");
  cli.add_option("--input-topics", o.input_topics,
                 "input topics to reset (default: every topic the group committed offsets for)")
      ->delimiter(',');
  cli.add_option("--timeout-ms", o.timeout_ms, "timeout of each request")->capture_default_str();
  auto* earliest = cli.add_flag("--to-earliest", o.to_earliest,
                                "reset to the earliest offsets "
                                "(the default)");
  auto* latest = cli.add_flag("--to-latest", o.to_latest, "reset to the latest offsets");
  auto* datetime = cli.add_option("--to-datetime", o.to_datetime,
                                  "reset to the first record at or after this instant, "
                                  "YYYY-MM-DDTHH:MM:SS[.sss](Z|+HH:MM)");
  auto* duration = cli.add_option("--by-duration", o.by_duration,
                                  "reset to the first record of this long ago (PT1H30M, 2h, 1d)");
  earliest->excludes(latest, datetime, duration);
  latest->excludes(datetime, duration);
  datetime->excludes(duration);
  cli.add_flag("--keep-internal-topics", o.keep_internal_topics,
               "do not delete the changelog and repartition topics");
  cli.add_flag("--dry-run", o.dry_run, "print what would be done, change nothing");
  auto* inspect = cli.add_subcommand("inspect", "list the application's offsets, stores and state");
  inspect->fallthrough();
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = cli.exit(e);  // prints the help or the error
    return rc == 0 ? 0 : 2;
  }
  try {
    Tool tool(o);
    return inspect->parsed() ? tool.inspect() : tool.reset();
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
