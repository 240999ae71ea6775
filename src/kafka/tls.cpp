#include "kafka/tls.hpp"

#include <fmt/format.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cstring>

#include "kafka/handles.hpp"

namespace streamframe::kafka {

namespace {

// Called for each certificate of the broker's chain with OpenSSL's result for it: the same
// decision as without a callback (accept exactly what OpenSSL accepted), plus the reason.
int verify_certificate(rd_kafka_t* rk, const char* broker_name, std::int32_t /*broker_id*/,
                       int* x509_error, int depth, const char* /*der*/, std::size_t /*size*/,
                       char* errstr, std::size_t errstr_size, void* /*opaque*/) {
  if (*x509_error == X509_V_OK) return 1;
  const std::string reason =
      fmt::format("{}: the broker's certificate (chain depth {}) was refused: {}",
                  broker_name != nullptr ? broker_name : "?", depth,
                  X509_verify_cert_error_string(*x509_error));
  if (errstr_size > 0) {
    const std::size_t n = std::min(reason.size(), errstr_size - 1);
    std::memcpy(errstr, reason.data(), n);
    errstr[n] = '\0';
  }
  detail::record_refused_certificate(rk, reason);
  return 0;
}

}  // namespace

namespace detail {

void prepare_certificate_check(rd_kafka_conf_t* conf) {
  // RD_KAFKA_CONF_INVALID only in a build without TLS, where there is nothing to verify.
  (void)rd_kafka_conf_set_ssl_cert_verify_cb(conf, &verify_certificate);
}

}  // namespace detail

}  // namespace streamframe::kafka
