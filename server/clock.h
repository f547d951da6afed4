#pragma once

#include <cstdint>
#include <ctime>

namespace treecached::server {

// The server's clock, kept as memcached keeps it: seconds from a monotonic
// clock, and the unix time at which that clock read 0. The store's times
// (deadlines, flush times) are in these seconds, so a step of the wall clock
// (NTP, an operator) moves no TTL. Absolute exptimes from clients are turned
// into server seconds once, with process_started() (protocol::to_deadline).
class ServerClock {
 public:
  // memcached starts its clock at ITEM_UPDATE_INTERVAL + 2 seconds, so that
  // deadline 1 ("expired already") is always in the past.
  static constexpr uint32_t kStartSeconds = 62;

  // Starts the clock now.
  ServerClock() noexcept
      : monotonic_start_(monotonic_seconds() - kStartSeconds),
        process_started_(static_cast<int64_t>(std::time(nullptr)) - kStartSeconds) {}
  // A clock that was started at unix time `process_started` + kStartSeconds
  // (for tests, which pass `now` themselves).
  explicit ServerClock(int64_t process_started) noexcept
      : monotonic_start_(monotonic_seconds() - kStartSeconds), process_started_(process_started) {}

  // Server seconds now: kStartSeconds at start, then one per second.
  [[nodiscard]] uint32_t now() const noexcept {
    return static_cast<uint32_t>(monotonic_seconds() - monotonic_start_);
  }
  // The unix time at which the server clock read 0.
  [[nodiscard]] int64_t process_started() const noexcept { return process_started_; }
  // `stats time`: the unix time that server second `now` stands for.
  [[nodiscard]] int64_t unix_time(uint32_t now) const noexcept { return process_started_ + now; }

 private:
  static int64_t monotonic_seconds() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);  // seconds are enough; no TSC read
    return static_cast<int64_t>(ts.tv_sec);
  }

  int64_t monotonic_start_;
  int64_t process_started_;
};

}  // namespace treecached::server
