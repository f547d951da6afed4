#pragma once

#include <cstdint>

namespace treecached::bench {

// Intended send times of an open-loop run at a fixed rate: request i is due
// at start + i / rate, whether or not the server has answered the earlier
// ones. Latency is measured from these times, so a server (or generator)
// that falls behind is charged for the whole wait rather than being offered
// less load (no coordinated omission).
class RateSchedule {
 public:
  RateSchedule(double per_second, uint64_t start_ns) noexcept
      : interval_ns_(1e9 / per_second), start_ns_(start_ns) {}

  [[nodiscard]] uint64_t next_due_ns() const noexcept {
    return start_ns_ + static_cast<uint64_t>(static_cast<double>(taken_) * interval_ns_);
  }
  [[nodiscard]] bool due(uint64_t now_ns) const noexcept { return next_due_ns() <= now_ns; }
  // Takes the next request; returns its intended send time.
  uint64_t take() noexcept {
    const uint64_t due_ns = next_due_ns();
    ++taken_;
    return due_ns;
  }
  [[nodiscard]] uint64_t taken() const noexcept { return taken_; }

 private:
  double interval_ns_;
  uint64_t start_ns_;
  uint64_t taken_ = 0;
};

}  // namespace treecached::bench
