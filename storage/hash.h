#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace treecached::storage {

// A fast 64-bit hash for short keys: 8 bytes per step, multiply-xorshift
// mixing and a strong finaliser, so both high bits (shard choice) and low
// bits (bucket choice) are well distributed.
[[nodiscard]] inline uint64_t hash_key(std::string_view key) noexcept {
  constexpr uint64_t kMul1 = 0x9E3779B97F4A7C15ULL;
  constexpr uint64_t kMul2 = 0xC2B2AE3D27D4EB4FULL;
  const char* p = key.data();
  size_t n = key.size();
  uint64_t h = kMul1 ^ (n * kMul2);
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    word *= kMul2;
    word ^= word >> 31;
    h = (h ^ word) * kMul1;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t word = 0;
    std::memcpy(&word, p, n);
    word *= kMul2;
    word ^= word >> 31;
    h = (h ^ word) * kMul1;
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace treecached::storage
