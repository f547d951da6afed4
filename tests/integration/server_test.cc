// End-to-end tests over real TCP: the treecached binary on loopback, exact reply bytes.
//
// Every expected byte string here was checked against stock memcached 1.6.18, the reference
// (SPEC.md: "Where this file is silent, stock memcached 1.6 is the reference"). The one
// intentional difference, incr/decr storing the number with its own length, is tested by
// IncrDecrStoreTheNewLength only. With TEST_SERVER=host:port the suite runs against that server;
// tests that need their own flags or process are skipped then.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/test_server.h"

namespace treecached::testing {
namespace {

using namespace std::chrono_literals;

#define SKIP_IF_EXTERNAL()                                                 \
  do {                                                                     \
    if (external_server()) {                                               \
      GTEST_SKIP() << "needs its own server process (TEST_SERVER is set)"; \
    }                                                                      \
  } while (false)

// "set <key> <flags> <exptime> <bytes>\r\n<value>\r\n"
std::string storage_command(std::string_view command, std::string_view key, std::string_view value,
                            uint32_t flags = 0, long exptime = 0, std::string_view suffix = {}) {
  std::string out(command);
  out += ' ';
  out += key;
  out += ' ' + std::to_string(flags) + ' ' + std::to_string(exptime) + ' ' +
         std::to_string(value.size());
  out += suffix;
  out += "\r\n";
  out += value;
  out += "\r\n";
  return out;
}

std::string set_command(std::string_view key, std::string_view value, uint32_t flags = 0,
                        long exptime = 0) {
  return storage_command("set", key, value, flags, exptime);
}

// "VALUE <key> <flags> <bytes>\r\n<value>\r\n"
std::string value_block(std::string_view key, std::string_view value, uint32_t flags = 0) {
  std::string out = "VALUE ";
  out += key;
  out += ' ' + std::to_string(flags) + ' ' + std::to_string(value.size()) + "\r\n";
  out += value;
  out += "\r\n";
  return out;
}

std::string value_block_cas(std::string_view key, std::string_view value, uint32_t flags,
                            uint64_t cas) {
  std::string out = "VALUE ";
  out += key;
  out += ' ' + std::to_string(flags) + ' ' + std::to_string(value.size()) + ' ' +
         std::to_string(cas) + "\r\n";
  out += value;
  out += "\r\n";
  return out;
}

std::optional<uint64_t> to_u64(std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

// Sends "gets <key>" and returns the cas unique of a single hit; nullopt (with a test failure)
// on anything else.
std::optional<uint64_t> gets_unique(Client& client, std::string_view key) {
  if (!client.send("gets " + std::string(key) + "\r\n")) {
    ADD_FAILURE() << client.error();
    return std::nullopt;
  }
  const std::string header = client.read_until("\r\n");
  const std::string prefix = "VALUE " + std::string(key) + " ";
  if (header.rfind(prefix, 0) != 0 || header.size() < prefix.size() + 2) {
    ADD_FAILURE() << "gets " << key << ": unexpected header " << printable(header);
    return std::nullopt;
  }
  // "<flags> <bytes> <cas>"
  const std::string_view rest =
      std::string_view(header).substr(prefix.size(), header.size() - prefix.size() - 2);
  const size_t first = rest.find(' ');
  const size_t second = rest.rfind(' ');
  if (first == std::string_view::npos || first == second) {
    ADD_FAILURE() << "gets " << key << ": no cas in " << printable(header);
    return std::nullopt;
  }
  const auto bytes = to_u64(rest.substr(first + 1, second - first - 1));
  const auto cas = to_u64(rest.substr(second + 1));
  if (!bytes || !cas) {
    ADD_FAILURE() << "gets " << key << ": bad numbers in " << printable(header);
    return std::nullopt;
  }
  client.read_exactly(*bytes + 2);
  const std::string end = client.read_exactly(5);
  if (end != "END\r\n") {
    ADD_FAILURE() << "gets " << key << ": expected END, got " << printable(end);
    return std::nullopt;
  }
  return cas;
}

// The reply of "stats ..." as ordered (name, value) pairs.
struct Stats {
  std::vector<std::pair<std::string, std::string>> entries;

  std::optional<std::string> get(std::string_view name) const {
    for (const auto& [key, value] : entries) {
      if (key == name) {
        return value;
      }
    }
    return std::nullopt;
  }
  // The numeric value of `name`, or UINT64_MAX (with a test failure) if missing or not a number.
  uint64_t number(std::string_view name) const {
    const auto text = get(name);
    const auto value = text ? to_u64(*text) : std::nullopt;
    if (!value) {
      ADD_FAILURE() << "stat " << name << " is " << (text ? printable(*text) : "missing");
      return UINT64_MAX;
    }
    return *value;
  }
};

// Sends `command` and parses "STAT <name> <value>\r\n"... "END\r\n".
::testing::AssertionResult fetch_stats(Client& client, std::string_view command, Stats& out) {
  out.entries.clear();
  if (!client.send(std::string(command) + "\r\n")) {
    return ::testing::AssertionFailure() << client.error();
  }
  const std::string reply = client.read_until("END\r\n");
  if (reply.size() < 5 || reply.compare(reply.size() - 5, 5, "END\r\n") != 0) {
    return ::testing::AssertionFailure() << command << ": no END, got " << printable(reply);
  }
  std::string_view rest(reply);
  rest.remove_suffix(5);
  while (!rest.empty()) {
    const size_t eol = rest.find("\r\n");
    if (eol == std::string_view::npos) {
      return ::testing::AssertionFailure()
             << command << ": unterminated line in " << printable(reply);
    }
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const size_t space = line.find(' ', 5);
    if (line.substr(0, 5) != "STAT " || space == std::string_view::npos || space == 5) {
      return ::testing::AssertionFailure() << command << ": malformed line " << printable(line);
    }
    out.entries.emplace_back(std::string(line.substr(5, space - 5)),
                             std::string(line.substr(space + 1)));
  }
  return ::testing::AssertionSuccess();
}

// Every name in `names` is present, in this relative order.
::testing::AssertionResult has_in_order(const Stats& stats, const std::vector<std::string>& names) {
  std::string problems;
  size_t last_index = 0;
  std::string last_name;
  for (const auto& name : names) {
    size_t index = 0;
    while (index < stats.entries.size() && stats.entries[index].first != name) {
      ++index;
    }
    if (index == stats.entries.size()) {
      problems += "\n  missing: " + name;
      continue;
    }
    if (!last_name.empty() && index < last_index) {
      problems += "\n  " + name + " comes before " + last_name;
    }
    last_index = index;
    last_name = name;
  }
  if (problems.empty()) {
    return ::testing::AssertionSuccess();
  }
  std::string all;
  for (const auto& entry : stats.entries) {
    all += ' ' + entry.first;
  }
  return ::testing::AssertionFailure() << problems << "\n  got:" << all;
}

// "a b c" -> {"a", "b", "c"}
std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = std::min(text.find(' ', start), text.size());
    if (end > start) {
      out.emplace_back(text.substr(start, end - start));
    }
    start = end + 1;
  }
  return out;
}

// A fresh default server per test (or the TEST_SERVER one, flushed).
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>();
    ASSERT_TRUE(server_->ok()) << server_->error();
    if (server_->external()) {
      Client client(*server_);
      ASSERT_TRUE(client.connected()) << client.error();
      ASSERT_TRUE(client.expect_reply("flush_all\r\n", "OK\r\n"));
    }
  }

  Client connect() {
    Client client(*server_);
    EXPECT_TRUE(client.connected()) << client.error();
    return client;
  }

  std::unique_ptr<TestServer> server_;
};

