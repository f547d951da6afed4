#pragma once

#include <cstdint>

namespace treecached::protocol {

// Exptimes up to 30 days are relative to now; larger ones are unix times.
inline constexpr int64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;

// Deadline meaning "expired already": any time in the past works.
inline constexpr uint32_t kAlreadyExpired = 1;

// Converts a client exptime into an absolute deadline in unix seconds, where
// 0 means "never expires" and an item is dead once `now >= deadline`.
// Negative exptimes are already expired (memcached's rule).
[[nodiscard]] constexpr uint32_t to_deadline(int32_t raw, uint32_t now) noexcept {
  if (raw == 0) {
    return 0;
  }
  if (raw < 0) {
    return kAlreadyExpired;
  }
  if (raw > kMaxRelativeExptime) {
    return static_cast<uint32_t>(raw);
  }
  return now + static_cast<uint32_t>(raw);
}

}  // namespace treecached::protocol
