#pragma once

#include <event2/event.h>

#include <cstddef>
#include <cstdint>

#include "server/session.h"

namespace treecached::server {

class Worker;

// One client connection: the socket and its libevent events, around a
// Session that does everything else. Owned by its worker and used only on
// the worker's thread. Reads pipelined requests, answers each batch with one
// write, and stops reading while a reply cannot be sent (the client is not
// reading).
class Connection {
 public:
  Connection(Worker& worker, int fd);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Registers for reads; false if libevent refused.
  [[nodiscard]] bool start();
  // The server is stopping: answer what the client has sent so far, flush
  // the replies, then close. Reads nothing sent later. May close at once.
  void begin_drain();

 private:
  enum class Flush { kDone, kBlocked, kClosed };

  static void on_readable(evutil_socket_t fd, short what, void* self) noexcept;
  static void on_writable(evutil_socket_t fd, short what, void* self) noexcept;
  // Registers for reads again, with the idle timeout.
  void watch_reads();

  void handle_readable();
  void handle_writable();
  // Runs the session and sends its replies; repeats while requests remain
  // and the socket takes the output.
  void serve();
  Flush flush();
  void close();

  Worker& worker_;
  int fd_;
  // --idle-timeout for the read event; nullptr when off.
  timeval idle_timeout_{};
  const timeval* read_timeout_ = nullptr;
  event* read_event_ = nullptr;
  event* write_event_ = nullptr;
  Session session_;
  bool writing_blocked_ = false;
  bool draining_ = false;
};

}  // namespace treecached::server
