#include "joins/lookup_join.hpp"

#include <cstring>
#include <deque>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/logging.hpp"
#include "joins/store_codec.hpp"
#include "state/transaction.hpp"
#include "state/value_codec.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {

void LookupEnricher::enrich(Value& value, const Value& key, std::int64_t timestamp) const {
  if (!value.is_object()) {
    throw ValueTypeError(std::string("join_lookup: the value must be an object, got ") +
                         std::string(value.type_name()));
  }
  if (on_.fn()) {
    const Value on = on_.fn()(value, key);
    lookup_->join(fields_, on, value, key, timestamp);
  } else if (!on_.column().empty()) {
    // Copied: the lookup writes into `value`.
    const Value on = std::as_const(value)[on_.column()];
    lookup_->join(fields_, on, value, key, timestamp);
  } else {
    lookup_->join(fields_, key, value, key, timestamp);
  }
}

void LookupEnricher::set_defaults(Value& value) const {
  if (!value.is_object()) return;
  for (const auto& [name, field] : fields_) value[name] = lookup_field_default(field);
}

void LookupEnricher::save_fields(const Value& value,
                                 std::vector<std::optional<Value>>& saved) const {
  saved.clear();
  for (const auto& [name, field] : fields_) {
    const Value* v = value.find(name);
    saved.push_back(v == nullptr ? std::nullopt : std::optional<Value>(*v));
  }
}

void LookupEnricher::restore_fields(Value& value, std::vector<std::optional<Value>>& saved) const {
  if (!value.is_object()) return;
  for (std::size_t i = 0; i < fields_.size() && i < saved.size(); ++i) {
    if (saved[i]) {
      value.as_object().set(fields_[i].first, std::move(*saved[i]));
    } else {
      value.as_object().erase(fields_[i].first);
    }
  }
}

void LookupNode::process(Row& row, ExecContext& ctx) const {
  enricher_.enrich(row.value, row.key, row.timestamp);
  forward(row, ctx);
}

namespace {

// A record held by the buffer: everything it goes on with, and when it arrived (application
// clock; kRestored until the first turn after it was read back from the store).
struct Held {
  std::int64_t received;
  std::int64_t timestamp;
  Headers headers;
  Value value;
};

constexpr std::int64_t kRestored = std::numeric_limits<std::int64_t>::min();

// Stored per message key (persistent: only ever extended through the layout byte):
//   layout byte (0), count (uint32 LE), per record: timestamp (int64 LE), header count
//   (uint32 LE), per header: name length (uint32 LE), name, null flag (uint8), value length
//   (uint32 LE), value; then value length (uint32 LE) and the value-codec bytes.
constexpr std::uint8_t kLayout = 0;

class BufferState final : public OperatorState {
 public:
  BufferState(const LookupBufferNode& node, state::PartitionTransaction& txn,
              std::int32_t partition)
      : node_(node), partition_(partition) {
    // Every held record is read at once: any of them may time out on a quiet partition.
    txn.store().scan(std::string(), std::string(1, '\xff'),
                     [&](std::string_view k, std::string_view v) {
                       Keyed& kb = keys_[std::string(k)];
                       kb.key = state::decode(k);
                       decode(state::parse_stored(v).payload, kb.held);
                       restored_ += kb.held.size();
                       return true;
                     });
    if (restored_ > 0) {
      logger()->info("lookup buffer '{}' partition {}: {} held record(s) of {} key(s) restored",
                     node_.buffer().store, partition_, restored_, keys_.size());
    }
  }

