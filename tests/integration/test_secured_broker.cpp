// APP-17 against a real secured broker (scripts/kafka start --secured): SASL over TLS with
// each mechanism works end to end, exactly-once included; a wrong password, a CA that did not
// sign the broker's certificate and an expired broker certificate each end in a
// KafkaAuthenticationError naming the broker, within the request timeout, never a hang and
// never a plaintext fallback; the password never appears in the logs, even at DEBUG. OAUTHBEARER
// tokens from the application's callback authenticate; a callback that throws, at the start or
// later in the run, stops the application with a KafkaAuthenticationError carrying its message.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "integration/test_app_helpers.hpp"
#include "streamframe/streamframe.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using namespace streamframe;
using namespace streamframe::apptest;
namespace sft = streamframe::test;

#define REQUIRE_SECURED_BROKER()                                                             \
  do {                                                                                       \
    if (!sft::env_value("STREAMFRAME_TEST_SECURED_BROKERS") ||                               \
        !sft::env_value("STREAMFRAME_TEST_EXPIRED_BROKERS") ||                               \
        !sft::env_value("STREAMFRAME_TEST_KAFKA_CA") ||                                      \
        !sft::env_value("STREAMFRAME_TEST_KAFKA_OTHER_CA")) {                                \
      GTEST_SKIP() << "no secured test broker (scripts/kafka start --secured; scripts/test " \
                      "starts one with a single broker)";                                    \
    }                                                                                        \
  } while (0)

ConnectionConfig sasl(SaslMechanism mechanism, const std::string& password = "alice-secret") {
  ConnectionConfig c;
  c.bootstrap_servers = *sft::env_value("STREAMFRAME_TEST_SECURED_BROKERS");
  c.security_protocol = SecurityProtocol::sasl_ssl;
  c.sasl_mechanism = mechanism;
  c.sasl_username = "alice";
  c.sasl_password = password;
  c.ssl_ca_location = *sft::env_value("STREAMFRAME_TEST_KAFKA_CA");
  return c;
}

ApplicationConfig secured_config(const std::string& group, ConnectionConfig connection) {
  ApplicationConfig cfg = base_config(group);
  cfg.broker_address.clear();
  cfg.connection = std::move(connection);
  return cfg;
}

// Produces {"i": 0..n-1} to `topic`, keyed over `keys` keys.
void produce_numbered(Application& app, const Topic& topic, int n, int keys) {
  Producer producer = app.get_producer();
  for (int i = 0; i < n; ++i) {
    producer.produce(topic, Value::object({{"i", i}}), Value("k" + std::to_string(i % keys)));
  }
  ASSERT_TRUE(producer.flush(30s));
}

// How many records of `topic` another group reads back (read_committed) over `connection`,
// waiting up to 60 s for `expected` of them.
std::size_t read_back(const std::string& group, ConnectionConfig connection,
                      const std::string& topic, std::size_t expected) {
  Application reader(secured_config(group, std::move(connection)));
  Consumer consumer = reader.get_consumer();
  consumer.subscribe({topic});
  std::size_t seen = 0;
  const auto deadline = Clock::now() + 60s;
  while (seen < expected && Clock::now() < deadline) {
    if (consumer.poll(500ms)) ++seen;
  }
  return seen;
}

TEST(SecuredBroker, EachSaslMechanismWorksOverTls) {
  REQUIRE_SECURED_BROKER();
  for (const auto mechanism :
       {SaslMechanism::plain, SaslMechanism::scram_sha_256, SaslMechanism::scram_sha_512}) {
    const std::string group = sft::unique_name("sasl");
    Application app(secured_config(group, sasl(mechanism)));
    const Topic in = app.topic(group + "-in");
    produce_numbered(app, in, 1, 1);
    (void)app.dataframe(in);
    const auto out = app.run({.timeout = 30s, .count = 1});
    ASSERT_EQ(out.size(), 1u) << static_cast<int>(mechanism);
    EXPECT_EQ(out[0]["i"].as_int(), 0);
  }
}

