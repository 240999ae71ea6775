// The input data of the peer benchmark suite (bench/nexmark/SPEC.md, "Input topics"): Nexmark
// events (persons, auctions, bids), word-count documents and temperature readings.
//
// Record n is a pure function of (seed, n): every run, every topic size and every reader gets
// byte-identical records, so a small topic is a prefix of a big one and the engine-only mode
// can compute what a system must output from a topic without reading it.
//
// The Nexmark mix follows the benchmark's published generator: per 50 events 1 person,
// 3 auctions and 46 bids; ids start at 1000; half the bids go to the "hot" auction (the latest
// multiple of 100), the others to one of the 100 newest auctions; bidders and sellers are hot
// (the latest multiple of 100) 3 times in 4, else one of the 1000 newest persons; prices are
// 10^(6u) * 100 cents. Unlike the original, a bid never names an auction or a person that does
// not exist yet (the original lets bids run ahead by up to 10 auctions), so every foreign key
// resolves.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>

#include "../bench_util.hpp"

namespace streamframe::bench::nexmark {

enum class Kind { nexmark, words, temperature };

inline Kind parse_kind(std::string_view s) {
  if (s == "nexmark") return Kind::nexmark;
  if (s == "words") return Kind::words;
  if (s == "temperature") return Kind::temperature;
  throw std::invalid_argument(fmt::format("unknown input kind '{}'", s));
}

inline const char* kind_name(Kind k) {
  switch (k) {
    case Kind::nexmark:
      return "nexmark";
    case Kind::words:
      return "words";
    default:
      return "temperature";
  }
}

using streamframe::bench::RecordRng;

struct GeneratorConfig {
  std::uint64_t seed = 42;
  // Event time: event n is at base + n * 1000 / events_per_second ms.
  std::int64_t events_per_second = 1000;
  std::int64_t base_time_ms = 1767225600000;  // 2026-01-01T00:00:00Z
};

// One generated record. `id` is the number in the key: the partition is id % partitions.
struct GeneratedRecord {
  std::string key;
  std::string value;
  std::int64_t timestamp = 0;
  std::uint64_t id = 0;
};

class Generator {
 public:
  Generator(Kind kind, GeneratorConfig config) : kind_(kind), config_(config) {}

  Kind kind() const { return kind_; }

  // Writes record n into `out` (its strings are reused). `timestamp_override` >= 0 replaces the
  // event time (the latency probe stamps records with the current time).
  void make(std::uint64_t n, GeneratedRecord& out, std::int64_t timestamp_override = -1) const {
    out.key.clear();
    out.value.clear();
    out.timestamp = timestamp_override >= 0 ? timestamp_override : event_time(n);
    RecordRng rng(config_.seed, n);
    switch (kind_) {
      case Kind::nexmark:
        make_event(n, rng, out);
        break;
      case Kind::words:
        make_document(n, rng, out);
        break;
      case Kind::temperature:
        make_reading(n, rng, out);
        break;
    }
  }

  std::int64_t event_time(std::uint64_t n) const {
    return config_.base_time_ms + static_cast<std::int64_t>(n) * 1000 /
                                      std::max<std::int64_t>(config_.events_per_second, 1);
  }

  // Nexmark: what event n is.
  enum class EventType { person, auction, bid };
  static EventType event_type(std::uint64_t n) {
    const std::uint64_t offset = n % k_total;
    if (offset < k_persons) return EventType::person;
    if (offset < k_persons + k_auctions) return EventType::auction;
    return EventType::bid;
  }

 private:
  static constexpr std::uint64_t k_persons = 1;
  static constexpr std::uint64_t k_auctions = 3;
  static constexpr std::uint64_t k_total = 50;  // 1 + 3 + 46 bids
  static constexpr std::int64_t k_first_id = 1000;
  static constexpr std::int64_t k_first_category = 10;
  static constexpr std::int64_t k_categories = 5;
  static constexpr std::int64_t k_hot_range = 100;
  static constexpr std::int64_t k_auctions_in_flight = 100;
  static constexpr std::int64_t k_active_persons = 1000;

