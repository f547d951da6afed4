#include "server/server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <string>

#include "protocol/reply.h"
#include "protocol/rules.h"

namespace treecached::server {
namespace {

// Every 100 ms the sweep visits 64 hash buckets of each shard: a few
// microseconds under each shard lock, and a full pass over a million items
// in well under a minute.
constexpr suseconds_t kSweepIntervalMicros = 100'000;
constexpr size_t kSweepBucketsPerTick = 64;

storage::StoreConfig store_config(const Config& config) {
  storage::StoreConfig store;
  store.memory_limit = config.memory_limit_mb * 1024 * 1024;
  store.evictions_enabled = config.evictions_enabled;
  store.max_item_size = config.max_item_size;
  store.rules.parse_number = &protocol::parse_u64;
  store.rules.item_fits = &protocol::fits_item_limit;
  return store;
}

std::string printable_address(const sockaddr_storage& address) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof host);
    port = ntohs(v6.sin6_port);
    return fmt::format("[{}]:{}", host, port);
  }
  const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
  inet_ntop(AF_INET, &v4.sin_addr, host, sizeof host);
  port = ntohs(v4.sin_port);
  return fmt::format("{}:{}", host, port);
}

}  // namespace

Server::Server(const Config& config)
    : config_(config), store_(store_config(config)), context_(config, store_) {
  context_.verbosity.store(config.verbosity, std::memory_order_relaxed);
  context_.request_shutdown = [this] { request_shutdown(); };
  base_ = event_base_new();
  if (base_ == nullptr) {
    throw std::runtime_error("event_base_new failed");
  }
  for (unsigned i = 0; i < config.threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(context_));
    context_.worker_counters.push_back(&workers_.back()->counters());
  }
}

Server::~Server() {
  workers_.clear();
  if (listener_ != nullptr) {
    evconnlistener_free(listener_);
  }
  for (event* e : {stop_event_, sigint_event_, sigterm_event_, sweep_event_}) {
    if (e != nullptr) {
      event_free(e);
    }
  }
  event_base_free(base_);
}

void Server::listen() {
  sockaddr_storage address{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (inet_pton(AF_INET, config_.listen_address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(config_.port);
    length = sizeof *v4;
  } else if (inet_pton(AF_INET6, config_.listen_address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(config_.port);
    length = sizeof *v6;
  } else {
    throw std::runtime_error("cannot parse listen address " + config_.listen_address);
  }
  const std::string spec = fmt::format("{}:{}", config_.listen_address, config_.port);
  listener_ = evconnlistener_new_bind(
      base_, &Server::on_accept, this, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
      reinterpret_cast<sockaddr*>(&address), static_cast<int>(length));
  if (listener_ == nullptr) {
    throw std::runtime_error(fmt::format("cannot listen on {}: {}", spec, std::strerror(errno)));
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  getsockname(evconnlistener_get_fd(listener_), reinterpret_cast<sockaddr*>(&bound), &bound_length);
  // Tests start the server with --port 0 and read the port from this line.
  std::printf("treecached listening on %s\n", printable_address(bound).c_str());
  std::fflush(stdout);
}

void Server::run() {
  // Signal handlers first: a SIGTERM right after the listening line must
  // still stop the server cleanly.
  stop_event_ = event_new(base_, -1, 0, &Server::on_stop, this);
  sigint_event_ = evsignal_new(base_, SIGINT, &Server::on_stop, this);
  sigterm_event_ = evsignal_new(base_, SIGTERM, &Server::on_stop, this);
  if (stop_event_ == nullptr || sigint_event_ == nullptr || sigterm_event_ == nullptr ||
      event_add(sigint_event_, nullptr) != 0 || event_add(sigterm_event_, nullptr) != 0) {
    throw std::runtime_error("cannot install signal handlers");
  }
  // The background sweep runs on this thread, which otherwise only accepts.
  sweep_event_ = event_new(base_, -1, EV_PERSIST, &Server::on_sweep, this);
  const timeval sweep_interval = {0, kSweepIntervalMicros};
  if (sweep_event_ == nullptr || event_add(sweep_event_, &sweep_interval) != 0) {
    throw std::runtime_error("cannot start the expiry sweep");
  }
  listen();
  for (auto& worker : workers_) {
    worker->start();
  }
  event_base_dispatch(base_);
  // Stop taking connections, then let the workers drain their connections,
  // all at once: the wait is one drain limit, not one per worker.
  evconnlistener_free(listener_);
  listener_ = nullptr;
  for (auto& worker : workers_) {
    worker->begin_stop();
  }
  for (auto& worker : workers_) {
    worker->stop();
  }
}

void Server::request_shutdown() { event_active(stop_event_, EV_READ, 0); }

void Server::on_stop(evutil_socket_t, short, void* self) noexcept {
  event_base_loopexit(static_cast<Server*>(self)->base_, nullptr);
}

void Server::on_sweep(evutil_socket_t, short, void* self) noexcept {
  auto* server = static_cast<Server*>(self);
  server->store_.sweep(server->context_.clock.now(), kSweepBucketsPerTick);
}

void Server::on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* self) noexcept {
  static_cast<Server*>(self)->accept_connection(fd);
}

void Server::accept_connection(evutil_socket_t fd) {
  ConnectionStats& conns = context_.connections;
  if (conns.current.load(std::memory_order_relaxed) >= config_.max_connections) {
    // memcached's answer to a connection over the limit.
    const std::string_view text = protocol::reply::kTooManyConnections;
    (void)!::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    ::close(fd);
    conns.rejected.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  conns.current.fetch_add(1, std::memory_order_relaxed);
  conns.total.fetch_add(1, std::memory_order_relaxed);
  workers_[next_worker_]->hand_over(fd);
  next_worker_ = (next_worker_ + 1) % workers_.size();
}

}  // namespace treecached::server