TEST(SecuredBroker, ExactlyOnceOverScramAndTls) {
  REQUIRE_SECURED_BROKER();
  const std::string group = sft::unique_name("sasl-eos");
  ApplicationConfig cfg = secured_config(group, sasl(SaslMechanism::scram_sha_512));
  cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
  cfg.commit_interval = 200ms;
  cfg.state_dir = (std::filesystem::path(::testing::TempDir()) / group).string();
  Application app(cfg);
  const Topic in = app.topic(group + "-in", {.config = TopicConfig{.num_partitions = 2}});
  const Topic out = app.topic(group + "-out");
  produce_numbered(app, in, 200, 7);
  auto sdf = app.dataframe(in);
  sdf = sdf.apply([](const Value& v, State& state) {
    const std::int64_t n = state.get("n", Value(0)).as_int() + 1;
    state.set("n", Value(n));
    return Value::object({{"i", v["i"]}, {"n", Value(n)}});
  });
  sdf.to_topic(out);
  ASSERT_EQ(app.run({.timeout = 60s, .count = 200, .collect = false}).size(), 0u);
  // The outputs, read back read_committed over the secured listener by another group.
  EXPECT_EQ(read_back(group + "-reader", sasl(SaslMechanism::scram_sha_256), out.name(), 200),
            200u);
  std::filesystem::remove_all(cfg.state_dir);
}

// Makes an Application with `connection` and declares a topic: the first request to the
// cluster. Returns the error it threw and how long it took.
std::pair<std::string, double> refused(const ConnectionConfig& connection, const std::string& group,
                                       bool& typed) {
  ApplicationConfig cfg = secured_config(group, connection);
  cfg.request_timeout = 10s;
  cfg.loglevel = "DEBUG";
  const auto started = Clock::now();
  typed = false;
  try {
    Application app(cfg);
    (void)app.topic(group + "-in");
    (void)app.dataframe(app.topic(group + "-in"));
    (void)app.run({.timeout = 5s});
  } catch (const KafkaAuthenticationError& e) {
    typed = true;
    return {e.what(), seconds_since(started)};
  } catch (const std::exception& e) {
    return {e.what(), seconds_since(started)};
  }
  return {"(no error)", seconds_since(started)};
}

TEST(SecuredBroker, AWrongPasswordIsAKafkaAuthenticationErrorNamingTheBroker) {
  REQUIRE_SECURED_BROKER();
  const std::string password = "wrong-password-7f3a";
  ::testing::internal::CaptureStderr();
  bool typed = false;
  const auto [error, seconds] =
      refused(sasl(SaslMechanism::scram_sha_512, password), sft::unique_name("badpw"), typed);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(typed) << error;
  EXPECT_LT(seconds, 15) << error;
  EXPECT_NE(error.find(*sft::env_value("STREAMFRAME_TEST_SECURED_BROKERS")), std::string::npos)
      << error;
  EXPECT_NE(error.find("Authentication failed"), std::string::npos) << error;
  EXPECT_EQ(error.find(password), std::string::npos) << error;
  EXPECT_EQ(log.find(password), std::string::npos) << "the password is in the log";
  EXPECT_FALSE(log.empty());
}

TEST(SecuredBroker, AnUnknownCaIsAKafkaAuthenticationError) {
  REQUIRE_SECURED_BROKER();
  ConnectionConfig c = sasl(SaslMechanism::scram_sha_256);
  c.ssl_ca_location = *sft::env_value("STREAMFRAME_TEST_KAFKA_OTHER_CA");
  bool typed = false;
  const auto [error, seconds] = refused(c, sft::unique_name("badca"), typed);
  EXPECT_TRUE(typed) << error;
  EXPECT_LT(seconds, 15) << error;
  EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
  EXPECT_NE(error.find("unable to get local issuer certificate"), std::string::npos) << error;
  EXPECT_EQ(error.find("expired"), std::string::npos) << error;
  EXPECT_NE(error.find(*sft::env_value("STREAMFRAME_TEST_SECURED_BROKERS")), std::string::npos)
      << error;
}