  void process(Row& row, ExecContext& ctx) {
    const std::int64_t now = ctx.now_ms();
    settle_restored(now);
    if (row.value.is_object()) node_.enricher().save_fields(row.value, saved_);
    node_.enricher().enrich(row.value, row.key, row.timestamp);
    const bool resolved = node_.resolved(row.value);
    // A record that waits is kept as it arrived.
    if (!resolved) node_.enricher().restore_fields(row.value, saved_);
    enc_.clear();
    state::encode(row.key, enc_);
    auto it = keys_.find(enc_);
    if (it == keys_.end() || it->second.held.empty()) {
      if (resolved) {
        node_.release(row, ctx);
      } else {
        ctx.load_headers(row);  // held past the message
        hold(enc_, row, now);
      }
      return;
    }
    // The key's records that waited long enough leave first, then what this record releases.
    const std::string enc = enc_;  // enc_ is reused by what runs downstream
    time_out(enc, it->second, now - node_.buffer().grace.count(), ctx);
    if (!resolved) {
      ctx.load_headers(row);  // held past the message
      hold(enc, row, now);
      return;
    }
    release(enc, ctx);
    node_.release(row, ctx);
  }

  bool tick(std::int64_t now, ExecContext& ctx) override {
    settle_restored(now);
    const std::int64_t cutoff = now - node_.buffer().grace.count();
    bool changed = false;
    while (!due_.empty() && due_.begin()->first <= cutoff) {
      const std::string enc = due_.begin()->second;
      auto it = keys_.find(enc);
      if (it == keys_.end()) {  // stale
        due_.erase(due_.begin());
        continue;
      }
      time_out(enc, it->second, cutoff, ctx);
      changed = true;
    }
    return changed;
  }
  bool ticks() const override { return true; }

  void flush(state::PartitionTransaction& txn) override {
    std::string stored;
    for (auto it = keys_.begin(); it != keys_.end();) {
      Keyed& kb = it->second;
      if (kb.dirty) {
        if (kb.held.empty()) {
          txn.remove(it->first);
        } else {
          stored.clear();
          state::build_stored(stored, true, std::nullopt);
          encode(kb.held, stored);
          txn.put(it->first, stored);
        }
        kb.dirty = false;
      }
      it = kb.held.empty() ? keys_.erase(it) : std::next(it);
    }
  }

 private:
  struct Keyed {
    Value key;
    std::deque<Held> held;  // arrival order
    bool dirty = false;
  };

  static void encode(const std::deque<Held>& held, std::string& out) {
    put_fixed(out, kLayout);
    put_fixed(out, static_cast<std::uint32_t>(held.size()));
    std::string value;
    for (const Held& h : held) {
      put_fixed(out, h.timestamp);
      put_fixed(out, static_cast<std::uint32_t>(h.headers.size()));
      for (const auto& [name, hv] : h.headers) {
        put_bytes(out, name);
        put_fixed(out, static_cast<std::uint8_t>(hv ? 0 : 1));
        put_bytes(out, hv ? std::string_view(*hv) : std::string_view());
      }
      value.clear();
      state::encode(h.value, value);
      put_bytes(out, value);
    }
  }

  static void decode(std::string_view bytes, std::deque<Held>& out) {
    StoreReader r(bytes, "lookup buffer");
    if (r.fixed<std::uint8_t>() != kLayout) {
      throw SerializationError("lookup buffer: unknown layout of a stored entry");
    }
    const auto count = r.fixed<std::uint32_t>();
    for (std::uint32_t i = 0; i < count; ++i) {
      Held h;
      h.received = kRestored;
      h.timestamp = r.fixed<std::int64_t>();
      const auto headers = r.fixed<std::uint32_t>();
      h.headers.reserve(headers);
      for (std::uint32_t j = 0; j < headers; ++j) {
        std::string name(r.bytes());
        const bool null = r.fixed<std::uint8_t>() != 0;
        const std::string_view v = r.bytes();
        h.headers.emplace_back(std::move(name), null ? HeaderValue() : HeaderValue(std::string(v)));
      }
      h.value = state::decode(r.bytes());
      out.push_back(std::move(h));
    }
    r.finish();
  }

  // Restored records wait a whole grace from the first turn after the restore (their arrival
  // time on the previous run's clock means nothing on this one).
  void settle_restored(std::int64_t now) {
    if (restored_ == 0) return;
    restored_ = 0;
    for (auto& [enc, kb] : keys_) {
      for (Held& h : kb.held) {
        if (h.received == kRestored) h.received = now;
      }
      if (!kb.held.empty()) due_.emplace(now, enc);
    }
  }

