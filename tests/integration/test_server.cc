#include "tests/integration/test_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#ifndef TREECACHED_BINARY
#error "TREECACHED_BINARY must name the server executable"
#endif

namespace treecached::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kListeningPrefix = "treecached listening on ";

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, left.count()));
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

ExitStatus decode_wait_status(int status) {
  ExitStatus result;
  if (WIFEXITED(status)) {
    result.kind = ExitStatus::Kind::kExited;
    result.code = WEXITSTATUS(status);
  } else {
    result.kind = ExitStatus::Kind::kSignaled;
    result.code = WTERMSIG(status);
  }
  return result;
}

// Waits for `pid` until `deadline`; nullopt on timeout.
std::optional<ExitStatus> wait_until(pid_t pid, Clock::time_point deadline) {
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      return decode_wait_status(status);
    }
    if (done < 0 && errno != EINTR) {
      ExitStatus lost;
      lost.kind = ExitStatus::Kind::kNotStarted;
      return lost;
    }
    if (Clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

ExitStatus kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ExitStatus result;
  result.kind = ExitStatus::Kind::kTimedOut;
  return result;
}

// argv for execv; the strings must outlive the returned pointers.
std::vector<char*> make_argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  return argv;
}

bool parse_port(std::string_view text, uint16_t& port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace

std::string server_binary() {
  const char* value = std::getenv("TREECACHED_BINARY");
  return value != nullptr && *value != '\0' ? value : TREECACHED_BINARY;
}

std::optional<Endpoint> external_server() {
  const char* value = std::getenv("TEST_SERVER");
  if (value == nullptr || *value == '\0') {
    return std::nullopt;
  }
  const std::string_view text(value);
  const size_t colon = text.rfind(':');
  Endpoint endpoint;
  if (colon == std::string_view::npos || colon == 0 ||
      !parse_port(text.substr(colon + 1), endpoint.port)) {
    std::fprintf(stderr, "TEST_SERVER must be host:port, got '%s'\n", value);
    std::abort();
  }
  endpoint.host = std::string(text.substr(0, colon));
  return endpoint;
}

std::string ExitStatus::describe() const {
  switch (kind) {
    case Kind::kExited:
      return "exited with status " + std::to_string(code);
    case Kind::kSignaled:
      return std::string("killed by signal ") + std::to_string(code) + " (" + strsignal(code) + ")";
    case Kind::kTimedOut:
      return "did not exit within the timeout";
    case Kind::kNotStarted:
      return "not started";
  }
  return "?";
}

double rss_mib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stod(line.substr(6)) / 1024.0;
    }
  }
  return -1;
}

std::string printable(std::string_view bytes, size_t max_length) {
  auto escape = [](std::string_view part) {
    std::string out;
    for (const char c : part) {
      switch (c) {
        case '\r':
          out += "\\r";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\\':
          out += "\\\\";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
            out += hex;
          } else {
            out += c;
          }
      }
    }
    return out;
  };
  if (bytes.size() <= max_length) {
    return "\"" + escape(bytes) + "\"";
  }
  const size_t head = max_length / 2;
  const size_t tail = max_length / 4;
  return "\"" + escape(bytes.substr(0, head)) + "\" ...<" +
         std::to_string(bytes.size() - head - tail) + " bytes>... \"" +
         escape(bytes.substr(bytes.size() - tail)) + "\"";
}

::testing::AssertionResult bytes_equal(std::string_view expected, std::string_view actual) {
  if (expected == actual) {
    return ::testing::AssertionSuccess();
  }
  const auto mismatch =
      std::mismatch(expected.begin(), expected.end(), actual.begin(), actual.end());
  const auto offset = static_cast<size_t>(mismatch.first - expected.begin());
  const size_t from = offset > 40 ? offset - 40 : 0;
  auto result = ::testing::AssertionFailure();
  result << "\n  expected (" << expected.size() << " bytes): " << printable(expected)
         << "\n  actual   (" << actual.size() << " bytes): " << printable(actual)
         << "\n  first difference at offset " << offset << ": expected "
         << printable(expected.substr(std::min(from, expected.size()), 100)) << ", got "
         << printable(actual.substr(std::min(from, actual.size()), 100));
  return result;
}

