#include "protocol/rules.h"

namespace treecached::protocol {
namespace {

constexpr bool is_c_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// What strtoull sees: optional leading whitespace, optional sign, digits.
// Returns false when there are no digits, the magnitude overflows 64 bits, or
// the digits are followed by something other than whitespace/NUL/end.
struct Scanned {
  uint64_t magnitude = 0;
  bool negative = false;
};

bool scan(std::string_view text, Scanned& out) noexcept {
  size_t i = 0;
  while (i < text.size() && is_c_space(text[i])) {
    ++i;
  }
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    out.negative = text[i] == '-';
    ++i;
  }
  const size_t digits_start = i;
  uint64_t value = 0;
  bool overflow = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    const auto digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      overflow = true;
    }
    value = value * 10 + digit;
    ++i;
  }
  if (i == digits_start || overflow) {
    return false;
  }
  if (i < text.size() && text[i] != '\0' && !is_c_space(text[i])) {
    return false;
  }
  out.magnitude = value;
  return true;
}

// strtoull's result for a scanned number: a negative sign negates modulo 2^64.
uint64_t as_unsigned(const Scanned& s) noexcept {
  return s.negative ? 0 - s.magnitude : s.magnitude;
}

}  // namespace

bool parse_u64(std::string_view text, uint64_t& out) noexcept {
  Scanned s;
  if (!scan(text, s)) {
    return false;
  }
  const uint64_t value = as_unsigned(s);
  if (s.negative && static_cast<int64_t>(value) < 0) {
    return false;
  }
  out = value;
  return true;
}

bool parse_u32(std::string_view text, uint32_t& out) noexcept {
  uint64_t wide = 0;
  if (!parse_u64(text, wide)) {
    return false;
  }
  out = static_cast<uint32_t>(wide);
  return true;
}

bool parse_i32(std::string_view text, int32_t& out) noexcept {
  Scanned s;
  if (!scan(text, s)) {
    return false;
  }
  // strtol range: [-2^63, 2^63 - 1]; outside it is ERANGE.
  constexpr uint64_t kMaxPositive = static_cast<uint64_t>(INT64_MAX);
  if (s.magnitude > kMaxPositive + (s.negative ? 1 : 0)) {
    return false;
  }
  const uint64_t bits = as_unsigned(s);
  out = static_cast<int32_t>(static_cast<uint32_t>(bits));
  return true;
}

}  // namespace treecached::protocol
