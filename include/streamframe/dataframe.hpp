// StreamingDataFrame: the lazy pipeline-building API (SEMANTICS §5).
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "streamframe/joins.hpp"
#include "streamframe/lookups.hpp"
#include "streamframe/record.hpp"
#include "streamframe/series.hpp"
#include "streamframe/sink.hpp"
#include "streamframe/state.hpp"
#include "streamframe/topic.hpp"
#include "streamframe/value.hpp"
#include "streamframe/windows.hpp"

namespace streamframe {

namespace detail {
class Graph;
class Node;
struct Access;
}  // namespace detail

struct ApplyOptions {
  // The callable returns an array; each element continues as its own record (same key,
  // timestamp, headers), finished downstream before the next one starts.
  bool expand = false;
  // The state store a stateful callable uses (ST-01); empty => ConfigError at the call.
  std::string store = "default";
};

// Options of stateful update() and filter().
struct StateOptions {
  std::string store = "default";
};

// Callable shapes. A callable taking (value, key, timestamp, headers) is the metadata form
// (Quix's metadata=True); which one is used is decided by the callable's signature.
using ApplyFn = std::function<Value(const Value&)>;
using ApplyMetaFn = std::function<Value(const Value&, const Value&, std::int64_t, const Headers&)>;
using UpdateFn = std::function<void(Value&)>;
using UpdateMetaFn = std::function<void(Value&, const Value&, std::int64_t, const Headers&)>;
using FilterFn = std::function<bool(const Value&)>;
using FilterMetaFn = std::function<bool(const Value&, const Value&, std::int64_t, const Headers&)>;
using TimestampFn =
    std::function<std::int64_t(const Value&, const Value&, std::int64_t, const Headers&)>;
using HeadersFn = std::function<Headers(const Value&, const Value&, std::int64_t, const Headers&)>;
using KeyFn = std::function<Value(const Value&)>;
// Chooses the destination topic per record (SDF-09).
using TopicFn = std::function<Topic(const Value&, const Value&, std::int64_t, const Headers&)>;

// Stateful forms (ST-01): the callable also gets the State of the message's key.
using ApplyStateFn =
    std::function<Value(const Value&, const Value&, std::int64_t, const Headers&, State&)>;
using UpdateStateFn =
    std::function<void(Value&, const Value&, std::int64_t, const Headers&, State&)>;
using FilterStateFn =
    std::function<bool(const Value&, const Value&, std::int64_t, const Headers&, State&)>;

enum class DropErrors { raise, ignore };

// Options of group_by() (SDF-12).
struct GroupByOptions {
  // Partitions, replication and extra config of the repartition topic when it is created;
  // unset => the input topic's partitions and replication factor.
  std::optional<TopicConfig> config;
};

// Options of aggregate() (EXT-05).
struct AggregateOptions {
  // Names the store: "<name>_aggregate" ("aggregate" when empty). Two aggregate() calls on
  // one pipeline need different names.
  std::string name;
};

// Options of print() (SDF-08): `sdf.print({.pretty = false, .metadata = true})`.
struct PrintOptions {
  // Indented JSON over several lines; false = one compact line per record.
  bool pretty = true;
  // Prints {"value", "key", "timestamp", "headers"} (headers as [name, value] pairs) instead
  // of the value alone.
  bool metadata = false;
};

class StreamingDataFrame;

// `sdf["col"]`: a Series that can also be assigned to, setting the column in place (SDF-04).
class ColumnRef : public Series {
 public:
  ColumnRef(StreamingDataFrame& sdf, std::string column);
  StreamingDataFrame& operator=(const Series& expr);
  // Sets this column to the other's expression: `sdf["x"] = sdf["x"]` is harmless.
  // NOLINTNEXTLINE(bugprone-unhandled-self-assignment)
  StreamingDataFrame& operator=(const ColumnRef& other) {
    return *this = static_cast<const Series&>(other);
  }
  // `sdf["c"] = sdf.apply(f)`: the apply must be a direct child of this frame.
  StreamingDataFrame& operator=(const StreamingDataFrame& applied);
  template <ValueLike T>
  StreamingDataFrame& operator=(T&& constant) {
    return *this = Series::constant(Value(std::forward<T>(constant)));
  }

