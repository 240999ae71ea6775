// Protobuf serdes (include/streamframe/protobuf.hpp). libprotobuf parses and writes the binary
// encoding into messages (generated ones, or DynamicMessages of a descriptor set); the proto3
// JSON mapping between a message and a Value is walked here through its reflection, straight
// to and from the Value, without a JSON text in between.
#include "streamframe/protobuf.hpp"

#include <absl/container/inlined_vector.h>
#include <absl/strings/escaping.h>
#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/time_util.h>
#include <google/protobuf/wire_format_lite.h>
#include <simdjson.h>

#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "serde/located.hpp"
#include "serde/parse_reuse.hpp"
#include "serde/schema_registry_client.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

namespace {

namespace pb = google::protobuf;
using pb::FieldDescriptor;
using serde::fail_here;
using serde::Located;
using serde::within;
using serde::within_index;

// The well-known types the JSON mapping writes in their own form.
enum class Wkt : std::uint8_t {
  none,
  timestamp,
  duration,
  wrapper,
  struct_,
  value,
  list_value,
  field_mask,
  any
};

Wkt wkt_of(const pb::Descriptor* d) {
  const std::string& n = d->full_name();
  if (!n.starts_with("google.protobuf.")) return Wkt::none;
  const std::string_view s = std::string_view(n).substr(16);
  if (s == "Timestamp") return Wkt::timestamp;
  if (s == "Duration") return Wkt::duration;
  if (s == "Struct") return Wkt::struct_;
  if (s == "Value") return Wkt::value;
  if (s == "ListValue") return Wkt::list_value;
  if (s == "FieldMask") return Wkt::field_mask;
  if (s == "Any") return Wkt::any;
  for (std::string_view w : {"DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value",
                             "UInt32Value", "BoolValue", "StringValue", "BytesValue"}) {
    if (s == w) return Wkt::wrapper;
  }
  return Wkt::none;
}

bool is_null_value_enum(const FieldDescriptor* fd) {
  return fd->cpp_type() == FieldDescriptor::CPPTYPE_ENUM &&
         fd->enum_type()->full_name() == "google.protobuf.NullValue";
}

bool is_value_message(const FieldDescriptor* fd) {
  return fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
         fd->message_type()->full_name() == "google.protobuf.Value";
}

// What the conversions need of a message type, worked out once.
struct MessageInfo {
  const pb::Descriptor* desc = nullptr;
  Wkt wkt = Wkt::none;
  std::vector<const FieldDescriptor*> by_number;  // ListFields' order
  // Fields without presence, in declaration order: written with their default when unset.
  std::vector<const FieldDescriptor*> no_presence;
  // Both names of every field, for writing (an object may use either).
  std::vector<std::pair<std::string, const FieldDescriptor*>> names;

  const FieldDescriptor* field_named(std::string_view name) const noexcept {
    for (const auto& [n, fd] : names) {
      if (n == name) return fd;
    }
    return nullptr;
  }

  // The direct codec's view (section "the direct codec"): whether messages of this type, and
  // of every type under it, are read and written without libprotobuf's reflection.
  bool direct = false;
  std::vector<const MessageInfo*> subs;       // by declaration index: a message field's type
  std::vector<std::int16_t> index_of_number;  // field number => declaration index, -1: none
  // Per field (declaration order), what the direct reader asks of it for every occurrence,
  // read once here rather than through the descriptor each time.
  struct FieldPlan {
    FieldDescriptor::Type type = FieldDescriptor::TYPE_INT32;
    std::uint8_t wire = 0;  // the wire type of one value (WireFormatLite::WireType)
    bool repeated = false;
    bool packable = false;
    const std::string* json_name = nullptr;
    const std::string* proto_name = nullptr;
  };
  std::vector<FieldPlan> plans;
  std::vector<const FieldDescriptor*> by_declaration;

  int index_of(int number) const noexcept {
    return number >= 0 && static_cast<std::size_t>(number) < index_of_number.size()
               ? index_of_number[static_cast<std::size_t>(number)]
               : -1;
  }
};

MessageInfo make_info(const pb::Descriptor* d) {
  MessageInfo info;
  info.desc = d;
  info.wkt = wkt_of(d);
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* fd = d->field(i);
    info.by_number.push_back(fd);
    if (fd->is_repeated() || !fd->has_presence()) info.no_presence.push_back(fd);
    info.names.emplace_back(fd->json_name(), fd);
    if (fd->name() != fd->json_name()) info.names.emplace_back(fd->name(), fd);
  }
  std::sort(
      info.by_number.begin(), info.by_number.end(),
      [](const FieldDescriptor* a, const FieldDescriptor* b) { return a->number() < b->number(); });
  return info;
}

// A message type with everything its conversions need: the infos of every type reachable from
// it (made up front, read without a lock) and of types an Any names (made when first met).
class TypeSet {
 public:
  TypeSet(const pb::Descriptor* root, pb::MessageFactory* factory) : factory_(factory) {
    add_reachable(root);
    plan_direct();
  }

  const MessageInfo& info(const pb::Descriptor* d) const {
    if (const auto it = reachable_.find(d); it != reachable_.end()) return it->second;
    {
      const std::shared_lock lock(mutex_);
      if (const auto it = others_.find(d); it != others_.end()) return *it->second;
    }
    const std::unique_lock lock(mutex_);
    auto& slot = others_[d];
    if (!slot) slot = std::make_unique<MessageInfo>(make_info(d));
    return *slot;
  }

  pb::MessageFactory* factory() const { return factory_; }

  // Whether some type reachable from the root has required fields (proto2): only then is a
  // message checked for them, a walk of every submessage.
  bool has_required() const { return has_required_; }

 private:
  void add_reachable(const pb::Descriptor* d) {
    if (reachable_.contains(d)) return;
    reachable_.emplace(d, make_info(d));
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* fd = d->field(i);
      if (fd->is_required()) has_required_ = true;
      if (fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) add_reachable(fd->message_type());
    }
  }

  // A type is direct when it is a plain proto3 message: no well-known type, map, oneof,
  // `optional` or group, and every message field's type direct too (found by lowering the
  // optimistic guess until nothing changes, so recursive types are direct when plain).
  void plan_direct() {
    for (auto& [d, info] : reachable_) {
      info.direct = info.wkt == Wkt::none &&
                    d->file()->syntax() == pb::FileDescriptor::SYNTAX_PROTO3 &&
                    d->field_count() < 4096;
      info.subs.assign(static_cast<std::size_t>(d->field_count()), nullptr);
      int max_number = 0;
      for (int i = 0; i < d->field_count(); ++i)
        max_number = std::max(max_number, d->field(i)->number());
      if (max_number > 4096) info.direct = false;
      if (!info.direct) continue;
      info.index_of_number.assign(static_cast<std::size_t>(max_number) + 1, -1);
      for (int i = 0; i < d->field_count(); ++i) {
        const FieldDescriptor* fd = d->field(i);
        info.by_declaration.push_back(fd);
        info.plans.push_back(
            {fd->type(),
             static_cast<std::uint8_t>(pb::internal::WireFormatLite::WireTypeForFieldType(
                 static_cast<pb::internal::WireFormatLite::FieldType>(fd->type()))),
             fd->is_repeated(), fd->is_packable(), &fd->json_name(), &fd->name()});
        info.index_of_number[static_cast<std::size_t>(fd->number())] = static_cast<std::int16_t>(i);
        if (fd->is_map() || fd->containing_oneof() != nullptr || is_null_value_enum(fd) ||
            fd->type() == FieldDescriptor::TYPE_GROUP ||
            (!fd->is_repeated() && fd->has_presence() &&
             fd->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE)) {
          info.direct = false;
        }
        if (fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
          info.subs[static_cast<std::size_t>(i)] = &reachable_.at(fd->message_type());
      }
    }
    for (bool changed = true; changed;) {
      changed = false;
      for (auto& [d, info] : reachable_) {
        if (!info.direct) continue;
        for (const MessageInfo* sub : info.subs) {
          if (sub != nullptr && !sub->direct) {
            info.direct = false;
            changed = true;
            break;
          }
        }
      }
    }
  }

  pb::MessageFactory* factory_;
  std::unordered_map<const pb::Descriptor*, MessageInfo> reachable_;
  bool has_required_ = false;
  mutable std::shared_mutex mutex_;
  mutable std::unordered_map<const pb::Descriptor*, std::unique_ptr<MessageInfo>> others_;
};

// ---- the message type -------------------------------------------------------------------

// Collects what a descriptor pool says is wrong with the files of a descriptor set.
class PoolErrors final : public pb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name, const pb::Message*,
                ErrorLocation, const std::string& message) override {
    if (!text.empty()) text += "; ";
    text += fmt::format("{}: {}: {}", filename, element_name, message);
  }
  std::string text;
};

std::string read_file(const std::string& path, std::string_view who) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot read descriptor_set_file '{}'", who, path));
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

