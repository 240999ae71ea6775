#include "state/value_codec.hpp"

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_set>

#include "core/short_bytes.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::state {
namespace {

enum Tag : std::uint8_t {
  kNull = 0,
  kFalse = 1,
  kTrue = 2,
  kInt = 3,
  kDouble = 4,
  kString = 5,
  kArray = 6,
  kObject = 7,
};

// Writes `v` at `buf` (room for 10 bytes) and returns the bytes written.
std::size_t varint_into(std::uint64_t v, char* buf) {
  std::size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  return n;
}

void put_varint(std::uint64_t v, std::string& out) {
  char buf[10];
  out.append(buf, varint_into(v, buf));
}

// A tag and the varint after it in one append: a state key or value is mostly one scalar, so
// this is most of an encoding, and one append costs less than a push_back and an append.
void put_tagged(Tag tag, std::uint64_t v, std::string& out) {
  char buf[11];
  buf[0] = static_cast<char>(tag);
  out.append(buf, 1 + varint_into(v, buf + 1));
}

std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

void encode_at(const Value& value, std::string& out, std::size_t depth) {
  if (depth > kMaxValueDepth) {
    throw SerializationError("state value nests deeper than " + std::to_string(kMaxValueDepth) +
                             " levels and cannot be stored");
  }
  switch (value.type()) {
    case Value::Type::null:
      out.push_back(static_cast<char>(kNull));
      break;
    case Value::Type::boolean:
      out.push_back(static_cast<char>(value.as_bool() ? kTrue : kFalse));
      break;
    case Value::Type::integer:
      put_tagged(kInt, zigzag(value.as_int()), out);
      break;
    case Value::Type::floating: {
      out.push_back(static_cast<char>(kDouble));
      auto bits = std::bit_cast<std::uint64_t>(value.as_double());
      char buf[8];
      for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(bits >> (8 * i));
      out.append(buf, 8);
      break;
    }
    case Value::Type::string: {
      const auto& s = value.as_string();
      put_tagged(kString, s.size(), out);
      out.append(s);
      break;
    }
    case Value::Type::array: {
      const auto& a = value.as_array();
      put_tagged(kArray, a.size(), out);
      for (const auto& item : a) encode_at(item, out, depth + 1);
      break;
    }
    case Value::Type::object: {
      const auto& o = value.as_object();
      put_tagged(kObject, o.size(), out);
      for (const auto& [key, item] : o) {
        put_varint(key.size(), out);
        out.append(key);
        encode_at(item, out, depth + 1);
      }
      break;
    }
  }
}

// Every read checks the remaining length first; positions in messages are byte offsets into
// the encoded value so a corrupt record can be located.
class Decoder {
 public:
  explicit Decoder(std::string_view bytes) : bytes_(bytes) {}

