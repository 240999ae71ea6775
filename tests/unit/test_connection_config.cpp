// APP-17: ConnectionConfig maps onto librdkafka's settings, and back; a properties file reads
// into it; settings that cannot work are ConfigError at construction, naming the field. (The
// secured broker itself: integration/test_secured_broker.cpp.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "streamframe/streamframe.hpp"

namespace {

using namespace streamframe;

TEST(ConnectionConfig, MapsOntoLibrdkafkaSettings) {
  ConnectionConfig c;
  c.bootstrap_servers = "b1:9093,b2:9093";
  c.security_protocol = SecurityProtocol::sasl_ssl;
  c.sasl_mechanism = SaslMechanism::scram_sha_512;
  c.sasl_username = "alice";
  c.sasl_password = "s3cret";
  c.ssl_ca_location = "/etc/ca.pem";
  c.ssl_endpoint_identification_algorithm = "NONE";
  c.extra["client.rack"] = "r1";
  const std::map<std::string, std::string> expected{
      {"bootstrap.servers", "b1:9093,b2:9093"},
      {"security.protocol", "sasl_ssl"},
      {"sasl.mechanism", "SCRAM-SHA-512"},
      {"sasl.username", "alice"},
      {"sasl.password", "s3cret"},
      {"ssl.ca.location", "/etc/ca.pem"},
      {"ssl.endpoint.identification.algorithm", "none"},
      {"client.rack", "r1"}};
  EXPECT_EQ(c.to_librdkafka(), expected);

  ConnectionConfig tls;
  tls.bootstrap_servers = "b:9093";
  tls.security_protocol = SecurityProtocol::ssl;
  tls.ssl_certificate_location = "/c.pem";
  tls.ssl_key_location = "/k.pem";
  tls.ssl_key_password = "kp";
  tls.enable_ssl_certificate_verification = false;
  const auto t = tls.to_librdkafka();
  EXPECT_EQ(t.at("security.protocol"), "ssl");
  EXPECT_EQ(t.at("ssl.certificate.location"), "/c.pem");
  EXPECT_EQ(t.at("ssl.key.location"), "/k.pem");
  EXPECT_EQ(t.at("ssl.key.password"), "kp");
  EXPECT_EQ(t.at("enable.ssl.certificate.verification"), "false");

  ConnectionConfig oidc;
  oidc.bootstrap_servers = "b:9093";
  oidc.security_protocol = SecurityProtocol::sasl_ssl;
  oidc.sasl_mechanism = SaslMechanism::oauthbearer;
  oidc.sasl_oauthbearer_token_endpoint_url = "https://idp/token";
  oidc.sasl_oauthbearer_client_id = "app";
  oidc.sasl_oauthbearer_client_secret = "cs";
  const auto o = oidc.to_librdkafka();
  EXPECT_EQ(o.at("sasl.mechanism"), "OAUTHBEARER");
  EXPECT_EQ(o.at("sasl.oauthbearer.method"), "oidc");
  EXPECT_EQ(o.at("sasl.oauthbearer.token.endpoint.url"), "https://idp/token");
  EXPECT_EQ(o.at("sasl.oauthbearer.client.secret"), "cs");
}

TEST(ConnectionConfig, ReadsLibrdkafkaSettingsAndPropertiesFiles) {
  const auto c = ConnectionConfig::from_librdkafka({{"bootstrap_servers", "b:1"},
                                                    {"security.protocol", "SASL_SSL"},
                                                    {"sasl.mechanisms", "scram-sha-256"},
                                                    {"sasl.username", "u"},
                                                    {"sasl.password", "p"},
                                                    {"ssl.ca.location", "/ca"},
                                                    {"socket.keepalive.enable", "true"}});
  EXPECT_EQ(c.bootstrap_servers, "b:1");
  EXPECT_EQ(c.security_protocol, SecurityProtocol::sasl_ssl);
  EXPECT_EQ(c.sasl_mechanism, SaslMechanism::scram_sha_256);
  EXPECT_EQ(c.sasl_username, "u");
  EXPECT_EQ(c.sasl_password, "p");
  EXPECT_EQ(c.ssl_ca_location, "/ca");
  EXPECT_EQ(c.extra.at("socket.keepalive.enable"), "true");
  // Round trip.
  EXPECT_EQ(ConnectionConfig::from_librdkafka(c.to_librdkafka()).to_librdkafka(),
            c.to_librdkafka());

  const auto path = std::filesystem::path(::testing::TempDir()) / "client.properties";
  {
    std::ofstream out(path);
    out << "# a comment\n! another\n\nbootstrap.servers = b:2\nsecurity.protocol=SSL\n"
           "ssl.ca.location=/x/ca.crt\n";
  }
  const auto f = ConnectionConfig::from_properties_file(path.string());
  EXPECT_EQ(f.bootstrap_servers, "b:2");
  EXPECT_EQ(f.security_protocol, SecurityProtocol::ssl);
  EXPECT_EQ(f.ssl_ca_location, "/x/ca.crt");
  {
    std::ofstream out(path);
    out << "sasl.password\n";
  }
  EXPECT_THROW((void)ConnectionConfig::from_properties_file(path.string()), ConfigError);
  EXPECT_THROW((void)ConnectionConfig::from_properties_file("/no/such/file.properties"),
               ConfigError);
  EXPECT_THROW((void)ConnectionConfig::from_librdkafka({{"security.protocol", "tls"}}),
               ConfigError);
  EXPECT_THROW((void)ConnectionConfig::from_librdkafka({{"sasl.mechanism", "GSSAPI"}}),
               ConfigError);
}

TEST(ConnectionConfig, SettingsThatCannotWorkAreConfigErrors) {
  // A mechanism without a SASL protocol would connect in plaintext and never authenticate.
  ConnectionConfig no_protocol;
  no_protocol.bootstrap_servers = "b:1";
  no_protocol.sasl_mechanism = SaslMechanism::plain;
  no_protocol.sasl_username = "u";
  no_protocol.sasl_password = "p";
  try {
    (void)no_protocol.to_librdkafka();
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("security_protocol"), std::string::npos) << e.what();
  }
  ConnectionConfig no_password;
  no_password.bootstrap_servers = "b:1";
  no_password.security_protocol = SecurityProtocol::sasl_ssl;
  no_password.sasl_mechanism = SaslMechanism::scram_sha_256;
  no_password.sasl_username = "u";
  EXPECT_THROW((void)no_password.to_librdkafka(), ConfigError);
  ConnectionConfig bad_algorithm;
  bad_algorithm.bootstrap_servers = "b:1";
  bad_algorithm.ssl_endpoint_identification_algorithm = "dns";
  EXPECT_THROW((void)bad_algorithm.to_librdkafka(), ConfigError);

