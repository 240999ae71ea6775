// Recycling of decoded values: the run loop hands a record's value back once the pipeline is
// done with it, and the next JSON document the same thread parses is built into its storage
// (the object's field slots and the capacity of their strings). A topic of similar records then
// parses without allocating, and the heap does not fragment under a stream of short-lived
// objects interleaved with long-lived state.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/short_bytes.hpp"
#include "streamframe/value.hpp"

namespace streamframe::detail {

// Keeps `v` for this thread's next parse when it is an object and the slot is free; anything
// else is simply destroyed. At most one value per thread is kept: its size is bounded by the
// largest record the thread parsed since.
void give_back_parsed(Value&& v) noexcept;

// s = text, without std::string::assign's general path (aliasing checks, _M_replace) when the
// capacity suffices, which it almost always does for a recycled field.
inline void assign_text(std::string& s, std::string_view text) {
  if (text.size() <= s.capacity()) {
    s.resize(text.size());
    copy_bytes(s.data(), text.data(), text.size());
  } else {
    s.assign(text);
  }
}

// `target` = a bool, int64 or double, assigned in place when it already holds one of that
// kind: a recycled record's numeric fields skip the construction of a temporary Value and the
// variant's generic move assignment.
struct ValueInPlace {
  template <typename T>
  static void assign(Value& target, T x) noexcept {
    static_assert(std::is_same_v<T, bool> || std::is_same_v<T, std::int64_t> ||
                  std::is_same_v<T, double>);
    target.data_ = x;
  }
};

// `target` = a string `text`, in the string it holds when it holds one.
inline void assign_string(Value& target, std::string_view text) {
  if (target.is_string()) {
    assign_text(target.as_string(), text);
  } else {
    target = Value(std::string(text));
  }
}

// The value kept for this thread's next parse (null when none), for a decoder of another
// format (Protobuf) to build its record into.
Value take_parsed_spare() noexcept;

}  // namespace streamframe::detail
