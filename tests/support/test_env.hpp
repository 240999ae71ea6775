// Shared helpers for the test suites: the test broker's address and unique resource names.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace streamframe::test {

// An environment variable's value; nullopt when it is unset or empty.
inline std::optional<std::string> env_value(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

// The bootstrap address of the real Kafka the integration tests run against, from
// STREAMFRAME_TEST_BROKERS (scripts/test sets it from `scripts/kafka start`).
inline std::optional<std::string> test_brokers() {
  return env_value("STREAMFRAME_TEST_BROKERS");
}

// The address (host:port) of the real PostgreSQL the lookup tests run against, from
// STREAMFRAME_TEST_POSTGRES (scripts/test sets it from `scripts/postgres start`; user,
// password and database are all `streamframe`).
inline std::optional<std::string> test_postgres() {
  return env_value("STREAMFRAME_TEST_POSTGRES");
}

// The address (host:port) of the real MQTT broker the MQTT connector tests run against, from
// STREAMFRAME_TEST_MQTT (scripts/test sets it from `scripts/mosquitto start`; anonymous).
inline std::optional<std::string> test_mqtt() {
  return env_value("STREAMFRAME_TEST_MQTT");
}

// The same broker's TLS listener (host:port) and the CA file that signed its certificate, from
// STREAMFRAME_TEST_MQTT_TLS and STREAMFRAME_TEST_MQTT_CA (scripts/test sets them from
// `scripts/mosquitto tls-address` and `ca-file`).
inline std::optional<std::string> test_mqtt_tls() {
  return env_value("STREAMFRAME_TEST_MQTT_TLS");
}
inline std::optional<std::string> test_mqtt_ca() {
  return env_value("STREAMFRAME_TEST_MQTT_CA");
}

// The Confluent-compatible API of the real schema registry the schema serde tests run against,
// from STREAMFRAME_TEST_SCHEMA_REGISTRY (scripts/test sets it from `scripts/registry address`
// followed by /apis/ccompat/v7; Apicurio Registry, in memory, no authentication).
inline std::optional<std::string> test_schema_registry() {
  return env_value("STREAMFRAME_TEST_SCHEMA_REGISTRY");
}
// Its HTTPS API, the CA that signed its certificate, and the "user:password" its basic
// authentication wants (scripts/test starts it with --tls --basic-auth; empty when the
// registry runs without them).
inline std::optional<std::string> test_schema_registry_tls() {
  return env_value("STREAMFRAME_TEST_SCHEMA_REGISTRY_TLS");
}
inline std::optional<std::string> test_schema_registry_ca() {
  return env_value("STREAMFRAME_TEST_SCHEMA_REGISTRY_CA");
}
inline std::string test_schema_registry_user_info() {
  return env_value("STREAMFRAME_TEST_SCHEMA_REGISTRY_USER_INFO").value_or("");
}

// A name no other test, process or earlier run uses: prefix-<pid>-<counter>-<ms since epoch>.
// Topic and group names built from it are valid Kafka names as long as the prefix is.
inline std::string unique_name(std::string_view prefix) {
  static std::atomic<std::uint64_t> counter{0};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  std::string name(prefix);
  name += '-';
  name += std::to_string(static_cast<long long>(::getpid()));
  name += '-';
  name += std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
  name += '-';
  name += std::to_string(static_cast<long long>(ms));
  return name;
}

}  // namespace streamframe::test

// Use at the top of an integration test (TEST body or SetUp): without a broker the test is
// reported as skipped, never as passed.
#define REQUIRE_TEST_BROKERS()                            \
  do {                                                    \
    if (!::streamframe::test::test_brokers()) {           \
      GTEST_SKIP() << "STREAMFRAME_TEST_BROKERS not set"; \
    }                                                     \
  } while (0)

// The same for the tests that need the test PostgreSQL.
#define REQUIRE_TEST_POSTGRES()                            \
  do {                                                     \
    if (!::streamframe::test::test_postgres()) {           \
      GTEST_SKIP() << "STREAMFRAME_TEST_POSTGRES not set"; \
    }                                                      \
  } while (0)

// The same for the schema registry tests.
#define REQUIRE_TEST_SCHEMA_REGISTRY()                            \
  do {                                                            \
    if (!::streamframe::test::test_schema_registry()) {           \
      GTEST_SKIP() << "STREAMFRAME_TEST_SCHEMA_REGISTRY not set"; \
    }                                                             \
  } while (0)

// The same for the tests of the registry's HTTPS and basic authentication.
#define REQUIRE_TEST_SECURED_SCHEMA_REGISTRY()                                           \
  do {                                                                                   \
    if (!::streamframe::test::test_schema_registry_tls() ||                              \
        !::streamframe::test::test_schema_registry_ca() ||                               \
        ::streamframe::test::test_schema_registry_user_info().empty()) {                 \
      GTEST_SKIP() << "STREAMFRAME_TEST_SCHEMA_REGISTRY_TLS, _CA or _USER_INFO not set"; \
    }                                                                                    \
  } while (0)

// The same for the tests of the test MQTT broker's TLS listener.
#define REQUIRE_TEST_MQTT_TLS()                                                          \
  do {                                                                                   \
    if (!::streamframe::test::test_mqtt_tls() || !::streamframe::test::test_mqtt_ca()) { \
      GTEST_SKIP() << "STREAMFRAME_TEST_MQTT_TLS / STREAMFRAME_TEST_MQTT_CA not set";    \
    }                                                                                    \
  } while (0)

// The same for the tests that need the test MQTT broker.
#define REQUIRE_TEST_MQTT()                            \
  do {                                                 \
    if (!::streamframe::test::test_mqtt()) {           \
      GTEST_SKIP() << "STREAMFRAME_TEST_MQTT not set"; \
    }                                                  \
  } while (0)
