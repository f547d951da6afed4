#pragma once

// Harness for the integration tests: start the real treecached binary on a free loopback port and
// talk to it over raw, blocking-style TCP with timeouts.
//
// TEST_SERVER=host:port runs the suite against an already running server (treecached or stock
// memcached) instead of spawning one; tests that need their own flags or process skip then.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace treecached::testing {

inline constexpr std::chrono::milliseconds kDefaultTimeout{5000};

struct Endpoint {
  std::string host;
  uint16_t port = 0;
};

// The executable to spawn: $TREECACHED_BINARY if set (e.g. an asan build), else the path compiled
// in by CMake.
std::string server_binary();

// The server named by TEST_SERVER ("host:port"), or nullopt when the variable is unset or empty.
// A malformed value aborts the test binary with a message.
std::optional<Endpoint> external_server();

// How a child process ended.
struct ExitStatus {
  enum class Kind { kExited, kSignaled, kTimedOut, kNotStarted };
  Kind kind = Kind::kNotStarted;
  int code = 0;  // exit code for kExited, signal number for kSignaled

  bool clean() const { return kind == Kind::kExited && code == 0; }
  std::string describe() const;
};

// Result of running the binary to completion (for -h, -V and bad flags).
struct ProcessResult {
  ExitStatus status;
  std::string out;
  std::string err;
};

// Runs server_binary() with `args` (argv[0] is added), capturing stdout and stderr. A process
// still running after `timeout` is killed and reported as kTimedOut.
ProcessResult run_binary(const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout = kDefaultTimeout);

// Resident set size of a process in MiB, from /proc (-1 if unreadable).
double rss_mib(pid_t pid);

// "a\r\n" -> "a\\r\\n"; long strings are shortened around the middle. For failure messages.
std::string printable(std::string_view bytes, size_t max_length = 400);

// Compares two byte strings; on mismatch the message shows the first differing offset.
::testing::AssertionResult bytes_equal(std::string_view expected, std::string_view actual);

class TestServer {
 public:
  // Spawns `server_binary() -p 0 -l 127.0.0.1 -t 2 <extra_args>` and waits up to
  // `startup_timeout` for its one stdout line "treecached listening on 127.0.0.1:PORT". With
  // TEST_SERVER set, spawns nothing and points at that server (see external()). Check ok().
  explicit TestServer(std::vector<std::string> extra_args = {},
                      std::chrono::milliseconds startup_timeout = kDefaultTimeout);

  // Stops a spawned server that is still running with SIGTERM, waits for it (SIGKILL after a
  // timeout) and, if check_exit_on_destroy() is on (the default), records a non-fatal failure
  // unless it exited with status 0.
  ~TestServer();

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool external() const { return external_; }
  const std::string& host() const { return endpoint_.host; }
  uint16_t port() const { return endpoint_.port; }
  pid_t pid() const { return pid_; }  // -1 when external or not started

  void set_check_exit_on_destroy(bool check) { check_exit_on_destroy_ = check; }

  // Sends `signal` to a spawned server and waits up to `timeout` for it to exit.
  ExitStatus stop(int signal, std::chrono::milliseconds timeout = kDefaultTimeout);
  // Waits up to `timeout` for a spawned server to exit on its own (e.g. after "shutdown").
  ExitStatus wait_for_exit(std::chrono::milliseconds timeout = kDefaultTimeout);
  bool running() const { return pid_ > 0 && !exit_status_.has_value(); }

  // Everything the server wrote to stdout so far, including the "listening" line.
  std::string stdout_text() const;

 private:
  void spawn(const std::vector<std::string>& extra_args, std::chrono::milliseconds timeout);
  void start_drain();

  Endpoint endpoint_;
  bool external_ = false;
  std::string error_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::optional<ExitStatus> exit_status_;
  bool check_exit_on_destroy_ = true;

  mutable std::mutex stdout_mutex_;
  std::string stdout_;  // guarded by stdout_mutex_ once drain_thread_ runs
  std::thread drain_thread_;
};

// One TCP connection. All reads and writes use poll() with a deadline, so a silent or stuck
// server makes a test fail instead of hang. Not thread-safe; use one Client per thread.
class Client {
 public:
  Client(const std::string& host, uint16_t port);
  explicit Client(const TestServer& server) : Client(server.host(), server.port()) {}
  ~Client();

  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

  // Writes all of `bytes`; false on error or timeout (see error()).
  bool send(std::string_view bytes, std::chrono::milliseconds timeout = kDefaultTimeout);

  // Returns exactly n bytes, or fewer if the peer closed or the timeout passed first.
  std::string read_exactly(size_t n, std::chrono::milliseconds timeout = kDefaultTimeout);

  // Returns everything up to and including the first `terminator`, or what arrived before the
  // peer closed or the timeout passed (then without the terminator).
  std::string read_until(std::string_view terminator,
                         std::chrono::milliseconds timeout = kDefaultTimeout);

  // Returns whatever arrives within `duration` (stops early on close).
  std::string read_for(std::chrono::milliseconds duration);

  // True if the peer closes the connection (EOF or reset) within `timeout`. Bytes received before
  // the close are appended to `received` when given.
  bool wait_for_close(std::chrono::milliseconds timeout = kDefaultTimeout,
                      std::string* received = nullptr);

  // Reads expected.size() bytes and compares them with `expected`.
  ::testing::AssertionResult expect(std::string_view expected,
                                    std::chrono::milliseconds timeout = kDefaultTimeout);

  // Sends `request`, then expects exactly `expected` back.
  ::testing::AssertionResult expect_reply(std::string_view request, std::string_view expected,
                                          std::chrono::milliseconds timeout = kDefaultTimeout);

  bool peer_closed() const { return peer_closed_; }
  void close();

 private:
  // Appends available bytes to pending_, waiting until `deadline`. False on timeout or close.
  bool fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string pending_;  // received but not yet returned
  bool peer_closed_ = false;
  std::string error_;
};

}  // namespace treecached::testing
