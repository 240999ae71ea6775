// A plain HTTP GET for tests (civetweb's client), and a free TCP port to listen on: the
// metrics endpoints (EXT-08) and Prometheus' query API are read through it.
#pragma once

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <mutex>
#include <string>

namespace streamframe::test {

struct HttpResponse {
  int status = 0;  // 0: no answer (error says why)
  std::string body;
  std::string error;
};

inline HttpResponse http_get(const std::string& host, int port, const std::string& path,
                             int timeout_ms = 5000) {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
  std::array<char, 256> error{};
  mg_connection* conn = mg_connect_client(host.c_str(), port, 0, error.data(), error.size());
  if (conn == nullptr) return {0, {}, error.data()};
  mg_printf(conn, "GET %s HTTP/1.0\r\nHost: %s:%d\r\n\r\n", path.c_str(), host.c_str(), port);
  HttpResponse r;
  if (mg_get_response(conn, error.data(), error.size(), timeout_ms) < 0) {
    mg_close_connection(conn);
    return {0, {}, error.data()};
  }
  r.status = mg_get_response_info(conn)->status_code;
  std::array<char, 8192> buf{};
  for (int n; (n = mg_read(conn, buf.data(), buf.size())) > 0;) r.body.append(buf.data(), n);
  mg_close_connection(conn);
  return r;
}

// "host:port" split for http_get.
inline std::pair<std::string, int> split_address(const std::string& address) {
  const auto colon = address.rfind(':');
  return {address.substr(0, colon), std::stoi(address.substr(colon + 1))};
}

// Query-string encoding of `text`.
inline std::string url_encode(const std::string& text) {
  std::string out(text.size() * 3 + 1, '\0');
  const int n = mg_url_encode(text.c_str(), out.data(), out.size());
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

// A TCP port nothing listens on now (the kernel's choice of an ephemeral one).
inline int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

}  // namespace streamframe::test