  // Persons (base 0) that exist once event n has happened: event 0 is a person.
  static std::int64_t last_person(std::uint64_t n) {
    return static_cast<std::int64_t>(n / k_total);
  }
  // Auctions (base 0) that exist once event n has happened (n a bid: all 3 of its epoch).
  static std::int64_t last_auction(std::uint64_t n) {
    const auto epoch = static_cast<std::int64_t>(n / k_total);
    const auto offset = static_cast<std::int64_t>(n % k_total);
    const std::int64_t in_epoch = std::min<std::int64_t>(
        std::max<std::int64_t>(offset - static_cast<std::int64_t>(k_persons) + 1, 0),
        static_cast<std::int64_t>(k_auctions));
    return epoch * static_cast<std::int64_t>(k_auctions) + in_epoch - 1;  // -1: none yet
  }

  // A hot id (the newest multiple of the hot range) `hot_in` - 1 times in `hot_in`, else one of
  // the `recent` newest; never beyond `last`.
  static std::int64_t pick(RecordRng& rng, std::int64_t last, std::int64_t hot_in,
                           std::int64_t recent) {
    if (rng.below(hot_in) > 0) return (last / k_hot_range) * k_hot_range;
    const std::int64_t lo = std::max<std::int64_t>(last - recent, 0);
    return lo + rng.below(last - lo + 1);
  }

  static std::int64_t price(RecordRng& rng) {
    return std::llround(std::pow(10.0, rng.unit() * 6.0) * 100.0);
  }

  // Lower-case letters with a space about every 13th character, never first or last.
  static void append_string(RecordRng& rng, std::string& out, int min_length, int max_length) {
    const auto length = min_length + rng.below(max_length - min_length + 1);
    for (std::int64_t i = 0; i < length; ++i) {
      const bool space = i > 0 && i + 1 < length && rng.below(13) == 0;
      out += space ? ' ' : static_cast<char>('a' + rng.below(26));
    }
  }

  template <class... Args>
  static void append(std::string& out, fmt::format_string<Args...> f, Args&&... args) {
    fmt::format_to(std::back_inserter(out), f, std::forward<Args>(args)...);
  }

