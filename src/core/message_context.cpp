#include "core/message_context.hpp"

namespace streamframe::detail {

const MessageContext*& current_message_context() {
  thread_local const MessageContext* ctx = nullptr;
  return ctx;
}

}  // namespace streamframe::detail