// A message type and what makes its messages: the descriptor set's own pool and factory, or
// the program's generated ones. Messages are leased, so a parse reuses the memory of the last.
class MessageType {
 public:
  MessageType(const ProtobufMessageType& t, std::string_view who) {
    if (t.descriptor != nullptr) {
      if (!t.message_type.empty() || !t.descriptor_set.empty() || !t.descriptor_set_file.empty()) {
        throw ConfigError(
            fmt::format("{}: give the message type either as a descriptor or as message_type in a "
                        "descriptor set, not both",
                        who));
      }
      root_ = t.descriptor;
      factory_ = pb::MessageFactory::generated_factory();
    } else {
      if (t.message_type.empty()) {
        throw ConfigError(fmt::format(
            "{}: no message type: set msg_type.descriptor, or msg_type.message_type and a "
            "descriptor set",
            who));
      }
      if (t.descriptor_set.empty() == t.descriptor_set_file.empty()) {
        throw ConfigError(fmt::format(
            "{}: message type '{}' needs exactly one of descriptor_set_file and descriptor_set "
            "(protoc --include_imports --descriptor_set_out=FILE)",
            who, t.message_type));
      }
      const std::string bytes =
          t.descriptor_set.empty() ? read_file(t.descriptor_set_file, who) : t.descriptor_set;
      pb::FileDescriptorSet set;
      if (!set.ParseFromString(bytes)) {
        throw ConfigError(
            fmt::format("{}: the descriptor set ({} bytes) is not a "
                        "FileDescriptorSet",
                        who, bytes.size()));
      }
      database_ = std::make_unique<pb::SimpleDescriptorDatabase>();
      for (const auto& file : set.file()) {
        if (!database_->Add(file)) {
          throw ConfigError(
              fmt::format("{}: the descriptor set holds file '{}' twice, "
                          "differently",
                          who, file.name()));
        }
      }
      errors_ = std::make_unique<PoolErrors>();
      pool_ = std::make_unique<pb::DescriptorPool>(database_.get(), errors_.get());
      root_ = pool_->FindMessageTypeByName(t.message_type);
      if (root_ == nullptr) {
        throw ConfigError(
            errors_->text.empty()
                ? fmt::format("{}: no message type '{}' in the descriptor set", who, t.message_type)
                : fmt::format("{}: message type '{}': the descriptor set is not consistent: {}",
                              who, t.message_type, errors_->text));
      }
      dynamic_ = std::make_unique<pb::DynamicMessageFactory>(pool_.get());
      factory_ = dynamic_.get();
    }
    prototype_ = factory_->GetPrototype(root_);
    if (prototype_ == nullptr) {
      throw ConfigError(
          fmt::format("{}: no message can be made of type '{}'", who, root_->full_name()));
    }
    types_ = std::make_unique<TypeSet>(root_, factory_);
    root_info_ = &types_->info(root_);
  }

  MessageType(const MessageType&) = delete;
  MessageType& operator=(const MessageType&) = delete;
  ~MessageType() {
    for (auto& slot : cache_) delete slot.load();
  }

  const pb::Descriptor* root() const { return root_; }
  const TypeSet& types() const { return *types_; }
  const MessageInfo& root_info() const { return *root_info_; }

  struct GiveBack {
    const MessageType* type;
    void operator()(pb::Message* m) const { type->give_back(m); }
  };
  using Lease = std::unique_ptr<pb::Message, GiveBack>;

  // A cleared message of the root type.
  Lease lease() const {
    for (auto& slot : cache_) {
      if (pb::Message* m = slot.exchange(nullptr, std::memory_order_acquire)) {
        m->Clear();
        return Lease(m, GiveBack{this});
      }
    }
    return Lease(prototype_->New(), GiveBack{this});
  }

 private:
  void give_back(pb::Message* m) const {
    for (auto& slot : cache_) {
      pb::Message* empty = nullptr;
      if (slot.compare_exchange_strong(empty, m, std::memory_order_release)) return;
    }
    delete m;
  }

  // Declared first, destroyed last: the pool reads the database, the factory the pool.
  std::unique_ptr<pb::SimpleDescriptorDatabase> database_;
  std::unique_ptr<PoolErrors> errors_;
  std::unique_ptr<pb::DescriptorPool> pool_;
  std::unique_ptr<pb::DynamicMessageFactory> dynamic_;
  pb::MessageFactory* factory_ = nullptr;
  const pb::Descriptor* root_ = nullptr;
  const pb::Message* prototype_ = nullptr;
  std::unique_ptr<TypeSet> types_;
  const MessageInfo* root_info_ = nullptr;
  static constexpr std::size_t kCachedMessages = 8;
  mutable std::array<std::atomic<pb::Message*>, kCachedMessages> cache_{};
};

// ---- message to Value --------------------------------------------------------------------

struct ReadRules {
  bool enums_as_ints = false;
  bool proto_names = false;
  bool int64_as_int = false;
};

Value double_value(double d) {
  if (std::isnan(d)) return Value("NaN");
  if (std::isinf(d)) return Value(d > 0 ? "Infinity" : "-Infinity");
  return Value(d);
}

// A float as the double of its shortest decimal form, as Python's MessageToDict gives it
// (0.1f => 0.1, not 0.100000001490116).
Value float_value(float f) {
  if (std::isnan(f) || std::isinf(f)) return double_value(f);
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), f);
  double d = f;
  if (ec == std::errc()) std::from_chars(buf.data(), end, d);
  return Value(d);
}

std::string base64(std::string_view bytes) {
  std::string out;
  absl::Base64Escape(absl::string_view(bytes.data(), bytes.size()), &out);
  return out;
}