  Value value(std::size_t depth) {
    if (depth > kMaxValueDepth) fail("nesting deeper than " + std::to_string(kMaxValueDepth));
    auto tag = static_cast<std::uint8_t>(byte());
    switch (tag) {
      case kNull:
        return Value();
      case kFalse:
        return Value(false);
      case kTrue:
        return Value(true);
      case kInt:
        return Value(static_cast<long long>(unzigzag(varint())));
      case kDouble: {
        need(8);
        std::uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) {
          bits |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(bytes_[pos_ + i]))
                  << (8 * i);
        }
        pos_ += 8;
        return Value(std::bit_cast<double>(bits));
      }
      case kString:
        return Value(std::string(chunk(length())));
      case kArray: {
        // Each element takes at least one byte: a count larger than what is left is corrupt,
        // and checking it first keeps a forged count from reserving gigabytes.
        auto count = length();
        Array items;
        items.reserve(count);
        for (std::uint64_t i = 0; i < count; ++i) items.push_back(value(depth + 1));
        return Value(std::move(items));
      }
      case kObject: {
        auto count = varint();
        if (count > remaining() / 2) fail("object entry count exceeds the input");
        Object object;
        object.reserve(count);
        // Duplicate keys would break Object's invariant (find() sees only the first one); a
        // hash set keeps the check linear for large objects.
        std::unordered_set<std::string_view> seen;
        if (count > 16) seen.reserve(count);
        for (std::uint64_t i = 0; i < count; ++i) {
          auto key = chunk(length());
          bool duplicate = count > 16 ? !seen.insert(key).second : object.contains(key);
          if (duplicate) fail("duplicate object key");
          object.append_unchecked(key, value(depth + 1));
        }
        return Value(std::move(object));
      }
      default:
        --pos_;
        fail("unknown type tag " + std::to_string(tag));
    }
  }

  // Walks one value like value() does, building nothing.
  void skip(std::size_t depth) {
    if (depth > kMaxValueDepth) fail("nesting deeper than " + std::to_string(kMaxValueDepth));
    auto tag = static_cast<std::uint8_t>(byte());
    switch (tag) {
      case kNull:
      case kFalse:
      case kTrue:
        return;
      case kInt:
        (void)varint();
        return;
      case kDouble:
        need(8);
        pos_ += 8;
        return;
      case kString:
        (void)chunk(length());
        return;
      case kArray: {
        auto count = length();
        for (std::uint64_t i = 0; i < count; ++i) skip(depth + 1);
        return;
      }
      case kObject: {
        auto count = varint();
        if (count > remaining() / 2) fail("object entry count exceeds the input");
        for (std::uint64_t i = 0; i < count; ++i) {
          (void)chunk(length());
          skip(depth + 1);
        }
        return;
      }
      default:
        --pos_;
        fail("unknown type tag " + std::to_string(tag));
    }
  }

  void finish() const {
    if (pos_ != bytes_.size()) fail(std::to_string(remaining()) + " trailing bytes");
  }

 private:
  std::size_t remaining() const { return bytes_.size() - pos_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw SerializationError("cannot decode state value (" + std::to_string(bytes_.size()) +
                             " bytes): " + what + " at byte " + std::to_string(pos_));
  }

  void need(std::size_t n) const {
    if (remaining() < n) {
      fail("truncated: " + std::to_string(n) + " bytes needed, " + std::to_string(remaining()) +
           " left");
    }
  }

  char byte() {
    need(1);
    return bytes_[pos_++];
  }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      auto b = static_cast<std::uint8_t>(byte());
      // The tenth byte holds bit 63 only; anything more would overflow.
      if (shift == 63 && b > 1) fail("varint overflows 64 bits");
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    fail("varint overflows 64 bits");
  }

  // A length or count that must fit in what is left (at least one byte per unit).
  std::uint64_t length() {
    auto n = varint();
    if (n > remaining()) fail("length " + std::to_string(n) + " exceeds the input");
    return n;
  }

  std::string_view chunk(std::uint64_t n) {
    need(n);
    auto s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }

  std::string_view bytes_;
  std::size_t pos_ = 0;
};

}  // namespace

void encode(const Value& value, std::string& out) {
  // The usual state key or value is one int or one short string, and a stateful step encodes
  // several per record (the message key, the user key for get and set, the value): those are
  // built on the stack and appended once, not through a push_back and two appends.
  if (value.is_int()) {
    put_tagged(kInt, zigzag(value.as_int()), out);
    return;
  }
  if (value.is_string()) {
    const std::string& s = value.as_string();
    char buf[48];
    if (s.size() <= sizeof buf - 2) {  // < 0x80: a one-byte varint
      buf[0] = static_cast<char>(kString);
      buf[1] = static_cast<char>(s.size());
      detail::copy_bytes(buf + 2, s.data(), s.size());
      out.append(buf, 2 + s.size());
      return;
    }
  }
  // A value refused half-way must not leave a partial encoding in the caller's buffer.
  auto size = out.size();
  try {
    encode_at(value, out, 0);
  } catch (...) {
    out.resize(size);
    throw;
  }
}

std::string encode(const Value& value) {
  std::string out;
  encode(value, out);
  return out;
}

void validate(std::string_view bytes) {
  Decoder decoder(bytes);
  decoder.skip(0);
  decoder.finish();
}

Value decode(std::string_view bytes) {
  Decoder decoder(bytes);
  Value v = decoder.value(0);
  decoder.finish();
  return v;
}

}  // namespace streamframe::state
