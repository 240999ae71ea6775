// The pipeline's operator nodes: one class per StreamingDataFrame operation (apply, filter,
// column assignment, to_topic, ...), each running a row and handing it on (Node::forward).
// Windows have their own node (windows/window_node.hpp).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataframe/access.hpp"
#include "dataframe/graph.hpp"
#include "dataframe/metadata.hpp"
#include "state/transaction.hpp"
#include "streamframe/dataframe.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/serde.hpp"

namespace streamframe::detail {

class RootNode final : public Node {
 public:
  void process(Row& row, ExecContext& ctx) const override { forward(row, ctx); }
  const char* kind() const override { return "root"; }
};

class ApplyNode final : public Node {
 public:
  ApplyNode(ApplyMetaFn f, bool expand, bool reads_headers)
      : f_(std::move(f)), expand_(expand), reads_headers_(reads_headers) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (reads_headers_) ctx.load_headers(row);
    Value result = f_(row.value, row.key, row.timestamp, row.headers);
    forward_applied(row, std::move(result), expand_, ctx);
  }
  const char* kind() const override { return "apply"; }
  bool reads_headers() const noexcept { return reads_headers_; }

 private:
  ApplyMetaFn f_;
  bool expand_;
  bool reads_headers_;
};

// apply / update / filter with State& (ST-01): one node, the three shapes differ only in
// what they do with the callable's result.
class StatefulApplyNode final : public Node {
 public:
  StatefulApplyNode(ApplyStateFn f, bool expand, std::size_t store, bool reads_headers)
      : f_(std::move(f)), expand_(expand), store_(store), reads_headers_(reads_headers) {}
  void process(Row& row, ExecContext& ctx) const override {
    State state = Access::state(ctx.state(store_, row));
    if (reads_headers_) ctx.load_headers(row);
    Value result = f_(row.value, row.key, row.timestamp, row.headers, state);
    forward_applied(row, std::move(result), expand_, ctx);
  }
  const char* kind() const override { return "apply"; }

 private:
  ApplyStateFn f_;
  bool expand_;
  std::size_t store_;
  bool reads_headers_;
};

class StatefulUpdateNode final : public Node {
 public:
  StatefulUpdateNode(UpdateStateFn f, std::size_t store, bool reads_headers)
      : f_(std::move(f)), store_(store), reads_headers_(reads_headers) {}
  void process(Row& row, ExecContext& ctx) const override {
    State state = Access::state(ctx.state(store_, row));
    if (reads_headers_) ctx.load_headers(row);
    f_(row.value, row.key, row.timestamp, row.headers, state);
    forward(row, ctx);
  }
  const char* kind() const override { return "update"; }

 private:
  UpdateStateFn f_;
  std::size_t store_;
  bool reads_headers_;
};

class StatefulFilterNode final : public Node {
 public:
  StatefulFilterNode(FilterStateFn f, std::size_t store, bool reads_headers)
      : f_(std::move(f)), store_(store), reads_headers_(reads_headers) {}
  void process(Row& row, ExecContext& ctx) const override {
    State state = Access::state(ctx.state(store_, row));
    if (reads_headers_) ctx.load_headers(row);
    if (f_(row.value, row.key, row.timestamp, row.headers, state)) forward(row, ctx);
  }
  const char* kind() const override { return "filter"; }

 private:
  FilterStateFn f_;
  std::size_t store_;
  bool reads_headers_;
};

class UpdateNode final : public Node {
 public:
  UpdateNode(UpdateMetaFn f, bool reads_headers)
      : f_(std::move(f)), reads_headers_(reads_headers) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (reads_headers_) ctx.load_headers(row);
    f_(row.value, row.key, row.timestamp, row.headers);
    forward(row, ctx);
  }
  const char* kind() const override { return "update"; }

 private:
  UpdateMetaFn f_;
  bool reads_headers_;
};

class FilterNode final : public Node {
 public:
  FilterNode(FilterMetaFn f, bool reads_headers)
      : f_(std::move(f)), reads_headers_(reads_headers) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (reads_headers_) ctx.load_headers(row);
    if (f_(row.value, row.key, row.timestamp, row.headers)) forward(row, ctx);
  }
  // Without the context the headers may not be read yet: a metadata-form predicate is left to
  // process() (on a copy, which Node::forward fills).
  std::optional<bool> admits(const Row& row) const override {
    if (reads_headers_) return std::nullopt;
    return f_(row.value, row.key, row.timestamp, row.headers);
  }
  const char* kind() const override { return "filter"; }

 private:
  FilterMetaFn f_;
  bool reads_headers_;
};

class SeriesFilterNode final : public Node {
 public:
  explicit SeriesFilterNode(Series predicate) : predicate_(std::move(predicate)) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (*admits(row)) forward(row, ctx);
  }
  std::optional<bool> admits(const Row& row) const override {
    Value scratch;
    return predicate_.evaluate(row.value, scratch).truthy();
  }
  const char* kind() const override { return "filter"; }

 private:
  Series predicate_;
};