  // A token callback needs OAUTHBEARER, and is the only source of tokens; it is no librdkafka
  // setting.
  ConnectionConfig callback;
  callback.bootstrap_servers = "b:1";
  callback.security_protocol = SecurityProtocol::sasl_ssl;
  callback.sasl_mechanism = SaslMechanism::oauthbearer;
  callback.sasl_oauthbearer_config = "scope=x";
  callback.oauth_token_callback = [](const std::string&) { return OAuthBearerToken{}; };
  const auto mapped = callback.to_librdkafka();
  EXPECT_EQ(mapped.at("sasl.mechanism"), "OAUTHBEARER");
  EXPECT_EQ(mapped.at("sasl.oauthbearer.config"), "scope=x");
  for (const auto& [k, v] : mapped) EXPECT_EQ(k.find("streamframe"), std::string::npos) << k;
  ConnectionConfig wrong_mechanism = callback;
  wrong_mechanism.sasl_mechanism = SaslMechanism::scram_sha_256;
  wrong_mechanism.sasl_username = "u";
  wrong_mechanism.sasl_password = "p";
  EXPECT_THROW((void)wrong_mechanism.to_librdkafka(), ConfigError);
  ConnectionConfig two_sources = callback;
  two_sources.enable_sasl_oauthbearer_unsecure_jwt = true;
  EXPECT_THROW((void)two_sources.to_librdkafka(), ConfigError);
  two_sources = callback;
  two_sources.sasl_oauthbearer_token_endpoint_url = "https://idp.example/token";
  EXPECT_THROW((void)two_sources.to_librdkafka(), ConfigError);

  // At the Application: checked at construction; a broker_address that differs too.
  ApplicationConfig cfg;
  cfg.consumer_group = "g";
  cfg.install_signal_handlers = false;
  cfg.connection = no_protocol;
  EXPECT_THROW(Application{cfg}, ConfigError);
  cfg.connection = ConnectionConfig{.bootstrap_servers = "b:1"};
  cfg.broker_address = "other:2";
  EXPECT_THROW(Application{cfg}, ConfigError);
}

}  // namespace