// ---------------------------------------------------------------------------------------------
// Classic commands

TEST_F(ServerTest, SetAndGet) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("get a\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 5 0 3\r\nabc\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 5 3\r\nabc\r\nEND\r\n"));
  // Overwrite, maximum 32-bit flags, an empty value.
  EXPECT_TRUE(c.expect_reply("set a 4294967295 0 5\r\nhello\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 4294967295 5\r\nhello\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("set empty 0 0 0\r\n\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get empty\r\n", "VALUE empty 0 0\r\n\r\nEND\r\n"));
  // A value may contain \r\n and any byte.
  const std::string binary("x\r\ny\0z\xff", 7);
  EXPECT_TRUE(c.expect_reply(set_command("bin", binary, 1), "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get bin\r\n", value_block("bin", binary, 1) + "END\r\n"));
  // Multi-get: hits in request order, misses left out.
  EXPECT_TRUE(c.expect_reply("get a nope empty a\r\n",
                             "VALUE a 4294967295 5\r\nhello\r\nVALUE empty 0 0\r\n\r\n"
                             "VALUE a 4294967295 5\r\nhello\r\nEND\r\n"));
  // 250-byte keys are fine.
  const std::string key(250, 'k');
  EXPECT_TRUE(c.expect_reply(set_command(key, "v"), "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get " + key + "\r\n", value_block(key, "v") + "END\r\n"));
}

TEST_F(ServerTest, Add) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("add a 1 0 3\r\none\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("add a 2 0 3\r\ntwo\r\n", "NOT_STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 1 3\r\none\r\nEND\r\n"));
}

TEST_F(ServerTest, Replace) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("replace a 0 0 1\r\nx\r\n", "NOT_STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nx\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("replace a 7 0 2\r\nyy\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 7 2\r\nyy\r\nEND\r\n"));
}

TEST_F(ServerTest, AppendAndPrepend) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("append a 0 0 1\r\nx\r\n", "NOT_STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("prepend a 0 0 1\r\nx\r\n", "NOT_STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 3 0 2\r\nmm\r\n", "STORED\r\n"));
  // The flags and exptime of append/prepend are ignored; the item keeps its own.
  EXPECT_TRUE(c.expect_reply("append a 9 0 3\r\nend\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("prepend a 9 0 5\r\nstart\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 3 10\r\nstartmmend\r\nEND\r\n"));
}

TEST_F(ServerTest, Cas) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("cas a 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nx\r\n", "STORED\r\n"));
  const auto first = gets_unique(c, "a");
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(c.expect_reply("gets a\r\n", value_block_cas("a", "x", 0, *first) + "END\r\n"));
  EXPECT_TRUE(
      c.expect_reply("cas a 0 0 1 " + std::to_string(*first + 1000) + "\r\ny\r\n", "EXISTS\r\n"));
  EXPECT_TRUE(c.expect_reply("cas a 4 0 1 " + std::to_string(*first) + "\r\ny\r\n", "STORED\r\n"));
  // The unique changed with the store, so the old one is stale now.
  EXPECT_TRUE(c.expect_reply("cas a 0 0 1 " + std::to_string(*first) + "\r\nz\r\n", "EXISTS\r\n"));
  const auto second = gets_unique(c, "a");
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(*first, *second);
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 4 1\r\ny\r\nEND\r\n"));
  // Uniques of different items differ too, and every write changes them.
  EXPECT_TRUE(c.expect_reply("set b 0 0 1\r\nx\r\n", "STORED\r\n"));
  const auto other = gets_unique(c, "b");
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(*other, *second);
  EXPECT_NE(*other, *first);
  EXPECT_TRUE(c.expect_reply("gets a b\r\n", value_block_cas("a", "y", 4, *second) +
                                                 value_block_cas("b", "x", 0, *other) + "END\r\n"));
  EXPECT_TRUE(c.expect_reply("append b 0 0 1\r\nx\r\n", "STORED\r\n"));
  const auto appended = gets_unique(c, "b");
  ASSERT_TRUE(appended.has_value());
  EXPECT_NE(*appended, *other);
}

TEST_F(ServerTest, GatAndGats) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("gat 100 a\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 2 0 1\r\nx\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("set b 3 0 2\r\nyy\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("gat 100 a\r\n", "VALUE a 2 1\r\nx\r\nEND\r\n"));
  EXPECT_TRUE(
      c.expect_reply("gat 100 a nope b\r\n", "VALUE a 2 1\r\nx\r\nVALUE b 3 2\r\nyy\r\nEND\r\n"));
  const auto unique = gets_unique(c, "a");
  ASSERT_TRUE(unique.has_value());
  EXPECT_TRUE(
      c.expect_reply("gats 0 a nope\r\n", value_block_cas("a", "x", 2, *unique) + "END\r\n"));
  EXPECT_TRUE(c.expect_reply("gats 0 nope\r\n", "END\r\n"));
}

TEST_F(ServerTest, Touch) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("touch a 10\r\n", "NOT_FOUND\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nx\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("touch a 10\r\n", "TOUCHED\r\n"));
  EXPECT_TRUE(c.expect_reply("touch a abc\r\n", "CLIENT_ERROR invalid exptime argument\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"));
}