// snake_case => lowerCamelCase, as FieldMask paths are written.
std::string camel_case(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool upper = false;
  for (char c : s) {
    if (c == '_') {
      upper = true;
    } else {
      out.push_back(upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
      upper = false;
    }
  }
  return out;
}

std::string snake_case(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 4);
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') {
      out.push_back('_');
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Field `number` of a well-known type (its layout is fixed; a pool that has it otherwise is not
// one protobuf made).
const FieldDescriptor* field_number(const MessageInfo& info, int number) {
  const FieldDescriptor* fd = info.desc->FindFieldByNumber(number);
  if (fd == nullptr) fail_here(fmt::format("{} lacks field {}", info.desc->full_name(), number));
  return fd;
}

class Reader {
 public:
  Reader(const TypeSet& types, ReadRules rules) : types_(types), rules_(rules) {}

  Value message(const pb::Message& m) const {
    const MessageInfo& info = types_.info(m.GetDescriptor());
    if (info.wkt != Wkt::none) return well_known(m, info);
    const pb::Reflection* r = m.GetReflection();
    check_unknown_fields(m, *r, info);
    Object obj;
    obj.reserve(info.by_number.size());
    bool unset_defaults = false;
    for (const FieldDescriptor* fd : info.by_number) {
      if (!is_set(m, *r, fd)) {
        unset_defaults = unset_defaults || fd->is_repeated() || !fd->has_presence();
        continue;
      }
      obj.append_unchecked(name(fd), within(name(fd), [&] { return field(m, *r, fd); }));
    }
    if (unset_defaults) {
      for (const FieldDescriptor* fd : info.no_presence) {
        if (!is_set(m, *r, fd)) obj.append_unchecked(name(fd), default_of(fd));
      }
    }
    return Value(std::move(obj));
  }

 private:
  const std::string& name(const FieldDescriptor* fd) const {
    return rules_.proto_names ? fd->name() : fd->json_name();
  }

  static bool is_set(const pb::Message& m, const pb::Reflection& r, const FieldDescriptor* fd) {
    return fd->is_repeated() ? r.FieldSize(m, fd) > 0 : r.HasField(m, fd);
  }

  // A known field number among the unknown fields came with another wire type than the
  // field's: the parser keeps such a field aside instead of failing, and MessageToDict would
  // print the field's default as if nothing was wrong.
  static void check_unknown_fields(const pb::Message& m, const pb::Reflection& r,
                                   const MessageInfo& info) {
    const pb::UnknownFieldSet& unknown = r.GetUnknownFields(m);
    for (int i = 0; i < unknown.field_count(); ++i) {
      const pb::UnknownField& u = unknown.field(i);
      if (const FieldDescriptor* fd = info.desc->FindFieldByNumber(u.number())) {
        // By UnknownField::Type, which is not the wire type's number.
        static constexpr std::array<std::string_view, 5> kWireTypes = {
            "varint", "fixed32", "fixed64", "length-delimited", "group"};
        fail_here(
            fmt::format("field '{}' (number {}) of {} came as a {}, which a {} field "
                        "is never written as",
                        fd->name(), fd->number(), info.desc->full_name(),
                        kWireTypes[static_cast<std::size_t>(u.type())], fd->type_name()));
      }
    }
  }

  Value field(const pb::Message& m, const pb::Reflection& r, const FieldDescriptor* fd) const {
    if (fd->is_map()) return map(m, r, fd);
    if (fd->is_repeated()) {
      const int n = r.FieldSize(m, fd);
      Array items;
      items.reserve(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        items.push_back(
            within_index(static_cast<std::size_t>(i), [&] { return scalar(m, r, fd, i); }));
      }
      return Value(std::move(items));
    }
    return scalar(m, r, fd, -1);
  }

  Value map(const pb::Message& m, const pb::Reflection& r, const FieldDescriptor* fd) const {
    const FieldDescriptor* key_fd = fd->message_type()->map_key();
    const FieldDescriptor* value_fd = fd->message_type()->map_value();
    const int n = r.FieldSize(m, fd);
    Object obj;
    obj.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      const pb::Message& entry = r.GetRepeatedMessage(m, fd, i);
      const pb::Reflection& er = *entry.GetReflection();
      std::string key = map_key(entry, er, key_fd);
      Value v = within(key, [&] { return scalar(entry, er, value_fd, -1); });
      obj.set(key, std::move(v));  // a key written twice: the last one wins, as in parsing
    }
    return Value(std::move(obj));
  }

  static std::string map_key(const pb::Message& e, const pb::Reflection& r,
                             const FieldDescriptor* fd) {
    switch (fd->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        return std::to_string(r.GetInt32(e, fd));
      case FieldDescriptor::CPPTYPE_INT64:
        return std::to_string(r.GetInt64(e, fd));
      case FieldDescriptor::CPPTYPE_UINT32:
        return std::to_string(r.GetUInt32(e, fd));
      case FieldDescriptor::CPPTYPE_UINT64:
        return std::to_string(r.GetUInt64(e, fd));
      case FieldDescriptor::CPPTYPE_BOOL:
        return r.GetBool(e, fd) ? "true" : "false";
      default:
        return r.GetString(e, fd);
    }
  }

  // ---- the formatting the direct codec shares ----
 public:
  Value int64(std::int64_t v) const {
    return rules_.int64_as_int ? Value(v) : Value(std::to_string(v));
  }

  Value uint64(std::uint64_t v) const {
    if (rules_.int64_as_int && v <= static_cast<std::uint64_t>(INT64_MAX))
      return Value(static_cast<std::int64_t>(v));
    return Value(std::to_string(v));
  }

  Value enumeration(const FieldDescriptor* fd, int number) const {
    if (is_null_value_enum(fd)) return Value(nullptr);
    if (!rules_.enums_as_ints) {
      if (const pb::EnumValueDescriptor* e = fd->enum_type()->FindValueByNumber(number))
        return Value(e->name());
    }
    return Value(static_cast<std::int64_t>(number));
  }

  Value default_of(const FieldDescriptor* fd) const;

 private:
  // Field `fd` of `m`, item `i` of it when repeated (i >= 0).
  Value scalar(const pb::Message& m, const pb::Reflection& r, const FieldDescriptor* fd,
               int i) const {
    const bool rep = i >= 0;
    switch (fd->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        return Value(
            static_cast<std::int64_t>(rep ? r.GetRepeatedInt32(m, fd, i) : r.GetInt32(m, fd)));
      case FieldDescriptor::CPPTYPE_UINT32:
        return Value(
            static_cast<std::int64_t>(rep ? r.GetRepeatedUInt32(m, fd, i) : r.GetUInt32(m, fd)));
      case FieldDescriptor::CPPTYPE_INT64:
        return int64(rep ? r.GetRepeatedInt64(m, fd, i) : r.GetInt64(m, fd));
      case FieldDescriptor::CPPTYPE_UINT64:
        return uint64(rep ? r.GetRepeatedUInt64(m, fd, i) : r.GetUInt64(m, fd));
      case FieldDescriptor::CPPTYPE_DOUBLE:
        return double_value(rep ? r.GetRepeatedDouble(m, fd, i) : r.GetDouble(m, fd));
      case FieldDescriptor::CPPTYPE_FLOAT:
        return float_value(rep ? r.GetRepeatedFloat(m, fd, i) : r.GetFloat(m, fd));
      case FieldDescriptor::CPPTYPE_BOOL:
        return Value(rep ? r.GetRepeatedBool(m, fd, i) : r.GetBool(m, fd));
      case FieldDescriptor::CPPTYPE_ENUM:
        return enumeration(fd, rep ? r.GetRepeatedEnumValue(m, fd, i) : r.GetEnumValue(m, fd));
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string scratch;
        const std::string& s = rep ? r.GetRepeatedStringReference(m, fd, i, &scratch)
                                   : r.GetStringReference(m, fd, &scratch);
        return fd->type() == FieldDescriptor::TYPE_BYTES ? Value(base64(s)) : Value(s);
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return message(rep ? r.GetRepeatedMessage(m, fd, i) : r.GetMessage(m, fd));
    }
    return Value(nullptr);
  }

  Value well_known(const pb::Message& m, const MessageInfo& info) const {
    const pb::Reflection& r = *m.GetReflection();
    switch (info.wkt) {
      case Wkt::timestamp: {
        pb::Timestamp ts;
        ts.set_seconds(r.GetInt64(m, field_number(info, 1)));
        ts.set_nanos(r.GetInt32(m, field_number(info, 2)));
        if (ts.seconds() < pb::util::TimeUtil::kTimestampMinSeconds ||
            ts.seconds() > pb::util::TimeUtil::kTimestampMaxSeconds || ts.nanos() < 0 ||
            ts.nanos() > 999'999'999) {
          fail_here(fmt::format("Timestamp {}s {}ns is out of the range 0001-01-01 to 9999-12-31",
                                ts.seconds(), ts.nanos()));
        }
        return Value(pb::util::TimeUtil::ToString(ts));
      }
      case Wkt::duration: {
        pb::Duration d;
        d.set_seconds(r.GetInt64(m, field_number(info, 1)));
        d.set_nanos(r.GetInt32(m, field_number(info, 2)));
        if (d.seconds() < pb::util::TimeUtil::kDurationMinSeconds ||
            d.seconds() > pb::util::TimeUtil::kDurationMaxSeconds || d.nanos() <= -1'000'000'000 ||
            d.nanos() >= 1'000'000'000 || (d.seconds() > 0 && d.nanos() < 0) ||
            (d.seconds() < 0 && d.nanos() > 0)) {
          fail_here(
              fmt::format("Duration {}s {}ns is not a valid duration", d.seconds(), d.nanos()));
        }
        return Value(pb::util::TimeUtil::ToString(d));
      }
      case Wkt::wrapper:
        return scalar(m, r, field_number(info, 1), -1);
      case Wkt::struct_:
        return map(m, r, field_number(info, 1));
      case Wkt::list_value: {
        const FieldDescriptor* values = field_number(info, 1);
        const int n = r.FieldSize(m, values);
        Array items;
        items.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
          items.push_back(within_index(static_cast<std::size_t>(i), [&] {
            return message(r.GetRepeatedMessage(m, values, i));
          }));
        }
        return Value(std::move(items));
      }
      case Wkt::value: {
        const pb::OneofDescriptor* kind = info.desc->FindOneofByName("kind");
        const FieldDescriptor* set = kind != nullptr ? r.GetOneofFieldDescriptor(m, kind) : nullptr;
        if (set == nullptr || set->name() == "null_value") return Value(nullptr);
        if (set->name() == "number_value") {
          const double d = r.GetDouble(m, set);
          if (!std::isfinite(d)) {
            fail_here(fmt::format("a Value's number_value {} has no JSON form", d));
          }
          return Value(d);
        }
        return scalar(m, r, set, -1);
      }
      case Wkt::field_mask: {
        const FieldDescriptor* paths = field_number(info, 1);
        std::string joined;
        for (int i = 0; i < r.FieldSize(m, paths); ++i) {
          if (i > 0) joined.push_back(',');
          joined += camel_case(r.GetRepeatedString(m, paths, i));
        }
        return Value(std::move(joined));
      }
      case Wkt::any:
        return any(m, r, info);
      case Wkt::none:
        break;
    }
    return Value(nullptr);
  }

  Value any(const pb::Message& m, const pb::Reflection& r, const MessageInfo& info) const {
    const std::string url = r.GetString(m, field_number(info, 1));
    if (url.empty()) return Value(Object{});
    const pb::Descriptor* type = any_type(info.desc, url);
    std::unique_ptr<pb::Message> inner(prototype_of(type)->New());
    if (!inner->ParsePartialFromString(r.GetString(m, field_number(info, 2)))) {
      fail_here(fmt::format("the Any's value is not a valid {}", type->full_name()));
    }
    Object obj;
    obj.set("@type", Value(url));
    Value v = message(*inner);
    if (types_.info(type).wkt != Wkt::none) {
      obj.set("value", std::move(v));
    } else {
      for (auto& [k, item] : v.as_object()) obj.append_unchecked(k, std::move(item));
    }
    return Value(std::move(obj));
  }

 public:
  // The type an Any's URL names ("type.googleapis.com/shop.Order"), from the pool of the Any.
  static const pb::Descriptor* any_type(const pb::Descriptor* any, std::string_view url) {
    const std::size_t slash = url.rfind('/');
    const std::string name(slash == std::string_view::npos ? url : url.substr(slash + 1));
    const pb::Descriptor* type = any->file()->pool()->FindMessageTypeByName(name);
    if (type == nullptr) {
      fail_here(fmt::format("an Any of type '{}', which is not among the known types", url));
    }
    return type;
  }

  const pb::Message* prototype_of(const pb::Descriptor* d) const {
    const pb::Message* p = types_.factory()->GetPrototype(d);
    if (p == nullptr) fail_here(fmt::format("no message can be made of type '{}'", d->full_name()));
    return p;
  }

 private:
  const TypeSet& types_;
  ReadRules rules_;
};

Value Reader::default_of(const FieldDescriptor* fd) const {
  if (fd->is_map()) return Value(Object{});
  if (fd->is_repeated()) return Value(Array{});
  switch (fd->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return Value(static_cast<std::int64_t>(fd->default_value_int32()));
    case FieldDescriptor::CPPTYPE_UINT32:
      return Value(static_cast<std::int64_t>(fd->default_value_uint32()));
    case FieldDescriptor::CPPTYPE_INT64:
      return int64(fd->default_value_int64());
    case FieldDescriptor::CPPTYPE_UINT64:
      return uint64(fd->default_value_uint64());
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return double_value(fd->default_value_double());
    case FieldDescriptor::CPPTYPE_FLOAT:
      return float_value(fd->default_value_float());
    case FieldDescriptor::CPPTYPE_BOOL:
      return Value(fd->default_value_bool());
    case FieldDescriptor::CPPTYPE_ENUM:
      return enumeration(fd, fd->default_value_enum()->number());
    case FieldDescriptor::CPPTYPE_STRING:
      return fd->type() == FieldDescriptor::TYPE_BYTES ? Value(base64(fd->default_value_string()))
                                                       : Value(fd->default_value_string());
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return Value(nullptr);
}

// ---- Value to message --------------------------------------------------------------------

struct WriteRules {
  bool ignore_unknown_fields = false;
};

template <typename Int>
Int integer_from(const Value& v, std::string_view type) {
  std::int64_t i = 0;
  std::uint64_t u = 0;
  bool is_unsigned = false;
  if (v.is_int()) {
    i = v.as_int();
  } else if (v.is_double()) {
    const double d = v.as_double();
    if (!std::isfinite(d) || d != std::trunc(d))
      fail_here(fmt::format("{} is not an integer, for a {} field", d, type));
    if (d < -9.3e18 || d > 1.85e19) fail_here(fmt::format("{} is out of range for {}", d, type));
    if (d >= 0) {
      u = static_cast<std::uint64_t>(d);
      is_unsigned = true;
    } else {
      i = static_cast<std::int64_t>(d);
    }
  } else if (v.is_string()) {
    const std::string& s = v.as_string();
    const char* end = s.data() + s.size();
    const auto parsed = std::from_chars(s.data(), end, i);
    if (s.empty() || parsed.ec != std::errc() || parsed.ptr != end) {
      // Perhaps an unsigned 64-bit number beyond int64.
      const auto pu = std::from_chars(s.data(), end, u);
      if (s.empty() || pu.ec != std::errc() || pu.ptr != end)
        fail_here(fmt::format("\"{}\" is not an integer, for a {} field", s, type));
      is_unsigned = true;
    }
  } else {
    fail_here(fmt::format("expected an integer for a {} field, got {}", type, v.type_name()));
  }
  if (is_unsigned) {
    if (u > static_cast<std::uint64_t>(std::numeric_limits<Int>::max()))
      fail_here(fmt::format("{} is out of range for {}", u, type));
    return static_cast<Int>(u);
  }
  if constexpr (std::is_unsigned_v<Int>) {
    if (i < 0 || static_cast<std::uint64_t>(i) > std::numeric_limits<Int>::max())
      fail_here(fmt::format("{} is out of range for {}", i, type));
  } else {
    if (i < std::numeric_limits<Int>::min() || i > std::numeric_limits<Int>::max())
      fail_here(fmt::format("{} is out of range for {}", i, type));
  }
  return static_cast<Int>(i);
}

double double_from(const Value& v, std::string_view type) {
  if (v.is_number()) return v.as_double();
  if (v.is_string()) {
    const std::string& s = v.as_string();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    double d = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) return d;
    fail_here(fmt::format("\"{}\" is not a number, for a {} field", s, type));
  }
  fail_here(fmt::format("expected a number for a {} field, got {}", type, v.type_name()));
}