inline Object& object_of(Value& v, std::string_view column) {
  if (!v.is_object()) {
    throw ValueTypeError("cannot set column '" + std::string(column) + "' on a " +
                         std::string(v.type_name()) + " value (expected object)");
  }
  return v.as_object();
}

class SetColumnNode final : public Node {
 public:
  SetColumnNode(std::string column, Series expr)
      : column_(std::move(column)), expr_(std::move(expr)) {}
  void process(Row& row, ExecContext& ctx) const override {
    Value scratch;
    const Value& result = expr_.evaluate(row.value, scratch);
    // The result may refer into row.value, which set() modifies: take it out first.
    Value owned;
    if (&result == &scratch) {
      owned = std::move(scratch);
    } else {
      owned = result;
    }
    object_of(row.value, column_).set(column_, std::move(owned));
    forward(row, ctx);
  }
  const char* kind() const override { return "set_column"; }

 private:
  std::string column_;
  Series expr_;
};

class SetColumnApplyNode final : public Node {
 public:
  SetColumnApplyNode(std::string column, ApplyMetaFn f, bool reads_headers)
      : column_(std::move(column)), f_(std::move(f)), reads_headers_(reads_headers) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (reads_headers_) ctx.load_headers(row);
    Value result = f_(row.value, row.key, row.timestamp, row.headers);
    object_of(row.value, column_).set(column_, std::move(result));
    forward(row, ctx);
  }
  const char* kind() const override { return "set_column"; }

 private:
  std::string column_;
  ApplyMetaFn f_;
  bool reads_headers_;
};

class ProjectNode final : public Node {
 public:
  explicit ProjectNode(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (!row.value.is_object()) {
      throw InvalidColumnReference("cannot select columns of a " +
                                   std::string(row.value.type_name()) + " value");
    }
    Object out;
    out.reserve(columns_.size());
    auto& in = row.value.as_object();
    for (const auto& c : columns_) {
      Value* v = in.find(c);
      if (!v) throw ColumnDoesNotExist("column '" + c + "' does not exist");
      out.set(c, *v);
    }
    row.value = Value(std::move(out));
    forward(row, ctx);
  }
  const char* kind() const override { return "project"; }

 private:
  std::vector<std::string> columns_;
};

class DropNode final : public Node {
 public:
  DropNode(std::vector<std::string> columns, DropErrors errors)
      : columns_(std::move(columns)), errors_(errors) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (!columns_.empty()) {
      if (!row.value.is_object()) {
        throw InvalidColumnReference("cannot drop columns of a " +
                                     std::string(row.value.type_name()) + " value");
      }
      auto& obj = row.value.as_object();
      for (const auto& c : columns_) {
        if (!obj.erase(c) && errors_ == DropErrors::raise) {
          throw ColumnDoesNotExist("column '" + c + "' does not exist");
        }
      }
    }
    forward(row, ctx);
  }
  const char* kind() const override { return "drop"; }

 private:
  std::vector<std::string> columns_;
  DropErrors errors_;
};

class FillNode final : public Node {
 public:
  explicit FillNode(std::vector<std::pair<std::string, Value>> fills) : fills_(std::move(fills)) {}
  void process(Row& row, ExecContext& ctx) const override {
    if (row.value.is_object()) {
      auto& obj = row.value.as_object();
      for (const auto& [col, fill] : fills_) {
        Value* v = obj.find(col);
        if (!v) {
          obj.set(col, fill);
        } else if (v->is_null()) {
          *v = fill;
        }
      }
    }
    forward(row, ctx);
  }
  const char* kind() const override { return "fill"; }

 private:
  std::vector<std::pair<std::string, Value>> fills_;
};

class PrintNode final : public Node {
 public:
  PrintNode(bool pretty, bool metadata) : pretty_(pretty), metadata_(metadata) {}
  void process(Row& row, ExecContext& ctx) const override {
    Value shown = row.value;
    if (metadata_) {
      ctx.load_headers(row);
      shown = Value::object({{"value", row.value},
                             {"key", row.key},
                             {"timestamp", row.timestamp},
                             {"headers", headers_to_value(row.headers)}});
    }
    std::string text;
    if (pretty_) {
      text = json::write_pretty(shown);
    } else {
      json::write(shown, text);
    }
    text.push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    forward(row, ctx);
  }
  const char* kind() const override { return "print"; }

 private:
  bool pretty_;
  bool metadata_;
};

// to_topic: the record's key, or the one `key` computes from the value, goes with it.
inline void produce_with_key(const Topic::Definition& topic, const KeyFn& key, const Row& row,
                             ExecContext& ctx) {
  if (key) {
    const Value computed = key(row.value);
    ctx.produce(topic, row, computed);
  } else {
    ctx.produce(topic, row, row.key);
  }
}

