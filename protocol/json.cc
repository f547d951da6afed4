#include "protocol/json.h"

#include <cstdint>

namespace treecached::protocol {
namespace {

bool is_continuation(unsigned char c) noexcept { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence starting at text[i] (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
size_t utf8_length(std::string_view text, size_t i) noexcept {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = byte(0);
  const size_t left = text.size() - i;
  if (lead < 0x80) {
    return 1;
  }
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;
    high = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (left < length || byte(1) < low || byte(1) > high) {
    return 0;
  }
  for (size_t k = 2; k < length; ++k) {
    if (!is_continuation(byte(k))) {
      return 0;
    }
  }
  return length;
}

// The escape for a single byte, or empty if it is written as is.
std::string_view short_escape(unsigned char c) noexcept {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      return {};
  }
}

constexpr size_t kUnicodeEscapeSize = 6;  // \u00XX

template <typename Sink>
void encode(std::string_view text, Sink&& sink) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (const std::string_view escape = short_escape(c); !escape.empty()) {
      sink.text(escape);
      ++i;
      continue;
    }
    const size_t length = c < 0x20 ? 0 : utf8_length(text, i);
    if (length == 0) {
      sink.byte_escape(c);
      ++i;
      continue;
    }
    sink.text(text.substr(i, length));
    i += length;
  }
}

}  // namespace

void append_json_string(OutputBuffer& out, std::string_view text) {
  struct Writer {
    OutputBuffer& out;
    void text(std::string_view piece) { append(out, piece); }
    void byte_escape(unsigned char c) {
      constexpr char kHex[] = "0123456789abcdef";
      const char escaped[kUnicodeEscapeSize] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(escaped, escaped + kUnicodeEscapeSize);
    }
  };
  out.push_back('"');
  encode(text, Writer{out});
  out.push_back('"');
}

size_t json_string_size(std::string_view text) noexcept {
  struct Counter {
    size_t size = 2;  // the quotes
    void text(std::string_view piece) { size += piece.size(); }
    void byte_escape(unsigned char) { size += kUnicodeEscapeSize; }
  };
  Counter counter;
  encode(text, counter);
  return counter.size;
}

}  // namespace treecached::protocol