class Writer {
 public:
  Writer(const TypeSet& types, WriteRules rules) : types_(types), rules_(rules) {}

  void message(const Value& v, pb::Message& m) const {
    const MessageInfo& info = types_.info(m.GetDescriptor());
    if (info.wkt != Wkt::none) return well_known(v, m, info);
    if (!v.is_object()) {
      fail_here(fmt::format("expected an object for message {}, got {}", info.desc->full_name(),
                            v.type_name()));
    }
    const pb::Reflection& r = *m.GetReflection();
    for (const auto& [key, item] : v.as_object()) {
      const FieldDescriptor* fd = info.field_named(key);
      if (fd == nullptr) {
        if (rules_.ignore_unknown_fields) continue;
        within(key, [&] {
          fail_here(fmt::format("{} has no field named '{}'", info.desc->full_name(), key));
        });
      }
      within(key, [&] { field(item, m, r, fd); });
    }
  }

 private:
  void field(const Value& v, pb::Message& m, const pb::Reflection& r,
             const FieldDescriptor* fd) const {
    if (const pb::OneofDescriptor* oneof = fd->containing_oneof();
        oneof != nullptr && !v.is_null()) {
      const FieldDescriptor* set = r.GetOneofFieldDescriptor(m, oneof);
      if (set != nullptr && set != fd) {
        fail_here(fmt::format("'{}' and '{}' are both members of oneof '{}': set one", set->name(),
                              fd->name(), oneof->name()));
      }
    }
    if (v.is_null() && !is_value_message(fd) && !is_null_value_enum(fd)) {
      r.ClearField(&m, fd);
      return;
    }
    if (fd->is_map()) return map(v, m, r, fd);
    if (fd->is_repeated()) {
      if (!v.is_array()) {
        fail_here(fmt::format("expected an array for repeated field, got {}", v.type_name()));
      }
      const Array& items = v.as_array();
      for (std::size_t i = 0; i < items.size(); ++i) {
        within_index(i, [&] {
          if (items[i].is_null() && !is_value_message(fd) && !is_null_value_enum(fd))
            fail_here("null is not allowed as an item of a repeated field");
          add(items[i], m, r, fd);
        });
      }
      return;
    }
    set(v, m, r, fd);
  }

  void map(const Value& v, pb::Message& m, const pb::Reflection& r,
           const FieldDescriptor* fd) const {
    if (!v.is_object())
      fail_here(fmt::format("expected an object for a map, got {}", v.type_name()));
    const FieldDescriptor* key_fd = fd->message_type()->map_key();
    const FieldDescriptor* value_fd = fd->message_type()->map_value();
    for (const auto& [key, item] : v.as_object()) {
      within(key, [&] {
        pb::Message* entry = r.AddMessage(&m, fd);
        const pb::Reflection& er = *entry->GetReflection();
        set_map_key(key, *entry, er, key_fd);
        if (item.is_null() && !is_value_message(value_fd) && !is_null_value_enum(value_fd))
          fail_here("null is not allowed as a map value");
        set(item, *entry, er, value_fd);
      });
    }
  }

  static void set_map_key(const std::string& key, pb::Message& e, const pb::Reflection& r,
                          const FieldDescriptor* fd) {
    const Value k(key);
    switch (fd->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        return r.SetInt32(&e, fd, integer_from<std::int32_t>(k, "int32 key"));
      case FieldDescriptor::CPPTYPE_INT64:
        return r.SetInt64(&e, fd, integer_from<std::int64_t>(k, "int64 key"));
      case FieldDescriptor::CPPTYPE_UINT32:
        return r.SetUInt32(&e, fd, integer_from<std::uint32_t>(k, "uint32 key"));
      case FieldDescriptor::CPPTYPE_UINT64:
        return r.SetUInt64(&e, fd, integer_from<std::uint64_t>(k, "uint64 key"));
      case FieldDescriptor::CPPTYPE_BOOL:
        if (key != "true" && key != "false")
          fail_here(fmt::format("map key \"{}\" is not true or false", key));
        return r.SetBool(&e, fd, key == "true");
      default:
        return r.SetString(&e, fd, key);
    }
  }

  int enum_number(const Value& v, const FieldDescriptor* fd) const {
    const pb::EnumDescriptor* type = fd->enum_type();
    if (is_null_value_enum(fd) && v.is_null()) return 0;
    if (v.is_string()) {
      if (const pb::EnumValueDescriptor* e = type->FindValueByName(v.as_string()))
        return e->number();
      fail_here(fmt::format("\"{}\" is not a value of enum {}", v.as_string(), type->full_name()));
    }
    if (v.is_int()) {
      const auto n = integer_from<std::int32_t>(v, "enum");
      if (type->FindValueByNumber(n) == nullptr &&
          type->file()->syntax() != pb::FileDescriptor::SYNTAX_PROTO3) {
        fail_here(fmt::format("{} is not a value of closed enum {}", n, type->full_name()));
      }
      return n;
    }
    fail_here(fmt::format("expected an enum name or number for enum {}, got {}", type->full_name(),
                          v.type_name()));
  }

  static std::string bytes_from(const Value& v) {
    if (!v.is_string())
      fail_here(fmt::format("expected a base64 string for a bytes field, got {}", v.type_name()));
    const std::string& s = v.as_string();
    std::string out;
    if (absl::Base64Unescape(s, &out) || absl::WebSafeBase64Unescape(s, &out)) return out;
    fail_here("the string is not base64, for a bytes field");
  }

  static const std::string& string_from(const Value& v) {
    if (!v.is_string()) fail_here(fmt::format("expected a string, got {}", v.type_name()));
    return v.as_string();
  }

  static float float_from(const Value& v) {
    const double d = double_from(v, "float");
    if (std::isfinite(d) && std::fabs(d) > std::numeric_limits<float>::max())
      fail_here(fmt::format("{} is out of range for float", d));
    return static_cast<float>(d);
  }

  static bool bool_from(const Value& v) {
    if (!v.is_bool()) fail_here(fmt::format("expected true or false, got {}", v.type_name()));
    return v.as_bool();
  }

  // Singular field `fd` of `m` from `v`.
  void set(const Value& v, pb::Message& m, const pb::Reflection& r,
           const FieldDescriptor* fd) const {
    switch (fd->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        return r.SetInt32(&m, fd, integer_from<std::int32_t>(v, "int32"));
      case FieldDescriptor::CPPTYPE_UINT32:
        return r.SetUInt32(&m, fd, integer_from<std::uint32_t>(v, "uint32"));
      case FieldDescriptor::CPPTYPE_INT64:
        return r.SetInt64(&m, fd, integer_from<std::int64_t>(v, "int64"));
      case FieldDescriptor::CPPTYPE_UINT64:
        return r.SetUInt64(&m, fd, integer_from<std::uint64_t>(v, "uint64"));
      case FieldDescriptor::CPPTYPE_DOUBLE:
        return r.SetDouble(&m, fd, double_from(v, "double"));
      case FieldDescriptor::CPPTYPE_FLOAT:
        return r.SetFloat(&m, fd, float_from(v));
      case FieldDescriptor::CPPTYPE_BOOL:
        return r.SetBool(&m, fd, bool_from(v));
      case FieldDescriptor::CPPTYPE_ENUM:
        return r.SetEnumValue(&m, fd, enum_number(v, fd));
      case FieldDescriptor::CPPTYPE_STRING:
        if (fd->type() == FieldDescriptor::TYPE_BYTES) return r.SetString(&m, fd, bytes_from(v));
        return r.SetString(&m, fd, string_from(v));
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return message(v, *r.MutableMessage(&m, fd, types_.factory()));
    }
  }

