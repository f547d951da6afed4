// Hierarchical keys over real TCP (SPEC.md section 2): paths, getn/getsn,
// getch, getr, subtree delete, lifetimes and separator mode.

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/test_server.h"

namespace treecached::testing {
namespace {

class TreeTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args = {}) {
    server_ = std::make_unique<TestServer>(std::move(args));
    ASSERT_TRUE(server_->ok()) << server_->error();
    if (server_->external()) {
      GTEST_SKIP() << "needs its own server";
    }
  }
  void SetUp() override { start(); }

  Client connect() {
    Client client(*server_);
    EXPECT_TRUE(client.connected()) << client.error();
    return client;
  }

  std::unique_ptr<TestServer> server_;
};

std::string set_path(const std::string& path, const std::string& value, int exptime = 0) {
  return "set " + path + " 0 " + std::to_string(exptime) + " " + std::to_string(value.size()) +
         "\r\n" + value + "\r\n";
}

TEST_F(TreeTest, TelephonyRegistrations) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply(set_path("reg sip1 1001", "10.0.0.1:5060") +
                                 set_path("reg sip1 1002", "10.0.0.2:5060") +
                                 set_path("reg sip2 2001", "10.0.1.1:5060"),
                             "STORED\r\nSTORED\r\nSTORED\r\n"));
  // One node.
  EXPECT_TRUE(c.expect_reply("getn reg sip1 1002\r\n",
                             "VALUE reg sip1 1002 0 13\r\n10.0.0.2:5060\r\nEND\r\n"));
  // The servers, then one server's extensions: JSON arrays sorted bytewise.
  EXPECT_TRUE(c.expect_reply("getch reg\r\n", "VALUE reg 0 15\r\n[\"sip1\",\"sip2\"]\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("getch reg sip1\r\n",
                             "VALUE reg sip1 0 15\r\n[\"1001\",\"1002\"]\r\nEND\r\n"));
  // Everything under reg sip1 in one request.
  EXPECT_TRUE(c.expect_reply("getr reg sip1\r\n",
                             "VALUE reg sip1 1001 0 13\r\n10.0.0.1:5060\r\n"
                             "VALUE reg sip1 1002 0 13\r\n10.0.0.2:5060\r\nEND\r\n"));
  // Drop the server's registrations; the other server is untouched.
  EXPECT_TRUE(c.expect_reply("delete reg sip1\r\n", "DELETED\r\n"));
  EXPECT_TRUE(c.expect_reply("getn reg sip1 1001\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("getr reg sip1\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("getch reg\r\n", "VALUE reg 0 8\r\n[\"sip2\"]\r\nEND\r\n"));
  EXPECT_TRUE(
      c.expect_reply("getr reg\r\n", "VALUE reg sip2 2001 0 13\r\n10.0.1.1:5060\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("delete reg sip1\r\n", "NOT_FOUND\r\n"));
  // The last registration gone, the value-less ancestors go too.
  EXPECT_TRUE(c.expect_reply("delete reg sip2 2001\r\n", "DELETED\r\n"));
  EXPECT_TRUE(c.expect_reply("getch reg\r\n", "END\r\n"));
  // The top level is named "/" (issue 12, defect 13: an empty key made
  // "VALUE  0 2", which client parsers reject).
  EXPECT_TRUE(c.expect_reply("getch\r\n", "VALUE / 0 2\r\n[]\r\nEND\r\n"));
}

TEST_F(TreeTest, CallLegsGoWithTheCall) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply(set_path("call c1", "INVITE") + set_path("call c1 legA", "alice") +
                                 set_path("call c1 legB", "bob") +
                                 set_path("call c2 legA", "carol"),
                             "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n"));
  // Parents before children.
  EXPECT_TRUE(c.expect_reply("getr call c1\r\n",
                             "VALUE call c1 0 6\r\nINVITE\r\nVALUE call c1 legA 0 5\r\nalice\r\n"
                             "VALUE call c1 legB 0 3\r\nbob\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("delete call c1 noreply\r\ngetr call c1\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("getr call\r\n", "VALUE call c2 legA 0 5\r\ncarol\r\nEND\r\n"));
}

TEST_F(TreeTest, SetOnAParentKeepsItsChildren) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply(set_path("a b", "child") + set_path("a", "v1") + set_path("a", "v2"),
                             "STORED\r\nSTORED\r\nSTORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get a\r\n", "VALUE a 0 2\r\nv2\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("getn a b\r\n", "VALUE a b 0 5\r\nchild\r\nEND\r\n"));
  // Value commands act on the node's own value only.
  EXPECT_TRUE(c.expect_reply("append a 0 0 1\r\n!\r\ntouch a 100\r\n", "STORED\r\nTOUCHED\r\n"));
  EXPECT_TRUE(
      c.expect_reply("getr a\r\n", "VALUE a 0 3\r\nv2!\r\nVALUE a b 0 5\r\nchild\r\nEND\r\n"));
}

TEST_F(TreeTest, ValuelessNodes) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply(set_path("x y z", "1"), "STORED\r\n"));
  // "x" and "x y" exist without values: reads miss, value commands miss.
  EXPECT_TRUE(c.expect_reply("get x\r\ngetn x y\r\n", "END\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("incr x y 1\r\ntouch x 10\r\n", "NOT_FOUND\r\nNOT_FOUND\r\n"));
  EXPECT_TRUE(c.expect_reply("replace x 0 0 1\r\nq\r\n", "NOT_STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("getch x\r\n", "VALUE x 0 5\r\n[\"y\"]\r\nEND\r\n"));
  // add gives a value-less node its value.
  EXPECT_TRUE(c.expect_reply("add x y 0 0 2\r\nxy\r\n", "STORED\r\n"));
  EXPECT_TRUE(
      c.expect_reply("getr x\r\n", "VALUE x y 0 2\r\nxy\r\nVALUE x y z 0 1\r\n1\r\nEND\r\n"));
  // Deleting a value-less node removes its subtree.
  EXPECT_TRUE(c.expect_reply("delete x\r\n", "DELETED\r\n"));
  EXPECT_TRUE(c.expect_reply("getn x y z\r\ngetch x\r\n", "END\r\nEND\r\n"));
}

TEST_F(TreeTest, NestedValueCommands) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply(set_path("ctr a b", "10"), "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("incr ctr a b 5\r\ndecr ctr a b 20\r\n", "15\r\n0\r\n"));
  EXPECT_TRUE(c.expect_reply("prepend ctr a b 0 0 1\r\n-\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("getn ctr a b\r\n", "VALUE ctr a b 0 2\r\n-0\r\nEND\r\n"));
  c.send("getsn ctr a b\r\n");
  const std::string gets = c.read_until("END\r\n");
  ASSERT_EQ(gets.rfind("VALUE ctr a b 0 2 ", 0), 0U) << printable(gets);
  const std::string cas = gets.substr(18, gets.find("\r\n") - 18);
  EXPECT_TRUE(c.expect_reply("cas ctr a b 7 0 1 " + cas + "\r\nz\r\n", "STORED\r\n"));
  EXPECT_TRUE(c.expect_reply("cas ctr a b 7 0 1 " + cas + "\r\nz\r\n", "EXISTS\r\n"));
  EXPECT_TRUE(c.expect_reply("getn ctr a b\r\n", "VALUE ctr a b 7 1\r\nz\r\nEND\r\n"));
  // Spacing between path tokens does not matter.
  EXPECT_TRUE(c.expect_reply("getn ctr  a   b\r\n", "VALUE ctr a b 7 1\r\nz\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("delete ctr a b noreply\r\ngetn ctr a b\r\n", "END\r\n"));
}

TEST_F(TreeTest, ParentLifetimeBoundsChildren) {
  Client c = connect();
  // A 2 s TTL: with whole-second clocks a 1 s TTL may end within
  // milliseconds, before the first read.
  EXPECT_TRUE(c.expect_reply(set_path("call ttl", "x", 2) + set_path("call ttl leg1", "a") +
                                 set_path("call ttl leg2 media", "b"),
                             "STORED\r\nSTORED\r\nSTORED\r\n"));
  EXPECT_TRUE(c.expect_reply("getn call ttl leg1\r\n", "VALUE call ttl leg1 0 1\r\na\r\nEND\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  EXPECT_TRUE(c.expect_reply("getn call ttl leg1\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("getn call ttl leg2 media\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("getr call\r\n", "END\r\n"));
  EXPECT_TRUE(c.expect_reply("stats tree\r\n",
                             "STAT nodes 0\r\nSTAT value_nodes 0\r\nSTAT max_depth 0\r\n"
                             "STAT subtree_deletes 0\r\nEND\r\n"));
}

TEST_F(TreeTest, StatsTree) {
  Client c = connect();
  EXPECT_TRUE(
      c.expect_reply(set_path("flat", "1") + set_path("t a b c", "1") + set_path("t a", "1"),
                     "STORED\r\nSTORED\r\nSTORED\r\n"));
  // flat, t, t a, t a b, t a b c: five nodes, three with values, four levels.
  EXPECT_TRUE(c.expect_reply("stats tree\r\n",
                             "STAT nodes 5\r\nSTAT value_nodes 3\r\nSTAT max_depth 4\r\n"
                             "STAT subtree_deletes 0\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("delete t a\r\n", "DELETED\r\n"));
  EXPECT_TRUE(c.expect_reply("stats tree\r\n",
                             "STAT nodes 1\r\nSTAT value_nodes 1\r\nSTAT max_depth 1\r\n"
                             "STAT subtree_deletes 1\r\nEND\r\n"));
}

TEST_F(TreeTest, ChildNamesAreJsonEscaped) {
  Client c = connect();
  EXPECT_TRUE(c.expect_reply(
      set_path("j \"q\\", "1") + set_path("j caf\xc3\xa9", "1") + set_path("j \xff\x01", "1"),
      "STORED\r\nSTORED\r\nSTORED\r\n"));
  const std::string json = "[\"\\\"q\\\\\",\"caf\xc3\xa9\",\"\\u00ff\\u0001\"]";
  EXPECT_TRUE(c.expect_reply(
      "getch j\r\n", "VALUE j 0 " + std::to_string(json.size()) + "\r\n" + json + "\r\nEND\r\n"));
}

TEST_F(TreeTest, PathErrors) {
  start({"--max-depth", "3"});
  Client c = connect();
  EXPECT_TRUE(c.expect_reply(set_path("a b c", "1"), "STORED\r\n"));
  // Too deep: the data block is swallowed, so the stream stays in sync
  // (issue 12, defect 7: it used to be read as a command, answering ERROR).
  EXPECT_TRUE(c.expect_reply(set_path("a b c d", "1"), "CLIENT_ERROR path too deep\r\n"));
  EXPECT_TRUE(c.expect_reply(set_path("a b c d", "get a\r\n") + "getn a b c\r\n",
                             "CLIENT_ERROR path too deep\r\nVALUE a b c 0 1\r\n1\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("getn a b c d\r\n", "CLIENT_ERROR path too deep\r\n"));
  EXPECT_TRUE(c.expect_reply("delete a b c d noreply\r\ngetn a b c\r\n",
                             "VALUE a b c 0 1\r\n1\r\nEND\r\n"));
  const std::string long_token(251, 'k');
  EXPECT_TRUE(
      c.expect_reply("getn a " + long_token + "\r\n", "CLIENT_ERROR bad command line format\r\n"));
  EXPECT_TRUE(c.expect_reply("getn\r\ngetr\r\n", "ERROR\r\nERROR\r\n"));
}

TEST_F(TreeTest, ListingLimit) {
  start({"--max-listing", "3"});
  Client c = connect();
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(c.expect_reply(set_path("big n" + std::to_string(i), "v"), "STORED\r\n"));
  }
  EXPECT_TRUE(c.expect_reply("getch big\r\n", "SERVER_ERROR more than 3 nodes to list\r\n"));
  EXPECT_TRUE(c.expect_reply("getr big\r\n", "SERVER_ERROR more than 3 nodes to list\r\n"));
  EXPECT_TRUE(c.expect_reply("delete big n3\r\n", "DELETED\r\n"));
  EXPECT_TRUE(
      c.expect_reply("getch big\r\n", "VALUE big 0 16\r\n[\"n0\",\"n1\",\"n2\"]\r\nEND\r\n"));
}

TEST_F(TreeTest, LargeSubtreeIsStreamed) {
  Client c = connect();
  const int kNodes = 3000;
  const std::string value(1000, 'v');
  std::string batch;
  for (int i = 0; i < kNodes; ++i) {
    batch += set_path("huge " + std::to_string(100000 + i), value);
  }
  std::string stored;
  for (int i = 0; i < kNodes; ++i) {
    stored += "STORED\r\n";
  }
  ASSERT_TRUE(c.expect_reply(batch, stored, std::chrono::milliseconds(20000)));
  std::string expected;
  for (int i = 0; i < kNodes; ++i) {
    expected += "VALUE huge " + std::to_string(100000 + i) + " 0 1000\r\n" + value + "\r\n";
  }
  expected += "END\r\n";
  // About 3 MB: more than one output batch, and a command pipelined behind it.
  EXPECT_TRUE(
      c.expect_reply("getr huge\r\nversion\r\n", expected, std::chrono::milliseconds(20000)));
  EXPECT_EQ(c.read_until("\r\n").rfind("VERSION ", 0), 0U);
}

TEST_F(TreeTest, SeparatorMode) {
  start({"--key-separator", ":"});
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("set user:42:name 0 0 3\r\nAda\r\nset user:42:lang 0 0 2\r\nen\r\n",
                             "STORED\r\nSTORED\r\n"));
  EXPECT_TRUE(c.expect_reply("get user:42:name\r\n", "VALUE user:42:name 0 3\r\nAda\r\nEND\r\n"));
  EXPECT_TRUE(
      c.expect_reply("getch user:42\r\n", "VALUE user:42 0 15\r\n[\"lang\",\"name\"]\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply(
      "getr user\r\n", "VALUE user:42:lang 0 2\r\nen\r\nVALUE user:42:name 0 3\r\nAda\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("delete user:42\r\n", "DELETED\r\n"));
  EXPECT_TRUE(c.expect_reply("get user:42:name user:42:lang\r\n", "END\r\n"));
  // Keys without the separator stay flat keys; malformed paths are refused.
  EXPECT_TRUE(c.expect_reply("set plain 0 0 1\r\np\r\nget plain\r\n",
                             "STORED\r\nVALUE plain 0 1\r\np\r\nEND\r\n"));
  EXPECT_TRUE(
      c.expect_reply("set a::b 0 0 1\r\nx\r\n", "CLIENT_ERROR bad command line format\r\n"));
  EXPECT_TRUE(c.expect_reply("set :a 0 0 1\r\nx\r\n", "CLIENT_ERROR bad command line format\r\n"));
  EXPECT_TRUE(c.expect_reply("get a::b\r\n", "END\r\n"));
}

// --memcached-syntax: extra tokens are memcached's errors and legacy forms
// (replies checked against memcached 1.6); hierarchy through the separator.
TEST_F(TreeTest, MemcachedSyntaxMode) {
  start({"--memcached-syntax", "--key-separator", ":"});
  Client c = connect();
  EXPECT_TRUE(c.expect_reply("set k 0 0 1\r\nv\r\ndelete k 0\r\nget k\r\n",
                             "STORED\r\nDELETED\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("delete a b c d e\r\n", "ERROR\r\n"));
  EXPECT_TRUE(
      c.expect_reply("delete a b\r\n",
                     "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"));
  EXPECT_TRUE(c.expect_reply("set a b 0 0 1\r\n", "CLIENT_ERROR bad command line format\r\n"));
  EXPECT_TRUE(c.expect_reply("incr a b c 1\r\n", "ERROR\r\n"));
  EXPECT_TRUE(c.expect_reply("set call:7:leg:1 0 0 2\r\nup\r\ngetch call:7\r\n",
                             "STORED\r\nVALUE call:7 0 7\r\n[\"leg\"]\r\nEND\r\n"));
  EXPECT_TRUE(c.expect_reply("delete call:7\r\nget call:7:leg:1\r\n", "DELETED\r\nEND\r\n"));
}

// After each DELETED, no set that completed before the delete was sent may
// be visible, and other subtrees are never touched.
TEST_F(TreeTest, SubtreeDeleteIsAtomicUnderConcurrentWrites) {
  constexpr int kWriters = 2;
  constexpr int kSetsPerWriter = 1500;
  constexpr int kRounds = 150;
  std::atomic<uint64_t> next_seq{0};
  std::atomic<uint64_t> completions{0};
  std::vector<std::atomic<uint64_t>> completed_at(kWriters * kSetsPerWriter + 1);
  for (auto& slot : completed_at) {
    slot.store(UINT64_MAX);
  }
  std::atomic<bool> failed{false};
  std::atomic<int> writers_done{0};

  Client setup = connect();
  ASSERT_TRUE(setup.expect_reply(set_path("other keep", "me"), "STORED\r\n"));

  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      Client c(*server_);
      for (int i = 0; i < kSetsPerWriter && !failed; ++i) {
        const uint64_t seq = next_seq.fetch_add(1);
        const std::string value = std::to_string(seq);
        if (!c.expect_reply(set_path("call X leg" + value, value) +
                                set_path("other w" + std::to_string(w), value),
                            "STORED\r\nSTORED\r\n")) {
          failed = true;
        }
        completed_at[seq].store(completions.fetch_add(1));
      }
      ++writers_done;
    });
  }
  Client deleter = connect();
  int violations = 0;
  // Delete for as long as the writers write, and at least kRounds times.
  for (int round = 0; round < kRounds || writers_done < kWriters; ++round) {
    const uint64_t before = completions.load();
    deleter.send("delete call X\r\n");
    const std::string reply = deleter.read_until("\r\n");
    ASSERT_TRUE(reply == "DELETED\r\n" || reply == "NOT_FOUND\r\n") << printable(reply);
    deleter.send("getr call X\r\n");
    const std::string listing = deleter.read_until("END\r\n", std::chrono::milliseconds(10000));
    ASSERT_TRUE(listing.ends_with("END\r\n")) << printable(listing);
    // Each VALUE line names a leg: "VALUE call X leg<seq> 0 <n>".
    for (size_t at = listing.find("VALUE call X leg"); at != std::string::npos;
         at = listing.find("VALUE call X leg", at + 1)) {
      const uint64_t seq = std::stoull(listing.substr(at + 16));
      if (completed_at[seq].load() < before) {
        ++violations;
      }
    }
  }
  for (auto& writer : writers) {
    writer.join();
  }
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(violations, 0);
  EXPECT_TRUE(deleter.expect_reply("getn other keep\r\n", "VALUE other keep 0 2\r\nme\r\nEND\r\n"));
  deleter.send("getch other\r\n");
  EXPECT_EQ(deleter.read_until("END\r\n"),
            "VALUE other 0 18\r\n[\"keep\",\"w0\",\"w1\"]\r\nEND\r\n");
}

}  // namespace
}  // namespace treecached::testing

namespace treecached::testing {
namespace {

// Expired values, and what hangs under them, leave memory without any read.
TEST(SweepOverTcp, ExpiredItemsAreReclaimedWithoutAccess) {
  TestServer server;
  ASSERT_TRUE(server.ok()) << server.error();
  if (server.external()) {
    GTEST_SKIP() << "needs its own server";
  }
  Client c(server);
  ASSERT_TRUE(
      c.expect_reply("set a 0 1 1\r\nx\r\nset call 0 1 1\r\nc\r\nset call leg 0 0 1\r\nl\r\n"
                     "set keep 0 0 1\r\nk\r\n",
                     "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  c.send("stats\r\n");
  const std::string stats = c.read_until("END\r\n");
  EXPECT_NE(stats.find("STAT curr_items 1\r\n"), std::string::npos) << printable(stats, 4000);
  EXPECT_NE(stats.find("STAT crawler_reclaimed 2\r\n"), std::string::npos)
      << printable(stats, 4000);
  EXPECT_TRUE(c.expect_reply("stats tree\r\n",
                             "STAT nodes 1\r\nSTAT value_nodes 1\r\nSTAT max_depth 1\r\n"
                             "STAT subtree_deletes 0\r\nEND\r\n"));
}

}  // namespace
}  // namespace treecached::testing
