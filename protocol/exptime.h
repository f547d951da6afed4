#pragma once

#include <cstdint>

namespace treecached::protocol {

// Exptimes up to 30 days are relative to now; larger ones are unix times.
inline constexpr int64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;

// Deadline meaning "expired already": the server clock starts above it.
inline constexpr uint32_t kAlreadyExpired = 1;

// memcached's realtime(): turns a client exptime into a deadline in server
// seconds (the monotonic clock of server/clock.h, `now` being its present
// reading), where 0 means "never expires" and an item is dead once
// `now >= deadline`. `process_started` is the unix time at which the server
// clock read 0: an absolute exptime is converted with it once, here, so a
// later step of the wall clock moves no deadline. Negative exptimes, and
// absolute ones at or before the server started, are already expired.
[[nodiscard]] constexpr uint32_t to_deadline(int32_t raw, uint32_t now,
                                             int64_t process_started) noexcept {
  if (raw == 0) {
    return 0;
  }
  if (raw < 0) {
    return kAlreadyExpired;
  }
  if (raw > kMaxRelativeExptime) {
    return raw <= process_started ? kAlreadyExpired : static_cast<uint32_t>(raw - process_started);
  }
  return now + static_cast<uint32_t>(raw);
}

}  // namespace treecached::protocol
