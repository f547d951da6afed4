#pragma once

// The input layout shared by the fuzz targets and make_seeds.py:
//
//   byte 0      options (each target documents its bits)
//   bytes 1-2   big-endian split point: the payload arrives in two reads,
//               the first one `split % (payload size + 1)` bytes long
//   bytes 3...  the payload: bytes as a client sends them
//
// Shorter inputs are ignored.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace treecached::fuzz {

struct FuzzInput {
  uint8_t options = 0;
  size_t split = 0;  // already reduced to [0, payload.size()]
  std::string_view payload;
};

inline constexpr size_t kHeaderSize = 3;

[[nodiscard]] inline bool read_input(const uint8_t* data, size_t size, FuzzInput& out) {
  if (size < kHeaderSize) {
    return false;
  }
  out.options = data[0];
  const size_t split = (size_t{data[1]} << 8) | data[2];
  out.payload =
      std::string_view(reinterpret_cast<const char*>(data) + kHeaderSize, size - kHeaderSize);
  out.split = split % (out.payload.size() + 1);
  return true;
}

// Aborts with a message: libFuzzer records the input as a crash.
[[noreturn]] inline void fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "fuzz invariant violated at %s:%d: %s\n", file, line, what);
  std::abort();
}

}  // namespace treecached::fuzz

// An invariant of the code under test; checked in every build.
#define FUZZ_CHECK(condition)                                   \
  do {                                                          \
    if (!(condition)) {                                         \
      ::treecached::fuzz::fail(__FILE__, __LINE__, #condition); \
    }                                                           \
  } while (false)
