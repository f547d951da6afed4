// Unit tests for bench/load/reply_parser.h. Each case is fed whole, one byte
// at a time and split at every point; the outcome must be the same.

#include "bench/load/reply_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace treecached::bench {
namespace {

struct Outcome {
  ReplyStatus status;
  uint32_t values;
  bool error;
  bool stored;
  size_t consumed;  // bytes of the input that belonged to the reply

  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{status " << static_cast<int>(o.status) << ", values " << o.values << ", error "
            << o.error << ", stored " << o.stored << ", consumed " << o.consumed << "}";
}

// Plays the caller: a buffer that receives `chunks` one after another, parse()
// after each, consumed bytes dropped from the front.
Outcome feed(ReplyKind kind, const std::vector<std::string>& chunks) {
  ReplyParser parser;
  parser.start(kind);
  std::string buffer;
  size_t total = 0;
  ReplyStatus status = ReplyStatus::kNeedMore;
  for (const std::string& chunk : chunks) {
    buffer += chunk;
    size_t consumed = 0;
    status = parser.parse(buffer, consumed);
    EXPECT_LE(consumed, buffer.size());
    buffer.erase(0, consumed);
    total += consumed;
    if (status != ReplyStatus::kNeedMore) {
      break;
    }
  }
  return {status, parser.values(), parser.error(), parser.stored(), total};
}

struct Case {
  const char* name;
  ReplyKind kind;
  std::string input;
  Outcome expected;
};

constexpr ReplyStatus kDone = ReplyStatus::kDone;
constexpr ReplyStatus kMore = ReplyStatus::kNeedMore;
constexpr ReplyStatus kBad = ReplyStatus::kProtocolError;
constexpr ReplyKind kGet = ReplyKind::kGet;
constexpr ReplyKind kStore = ReplyKind::kStore;
constexpr ReplyKind kMetaGet = ReplyKind::kMetaGet;
constexpr ReplyKind kMetaMulti = ReplyKind::kMetaMultiGet;
constexpr ReplyKind kMetaStore = ReplyKind::kMetaStore;

const std::vector<Case>& cases() {
  using namespace std::string_literals;
  static const std::vector<Case> kCases = {
      {"miss", kGet, "END\r\n", {kDone, 0, false, false, 5}},
      {"hit", kGet, "VALUE key:1 0 5\r\nhello\r\nEND\r\n", {kDone, 1, false, false, 29}},
      {"multiget",
       kGet,
       "VALUE a 0 1\r\nx\r\nVALUE b 3 2\r\nyz\r\nEND\r\n",
       {kDone, 2, false, false, 38}},
      {"value holding END lines",
       kGet,
       "VALUE a 0 7\r\nEND\r\nxy\r\nEND\r\n",
       {kDone, 1, false, false, 27}},
      {"empty value", kGet, "VALUE a 0 0\r\n\r\nEND\r\n", {kDone, 1, false, false, 20}},
      {"binary value", kGet, "VALUE a 0 3\r\n\0\n\r\r\nEND\r\n"s, {kDone, 1, false, false, 23}},
      {"bare newlines", kGet, "VALUE a 0 1\nx\r\nEND\n", {kDone, 1, false, false, 19}},
      {"next reply left alone", kGet, "END\r\nEND\r\n", {kDone, 0, false, false, 5}},
      {"get server error", kGet, "SERVER_ERROR out of memory\r\n", {kDone, 0, true, false, 28}},
      {"get client error",
       kGet,
       "CLIENT_ERROR bad command line format\r\n",
       {kDone, 0, true, false, 38}},
      {"get error", kGet, "ERROR\r\n", {kDone, 0, true, false, 7}},
      {"stored", kStore, "STORED\r\n", {kDone, 0, false, true, 8}},
      {"not stored", kStore, "NOT_STORED\r\n", {kDone, 0, false, false, 12}},
      {"exists", kStore, "EXISTS\r\n", {kDone, 0, false, false, 8}},
      {"set server error",
       kStore,
       "SERVER_ERROR out of memory storing object\r\n",
       {kDone, 0, true, false, 43}},
      {"set error", kStore, "ERROR\r\n", {kDone, 0, true, false, 7}},
      {"incomplete line", kGet, "VALUE a 0 5\r\nhel", {kMore, 1, false, false, 16}},
      {"incomplete end", kGet, "EN", {kMore, 0, false, false, 0}},
      {"store reply to get", kGet, "STORED\r\n", {kBad, 0, false, false, 8}},
      {"get reply to set", kStore, "END\r\n", {kBad, 0, false, false, 5}},
      {"bad length", kGet, "VALUE a 0 x\r\n", {kBad, 0, false, false, 13}},
      {"negative length", kGet, "VALUE a 0 -1\r\n", {kBad, 0, false, false, 14}},
      {"no key", kGet, "VALUE 5\r\n", {kBad, 0, false, false, 9}},
      {"bad trailer", kGet, "VALUE a 0 1\r\nxyEND\r\n", {kBad, 1, false, false, 14}},
      {"junk", kGet, "HELLO\r\n", {kBad, 0, false, false, 7}},
      // Meta replies, as memcached 1.6.18 sends them to `ms key:1 5`, `mg key:1 v`,
      // `mg key:1 v k q` + `mg nokey v k q` + `mn`, `mg nokey v`, and `ms` with C
      // of a missing key.
      {"meta stored", kMetaStore, "HD\r\n", {kDone, 0, false, true, 4}},
      {"meta hit", kMetaGet, "VA 5\r\nhello\r\n", {kDone, 1, false, false, 13}},
      {"meta multiget", kMetaMulti, "VA 5 kkey:1\r\nhello\r\nMN\r\n", {kDone, 1, false, false, 24}},
      {"meta miss", kMetaGet, "EN\r\n", {kDone, 0, false, false, 4}},
      {"meta not found", kMetaStore, "NF\r\n", {kDone, 0, false, false, 4}},
      {"meta not stored", kMetaStore, "NS\r\n", {kDone, 0, false, false, 4}},
      {"meta exists", kMetaStore, "EX\r\n", {kDone, 0, false, false, 4}},
      {"meta stored with flags", kMetaStore, "HD c123\r\n", {kDone, 0, false, true, 9}},
      {"meta multiget of two",
       kMetaMulti,
       "VA 1 ka\r\nx\r\nVA 2 kb\r\nyz\r\nMN\r\n",
       {kDone, 2, false, false, 29}},
      {"meta multiget all missing", kMetaMulti, "MN\r\n", {kDone, 0, false, false, 4}},
      {"meta hit leaves the next reply",
       kMetaGet,
       "VA 1\r\nx\r\nEN\r\n",
       {kDone, 1, false, false, 9}},
      {"meta value holding MN",
       kMetaMulti,
       "VA 4\r\nMN\r\n\r\nMN\r\n",
       {kDone, 1, false, false, 16}},
      {"meta client error",
       kMetaGet,
       "CLIENT_ERROR bad command line format\r\n",
       {kDone, 0, true, false, 38}},
      {"meta server error",
       kMetaStore,
       "SERVER_ERROR out of memory storing object\r\n",
       {kDone, 0, true, false, 43}},
      {"text reply to mg", kMetaGet, "END\r\n", {kBad, 0, false, false, 5}},
      {"text reply to ms", kMetaStore, "STORED\r\n", {kBad, 0, false, false, 8}},
      {"meta code with junk", kMetaStore, "HDX\r\n", {kBad, 0, false, false, 5}},
      {"meta bad length", kMetaGet, "VA x\r\n", {kBad, 0, false, false, 6}},
      {"meta no length", kMetaGet, "VA \r\n", {kBad, 0, false, false, 5}},
      {"EN ends no multiget", kMetaMulti, "EN\r\n", {kBad, 0, false, false, 4}},
  };
  return kCases;
}

TEST(ReplyParser, WholeInput) {
  for (const Case& c : cases()) {
    EXPECT_EQ(feed(c.kind, {c.input}), c.expected) << c.name;
  }
}

TEST(ReplyParser, ByteByByte) {
  for (const Case& c : cases()) {
    std::vector<std::string> bytes;
    for (const char b : c.input) {
      bytes.emplace_back(1, b);
    }
    EXPECT_EQ(feed(c.kind, bytes), c.expected) << c.name;
  }
}

TEST(ReplyParser, EverySplitPoint) {
  for (const Case& c : cases()) {
    for (size_t split = 0; split <= c.input.size(); ++split) {
      EXPECT_EQ(feed(c.kind, {c.input.substr(0, split), c.input.substr(split)}), c.expected)
          << c.name << " split at " << split;
    }
  }
}

TEST(ReplyParser, LongLineWithoutEndIsAnError) {
  EXPECT_EQ(feed(kGet, {std::string(ReplyParser::kMaxLine, 'V')}).status, kMore);
  EXPECT_EQ(feed(kGet, {std::string(ReplyParser::kMaxLine + 1, 'V')}).status, kBad);
}

TEST(ReplyParser, LargeValueStreamsThroughASmallBuffer) {
  // The caller never holds more than 1000 bytes; the value is 1 MB.
  const std::string value(1 << 20, 'v');
  const std::string reply =
      "VALUE big 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\nEND\r\n";
  std::vector<std::string> chunks;
  for (size_t at = 0; at < reply.size(); at += 1000) {
    chunks.push_back(reply.substr(at, 1000));
  }
  EXPECT_EQ(feed(kGet, chunks), (Outcome{kDone, 1, false, false, reply.size()}));
}

TEST(ReplyParser, PipelinedRepliesOneAfterAnother) {
  const std::string input = "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nEND\r\nNOT_STORED\r\n";
  ReplyParser parser;
  size_t pos = 0;
  size_t consumed = 0;
  parser.start(kStore);
  ASSERT_EQ(parser.parse(std::string_view(input).substr(pos), consumed), kDone);
  EXPECT_TRUE(parser.stored());
  pos += consumed;
  parser.start(kGet);
  ASSERT_EQ(parser.parse(std::string_view(input).substr(pos), consumed), kDone);
  EXPECT_EQ(parser.values(), 1u);
  pos += consumed;
  parser.start(kGet);
  ASSERT_EQ(parser.parse(std::string_view(input).substr(pos), consumed), kDone);
  EXPECT_EQ(parser.values(), 0u);
  pos += consumed;
  parser.start(kStore);
  ASSERT_EQ(parser.parse(std::string_view(input).substr(pos), consumed), kDone);
  EXPECT_FALSE(parser.stored());
  EXPECT_FALSE(parser.error());
  pos += consumed;
  EXPECT_EQ(pos, input.size());
}

}  // namespace
}  // namespace treecached::bench