  // Appends `v` to repeated field `fd` of `m`.
  void add(const Value& v, pb::Message& m, const pb::Reflection& r,
           const FieldDescriptor* fd) const {
    switch (fd->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        return r.AddInt32(&m, fd, integer_from<std::int32_t>(v, "int32"));
      case FieldDescriptor::CPPTYPE_UINT32:
        return r.AddUInt32(&m, fd, integer_from<std::uint32_t>(v, "uint32"));
      case FieldDescriptor::CPPTYPE_INT64:
        return r.AddInt64(&m, fd, integer_from<std::int64_t>(v, "int64"));
      case FieldDescriptor::CPPTYPE_UINT64:
        return r.AddUInt64(&m, fd, integer_from<std::uint64_t>(v, "uint64"));
      case FieldDescriptor::CPPTYPE_DOUBLE:
        return r.AddDouble(&m, fd, double_from(v, "double"));
      case FieldDescriptor::CPPTYPE_FLOAT:
        return r.AddFloat(&m, fd, float_from(v));
      case FieldDescriptor::CPPTYPE_BOOL:
        return r.AddBool(&m, fd, bool_from(v));
      case FieldDescriptor::CPPTYPE_ENUM:
        return r.AddEnumValue(&m, fd, enum_number(v, fd));
      case FieldDescriptor::CPPTYPE_STRING:
        if (fd->type() == FieldDescriptor::TYPE_BYTES) return r.AddString(&m, fd, bytes_from(v));
        return r.AddString(&m, fd, string_from(v));
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return message(v, *r.AddMessage(&m, fd, types_.factory()));
    }
  }

  void well_known(const Value& v, pb::Message& m, const MessageInfo& info) const {
    const pb::Reflection& r = *m.GetReflection();
    switch (info.wkt) {
      case Wkt::timestamp: {
        pb::Timestamp ts;
        if (!v.is_string() || !pb::util::TimeUtil::FromString(v.as_string(), &ts)) {
          fail_here(
              fmt::format("expected an RFC 3339 time (\"1972-01-01T10:00:20.021Z\") for "
                          "a Timestamp, got {}",
                          v.is_string() ? '"' + v.as_string() + '"' : std::string(v.type_name())));
        }
        r.SetInt64(&m, field_number(info, 1), ts.seconds());
        r.SetInt32(&m, field_number(info, 2), ts.nanos());
        return;
      }
      case Wkt::duration: {
        pb::Duration d;
        if (!v.is_string() || !pb::util::TimeUtil::FromString(v.as_string(), &d)) {
          fail_here(
              fmt::format("expected a duration in seconds (\"1.5s\") for a Duration, got {}",
                          v.is_string() ? '"' + v.as_string() + '"' : std::string(v.type_name())));
        }
        r.SetInt64(&m, field_number(info, 1), d.seconds());
        r.SetInt32(&m, field_number(info, 2), d.nanos());
        return;
      }
      case Wkt::wrapper:
        return set(v, m, r, field_number(info, 1));
      case Wkt::struct_:
        if (!v.is_object())
          fail_here(fmt::format("expected an object for a Struct, got {}", v.type_name()));
        return map(v, m, r, field_number(info, 1));
      case Wkt::list_value: {
        if (!v.is_array())
          fail_here(fmt::format("expected an array for a ListValue, got {}", v.type_name()));
        const FieldDescriptor* values = field_number(info, 1);
        const Array& items = v.as_array();
        for (std::size_t i = 0; i < items.size(); ++i) {
          within_index(i, [&] { message(items[i], *r.AddMessage(&m, values, types_.factory())); });
        }
        return;
      }
      case Wkt::value:
        return json_value(v, m, r, info);
      case Wkt::field_mask: {
        if (!v.is_string())
          fail_here(fmt::format("expected a string for a FieldMask, got {}", v.type_name()));
        const FieldDescriptor* paths = field_number(info, 1);
        std::string_view rest = v.as_string();
        while (!rest.empty()) {
          const std::size_t comma = rest.find(',');
          r.AddString(&m, paths, snake_case(rest.substr(0, comma)));
          if (comma == std::string_view::npos) break;
          rest.remove_prefix(comma + 1);
        }
        return;
      }
      case Wkt::any:
        return any(v, m, r, info);
      case Wkt::none:
        return;
    }
  }

  void json_value(const Value& v, pb::Message& m, const pb::Reflection& r,
                  const MessageInfo& info) const {
    const pb::Descriptor* d = info.desc;
    auto named = [&](const char* name) {
      const FieldDescriptor* fd = d->FindFieldByName(name);
      if (fd == nullptr) fail_here(fmt::format("{} lacks field {}", d->full_name(), name));
      return fd;
    };
    switch (v.type()) {
      case Value::Type::null:
        return r.SetEnumValue(&m, named("null_value"), 0);
      case Value::Type::boolean:
        return r.SetBool(&m, named("bool_value"), v.as_bool());
      case Value::Type::integer:
      case Value::Type::floating:
        return r.SetDouble(&m, named("number_value"), v.as_double());
      case Value::Type::string:
        return r.SetString(&m, named("string_value"), v.as_string());
      case Value::Type::array:
        return message(v, *r.MutableMessage(&m, named("list_value"), types_.factory()));
      case Value::Type::object:
        return message(v, *r.MutableMessage(&m, named("struct_value"), types_.factory()));
    }
  }

  void any(const Value& v, pb::Message& m, const pb::Reflection& r, const MessageInfo& info) const {
    if (!v.is_object())
      fail_here(fmt::format("expected an object for an Any, got {}", v.type_name()));
    if (v.as_object().empty()) return;
    const Value* url = v.find("@type");
    if (url == nullptr || !url->is_string()) fail_here("an Any needs its type URL in \"@type\"");
    const pb::Descriptor* type = Reader::any_type(info.desc, url->as_string());
    const pb::Message* prototype = types_.factory()->GetPrototype(type);
    if (prototype == nullptr)
      fail_here(fmt::format("no message can be made of type '{}'", type->full_name()));
    std::unique_ptr<pb::Message> inner(prototype->New());
    if (types_.info(type).wkt != Wkt::none) {
      const Value* value = v.find("value");
      if (value == nullptr) fail_here("an Any of a well-known type needs its \"value\"");
      message(*value, *inner);
    } else {
      Object fields;
      for (const auto& [k, item] : v.as_object()) {
        if (k != "@type") fields.append_unchecked(k, item);
      }
      message(Value(std::move(fields)), *inner);
    }
    r.SetString(&m, field_number(info, 1), url->as_string());
    r.SetString(&m, field_number(info, 2), inner->SerializePartialAsString());
  }

  const TypeSet& types_;
  WriteRules rules_;
};

// ---- the direct codec --------------------------------------------------------------------

// Plain proto3 messages (MessageInfo::direct) are read from and written to their bytes
// directly, driven by the descriptors, without a Message in between: libprotobuf's reflection
// costs most of the time of a small message otherwise. libprotobuf still reads and writes the
// wire format's parts (tags, varints, zigzag, fixed-width numbers). Anything off the common
// path (a field twice where it merges, a wire type the field does not have, a value that does
// not convert, invalid UTF-8) gives up, and the message goes through the reflection path,
// which gives the same result or names the error.

using pb::internal::WireFormatLite;

struct GiveUp {};

// Most strings of a record are short and ASCII: checked here without a call into simdjson
// (whose check dispatches through its active implementation).
bool valid_utf8(std::string_view s) {
  if (s.size() <= 64) {
    unsigned char any = 0;
    for (const char c : s) any |= static_cast<unsigned char>(c);
    if (any < 0x80) return true;
  }
  return simdjson::validate_utf8(s.data(), s.size());
}

class DirectReader {
 public:
  DirectReader(const Reader& format, ReadRules rules) : format_(format), rules_(rules) {}

