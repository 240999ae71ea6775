// The suite's workloads on streamframe (bench/nexmark/SPEC.md, "Workloads and their outputs"),
// written as a user would write them with the Streaming DataFrame API. The same declaration
// runs on Kafka (`run`) and in-process (`engine`, through TestDriver).
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "generator.hpp"
#include "streamframe/streamframe.hpp"

namespace streamframe::bench::nexmark {

inline const std::vector<std::string>& workload_names() {
  static const std::vector<std::string> names{
      "q0", "q1", "q2", "q3", "q5", "q5-like", "q7", "q7-like", "q8", "wordcount", "temperature"};
  return names;
}

// Workloads whose output is a table: one update per record of their second stage, so the
// order of updates of a key depends on how the first stage's partitions interleave, but its
// last update does not. Their outputs are compared by each key's last value (SPEC.md).
inline bool table_output(std::string_view workload) {
  return workload == "q5" || workload == "q7";
}

inline Kind input_kind(std::string_view workload) {
  if (workload == "wordcount") return Kind::words;
  if (workload == "temperature") return Kind::temperature;
  if (workload == "q0" || workload == "q1" || workload == "q2" || workload == "q3" ||
      workload == "q5" || workload == "q5-like" || workload == "q7" || workload == "q7-like" ||
      workload == "q8") {
    return Kind::nexmark;
  }
  throw std::invalid_argument(fmt::format("unknown workload '{}'", workload));
}

// A window result of the first stage of q5 and q7 with its key (the auction id) as a field,
// before the re-key by window drops that key.
inline Value with_auction(const Value& result, const Value& key, std::int64_t, const Headers&) {
  const std::string& id = key.as_string();
  std::int64_t auction = 0;
  const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), auction);
  if (ec != std::errc() || end != id.data() + id.size()) {
    throw std::invalid_argument(fmt::format("auction key '{}' is not a number", id));
  }
  Value v = result;
  v["auction"] = Value(auction);
  return v;
}

// The second stage's key: the window's start, as text.
inline Value by_window(const Value& result) {
  return Value(std::to_string(result["start"].as_int()));
}

// The number of an event's field as the text of a key: persons re-keyed by "id", auctions by
// "seller", so the two sides of q3 and q8 have equal keys (the same bytes) for a join.
inline Value key_of(const Value& v, const char* field) {
  return Value(std::to_string(v[field].as_int()));
}

inline bool is_type(const Value& v, std::string_view type) {
  return v["type"].as_string() == type;
}

// q8's window: the start of the 10 s tumbling window of an event time.
inline std::int64_t window_start(std::int64_t ms) {
  return ms - ms % 10000;  // event times are positive
}

// How long a join side keeps a key's older records behind its newest one (q3, q8): far more
// than the two sides' records can be out of order after their repartition hops (SPEC.md).
inline constexpr std::chrono::minutes k_join_grace{5};

// q3 and q8's join: persons re-keyed by "id", auctions by "seller" (the same text keys on both
// sides), paired by an interval join of width 0, so a pair is made when the second of the two
// arrives, whichever it is (SPEC.md, "Joins").
inline StreamingDataFrame pair_by_person(const StreamingDataFrame& persons,
                                         const StreamingDataFrame& auctions, MergeFn merge,
                                         const char* name) {
  return persons.group_by([](const Value& p) { return key_of(p, "id"); }, "person")
      .join_interval(
          auctions.group_by([](const Value& a) { return key_of(a, "seller"); }, "seller"),
          {.how = JoinHow::inner, .merge = std::move(merge), .grace = k_join_grace, .name = name});
}

// q3 (local item suggestion): category-10 auctions with their seller, persons from OR, ID or
// CA, as a regular (unwindowed) inner join: both sides stamped with one time (1 ms:
// librdkafka's producer reads a timestamp of 0 as "now") and paired by pair_by_person.
inline void declare_q3(StreamingDataFrame root, const Topic& out) {
  const TimestampFn no_time = [](const Value&, const Value&, std::int64_t, const Headers&) {
    return std::int64_t{1};
  };
  auto persons =
      root.filter([](const Value& v) {
            if (!is_type(v, "person")) return false;
            const std::string& state = v["state"].as_string();
            return state == "OR" || state == "ID" || state == "CA";
          })
          .apply([](const Value& p) {
            return Value::object(
                {{"id", p["id"]}, {"name", p["name"]}, {"city", p["city"]}, {"state", p["state"]}});
          });
  persons.set_timestamp(no_time);
  auto auctions = root.filter([](const Value& v) {
                        return is_type(v, "auction") && v["category"].as_int() == 10;
                      })
                      .apply([](const Value& a) {
                        return Value::object({{"id", a["id"]}, {"seller", a["seller"]}});
                      });
  auctions.set_timestamp(no_time);
  pair_by_person(
      persons, auctions,
      [](const Value& person, const Value& auction) {
        return Value::object({{"name", person["name"]},
                              {"city", person["city"]},
                              {"state", person["state"]},
                              {"id", auction["id"]}});
      },
      "q3")
      .to_topic(out);
}