 private:
  StreamingDataFrame* sdf_;
  std::string column_;
};

class StreamingDataFrame {
 public:
  // The root frame of `topic` (made with Topic::make) outside any Application: for a
  // TestDriver or sdf.test() without a broker. It cannot be run by an Application.
  [[nodiscard]] static StreamingDataFrame standalone(const Topic& topic);

  // SDF-01: new frame with the callable's result as value.
  // Stateful when the callable takes a trailing State& (ST-01, store "default").
  template <class F>
  [[nodiscard]] StreamingDataFrame apply(F&& f, const ApplyOptions& options = {}) const {
    if constexpr (std::is_invocable_v<F&, const Value&, const Value&, std::int64_t, const Headers&,
                                      State&>) {
      return apply_state_impl(ApplyStateFn(std::forward<F>(f)), options, true);
    } else if constexpr (std::is_invocable_v<F&, const Value&, State&>) {
      return apply_state_impl(
          [g = std::forward<F>(f)](const Value& v, const Value&, std::int64_t, const Headers&,
                                   State& s) mutable -> Value { return g(v, s); },
          options, false);
    } else if constexpr (std::is_invocable_v<F&, const Value&, const Value&, std::int64_t,
                                             const Headers&>) {
      return apply_impl(ApplyMetaFn(std::forward<F>(f)), options, true);
    } else {
      static_assert(std::is_invocable_v<F&, const Value&>,
                    "apply takes Value(const Value&) or Value(const Value& value, const Value& "
                    "key, int64_t timestamp, const Headers& headers)");
      return apply_impl(wrap(ApplyFn(std::forward<F>(f))), options, false);
    }
  }

  // SDF-02: mutates the value in place; the callable's result is ignored.
  template <class F>
  StreamingDataFrame& update(F&& f, const StateOptions& state_options = {}) {
    if constexpr (std::is_invocable_v<F&, Value&, const Value&, std::int64_t, const Headers&,
                                      State&>) {
      return update_state_impl(UpdateStateFn(std::forward<F>(f)), state_options.store, true);
    } else if constexpr (std::is_invocable_v<F&, Value&, State&>) {
      return update_state_impl(
          [g = std::forward<F>(f)](Value& v, const Value&, std::int64_t, const Headers&,
                                   State& s) mutable { g(v, s); },
          state_options.store, false);
    } else if constexpr (std::is_invocable_v<F&, Value&, const Value&, std::int64_t,
                                             const Headers&>) {
      return update_impl(UpdateMetaFn(std::forward<F>(f)), true);
    } else {
      static_assert(std::is_invocable_v<F&, Value&>,
                    "update takes void(Value&) or void(Value&, const Value& key, int64_t "
                    "timestamp, const Headers& headers)");
      UpdateFn fn(std::forward<F>(f));
      return update_impl([fn](Value& v, const Value&, std::int64_t, const Headers&) { fn(v); },
                         false);
    }
  }

  // ST-01: declares the store `name` of this frame's stream before (or without) a stateful
  // operation using it, as Quix Streams' register_store(): run() creates its changelog topic and
  // opens and restores it for every assigned partition. The checks of a stateful operation
  // apply here: topics not co-partitioned => TopicPartitionsMismatch, a window's store name or
  // an empty one => ConfigError. Registering a store twice is a no-op.
  StreamingDataFrame& register_store(const std::string& name = "default");

  // A number this frame carries to the frames derived from it afterwards (until one sets its
  // own), reported for each output run() collects (RunOptions::output_labels): for a binding
  // that keeps facts about frames the engine does not (the Python one: which strings are
  // bytes). 0 unless set.
  StreamingDataFrame& set_label(std::uint32_t label);
  [[nodiscard]] std::uint32_t label() const noexcept;

