// The memory limit over TCP: a write flood of random sizes keeps the
// process's RSS bounded, and recently read keys survive eviction.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "tests/integration/test_server.h"

namespace treecached::testing {
namespace {

uint64_t stat_value(Client& c, const std::string& name) {
  c.send("stats\r\n");
  const std::string stats = c.read_until("END\r\n");
  const std::string prefix = "STAT " + name + " ";
  const size_t at = stats.find(prefix);
  return at == std::string::npos ? UINT64_MAX : std::stoull(stats.substr(at + prefix.size()));
}

TEST(MemoryLimit, RssStaysBoundedUnderAFloodOfRandomSizes) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizers keep freed memory (quarantine, shadow): RSS says nothing.
  GTEST_SKIP() << "RSS is not meaningful under a sanitizer";
#endif
  constexpr int kLimitMib = 32;
  TestServer server({"-m", std::to_string(kLimitMib)});
  ASSERT_TRUE(server.ok()) << server.error();
  if (server.external()) {
    GTEST_SKIP() << "needs its own server";
  }
  Client c(server);
  const double empty = rss_mib(server.pid());
  std::mt19937 random(7);
  std::uniform_real_distribution<double> exponent(1.0, 5.0);  // 10 B .. 100 KB, log-uniform
  const std::string bytes(100000, 'x');
  size_t written = 0;
  double peak = 0;
  for (int key = 0, batch_number = 0; written < 300u * 1024 * 1024; ++batch_number) {
    std::string batch;
    for (int j = 0; j < 50; ++j, ++key) {
      const auto size = static_cast<size_t>(std::pow(10.0, exponent(random)));
      batch += "set flood" + std::to_string(key % 500000) + " 0 0 " + std::to_string(size) +
               " noreply\r\n" + bytes.substr(0, size) + "\r\n";
      written += size;
    }
    ASSERT_TRUE(c.send(batch));
    if (batch_number % 100 == 0) {
      // Wait until the server has taken everything, then sample its RSS.
      ASSERT_TRUE(c.send("version\r\n"));
      ASSERT_EQ(c.read_until("\r\n").rfind("VERSION ", 0), 0U);
      peak = std::max(peak, rss_mib(server.pid()));
    }
  }
  EXPECT_LE(stat_value(c, "bytes"), uint64_t{kLimitMib} << 20);
  EXPECT_GT(stat_value(c, "evictions"), 0U);
  peak = std::max(peak, rss_mib(server.pid()));
  // Generous: the limit, plus half again for allocator slack, plus the empty
  // process and a few MiB of buffers.
  EXPECT_LE(peak, empty + kLimitMib * 1.5 + 8) << "empty " << empty << " MiB";
  RecordProperty("peak_rss_mib", std::to_string(peak));
}

TEST(MemoryLimit, CacheMemlimitChangesTheLimitAtRunTime) {
  TestServer server({"-m", "64"});
  ASSERT_TRUE(server.ok()) << server.error();
  if (server.external()) {
    GTEST_SKIP() << "needs its own server";
  }
  Client c(server);
  EXPECT_EQ(stat_value(c, "limit_maxbytes"), 64U << 20);
  EXPECT_TRUE(c.expect_reply("cache_memlimit 8\r\n", "OK\r\n"));
  EXPECT_EQ(stat_value(c, "limit_maxbytes"), 8U << 20);
  const std::string value(10000, 'v');
  std::string batch;
  for (int i = 0; i < 2000; ++i) {  // 20 MB
    batch += "set m" + std::to_string(i) + " 0 0 10000 noreply\r\n" + value + "\r\n";
  }
  ASSERT_TRUE(c.send(batch));
  EXPECT_LE(stat_value(c, "bytes"), 8U << 20);
  EXPECT_GT(stat_value(c, "evictions"), 0U);
  EXPECT_TRUE(c.expect_reply("get m1999\r\n", "VALUE m1999 0 10000\r\n" + value + "\r\nEND\r\n"));
}

}  // namespace
}  // namespace treecached::testing
