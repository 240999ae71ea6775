// OAUTHBEARER tokens from the application's callback (APP-17). librdkafka asks for a token
// through a C callback on the client handle; Config is a list of string settings, so the
// callback travels as a source id under kOAuthTokenSourceKey, which make_conf() resolves.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "kafka/config.hpp"
#include "streamframe/connection.hpp"

namespace streamframe::kafka {

inline constexpr std::string_view kOAuthTokenSourceKey = "streamframe.oauthbearer.token.source";

// One application's token callback, shared by all of its client handles. The callback runs on
// librdkafka's background thread: for the first connection, then at 80 % of each token's
// lifetime.
class OAuthTokenSource {
 public:
  static std::shared_ptr<OAuthTokenSource> create(OAuthBearerTokenCallback callback);
  // The live source with this id; nullptr when there is none.
  static std::shared_ptr<OAuthTokenSource> find(std::string_view id);
  ~OAuthTokenSource();
  OAuthTokenSource(const OAuthTokenSource&) = delete;
  OAuthTokenSource& operator=(const OAuthTokenSource&) = delete;

  // The value to put in a Config under kOAuthTokenSourceKey.
  const std::string& id() const noexcept { return id_; }

  // The first failure of the callback (it threw, or returned a token librdkafka refused) as a
  // KafkaAuthenticationError; nothing when the callback has not failed.
  void throw_if_failed() const;

  // The bootstrap servers its failures name; the first client's are kept.
  void note_brokers(std::string_view brokers);

  // Asks the callback for a token and hands it (or the failure) to `rk`.
  void refresh(rd_kafka_t* rk, const char* oauthbearer_config);

 private:
  explicit OAuthTokenSource(OAuthBearerTokenCallback callback);
  void fail(rd_kafka_t* rk, const std::string& reason);

  OAuthBearerTokenCallback callback_;
  std::string id_;
  mutable std::mutex mutex_;
  std::string failure_;  // empty while the callback has not failed
  std::string brokers_;
};

}  // namespace streamframe::kafka
