// Why a broker's certificate was refused. librdkafka 2.0.2 words every verification failure
// "certificate verify failed"; OpenSSL's own result says which ("certificate has expired",
// "unable to get local issuer certificate"), and an operator needs that to act.
#pragma once

#include <librdkafka/rdkafka.h>

#include <optional>
#include <string>

namespace streamframe::kafka {

// OpenSSL's reason for the last broker certificate `rk` refused, naming the broker; nothing
// when none was refused.
std::optional<std::string> refused_certificate(rd_kafka_t* rk);

// Forgets what a destroyed handle at the same address recorded: call right after rd_kafka_new.
void forget_refused_certificate(rd_kafka_t* rk);

namespace detail {
// Used by make_conf(): records OpenSSL's verification result, deciding nothing differently.
void prepare_certificate_check(rd_kafka_conf_t* conf);
}  // namespace detail

}  // namespace streamframe::kafka
