#include "kafka/oauth.hpp"

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <map>
#include <vector>

#include "kafka/logging.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::kafka {

namespace {

// Sources by id, for clients created from a Config that names one.
struct Registry {
  std::mutex mutex;
  std::map<std::string, std::weak_ptr<OAuthTokenSource>, std::less<>> by_id;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

std::shared_ptr<OAuthTokenSource> OAuthTokenSource::create(OAuthBearerTokenCallback callback) {
  std::shared_ptr<OAuthTokenSource> source(new OAuthTokenSource(std::move(callback)));
  Registry& r = registry();
  const std::lock_guard lock(r.mutex);
  r.by_id[source->id_] = source;
  return source;
}

std::shared_ptr<OAuthTokenSource> OAuthTokenSource::find(std::string_view id) {
  Registry& r = registry();
  const std::lock_guard lock(r.mutex);
  const auto it = r.by_id.find(id);
  return it != r.by_id.end() ? it->second.lock() : nullptr;
}

OAuthTokenSource::OAuthTokenSource(OAuthBearerTokenCallback callback)
    : callback_(std::move(callback)) {
  static std::atomic<unsigned long long> next{1};
  id_ = std::to_string(next.fetch_add(1));
}

OAuthTokenSource::~OAuthTokenSource() {
  Registry& r = registry();
  const std::lock_guard lock(r.mutex);
  r.by_id.erase(id_);
}

void OAuthTokenSource::throw_if_failed() const {
  const std::lock_guard lock(mutex_);
  if (failure_.empty()) return;
  throw KafkaAuthenticationError(
      RD_KAFKA_RESP_ERR__AUTHENTICATION,
      fmt::format("cannot authenticate to the Kafka cluster at '{}': {}", brokers_, failure_),
      false, true);
}

void OAuthTokenSource::note_brokers(std::string_view brokers) {
  const std::lock_guard lock(mutex_);
  if (brokers_.empty()) brokers_ = brokers;
}

void OAuthTokenSource::fail(rd_kafka_t* rk, const std::string& reason) {
  rd_kafka_oauthbearer_set_token_failure(rk, reason.c_str());
  const std::lock_guard lock(mutex_);
  if (failure_.empty()) failure_ = reason;
}

void OAuthTokenSource::refresh(rd_kafka_t* rk, const char* oauthbearer_config) {
  OAuthBearerToken token;
  try {
    token = callback_(oauthbearer_config != nullptr ? oauthbearer_config : "");
  } catch (const std::exception& e) {
    fail(rk, fmt::format("the OAUTHBEARER token callback failed: {}", e.what()));
    return;
  } catch (...) {
    fail(rk,
         "the OAUTHBEARER token callback failed with an exception that is not a "
         "std::exception");
    return;
  }
  std::vector<const char*> extensions;
  extensions.reserve(token.extensions.size() * 2);
  for (const auto& [k, v] : token.extensions) {
    extensions.push_back(k.c_str());
    extensions.push_back(v.c_str());
  }
  const auto lifetime_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(token.expires_at.time_since_epoch())
          .count();
  std::array<char, 512> errstr{};
  // The token itself is a secret: it is never part of a message.
  if (rd_kafka_oauthbearer_set_token(rk, token.value.c_str(), lifetime_ms, token.principal.c_str(),
                                     extensions.data(), extensions.size(), errstr.data(),
                                     errstr.size()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail(rk, fmt::format("the OAUTHBEARER token callback returned a token librdkafka refused: {}",
                         errstr.data()));
  }
}

}  // namespace streamframe::kafka
