// Unit tests for server::Session without sockets: bytes in, reply bytes and
// counters out, as server/connection.cc drives it (process, send, process).
// Expected replies are memcached 1.6.18's (checked against a live server) or
// SPEC.md's where treecached differs by design (§1.3).

#include "server/session.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "protocol/parser.h"
#include "server/config.h"
#include "server/context.h"
#include "server/stats.h"
#include "storage/store.h"
#include "tests/unit/storage/test_config.h"

namespace treecached::server {
namespace {

// Server seconds: the clock of a server started at unix time kStarted + 62.
constexpr uint32_t kNow = 1000;
constexpr int64_t kStarted = 1'700'000'000;

class SessionTest : public ::testing::Test {
 protected:
  explicit SessionTest(Config config = {})
      : config_(config), limits_(parser_limits(config_)) {}

  // Feeds `wire` in one read and returns everything the session answers,
  // sending its output as a client that reads everything would.
  std::string run(std::string_view wire, uint32_t now = kNow) {
    size_t writable = 0;
    while (!wire.empty()) {
      char* space = session_.prepare_read(writable);
      const size_t n = std::min(writable, wire.size());
      std::copy_n(wire.data(), n, space);
      session_.commit_read(n);
      wire.remove_prefix(n);
      drain(now);
    }
    return take();
  }

  void drain(uint32_t now) {
    do {
      session_.process(now);
      const std::string_view pending = session_.pending_output();
      replies_.append(pending);
      session_.output_sent(pending.size());
    } while (session_.runnable());
  }

  std::string take() {
    std::string out;
    out.swap(replies_);
    return out;
  }

  uint64_t count(Counter c) const { return counters_.get(c); }

  Config config_;
  protocol::ParserLimits limits_;
  storage::Store store_{storage::with_rules()};
  ServerContext context_{config_, store_, ServerClock(kStarted)};
  WorkerCounters counters_;
  Session session_{context_, counters_, limits_};
  std::string replies_;
};

Config with_separator(char separator) {
  Config config;
  config.key_separator = separator;
  return config;
}

class SeparatorSessionTest : public SessionTest {
 protected:
  SeparatorSessionTest() : SessionTest(with_separator(':')) {}
};

TEST_F(SessionTest, GetCountsEveryKey) {
  EXPECT_EQ(run("set a 0 0 1\r\nx\r\nget a b\r\n"), "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(count(Counter::kCmdGet), 2U);
  EXPECT_EQ(count(Counter::kGetHits), 1U);
  EXPECT_EQ(count(Counter::kGetMisses), 1U);
}

// Found by tests/fuzz/request_fuzz (regressions/cmd-get-separator-miss): a
// key that does not split into a path counted a miss but no cmd_get, so
// cmd_get fell below get_hits + get_misses.
TEST_F(SeparatorSessionTest, UnsplittableKeyCountsAsLookedUp) {
  EXPECT_EQ(run("get : a::b\r\n"), "END\r\n");
  EXPECT_EQ(count(Counter::kCmdGet), 2U);
  EXPECT_EQ(count(Counter::kGetMisses), 2U);
  EXPECT_EQ(run("gat 0 :a\r\n"), "END\r\n");
  EXPECT_EQ(count(Counter::kCmdTouch), 1U);
  EXPECT_EQ(count(Counter::kTouchMisses), 1U);
  EXPECT_EQ(count(Counter::kCmdGet), count(Counter::kGetHits) + count(Counter::kGetMisses));
}

}  // namespace
}  // namespace treecached::server
