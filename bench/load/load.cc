#include "bench/load/load.h"

#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "bench/load/rate.h"
#include "bench/load/reply_parser.h"

namespace treecached::bench {

namespace {

std::atomic<bool> g_stop{false};

uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

struct EventBaseDeleter {
  void operator()(event_base* base) const noexcept { event_base_free(base); }
};
struct EventDeleter {
  void operator()(event* ev) const noexcept { event_free(ev); }
};
using EventBasePtr = std::unique_ptr<event_base, EventBaseDeleter>;
using EventPtr = std::unique_ptr<event, EventDeleter>;

// Preload requests go this deep regardless of --pipeline: they are not measured.
constexpr uint32_t kPreloadDepth = 32;
constexpr size_t kInputBufferSize = size_t{128} * 1024;
constexpr timeval kTick = {0, 100'000};  // timeouts and --stop checks

// A blocking connect (loopback servers answer at once), then non-blocking with
// TCP_NODELAY. Returns -1 on failure, with the reason printed.
int connect_to(const Options& options) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options.port);
  if (const int rc = getaddrinfo(options.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    std::fprintf(stderr, "treecached-bench: %s: %s\n", options.host.c_str(), gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  int saved_errno = 0;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      saved_errno = errno;
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      break;
    }
    saved_errno = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  if (fd < 0) {
    std::fprintf(stderr, "treecached-bench: connect to %s:%u: %s\n", options.host.c_str(),
                 options.port, std::strerror(saved_errno));
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

class Worker;

// What a connection may do when it has room for another request.
enum class Take : uint8_t {
  kYes,     // send one now
  kNotYet,  // --rate: the next request is not due yet
  kNever,   // the phase has no more requests to send
};

// One TCP connection: keeps up to `depth` requests in flight, parses their
// replies in order and records each one's latency. Buffers are sized once.
class Connection {
 public:
  Connection(Worker& worker, int fd, uint64_t seed);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start(event_base* base);
  // Room for another request in flight.
  [[nodiscard]] bool has_room() const noexcept { return fd_ >= 0 && ring_count_ < depth_; }
  // Sends up to `limit` requests that are due (the --rate dispatcher).
  void send_due(uint32_t limit) {
    refill(limit);
    flush();
    finish_if_done();
  }
  // Closes the connection once nothing is in flight and nothing is left to send.
  void finish_if_done();
  // Fails the connection if requests wait longer than timeout_ns for a reply.
  void check_timeout(uint64_t now, uint64_t timeout_ns);
  [[nodiscard]] bool open() const noexcept { return fd_ >= 0; }

 private:
  struct InFlight {
    uint64_t sent_ns;  // latency counts from here: the send, or with --rate the scheduled time
    uint32_t keys;
    ReplyKind kind;
  };
  enum class Failure : uint8_t { kConnection, kProtocol };

  static void on_read(evutil_socket_t fd, short what, void* arg) noexcept;
  static void on_write(evutil_socket_t fd, short what, void* arg) noexcept;

  void read_replies();
  void complete(uint64_t now);
  void refill(uint32_t limit = UINT32_MAX);
  void append(const char* data, size_t size) noexcept {
    std::memcpy(out_.data() + out_len_, data, size);
    out_len_ += size;
  }
  void flush();
  void fail(Failure failure);
  void close_connection();

  Worker& worker_;
  const Workload& workload_;
  int fd_;
  uint32_t depth_;
  Rng rng_;
  EventPtr read_event_;
  EventPtr write_event_;
  bool write_pending_ = false;
  std::vector<char> out_;
  size_t out_len_ = 0;
  size_t out_sent_ = 0;
  std::vector<char> in_;
  size_t in_len_ = 0;
  std::vector<InFlight> ring_;
  size_t ring_head_ = 0;
  size_t ring_count_ = 0;
  uint64_t last_progress_ns_ = 0;
  ReplyParser parser_;
};

// One load thread: an event_base, its connections and its share of the work.
class Worker {
 public:
  // `rate`: requests/s this thread offers on a fixed schedule; 0 for a closed loop.
  Worker(const Workload& workload, PhaseKind kind, uint64_t requests, uint64_t first_key,
         uint64_t end_key, double rate)
      : workload_(workload),
        kind_(kind),
        requests_left_(requests),
        next_key_(first_key),
        end_key_(end_key),
        rate_(rate),
        base_(new_event_base(rate > 0)) {}

  void add_connection(int fd, uint64_t seed) {
    connections_.push_back(std::make_unique<Connection>(*this, fd, seed));
  }

  // The thread body: runs until every connection has finished. `start_ns`:
  // when the --rate schedule's first request is due.
  void run(uint64_t start_ns, uint64_t deadline_ns) {
    deadline_ns_ = deadline_ns;
    if (rate_ > 0) {
      schedule_.emplace(rate_, start_ns);
      due_timer_.reset(evtimer_new(base_.get(), &Worker::on_due, this));
    }
    open_ = connections_.size();  // start() may already finish some
    for (auto& connection : connections_) {
      connection->start(base_.get());
    }
    EventPtr tick(event_new(base_.get(), -1, EV_PERSIST, &Worker::on_tick, this));
    event_add(tick.get(), &kTick);
    if (schedule_) {
      dispatch();
    }
    if (open_ > 0) {
      event_base_dispatch(base_.get());
    }
    tick.reset();
    due_timer_.reset();
    connections_.clear();
    done_.store(true, std::memory_order_release);
  }

  // Takes one request from this thread's budget: its key for the preload,
  // and the time its latency counts from (now, or its scheduled time).
  [[nodiscard]] Take take(uint64_t now, uint64_t& key, uint64_t& sent_ns) noexcept {
    const Take next = peek(now);
    if (next != Take::kYes) {
      return next;
    }
    sent_ns = now;
    if (kind_ == PhaseKind::kPreload) {
      key = next_key_++;
    } else {
      if (deadline_ns_ == 0) {
        --requests_left_;
      }
      if (schedule_) {
        sent_ns = schedule_->take();
      }
    }
    return Take::kYes;
  }

  [[nodiscard]] bool no_more_requests() const noexcept { return peek(now_ns()) == Take::kNever; }

  // --rate: after replies have come in, arranges for the next due request
  // to be sent (or, when none will follow, lets idle connections close).
  void after_replies() {
    if (schedule_) {
      wait_for_due();
    }
  }

  void connection_closed() noexcept {
    if (--open_ == 0) {
      event_base_loopexit(base_.get(), nullptr);
    }
  }

  void replies_done(uint64_t count, uint64_t now) noexcept {
    last_reply_ns_ = now;
    completed_.fetch_add(count, std::memory_order_relaxed);
  }

  [[nodiscard]] const Workload& workload() const noexcept { return workload_; }
  [[nodiscard]] PhaseKind kind() const noexcept { return kind_; }
  [[nodiscard]] PhaseResult& result() noexcept { return result_; }
  [[nodiscard]] uint64_t completed() const noexcept {
    return completed_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool done() const noexcept { return done_.load(std::memory_order_acquire); }
  [[nodiscard]] uint64_t last_reply_ns() const noexcept { return last_reply_ns_; }

 private:
  static EventBasePtr new_event_base(bool precise_timer) {
    // --rate needs timers finer than epoll_wait's milliseconds (libevent then uses timerfd).
    event_config* config = event_config_new();
    if (config != nullptr && precise_timer) {
      event_config_set_flag(config, EVENT_BASE_FLAG_PRECISE_TIMER);
    }
    EventBasePtr base(config != nullptr ? event_base_new_with_config(config) : nullptr);
    if (config != nullptr) {
      event_config_free(config);
    }
    if (!base) {
      throw std::runtime_error("event_base_new failed");
    }
    return base;
  }

  [[nodiscard]] Take peek(uint64_t now) const noexcept {
    if (stopping_) {
      return Take::kNever;
    }
    if (kind_ == PhaseKind::kPreload) {
      return next_key_ < end_key_ ? Take::kYes : Take::kNever;
    }
    // With --rate, a request scheduled before the deadline is still sent.
    const uint64_t due_ns = schedule_ ? schedule_->next_due_ns() : now;
    if (deadline_ns_ != 0 ? due_ns >= deadline_ns_ : requests_left_ == 0) {
      return Take::kNever;
    }
    return due_ns <= now ? Take::kYes : Take::kNotYet;
  }

  static void on_due(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
    static_cast<Worker*>(arg)->dispatch();
  }

  // --rate: due requests go to connections with room, one each in turn.
  // Requests that find every connection busy wait for the next reply; their
  // latency counts from their scheduled time all the same.
  void dispatch() {
    const uint64_t now = now_ns();
    for (size_t busy = 0; busy < connections_.size() && peek(now) == Take::kYes;) {
      Connection& connection = *connections_[dispatch_cursor_];
      dispatch_cursor_ = (dispatch_cursor_ + 1) % connections_.size();
      if (connection.has_room()) {
        connection.send_due(1);
        busy = 0;
      } else {
        ++busy;
      }
    }
    wait_for_due();
  }

  void wait_for_due() {
    const uint64_t now = now_ns();
    switch (peek(now)) {
      case Take::kNever:
        for (auto& connection : connections_) {
          connection->finish_if_done();
        }
        return;
      case Take::kYes:
        // A backlog: the next reply's connection takes it, or, if a
        // connection is free already, the dispatcher runs at once.
        if (std::any_of(connections_.begin(), connections_.end(),
                        [](const auto& c) { return c->has_room(); })) {
          event_active(due_timer_.get(), EV_TIMEOUT, 1);
        }
        return;
      case Take::kNotYet:
        if (evtimer_pending(due_timer_.get(), nullptr) == 0) {
          const uint64_t wait_ns = schedule_->next_due_ns() - now;
          const timeval delay = {static_cast<time_t>(wait_ns / 1'000'000'000u),
                                 static_cast<suseconds_t>(wait_ns % 1'000'000'000u / 1000)};
          evtimer_add(due_timer_.get(), &delay);
        }
        return;
    }
  }

  static void on_tick(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
    auto* self = static_cast<Worker*>(arg);
    if (g_stop.load(std::memory_order_relaxed)) {
      self->stopping_ = true;
      self->after_replies();  // lets idle --rate connections close
    }
    const uint64_t now = now_ns();
    const auto timeout_ns = static_cast<uint64_t>(self->workload_.options().timeout * 1e9);
    for (auto& connection : self->connections_) {
      connection->check_timeout(now, timeout_ns);
    }
  }

  const Workload& workload_;
  PhaseKind kind_;
  uint64_t requests_left_;
  uint64_t next_key_;
  uint64_t end_key_;
  double rate_;
  std::optional<RateSchedule> schedule_;  // --rate, measured phase only
  EventPtr due_timer_;
  size_t dispatch_cursor_ = 0;
  uint64_t deadline_ns_ = 0;
  bool stopping_ = false;
  size_t open_ = 0;
  uint64_t last_reply_ns_ = 0;
  std::atomic<uint64_t> completed_{0};
  std::atomic<bool> done_{false};
  PhaseResult result_;
  EventBasePtr base_;
  std::vector<std::unique_ptr<Connection>> connections_;
};

Connection::Connection(Worker& worker, int fd, uint64_t seed)
    : worker_(worker),
      workload_(worker.workload()),
      fd_(fd),
      depth_(worker.kind() == PhaseKind::kPreload ? kPreloadDepth : workload_.options().pipeline),
      rng_(seed),
      out_(depth_ * workload_.max_request_size()),
      in_(kInputBufferSize),
      ring_(depth_) {}

Connection::~Connection() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

void Connection::start(event_base* base) {
  read_event_.reset(event_new(base, fd_, EV_READ | EV_PERSIST, &Connection::on_read, this));
  write_event_.reset(event_new(base, fd_, EV_WRITE, &Connection::on_write, this));
  event_add(read_event_.get(), nullptr);
  refill();
  flush();
  finish_if_done();
}

void Connection::on_read(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
  static_cast<Connection*>(arg)->read_replies();
}

void Connection::on_write(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
  auto* self = static_cast<Connection*>(arg);
  self->write_pending_ = false;
  self->flush();
}

void Connection::read_replies() {
  const ssize_t n = read(fd_, in_.data() + in_len_, in_.size() - in_len_);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      fail(Failure::kConnection);
    }
    return;
  }
  if (n == 0) {  // the server closed the connection while we still had work
    fail(Failure::kConnection);
    return;
  }
  in_len_ += static_cast<size_t>(n);
  const uint64_t now = now_ns();
  last_progress_ns_ = now;
  size_t pos = 0;
  uint64_t completed = 0;
  while (ring_count_ > 0) {
    size_t used = 0;
    const ReplyStatus status = parser_.parse({in_.data() + pos, in_len_ - pos}, used);
    pos += used;
    if (status == ReplyStatus::kNeedMore) {
      break;
    }
    if (status == ReplyStatus::kProtocolError) {
      fail(Failure::kProtocol);
      return;
    }
    complete(now);
    ++completed;
  }
  if (ring_count_ == 0 && pos < in_len_) {  // bytes nobody asked for
    fail(Failure::kProtocol);
    return;
  }
  if (pos > 0) {
    std::memmove(in_.data(), in_.data() + pos, in_len_ - pos);
    in_len_ -= pos;
  }
  if (completed > 0) {
    worker_.replies_done(completed, now);
  }
  refill();
  flush();
  finish_if_done();
  worker_.after_replies();
}

void Connection::complete(uint64_t now) {
  const InFlight& request = ring_[ring_head_];
  PhaseResult& result = worker_.result();
  ++result.requests;
  result.latency_ns.record(now - request.sent_ns);
  if (is_get(request.kind)) {
    ++result.gets;
    result.keys_requested += request.keys;
    result.hits += parser_.values();
  } else {
    ++result.sets;
    if (!parser_.stored() && !parser_.error()) {
      ++result.not_stored;
    }
  }
  if (parser_.error()) {
    ++result.error_replies;
  }
  ring_head_ = ring_head_ + 1 == ring_.size() ? 0 : ring_head_ + 1;
  --ring_count_;
  if (ring_count_ > 0) {
    parser_.start(ring_[ring_head_].kind);
  }
}

void Connection::refill(uint32_t limit) {
  if (fd_ < 0 || ring_count_ >= depth_) {
    return;
  }
  // Unsent bytes belong to requests in flight, so after compaction there is
  // room for depth_ - ring_count_ more requests.
  if (out_sent_ > 0) {
    std::memmove(out_.data(), out_.data() + out_sent_, out_len_ - out_sent_);
    out_len_ -= out_sent_;
    out_sent_ = 0;
  }
  const Options& options = workload_.options();
  const uint64_t now = now_ns();
  uint64_t key = 0;
  for (uint32_t taken = 0; ring_count_ < depth_ && taken < limit; ++taken) {
    uint64_t sent_ns = now;
    const Take next = worker_.take(now, key, sent_ns);
    if (next != Take::kYes) {
      break;
    }
    const bool meta = options.protocol == Protocol::kMeta;
    InFlight request{sent_ns, 1, meta ? ReplyKind::kMetaStore : ReplyKind::kStore};
    const bool preload = worker_.kind() == PhaseKind::kPreload;
    if (!preload && (options.get_ratio >= 1.0 || rng_.uniform() < options.get_ratio)) {
      request.keys = options.multiget;
      if (!meta) {
        request.kind = ReplyKind::kGet;
        append("get", 3);
        for (uint32_t i = 0; i < options.multiget; ++i) {
          append(" ", 1);
          append(workload_.key(workload_.sample_key(rng_)), options.key_size);
        }
        append("\r\n", 2);
      } else if (options.multiget == 1) {
        request.kind = ReplyKind::kMetaGet;
        append("mg ", 3);
        append(workload_.key(workload_.sample_key(rng_)), options.key_size);
        append(" v\r\n", 4);
      } else {
        // As Dalli sends a multi-get: quiet gets that return their key, then mn.
        request.kind = ReplyKind::kMetaMultiGet;
        for (uint32_t i = 0; i < options.multiget; ++i) {
          append("mg ", 3);
          append(workload_.key(workload_.sample_key(rng_)), options.key_size);
          append(" v k q\r\n", 8);
        }
        append("mn\r\n", 4);
      }
    } else {
      if (!preload) {
        key = workload_.sample_key(rng_);
      }
      if (meta) {
        append("ms ", 3);
      } else {
        append("set ", 4);
      }
      append(workload_.key(key), options.key_size);
      const std::string& tail = workload_.set_header_tail();
      append(tail.data(), tail.size());
      const std::string& block = workload_.value_block();
      append(block.data(), block.size());
    }
    if (ring_count_ == 0) {
      parser_.start(request.kind);
      last_progress_ns_ = now;
    }
    size_t slot = ring_head_ + ring_count_;
    if (slot >= ring_.size()) {
      slot -= ring_.size();
    }
    ring_[slot] = request;
    ++ring_count_;
  }
}

void Connection::flush() {
  while (fd_ >= 0 && out_sent_ < out_len_) {
    const ssize_t n = send(fd_, out_.data() + out_sent_, out_len_ - out_sent_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!write_pending_) {
          event_add(write_event_.get(), nullptr);
          write_pending_ = true;
        }
        return;
      }
      fail(Failure::kConnection);
      return;
    }
    out_sent_ += static_cast<size_t>(n);
  }
  out_sent_ = 0;
  out_len_ = 0;
}

void Connection::check_timeout(uint64_t now, uint64_t timeout_ns) {
  if (fd_ >= 0 && ring_count_ > 0 && now - last_progress_ns_ > timeout_ns) {
    std::fprintf(stderr, "treecached-bench: no reply for %.1f s, closing a connection\n",
                 static_cast<double>(timeout_ns) / 1e9);
    fail(Failure::kConnection);
  }
}

void Connection::fail(Failure failure) {
  PhaseResult& result = worker_.result();
  if (failure == Failure::kProtocol) {
    ++result.protocol_errors;
    const size_t shown = std::min<size_t>(in_len_, 80);
    std::fprintf(stderr, "treecached-bench: unexpected reply bytes: '%.*s'\n",
                 static_cast<int>(shown), in_.data());
  } else {
    ++result.connection_errors;
  }
  close_connection();
}

void Connection::finish_if_done() {
  if (fd_ >= 0 && ring_count_ == 0 && worker_.no_more_requests()) {
    close_connection();
  }
}

void Connection::close_connection() {
  if (fd_ < 0) {
    return;
  }
  event_del(read_event_.get());
  if (write_pending_) {
    event_del(write_event_.get());
    write_pending_ = false;
  }
  close(fd_);
  fd_ = -1;
  ring_count_ = 0;
  worker_.connection_closed();
}

}  // namespace

Workload::Workload(const Options& options) : options_(options) {
  const uint64_t n = options.keys;
  keys_.assign(n * options.key_size, '0');
  for (uint64_t i = 0; i < n; ++i) {
    char* key = keys_.data() + i * options.key_size;
    std::memcpy(key, options.key_prefix.data(), options.key_prefix.size());
    // Zero-padded index in the remaining bytes, right-aligned.
    uint64_t v = i;
    for (size_t pos = options.key_size; pos > options.key_prefix.size(); --pos) {
      key[pos - 1] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  }
  // set <key> 0 0 <bytes>, or ms <key> <bytes> (flags 0, no expiry as well).
  set_tail_ = options.protocol == Protocol::kMeta
                  ? " " + std::to_string(options.value_size) + "\r\n"
                  : " 0 0 " + std::to_string(options.value_size) + "\r\n";
  value_block_.reserve(options.value_size + 2);
  for (uint32_t i = 0; i < options.value_size; ++i) {
    value_block_.push_back(static_cast<char>('a' + i % 26));
  }
  value_block_ += "\r\n";
  if (options.dist == Distribution::kZipf) {
    zipf_ = std::make_unique<ZipfTable>(n, options.zipf_skew);
  }
}

uint64_t Workload::sample_key(Rng& rng) const noexcept {
  return zipf_ ? zipf_->sample(rng) : rng.below(options_.keys);
}

size_t Workload::max_request_size() const noexcept {
  // Text: get <key>*; meta: (mg <key> v k q)* mn, the longer.
  const size_t get = std::max(3 + size_t{options_.multiget} * (1 + options_.key_size) + 2,
                              size_t{options_.multiget} * (3 + options_.key_size + 8) + 4);
  const size_t set = 4 + options_.key_size + set_tail_.size() + value_block_.size();
  return std::max(get, set);
}

void request_stop() noexcept { g_stop.store(true, std::memory_order_relaxed); }

std::unique_ptr<PhaseResult> run_phase(const Workload& workload, PhaseKind kind, bool progress) {
  const Options& options = workload.options();
  const uint32_t threads = std::min(options.threads, options.connections);
  std::vector<std::unique_ptr<Worker>> workers;
  uint64_t connect_failures = 0;
  for (uint32_t t = 0; t < threads; ++t) {
    const uint64_t requests = options.requests / threads + (t < options.requests % threads ? 1 : 0);
    const uint64_t first_key = options.keys * t / threads;
    const uint64_t end_key = options.keys * (t + 1) / threads;
    const double rate = kind == PhaseKind::kMeasured ? options.rate / threads : 0;
    workers.push_back(std::make_unique<Worker>(workload, kind, requests, first_key, end_key, rate));
  }
  for (uint32_t c = 0; c < options.connections; ++c) {
    const int fd = connect_to(options);
    if (fd < 0) {
      ++connect_failures;
      continue;
    }
    workers[c % threads]->add_connection(fd, options.seed * 0x9e3779b97f4a7c15ULL + c);
  }

  const uint64_t start = now_ns();
  const uint64_t deadline = kind == PhaseKind::kMeasured && options.requests == 0
                                ? start + static_cast<uint64_t>(options.duration * 1e9)
                                : 0;
  std::vector<std::thread> running;
  running.reserve(workers.size());
  for (size_t t = 0; t < workers.size(); ++t) {
    // --rate: thread t's schedule starts t requests' worth later, so the
    // threads' requests interleave instead of falling due in bursts.
    const auto offset =
        options.rate > 0 ? static_cast<uint64_t>(static_cast<double>(t) * 1e9 / options.rate) : 0;
    running.emplace_back(
        [&worker = workers[t], start, offset, deadline] { worker->run(start + offset, deadline); });
  }
  uint64_t last_report = start;
  uint64_t reported = 0;
  while (!std::all_of(workers.begin(), workers.end(), [](auto& w) { return w->done(); })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const uint64_t now = now_ns();
    if (progress && now - last_report >= 1'000'000'000u) {
      uint64_t total = 0;
      for (auto& worker : workers) {
        total += worker->completed();
      }
      std::fprintf(
          stderr, "[%5.0f s] %s: %llu requests, %.0f/s in the last second\n",
          static_cast<double>(now - start) / 1e9, kind == PhaseKind::kPreload ? "preload" : "run",
          static_cast<unsigned long long>(total),
          static_cast<double>(total - reported) * 1e9 / static_cast<double>(now - last_report));
      reported = total;
      last_report = now;
    }
  }
  for (auto& thread : running) {
    thread.join();
  }

  auto result = std::make_unique<PhaseResult>();
  uint64_t end = start;
  for (auto& worker : workers) {
    const PhaseResult& r = worker->result();
    result->requests += r.requests;
    result->gets += r.gets;
    result->sets += r.sets;
    result->keys_requested += r.keys_requested;
    result->hits += r.hits;
    result->not_stored += r.not_stored;
    result->error_replies += r.error_replies;
    result->connection_errors += r.connection_errors;
    result->protocol_errors += r.protocol_errors;
    result->latency_ns.merge(r.latency_ns);
    end = std::max(end, worker->last_reply_ns());
  }
  result->connection_errors += connect_failures;
  result->seconds = static_cast<double>((result->requests > 0 ? end : now_ns()) - start) / 1e9;
  return result;
}

}  // namespace treecached::bench
