#include "joins/lookup_support.hpp"

#include <algorithm>
#include <utility>

#include "state/value_codec.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

const Value& lookup_field_default(const LookupField& field) noexcept {
  return std::visit([](const auto& f) -> const Value& { return f.default_value; }, field);
}

namespace detail {

const Value* LookupCache::get(std::string_view field, const Value& on,
                              std::chrono::milliseconds ttl, std::int64_t now_ms) {
  key_.assign(field);
  key_.push_back('\0');
  state::encode(on, key_);
  auto it = index_.find(key_);
  if (it == index_.end() || now_ms - it->second->stored_ms >= ttl.count()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return &it->second->result;
}

void LookupCache::put(const Value& result, std::int64_t now_ms) {
  if (max_size_ == 0) return;
  auto it = index_.find(key_);
  if (it != index_.end()) {
    it->second->stored_ms = now_ms;
    it->second->result = result;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(Entry{key_, now_ms, result});
  index_.emplace(std::string_view(lru_.front().key), lru_.begin());
  if (lru_.size() > max_size_) {
    index_.erase(std::string_view(lru_.back().key));
    lru_.pop_back();
  }
}

LookupCacheInfo LookupCache::info() const {
  return LookupCacheInfo{hits_, misses_, lru_.size(), max_size_};
}

void check_sql_identifier(const std::string& id, const std::string& field, const char* what) {
  const bool plain = !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!plain) {
    throw ConfigError("join_lookup: field '" + field + "': " + what + " '" + id +
                      "' is not a plain SQL identifier (letters, digits and '_' only)");
  }
}

void check_table_field(const std::string& name, const std::string& table,
                       const std::vector<std::string>& columns, const std::string& on,
                       const std::string& order_by, const std::string* schema) {
  if (columns.empty()) throw ConfigError("join_lookup: field '" + name + "' selects no columns");
  check_sql_identifier(table, name, "table");
  for (const auto& c : columns) {
    if (c == "*") {
      throw ConfigError("join_lookup: field '" + name +
                        "': '*' is not allowed in columns; name them (the result is keyed by "
                        "them)");
    }
    check_sql_identifier(c, name, "column");
  }
  check_sql_identifier(on, name, "on column");
  if (!order_by.empty()) check_sql_identifier(order_by, name, "order_by column");
  if (schema != nullptr) check_sql_identifier(*schema, name, "schema");
}

std::string table_query_text(const TableQuery& q, std::string_view placeholder) {
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < q.columns->size(); ++i) {
    if (i > 0) sql += ", ";
    sql += (*q.columns)[i];
  }
  sql += " FROM ";
  if (!q.schema.empty()) {
    sql += q.schema;
    sql += '.';
  }
  sql += q.table;
  sql += " WHERE ";
  sql += q.on;
  sql += " = ";
  sql += placeholder;
  if (!q.order_by.empty()) {
    sql += " ORDER BY ";
    sql += q.order_by;
    sql += q.direction == OrderDirection::asc ? " ASC" : " DESC";
  }
  if (q.first_match_only) sql += " LIMIT 1";
  return sql;
}

}  // namespace detail
}  // namespace streamframe