  // Builds the message in `data` into `out`, reusing the storage `out` has (a record given
  // back by the run loop: its entries' keys and strings keep their capacity). False when the
  // reflection path must read the message instead (`out` is then left half built).
  bool read(const MessageInfo& info, std::string_view data, Object& out) const {
    pb::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(data.data()),
                                static_cast<int>(data.size()));
    // A limit at the end, so that every level tells the end of its bytes from a zero tag or
    // a length beyond them by BytesUntilLimit().
    in.PushLimit(static_cast<int>(data.size()));
    try {
      message(info, in, 0, out);
    } catch (const GiveUp&) {
      return false;
    }
    return true;
  }

 private:
  static std::uint64_t varint(pb::io::CodedInputStream& in) {
    std::uint64_t v = 0;
    if (!in.ReadVarint64(&v)) throw GiveUp{};
    return v;
  }

  static void set_string(Value& target, std::string_view s) { detail::assign_string(target, s); }

  static void set_int64_text(Value& target, std::uint64_t magnitude, bool negative) {
    std::array<char, 24> buf{};
    char* p = buf.data();
    if (negative) *p++ = '-';
    const auto [end, ec] = std::to_chars(p, buf.data() + buf.size(), magnitude);
    set_string(target, std::string_view(buf.data(), static_cast<std::size_t>(end - buf.data())));
  }

  void int64(Value& target, std::int64_t v) const {
    if (rules_.int64_as_int) {
      target = Value(v);
    } else {
      const bool negative = v < 0;
      set_int64_text(target,
                     negative ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v),
                     negative);
    }
  }

  void uint64(Value& target, std::uint64_t v) const {
    if (rules_.int64_as_int && v <= static_cast<std::uint64_t>(INT64_MAX)) {
      target = Value(static_cast<std::int64_t>(v));
    } else {
      set_int64_text(target, v, false);
    }
  }

  // The bytes of a length-delimited value, straight from the input (a flat array).
  static std::string_view span(pb::io::CodedInputStream& in) {
    const std::uint64_t size = varint(in);
    const void* data = nullptr;
    int available = 0;
    if (size > static_cast<std::uint64_t>(in.BytesUntilLimit()) ||
        !in.GetDirectBufferPointer(&data, &available) ||
        static_cast<std::uint64_t>(available) < size) {
      if (size == 0 && in.BytesUntilLimit() >= 0) return {};
      throw GiveUp{};
    }
    in.Skip(static_cast<int>(size));
    return {static_cast<const char*>(data), static_cast<std::size_t>(size)};
  }

  // One value of `fd` into `target`; whether it is set as HasField would see it (not a proto3
  // default).
  bool scalar(const FieldDescriptor* fd, FieldDescriptor::Type type, const MessageInfo* sub,
              pb::io::CodedInputStream& in, int depth, Value& target) const {
    switch (type) {
      case FieldDescriptor::TYPE_INT32: {
        const auto v = static_cast<std::int32_t>(varint(in));
        target = Value(static_cast<std::int64_t>(v));
        return v != 0;
      }
      case FieldDescriptor::TYPE_SINT32: {
        const auto v = WireFormatLite::ZigZagDecode32(static_cast<std::uint32_t>(varint(in)));
        target = Value(static_cast<std::int64_t>(v));
        return v != 0;
      }
      case FieldDescriptor::TYPE_UINT32: {
        const auto v = static_cast<std::uint32_t>(varint(in));
        target = Value(static_cast<std::int64_t>(v));
        return v != 0;
      }
      case FieldDescriptor::TYPE_INT64: {
        const auto v = static_cast<std::int64_t>(varint(in));
        int64(target, v);
        return v != 0;
      }
      case FieldDescriptor::TYPE_SINT64: {
        const auto v = WireFormatLite::ZigZagDecode64(varint(in));
        int64(target, v);
        return v != 0;
      }
      case FieldDescriptor::TYPE_UINT64: {
        const auto v = varint(in);
        uint64(target, v);
        return v != 0;
      }
      case FieldDescriptor::TYPE_BOOL: {
        const bool v = varint(in) != 0;
        target = Value(v);
        return v;
      }
      case FieldDescriptor::TYPE_ENUM: {
        const auto v = static_cast<std::int32_t>(varint(in));
        const pb::EnumValueDescriptor* e =
            rules_.enums_as_ints ? nullptr : fd->enum_type()->FindValueByNumber(v);
        if (e != nullptr) {
          set_string(target, e->name());
        } else {
          target = Value(static_cast<std::int64_t>(v));
        }
        return v != 0;
      }
      case FieldDescriptor::TYPE_FIXED32:
      case FieldDescriptor::TYPE_SFIXED32:
      case FieldDescriptor::TYPE_FLOAT: {
        std::uint32_t v = 0;
        if (!in.ReadLittleEndian32(&v)) throw GiveUp{};
        if (type == FieldDescriptor::TYPE_FIXED32) {
          target = Value(static_cast<std::int64_t>(v));
        } else if (type == FieldDescriptor::TYPE_SFIXED32) {
          target = Value(static_cast<std::int64_t>(static_cast<std::int32_t>(v)));
        } else {
          target = float_value(WireFormatLite::DecodeFloat(v));
        }
        return v != 0;
      }
      case FieldDescriptor::TYPE_FIXED64:
      case FieldDescriptor::TYPE_SFIXED64:
      case FieldDescriptor::TYPE_DOUBLE: {
        std::uint64_t v = 0;
        if (!in.ReadLittleEndian64(&v)) throw GiveUp{};
        if (type == FieldDescriptor::TYPE_FIXED64) {
          uint64(target, v);
        } else if (type == FieldDescriptor::TYPE_SFIXED64) {
          int64(target, static_cast<std::int64_t>(v));
        } else {
          const double d = WireFormatLite::DecodeDouble(v);
          target = std::isfinite(d) ? Value(d) : double_value(d);
        }
        return v != 0;
      }
      case FieldDescriptor::TYPE_STRING: {
        const std::string_view s = span(in);
        if (!valid_utf8(s)) throw GiveUp{};  // the parser's check of proto3 strings
        set_string(target, s);
        return !s.empty();
      }
      case FieldDescriptor::TYPE_BYTES: {
        const std::string_view s = span(in);
        if (!target.is_string()) target = Value(std::string());
        absl::Base64Escape(absl::string_view(s.data(), s.size()), &target.as_string());
        return !s.empty();
      }
      case FieldDescriptor::TYPE_MESSAGE: {
        const std::uint64_t size = varint(in);
        if (size > static_cast<std::uint64_t>(in.BytesUntilLimit()) || depth >= 100) throw GiveUp{};
        const auto limit = in.PushLimit(static_cast<int>(size));
        if (!target.is_object()) target = Value(Object{});
        message(*sub, in, depth + 1, target.as_object());
        in.PopLimit(limit);
        return true;
      }
      case FieldDescriptor::TYPE_GROUP:
        break;
    }
    throw GiveUp{};
  }

  // Entry `k` of `obj` named `name`, reusing the entry there (its key and value keep their
  // storage) or appending one.
  static Value& entry(Object& obj, std::size_t k, const std::string& name) {
    if (k < obj.size()) {
      auto& e = *(obj.begin() + static_cast<std::ptrdiff_t>(k));
      if (e.first != name) detail::assign_text(e.first, name);
      return e.second;
    }
    return obj.append_unchecked(name, Value());
  }

  // Fields in field-number order, as every serializer writes them (the elements of a repeated
  // field together): each is built into its entry as it comes. A field out of that order, or a
  // message field twice (which merges), gives up. The set fields come first, as ListFields
  // orders them, then the unset fields without presence with their defaults.
  void message(const MessageInfo& info, pb::io::CodedInputStream& in, int depth,
               Object& obj) const {
    const std::size_t n = info.by_number.size();
    absl::InlinedVector<bool, 32> set(n, false);
    std::size_t k = 0;
    int last_number = 0;
    Array* list = nullptr;  // the repeated field being read
    std::size_t list_size = 0;
    int list_index = -1;
    auto close_list = [&] {
      if (list == nullptr) return;
      list->resize(list_size);
      if (list_size == 0) {  // an empty packed run: not set (its entry is the last one)
        --k;
        set[static_cast<std::size_t>(list_index)] = false;
      }
      list = nullptr;
    };
    for (;;) {
      const std::uint32_t tag = in.ReadTag();
      if (tag == 0) {
        if (in.BytesUntilLimit() != 0) throw GiveUp{};  // a zero tag, or the bytes end early
        break;
      }
      const int number = static_cast<int>(WireFormatLite::GetTagFieldNumber(tag));
      const int index = info.index_of(number);
      if (index < 0) {  // a field this type does not know: skipped, as the parser keeps it aside
        if (!WireFormatLite::SkipField(&in, tag)) throw GiveUp{};
        continue;
      }
      const FieldDescriptor* fd = info.by_declaration[static_cast<std::size_t>(index)];
      const MessageInfo* sub = info.subs[static_cast<std::size_t>(index)];
      const MessageInfo::FieldPlan& plan = info.plans[static_cast<std::size_t>(index)];
      const std::string& key = rules_.proto_names ? *plan.proto_name : *plan.json_name;
      const auto wire = WireFormatLite::GetTagWireType(tag);
      const bool more_of_the_list = list != nullptr && number == last_number;
      if (!more_of_the_list) {
        close_list();
        if (number <= last_number) throw GiveUp{};
        last_number = number;
      }
      if (!plan.repeated) {
        if (wire != plan.wire) throw GiveUp{};
        Value& target = entry(obj, k++, key);
        if (scalar(fd, plan.type, sub, in, depth, target)) {
          set[static_cast<std::size_t>(index)] = true;
        } else {
          --k;  // a proto3 default on the wire: unset, among the defaults below
        }
        continue;
      }
      if (!more_of_the_list) {
        Value& target = entry(obj, k++, key);
        if (!target.is_array()) target = Value(Array{});
        list = &target.as_array();
        list_size = 0;
        list_index = index;
        set[static_cast<std::size_t>(index)] = true;
      }
      auto next = [&]() -> Value& {
        return list_size < list->size() ? (*list)[list_size++]
                                        : (++list_size, list->emplace_back());
      };
      if (wire == plan.wire) {
        scalar(fd, plan.type, sub, in, depth, next());
      } else if (wire == WireFormatLite::WIRETYPE_LENGTH_DELIMITED && plan.packable) {
        const std::uint64_t size = varint(in);
        if (size > static_cast<std::uint64_t>(in.BytesUntilLimit())) throw GiveUp{};
        const auto limit = in.PushLimit(static_cast<int>(size));
        while (in.BytesUntilLimit() > 0) scalar(fd, plan.type, sub, in, depth, next());
        in.PopLimit(limit);
      } else {
        throw GiveUp{};
      }
    }
    close_list();
    for (const FieldDescriptor* fd : info.no_presence) {
      if (!set[static_cast<std::size_t>(fd->index())]) {
        entry(obj, k++, rules_.proto_names ? fd->name() : fd->json_name()) = format_.default_of(fd);
      }
    }
    obj.truncate(k);
  }

  const Reader& format_;
  ReadRules rules_;
};

class DirectWriter {
 public:
  explicit DirectWriter(WriteRules rules) : rules_(rules) {}

  // Appends `v` as a message of `info` to `out`; false when the reflection path must write it
  // (`out` is then as it was).
  bool write(const MessageInfo& info, const Value& v, std::string& out) const {
    const std::size_t start = out.size();
    try {
      message(info, v, out, 0);
    } catch (const GiveUp&) {
      out.resize(start);
      return false;
    } catch (const Located&) {
      out.resize(start);
      return false;
    }
    return true;
  }

 private:
  static void varint(std::uint64_t v, std::string& out) {
    std::uint8_t buf[10];
    const std::uint8_t* end = pb::io::CodedOutputStream::WriteVarint64ToArray(v, buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(end - buf));
  }

  static void tag(const FieldDescriptor* fd, WireFormatLite::WireType wire, std::string& out) {
    varint(WireFormatLite::MakeTag(fd->number(), wire), out);
  }

  static void fixed32(std::uint32_t v, std::string& out) {
    std::uint8_t buf[4];
    pb::io::CodedOutputStream::WriteLittleEndian32ToArray(v, buf);
    out.append(reinterpret_cast<const char*>(buf), 4);
  }

  static void fixed64(std::uint64_t v, std::string& out) {
    std::uint8_t buf[8];
    pb::io::CodedOutputStream::WriteLittleEndian64ToArray(v, buf);
    out.append(reinterpret_cast<const char*>(buf), 8);
  }

