#pragma once

#include <event2/event.h>
#include <event2/listener.h>

#include <memory>
#include <vector>

#include "server/config.h"
#include "server/context.h"
#include "server/worker.h"
#include "storage/store.h"

namespace treecached::server {

// The acceptor plus its workers. run() serves until SIGINT, SIGTERM or an
// enabled `shutdown` command, then stops every worker and returns.
class Server {
 public:
  explicit Server(const Config& config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and serves; throws std::runtime_error if the address cannot be used.
  void run();
  // Safe from any thread.
  void request_shutdown();

 private:
  static void on_accept(evconnlistener* listener, evutil_socket_t fd, sockaddr* address, int length,
                        void* self) noexcept;
  static void on_stop(evutil_socket_t, short, void* self) noexcept;
  static void on_sweep(evutil_socket_t, short, void* self) noexcept;
  void accept_connection(evutil_socket_t fd);
  void listen();

  const Config& config_;
  storage::Store store_;
  ServerContext context_;
  std::vector<std::unique_ptr<Worker>> workers_;
  size_t next_worker_ = 0;
  event_base* base_ = nullptr;
  evconnlistener* listener_ = nullptr;
  event* stop_event_ = nullptr;
  event* sigint_event_ = nullptr;
  event* sigterm_event_ = nullptr;
  event* sweep_event_ = nullptr;
};

}  // namespace treecached::server
