// Compiled by the api.internals.<case> tests: a program using only the installed headers
// cannot reach the library's internals. `keep` uses the public API and must compile; every
// other case touches one internal and must fail with an access error.
#include <memory>
#include <streamframe/streamframe.hpp>

using namespace streamframe;

void use(StreamingDataFrame& sdf, const Series& s, const Aggregation& a) {
#if defined(CASE_keep)
  auto out = sdf.apply([](const Value& v) { return v; });
  (void)out;
  (void)s.describe();
  (void)a;
#elif defined(CASE_graph)
  (void)sdf.graph();
#elif defined(CASE_node)
  (void)sdf.node();
#elif defined(CASE_frame_ctor)
  StreamingDataFrame copy(nullptr, nullptr);
  (void)copy;
#elif defined(CASE_expr)
  (void)s.expr();
#elif defined(CASE_series_ctor)
  Series made(detail::ExprPtr{});
  (void)made;
#elif defined(CASE_spec)
  (void)a.spec();
#elif defined(CASE_state_ctor)
  detail::StateScope* scope = nullptr;
  State state(*scope);
  (void)state;
#endif
  (void)sdf;
}
