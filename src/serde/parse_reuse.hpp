// Recycling of decoded values: the run loop hands a record's value back once the pipeline is
// done with it, and the next JSON document the same thread parses is built into its storage
// (the object's field slots and the capacity of their strings). A topic of similar records then
// parses without allocating, and the heap does not fragment under a stream of short-lived
// objects interleaved with long-lived state.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

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
    if (!text.empty()) std::memcpy(s.data(), text.data(), text.size());
  } else {
    s.assign(text);
  }
}

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