  // Runs `body`, which appends a length-delimited payload, after a length prefix it then fills
  // in: one byte is kept for it, and the payload moved when its length needs more.
  template <typename F>
  static void delimited(std::string& out, F&& body) {
    const std::size_t at = out.size();
    out.push_back('\0');
    body();
    const std::size_t size = out.size() - at - 1;
    if (size < 0x80) {
      out[at] = static_cast<char>(size);
      return;
    }
    std::uint8_t buf[10];
    const auto n =
        static_cast<std::size_t>(pb::io::CodedOutputStream::WriteVarint64ToArray(size, buf) - buf);
    out.insert(at + 1, n - 1, '\0');
    std::memcpy(out.data() + at, buf, n);
  }

  // The wire form of one value of `fd`, without its tag; false for a proto3 default that a
  // singular field leaves out (`skip_default`).
  bool value(const FieldDescriptor* fd, const MessageInfo* sub, const Value& v, std::string& out,
             int depth, bool skip_default) const {
    switch (fd->type()) {
      case FieldDescriptor::TYPE_INT32: {
        const auto i = integer_from<std::int32_t>(v, "int32");
        if (skip_default && i == 0) return false;
        varint(static_cast<std::uint64_t>(static_cast<std::int64_t>(i)), out);
        return true;
      }
      case FieldDescriptor::TYPE_SINT32: {
        const auto i = integer_from<std::int32_t>(v, "int32");
        if (skip_default && i == 0) return false;
        varint(WireFormatLite::ZigZagEncode32(i), out);
        return true;
      }
      case FieldDescriptor::TYPE_UINT32: {
        const auto i = integer_from<std::uint32_t>(v, "uint32");
        if (skip_default && i == 0) return false;
        varint(i, out);
        return true;
      }
      case FieldDescriptor::TYPE_INT64: {
        const auto i = integer_from<std::int64_t>(v, "int64");
        if (skip_default && i == 0) return false;
        varint(static_cast<std::uint64_t>(i), out);
        return true;
      }
      case FieldDescriptor::TYPE_SINT64: {
        const auto i = integer_from<std::int64_t>(v, "int64");
        if (skip_default && i == 0) return false;
        varint(WireFormatLite::ZigZagEncode64(i), out);
        return true;
      }
      case FieldDescriptor::TYPE_UINT64: {
        const auto i = integer_from<std::uint64_t>(v, "uint64");
        if (skip_default && i == 0) return false;
        varint(i, out);
        return true;
      }
      case FieldDescriptor::TYPE_BOOL: {
        if (!v.is_bool()) throw GiveUp{};
        if (skip_default && !v.as_bool()) return false;
        varint(v.as_bool() ? 1 : 0, out);
        return true;
      }
      case FieldDescriptor::TYPE_ENUM: {
        int number = 0;
        if (v.is_string()) {
          const pb::EnumValueDescriptor* e = fd->enum_type()->FindValueByName(v.as_string());
          if (e == nullptr) throw GiveUp{};
          number = e->number();
        } else {
          number = integer_from<std::int32_t>(v, "enum");
        }
        if (skip_default && number == 0) return false;
        varint(static_cast<std::uint64_t>(static_cast<std::int64_t>(number)), out);
        return true;
      }
      case FieldDescriptor::TYPE_FIXED32: {
        const auto i = integer_from<std::uint32_t>(v, "fixed32");
        if (skip_default && i == 0) return false;
        fixed32(i, out);
        return true;
      }
      case FieldDescriptor::TYPE_SFIXED32: {
        const auto i = integer_from<std::int32_t>(v, "sfixed32");
        if (skip_default && i == 0) return false;
        fixed32(static_cast<std::uint32_t>(i), out);
        return true;
      }
      case FieldDescriptor::TYPE_FLOAT: {
        const double d = double_from(v, "float");
        if (std::isfinite(d) && std::fabs(d) > std::numeric_limits<float>::max()) throw GiveUp{};
        const std::uint32_t bits = WireFormatLite::EncodeFloat(static_cast<float>(d));
        if (skip_default && bits == 0) return false;
        fixed32(bits, out);
        return true;
      }
      case FieldDescriptor::TYPE_FIXED64: {
        const auto i = integer_from<std::uint64_t>(v, "fixed64");
        if (skip_default && i == 0) return false;
        fixed64(i, out);
        return true;
      }
      case FieldDescriptor::TYPE_SFIXED64: {
        const auto i = integer_from<std::int64_t>(v, "sfixed64");
        if (skip_default && i == 0) return false;
        fixed64(static_cast<std::uint64_t>(i), out);
        return true;
      }
      case FieldDescriptor::TYPE_DOUBLE: {
        const std::uint64_t bits = WireFormatLite::EncodeDouble(double_from(v, "double"));
        if (skip_default && bits == 0) return false;
        fixed64(bits, out);
        return true;
      }
      case FieldDescriptor::TYPE_STRING: {
        if (!v.is_string() || !valid_utf8(v.as_string())) throw GiveUp{};
        const std::string& s = v.as_string();
        if (skip_default && s.empty()) return false;
        varint(s.size(), out);
        out += s;
        return true;
      }
      case FieldDescriptor::TYPE_BYTES: {
        if (!v.is_string()) throw GiveUp{};
        std::string bytes;
        if (!absl::Base64Unescape(v.as_string(), &bytes) &&
            !absl::WebSafeBase64Unescape(v.as_string(), &bytes)) {
          throw GiveUp{};
        }
        if (skip_default && bytes.empty()) return false;
        varint(bytes.size(), out);
        out += bytes;
        return true;
      }
      case FieldDescriptor::TYPE_MESSAGE:
        if (depth >= 100) throw GiveUp{};
        delimited(out, [&] { message(*sub, v, out, depth + 1); });
        return true;
      case FieldDescriptor::TYPE_GROUP:
        break;
    }
    throw GiveUp{};
  }

  void message(const MessageInfo& info, const Value& v, std::string& out, int depth) const {
    if (!v.is_object()) throw GiveUp{};
    absl::InlinedVector<const Value*, 16> items(info.by_number.size(), nullptr);
    // Objects mostly hold the fields in declaration order (records read by the same type): the
    // field after the last one found is tried first, before the search by name.
    std::size_t next = 0;
    for (const auto& [key, item] : v.as_object()) {
      const FieldDescriptor* fd = nullptr;
      if (next < info.plans.size() &&
          (*info.plans[next].json_name == key || *info.plans[next].proto_name == key)) {
        fd = info.by_declaration[next];
      } else {
        fd = info.field_named(key);
      }
      if (fd != nullptr) next = static_cast<std::size_t>(fd->index()) + 1;
      if (fd == nullptr) {
        if (rules_.ignore_unknown_fields) continue;
        throw GiveUp{};
      }
      const Value*& at = items[static_cast<std::size_t>(fd->index())];
      if (at != nullptr) throw GiveUp{};  // by both its names
      at = &item;
    }
    // libprotobuf writes fields by number: so does this.
    for (const FieldDescriptor* fd : info.by_number) {
      const Value* item = items[static_cast<std::size_t>(fd->index())];
      if (item == nullptr || item->is_null()) continue;
      const MessageInfo* sub = info.subs[static_cast<std::size_t>(fd->index())];
      const auto wire =
          WireFormatLite::WireTypeForFieldType(static_cast<WireFormatLite::FieldType>(fd->type()));
      if (!fd->is_repeated()) {
        // Tag first, taken back when the value is a default a proto3 field leaves out.
        const std::size_t at = out.size();
        tag(fd, wire, out);
        if (!value(fd, sub, *item, out, depth, sub == nullptr)) out.resize(at);
        continue;
      }
      if (!item->is_array()) throw GiveUp{};
      const Array& list = item->as_array();
      if (list.empty()) continue;
      if (fd->is_packed()) {
        tag(fd, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, out);
        delimited(out, [&] {
          for (const Value& x : list) value(fd, sub, x, out, depth, false);
        });
        continue;
      }
      for (const Value& x : list) {
        if (x.is_null()) throw GiveUp{};
        tag(fd, wire, out);
        value(fd, sub, x, out, depth, false);
      }
    }
  }

  WriteRules rules_;
};

// ---- the binary form --------------------------------------------------------------------

void decode(const MessageType& type, const ReadRules& rules, std::string_view data,
            std::vector<Value>& out) {
  if (data.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw SerializationError(
        fmt::format("protobuf deserializer: {} bytes are beyond the 2 GiB "
                    "a message may have",
                    data.size()));
  }
  const Reader reader(type.types(), rules);
  const MessageInfo& root = type.root_info();
  if (root.direct) {
    Value v = detail::take_parsed_spare();
    if (!v.is_object()) v = Value(Object{});
    if (DirectReader(reader, rules).read(root, data, v.as_object())) {
      out.push_back(std::move(v));
      return;
    }
  }
  auto m = type.lease();
  if (!m->ParsePartialFromArray(data.data(), static_cast<int>(data.size()))) {
    throw SerializationError(
        fmt::format("protobuf deserializer: {} bytes are not a valid {} "
                    "message (truncated, or not protobuf)",
                    data.size(), type.root()->full_name()));
  }
  if (type.types().has_required() && !m->IsInitialized()) {
    throw SerializationError(
        fmt::format("protobuf deserializer: {} message lacks required "
                    "fields: {}",
                    type.root()->full_name(), m->InitializationErrorString()));
  }
  try {
    out.push_back(reader.message(*m));
  } catch (const Located& e) {
    throw serde::located_error("protobuf", "deserializer", e);
  }
}

