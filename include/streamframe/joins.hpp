// Options of the stream joins (SEMANTICS §9). A join is a concat of two co-partitioned streams
// (JOIN-01) with stores on the sides that keep records for the other side to find.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "streamframe/value.hpp"

namespace streamframe {

// JOIN-02/04: which records come out when a record finds no match.
enum class JoinHow { inner, left, right, outer };

// JOIN-03: how a left and a right value become one. The built-in modes read a null side as {}
// and refuse a side that is not an object (ValueTypeError naming it):
// - raise: the left's keys, then the right's; a key in both => OverlappingColumns;
// - keep_left: the right's keys, then the left-only ones; a shared key keeps the left's value;
// - keep_right: the left's keys, then the right-only ones; a shared key keeps the right's value.
enum class OnMerge { raise, keep_left, keep_right };

// A merge of one's own: gets the left and the right value (either may be null) and returns
// the joined value. It must not keep references to its arguments.
using MergeFn = std::function<Value(const Value& left, const Value& right)>;

// join_asof (JOIN-02): each left record takes the latest right value of its key at or before
// its timestamp.
struct JoinAsofOptions {
  // inner: a left record without a (truthy) match is dropped; left: it goes on merged with
  // null. right and outer => ConfigError.
  JoinHow how = JoinHow::inner;
  OnMerge on_merge = OnMerge::raise;
  // Set: used instead of on_merge.
  MergeFn merge = nullptr;
  // How far behind the newest right record of a key an older one of that key stays visible:
  // a right record at t hides the key's entries before t - grace (they leave the store at the
  // next checkpoint). Negative => ConfigError.
  std::chrono::milliseconds grace = std::chrono::hours(24 * 7);
  // The right side's store (with its changelog): `name` on the right stream, `<name>-right`
  // when both sides are one stream (a self-join, EXT-04). Empty => ConfigError.
  std::string name = "join";
};

// join_interval (JOIN-04): records of the two sides whose timestamps are close enough are
// paired. Both sides are stored (duplicates kept); a left record at t matches the right
// records of its key in [t - backward, t], a right record at t the left records in
// [t - forward, t]. Each match goes on as merge(left, right) with the arriving record's key
// and timestamp and no headers, in timestamp then arrival order.
struct JoinIntervalOptions {
  // A record without a match: inner drops it; left emits a left record as merge(left, null),
  // right a right record as merge(null, right); outer does both.
  JoinHow how = JoinHow::inner;
  OnMerge on_merge = OnMerge::raise;
  // Set: used instead of on_merge.
  MergeFn merge = nullptr;
  // Per side: a record at t hides its side's entries of the key before t - grace (they leave
  // the store at the next checkpoint). Negative => ConfigError.
  std::chrono::milliseconds grace = std::chrono::hours(24 * 7);
  // The sides' stores (with their changelogs): `name` on each side's stream, `<name>-left` and
  // `<name>-right` when both sides are one stream (a self-join, EXT-04). Empty => ConfigError.
  std::string name = "join";
  // How far back a left record looks for right ones; negative or more than grace =>
  // ConfigError.
  std::chrono::milliseconds backward{0};
  // How far back a right record looks for left ones (so how far forward of a left record its
  // matches may be); negative => ConfigError.
  std::chrono::milliseconds forward{0};
};

}  // namespace streamframe
