#include "server/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "server/worker.h"

namespace treecached::server {
namespace {

// Stop executing pipelined requests once this much output waits; the rest
// are served after the client has read it.
constexpr size_t kOutputHighWater = Executor::kOutputBatchBytes;
// Buffers grown for a big value are given back above these sizes. A
// streamed reply fills the output to the high-water mark plus one value, so
// the output keeps room for that without reallocating for every batch.
constexpr size_t kInputKeep = 64 * 1024;
constexpr size_t kOutputKeep = 2 * kOutputHighWater;

uint32_t wall_clock_seconds() noexcept { return static_cast<uint32_t>(std::time(nullptr)); }

}  // namespace

Connection::Connection(Worker& worker, int fd)
    : worker_(worker), fd_(fd), executor_(worker.context(), worker.counters()) {
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
    char* space = input_.prepare_read(input_.size() + 1, writable);
    const ssize_t received = ::recv(fd_, space, writable, 0);
    if (received <= 0) {
      break;
    }
    input_.commit(static_cast<size_t>(received));
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
  char* space = input_.prepare_read(bytes_needed_, writable);
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
  input_.commit(static_cast<size_t>(received));
  worker_.counters().add(Counter::kBytesRead, static_cast<uint64_t>(received));
  serve();
}

void Connection::handle_writable() {
  switch (flush()) {
    case Flush::kBlocked:
      return;
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
    const bool keep_open = process(wall_clock_seconds());
    if (keep_open && swallow_ > 0) {
      // memcached sends the reply to a refused value only once its data has
      // been swallowed; do the same so clients see identical timing.
      return;
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
    if (!keep_open || close_after_write_) {
      close();
      return;
    }
    // Requests left behind by the output high-water mark are served now.
    const bool more = executor_.streaming() ||
                      (swallow_ == 0 && input_.size() > 0 && input_.size() >= bytes_needed_);
    if (!more) {
      if (draining_) {
        close();  // everything sent before the stop is answered
        return;
      }
      input_.shrink_if_idle(kInputKeep);
      return;
    }
  }
}

bool Connection::process(uint32_t now) {
  while (!close_after_write_ && output_.size() < kOutputHighWater) {
    if (executor_.streaming()) {
      executor_.continue_stream(output_, kOutputHighWater);
      continue;
    }
    if (swallow_ > 0) {
      const size_t dropped = std::min(swallow_, input_.size());
      input_.consume(dropped);
      swallow_ -= dropped;
      if (swallow_ > 0) {
        return true;
      }
    }
    if (input_.size() == 0 || input_.size() < bytes_needed_) {
      return true;
    }
    protocol::Request request;
    const protocol::ParseResult result =
        protocol::parse_request(input_.unread(), request, worker_.limits());
    switch (result.status) {
      case protocol::ParseStatus::kNeedMore:
        bytes_needed_ = result.need;
        return true;
      case protocol::ParseStatus::kError:
        bytes_needed_ = 0;
        if (result.error == protocol::ParseError::kLineTooLong) {
          return false;
        }
        executor_.execute_error(result, request, output_, now);
        input_.consume(result.consumed);
        swallow_ = result.swallow;
        break;
      case protocol::ParseStatus::kOk:
        bytes_needed_ = 0;
        if (executor_.execute(request, output_, now) == Executor::Next::kCloseAfterWrite) {
          close_after_write_ = true;
        }
        input_.consume(result.consumed);
        break;
    }
  }
  return true;
}

Connection::Flush Connection::flush() {
  while (output_sent_ < output_.size()) {
    const ssize_t sent =
        ::send(fd_, output_.data() + output_sent_, output_.size() - output_sent_, MSG_NOSIGNAL);
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
    output_sent_ += static_cast<size_t>(sent);
    worker_.counters().add(Counter::kBytesWritten, static_cast<uint64_t>(sent));
  }
  output_sent_ = 0;
  if (output_.capacity() > kOutputKeep) {
    output_ = protocol::OutputBuffer();
  }
  output_.clear();
  return Flush::kDone;
}

void Connection::close() { worker_.remove(this); }

}  // namespace treecached::server
