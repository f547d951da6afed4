#include "server/worker.h"

#include <unistd.h>

#include <cstdio>
#include <stdexcept>

#include "server/connection.h"

namespace treecached::server {

Worker::Worker(ServerContext& context) : context_(context) {
  limits_ = parser_limits(context.config);
  base_ = event_base_new();
  if (base_ == nullptr) {
    throw std::runtime_error("event_base_new failed");
  }
  handover_event_ = event_new(base_, -1, 0, &Worker::on_handover, this);
  stop_event_ = event_new(base_, -1, 0, &Worker::on_stop, this);
  if (handover_event_ == nullptr || stop_event_ == nullptr) {
    for (event* created : {handover_event_, stop_event_}) {
      if (created != nullptr) {
        event_free(created);
      }
    }
    event_base_free(base_);
    throw std::runtime_error("event_new failed");
  }
}

Worker::~Worker() {
  stop();
  connections_.clear();
  for (int fd : pending_fds_) {
    ::close(fd);
    context_.connections.current.fetch_sub(1, std::memory_order_relaxed);
  }
  event_free(handover_event_);
  event_free(stop_event_);
  if (drain_timer_ != nullptr) {
    event_free(drain_timer_);
  }
  event_base_free(base_);
}

void Worker::start() {
  thread_ = std::thread([this] { event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY); });
}

void Worker::begin_stop() {
  if (thread_.joinable() && !stop_requested_) {
    // An activated event survives until the loop runs, unlike a loopbreak
    // request made before the thread has entered its loop.
    stop_requested_ = true;
    event_active(stop_event_, EV_READ, 0);
  }
}

void Worker::stop() {
  if (thread_.joinable()) {
    begin_stop();
    thread_.join();
  }
}

void Worker::on_stop(evutil_socket_t, short, void* self) noexcept {
  static_cast<Worker*>(self)->drain();
}

void Worker::drain() {
  draining_ = true;
  adopt_pending();  // closes them: accepted too late to be served
  std::vector<Connection*> open;
  open.reserve(connections_.size());
  for (const auto& entry : connections_) {
    open.push_back(entry.first);
  }
  for (Connection* connection : open) {
    connection->begin_drain();  // may close it
  }
  if (connections_.empty()) {
    event_base_loopbreak(base_);
    return;
  }
  drain_timer_ = evtimer_new(base_, &Worker::on_drain_timeout, this);
  const timeval limit = {kDrainSeconds, 0};
  if (drain_timer_ == nullptr || evtimer_add(drain_timer_, &limit) != 0) {
    event_base_loopbreak(base_);
  }
}

void Worker::on_drain_timeout(evutil_socket_t, short, void* self) noexcept {
  event_base_loopbreak(static_cast<Worker*>(self)->base_);
}

void Worker::hand_over(int fd) {
  {
    storage::MutexLock lock(pending_mu_);
    pending_fds_.push_back(fd);
  }
  event_active(handover_event_, EV_READ, 0);
}

void Worker::on_handover(evutil_socket_t, short, void* self) noexcept {
  static_cast<Worker*>(self)->adopt_pending();
}

void Worker::adopt_pending() {
  std::vector<int> fds;
  {
    storage::MutexLock lock(pending_mu_);
    fds.swap(pending_fds_);
  }
  for (int fd : fds) {
    if (draining_) {
      ::close(fd);
      context_.connections.current.fetch_sub(1, std::memory_order_relaxed);
      continue;
    }
    auto connection = std::make_unique<Connection>(*this, fd);
    Connection* raw = connection.get();
    connections_.emplace(raw, std::move(connection));
    if (!raw->start()) {
      remove(raw);
    }
  }
}

void Worker::remove(Connection* connection) {
  connections_.erase(connection);
  if (draining_ && connections_.empty()) {
    event_base_loopbreak(base_);
  }
}

}  // namespace treecached::server
