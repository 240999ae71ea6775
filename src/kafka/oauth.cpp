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

// librdkafka's callback carries only the handle (its opaque belongs to the client class), so
// handles find their source here. Entries of destroyed sources are pruned on the next attach; a
// reused handle address is overwritten by its own attach before any callback can run.
struct Registry {
  std::mutex mutex;
  std::map<std::string, std::weak_ptr<OAuthTokenSource>, std::less<>> by_id;
  std::map<rd_kafka_t*, std::weak_ptr<OAuthTokenSource>> by_handle;
};

Registry& registry() {
  static Registry r;
  return r;
}

void refresh_trampoline(rd_kafka_t* rk, const char* oauthbearer_config, void* /*opaque*/) {
  std::shared_ptr<OAuthTokenSource> source;
  {
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    if (const auto it = r.by_handle.find(rk); it != r.by_handle.end()) source = it->second.lock();
  }
  if (!source) {
    rd_kafka_oauthbearer_set_token_failure(rk,
                                           "the application's OAUTHBEARER token callback "
                                           "is gone (the application was destroyed)");
    return;
  }
  source->refresh(rk, oauthbearer_config);
}

}  // namespace

std::shared_ptr<OAuthTokenSource> OAuthTokenSource::create(OAuthBearerTokenCallback callback) {
  std::shared_ptr<OAuthTokenSource> source(new OAuthTokenSource(std::move(callback)));
  Registry& r = registry();
  const std::lock_guard lock(r.mutex);
  r.by_id[source->id_] = source;
  return source;
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

std::shared_ptr<OAuthTokenSource> attach_token_source(rd_kafka_t* rk, const Config& config) {
  const auto id = get_option(config, kOAuthTokenSourceKey);
  if (!id) return nullptr;
  std::shared_ptr<OAuthTokenSource> source;
  {
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    if (const auto it = r.by_id.find(*id); it != r.by_id.end()) source = it->second.lock();
    if (!source) {
      throw InvalidOperation(fmt::format("no OAUTHBEARER token source with id '{}'", *id));
    }
    std::erase_if(r.by_handle, [](const auto& entry) { return entry.second.expired(); });
    r.by_handle[rk] = source;
  }
  {
    const std::lock_guard lock(source->mutex_);
    if (source->brokers_.empty())
      source->brokers_ = get_option(config, "bootstrap.servers").value_or("");
  }
  // The token is needed before any connection, whoever polls the handle and when: the
  // background thread serves the refresh at once and at 80 % of each token's lifetime.
  if (rd_kafka_error_t* error = rd_kafka_sasl_background_callbacks_enable(rk)) {
    const std::string reason = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    throw ConfigError(fmt::format("cannot serve OAUTHBEARER token requests: {}", reason));
  }
  return source;
}

namespace detail {

void prepare_token_source_conf(rd_kafka_conf_t* conf) {
  rd_kafka_conf_enable_sasl_queue(conf, 1);
  rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf, &refresh_trampoline);
}

}  // namespace detail

}  // namespace streamframe::kafka
