// How the application's clients connect to Kafka (APP-01, APP-17): a typed ConnectionConfig
// for secured clusters, as Quix Streams has it, mapped onto librdkafka's settings.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace streamframe {

enum class SecurityProtocol { plaintext, ssl, sasl_plaintext, sasl_ssl };
enum class SaslMechanism { plain, scram_sha_256, scram_sha_512, oauthbearer };

// What an OAUTHBEARER token callback returns: the token (often a JWT; never logged), when it
// expires, the principal it names, and optional SASL extensions (RFC 7628).
struct OAuthBearerToken {
  std::string value;
  std::chrono::system_clock::time_point expires_at{};
  std::string principal;
  std::map<std::string, std::string> extensions{};
};

// Called with sasl.oauthbearer.config whenever a client needs a token: before its first
// connection, then at 80 % of each token's lifetime. It runs on a librdkafka thread. A callback
// that throws (or returns a token librdkafka refuses) stops the application with a
// KafkaAuthenticationError carrying its message.
using OAuthBearerTokenCallback = std::function<OAuthBearerToken(const std::string& config)>;

struct ConnectionConfig {
  std::string bootstrap_servers;
  std::optional<SecurityProtocol> security_protocol{};
  std::optional<SaslMechanism> sasl_mechanism{};
  std::optional<std::string> sasl_username{};
  std::optional<std::string> sasl_password{};  // never logged
  // OAUTHBEARER without a token endpoint: librdkafka's unsecured JWT for tests and
  // development (sasl.oauthbearer.config, e.g. "principal=alice").
  std::optional<std::string> sasl_oauthbearer_config{};
  bool enable_sasl_oauthbearer_unsecure_jwt = false;
  // OAUTHBEARER with an OIDC token endpoint (sasl.oauthbearer.method=oidc).
  std::optional<std::string> sasl_oauthbearer_token_endpoint_url{};
  std::optional<std::string> sasl_oauthbearer_client_id{};
  std::optional<std::string> sasl_oauthbearer_client_secret{};  // never logged
  std::optional<std::string> sasl_oauthbearer_scope{};
  // OAUTHBEARER with tokens from the application (Quix's oauth_cb); excludes the unsecured JWT
  // and the token endpoint. Not a librdkafka setting: to_librdkafka() leaves it out.
  OAuthBearerTokenCallback oauth_token_callback{};
  // TLS: the CA that signed the brokers' certificates (PEM file), a client certificate and key
  // for mutual TLS.
  std::optional<std::string> ssl_ca_location{};
  std::optional<std::string> ssl_certificate_location{};
  std::optional<std::string> ssl_key_location{};
  std::optional<std::string> ssl_key_password{};  // never logged
  // false turns certificate verification off (test clusters only).
  std::optional<bool> enable_ssl_certificate_verification{};
  // "https" (check the broker's host name against its certificate, librdkafka's default) or
  // "none".
  std::optional<std::string> ssl_endpoint_identification_algorithm{};
  // Any other librdkafka client setting (e.g. "client.rack"), applied last.
  std::map<std::string, std::string> extra{};

  // The librdkafka settings this maps to (bootstrap.servers included). A value out of range
  // => ConfigError naming the field.
  std::map<std::string, std::string> to_librdkafka() const;
  // From librdkafka settings (dots or underscores in the names); a setting that is not a
  // connection setting goes to `extra`.
  static ConnectionConfig from_librdkafka(const std::map<std::string, std::string>& settings);
  // From a librdkafka/Java properties file (key=value lines, # and ! comments), as Kafka's
  // tools take --command-config. An unreadable file or a line without '=' => ConfigError.
  static ConnectionConfig from_properties_file(const std::string& path);
};

}  // namespace streamframe