TEST_F(ServerTest, IncrAndDecr) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("incr n 1\r\n", "NOT_FOUND\r\n"));
  EXPECT_TRUE(c.expect_reply("decr n 1\r\n", "NOT_FOUND\r\n"));
  EXPECT_TRUE(c.expect_reply("set n 5 0 2\r\n10\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("incr n 5\r\n", "15\r\n"));
  EXPECT_TRUE(c.expect_reply("get n\r\n", "VALUE n 5 2\r\n15\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("decr n 100\r\n", "0\r\n"));  // stops at zero
  // A number that grows gets a longer value.
  EXPECT_TRUE(c.expect_reply("set n 0 0 2\r\n99\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("incr n 1\r\n", "100\r\n"));
  EXPECT_TRUE(c.expect_reply("get n\r\n", "VALUE n 0 3\r\n100\r\nEND\r\n"));
  // Unsigned 64-bit: the maximum delta, then wrap-around.
  EXPECT_TRUE(c.expect_reply("set m 0 0 1\r\n0\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("incr m 18446744073709551615\r\n", "18446744073709551615\r\n"));
  EXPECT_TRUE(c.expect_reply("incr m 1\r\n", "0\r\n"));
  // Bad values and deltas.
  EXPECT_TRUE(c.expect_reply("set s 0 0 3\r\nabc\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("incr s 1\r\n",
                             "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"));
  EXPECT_TRUE(c.expect_reply("decr s 1\r\n",
                             "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"));
  EXPECT_TRUE(c.expect_reply("incr n abc\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n"));
  EXPECT_TRUE(c.expect_reply("incr n -1\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n"));
  EXPECT_TRUE(c.expect_reply("incr n 18446744073709551616\r\n",
                             "CLIENT_ERROR invalid numeric delta argument\r\n"));
  EXPECT_TRUE(c.expect_reply("get s\r\n", "VALUE s 0 3\r\nabc\r\nEND\r\n"));
}

// treecached's one intentional difference from memcached: "10" decr 1 stores "9", not "9 ".
TEST_F(ServerTest, IncrDecrStoreTheNewLength) {
  SKIP_IF_EXTERNAL();  // stock memcached pads with spaces
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("set n 3 0 2\r\n10\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("decr n 1\r\n", "9\r\n"));
  EXPECT_TRUE(c.expect_reply("get n\r\n", "VALUE n 3 1\r\n9\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("set w 0 0 20\r\n18446744073709551615\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("incr w 1\r\n", "0\r\n"));
  EXPECT_TRUE(c.expect_reply("get w\r\n", "VALUE w 0 1\r\n0\r\nEND\r\n"));
}

TEST_F(ServerTest, Delete) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("delete a\r\n", "NOT_FOUND\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nx\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("delete a\r\n", "DELETED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("delete a\r\n", "NOT_FOUND\r\n"));
  // memcached's legacy "delete <key> 0" is the path "<key> 0" here (SPEC.md section 2).
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nx\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("delete a 0\r\n", "NOT_FOUND\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 0 0 0 1\r\ny\r\n", "STORED\r\n"));  // the node "a 0"
  EXPECT_TRUE(c.expect_reply("delete a 0\r\n", "DELETED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"));
}

TEST_F(ServerTest, FlushAll) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nx\r\nset b 0 0 1\r\ny\r\n", "STORED\r\nSTORED\r\n"));
  EXPECT_TRUE(c.expect_reply("flush_all\r\n", "OK\r\n"));
  EXPECT_TRUE(c.expect_reply("get a b\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nz\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 0 1\r\nz\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("flush_all 0\r\n", "OK\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "END\r\n"));
}

// The only sleeping tests: each waits ~2.2 s of wall time.
TEST_F(ServerTest, FlushAllWithDelay) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nx\r\n", "STORED\r\n"));
  // memcached flushes at now + delay - 1 on a whole-second clock, so a delay
  // of 2 may take effect within milliseconds; 3 leaves at least a second.
  EXPECT_TRUE(c.expect_reply("flush_all 3\r\n", "OK\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"));
  std::this_thread::sleep_for(3200ms);
  EXPECT_TRUE(c.expect_reply("get a\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\ny\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 0 1\r\ny\r\nEND\r\n"));
}

TEST_F(ServerTest, Expiry) {
  Client c = connect();
  const long now = static_cast<long>(std::time(nullptr));
  // 2 s TTLs: with whole-second clocks a 1 s TTL may end within
  // milliseconds, before the reads below.
  EXPECT_TRUE(c.expect_reply(set_command("short", "1", 0, 2), "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply(set_command("forever", "2", 0, 0), "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply(set_command("touched", "3", 0, 2), "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply(set_command("gatted", "4", 0, 2), "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply(set_command("gone", "5", 0, -1), "STORED\r\n"));
  // Above 30 days exptime is an absolute unix time.
  EXPECT_TRUE(c.expect_reply(set_command("past", "6", 0, now - 100), "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply(set_command("future", "7", 0, now + 1000), "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get gone past\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("get short future\r\n",
                             "VALUE short 0 1\r\n1\r\nVALUE future 0 1\r\n7\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("touch touched 100\r\n", "TOUCHED\r\n"));
  EXPECT_TRUE(c.expect_reply("gat 0 gatted\r\n", "VALUE gatted 0 1\r\n4\r\nEND\r\n"));
  std::this_thread::sleep_for(3100ms);
  EXPECT_TRUE(c.expect_reply("get short\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("get forever touched gatted future\r\n",
                             "VALUE forever 0 1\r\n2\r\nVALUE touched 0 1\r\n3\r\n"
                             "VALUE gatted 0 1\r\n4\r\nVALUE future 0 1\r\n7\r\nEND\r\n"));
}

TEST_F(ServerTest, Noreply) {
  Client c = connect();
  ASSERT_TRUE(
      c.send("set a 0 0 1 noreply\r\n1\r\n"
             "add a 0 0 1 noreply\r\n2\r\n"
             "add b 0 0 1 noreply\r\n5\r\n"
             "replace b 0 0 2 noreply\r\n10\r\n"
             "append a 0 0 1 noreply\r\nx\r\n"
             "prepend a 0 0 1 noreply\r\ny\r\n"
             "incr b 5 noreply\r\n"
             "decr b 1 noreply\r\n"
             "touch b 100 noreply\r\n"
             "cas a 0 0 1 1 noreply\r\nz\r\n"
             "cas nope 0 0 1 1 noreply\r\nz\r\n"
             "delete nope noreply\r\n"
             "verbosity 0 noreply\r\n"
             "get a b\r\n"));
  EXPECT_TRUE(c.expect("VALUE a 0 3\r\ny1x\r\nVALUE b 0 2\r\n14\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("delete a noreply\r\nflush_all noreply\r\nget a b\r\n", "END\r\n"));
}

TEST_F(ServerTest, Version) {
  Client c = connect();
  ASSERT_TRUE(c.send("version\r\n"));
  const std::string reply = c.read_until("\r\n");
  ASSERT_GT(reply.size(), 10u) << printable(reply);
  EXPECT_EQ(reply.substr(0, 8), "VERSION ") << printable(reply);
  EXPECT_EQ(reply.find(' ', 8), std::string::npos) << printable(reply);
  Stats stats;
  ASSERT_TRUE(fetch_stats(c, "stats", stats));
  EXPECT_EQ("VERSION " + stats.get("version").value_or("?") + "\r\n", reply);
}

TEST_F(ServerTest, Verbosity) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("verbosity 1\r\n", "OK\r\n"));
  EXPECT_TRUE(c.expect_reply("verbosity 0\r\n", "OK\r\n"));
  EXPECT_TRUE(c.expect_reply("verbosity\r\n", "ERROR\r\n"));
  EXPECT_TRUE(c.expect_reply("version\r\n", "VERSION ", 5s));
}

TEST_F(ServerTest, QuitClosesTheConnection) {
  Client c = connect();
  ASSERT_TRUE(c.send("set a 0 0 1\r\nx\r\nquit\r\nget a\r\nversion\r\n"));
  EXPECT_TRUE(c.expect("STORED\r\n"));
  std::string rest;
  EXPECT_TRUE(c.wait_for_close(5s, &rest)) << "still open after quit";
  EXPECT_EQ(rest, "") << "commands after quit were answered: " << printable(rest);
  // The server itself is fine.
  Client other = connect();
  EXPECT_TRUE(other.expect_reply("get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"));
  EXPECT_TRUE(other.expect_reply("quit\r\n", ""));
  EXPECT_TRUE(other.wait_for_close());
}

TEST_F(ServerTest, ErrorReplies) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("bogus\r\n", "ERROR\r\n"));
  EXPECT_TRUE(c.expect_reply("\r\n", "ERROR\r\n"));
  EXPECT_TRUE(c.expect_reply("get\r\n", "ERROR\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 0 0\r\n", "ERROR\r\n"));
  EXPECT_TRUE(c.expect_reply("cas a 0 0 1\r\n", "ERROR\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 0 0 abc\r\n", "CLIENT_ERROR bad command line format\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 0 0 -1\r\n", "CLIENT_ERROR bad command line format\r\n"));
  // A data block must end in \r\n. memcached reads <bytes>+2 bytes, rejects them and parses the
  // rest ("\n") as an (empty) command line.
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nxy\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "END\r\n"));
  // Keys longer than 250 bytes.
  const std::string long_key(251, 'k');
  EXPECT_TRUE(
      c.expect_reply("get " + long_key + "\r\n", "CLIENT_ERROR bad command line format\r\n"));
  EXPECT_TRUE(
      c.expect_reply("delete " + long_key + "\r\n", "CLIENT_ERROR bad command line format\r\n"));
  EXPECT_TRUE(
      c.expect_reply("incr " + long_key + " 1\r\n", "CLIENT_ERROR bad command line format\r\n"));
  EXPECT_TRUE(
      c.expect_reply("touch " + long_key + " 1\r\n", "CLIENT_ERROR bad command line format\r\n"));
  // memcached does not swallow the data of a set it rejected for its key: "x" is a command.
  EXPECT_TRUE(c.expect_reply(set_command(long_key, "x"),
                             "CLIENT_ERROR bad command line format\r\nERROR\r\n"));
  EXPECT_TRUE(c.expect_reply("version\r\n", "VERSION "));
}

// ---------------------------------------------------------------------------------------------
// stats

TEST_F(ServerTest, StatsGeneral) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("set a 0 0 3\r\nabc\r\n", "STORED\r\n"));
  Stats stats;
  ASSERT_TRUE(fetch_stats(c, "stats", stats));
  // memcached's names in memcached's order.
  const std::vector<std::string> names = words(
      "pid uptime time version curr_connections total_connections cmd_get cmd_set "
      "cmd_touch get_hits get_misses get_expired delete_misses delete_hits incr_misses "
      "incr_hits decr_misses decr_hits cas_misses cas_hits cas_badval touch_hits "
      "touch_misses bytes_read bytes_written limit_maxbytes threads bytes curr_items "
      "total_items expired_unfetched evictions");
  EXPECT_TRUE(has_in_order(stats, names));
  for (const auto& [name, value] : stats.entries) {
    EXPECT_EQ(value.find(' '), std::string::npos) << name << " " << value;
  }
  for (const char* name :
       {"pid", "uptime", "time", "curr_connections", "total_connections", "cmd_get", "cmd_set",
        "get_hits", "get_misses", "bytes_read", "bytes_written", "limit_maxbytes", "threads",
        "bytes", "curr_items", "total_items", "evictions"}) {
    stats.number(name);
  }
  const auto now = static_cast<uint64_t>(std::time(nullptr));
  EXPECT_LE(stats.number("time"), now + 2);
  EXPECT_GE(stats.number("time") + 2, now);
  EXPECT_GE(stats.number("curr_connections"), 1u);
  EXPECT_GE(stats.number("total_connections"), 1u);
  EXPECT_GE(stats.number("bytes_read"), 19u);
  EXPECT_GE(stats.number("curr_items"), 1u);
  EXPECT_GT(stats.number("bytes"), 3u);
  EXPECT_LE(stats.number("bytes"), stats.number("limit_maxbytes"));
  if (!server_->external()) {
    EXPECT_EQ(stats.number("pid"), static_cast<uint64_t>(server_->pid()));
    EXPECT_LE(stats.number("uptime"), 10u);
    EXPECT_EQ(stats.number("threads"), 2u);
    EXPECT_EQ(stats.number("limit_maxbytes"), 64u * 1024 * 1024);
    EXPECT_EQ(stats.number("curr_connections"), 1u);
    EXPECT_EQ(stats.number("curr_items"), 1u);  // memcached counts flushed items until reclaimed
    EXPECT_EQ(stats.number("total_items"), 1u);
  }
  // A second connection shows up in the counters.
  Client other = connect();
  EXPECT_TRUE(other.expect_reply("version\r\n", "VERSION "));
  Stats again;
  ASSERT_TRUE(fetch_stats(c, "stats", again));
  EXPECT_EQ(again.number("curr_connections"), stats.number("curr_connections") + 1);
  EXPECT_GE(again.number("total_connections"), stats.number("total_connections") + 1);
  EXPECT_GT(again.number("bytes_written"), stats.number("bytes_written"));
}

TEST_F(ServerTest, StatsCountersAndReset) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("stats reset\r\n", "RESET\r\n"));
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nx\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("get nope a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("delete a\r\n", "DELETED\r\n"));
  EXPECT_TRUE(c.expect_reply("delete a\r\n", "NOT_FOUND\r\n"));
  EXPECT_TRUE(c.expect_reply("set n 0 0 1\r\n5\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("incr n 1\r\nincr nope 1\r\n", "6\r\nNOT_FOUND\r\n"));
  EXPECT_TRUE(c.expect_reply("decr n 1\r\ndecr nope 1\r\ndecr nope 1\r\n",
                             "5\r\nNOT_FOUND\r\nNOT_FOUND\r\n"));
  EXPECT_TRUE(c.expect_reply("touch n 100\r\ntouch nope 100\r\n", "TOUCHED\r\nNOT_FOUND\r\n"));
  const auto unique = gets_unique(c, "n");
  ASSERT_TRUE(unique.has_value());
  EXPECT_TRUE(c.expect_reply("cas n 0 0 1 " + std::to_string(*unique) + "\r\n7\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("cas n 0 0 1 " + std::to_string(*unique) + "\r\n8\r\n", "EXISTS\r\n"));
  EXPECT_TRUE(c.expect_reply("cas nope 0 0 1 1\r\n8\r\n", "NOT_FOUND\r\n"));

  Stats stats;
  ASSERT_TRUE(fetch_stats(c, "stats", stats));
  EXPECT_EQ(stats.number("cmd_get"), 4u);  // one per key: a, nope, a, n
  EXPECT_EQ(stats.number("get_hits"), 3u);
  EXPECT_EQ(stats.number("get_misses"), 1u);
  EXPECT_EQ(stats.number("cmd_set"), 5u);  // set a, set n and three cas
  EXPECT_EQ(stats.number("delete_hits"), 1u);
  EXPECT_EQ(stats.number("delete_misses"), 1u);
  EXPECT_EQ(stats.number("incr_hits"), 1u);
  EXPECT_EQ(stats.number("incr_misses"), 1u);
  EXPECT_EQ(stats.number("decr_hits"), 1u);
  EXPECT_EQ(stats.number("decr_misses"), 2u);
  EXPECT_EQ(stats.number("cmd_touch"), 2u);
  EXPECT_EQ(stats.number("touch_hits"), 1u);
  EXPECT_EQ(stats.number("touch_misses"), 1u);
  EXPECT_EQ(stats.number("cas_hits"), 1u);
  EXPECT_EQ(stats.number("cas_badval"), 1u);
  EXPECT_EQ(stats.number("cas_misses"), 1u);
  const uint64_t items = stats.number("curr_items");
  if (!server_->external()) {
    EXPECT_EQ(items, 1u);  // memcached counts flushed items until reclaimed
  }

  EXPECT_TRUE(c.expect_reply("stats reset\r\n", "RESET\r\n"));
  ASSERT_TRUE(fetch_stats(c, "stats", stats));
  for (const char* name :
       {"cmd_get", "get_hits", "get_misses", "cmd_set", "delete_hits", "delete_misses", "incr_hits",
        "incr_misses", "decr_hits", "decr_misses", "cmd_touch", "touch_hits", "touch_misses",
        "cas_hits", "cas_badval", "cas_misses"}) {
    EXPECT_EQ(stats.number(name), 0u) << name << " after stats reset";
  }
  EXPECT_EQ(stats.number("curr_items"), items) << "stats reset must not drop items";
}

TEST(ServerFlags, StatsSettingsShowTheFlags) {
  const bool external = external_server().has_value();
  TestServer server(external ? std::vector<std::string>{}
                             : std::vector<std::string>{"-m", "32", "-c", "100", "-I", "2m", "-M"});
  ASSERT_TRUE(server.ok()) << server.error();
  Client c(server);
  Stats stats;
  ASSERT_TRUE(fetch_stats(c, "stats settings", stats));
  EXPECT_TRUE(has_in_order(
      stats, {"maxbytes", "maxconns", "tcpport", "evictions", "num_threads", "item_size_max"}));
  if (external) {
    EXPECT_EQ(stats.number("tcpport"), server.port());
  } else {
    // Started with -p 0: like memcached, the configured port (0) may be shown; the bound one is
    // fine too.
    const uint64_t port = stats.number("tcpport");
    EXPECT_TRUE(port == 0 || port == server.port()) << port;
    EXPECT_EQ(stats.number("maxbytes"), 32u * 1024 * 1024);
    EXPECT_EQ(stats.number("maxconns"), 100u);
    EXPECT_EQ(stats.get("evictions"), "off");
    EXPECT_EQ(stats.number("num_threads"), 2u);
    EXPECT_EQ(stats.number("item_size_max"), 2u * 1024 * 1024);
    Stats general;
    ASSERT_TRUE(fetch_stats(c, "stats", general));
    EXPECT_EQ(general.number("limit_maxbytes"), 32u * 1024 * 1024);
  }
}

// ---------------------------------------------------------------------------------------------
// Framing

TEST_F(ServerTest, HundredPipelinedCommandsInOneWrite) {
  Client c = connect();
  std::string request = set_command("counter", "0");
  std::string expected = "STORED\r\n";
  int counter = 0;
  for (int i = 1; i < 100; ++i) {
    const std::string key = "p" + std::to_string(i - i % 4);
    const std::string value = "value-" + std::to_string(i);
    switch (i % 4) {
      case 0:
        request += set_command(key, value, static_cast<uint32_t>(i));
        expected += "STORED\r\n";
        break;
      case 1:
        request += "get " + key + " p-missing\r\n";
        expected += (i < 4 ? ""
                           : value_block(key, "value-" + std::to_string(i - 1),
                                         static_cast<uint32_t>(i - 1))) +
                    "END\r\n";
        break;
      case 2:
        request += "incr counter 1\r\n";
        expected += std::to_string(++counter) + "\r\n";
        break;
      case 3:
        request += "delete " + key + "\r\n";
        expected += i < 4 ? "NOT_FOUND\r\n" : "DELETED\r\n";
        break;
    }
  }
  EXPECT_TRUE(c.expect_reply(request, expected));
  EXPECT_TRUE(c.expect_reply("get counter\r\n",
                             value_block("counter", std::to_string(counter)) + "END\r\n"));
}

TEST_F(ServerTest, RequestSplitByteByByte) {
  Client c = connect();
  const std::string value = "0123456789\r\nabc";
  const std::string request = set_command("split", value, 42) + "get split\r\n" +
                              "set n 0 0 2\r\n41\r\nincr n 1\r\ndelete split\r\nget split n\r\n";
  for (size_t i = 0; i < request.size(); ++i) {
    ASSERT_TRUE(c.send(request.substr(i, 1))) << c.error();
    if (i % 5 == 0) {
      std::this_thread::sleep_for(1ms);
    }
  }
  EXPECT_TRUE(c.expect("STORED\r\n" + value_block("split", value, 42) +
                       "END\r\nSTORED\r\n42\r\nDELETED\r\nVALUE n 0 2\r\n42\r\nEND\r\n"));
}

TEST_F(ServerTest, BareNewlineLineEndings) {
  Client c = connect();
  // A telnet or nc user: command lines end in \n, and so may the data block
  // (memcached would answer "bad data chunk" to the latter).
  EXPECT_TRUE(c.expect_reply("set typed 0 0 5\nhello\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get typed\n", "VALUE typed 0 5\r\nhello\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("set nl 3 0 2\n10\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get nl\n", "VALUE nl 3 2\r\n10\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("incr nl 5\n", "15\r\n"));
  EXPECT_TRUE(c.expect_reply("decr nl 1\n", "14\r\n"));
  EXPECT_TRUE(c.expect_reply("delete nl\n", "DELETED\r\n"));
  EXPECT_TRUE(c.expect_reply("get nl\n", "END\r\n"));
  // Mixed endings in one pipeline.
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\nx\r\nget a\r\nget a\ndelete a\r\ndelete a\n",
                             "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
                             "DELETED\r\nNOT_FOUND\r\n"));
}

TEST_F(ServerTest, MegabyteValueRoundTrip) {
  Client c = connect();
  std::string value(1'000'000, '\0');
  for (size_t i = 0; i < value.size(); ++i) {
    value[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
  }
  EXPECT_TRUE(c.expect_reply(set_command("big", value, 9), "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get big\r\n", value_block("big", value, 9) + "END\r\n"));
  EXPECT_TRUE(c.expect_reply(
      "get big big\r\n", value_block("big", value, 9) + value_block("big", value, 9) + "END\r\n"));
}

// The data of a refused value is full of commands: none of them may run.
std::string poisoned_value(size_t size) {
  std::string value;
  while (value.size() < size) {
    value += "delete victim\r\n";
  }
  value.resize(size, 'x');
  return value;
}

TEST_F(ServerTest, ValueOverDefaultItemSizeIsRefusedAndSwallowed) {
  Client c = connect();
  EXPECT_TRUE(
      c.expect_reply("set victim 0 0 1\r\nv\r\nset big 0 0 1\r\nb\r\n", "STORED\r\nSTORED\r\n"));
  EXPECT_TRUE(c.expect_reply(set_command("big", poisoned_value(1'100'000)) + "get victim\r\n",
                             "SERVER_ERROR object too large for cache\r\n"
                             "VALUE victim 0 1\r\nv\r\nEND\r\n"));
  // Like memcached, a failed set drops the old value so that no stale data stays behind.
  EXPECT_TRUE(c.expect_reply("get big\r\n", "END\r\n"));
}

TEST(ServerFlags, ValueOverMaxItemSizeIsRefusedAndSwallowed) {
  SKIP_IF_EXTERNAL();
  TestServer server({"-I", "64k"});
  ASSERT_TRUE(server.ok()) << server.error();
  Client c(server);
  EXPECT_TRUE(c.expect_reply("set victim 0 0 1\r\nv\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply(set_command("big", poisoned_value(70'000)),
                             "SERVER_ERROR object too large for cache\r\n"));
  EXPECT_TRUE(c.expect_reply("get victim big\r\n", "VALUE victim 0 1\r\nv\r\nEND\r\n"));
  // Split over several writes, the refused data is still swallowed.
  const std::string request = set_command("big", poisoned_value(100'000)) + "get victim\r\n";
  for (size_t offset = 0; offset < request.size(); offset += 30'000) {
    ASSERT_TRUE(c.send(std::string_view(request).substr(offset, 30'000)));
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(
      c.expect("SERVER_ERROR object too large for cache\r\n"
               "VALUE victim 0 1\r\nv\r\nEND\r\n"));
  const std::string fits(60'000, 'f');
  EXPECT_TRUE(c.expect_reply(set_command("big", fits), "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get big\r\n", value_block("big", fits) + "END\r\n"));
}

TEST_F(ServerTest, EndlessLineClosesTheConnection) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nx\r\n", "STORED\r\n"));
  ASSERT_TRUE(c.send("set " + std::string(4000, 'a')));  // no newline, not a get
  std::string received;
  EXPECT_TRUE(c.wait_for_close(5s, &received)) << "the connection stayed open";
  EXPECT_EQ(received, "") << printable(received);
  // Other and new connections are served.
  Client other = connect();
  EXPECT_TRUE(other.expect_reply("get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"));
}

TEST_F(ServerTest, LongMultiGetLine) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("set key0001 0 0 1\r\nA\r\nset key0399 0 0 1\r\nB\r\n",
                             "STORED\r\nSTORED\r\n"));
  std::string line = "get";
  for (int i = 0; i < 400; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, " key%04d", i);
    line += key;
  }
  ASSERT_GT(line.size(), 3000u);
  // First more than 2048 bytes without a newline, which a get may have; then the rest.
  ASSERT_TRUE(c.send(std::string_view(line).substr(0, 2500)));
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(c.expect_reply(line.substr(2500) + "\r\n",
                             "VALUE key0001 0 1\r\nA\r\nVALUE key0399 0 1\r\nB\r\nEND\r\n"));
  // And in one write.
  EXPECT_TRUE(
      c.expect_reply(line + "\r\n", "VALUE key0001 0 1\r\nA\r\nVALUE key0399 0 1\r\nB\r\nEND\r\n"));
}

// ---------------------------------------------------------------------------------------------
// Connections and load

TEST_F(ServerTest, ManyConcurrentClients) {
  constexpr int kThreads = 16;
  constexpr int kPairs = 250;  // 500 operations per thread
  std::atomic<int> failures{0};
  std::mutex mutex;
  std::string first_failure;
  auto fail = [&](const std::string& what) {
    if (failures.fetch_add(1) == 0) {
      const std::lock_guard lock(mutex);
      first_failure = what;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client c(*server_);
      if (!c.connected()) {
        fail("connect: " + c.error());
        return;
      }
      for (int i = 0; i < kPairs; ++i) {
        const std::string key = "t" + std::to_string(t) + "_" + std::to_string(i % 37);
        const std::string value = std::string(static_cast<size_t>(i % 50), 'v') + "/" +
                                  std::to_string(t) + "/" + std::to_string(i);
        auto stored =
            c.expect_reply(set_command(key, value, static_cast<uint32_t>(t)), "STORED\r\n");
        auto got = c.expect_reply("get " + key + "\r\n",
                                  value_block(key, value, static_cast<uint32_t>(t)) + "END\r\n");
        if (!stored || !got) {
          fail("thread " + std::to_string(t) + " op " + std::to_string(i) + ": " +
               (stored ? got.message() : stored.message()));
          return;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures.load(), 0) << first_failure;
}

TEST(ServerFlags, MaxConnections) {
  SKIP_IF_EXTERNAL();
  TestServer server({"-c", "5"});
  ASSERT_TRUE(server.ok()) << server.error();
  std::vector<Client> clients;
  for (int i = 0; i < 5; ++i) {
    clients.emplace_back(server);
    ASSERT_TRUE(clients.back().connected()) << clients.back().error();
    EXPECT_TRUE(clients.back().expect_reply("version\r\n", "VERSION ")) << "client " << i;
    clients.back().read_until("\r\n");
  }
  Client sixth(server);
  ASSERT_TRUE(sixth.connected()) << sixth.error();
  EXPECT_TRUE(sixth.expect("ERROR Too many open connections\r\n"));
  EXPECT_TRUE(sixth.wait_for_close()) << "the refused connection stayed open";
  for (size_t i = 0; i < clients.size(); ++i) {
    EXPECT_TRUE(clients[i].expect_reply("set k 0 0 1\r\nx\r\n", "STORED\r\n")) << "client " << i;
  }
  // A freed slot can be used again (the close is noticed asynchronously, so retry briefly).
  clients.front().close();
  bool reused = false;
  for (int attempt = 0; attempt < 100 && !reused; ++attempt) {
    Client again(server);
    if (again.connected() && again.send("get k\r\n")) {
      const std::string reply = again.read_until("END\r\n", 1s);
      reused = reply == "VALUE k 0 1\r\nx\r\nEND\r\n";
      if (!reused && reply != "ERROR Too many open connections\r\n") {
        ADD_FAILURE() << "unexpected reply " << printable(reply);
        break;
      }
    }
    if (!reused) {
      std::this_thread::sleep_for(20ms);
    }
  }
  EXPECT_TRUE(reused) << "no connection accepted after one of five closed";
}

// ---------------------------------------------------------------------------------------------
// Memory limit

TEST(ServerFlags, OutOfMemoryWithEvictionsDisabled) {
  SKIP_IF_EXTERNAL();
  TestServer server({"-m", "2", "-M"});
  ASSERT_TRUE(server.ok()) << server.error();
  Client c(server);
  const std::string value(100 * 1024, 'm');
  int stored = 0;
  std::string reply;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(c.send(set_command("k" + std::to_string(i), value))) << c.error();
    reply = c.read_until("\r\n");
    if (reply != "STORED\r\n") {
      break;
    }
    ++stored;
  }
  EXPECT_EQ(reply, "SERVER_ERROR out of memory storing object\r\n")
      << "after " << stored << " stored values";
  EXPECT_GT(stored, 5);
  // Nothing was evicted, and the connection still works.
  EXPECT_TRUE(c.expect_reply("get k0\r\n", value_block("k0", value) + "END\r\n"));
  Stats stats;
  ASSERT_TRUE(fetch_stats(c, "stats", stats));
  EXPECT_EQ(stats.number("evictions"), 0u);
  EXPECT_EQ(stats.number("curr_items"), static_cast<uint64_t>(stored));
  EXPECT_LE(stats.number("bytes"), stats.number("limit_maxbytes"));
}

TEST(ServerFlags, EvictionsKeepMemoryUnderTheLimit) {
  SKIP_IF_EXTERNAL();
  TestServer server({"-m", "2"});
  ASSERT_TRUE(server.ok()) << server.error();
  Client c(server);
  const std::string value(100 * 1024, 'e');
  for (int i = 0; i < 100; ++i) {  // 10 MB through a 2 MB cache
    ASSERT_TRUE(c.expect_reply(set_command("k" + std::to_string(i), value), "STORED\r\n"))
        << "set " << i;
  }
  EXPECT_TRUE(c.expect_reply("get k99\r\n", value_block("k99", value) + "END\r\n"));
  EXPECT_TRUE(c.expect_reply("get k0\r\n", "END\r\n"));
  Stats stats;
  ASSERT_TRUE(fetch_stats(c, "stats", stats));
  EXPECT_EQ(stats.number("limit_maxbytes"), 2u * 1024 * 1024);
  EXPECT_LE(stats.number("bytes"), stats.number("limit_maxbytes"));
  EXPECT_GT(stats.number("evictions"), 0u);
  EXPECT_GT(stats.number("curr_items"), 0u);
  EXPECT_LT(stats.number("curr_items"), 100u);
  EXPECT_EQ(stats.number("curr_items") + stats.number("evictions"), 100u);
  EXPECT_EQ(stats.number("total_items"), 100u);
}

// ---------------------------------------------------------------------------------------------
// Process lifecycle and command line

TEST(ServerProcess, PrintsOneListeningLine) {
  SKIP_IF_EXTERNAL();
  TestServer server;
  ASSERT_TRUE(server.ok()) << server.error();
  EXPECT_EQ(server.host(), "127.0.0.1");
  Client c(server);
  EXPECT_TRUE(c.expect_reply("version\r\n", "VERSION "));
  c.close();
  EXPECT_TRUE(server.stop(SIGTERM).clean());
  const std::string out = server.stdout_text();
  const std::string line =
      "treecached listening on 127.0.0.1:" + std::to_string(server.port()) + "\n";
  EXPECT_EQ(out.substr(0, line.size()), line) << printable(out);
}

TEST(ServerProcess, SigtermStopsCleanlyWithClientsConnected) {
  SKIP_IF_EXTERNAL();
  TestServer server;
  ASSERT_TRUE(server.ok()) << server.error();
  Client idle(server);
  Client busy(server);
  ASSERT_TRUE(idle.connected() && busy.connected());
  EXPECT_TRUE(busy.expect_reply("set a 0 0 1\r\nx\r\n", "STORED\r\n"));
  ASSERT_TRUE(busy.send("get a"));  // half a command
  std::this_thread::sleep_for(20ms);
  const ExitStatus status = server.stop(SIGTERM);
  EXPECT_TRUE(status.clean()) << status.describe();
  EXPECT_TRUE(idle.wait_for_close(2s));
  EXPECT_TRUE(busy.wait_for_close(2s));
}

// Graceful stop: requests a client sent before SIGTERM are answered and their
// replies delivered in full, also to a client that was not reading at the
// time; then the connections close and the server exits 0.
TEST(ServerProcess, SigtermFinishesInFlightRequests) {
  SKIP_IF_EXTERNAL();
  TestServer server;
  ASSERT_TRUE(server.ok()) << server.error();
  const std::string big(500 * 1024, 'b');
  Client loader(server);
  ASSERT_TRUE(loader.expect_reply(
      "set big 0 0 " + std::to_string(big.size()) + "\r\n" + big + "\r\n", "STORED\r\n"));
  // 10 MB of replies that this client does not read yet.
  Client slow(server);
  std::string gets;
  std::string slow_expected;
  for (int i = 0; i < 20; ++i) {
    gets += "get big\r\n";
    slow_expected += "VALUE big 0 " + std::to_string(big.size()) + "\r\n" + big + "\r\nEND\r\n";
  }
  ASSERT_TRUE(slow.send(gets));
  // A pipelined batch sent just before the signal.
  Client batch(server);
  std::string sets;
  std::string batch_expected;
  for (int i = 0; i < 3000; ++i) {
    sets += "set k" + std::to_string(i) + " 0 0 5\r\nhello\r\n";
    batch_expected += "STORED\r\n";
  }
  sets += "get k2999\r\n";
  batch_expected += "VALUE k2999 0 5\r\nhello\r\nEND\r\n";
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(batch.send(sets));
  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  EXPECT_TRUE(batch.expect(batch_expected));
  EXPECT_TRUE(batch.wait_for_close(2s));
  EXPECT_TRUE(slow.expect(slow_expected, 4s));
  EXPECT_TRUE(slow.wait_for_close(2s));
  const ExitStatus status = server.wait_for_exit();
  EXPECT_TRUE(status.clean()) << status.describe();
}

// SIGTERM that arrives right after the listening line, before the workers are busy.
TEST(ServerProcess, SigtermRightAfterStartup) {
  SKIP_IF_EXTERNAL();
  for (int attempt = 0; attempt < 10; ++attempt) {
    TestServer server;
    ASSERT_TRUE(server.ok()) << server.error();
    server.set_check_exit_on_destroy(false);
    const ExitStatus status = server.stop(SIGTERM, 2s);
    ASSERT_TRUE(status.clean()) << "attempt " << attempt << ": " << status.describe();
  }
}

TEST(ServerProcess, SigintStopsCleanly) {
  SKIP_IF_EXTERNAL();
  TestServer server;
  ASSERT_TRUE(server.ok()) << server.error();
  Client idle(server);
  EXPECT_TRUE(idle.expect_reply("version\r\n", "VERSION "));
  const ExitStatus status = server.stop(SIGINT);
  EXPECT_TRUE(status.clean()) << status.describe();
}

TEST_F(ServerTest, ShutdownNotEnabled) {
  Client c = connect();
  if (server_->external()) {
    // Never risk stopping somebody else's server.
    Stats settings;
    ASSERT_TRUE(fetch_stats(c, "stats settings", settings));
    if (settings.get("shutdown_command") != "no") {
      GTEST_SKIP() << "TEST_SERVER does not say shutdown_command no";
    }
  }
  EXPECT_TRUE(c.expect_reply("shutdown\r\n", "ERROR: shutdown not enabled\r\n"));
  EXPECT_TRUE(c.expect_reply("version\r\n", "VERSION "));
}

TEST(ServerProcess, ShutdownCommandWhenEnabled) {
  SKIP_IF_EXTERNAL();
  TestServer server({"-A"});
  ASSERT_TRUE(server.ok()) << server.error();
  Client c(server);
  Client idle(server);
  EXPECT_TRUE(c.expect_reply("set a 0 0 1\r\nx\r\n", "STORED\r\n"));
  ASSERT_TRUE(c.send("shutdown\r\n"));
  std::string received;
  EXPECT_TRUE(c.wait_for_close(5s, &received));
  EXPECT_EQ(received, "") << printable(received);  // memcached closes without a reply
  const ExitStatus status = server.wait_for_exit(5s);
  EXPECT_TRUE(status.clean()) << status.describe();
  EXPECT_TRUE(idle.wait_for_close(2s));
}

TEST(CommandLine, HelpPrintsUsage) {
  SKIP_IF_EXTERNAL();
  for (const char* flag : {"-h", "--help"}) {
    const ProcessResult result = run_binary({flag});
    EXPECT_TRUE(result.status.clean()) << flag << ": " << result.status.describe();
    EXPECT_NE(result.out.find("-p"), std::string::npos) << flag << ": " << printable(result.out);
    EXPECT_NE(result.out.find("--port"), std::string::npos) << printable(result.out);
    EXPECT_NE(result.out.find("-m"), std::string::npos) << printable(result.out);
  }
}

// "treecached X.Y.Z" (a suffix after Z allowed, no spaces) and a newline. Checked by
// hand: std::regex draws a false -Wmaybe-uninitialized from GCC 12 under ASan.
bool is_version_line(std::string_view text) {
  constexpr std::string_view kPrefix = "treecached ";
  if (!text.starts_with(kPrefix) || !text.ends_with('\n')) {
    return false;
  }
  std::string_view version = text.substr(kPrefix.size(), text.size() - kPrefix.size() - 1);
  for (int part = 0; part < 3; ++part) {
    if (part > 0) {
      if (!version.starts_with('.')) {
        return false;
      }
      version.remove_prefix(1);
    }
    size_t digits = 0;
    while (digits < version.size() && version[digits] >= '0' && version[digits] <= '9') {
      ++digits;
    }
    if (digits == 0) {
      return false;
    }
    version.remove_prefix(digits);
  }
  return version.find_first_of(" \t\r\n") == std::string_view::npos;
}

// -V prints the treecached release ("treecached 0.1.0"); the `version` command reports the
// memcached protocol version instead, on purpose (server/config.h), so the two are not compared.
TEST(CommandLine, VersionFlagPrintsTheVersion) {
  SKIP_IF_EXTERNAL();
  EXPECT_TRUE(is_version_line("treecached 0.1.0\n"));
  EXPECT_TRUE(is_version_line("treecached 10.2.33-dev\n"));
  EXPECT_FALSE(is_version_line("treecached 0.1\n"));
  EXPECT_FALSE(is_version_line("treecached 0.1.0"));
  EXPECT_FALSE(is_version_line("treecached 0.1.0 x\n"));
  EXPECT_FALSE(is_version_line("VERSION 1.6.18\n"));
  for (const char* flag : {"-V", "--version"}) {
    const ProcessResult result = run_binary({flag});
    EXPECT_TRUE(result.status.clean()) << flag << ": " << result.status.describe();
    EXPECT_TRUE(is_version_line(result.out)) << flag << ": " << printable(result.out);
  }
}

TEST(CommandLine, BadArgumentsExitNonZero) {
  SKIP_IF_EXTERNAL();
  const std::vector<std::vector<std::string>> cases = {
      {"-t", "0"},    {"-p", "abc"},      {"-p", "65536"}, {"-m", "abc"},     {"-c", "x"},
      {"-I", "huge"}, {"--no-such-flag"}, {"-p"},          {"stray-argument"}};
  for (const auto& args : cases) {
    std::string shown;
    for (const auto& arg : args) {
      shown += arg + ' ';
    }
    std::vector<std::string> full{"-l", "127.0.0.1"};
    full.insert(full.end(), args.begin(), args.end());
    const ProcessResult result = run_binary(full, 3s);
    EXPECT_EQ(result.status.kind, ExitStatus::Kind::kExited) << shown << result.status.describe();
    EXPECT_NE(result.status.code, 0) << shown;
    EXPECT_EQ(result.out.find("listening"), std::string::npos) << shown << printable(result.out);
    EXPECT_FALSE(result.err.empty()) << shown << "no message on stderr";
  }
}

TEST(CommandLine, LongOptions) {
  SKIP_IF_EXTERNAL();
  TestServer server({"--port", "0", "--listen", "127.0.0.1", "--threads", "3", "--memory-limit",
                     "16", "--conn-limit", "50", "--max-item-size", "512k", "--disable-evictions",
                     "--enable-shutdown"});
  ASSERT_TRUE(server.ok()) << server.error();
  Client c(server);
  Stats settings;
  ASSERT_TRUE(fetch_stats(c, "stats settings", settings));
  EXPECT_EQ(settings.number("maxbytes"), 16u * 1024 * 1024);
  EXPECT_EQ(settings.number("maxconns"), 50u);
  EXPECT_EQ(settings.number("num_threads"), 3u);
  EXPECT_EQ(settings.number("item_size_max"), 512u * 1024);
  EXPECT_EQ(settings.get("evictions"), "off");
  EXPECT_EQ(settings.get("shutdown_command"), "yes");
}

}  // namespace
}  // namespace treecached::testing