  // SDF-03: forwards the record iff the callable's result is truthy.
  template <class F>
  [[nodiscard]] StreamingDataFrame filter(F&& f, const StateOptions& state_options = {}) const {
    if constexpr (std::is_invocable_v<F&, const Value&, const Value&, std::int64_t, const Headers&,
                                      State&>) {
      return filter_state_impl(
          [g = std::forward<F>(f)](const Value& v, const Value& k, std::int64_t t, const Headers& h,
                                   State& s) mutable -> bool {
            return truthy_of(g(v, k, t, h, s));
          },
          state_options.store, true);
    } else if constexpr (std::is_invocable_v<F&, const Value&, State&>) {
      return filter_state_impl(
          [g = std::forward<F>(f)](const Value& v, const Value&, std::int64_t, const Headers&,
                                   State& s) mutable -> bool { return truthy_of(g(v, s)); },
          state_options.store, false);
    } else if constexpr (std::is_invocable_v<F&, const Value&, const Value&, std::int64_t,
                                             const Headers&>) {
      return filter_impl(FilterMetaFn(to_bool4(std::forward<F>(f))), true);
    } else {
      static_assert(
          std::is_invocable_v<F&, const Value&>,
          "filter takes a predicate of (const Value&) or (value, key, timestamp, headers)");
      auto g = to_bool1(std::forward<F>(f));
      return filter_impl(
          [g](const Value& v, const Value&, std::int64_t, const Headers&) { return g(v); }, false);
    }
  }

  // SDF-04.
  [[nodiscard]] ColumnRef operator[](std::string column) {
    return ColumnRef(*this, std::move(column));
  }
  [[nodiscard]] ColumnRef operator[](const char* column) { return ColumnRef(*this, column); }
  [[nodiscard]] Series operator[](std::string column) const {
    return Series::column(std::move(column));
  }
  // Both qualifications, so a braced list never competes with operator[](std::string).
  [[nodiscard]] StreamingDataFrame operator[](std::initializer_list<std::string> columns) const {
    return project(std::vector<std::string>(columns));
  }
  [[nodiscard]] StreamingDataFrame operator[](std::initializer_list<std::string> columns) {
    return project(std::vector<std::string>(columns));
  }
  [[nodiscard]] StreamingDataFrame operator[](const Series& predicate) const;
  [[nodiscard]] StreamingDataFrame operator[](const ColumnRef& predicate) const {
    return (*this)[static_cast<const Series&>(predicate)];
  }
  [[nodiscard]] StreamingDataFrame project(std::vector<std::string> columns) const;

  // SDF-05/06/07.
  [[nodiscard]] Series contains(std::vector<std::string> keys) const;
  [[nodiscard]] Series contains(std::initializer_list<std::string> keys) const {
    return contains(std::vector<std::string>(keys));
  }
  [[nodiscard]] Series contains(std::string key) const {
    return contains(std::vector<std::string>{std::move(key)});
  }
  StreamingDataFrame& drop(std::vector<std::string> columns, DropErrors errors = DropErrors::raise);
  StreamingDataFrame& fill(std::vector<std::string> columns,
                           std::vector<std::pair<std::string, Value>> values = {});

  // SDF-08 (in place): prints each record as JSON to stdout, one record per write, and
  // forwards it unchanged.
  StreamingDataFrame& print(PrintOptions options = {});

  // SDF-09: produces every record to `topic` (the key, unless `key` computes a new one).
  StreamingDataFrame& to_topic(const Topic& topic, KeyFn key = nullptr);
  StreamingDataFrame& to_topic(TopicFn choose, KeyFn key = nullptr);

  // SDF-10/11.
  StreamingDataFrame& set_timestamp(TimestampFn f);
  StreamingDataFrame& set_headers(HeadersFn f);

  // SDF-13: merges another frame into one stream: a branch of the same root topic, or a frame
  // of another topic of the same application, whose partitions of one number then share a
  // task and are read in timestamp order (KAF-04). State on such topics needs equal partition
  // counts (TOP-15: TopicPartitionsMismatch here or at the stateful operation).
  [[nodiscard]] StreamingDataFrame concat(const StreamingDataFrame& other) const;

