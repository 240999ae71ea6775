#include "kafka/handles.hpp"

#include <fmt/format.h>

#include <map>
#include <mutex>

#include "kafka/oauth.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::kafka {

namespace {

struct HandleEntry {
  // The refusal and the name of the handle that recorded it. librdkafka connects from
  // rd_kafka_new() on, so a refusal may come before adopt_handle(); and a handle at the address
  // of a destroyed one must not see that one's: names (client.id#type-N) are never reused in a
  // process, addresses are.
  std::string refused_by;
  std::string refused_certificate;
  std::weak_ptr<OAuthTokenSource> token_source;
};

struct Handles {
  std::mutex mutex;
  std::map<rd_kafka_t*, HandleEntry> by_handle;
};

Handles& handles() {
  static Handles h;
  return h;
}

void refresh_token(rd_kafka_t* rk, const char* oauthbearer_config, void* /*opaque*/) {
  std::shared_ptr<OAuthTokenSource> source;
  {
    Handles& h = handles();
    const std::lock_guard lock(h.mutex);
    if (const auto it = h.by_handle.find(rk); it != h.by_handle.end())
      source = it->second.token_source.lock();
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

std::shared_ptr<OAuthTokenSource> adopt_handle(rd_kafka_t* rk, const Config& config) {
  std::shared_ptr<OAuthTokenSource> source;
  if (const auto id = get_option(config, kOAuthTokenSourceKey)) {
    source = OAuthTokenSource::find(*id);
    if (!source)
      throw InvalidOperation(fmt::format("no OAUTHBEARER token source with id '{}'", *id));
    source->note_brokers(get_option(config, "bootstrap.servers").value_or(""));
  }
  {
    Handles& h = handles();
    const std::lock_guard lock(h.mutex);
    h.by_handle[rk].token_source = source;  // replaces a destroyed handle's
  }
  if (!source) return nullptr;
  // The token is needed before any connection, whoever polls the handle and when: the
  // background thread serves the refresh at once and at 80 % of each token's lifetime.
  if (rd_kafka_error_t* error = rd_kafka_sasl_background_callbacks_enable(rk)) {
    const std::string reason = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    throw ConfigError(fmt::format("cannot serve OAUTHBEARER token requests: {}", reason));
  }
  return source;
}

std::optional<std::string> refused_certificate(rd_kafka_t* rk) {
  Handles& h = handles();
  const std::lock_guard lock(h.mutex);
  const auto it = h.by_handle.find(rk);
  if (it == h.by_handle.end() || it->second.refused_by != rd_kafka_name(rk)) return std::nullopt;
  return it->second.refused_certificate;
}

namespace detail {

void record_refused_certificate(rd_kafka_t* rk, std::string reason) {
  Handles& h = handles();
  const std::lock_guard lock(h.mutex);
  HandleEntry& e = h.by_handle[rk];
  e.refused_by = rd_kafka_name(rk);
  e.refused_certificate = std::move(reason);
}

void prepare_token_source_conf(rd_kafka_conf_t* conf) {
  rd_kafka_conf_enable_sasl_queue(conf, 1);
  rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf, &refresh_token);
}

}  // namespace detail

}  // namespace streamframe::kafka
