// Unit tests for protocol/json.h: append_json_string and json_string_size.
//
// Expected texts follow RFC 8259 §7 (quote, backslash and U+0000..U+001F must
// be escaped; the two-character forms \b \f \n \r \t are used where they
// exist) and RFC 3629 (what well-formed UTF-8 is: no overlong forms, no
// surrogates, nothing above U+10FFFF). SPEC §2: bytes that are not UTF-8 are
// written as \u00XX, one escape per byte.

#include "protocol/json.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/reply.h"

namespace treecached::protocol {
namespace {

using namespace std::string_literals;

std::string encode(std::string_view text) {
  OutputBuffer out;
  append_json_string(out, text);
  return std::string(out.data(), out.size());
}

std::string hex_escape(unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\u00";
  out += kHex[c >> 4];
  out += kHex[c & 15];
  return out;
}

struct JsonCase {
  std::string name;
  std::string input;
  std::string want;  // without the surrounding quotes
};

std::vector<JsonCase> json_cases() {
  std::vector<JsonCase> v = {
      {"empty", "", ""},
      {"ascii", "sip1", "sip1"},
      {"ascii_punctuation", "a-b_c.d:e/f@g!#$%&'()*+,;<=>?[]^`{|}~",
       "a-b_c.d:e/f@g!#$%&'()*+,;<=>?[]^`{|}~"},
      {"space", "a b", "a b"},
      {"quote", "a\"b", "a\\\"b"},
      {"only_quote", "\"", "\\\""},
      {"backslash", "a\\b", "a\\\\b"},
      {"backslash_u", "\\u0041", "\\\\u0041"},
      {"slash_not_escaped", "a/b", "a/b"},
      {"del_passes",
       "a\x7f"
       "b",
       "a\x7f"
       "b"},
      {"nul", "a\0b"s, "a\\u0000b"},
      {"short_escapes", "\b\f\n\r\t", "\\b\\f\\n\\r\\t"},
      {"vertical_tab", "\v", "\\u000b"},
      {"escape_char", "\x1b[0m", "\\u001b[0m"},
      // Valid UTF-8 of every length passes unchanged.
      {"utf8_2_bytes", "caf\xc3\xa9", "caf\xc3\xa9"},                // é
      {"utf8_2_lowest", "\xc2\x80", "\xc2\x80"},                     // U+0080
      {"utf8_2_highest", "\xdf\xbf", "\xdf\xbf"},                    // U+07FF
      {"utf8_3_bytes", "\xe2\x82\xac", "\xe2\x82\xac"},              // €
      {"utf8_3_lowest", "\xe0\xa0\x80", "\xe0\xa0\x80"},             // U+0800
      {"utf8_3_before_surrogates", "\xed\x9f\xbf", "\xed\x9f\xbf"},  // U+D7FF
      {"utf8_3_after_surrogates", "\xee\x80\x80", "\xee\x80\x80"},   // U+E000
      {"utf8_3_highest", "\xef\xbf\xbf", "\xef\xbf\xbf"},            // U+FFFF
      {"utf8_4_bytes", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},      // 😀
      {"utf8_4_lowest", "\xf0\x90\x80\x80", "\xf0\x90\x80\x80"},     // U+10000
      {"utf8_4_highest", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},    // U+10FFFF
      {"utf8_mixed", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z",
       "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"},
      // Overlong forms: every byte escaped.
      {"overlong_nul_2", "\xc0\x80", "\\u00c0\\u0080"},
      {"overlong_c1", "\xc1\xbf", "\\u00c1\\u00bf"},
      {"overlong_3", "\xe0\x80\x80", "\\u00e0\\u0080\\u0080"},
      {"overlong_3_high", "\xe0\x9f\xbf", "\\u00e0\\u009f\\u00bf"},
      {"overlong_4", "\xf0\x80\x80\x80", "\\u00f0\\u0080\\u0080\\u0080"},
      {"overlong_4_high", "\xf0\x8f\xbf\xbf", "\\u00f0\\u008f\\u00bf\\u00bf"},
      // UTF-16 surrogates encoded in UTF-8 (CESU): not UTF-8.
      {"surrogate_high", "\xed\xa0\x80", "\\u00ed\\u00a0\\u0080"},
      {"surrogate_low", "\xed\xbf\xbf", "\\u00ed\\u00bf\\u00bf"},
      // Above U+10FFFF and leads that never start a sequence.
      {"above_max", "\xf4\x90\x80\x80", "\\u00f4\\u0090\\u0080\\u0080"},
      {"lead_f5", "\xf5\x80\x80\x80", "\\u00f5\\u0080\\u0080\\u0080"},
      {"lead_ff", "\xff", "\\u00ff"},
      {"lead_fe",
       "a\xfe"
       "b",
       "a\\u00feb"},
      // Lone continuation bytes.
      {"continuation_80", "\x80", "\\u0080"},
      {"continuation_bf", "x\xbfy", "x\\u00bfy"},
      {"continuations_after_valid", "\xc3\xa9\xa9", "\xc3\xa9\\u00a9"},
      // Truncated sequences, at the end and followed by other bytes.
      {"truncated_2_at_end", "a\xc3", "a\\u00c3"},
      {"truncated_3_at_end_1", "a\xe2", "a\\u00e2"},
      {"truncated_3_at_end_2", "a\xe2\x82", "a\\u00e2\\u0082"},
      {"truncated_4_at_end_3", "\xf0\x9f\x98", "\\u00f0\\u009f\\u0098"},
      {"truncated_then_ascii",
       "\xe2\x82"
       "A",
       "\\u00e2\\u0082A"},
      {"truncated_then_valid", "\xe2\xc3\xa9", "\\u00e2\xc3\xa9"},
      {"truncated_then_quote", "\xc3\"", "\\u00c3\\\""},
      {"lead_then_control", "\xc3\n", "\\u00c3\\n"},
      // Latin-1 text (not UTF-8): each byte escaped.
      {"latin1", "caf\xe9", "caf\\u00e9"},
  };
  // Every control character below 0x20.
  for (int c = 0; c < 0x20; ++c) {
    std::string want;
    switch (c) {
      case '\b':
        want = "\\b";
        break;
      case '\f':
        want = "\\f";
        break;
      case '\n':
        want = "\\n";
        break;
      case '\r':
        want = "\\r";
        break;
      case '\t':
        want = "\\t";
        break;
      default:
        want = hex_escape(static_cast<unsigned char>(c));
    }
    v.push_back(
        {"control_" + std::to_string(c), std::string(1, static_cast<char>(c)) + "x", want + "x"});
  }
  // Every byte 0x80..0xff alone is not UTF-8.
  for (int c = 0x80; c <= 0xff; ++c) {
    v.push_back({"lone_byte_" + std::to_string(c), std::string(1, static_cast<char>(c)),
                 hex_escape(static_cast<unsigned char>(c))});
  }
  // Every printable ASCII byte other than '"' and '\\' passes.
  for (int c = 0x20; c < 0x80; ++c) {
    if (c == '"' || c == '\\') {
      continue;
    }
    v.push_back({"ascii_" + std::to_string(c), std::string(1, static_cast<char>(c)),
                 std::string(1, static_cast<char>(c))});
  }
  return v;
}

TEST(JsonStringTest, Table) {
  for (const JsonCase& c : json_cases()) {
    SCOPED_TRACE(c.name);
    const std::string got = encode(c.input);
    EXPECT_EQ(got, "\"" + c.want + "\"");
    EXPECT_EQ(json_string_size(c.input), got.size());
  }
}

TEST(JsonStringTest, AppendsToExistingContent) {
  OutputBuffer out;
  append(out, "[");
  append_json_string(out, "a");
  append(out, ",");
  append_json_string(out, "b\"");
  append(out, "]");
  EXPECT_EQ(std::string(out.data(), out.size()), "[\"a\",\"b\\\"\"]");
}

TEST(JsonStringTest, ReadsOnlyTheView) {
  // A valid sequence cut by the end of the view is truncated there: the
  // bytes after the view must not complete it.
  const std::string buffer = "x\xe2\x82\xac";
  const std::string_view cut = std::string_view(buffer).substr(0, 3);
  EXPECT_EQ(encode(cut), "\"x\\u00e2\\u0082\"");
  EXPECT_EQ(json_string_size(cut), 15U);  // quote, x, two \u00XX, quote
  // A view starting at a continuation byte.
  EXPECT_EQ(encode(std::string_view(buffer).substr(2)), "\"\\u0082\\u00ac\"");
}

TEST(JsonStringTest, LongInputSizeMatches) {
  // Every byte value many times, in several orders: size and bytes agree.
  std::string input;
  for (int round = 0; round < 4; ++round) {
    for (int c = 0; c < 256; ++c) {
      input.push_back(static_cast<char>(round % 2 == 0 ? c : 255 - c));
    }
    input += "\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9";
  }
  const std::string got = encode(input);
  EXPECT_EQ(json_string_size(input), got.size());
  // Outside the quotes, every '"' is preceded by a backslash.
  for (size_t i = 1; i + 1 < got.size(); ++i) {
    if (got[i] == '"') {
      EXPECT_EQ(got[i - 1], '\\') << i;
    }
    EXPECT_GE(static_cast<unsigned char>(got[i]), 0x20U) << i;
  }
}

}  // namespace
}  // namespace treecached::protocol