  // SDF-12/EXT-04: re-keys the stream by value[column], or by key(value) named `name` (an
  // empty name => ConfigError). Every record goes to the internal topic
  // `repartition__<group>--<stream id>--<name>` (json key and value, the record's timestamp
  // and headers), partitioned by its new key, and is consumed back by this application; the
  // returned frame continues from there, so state, windows and aggregates after it are per new
  // key and the partitions of one new key meet in one task. Under exactly-once the hop is part
  // of the checkpoint's transaction and read back read_committed. The same name twice on one
  // stream => GroupByDuplicate; group_by after group_by adds another hop. A missing column =>
  // ColumnDoesNotExist, a key callable that throws is a processing error (ERR-01). An input
  // of one partition (or GroupByOptions::config of one) needs no hop: the key is replaced in
  // place, and what follows is under the stream id `<stream id>--groupby--<name>`.
  [[nodiscard]] StreamingDataFrame group_by(std::string column, GroupByOptions options = {}) const;
  [[nodiscard]] StreamingDataFrame group_by(KeyFn key, std::string name,
                                            GroupByOptions options = {}) const;

  // JOIN-02: an as-of join. Every record of `right` is kept as its key's value at its
  // timestamp (one at the same timestamp replaces it) and is not emitted; every record of this
  // frame takes its key's newest right value at or before its own timestamp and goes on merged
  // with it (JoinAsofOptions::on_merge, JOIN-03), with its own key, timestamp and headers; one
  // without a truthy match is dropped (inner) or merged with null (left). `right` reads another
  // topic of the application with as many partitions (TopicPartitionsMismatch otherwise; the
  // two are then read in timestamp order, KAF-04), or is this stream itself (a self-join,
  // EXT-04: a record is stored first, so it may match itself). The right side's entries live
  // in the store `options.name` of the right stream, with its changelog.
  [[nodiscard]] StreamingDataFrame join_asof(const StreamingDataFrame& right,
                                             JoinAsofOptions options = {}) const;
  // JOIN-04: an interval join (JoinIntervalOptions). Both sides are stored; each arriving
  // record is paired with the other side's records of its key within its window, one merged
  // record per pair, with the arriving record's key and timestamp and no headers. `right` as
  // for join_asof; a self-join pairs a record with itself once.
  [[nodiscard]] StreamingDataFrame join_interval(const StreamingDataFrame& right,
                                                 JoinIntervalOptions options = {}) const;
  // JOIN-05: a lookup join. Each record's value (an object, else ValueTypeError) gets
  // value[name] = the lookup's result for each of `fields`, in place, keyed by options.on (the
  // message key, a column, or a callable). The lookup caches results per (field, key) for the
  // field's ttl. With options.buffer, records whose value is not `is_resolved` after the lookup
  // are held in a store of this stream (with its changelog) until a later record of their key
  // resolves or their grace passes (LookupBuffer). Fields the lookup cannot serve, bad SQL
  // identifiers or buffer options => ConfigError here.
  [[nodiscard]] StreamingDataFrame join_lookup(std::shared_ptr<Lookup> lookup, LookupFields fields,
                                               JoinLookupOptions options = {}) const;

  // EXT-05: a running aggregate per key, without windows (a KTable-style total). After each
  // record, emits {column: result, ...} in declaration order with the record's key and
  // timestamp and no headers. The accumulators live in the store "[name_]aggregate" with its
  // changelog, so they survive restarts and rebalances. A record with a null value deletes its
  // key's aggregate and emits null; a record with a null key is skipped (logged, counted).
  // No columns, an unnamed or repeated column, or a collector (agg::collect) => ConfigError.
  [[nodiscard]] StreamingDataFrame aggregate(
      const std::vector<std::pair<std::string, Aggregation>>& columns,
      const AggregateOptions& options = {}) const;

  // SDF-15: terminal, on a branch of its own (this dataframe is unchanged, as in Quix Streams);
  // the record leaves the sink with a null value, which run() and test() return as its output.
  // The pipeline shares ownership of the sink, so it lives as long as the pipeline does; keep a
  // copy of the pointer to read it (e.g. ListSink::rows()) after run(). A null sink =>
  // ConfigError.
  void sink(std::shared_ptr<Sink> sink) const;