TEST(SecuredBroker, AnExpiredBrokerCertificateIsAKafkaAuthenticationError) {
  REQUIRE_SECURED_BROKER();
  ConnectionConfig c;
  c.bootstrap_servers = *sft::env_value("STREAMFRAME_TEST_EXPIRED_BROKERS");
  c.security_protocol = SecurityProtocol::ssl;
  c.ssl_ca_location = *sft::env_value("STREAMFRAME_TEST_KAFKA_CA");
  bool typed = false;
  const auto [error, seconds] = refused(c, sft::unique_name("expired"), typed);
  EXPECT_TRUE(typed) << error;
  EXPECT_LT(seconds, 15) << error;
  // librdkafka 2.0.2 words every failed verification alike; OpenSSL's reason says which.
  EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
  EXPECT_NE(error.find("certificate has expired"), std::string::npos) << error;
  EXPECT_NE(error.find(c.bootstrap_servers), std::string::npos) << error;
}

TEST(SecuredBroker, SecretsStayOutOfTheLogsOfAWorkingRun) {
  REQUIRE_SECURED_BROKER();
  const std::string group = sft::unique_name("sasl-log");
  ApplicationConfig cfg = secured_config(group, sasl(SaslMechanism::scram_sha_256));
  cfg.loglevel = "DEBUG";
  ::testing::internal::CaptureStderr();
  {
    Application app(cfg);
    const Topic in = app.topic(group + "-in");
    produce_numbered(app, in, 1, 1);
    (void)app.dataframe(in);
    EXPECT_EQ(app.run({.timeout = 30s, .count = 1}).size(), 1u);
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(log.empty());
  EXPECT_EQ(log.find("alice-secret"), std::string::npos) << "the password is in the log";
}

// base64url without padding (RFC 7515), by libcrypto.
std::string base64url(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// An unsigned JWT for `principal`, valid for `lifetime`: what the secured broker's unsecured
// validator accepts. Whole seconds, as the token's exp claim has them.
OAuthBearerToken unsecured_token(const std::string& principal, std::chrono::seconds lifetime) {
  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  const auto expires = now + lifetime;
  const std::string claims =
      fmt::format(R"({{"sub":"{}","iat":{},"exp":{}}})", principal, now.time_since_epoch().count(),
                  expires.time_since_epoch().count());
  return OAuthBearerToken{.value = base64url(R"({"alg":"none"})") + "." + base64url(claims) + ".",
                          .expires_at = expires,
                          .principal = principal};
}

ConnectionConfig oauth(OAuthBearerTokenCallback callback) {
  ConnectionConfig c;
  c.bootstrap_servers = *sft::env_value("STREAMFRAME_TEST_SECURED_BROKERS");
  c.security_protocol = SecurityProtocol::sasl_ssl;
  c.sasl_mechanism = SaslMechanism::oauthbearer;
  c.sasl_oauthbearer_config = "scope=streams";
  c.ssl_ca_location = *sft::env_value("STREAMFRAME_TEST_KAFKA_CA");
  c.oauth_token_callback = std::move(callback);
  return c;
}

TEST(SecuredBroker, OAuthTokenCallbackAuthenticatesExactlyOnce) {
  REQUIRE_SECURED_BROKER();
  std::atomic<int> calls{0};
  std::mutex seen_mutex;
  std::string seen_config;
  const auto callback = [&](const std::string& config) {
    ++calls;
    const std::lock_guard lock(seen_mutex);
    seen_config = config;
    return unsecured_token("alice", 60s);
  };
  const std::string group = sft::unique_name("oauth-eos");
  ApplicationConfig cfg = secured_config(group, oauth(callback));
  cfg.processing_guarantee = ProcessingGuarantee::exactly_once;
  cfg.commit_interval = 200ms;
  cfg.state_dir = (std::filesystem::path(::testing::TempDir()) / group).string();
  Application app(cfg);
  const Topic in = app.topic(group + "-in");
  const Topic out = app.topic(group + "-out");
  produce_numbered(app, in, 100, 5);
  app.dataframe(in).to_topic(out);
  ASSERT_EQ(app.run({.timeout = 60s, .count = 100, .collect = false}).size(), 0u);
  EXPECT_EQ(read_back(group + "-reader", oauth(callback), out.name(), 100), 100u);
  EXPECT_GE(calls.load(), 2);  // every client handle asks for its own token
  {
    const std::lock_guard lock(seen_mutex);
    EXPECT_EQ(seen_config, "scope=streams");
  }
  std::filesystem::remove_all(cfg.state_dir);
}

TEST(SecuredBroker, AThrowingOAuthTokenCallbackIsAKafkaAuthenticationError) {
  REQUIRE_SECURED_BROKER();
  const auto callback = [](const std::string&) -> OAuthBearerToken {
    throw std::runtime_error("token service at idp.example is down");
  };
  bool typed = false;
  const auto [error, seconds] = refused(oauth(callback), sft::unique_name("oauth-throw"), typed);
  EXPECT_TRUE(typed) << error;
  EXPECT_LT(seconds, 15) << error;
  EXPECT_NE(error.find("token service at idp.example is down"), std::string::npos) << error;
  EXPECT_NE(error.find(*sft::env_value("STREAMFRAME_TEST_SECURED_BROKERS")), std::string::npos)
      << error;
}

TEST(SecuredBroker, ATokenThatLibrdkafkaRefusesIsAKafkaAuthenticationError) {
  REQUIRE_SECURED_BROKER();
  const auto callback = [](const std::string&) {
    OAuthBearerToken token = unsecured_token("alice", 60s);
    token.expires_at = std::chrono::system_clock::now() - 1min;  // librdkafka refuses it
    return token;
  };
  bool typed = false;
  const auto [error, seconds] = refused(oauth(callback), sft::unique_name("oauth-bad"), typed);
  EXPECT_TRUE(typed) << error;
  EXPECT_LT(seconds, 15) << error;
  EXPECT_NE(error.find("refused"), std::string::npos) << error;
}

TEST(SecuredBroker, AnOAuthTokenCallbackThatFailsMidRunStopsTheRun) {
  REQUIRE_SECURED_BROKER();
  // Tokens live 4 s and are refreshed at 80 % of that; from 2 s on the callback throws, so the
  // first refresh fails while the run is going.
  const auto started = Clock::now();
  std::atomic<int> failures{0};
  const auto callback = [&](const std::string&) {
    if (Clock::now() - started > 2s) {
      ++failures;
      throw std::runtime_error("refresh token revoked");
    }
    return unsecured_token("alice", 4s);
  };
  const std::string group = sft::unique_name("oauth-mid");
  ApplicationConfig cfg = secured_config(group, oauth(callback));
  std::string error;
  bool typed = false;
  double seconds = 0;
  {
    Application app(cfg);
    const Topic in = app.topic(group + "-in");
    produce_numbered(app, in, 1, 1);
    (void)app.dataframe(in);
    try {
      (void)app.run({.timeout = 60s});
    } catch (const KafkaAuthenticationError& e) {
      typed = true;
      error = e.what();
    } catch (const std::exception& e) {
      error = e.what();
    }
    seconds = seconds_since(started);
  }
  EXPECT_TRUE(typed) << error;
  EXPECT_NE(error.find("refresh token revoked"), std::string::npos) << error;
  // The first refresh is due at 3.2 s; the run must end soon after, not at its 60 s timeout.
  EXPECT_LT(seconds, 20) << error;
  EXPECT_GE(failures.load(), 1);
}

}  // namespace
