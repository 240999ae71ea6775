// The message a thread is processing, for the code that needs to name it without being handed
// it: SDF-19's metadata access from expressions, and the topic/partition/offset of JSON log
// lines (LOG-02).
#pragma once

#include "streamframe/record.hpp"

namespace streamframe::detail {

// The context of the message being processed on this thread; null outside one.
const MessageContext*& current_message_context();

}  // namespace streamframe::detail
