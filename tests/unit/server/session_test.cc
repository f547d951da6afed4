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
  explicit SessionTest(Config config = {}) : config_(config), limits_(parser_limits(config_)) {}

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
      if (session_.holds_output()) {
        return;  // as the connection does: the swallowed value's reply waits
      }
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

// Defect 1: the error of a get with a key over 250 bytes answers that get
// only; the replies before it stay, wherever the output batch ends.
TEST_F(SessionTest, ClientErrorKeepsEarlierReplies) {
  const std::string long_key(251, 'k');
  EXPECT_EQ(run("get miss\r\nget " + long_key + "\r\n"),
            "END\r\nCLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(run("flush_all\r\nget " + long_key + "\r\nversion\r\n"),
            "OK\r\nCLIENT_ERROR bad command line format\r\nVERSION 1.6.18\r\n");
}

// A multi-get bigger than one output batch is streamed: the session is
// runnable until its END, and a later error does not cut it.
TEST_F(SessionTest, StreamedReplyIsFinishedBeforeTheNextRequest) {
  const std::string value(100000, 'v');
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(run("set big" + std::to_string(i) + " 0 0 100000\r\n" + value + "\r\n"),
              "STORED\r\n");
  }
  const std::string wire = "get big0 big1 big2 big3\r\nget " + std::string(251, 'k') + "\r\n";
  size_t writable = 0;
  char* space = session_.prepare_read(writable);
  ASSERT_GE(writable, wire.size());
  std::copy(wire.begin(), wire.end(), space);
  session_.commit_read(wire.size());
  session_.process(kNow);
  EXPECT_EQ(session_.state(), Session::State::kStreaming);
  drain(kNow);
  EXPECT_EQ(session_.state(), Session::State::kReading);
  const std::string replies = take();
  EXPECT_EQ(replies.size(), 4 * (21 + 100000 + 2) + 5 + 38U);
  EXPECT_TRUE(replies.ends_with("END\r\nCLIENT_ERROR bad command line format\r\n"));
}

// Defect 7: the data block of a too-deep set is swallowed, even when it
// arrives later; its reply waits until then (memcached's timing).
TEST_F(SessionTest, TooDeepPathSwallowsItsData) {
  std::string path = "t1";
  for (int i = 2; i <= 200; ++i) {
    path += " t" + std::to_string(i);
  }
  EXPECT_EQ(run("set " + path + " 0 0 9\r\nget x"), "");
  EXPECT_EQ(session_.state(), Session::State::kSwallowing);
  EXPECT_TRUE(session_.holds_output());
  EXPECT_EQ(run("\r\nab\r\nget y\r\n"), "CLIENT_ERROR path too deep\r\nEND\r\n");
  EXPECT_EQ(session_.state(), Session::State::kReading);
}

// Defect 8: an HTTP request line closes without a reply, after the replies
// already queued; nothing after it runs.
TEST_F(SessionTest, HttpRequestLineCloses) {
  EXPECT_EQ(run("get a\r\nGET / HTTP/1.1\r\nset b 0 0 1\r\n1\r\n"), "END\r\n");
  EXPECT_EQ(session_.state(), Session::State::kClosing);
  EXPECT_EQ(run("get b\r\n"), "");  // a closing session runs nothing more
  EXPECT_FALSE(store_.get("b", kNow));
}

TEST_F(SessionTest, QuitClosesAfterTheQueuedReplies) {
  EXPECT_EQ(run("version\r\nquit\r\nversion\r\n"), "VERSION 1.6.18\r\n");
  EXPECT_EQ(session_.state(), Session::State::kClosing);
}

// Defect 13: the top level has a one-token name that client parsers take.
TEST_F(SessionTest, TopLevelListingHasAName) {
  EXPECT_EQ(run("set a b 0 0 1\r\n1\r\nset c 0 0 1\r\n2\r\ngetch\r\n"),
            "STORED\r\nSTORED\r\nVALUE / 0 9\r\n[\"a\",\"c\"]\r\nEND\r\n");
}

// Defect 6: an absolute exptime is converted with the server's start time
// once; relative ones count from the server clock.
TEST_F(SessionTest, ExptimesFollowTheServerClock) {
  EXPECT_EQ(run("set rel 0 10 1\r\n1\r\n"), "STORED\r\n");
  const auto absolute = std::to_string(kStarted + kNow + 10);
  EXPECT_EQ(run("set abs 0 " + absolute + " 1\r\n2\r\n"), "STORED\r\n");
  EXPECT_EQ(run("get rel abs\r\n", kNow + 9),
            "VALUE rel 0 1\r\n1\r\nVALUE abs 0 1\r\n2\r\nEND\r\n");
  EXPECT_EQ(run("get rel abs\r\n", kNow + 10), "END\r\n");
}

TEST(SessionFlushTest, DisabledFlushAllIsRefused) {
  Config config;
  config.flush_enabled = false;
  const protocol::ParserLimits limits = parser_limits(config);
  storage::Store store{storage::with_rules()};
  ServerContext context{config, store, ServerClock(kStarted)};
  WorkerCounters counters;
  Session session(context, counters, limits);
  const std::string wire = "flush_all\r\nflush_all noreply\r\n";
  size_t writable = 0;
  char* space = session.prepare_read(writable);
  std::copy(wire.begin(), wire.end(), space);
  session.commit_read(wire.size());
  session.process(kNow);
  EXPECT_EQ(session.pending_output(), "CLIENT_ERROR flush_all not allowed\r\n");
  EXPECT_EQ(counters.get(Counter::kCmdFlush), 2U);
}

}  // namespace
}  // namespace treecached::server
