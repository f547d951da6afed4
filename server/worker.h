#pragma once

#include <event2/event.h>

#include <cstdint>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "protocol/parser.h"
#include "server/context.h"
#include "server/stats.h"
#include "storage/mutex.h"

namespace treecached::server {

class Connection;

// A thread with its own event base serving the connections handed to it.
class Worker {
 public:
  explicit Worker(ServerContext& context);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  // Graceful stop: each connection answers the requests its client has
  // already sent and flushes its replies, then closes; the loop ends when
  // all are closed or after kDrainSeconds. begin_stop() starts that and
  // returns at once (so several workers drain together); stop() starts it
  // if needed and joins the thread.
  void begin_stop();
  void stop();
  static constexpr int kDrainSeconds = 5;
  // Called from the acceptor thread: the worker adopts the socket.
  void hand_over(int fd);

  // Used by connections, on this worker's thread only.
  [[nodiscard]] event_base* base() const noexcept { return base_; }
  [[nodiscard]] ServerContext& context() noexcept { return context_; }
  [[nodiscard]] WorkerCounters& counters() noexcept { return counters_; }
  [[nodiscard]] const protocol::ParserLimits& limits() const noexcept { return limits_; }
  // Closes and frees a connection.
  void remove(Connection* connection);

 private:
  static void on_handover(evutil_socket_t, short, void* self) noexcept;
  static void on_stop(evutil_socket_t, short, void* self) noexcept;
  static void on_drain_timeout(evutil_socket_t, short, void* self) noexcept;
  void adopt_pending();
  void drain();

  ServerContext& context_;
  WorkerCounters counters_;
  protocol::ParserLimits limits_;
  event_base* base_ = nullptr;
  event* handover_event_ = nullptr;
  event* stop_event_ = nullptr;
  event* drain_timer_ = nullptr;
  bool draining_ = false;
  bool stop_requested_ = false;  // acceptor thread only
  storage::Mutex pending_mu_;
  std::vector<int> pending_fds_ GUARDED_BY(pending_mu_);
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::thread thread_;
};

}  // namespace treecached::server
