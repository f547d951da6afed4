// Unit tests for server::Executor without sockets: parsed requests in,
// reply bytes and counters out.

#include "server/executor.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "protocol/parser.h"
#include "protocol/reply.h"
#include "server/config.h"
#include "server/context.h"
#include "server/stats.h"
#include "storage/store.h"
#include "tests/unit/storage/test_config.h"

namespace treecached::server {
namespace {

constexpr uint32_t kNow = 1'700'000'000;

class ExecutorTest : public ::testing::Test {
 protected:
  explicit ExecutorTest(char separator = 0) : config_(make_config(separator)) {}

  static Config make_config(char separator) {
    Config config;
    config.key_separator = separator;
    return config;
  }

  // Parses and executes each request of `wire` (complete requests only) and
  // returns the replies.
  std::string run(std::string_view wire) {
    protocol::OutputBuffer out;
    protocol::ParserLimits limits;
    limits.max_depth = config_.max_depth;
    while (!wire.empty()) {
      protocol::Request request;
      const protocol::ParseResult result = protocol::parse_request(wire, request, limits);
      EXPECT_NE(result.status, protocol::ParseStatus::kNeedMore) << wire;
      if (result.status == protocol::ParseStatus::kNeedMore) {
        break;
      }
      if (result.status == protocol::ParseStatus::kOk) {
        (void)executor_.execute(request, out, kNow);
      } else {
        executor_.execute_error(result, request, out, kNow);
      }
      wire.remove_prefix(result.consumed);
    }
    return {out.data(), out.size()};
  }

  uint64_t count(Counter c) const { return counters_.get(c); }

  Config config_;
  storage::Store store_{storage::with_rules()};
  ServerContext context_{config_, store_};
  WorkerCounters counters_;
  Executor executor_{context_, counters_};
};

class SeparatorExecutorTest : public ExecutorTest {
 protected:
  SeparatorExecutorTest() : ExecutorTest(':') {}
};

TEST_F(ExecutorTest, GetCountsEveryKey) {
  EXPECT_EQ(run("set a 0 0 1\r\nx\r\nget a b\r\n"), "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(count(Counter::kCmdGet), 2U);
  EXPECT_EQ(count(Counter::kGetHits), 1U);
  EXPECT_EQ(count(Counter::kGetMisses), 1U);
}

// Found by tests/fuzz/request_fuzz (regressions/cmd-get-separator-miss): a
// key that does not split into a path counted a miss but no cmd_get, so
// cmd_get fell below get_hits + get_misses.
TEST_F(SeparatorExecutorTest, UnsplittableKeyCountsAsLookedUp) {
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
