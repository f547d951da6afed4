// Unit tests for server::PathCodec: keys as clients send them -> store paths
// (tokens joined by single spaces) and back (SPEC §2, "Paths" and
// "Separator mode").

#include "server/path_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "protocol/parser.h"
#include "protocol/reply.h"
#include "storage/path.h"

namespace treecached::protocol {
static void PrintTo(ParseError e, std::ostream* os) { *os << name(e); }
}  // namespace treecached::protocol

namespace treecached::server {
namespace {

using protocol::ParseError;

struct CodecCase {
  char separator;
  size_t max_depth;
  std::string key;
  bool canonical;
  ParseError error;
  std::string path;  // kNone only
};

std::string describe(const CodecCase& c) {
  std::string out = "separator ";
  out += c.separator == 0 ? std::string("off") : std::string(1, c.separator);
  out += ", max_depth " + std::to_string(c.max_depth) + ", key '" + c.key + "'";
  out += c.canonical ? " (canonical)" : " (not canonical)";
  return out;
}

// "t1<sep>t2<sep>...tn".
std::string joined(size_t n, char sep) {
  std::string out;
  for (size_t i = 1; i <= n; ++i) {
    if (i > 1) {
      out += sep;
    }
    out += "t" + std::to_string(i);
  }
  return out;
}

TEST(PathCodecTest, ToPathTable) {
  constexpr ParseError kNone = ParseError::kNone;
  constexpr ParseError kBad = ParseError::kBadFormat;
  constexpr ParseError kDeep = ParseError::kPathTooDeep;
  const CodecCase kCases[] = {
      // ---- separator mode off: paths pass, spacing collapses ----
      {0, 32, "k", true, kNone, "k"},
      {0, 32, "", true, kNone, ""},  // getch of the top level
      {0, 32, "a b c", true, kNone, "a b c"},
      {0, 32, "a:b", true, kNone, "a:b"},  // ':' is an ordinary key byte
      {0, 32, "a  b", false, kNone, "a b"},
      {0, 32, "a   b    c", false, kNone, "a b c"},
      {0, 32, "reg  sip1 1001", false, kNone, "reg sip1 1001"},
      {0, 32, "a\tb  c", false, kNone, "a\tb c"},  // only spaces separate
      {0, 2, "a  b", false, kNone, "a b"},
      {0, 2, "a  b  c", false, kDeep, ""},
      // ---- separator ':' ----
      {':', 32, "user:42:name", true, kNone, "user 42 name"},
      {':', 32, "user", true, kNone, "user"},
      {':', 32, "", true, kNone, ""},
      {':', 32, "a b", true, kNone, "a b"},  // spaces still separate
      {':', 32, "a:b c", true, kNone, "a b c"},
      {':', 32, "a b:c d", true, kNone, "a b c d"},
      {':', 32, "a:b  c:d", false, kNone, "a b c d"},
      {':', 32, "a  b", false, kNone, "a b"},
      {':', 32, "x:y\tz", true, kNone, "x y\tz"},
      // Empty tokens: separator at either end, doubled, or next to a space.
      {':', 32, ":", true, kBad, ""},
      {':', 32, "::", true, kBad, ""},
      {':', 32, ":a", true, kBad, ""},
      {':', 32, "a:", true, kBad, ""},
      {':', 32, ":a:b", true, kBad, ""},
      {':', 32, "a:b:", true, kBad, ""},
      {':', 32, "a::b", true, kBad, ""},
      {':', 32, "a:::b", true, kBad, ""},
      {':', 32, "a :b", true, kBad, ""},
      {':', 32, "a: b", true, kBad, ""},
      {':', 32, "a : b", true, kBad, ""},
      {':', 32, "a  :b", false, kBad, ""},
      {':', 32, "a:  b", false, kBad, ""},
      {':', 32, "a b:", true, kBad, ""},
      {':', 32, ":a b", true, kBad, ""},
      // Depth counts the tokens after splitting.
      {':', 3, "a:b:c", true, kNone, "a b c"},
      {':', 3, "a:b:c:d", true, kDeep, ""},
      {':', 3, "a:b c:d", true, kDeep, ""},
      {':', 3, "a:b  c", false, kNone, "a b c"},
      {':', 1, "a", true, kNone, "a"},
      {':', 1, "a:b", true, kDeep, ""},
      {':', 32, joined(32, ':'), true, kNone, joined(32, ' ')},
      {':', 32, joined(33, ':'), true, kDeep, ""},
      {':', 64, joined(64, ':'), true, kNone, joined(64, ' ')},
      {':', 64, joined(65, ':'), true, kDeep, ""},
      // ---- other separators ----
      {'/', 32, "a/b/c", true, kNone, "a b c"},
      {'/', 32, "a:b/c", true, kNone, "a:b c"},
      {'/', 32, "/a", true, kBad, ""},
      {'.', 32, "a.b", true, kNone, "a b"},
      {'.', 32, "a..b", true, kBad, ""},
  };
  for (const CodecCase& c : kCases) {
    SCOPED_TRACE(describe(c));
    PathCodec codec(c.separator, c.max_depth);
    std::string_view path = "untouched";
    const ParseError error = codec.to_path(c.key, c.canonical, path);
    EXPECT_EQ(error, c.error);
    if (c.error == ParseError::kNone) {
      EXPECT_EQ(path, c.path);
    }
  }
}

TEST(PathCodecTest, PathStaysValidUntilTheNextCall) {
  PathCodec codec(':', 32);
  std::string_view first;
  ASSERT_EQ(codec.to_path("a:b", true, first), ParseError::kNone);
  EXPECT_EQ(first, "a b");
  std::string_view second;
  ASSERT_EQ(codec.to_path("c:d:e", true, second), ParseError::kNone);
  EXPECT_EQ(second, "c d e");
  // A failed call does not leave a half-built path in a good one's place.
  std::string_view third = "kept";
  EXPECT_EQ(codec.to_path("x::y", true, third), ParseError::kBadFormat);
  EXPECT_EQ(third, "kept");
}

std::string wire(const PathCodec& codec, std::string_view prefix, std::string_view path) {
  protocol::OutputBuffer out;
  protocol::append(out, prefix);
  codec.append_wire(out, path);
  return std::string(out.data(), out.size());
}

TEST(PathCodecTest, AppendWire) {
  const PathCodec off(0, 32);
  EXPECT_EQ(wire(off, "", "k"), "k");
  EXPECT_EQ(wire(off, "", "reg sip1 1001"), "reg sip1 1001");
  EXPECT_EQ(wire(off, "VALUE ", "a b"), "VALUE a b");
  EXPECT_EQ(wire(off, "", ""), "");

  const PathCodec colon(':', 32);
  EXPECT_EQ(wire(colon, "", "k"), "k");
  EXPECT_EQ(wire(colon, "", "user 42 name"), "user:42:name");
  EXPECT_EQ(wire(colon, "", ""), "");
  // Only the appended path is rewritten, not what the buffer held before.
  EXPECT_EQ(wire(colon, "VALUE ", "a b c"), "VALUE a:b:c");
  EXPECT_EQ(wire(colon, "x y ", "a:b c"), "x y a:b:c");

  const PathCodec slash('/', 32);
  EXPECT_EQ(wire(slash, "VALUE ", "a b"), "VALUE a/b");
}

TEST(PathCodecTest, SeparatorKeysRoundTrip) {
  PathCodec codec(':', 32);
  for (const std::string key : {"a", "user:42:name", "x:y", "reg:sip1:1001", "a:b:c:d:e"}) {
    SCOPED_TRACE(key);
    std::string_view path;
    ASSERT_EQ(codec.to_path(key, true, path), ParseError::kNone);
    EXPECT_EQ(path.find(':'), std::string_view::npos);
    EXPECT_EQ(wire(codec, "", path), key);
  }
}

TEST(PathCodecTest, NameOf) {
  EXPECT_EQ(storage::last_token("a"), "a");
  EXPECT_EQ(storage::last_token("a b"), "b");
  EXPECT_EQ(storage::last_token("reg sip1 1001"), "1001");
  EXPECT_EQ(storage::last_token(""), "");
  EXPECT_EQ(storage::last_token("a:b"), "a:b");  // names are store paths, not wire keys
  const std::string long_name(250, 'n');
  EXPECT_EQ(storage::last_token("p " + long_name), long_name);
}

}  // namespace
}  // namespace treecached::server
