#include "streamframe/connection.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "streamframe/errors.hpp"

namespace streamframe {

namespace {

const char* protocol_name(SecurityProtocol p) {
  switch (p) {
    case SecurityProtocol::plaintext:
      return "plaintext";
    case SecurityProtocol::ssl:
      return "ssl";
    case SecurityProtocol::sasl_plaintext:
      return "sasl_plaintext";
    case SecurityProtocol::sasl_ssl:
      return "sasl_ssl";
  }
  throw ConfigError("ConnectionConfig::security_protocol has an unknown value");
}

const char* mechanism_name(SaslMechanism m) {
  switch (m) {
    case SaslMechanism::plain:
      return "PLAIN";
    case SaslMechanism::scram_sha_256:
      return "SCRAM-SHA-256";
    case SaslMechanism::scram_sha_512:
      return "SCRAM-SHA-512";
    case SaslMechanism::oauthbearer:
      return "OAUTHBEARER";
  }
  throw ConfigError("ConnectionConfig::sasl_mechanism has an unknown value");
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  const auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

bool truthy(const std::string& key, const std::string& value) {
  const std::string v = lower(value);
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw ConfigError(fmt::format("{}: expected true or false, got '{}'", key, value));
}

}  // namespace

std::map<std::string, std::string> ConnectionConfig::to_librdkafka() const {
  std::map<std::string, std::string> out;
  if (!bootstrap_servers.empty()) out["bootstrap.servers"] = bootstrap_servers;
  if (security_protocol) out["security.protocol"] = protocol_name(*security_protocol);
  if (sasl_mechanism) out["sasl.mechanism"] = mechanism_name(*sasl_mechanism);
  const auto set = [&out](const char* key, const std::optional<std::string>& v) {
    if (v) out[key] = *v;
  };
  set("sasl.username", sasl_username);
  set("sasl.password", sasl_password);
  set("sasl.oauthbearer.config", sasl_oauthbearer_config);
  if (enable_sasl_oauthbearer_unsecure_jwt) out["enable.sasl.oauthbearer.unsecure.jwt"] = "true";
  if (sasl_oauthbearer_token_endpoint_url) {
    out["sasl.oauthbearer.method"] = "oidc";
    out["sasl.oauthbearer.token.endpoint.url"] = *sasl_oauthbearer_token_endpoint_url;
  }
  set("sasl.oauthbearer.client.id", sasl_oauthbearer_client_id);
  set("sasl.oauthbearer.client.secret", sasl_oauthbearer_client_secret);
  set("sasl.oauthbearer.scope", sasl_oauthbearer_scope);
  set("ssl.ca.location", ssl_ca_location);
  set("ssl.certificate.location", ssl_certificate_location);
  set("ssl.key.location", ssl_key_location);
  set("ssl.key.password", ssl_key_password);
  if (enable_ssl_certificate_verification) {
    out["enable.ssl.certificate.verification"] =
        *enable_ssl_certificate_verification ? "true" : "false";
  }
  if (ssl_endpoint_identification_algorithm) {
    const std::string a = lower(*ssl_endpoint_identification_algorithm);
    if (a != "https" && a != "none") {
      throw ConfigError(
          "ConnectionConfig::ssl_endpoint_identification_algorithm is 'https' or "
          "'none', not '" +
          *ssl_endpoint_identification_algorithm + "'");
    }
    out["ssl.endpoint.identification.algorithm"] = a;
  }
  if (sasl_mechanism && !security_protocol) {
    throw ConfigError(
        "ConnectionConfig: sasl_mechanism is set but security_protocol is not (sasl_ssl or "
        "sasl_plaintext); without it librdkafka would connect in plaintext and never "
        "authenticate");
  }
  if (security_protocol &&
      (*security_protocol == SecurityProtocol::sasl_ssl ||
       *security_protocol == SecurityProtocol::sasl_plaintext) &&
      (sasl_mechanism == SaslMechanism::plain || sasl_mechanism == SaslMechanism::scram_sha_256 ||
       sasl_mechanism == SaslMechanism::scram_sha_512) &&
      (!sasl_username || !sasl_password)) {
    throw ConfigError(
        fmt::format("ConnectionConfig: SASL mechanism {} needs sasl_username and "
                    "sasl_password",
                    mechanism_name(*sasl_mechanism)));
  }
  if (oauth_token_callback) {
    if (sasl_mechanism != SaslMechanism::oauthbearer) {
      throw ConfigError(
          "ConnectionConfig: oauth_token_callback is set but sasl_mechanism is not OAUTHBEARER");
    }
    if (enable_sasl_oauthbearer_unsecure_jwt || sasl_oauthbearer_token_endpoint_url) {
      throw ConfigError(
          "ConnectionConfig: oauth_token_callback excludes enable_sasl_oauthbearer_unsecure_jwt "
          "and sasl_oauthbearer_token_endpoint_url (librdkafka takes one source of tokens)");
    }
  }
  for (const auto& [k, v] : extra) out[k] = v;
  return out;
}

ConnectionConfig ConnectionConfig::from_librdkafka(
    const std::map<std::string, std::string>& settings) {
  ConnectionConfig c;
  for (const auto& [raw_key, value] : settings) {
    std::string key = raw_key;
    std::replace(key.begin(), key.end(), '_', '.');
    if (key == "bootstrap.servers") {
      c.bootstrap_servers = value;
    } else if (key == "security.protocol") {
      const std::string p = lower(value);
      if (p == "plaintext") {
        c.security_protocol = SecurityProtocol::plaintext;
      } else if (p == "ssl") {
        c.security_protocol = SecurityProtocol::ssl;
      } else if (p == "sasl_plaintext") {
        c.security_protocol = SecurityProtocol::sasl_plaintext;
      } else if (p == "sasl_ssl") {
        c.security_protocol = SecurityProtocol::sasl_ssl;
      } else {
        throw ConfigError("security.protocol '" + value +
                          "': expected plaintext, ssl, sasl_plaintext or sasl_ssl");
      }
    } else if (key == "sasl.mechanism" || key == "sasl.mechanisms") {
      const std::string m = lower(value);
      if (m == "plain") {
        c.sasl_mechanism = SaslMechanism::plain;
      } else if (m == "scram-sha-256") {
        c.sasl_mechanism = SaslMechanism::scram_sha_256;
      } else if (m == "scram-sha-512") {
        c.sasl_mechanism = SaslMechanism::scram_sha_512;
      } else if (m == "oauthbearer") {
        c.sasl_mechanism = SaslMechanism::oauthbearer;
      } else {
        throw ConfigError("sasl.mechanism '" + value +
                          "': expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER");
      }
    } else if (key == "sasl.username") {
      c.sasl_username = value;
    } else if (key == "sasl.password") {
      c.sasl_password = value;
    } else if (key == "sasl.oauthbearer.config") {
      c.sasl_oauthbearer_config = value;
    } else if (key == "enable.sasl.oauthbearer.unsecure.jwt") {
      c.enable_sasl_oauthbearer_unsecure_jwt = truthy(raw_key, value);
    } else if (key == "sasl.oauthbearer.token.endpoint.url") {
      c.sasl_oauthbearer_token_endpoint_url = value;
    } else if (key == "sasl.oauthbearer.client.id") {
      c.sasl_oauthbearer_client_id = value;
    } else if (key == "sasl.oauthbearer.client.secret") {
      c.sasl_oauthbearer_client_secret = value;
    } else if (key == "sasl.oauthbearer.scope") {
      c.sasl_oauthbearer_scope = value;
    } else if (key == "ssl.ca.location") {
      c.ssl_ca_location = value;
    } else if (key == "ssl.certificate.location") {
      c.ssl_certificate_location = value;
    } else if (key == "ssl.key.location") {
      c.ssl_key_location = value;
    } else if (key == "ssl.key.password") {
      c.ssl_key_password = value;
    } else if (key == "enable.ssl.certificate.verification") {
      c.enable_ssl_certificate_verification = truthy(raw_key, value);
    } else if (key == "ssl.endpoint.identification.algorithm") {
      c.ssl_endpoint_identification_algorithm = value;
    } else if (key != "sasl.oauthbearer.method") {  // implied by the token endpoint
      c.extra[raw_key] = value;
    }
  }
  return c;
}

ConnectionConfig ConnectionConfig::from_properties_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read the properties file '" + path + "'");
  std::map<std::string, std::string> settings;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == '!') continue;
    const auto eq = t.find('=');
    if (eq == std::string::npos) {
      throw ConfigError(fmt::format("{}:{}: expected key=value", path, n));
    }
    settings[trim(t.substr(0, eq))] = trim(t.substr(eq + 1));
  }
  return from_librdkafka(settings);
}

}  // namespace streamframe