  void make_event(std::uint64_t n, RecordRng& rng, GeneratedRecord& out) const {
    static constexpr std::array<std::string_view, 11> first_names{
        "Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
        "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
    static constexpr std::array<std::string_view, 10> last_names{
        "Shultz", "Abrams", "Spencer", "White", "Bartels",
        "Walton", "Smith",  "Jones",   "Noris", "Fischer"};
    static constexpr std::array<std::string_view, 6> states{"AZ", "CA", "ID", "OR", "WA", "WY"};
    static constexpr std::array<std::string_view, 10> cities{
        "Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
        "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
    static constexpr std::array<std::string_view, 4> channels{"Google", "Facebook", "Baidu",
                                                              "Apple"};
    const std::int64_t ts = out.timestamp;
    const auto epoch = static_cast<std::int64_t>(n / k_total);
    std::string& v = out.value;
    switch (event_type(n)) {
      case EventType::person: {
        const std::int64_t id = k_first_id + epoch;
        out.id = static_cast<std::uint64_t>(id);
        append(out.key, "{}", id);
        append(v, R"({{"type":"person","id":{},"name":"{} {}","emailAddress":")", id,
               first_names[rng.below(first_names.size())],
               last_names[rng.below(last_names.size())]);
        append_string(rng, v, 4, 9);
        v += '@';
        append_string(rng, v, 4, 9);
        append(
            v,
            R"(.com","creditCard":"{:04} {:04} {:04} {:04}","city":"{}","state":"{}","dateTime":{},"extra":")",
            rng.below(10000), rng.below(10000), rng.below(10000), rng.below(10000),
            cities[rng.below(cities.size())], states[rng.below(states.size())], ts);
        append_string(rng, v, 10, 60);
        v += "\"}";
        break;
      }
      case EventType::auction: {
        const auto offset =
            static_cast<std::int64_t>(n % k_total) - static_cast<std::int64_t>(k_persons);
        const std::int64_t id = k_first_id + epoch * static_cast<std::int64_t>(k_auctions) + offset;
        out.id = static_cast<std::uint64_t>(id);
        append(out.key, "{}", id);
        const std::int64_t initial = price(rng);
        append(v, R"({{"type":"auction","id":{},"itemName":")", id);
        append_string(rng, v, 6, 20);
        v += R"(","description":")";
        append_string(rng, v, 20, 80);
        append(
            v,
            R"(","initialBid":{},"reserve":{},"dateTime":{},"expires":{},"seller":{},"category":{},"extra":")",
            initial, initial + price(rng), ts, ts + 10000 + rng.below(20000),
            k_first_id + pick(rng, last_person(n), 4, k_active_persons),
            k_first_category + rng.below(k_categories));
        append_string(rng, v, 10, 60);
        v += "\"}";
        break;
      }
      case EventType::bid: {
        const std::int64_t auction =
            k_first_id + pick(rng, last_auction(n), 2, k_auctions_in_flight);
        const std::int64_t bidder = k_first_id + pick(rng, last_person(n), 4, k_active_persons);
        out.id = static_cast<std::uint64_t>(auction);
        append(out.key, "{}", auction);
        const auto channel = rng.below(channels.size());
        append(
            v,
            R"({{"type":"bid","auction":{},"bidder":{},"price":{},"channel":"{}","url":"https://www.nexmark.com/)",
            auction, bidder, price(rng), channels[channel]);
        append_string(rng, v, 3, 8);
        append(v, R"(/item.htm?query=1&channel_id={}","dateTime":{},"extra":")", channel, ts);
        append_string(rng, v, 0, 20);
        v += "\"}";
        break;
      }
    }
  }

  // A vocabulary of 100 distinct words: two-letter syllables, index-derived so it needs no
  // state (word i spells i in base 20 with one syllable per digit, at least two syllables).
  static void append_word(std::string& out, std::int64_t i) {
    static constexpr std::array<std::string_view, 20> syllables{
        "ka", "lo", "mi", "nu", "pe", "ra", "so", "ti", "vu", "wa",
        "be", "do", "fi", "gu", "ha", "je", "ko", "ly", "ma", "ne"};
    out += syllables[static_cast<std::size_t>(i % 20)];
    out += syllables[static_cast<std::size_t>((i / 20) % 20)];
    if (i % 3 == 0) out += "n";
  }

  static void make_document(std::uint64_t n, RecordRng& rng, GeneratedRecord& out) {
    const std::uint64_t doc = n % 1000;
    out.id = doc;
    append(out.key, "doc-{}", doc);
    append(out.value, R"({{"id":{},"text":")", n);
    const auto words = 3 + rng.below(6);
    for (std::int64_t w = 0; w < words; ++w) {
      if (w > 0) out.value += ' ';
      append_word(out.value, rng.below(100));
    }
    out.value += "\"}";
  }

  // 15 % of the readings are hot (65.6..99.9 C, above the 150 F filter), the rest -20.0..65.5.
  void make_reading(std::uint64_t n, RecordRng& rng, GeneratedRecord& out) const {
    const std::uint64_t sensor = n % 1000;
    out.id = sensor;
    append(out.key, "sensor-{}", sensor);
    const bool hot = rng.below(100) < 15;
    const std::int64_t tenths = hot ? 656 + rng.below(344) : -200 + rng.below(856);
    append(out.value, R"({{"sensor":"sensor-{}","temperature":{:.1f},"humidity":{:.1f},"ts":{}}})",
           sensor, static_cast<double>(tenths) / 10.0, static_cast<double>(rng.below(1000)) / 10.0,
           out.timestamp);
  }

  Kind kind_;
  GeneratorConfig config_;
};

}  // namespace streamframe::bench::nexmark
