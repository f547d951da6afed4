#include "server/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "server/worker.h"

namespace treecached::server {

Connection::Connection(Worker& worker, int fd)
    : worker_(worker), fd_(fd), session_(worker.context(), worker.counters(), worker.limits()) {
  if (const unsigned seconds = worker.context().config.idle_timeout; seconds != 0) {
    idle_timeout_.tv_sec = static_cast<time_t>(seconds);
    read_timeout_ = &idle_timeout_;
  }
}

Connection::~Connection() {
  if (read_event_ != nullptr) {
    event_free(read_event_);
  }
  if (write_event_ != nullptr) {
    event_free(write_event_);
  }
  ::close(fd_);
  worker_.context().connections.current.fetch_sub(1, std::memory_order_relaxed);
}

bool Connection::start() {
  read_event_ =
      event_new(worker_.base(), fd_, EV_READ | EV_PERSIST, &Connection::on_readable, this);
  write_event_ =
      event_new(worker_.base(), fd_, EV_WRITE | EV_PERSIST, &Connection::on_writable, this);
  return read_event_ != nullptr && write_event_ != nullptr &&
         event_add(read_event_, read_timeout_) == 0;
}

void Connection::watch_reads() { event_add(read_event_, read_timeout_); }

void Connection::on_readable(evutil_socket_t, short what, void* self) noexcept {
  auto* connection = static_cast<Connection*>(self);
  if ((what & EV_TIMEOUT) != 0) {
    connection->close();  // idle past --idle-timeout
    return;
  }
  connection->handle_readable();
}

void Connection::on_writable(evutil_socket_t, short, void* self) noexcept {
  static_cast<Connection*>(self)->handle_writable();
}

void Connection::begin_drain() {
  draining_ = true;
  event_del(read_event_);
  // Take in what the client sent before the stop (bounded: a client that
  // keeps sending is not followed forever).
  constexpr size_t kDrainReadLimit = 16 * 1024 * 1024;
  for (size_t taken = 0; taken < kDrainReadLimit;) {
    size_t writable = 0;
    char* space = session_.prepare_read(writable);
    const ssize_t received = ::recv(fd_, space, writable, 0);
    if (received <= 0) {
      break;
    }
    session_.commit_read(static_cast<size_t>(received));
    taken += static_cast<size_t>(received);
    worker_.counters().add(Counter::kBytesRead, static_cast<uint64_t>(received));
  }
  if (writing_blocked_) {
    return;  // the write event carries on; serve() closes when done
  }
  serve();
}

void Connection::handle_readable() {
  size_t writable = 0;
  char* space = session_.prepare_read(writable);
  const ssize_t received = ::recv(fd_, space, writable, 0);
  if (received == 0) {
    close();
    return;
  }
  if (received < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      close();
    }
    return;
  }
  session_.commit_read(static_cast<size_t>(received));
  worker_.counters().add(Counter::kBytesRead, static_cast<uint64_t>(received));
  serve();
}

void Connection::handle_writable() {
  switch (flush()) {
    case Flush::kBlocked:
    case Flush::kClosed:
      return;
    case Flush::kDone:
      break;
  }
  writing_blocked_ = false;
  event_del(write_event_);
  if (!draining_) {
    watch_reads();
  }
  serve();
}

void Connection::serve() {
  for (;;) {
    session_.process(worker_.context().clock.now());
    if (session_.holds_output()) {
      return;  // the rest of a refused value's data is still to come
    }
    const Flush flushed = flush();
    if (flushed == Flush::kClosed) {
      return;
    }
    if (flushed == Flush::kBlocked) {
      writing_blocked_ = true;
      event_del(read_event_);
      event_add(write_event_, nullptr);
      return;
    }
    if (session_.state() == Session::State::kClosing) {
      close();
      return;
    }
    if (!session_.runnable()) {
      if (draining_) {
        close();  // everything sent before the stop is answered
        return;
      }
      session_.release_idle_buffers();
      return;
    }
    // Requests left behind by a full batch of output are served now.
  }
}

Connection::Flush Connection::flush() {
  for (std::string_view pending = session_.pending_output(); !pending.empty();
       pending = session_.pending_output()) {
    const ssize_t sent = ::send(fd_, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return Flush::kBlocked;
      }
      close();
      return Flush::kClosed;
    }
    session_.output_sent(static_cast<size_t>(sent));
    worker_.counters().add(Counter::kBytesWritten, static_cast<uint64_t>(sent));
  }
  return Flush::kDone;
}

void Connection::close() { worker_.remove(this); }

}  // namespace treecached::server
