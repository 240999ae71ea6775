#include "app/operations_server.hpp"

#include <civetweb.h>
#include <fmt/format.h>

#include <array>
#include <cstring>
#include <mutex>

#include "core/logging.hpp"
#include "streamframe/errors.hpp"

namespace streamframe::detail {

namespace {

void send(mg_connection* conn, const OperationsServer::Response& r) {
  mg_response_header_start(conn, r.status);
  mg_response_header_add(conn, "Content-Type", r.content_type.c_str(), -1);
  const std::string length = std::to_string(r.body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  mg_response_header_send(conn);
  const mg_request_info* info = mg_get_request_info(conn);
  if (info != nullptr && std::strcmp(info->request_method, "HEAD") == 0) return;
  mg_write(conn, r.body.data(), r.body.size());
}

}  // namespace

void OperationsServer::init_library() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

OperationsServer::OperationsServer(const std::string& bind_address, int port, Handler metrics,
                                   Handler live, Handler ready)
    : metrics_(std::move(metrics)), live_(std::move(live)), ready_(std::move(ready)) {
  init_library();
  const std::string listen = fmt::format("{}:{}", bind_address, port);
  // Two threads: a scrape and a probe at the same time; request handling is short.
  const std::array<const char*, 9> options{
      "listening_ports",          listen.c_str(), "num_threads", "2", "request_timeout_ms", "10000",
      "enable_directory_listing", "no",           nullptr};
  mg_callbacks callbacks{};
  // civetweb logs to stderr unless told otherwise; its messages go to our logger instead.
  callbacks.log_message = [](const mg_connection*, const char* message) {
    logger()->debug("metrics server: {}", message);
    return 1;
  };
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = const_cast<const char**>(options.data());
  std::array<char, 256> text{};
  unsigned code = 0;
  mg_error_data error{};
  error.code = &code;
  error.text = text.data();
  error.text_buffer_size = text.size();
  ctx_ = mg_start2(&init, &error);
  if (ctx_ == nullptr) {
    throw ConfigError(fmt::format("metrics_port {}: cannot listen on {} ({})", port, listen,
                                  text[0] != '\0' ? text.data() : "civetweb could not start"));
  }
  mg_set_request_handler(ctx_, "/metrics$", &OperationsServer::serve, &metrics_);
  mg_set_request_handler(ctx_, "/health/live$", &OperationsServer::serve, &live_);
  mg_set_request_handler(ctx_, "/health/ready$", &OperationsServer::serve, &ready_);
  logger()->info("metrics and health endpoints on http://{}/metrics, /health/live, /health/ready",
                 listen);
}

OperationsServer::~OperationsServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

int OperationsServer::serve(mg_connection* conn, void* handler) {
  const mg_request_info* info = mg_get_request_info(conn);
  if (info == nullptr || (std::strcmp(info->request_method, "GET") != 0 &&
                          std::strcmp(info->request_method, "HEAD") != 0)) {
    send(conn, {405, "text/plain; charset=utf-8", "only GET and HEAD are served\n"});
    return 405;
  }
  Response r;
  try {
    r = (*static_cast<Handler*>(handler))();
  } catch (const std::exception& e) {
    r = {500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
  }
  send(conn, r);
  return r.status;
}

}  // namespace streamframe::detail
