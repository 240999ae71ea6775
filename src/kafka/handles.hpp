// What streamframe keeps per librdkafka handle. librdkafka's certificate-check and token-refresh
// callbacks carry only the handle (its opaque belongs to the client class), so they find what
// they need here: one entry per handle address, which a new handle at a destroyed one's address
// takes over (a refusal counts only for the handle name that recorded it).
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <optional>
#include <string>

#include "kafka/config.hpp"

namespace streamframe::kafka {

class OAuthTokenSource;

// For a client handle just created from `config`; call right after rd_kafka_new(), before the
// handle is used. When the config names an OAUTHBEARER token source, serves the handle's token
// requests from it on librdkafka's background thread (replacing what a destroyed handle at the
// same address had). Returns that source (nullptr without one).
std::shared_ptr<OAuthTokenSource> adopt_handle(rd_kafka_t* rk, const Config& config);

// OpenSSL's reason for the last broker certificate `rk` refused, naming the broker; nothing
// when none was refused.
std::optional<std::string> refused_certificate(rd_kafka_t* rk);

namespace detail {
// Used by the certificate check of a handle's conf.
void record_refused_certificate(rd_kafka_t* rk, std::string reason);
// Used by make_conf() for the token source setting: the conf changes it needs.
void prepare_token_source_conf(rd_kafka_conf_t* conf);
}  // namespace detail

}  // namespace streamframe::kafka