class ToTopicNode final : public Node {
 public:
  ToTopicNode(Topic topic, KeyFn key) : topic_(std::move(topic)), key_(std::move(key)) {}
  void process(Row& row, ExecContext& ctx) const override {
    produce_with_key(topic_.definition(), key_, row, ctx);
    forward(row, ctx);
  }
  bool produces() const override { return true; }
  const char* kind() const override { return "to_topic"; }
  const Topic* plain_topic() const override { return key_ ? nullptr : &topic_; }

 private:
  Topic topic_;
  KeyFn key_;
};

class DynamicToTopicNode final : public Node {
 public:
  DynamicToTopicNode(TopicFn choose, KeyFn key)
      : choose_(std::move(choose)), key_(std::move(key)) {}
  void process(Row& row, ExecContext& ctx) const override {
    ctx.load_headers(row);
    const Topic topic = choose_(row.value, row.key, row.timestamp, row.headers);
    produce_with_key(topic.definition(), key_, row, ctx);
    forward(row, ctx);
  }
  bool produces() const override { return true; }
  const char* kind() const override { return "to_topic"; }

 private:
  TopicFn choose_;
  KeyFn key_;
};

class SetTimestampNode final : public Node {
 public:
  explicit SetTimestampNode(TimestampFn f) : f_(std::move(f)) {}
  void process(Row& row, ExecContext& ctx) const override {
    ctx.load_headers(row);
    row.timestamp = f_(row.value, row.key, row.timestamp, row.headers);
    forward(row, ctx);
  }
  const char* kind() const override { return "set_timestamp"; }

 private:
  TimestampFn f_;
};

class SetHeadersNode final : public Node {
 public:
  explicit SetHeadersNode(HeadersFn f) : f_(std::move(f)) {}
  void process(Row& row, ExecContext& ctx) const override {
    ctx.load_headers(row);
    Headers copy = row.headers;  // the callable gets a copy (SDF-11)
    row.headers = f_(row.value, row.key, row.timestamp, copy);
    forward(row, ctx);
  }
  const char* kind() const override { return "set_headers"; }

 private:
  HeadersFn f_;
};

class SinkNode final : public Node {
 public:
  explicit SinkNode(std::shared_ptr<Sink> sink) : sink_(std::move(sink)) {}
  void process(Row& row, ExecContext& ctx) const override {
    const auto& mc = ctx.context();
    ctx.load_headers(row);
    sink_->add(row.value, row.key, row.timestamp, row.headers, mc.topic, mc.partition, mc.offset);
    // Leaves with a null value, as Quix Streams' sink (an apply returning None) does: run(count=)
    // counts the record and run()'s outputs show where it went.
    row.value = Value();
    forward(row, ctx);
  }
  const char* kind() const override { return "sink"; }
  Sink* sink() const override { return sink_.get(); }

 private:
  std::shared_ptr<Sink> sink_;
};

class PassNode final : public Node {
 public:
  void process(Row& row, ExecContext& ctx) const override { forward(row, ctx); }
  const char* kind() const override { return "concat"; }
};

// concat of different topics (SDF-13): the end of one topic's branch, whose rows go on in the
// merge node of the graph of another topic, in the same task and message context.
class BridgeNode final : public Node {
 public:
  BridgeNode(std::shared_ptr<const Graph> target_graph, const Node* target)
      : target_graph_(std::move(target_graph)), target_(target) {}
  void process(Row& row, ExecContext& ctx) const override {
    // The nodes below the merge are the target graph's: so are the stores they name.
    const std::size_t previous = ctx.enter_graph(*target_graph_);
    try {
      target_->process(row, ctx);
    } catch (...) {
      ctx.leave_graph(previous);
      throw;
    }
    ctx.leave_graph(previous);
  }
  bool produces() const override { return target_graph_->produces(); }
  const char* kind() const override { return "concat"; }

 private:
  std::shared_ptr<const Graph> target_graph_;  // keeps target_ alive
  const Node* target_;
};

// sdf.contains(keys): true iff the record value is an object holding every key (SDF-05).
class ContainsKeysExpr final : public Expr {
 public:
  explicit ContainsKeysExpr(std::vector<std::string> keys) : keys_(std::move(keys)) {}
  const Value& eval(const Value& row, Value& scratch) const override {
    bool all = row.is_object();
    for (std::size_t i = 0; all && i < keys_.size(); ++i) all = row.contains(keys_[i]);
    scratch = Value(all);
    return scratch;
  }
  std::string describe() const override {
    std::string out = "contains(";
    for (std::size_t i = 0; i < keys_.size(); ++i) out += (i ? ", " : "") + keys_[i];
    return out + ")";
  }

 private:
  std::vector<std::string> keys_;
};

}  // namespace streamframe::detail
