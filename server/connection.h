#pragma once

#include <event2/event.h>

#include <cstddef>
#include <cstdint>

#include "protocol/parser.h"
#include "protocol/reply.h"
#include "server/executor.h"
#include "server/input_buffer.h"

namespace treecached::server {

class Worker;

// One client connection, owned by its worker and used only on the worker's
// thread. Reads pipelined requests, answers each batch with one write, and
// stops reading while a reply cannot be sent (the client is not reading).
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
  // Registers for reads again, with the idle timeout.
  void watch_reads();
  static void on_writable(evutil_socket_t fd, short what, void* self) noexcept;

  void handle_readable();
  void handle_writable();
  // Parses and executes buffered requests, then sends the replies; repeats
  // while requests remain and the socket takes the output.
  void serve();
  // Executes requests until the input runs dry or the output is full.
  // Returns false if the connection must close without replying further.
  bool process(uint32_t now);
  Flush flush();
  void close();

  Worker& worker_;
  int fd_;
  // --idle-timeout for the read event; nullptr when off.
  timeval idle_timeout_{};
  const timeval* read_timeout_ = nullptr;
  event* read_event_ = nullptr;
  event* write_event_ = nullptr;
  InputBuffer input_;
  protocol::OutputBuffer output_;
  size_t output_sent_ = 0;
  Executor executor_;
  size_t bytes_needed_ = 0;  // don't parse again before this many bytes
  size_t swallow_ = 0;       // data bytes of a refused value still to discard
  bool close_after_write_ = false;
  bool writing_blocked_ = false;
  bool draining_ = false;
};

}  // namespace treecached::server
