// Limits that protect the server from its clients, over real TCP: large
// multi-get replies are streamed, a client that never reads cannot make the
// server buffer without bound, and idle connections time out. Each test
// checks that other clients are still served afterwards.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/integration/test_server.h"

namespace treecached::testing {
namespace {

using namespace std::chrono_literals;

std::string numbered_value(int i, size_t size) {
  std::string value(size, static_cast<char>('a' + i % 26));
  const std::string tag = std::to_string(i);
  value.replace(0, tag.size(), tag);  // each value differs from its neighbours
  return value;
}

// Stores `count` keys big0.. with values of `size` bytes; returns the line
// `get big0 big1 ...` and the reply it must get.
void store_big_values(Client& c, int count, size_t size, std::string& get_line,
                      std::string& expected) {
  std::string batch;
  get_line = "get";
  expected.clear();
  for (int i = 0; i < count; ++i) {
    const std::string key = "big" + std::to_string(i);
    const std::string value = numbered_value(i, size);
    batch += "set " + key + " 0 0 " + std::to_string(size) + " noreply\r\n" + value + "\r\n";
    get_line += " " + key;
    expected += "VALUE " + key + " 0 " + std::to_string(size) + "\r\n" + value + "\r\n";
  }
  expected += "END\r\n";
  get_line += "\r\n";
  ASSERT_TRUE(c.send(batch, 20s));
  ASSERT_TRUE(c.expect_reply("version\r\n", "VERSION "));
  c.read_until("\r\n");
}

void expect_served(const TestServer& server) {
  Client other(server);
  ASSERT_TRUE(other.connected()) << other.error();
  EXPECT_TRUE(other.expect_reply("set other 0 0 2\r\nok\r\nget other\r\n",
                                 "STORED\r\nVALUE other 0 2\r\nok\r\nEND\r\n"));
}

// A multi-get whose reply is many times the output batch: every value comes
// back in order, and the command pipelined behind it is answered after.
TEST(Limits, LargeMultiGetIsStreamedWhole) {
  TestServer server({"-m", "64"});
  ASSERT_TRUE(server.ok()) << server.error();
  if (server.external()) {
    GTEST_SKIP() << "needs its own server";
  }
  Client c(server);
  std::string get_line;
  std::string expected;
  store_big_values(c, 200, 20000, get_line, expected);  // a 4 MB reply
  EXPECT_TRUE(c.expect_reply(get_line + "version\r\n", expected, 20s));
  EXPECT_EQ(c.read_until("\r\n").rfind("VERSION ", 0), 0U);
  // gets carries the cas of each value.
  c.send("gets big0 big199 big5\r\n");
  const std::string gets = c.read_until("END\r\n");
  EXPECT_EQ(gets.rfind("VALUE big0 0 20000 ", 0), 0U) << printable(gets);
  expect_served(server);
}

// One multi-get line asks for 50 MB (the same 100 values, 25 times over) and
// the client reads nothing. The reply is streamed by reference as the client
// reads, so the server's memory stays near the cache's; other clients are
// served meanwhile, and the client that finally reads gets every byte.
TEST(Limits, ClientThatNeverReadsCannotGrowServerMemory) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "RSS is not meaningful under a sanitizer";
#endif
  TestServer server({"-m", "64"});
  ASSERT_TRUE(server.ok()) << server.error();
  if (server.external()) {
    GTEST_SKIP() << "needs its own server";
  }
  Client loader(server);
  std::string get_line;
  std::string expected_once;
  store_big_values(loader, 100, 20000, get_line, expected_once);
  const double loaded = rss_mib(server.pid());

  constexpr int kRepeats = 25;
  const std::string keys = get_line.substr(3, get_line.size() - 5);  // " big0 ... big99"
  std::string huge_get = "get";
  std::string expected;
  const std::string values = expected_once.substr(0, expected_once.size() - 5);  // no END
  for (int i = 0; i < kRepeats; ++i) {
    huge_get += keys;
    expected += values;
  }
  huge_get += "\r\n";
  expected += "END\r\n";
  Client sluggard(server);
  ASSERT_TRUE(sluggard.send(huge_get + "version\r\n"));
  std::this_thread::sleep_for(500ms);
  const double peak = rss_mib(server.pid());
  EXPECT_LT(peak, loaded + 16) << "loaded " << loaded << " MiB";
  expect_served(server);

  // Reading now yields the whole reply, then the pipelined command's.
  EXPECT_TRUE(sluggard.expect(expected, 30s));
  EXPECT_EQ(sluggard.read_until("\r\n").rfind("VERSION ", 0), 0U);
}

TEST(Limits, IdleConnectionsTimeOut) {
  TestServer server({"--idle-timeout", "1"});
  ASSERT_TRUE(server.ok()) << server.error();
  if (server.external()) {
    GTEST_SKIP() << "needs its own server";
  }
  Client idle(server);
  Client busy(server);
  ASSERT_TRUE(idle.expect_reply("set k 0 0 1\r\nv\r\n", "STORED\r\n"));
  // The busy client keeps talking every 300 ms and is never closed.
  const auto start = std::chrono::steady_clock::now();
  bool idle_closed = false;
  while (std::chrono::steady_clock::now() - start < 4s) {
    ASSERT_TRUE(busy.expect_reply("get k\r\n", "VALUE k 0 1\r\nv\r\nEND\r\n"));
    if (!idle_closed) {
      idle_closed = idle.wait_for_close(300ms);
    } else {
      std::this_thread::sleep_for(300ms);
    }
  }
  EXPECT_TRUE(idle_closed) << "an idle connection outlived --idle-timeout 1 by 3 s";
  EXPECT_TRUE(busy.expect_reply("stats settings\r\n", "STAT"));
  EXPECT_NE(busy.read_until("END\r\n").find("STAT idle_timeout 1\r\n"), std::string::npos);
  expect_served(server);
}

}  // namespace
}  // namespace treecached::testing
