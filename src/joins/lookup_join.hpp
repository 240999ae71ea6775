// join_lookup (JOIN-05): the node that enriches each record through a Lookup, and the one that
// does the same with a LookupBuffer, holding unresolved records in a store.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataframe/graph.hpp"
#include "streamframe/lookups.hpp"

namespace streamframe::detail {

// What both nodes do to a record: value[field] = result for each field, in place.
class LookupEnricher {
 public:
  LookupEnricher(std::shared_ptr<Lookup> lookup, LookupFields fields, LookupOn on)
      : lookup_(std::move(lookup)), fields_(std::move(fields)), on_(std::move(on)) {}
  // Non-object value => ValueTypeError; `on` column missing => ColumnDoesNotExist.
  void enrich(Value& value, const Value& key, std::int64_t timestamp) const;
  // Sets every field to its default_value (a buffered record that timed out).
  void set_defaults(Value& value) const;
  // What the fields hold in `value` before enrich() (nullopt: absent), and putting it back: a
  // held record is stored as it arrived, so that joining it again sees the columns it had
  // (a field may overwrite the very column the lookup key comes from).
  void save_fields(const Value& value, std::vector<std::optional<Value>>& saved) const;
  void restore_fields(Value& value, std::vector<std::optional<Value>>& saved) const;

 private:
  std::shared_ptr<Lookup> lookup_;
  LookupFields fields_;
  LookupOn on_;
};

class LookupNode final : public Node {
 public:
  explicit LookupNode(LookupEnricher enricher) : enricher_(std::move(enricher)) {}
  void process(Row& row, ExecContext& ctx) const override;
  const char* kind() const override { return "join_lookup"; }

 private:
  LookupEnricher enricher_;
};

class LookupBufferNode final : public Node {
 public:
  LookupBufferNode(LookupEnricher enricher, LookupBuffer buffer)
      : enricher_(std::move(enricher)), buffer_(std::move(buffer)) {}
  void set_store(std::size_t store) noexcept { store_ = store; }
  void process(Row& row, ExecContext& ctx) const override;
  std::unique_ptr<OperatorState> make_operator_state(state::PartitionTransaction& txn,
                                                     std::int32_t partition) const override;
  const char* kind() const override { return "join_lookup (buffered)"; }

  const LookupEnricher& enricher() const noexcept { return enricher_; }
  const LookupBuffer& buffer() const noexcept { return buffer_; }
  bool resolved(const Value& value) const { return buffer_.is_resolved(value); }
  // Sends a released record on (to the children).
  void release(Row& row, ExecContext& ctx) const { forward(row, ctx); }

 private:
  LookupEnricher enricher_;
  LookupBuffer buffer_;
  std::size_t store_ = 0;
};

}  // namespace streamframe::detail
