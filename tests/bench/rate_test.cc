// Unit tests for bench/load/rate.h: the open-loop send schedule.

#include "bench/load/rate.h"

#include <gtest/gtest.h>

namespace treecached::bench {
namespace {

TEST(RateSchedule, RequestIIsDueAtStartPlusIOverRate) {
  RateSchedule schedule(4000, 1'000'000);  // one request every 250 µs
  for (uint64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(schedule.next_due_ns(), 1'000'000 + i * 250'000) << i;
    EXPECT_EQ(schedule.take(), 1'000'000 + i * 250'000) << i;
  }
  EXPECT_EQ(schedule.taken(), 10u);
}

TEST(RateSchedule, DueOnlyOnceItsTimeHasCome) {
  RateSchedule schedule(1000, 5'000'000);
  EXPECT_FALSE(schedule.due(4'999'999));
  EXPECT_TRUE(schedule.due(5'000'000));
  schedule.take();
  EXPECT_FALSE(schedule.due(5'999'999));
  EXPECT_TRUE(schedule.due(6'000'000));
}

TEST(RateSchedule, TakingLateDoesNotShiftLaterRequests) {
  // A generator (or server) that falls behind does not lower the offered
  // load: the requests it owes are all due at once, at their own times.
  RateSchedule schedule(1000, 0);
  const uint64_t now = 10'500'000;  // 10.5 ms in: requests 0..10 are due
  uint64_t due = 0;
  while (schedule.due(now)) {
    EXPECT_EQ(schedule.take(), due);
    due += 1'000'000;
  }
  EXPECT_EQ(schedule.taken(), 11u);
  EXPECT_EQ(schedule.next_due_ns(), 11'000'000u);
}

TEST(RateSchedule, FractionalIntervalsDoNotDrift) {
  // 3 per second: 333,333,333.3 ns apart; after 3,000 requests exactly 1000 s.
  RateSchedule schedule(3, 0);
  for (int i = 0; i < 3000; ++i) {
    schedule.take();
  }
  EXPECT_NEAR(static_cast<double>(schedule.next_due_ns()), 1e12, 1.0);
}

}  // namespace
}  // namespace treecached::bench
