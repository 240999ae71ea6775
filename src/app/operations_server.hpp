// The operations port (EXT-08, issue 18): GET /metrics (Prometheus text format 0.0.4),
// GET /health/live and GET /health/ready (200 or 503 with a JSON reason), served by
// civetweb's own threads. Nothing else is served (no files, no directory listing).
#pragma once

#include <functional>
#include <memory>
#include <string>

struct mg_context;
struct mg_connection;

namespace streamframe::detail {

class OperationsServer {
 public:
  struct Response {
    int status = 200;
    std::string content_type;
    std::string body;
  };
  using Handler = std::function<Response()>;

  // Initializes civetweb once per process. Its mg_init_library() is not thread-safe: two
  // first calls at the same time (a server started on a run() thread while the program's own
  // civetweb client starts) can corrupt its global mutex. Application's constructor calls this
  // on its own thread, before any run() thread exists; the server's constructor calls it too.
  static void init_library();
  // Listens on `bind_address`:`port` at once; a port that cannot be bound => ConfigError
  // naming it and civetweb's reason. The handlers run on the server's threads.
  OperationsServer(const std::string& bind_address, int port, Handler metrics, Handler live,
                   Handler ready);
  // Stops listening and waits for requests in flight.
  ~OperationsServer();
  OperationsServer(const OperationsServer&) = delete;
  OperationsServer& operator=(const OperationsServer&) = delete;

 private:
  static int serve(mg_connection* conn, void* handler);

  Handler metrics_;
  Handler live_;
  Handler ready_;
  mg_context* ctx_ = nullptr;
};

}  // namespace streamframe::detail
