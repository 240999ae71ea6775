// RAII for libpq's handles, shared by the PostgreSQL lookup (src/joins) and sink
// (src/connectors). Include only where libpq is used.
#pragma once

#include <libpq-fe.h>

#include <memory>

namespace streamframe::detail {

struct PqConnCloser {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct PqResultClearer {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using PqConnPtr = std::unique_ptr<PGconn, PqConnCloser>;
using PqResultPtr = std::unique_ptr<PGresult, PqResultClearer>;

}  // namespace streamframe::detail