ProcessResult run_binary(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  ProcessResult result;
  std::vector<std::string> full_args{server_binary()};
  full_args.insert(full_args.end(), args.begin(), args.end());
  std::vector<char*> argv = make_argv(full_args);

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    result.err = errno_text("pipe2");
    return result;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.err = errno_text("pipe2");
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return result;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    result.err = errno_text("fork");
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return result;
  }

  const auto deadline = Clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_count = 2;
  while (open_count > 0 && Clock::now() < deadline) {
    const int ready = ::poll(fds, 2, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      char buffer[4096];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  for (auto& entry : fds) {
    if (entry.fd >= 0) {
      ::close(entry.fd);
    }
  }
  auto status = wait_until(pid, deadline);
  result.status = status ? *status : kill_and_reap(pid);
  return result;
}

TestServer::TestServer(std::vector<std::string> extra_args,
                       std::chrono::milliseconds startup_timeout) {
  if (auto endpoint = external_server()) {
    endpoint_ = std::move(*endpoint);
    external_ = true;
    return;
  }
  spawn(extra_args, startup_timeout);
}

void TestServer::spawn(const std::vector<std::string>& extra_args,
                       std::chrono::milliseconds timeout) {
  std::vector<std::string> args{server_binary(), "-p", "0", "-l", "127.0.0.1", "-t", "2"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv = make_argv(args);

  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    error_ = errno_text("pipe2");
    return;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(out_pipe[1]);
  if (pid < 0) {
    error_ = errno_text("fork");
    ::close(out_pipe[0]);
    return;
  }
  pid_ = pid;
  stdout_fd_ = out_pipe[0];

  // Read the first line: "treecached listening on 127.0.0.1:PORT\n".
  const auto deadline = Clock::now() + timeout;
  size_t newline = std::string::npos;
  while ((newline = stdout_.find('\n')) == std::string::npos) {
    pollfd entry{stdout_fd_, POLLIN, 0};
    const int ready = ::poll(&entry, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready == 0) {
      error_ = "no 'listening' line on stdout within " + std::to_string(timeout.count()) +
               " ms; stdout so far: " + printable(stdout_);
      exit_status_ = kill_and_reap(pid_);
      return;
    }
    char buffer[1024];
    const ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
    if (n > 0) {
      stdout_.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    // EOF before a full line: the server died or closed stdout.
    auto status = wait_until(pid_, Clock::now() + std::chrono::seconds(2));
    exit_status_ = status ? *status : kill_and_reap(pid_);
    error_ = "server " + exit_status_->describe() +
             " before printing its port; stdout: " + printable(stdout_);
    return;
  }

  const std::string_view line = std::string_view(stdout_).substr(0, newline);
  const size_t colon = line.rfind(':');
  if (line.substr(0, kListeningPrefix.size()) != kListeningPrefix ||
      colon == std::string_view::npos || colon < kListeningPrefix.size() ||
      !parse_port(line.substr(colon + 1), endpoint_.port)) {
    error_ = "unexpected first stdout line " + printable(line) +
             " (want \"treecached listening on 127.0.0.1:PORT\")";
    exit_status_ = kill_and_reap(pid_);
    return;
  }
  endpoint_.host =
      std::string(line.substr(kListeningPrefix.size(), colon - kListeningPrefix.size()));
  start_drain();
}

void TestServer::start_drain() {
  // Keep reading stdout so that a chatty server never blocks on a full pipe.
  drain_thread_ = std::thread([this] {
    char buffer[4096];
    while (true) {
      const ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
      if (n > 0) {
        const std::lock_guard lock(stdout_mutex_);
        stdout_.append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        return;
      }
    }
  });
}

std::string TestServer::stdout_text() const {
  const std::lock_guard lock(stdout_mutex_);
  return stdout_;
}

ExitStatus TestServer::wait_for_exit(std::chrono::milliseconds timeout) {
  if (exit_status_) {
    return *exit_status_;
  }
  if (pid_ <= 0) {
    return ExitStatus{};
  }
  if (auto status = wait_until(pid_, Clock::now() + timeout)) {
    exit_status_ = status;
    return *status;
  }
  ExitStatus still_running;
  still_running.kind = ExitStatus::Kind::kTimedOut;
  return still_running;
}

ExitStatus TestServer::stop(int signal, std::chrono::milliseconds timeout) {
  if (exit_status_) {
    return *exit_status_;
  }
  if (pid_ <= 0) {
    return ExitStatus{};
  }
  ::kill(pid_, signal);
  return wait_for_exit(timeout);
}

TestServer::~TestServer() {
  if (running()) {
    const ExitStatus status = stop(SIGTERM, std::chrono::seconds(3));
    if (status.kind == ExitStatus::Kind::kTimedOut) {
      exit_status_ = kill_and_reap(pid_);
    }
    if (check_exit_on_destroy_) {
      EXPECT_TRUE(status.clean()) << "treecached (pid " << pid_ << ") on SIGTERM at the end of "
                                  << "the test: " << status.describe();
    }
  }
  if (drain_thread_.joinable()) {
    drain_thread_.join();
  }
  if (stdout_fd_ >= 0) {
    ::close(stdout_fd_);
  }
}

Client::Client(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses); rc != 0) {
    error_ = std::string("getaddrinfo: ") + gai_strerror(rc);
    return;
  }
  for (addrinfo* address = addresses; address != nullptr && fd_ < 0; address = address->ai_next) {
    const int fd = ::socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                            address->ai_protocol);
    if (fd < 0) {
      error_ = errno_text("socket");
      continue;
    }
    int rc = ::connect(fd, address->ai_addr, address->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd entry{fd, POLLOUT, 0};
      rc = ::poll(&entry, 1, static_cast<int>(kDefaultTimeout.count()));
      int so_error = ETIMEDOUT;
      socklen_t length = sizeof so_error;
      if (rc == 1) {
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length);
      }
      errno = so_error;
      rc = so_error == 0 ? 0 : -1;
    }
    if (rc != 0) {
      error_ = errno_text("connect");
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd_ = fd;
    error_.clear();
  }
  ::freeaddrinfo(addresses);
}