// q8 (new users): persons and the auctions they open in the same 10 s tumbling window: both
// sides stamped with their window's start and paired by pair_by_person.
inline void declare_q8(StreamingDataFrame root, const Topic& out) {
  const TimestampFn window = [](const Value&, const Value&, std::int64_t ts, const Headers&) {
    return window_start(ts);
  };
  auto persons =
      root.filter([](const Value& v) { return is_type(v, "person"); }).apply([](const Value& p) {
        return Value::object({{"id", p["id"]}, {"name", p["name"]}});
      });
  persons.set_timestamp(window);
  auto auctions =
      root.filter([](const Value& v) { return is_type(v, "auction"); }).apply([](const Value& a) {
        return Value::object({{"auction", a["id"]}, {"seller", a["seller"]}});
      });
  auctions.set_timestamp(window);
  pair_by_person(
      persons, auctions,
      [](const Value& person, const Value& auction) {
        return Value::object(
            {{"id", person["id"]}, {"name", person["name"]}, {"auction", auction["auction"]}});
      },
      "q8")
      .apply([](const Value& pair, const Value&, std::int64_t window_start, const Headers&) {
        Value v = pair;
        v["start"] = Value(window_start);
        return v;
      })
      .to_topic(out);
}

// Declares `workload` on `root` (the frame of the input topic), producing to `out`.
inline void declare_workload(std::string_view workload, StreamingDataFrame root, const Topic& out) {
  using std::chrono::seconds;
  const EmitOptions partition_closing{.closing_strategy = ClosingStrategy::partition};
  if (workload == "q0") {
    root.to_topic(out);
    return;
  }
  if (workload == "wordcount") {
    root.apply(
            [](const Value& v) {
              Array words;
              const std::string& text = v["text"].as_string();
              std::size_t begin = 0;
              while (begin <= text.size()) {
                const std::size_t end = std::min(text.find(' ', begin), text.size());
                words.emplace_back(text.substr(begin, end - begin));
                begin = end + 1;
              }
              return Value(std::move(words));
            },
            {.expand = true})
        .apply([](const Value& word, State& state) {
          const std::int64_t n = state.get(word, Value(0)).as_int() + 1;
          state.set(word, Value(n));
          return Value::object({{"word", word}, {"count", Value(n)}});
        })
        .to_topic(out);
    return;
  }
  if (workload == "q3") {
    declare_q3(root, out);
    return;
  }
  if (workload == "q8") {
    declare_q8(root, out);
    return;
  }
  if (workload == "temperature") {
    auto sdf = root;
    sdf["temperature_F"] = sdf["temperature"] * 9 / 5 + 32;
    sdf = sdf[sdf["temperature_F"] > 150];
    sdf.to_topic(out);
    return;
  }
  auto bids = root[root["type"] == "bid"];
  if (workload == "q1") {
    bids["price"] = bids["price"] * 0.908;
    bids.to_topic(out);
  } else if (workload == "q2") {
    bids = bids[bids["auction"] % 123 == 0];
    bids[{"auction", "price"}].to_topic(out);
  } else if (workload == "q5-like") {
    bids.hopping_window(seconds(10), seconds(2)).count().final(partition_closing).to_topic(out);
  } else if (workload == "q7-like") {
    bids.apply([](const Value& bid) { return bid["price"]; })
        .tumbling_window(seconds(10))
        .max()
        .final(partition_closing)
        .to_topic(out);
  } else if (workload == "q5") {
    // Hot items: the bids per auction and window (q5-like), then re-keyed by window, the
    // auction(s) with the most bids in it.
    bids.hopping_window(seconds(10), seconds(2))
        .count()
        .final(partition_closing)
        .apply(with_auction)
        .group_by(by_window, "window")
        .apply([](const Value& c, State& state) {
          const std::int64_t count = c["value"].as_int();
          const Value& auction = c["auction"];
          Value best = state.get("hot", Value());
          if (best.is_null() || count > best["count"].as_int()) {
            best = Value::object({{"start", c["start"]},
                                  {"end", c["end"]},
                                  {"auctions", Value(Array{auction})},
                                  {"count", Value(count)}});
          } else if (count == best["count"].as_int()) {
            Array& auctions = best["auctions"].as_array();
            const auto at = std::lower_bound(
                auctions.begin(), auctions.end(), auction,
                [](const Value& a, const Value& b) { return a.as_int() < b.as_int(); });
            if (at == auctions.end() || *at != auction) auctions.insert(at, auction);
          }
          state.set("hot", best);
          return best;
        })
        .to_topic(out);
  } else if (workload == "q7") {
    // Highest bid: the top price per auction and window (q7-like), then re-keyed by window,
    // the top over all auctions (a tie goes to the smaller auction id).
    bids.apply([](const Value& bid) { return bid["price"]; })
        .tumbling_window(seconds(10))
        .max()
        .final(partition_closing)
        .apply(with_auction)
        .group_by(by_window, "window")
        .apply([](const Value& m, State& state) {
          const Value best = state.get("top", Value());
          if (!best.is_null()) {
            const std::int64_t price = m["value"].as_int();
            const std::int64_t top = best["price"].as_int();
            if (price < top ||
                (price == top && m["auction"].as_int() >= best["auction"].as_int())) {
              return best;
            }
          }
          Value top = Value::object({{"start", m["start"]},
                                     {"end", m["end"]},
                                     {"price", m["value"]},
                                     {"auction", m["auction"]}});
          state.set("top", top);
          return top;
        })
        .to_topic(out);
  } else {
    throw std::invalid_argument(fmt::format("unknown workload '{}'", workload));
  }
}

}  // namespace streamframe::bench::nexmark
