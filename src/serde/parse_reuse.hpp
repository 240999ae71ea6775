// Recycling of decoded values: the run loop hands a record's value back once the pipeline is
// done with it, and the next JSON document the same thread parses is built into its storage
// (the object's field slots and the capacity of their strings). A topic of similar records then
// parses without allocating, and the heap does not fragment under a stream of short-lived
// objects interleaved with long-lived state.
#pragma once

#include "streamframe/value.hpp"

namespace streamframe::detail {

// Keeps `v` for this thread's next parse when it is an object and the slot is free; anything
// else is simply destroyed. At most one value per thread is kept: its size is bounded by the
// largest record the thread parsed since.
void give_back_parsed(Value&& v) noexcept;

// The value kept for this thread's next parse (null when none), for a decoder of another
// format (Protobuf) to build its record into.
Value take_parsed_spare() noexcept;

}  // namespace streamframe::detail
