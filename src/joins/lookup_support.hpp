// What the database lookups (JOIN-05) share: the LRU cache with a ttl per entry, the checks of
// SQL identifiers, and the text of a table field's query.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "dataframe/graph.hpp"
#include "streamframe/lookups.hpp"

namespace streamframe::detail {

// Results per (field name, lookup key), least recently used evicted beyond max_size. An entry
// is served while younger than the field's ttl (wall clock). Not thread-safe: the lookup
// holding it locks.
class LookupCache {
 public:
  explicit LookupCache(std::size_t max_size) : max_size_(max_size) {}
  // The cached result or null; counts a hit or a miss.
  const Value* get(std::string_view field, const Value& on, std::chrono::milliseconds ttl,
                   std::int64_t now_ms);
  // Stores a copy of `result` for the key of the last get().
  void put(const Value& result, std::int64_t now_ms);
  LookupCacheInfo info() const;

 private:
  struct Entry {
    std::string key;
    std::int64_t stored_ms;
    Value result;
  };
  std::size_t max_size_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
  std::string key_;  // the last get()'s key, reused
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

// A field's result as a lookup fetched it; `cacheable` false: given for now only (a default
// while the database is unreachable), asked again next time.
struct Fetched {
  Value value;
  bool cacheable = true;
};

// What every database lookup's join() does: value[name] = the field's result, from `cache`
// while younger than the field's ttl, else `fetch(name, field)` (stored in the cache when the
// ttl is > 0).
template <class Fetch>
void join_fields(const LookupFields& fields, const Value& on, Value& value, LookupCache& cache,
                 Fetch&& fetch) {
  for (const auto& [name, field] : fields) {
    const auto ttl = std::visit([](const auto& f) { return f.ttl; }, field);
    // A cache ttl is measured in real time.
    const std::int64_t now = ExecContext::steady_ms();
    if (ttl.count() > 0) {
      if (const Value* hit = cache.get(name, on, ttl, now)) {
        value[name] = *hit;
        continue;
      }
    }
    Fetched r = fetch(name, field);
    if (ttl.count() > 0 && r.cacheable) cache.put(r.value, now);
    value[name] = std::move(r.value);
  }
}

// ConfigError unless `id` is a plain SQL identifier ([A-Za-z0-9_]+): identifiers are spliced
// into the query text, so nothing else may reach it. `what` names it in the message.
void check_sql_identifier(const std::string& id, const std::string& field, const char* what);

// The query of a table field: SELECT c1, c2 FROM [schema.]table WHERE on = <placeholder>
// [ORDER BY col ASC|DESC] [LIMIT 1]. Identifiers must have been checked.
struct TableQuery {
  std::string_view schema;  // empty: none
  std::string_view table;
  const std::vector<std::string>* columns;
  std::string_view on;
  std::string_view order_by;
  OrderDirection direction;
  bool first_match_only;
};
std::string table_query_text(const TableQuery& q, std::string_view placeholder);

// Checks a table field's identifiers (ConfigError naming the field).
void check_table_field(const std::string& name, const std::string& table,
                       const std::vector<std::string>& columns, const std::string& on,
                       const std::string& order_by, const std::string* schema);

}  // namespace streamframe::detail