  void hold(const std::string& enc, Row& row, std::int64_t now) {
    Keyed& kb = keys_[enc];
    const auto max = node_.buffer().max_buffered_per_key;
    if (kb.held.size() >= max) {
      logger()->warn(
          "lookup buffer '{}' partition {}: key {} holds {} record(s) already "
          "(max_buffered_per_key); the record at timestamp {} is dropped",
          node_.buffer().store, partition_, row.key.to_json(), kb.held.size(), row.timestamp);
      return;
    }
    if (kb.held.empty()) {
      kb.key = row.key;
      due_.emplace(now, enc);
    }
    kb.held.push_back(Held{now, row.timestamp, std::move(row.headers), std::move(row.value)});
    kb.dirty = true;
  }

  // Sends on (or drops) the key's records that arrived at or before `cutoff`.
  void time_out(const std::string& enc, Keyed& kb, std::int64_t cutoff, ExecContext& ctx) {
    const std::int64_t before = kb.held.empty() ? 0 : kb.held.front().received;
    const bool emit = node_.buffer().on_timeout == LookupTimeout::emit;
    std::size_t dropped = 0;
    while (!kb.held.empty() && kb.held.front().received <= cutoff) {
      Held h = std::move(kb.held.front());
      kb.held.pop_front();
      kb.dirty = true;
      if (emit) {
        Row out{std::move(h.value), kb.key, h.timestamp, std::move(h.headers)};
        node_.enricher().set_defaults(out.value);
        node_.release(out, ctx);
      } else {
        ++dropped;
      }
    }
    if (dropped > 0) {
      logger()->info(
          "lookup buffer '{}' partition {}: {} record(s) of key {} unresolved after {} ms, "
          "dropped",
          node_.buffer().store, partition_, dropped, kb.key.to_json(),
          node_.buffer().grace.count());
    }
    reindex(enc, kb, before);
  }

  // Joins the key's held records again: the resolved ones go on in arrival order, the others
  // stay. A lookup that throws leaves everything not yet sent on held.
  void release(const std::string& enc, ExecContext& ctx) {
    Keyed& kb = keys_.at(enc);
    const std::int64_t before = kb.held.front().received;
    std::vector<bool> gone(kb.held.size(), false);
    struct Prune {
      Keyed& kb;
      std::vector<bool>& gone;
      ~Prune() {
        std::size_t i = 0;
        std::erase_if(kb.held, [&](const Held&) { return gone[i++]; });
      }
    };
    {
      Prune prune{kb, gone};
      for (std::size_t i = 0; i < gone.size(); ++i) {
        Held& h = kb.held[i];
        Value value = h.value;
        node_.enricher().enrich(value, kb.key, h.timestamp);
        if (!node_.resolved(value)) continue;
        Row out{std::move(value), kb.key, h.timestamp, h.headers};
        gone[i] = true;
        kb.dirty = true;
        node_.release(out, ctx);
      }
    }
    reindex(enc, kb, before);
  }

  // The key's place in the deadline order after its oldest record may have changed.
  void reindex(const std::string& enc, const Keyed& kb, std::int64_t before) {
    const std::int64_t after = kb.held.empty() ? kRestored : kb.held.front().received;
    if (after == before) return;
    due_.erase({before, enc});
    if (!kb.held.empty()) due_.emplace(after, enc);
  }

  const LookupBufferNode& node_;
  std::int32_t partition_;
  std::unordered_map<std::string, Keyed> keys_;         // by encoded message key
  std::set<std::pair<std::int64_t, std::string>> due_;  // (oldest arrival, key) of held keys
  std::size_t restored_ = 0;
  std::string enc_;
  std::vector<std::optional<Value>> saved_;  // reused per record
};

}  // namespace

void LookupBufferNode::process(Row& row, ExecContext& ctx) const {
  static_cast<BufferState&>(ctx.operator_state(store_, *this)).process(row, ctx);
}

std::unique_ptr<OperatorState> LookupBufferNode::make_operator_state(
    state::PartitionTransaction& txn, std::int32_t partition) const {
  return std::make_unique<BufferState>(*this, txn, partition);
}

}  // namespace streamframe::detail