  // §7 windows, WIN-13 sessions. Invalid parameters => ConfigError naming the parameter,
  // here at the declaration. Windows are stateful: they keep their windows in a store of
  // their own (WIN-12) with its changelog.
  [[nodiscard]] WindowDefinition tumbling_window(std::chrono::milliseconds duration,
                                                 const WindowOptions& options = {}) const;
  [[nodiscard]] WindowDefinition hopping_window(std::chrono::milliseconds duration,
                                                std::chrono::milliseconds step,
                                                const WindowOptions& options = {}) const;
  [[nodiscard]] WindowDefinition sliding_window(std::chrono::milliseconds duration,
                                                const WindowOptions& options = {}) const;
  [[nodiscard]] WindowDefinition tumbling_count_window(
      std::int64_t count, const CountWindowOptions& options = {}) const;
  [[nodiscard]] WindowDefinition hopping_count_window(std::int64_t count, std::int64_t step,
                                                      const CountWindowOptions& options = {}) const;
  [[nodiscard]] WindowDefinition sliding_count_window(std::int64_t count,
                                                      const CountWindowOptions& options = {}) const;
  [[nodiscard]] WindowDefinition session_window(std::chrono::milliseconds gap,
                                                const SessionWindowOptions& options = {}) const;

  // SDF-18: runs one record through the whole pipeline of this frame's root, synchronously,
  // without Kafka, and returns what leaves the leaves. Pipelines with to_topic =>
  // InvalidOperation.
  [[nodiscard]] std::vector<Row> test(Value value, Value key = Value("key"),
                                      std::int64_t timestamp = 0, Headers headers = {}) const;

  // With sdf.test(): runs idle closing (EXT-02) of the test state at the application
  // clock's current time (ApplicationConfig::clock) and returns what left the leaves.
  [[nodiscard]] std::vector<Row> test_idle() const;

  // SDF-19: the context of the record being processed (inside a callable), else
  // InvalidOperation.
  static const MessageContext& message_context();

  explicit operator bool() const = delete;  // SDF-20

 private:
  friend class ColumnRef;
  friend struct detail::Access;
  StreamingDataFrame(std::shared_ptr<detail::Graph> graph, detail::Node* node)
      : graph_(std::move(graph)), node_(node) {}
  static ApplyMetaFn wrap(ApplyFn f) {
    return [f = std::move(f)](const Value& v, const Value&, std::int64_t, const Headers&) {
      return f(v);
    };
  }
  template <class F>
  static auto to_bool1(F&& f) {
    return [f = std::forward<F>(f)](const Value& v) -> bool { return truthy_of(f(v)); };
  }
  template <class F>
  static auto to_bool4(F&& f) {
    return [f = std::forward<F>(f)](const Value& v, const Value& k, std::int64_t t,
                                    const Headers& h) -> bool { return truthy_of(f(v, k, t, h)); };
  }
  template <class R>
  static bool truthy_of(R&& r) {
    if constexpr (std::is_same_v<std::remove_cvref_t<R>, bool>)
      return r;
    else
      return Value(std::forward<R>(r)).truthy();
  }

  // `reads_headers`: the callable takes the metadata form (the run loop reads a message's
  // headers only for operations that look at them).
  StreamingDataFrame apply_impl(ApplyMetaFn f, const ApplyOptions& options,
                                bool reads_headers) const;
  StreamingDataFrame& update_impl(UpdateMetaFn f, bool reads_headers);
  StreamingDataFrame filter_impl(FilterMetaFn f, bool reads_headers) const;
  StreamingDataFrame apply_state_impl(ApplyStateFn f, const ApplyOptions& options,
                                      bool reads_headers) const;
  StreamingDataFrame& update_state_impl(UpdateStateFn f, const std::string& store,
                                        bool reads_headers);
  StreamingDataFrame filter_state_impl(FilterStateFn f, const std::string& store,
                                       bool reads_headers) const;
  StreamingDataFrame child(std::unique_ptr<detail::Node> node) const;
  StreamingDataFrame& append(std::unique_ptr<detail::Node> node);

  std::shared_ptr<detail::Graph> graph_;
  detail::Node* node_;
};

}  // namespace streamframe