Client::~Client() { close(); }

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      pending_(std::move(other.pending_)),
      peer_closed_(other.peer_closed_),
      error_(std::move(other.error_)) {}

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    pending_ = std::move(other.pending_);
    peer_closed_ = other.peer_closed_;
    error_ = std::move(other.error_);
  }
  return *this;
}

void Client::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool Client::send(std::string_view bytes, std::chrono::milliseconds timeout) {
  if (fd_ < 0) {
    error_ = "send on a closed client";
    return false;
  }
  const auto deadline = Clock::now() + timeout;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd entry{fd_, POLLOUT, 0};
      if (::poll(&entry, 1, remaining_ms(deadline)) == 0) {
        error_ = "send timed out with " + std::to_string(bytes.size()) + " bytes left";
        return false;
      }
      continue;
    }
    error_ = errno_text("send");
    return false;
  }
  return true;
}

bool Client::fill(Clock::time_point deadline) {
  if (fd_ < 0 || peer_closed_) {
    return false;
  }
  while (true) {
    char buffer[65536];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n > 0) {
      pending_.append(buffer, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) {
      peer_closed_ = true;
      return false;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      // ECONNRESET and friends: the server is gone from this connection.
      error_ = errno_text("recv");
      peer_closed_ = true;
      return false;
    }
    pollfd entry{fd_, POLLIN, 0};
    const int ready = ::poll(&entry, 1, remaining_ms(deadline));
    if (ready == 0) {
      return false;
    }
  }
}

std::string Client::read_exactly(size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (pending_.size() < n && fill(deadline)) {
  }
  const size_t take = std::min(n, pending_.size());
  std::string out = pending_.substr(0, take);
  pending_.erase(0, take);
  return out;
}

std::string Client::read_until(std::string_view terminator, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  size_t searched = 0;
  while (true) {
    const size_t at = pending_.find(terminator, searched);
    if (at != std::string::npos) {
      const size_t take = at + terminator.size();
      std::string out = pending_.substr(0, take);
      pending_.erase(0, take);
      return out;
    }
    searched = pending_.size() >= terminator.size() ? pending_.size() - terminator.size() + 1 : 0;
    if (!fill(deadline)) {
      return std::exchange(pending_, {});
    }
  }
}

std::string Client::read_for(std::chrono::milliseconds duration) {
  const auto deadline = Clock::now() + duration;
  while (Clock::now() < deadline && fill(deadline)) {
  }
  return std::exchange(pending_, {});
}

bool Client::wait_for_close(std::chrono::milliseconds timeout, std::string* received) {
  const auto deadline = Clock::now() + timeout;
  while (fd_ >= 0 && !peer_closed_ && Clock::now() < deadline) {
    fill(deadline);
  }
  if (received != nullptr) {
    received->append(pending_);
  }
  pending_.clear();
  return peer_closed_;
}

::testing::AssertionResult Client::expect(std::string_view expected,
                                          std::chrono::milliseconds timeout) {
  const std::string actual = read_exactly(expected.size(), timeout);
  auto result = bytes_equal(expected, actual);
  if (!result) {
    // Show what else the server sent, to make the failure easier to read.
    const std::string extra = read_for(std::chrono::milliseconds(100));
    if (!extra.empty()) {
      result << "\n  followed by: " << printable(extra);
    }
    if (actual.size() < expected.size()) {
      result << (peer_closed_ ? "\n  (the server closed the connection)" : "\n  (timed out)");
    }
  }
  return result;
}

::testing::AssertionResult Client::expect_reply(std::string_view request, std::string_view expected,
                                                std::chrono::milliseconds timeout) {
  if (!send(request, timeout)) {
    return ::testing::AssertionFailure() << "sending " << printable(request) << ": " << error_;
  }
  auto result = expect(expected, timeout);
  if (!result) {
    result << "\n  request: " << printable(request);
  }
  return result;
}

}  // namespace treecached::testing
