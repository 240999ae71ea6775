// What the schema serde tests against the real registry (scripts/registry) share: the client
// settings of the test registry, the schema id in a record's wire header, and the message of
// the SerializationError a call throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "serde/schema_registry_client.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/schema_registry.hpp"
#include "support/expect_error.hpp"
#include "support/test_env.hpp"

namespace streamframe::test {

// The test registry over plain http, with its basic-auth user.
inline SchemaRegistryClientConfig test_registry_config() {
  SchemaRegistryClientConfig c;
  c.url = *test_schema_registry();
  c.basic_auth_user_info = test_schema_registry_user_info();
  return c;
}

inline std::int32_t header_id(std::string_view bytes) {
  return serde::read_wire_header(bytes, "test");
}

// The message of the SerializationError `f` throws ("" and a failure when none).
template <typename F>
std::string serialization_error_of(F&& f) {
  return error_message<SerializationError>(f);
}

}  // namespace streamframe::test
