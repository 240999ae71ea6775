// Why a broker's certificate was refused. librdkafka 2.0.2 words every verification failure
// "certificate verify failed"; OpenSSL's own result says which ("certificate has expired",
// "unable to get local issuer certificate"), and an operator needs that to act.
#pragma once

#include <librdkafka/rdkafka.h>

namespace streamframe::kafka {

namespace detail {
// Used by make_conf(): records OpenSSL's verification result for the handle (read back with
// refused_certificate() of kafka/handles.hpp), deciding nothing differently.
void prepare_certificate_check(rd_kafka_conf_t* conf);
}  // namespace detail

}  // namespace streamframe::kafka