// Writes `value` as a message of `type` into `out` after its first `offset` bytes.
void encode(const MessageType& type, const WriteRules& rules, bool deterministic,
            const Value& value, std::string& out, std::size_t offset) {
  out.resize(offset);
  const MessageInfo& root = type.root_info();
  if (root.direct && DirectWriter(rules).write(root, value, out)) return;
  auto m = type.lease();
  try {
    Writer(type.types(), rules).message(value, *m);
  } catch (const Located& e) {
    throw serde::located_error("protobuf", "serializer", e);
  }
  if (type.types().has_required() && !m->IsInitialized()) {
    throw SerializationError(
        fmt::format("protobuf serializer: {} message lacks required "
                    "fields: {}",
                    type.root()->full_name(), m->InitializationErrorString()));
  }
  const std::size_t size = m->ByteSizeLong();
  if (size > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw SerializationError(
        fmt::format("protobuf serializer: a {} message of {} bytes is beyond the 2 GiB limit",
                    type.root()->full_name(), size));
  }
  out.resize(offset + size);
  pb::io::ArrayOutputStream stream(out.data() + offset, static_cast<int>(size));
  pb::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(deterministic);
  m->SerializeWithCachedSizes(&coded);
}

// ---- Confluent's message indexes ----------------------------------------------------------

// The path of `d` in its file: its index among the file's messages, then among each nested
// level's.
std::vector<int> message_indexes(const pb::Descriptor* d) {
  std::vector<int> path;
  for (; d != nullptr; d = d->containing_type()) path.insert(path.begin(), d->index());
  return path;
}

void append_varint(std::uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void append_zigzag(std::int64_t v, std::string& out) {
  append_varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63), out);
}

// The first message of a file, the usual case, is the single byte 0.
std::string encoded_indexes(const std::vector<int>& path) {
  std::string out;
  if (path == std::vector<int>{0}) {
    out.push_back('\0');
    return out;
  }
  append_zigzag(static_cast<std::int64_t>(path.size()), out);
  for (int i : path) append_zigzag(i, out);
  return out;
}

// Reads a zigzag varint at `pos`, moving it past; false when the bytes end first or it is
// longer than 10 bytes.
bool read_zigzag(std::string_view data, std::size_t& pos, std::int64_t& value) {
  std::uint64_t u = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (pos >= data.size()) return false;
    const auto b = static_cast<unsigned char>(data[pos++]);
    u |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      value = static_cast<std::int64_t>(u >> 1) ^ -static_cast<std::int64_t>(u & 1);
      return true;
    }
  }
  return false;
}

// The size of the message indexes at the start of `data` (after the 5-byte header).
std::size_t skip_indexes(std::string_view data) {
  std::size_t pos = 0;
  std::int64_t count = 0;
  if (!read_zigzag(data, pos, count) || count < 0 || count > 64) {
    throw SerializationError(
        "protobuf deserializer: the message indexes after the schema id are malformed (not "
        "written by a schema registry Protobuf serializer?)");
  }
  for (std::int64_t i = 0; i < count; ++i) {
    std::int64_t index = 0;
    if (!read_zigzag(data, pos, index) || index < 0) {
      throw SerializationError(
          "protobuf deserializer: the message indexes after the schema id are malformed (not "
          "written by a schema registry Protobuf serializer?)");
    }
  }
  return pos;
}

bool is_builtin_file(const std::string& name) {
  return name.starts_with("google/protobuf/") || name.starts_with("google/type/") ||
         name.starts_with("confluent/");
}

// A file's schema as Confluent's Python serializer registers it: its FileDescriptorProto,
// base64.
std::string file_schema(const pb::FileDescriptor* file) {
  pb::FileDescriptorProto proto;
  file->CopyTo(&proto);
  return base64(proto.SerializeAsString());
}

// ---- the serdes -------------------------------------------------------------------------

class ProtobufDeserializer final : public Deserializer {
 public:
  ProtobufDeserializer(std::shared_ptr<const MessageType> type, ReadRules rules,
                       std::shared_ptr<serde::SchemaRegistryClient> client)
      : type_(std::move(type)), rules_(rules) {
    if (client) known_ids_.emplace(std::move(client), "PROTOBUF", "protobuf");
  }

  bool reads_headers() const override { return false; }
  std::string_view name() const override { return "protobuf"; }

  void deserialize(std::string_view data, const Headers&, std::vector<Value>& out) const override {
    if (known_ids_) {
      const std::int32_t id = serde::read_wire_header(data, "protobuf");
      check_schema_id(id);
      data.remove_prefix(serde::kWireHeaderSize);
      data.remove_prefix(skip_indexes(data));
    }
    decode(*type_, rules_, data, out);
  }

 private:
  // The id must name a Protobuf schema of the registry (asked once per id).
  void check_schema_id(std::int32_t id) const {
    known_ids_->get(id,
                    [](const serde::RegisteredSchema&) { return std::make_unique<bool>(true); });
  }

  std::shared_ptr<const MessageType> type_;
  ReadRules rules_;
  std::optional<serde::PerSchemaId<bool>> known_ids_;  // with a registry
};

class ProtobufSerializer final : public Serializer {
 public:
  ProtobufSerializer(std::shared_ptr<const MessageType> type, WriteRules rules, bool deterministic)
      : type_(std::move(type)), rules_(rules), deterministic_(deterministic) {}

  std::string_view name() const override { return "protobuf"; }

  void serialize(const Value& value, std::string& out) const override {
    out.clear();
    encode(*type_, rules_, deterministic_, value, out, 0);
  }

 private:
  std::shared_ptr<const MessageType> type_;
  WriteRules rules_;
  bool deterministic_;
};

// Writes Confluent's wire format with the id of the message's file under the subject its
// strategy names; bound to a topic by for_topic(). The files it imports are registered first,
// as references. The id is asked for at the first record and kept; a failed request is asked
// again at the next record.
class ProtobufRegistrySerializer final : public Serializer {
 public:
  ProtobufRegistrySerializer(std::shared_ptr<const MessageType> type, WriteRules rules,
                             bool deterministic,
                             std::shared_ptr<serde::SchemaRegistryClient> client,
                             SchemaRegistrySerializationConfig config, std::string subject)
      : type_(std::move(type)),
        rules_(rules),
        deterministic_(deterministic),
        client_(std::move(client)),
        config_(config),
        subject_(std::move(subject)),
        indexes_(encoded_indexes(message_indexes(type_->root()))) {}

  std::string_view name() const override { return "protobuf"; }

  std::shared_ptr<const Serializer> for_topic(const std::string& topic, bool key) const override {
    std::string subject =
        serde::subject_name(config_.subject_name_strategy, topic, key, type_->root()->full_name());
    return std::make_shared<const ProtobufRegistrySerializer>(type_, rules_, deterministic_,
                                                              client_, config_, std::move(subject));
  }

  void serialize(const Value& value, std::string& out) const override {
    const std::int32_t id =
        serde::subject_schema_id(id_, subject_, "protobuf", [&] { return schema_id(); });
    out.clear();
    serde::append_wire_header(id, out);
    out += indexes_;
    encode(*type_, rules_, deterministic_, value, out, out.size());
  }

 private:
  std::int32_t schema_id() const {
    const pb::FileDescriptor* file = type_->root()->file();
    const auto references = references_of(file);
    const std::string schema = file_schema(file);
    return config_.auto_register_schemas
               ? client_->register_schema(subject_, schema, "PROTOBUF", references)
               : client_->lookup_schema(subject_, schema, "PROTOBUF", references);
  }

  // The files `file` imports, each registered (or looked up) under its own name with its own
  // references, as confluent-kafka's serializer does; well-known files are skipped.
  std::vector<serde::SchemaReference> references_of(const pb::FileDescriptor* file) const {
    std::vector<serde::SchemaReference> refs;
    for (int i = 0; i < file->dependency_count(); ++i) {
      const pb::FileDescriptor* dep = file->dependency(i);
      if (is_builtin_file(dep->name())) continue;
      const auto dep_refs = references_of(dep);
      const std::string schema = file_schema(dep);
      if (config_.auto_register_schemas)
        client_->register_schema(dep->name(), schema, "PROTOBUF", dep_refs);
      const serde::SubjectVersion found =
          client_->lookup_version(dep->name(), schema, "PROTOBUF", dep_refs);
      refs.push_back({dep->name(), dep->name(), found.version});
    }
    return refs;
  }

  std::shared_ptr<const MessageType> type_;
  WriteRules rules_;
  bool deterministic_;
  std::shared_ptr<serde::SchemaRegistryClient> client_;
  SchemaRegistrySerializationConfig config_;
  std::string subject_;  // empty until bound (topic strategies)
  std::string indexes_;
  mutable std::atomic<std::int32_t> id_{-1};
};

}  // namespace

std::shared_ptr<const Serializer> protobuf_serializer(const ProtobufSerializerOptions& options) {
  auto type = std::make_shared<const MessageType>(options.msg_type, "protobuf serializer");
  const WriteRules rules{options.ignore_unknown_fields};
  if (!options.schema_registry_client_config) {
    return std::make_shared<const ProtobufSerializer>(std::move(type), rules,
                                                      options.deterministic);
  }
  const auto& config = options.schema_registry_serialization_config;
  auto client =
      std::make_shared<serde::SchemaRegistryClient>(*options.schema_registry_client_config);
  std::string subject;
  if (config.subject_name_strategy == SubjectNameStrategy::record_name)
    subject = type->root()->full_name();
  return std::make_shared<const ProtobufRegistrySerializer>(
      std::move(type), rules, options.deterministic, std::move(client), config, std::move(subject));
}

std::shared_ptr<const Deserializer> protobuf_deserializer(
    const ProtobufDeserializerOptions& options) {
  auto type = std::make_shared<const MessageType>(options.msg_type, "protobuf deserializer");
  const ReadRules rules{options.use_integers_for_enums, options.preserving_proto_field_name,
                        options.int64_as_int};
  std::shared_ptr<serde::SchemaRegistryClient> client;
  if (options.schema_registry_client_config) {
    client = std::make_shared<serde::SchemaRegistryClient>(*options.schema_registry_client_config);
  }
  return std::make_shared<const ProtobufDeserializer>(std::move(type), rules, std::move(client));
}

}  // namespace streamframe
