#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace treecached::storage {

// hash_key() of a path, and the length of its first token (the whole path
// for a flat key).
struct PathHash {
  uint64_t hash;
  size_t first_token_size;
};

namespace detail {

// A fast 64-bit hash for short keys: 8 bytes per step, multiply-xorshift
// mixing and a strong finaliser, so both high bits (shard choice) and low
// bits (bucket choice) are well distributed. With kFindDelimiter it also
// finds the first `delimiter` byte in the same pass, using the "has zero
// byte" test on word ^ pattern (its lowest set bit is the first match), so
// that flat keys pay almost nothing to learn they are flat.
template <bool kFindDelimiter>
inline PathHash hash_bytes(std::string_view key, char delimiter) noexcept {
  constexpr uint64_t kMul1 = 0x9E3779B97F4A7C15ULL;
  constexpr uint64_t kMul2 = 0xC2B2AE3D27D4EB4FULL;
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighs = 0x8080808080808080ULL;
  const uint64_t pattern = kOnes * static_cast<unsigned char>(delimiter);
  const char* p = key.data();
  size_t n = key.size();
  size_t first = key.size();
  uint64_t h = kMul1 ^ (n * kMul2);
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    if constexpr (kFindDelimiter) {
      const uint64_t x = word ^ pattern;
      const uint64_t hit = (x - kOnes) & ~x & kHighs;
      if (hit != 0 && first == key.size()) {
        first = static_cast<size_t>(p - key.data()) + static_cast<size_t>(__builtin_ctzll(hit)) / 8;
      }
    }
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
    if constexpr (kFindDelimiter) {
      for (size_t i = 0; i < n && first == key.size(); ++i) {
        if (p[i] == delimiter) {
          first = static_cast<size_t>(p - key.data()) + i;
        }
      }
    }
    word *= kMul2;
    word ^= word >> 31;
    h = (h ^ word) * kMul1;
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 33;
  return {h, first};
}

}  // namespace detail

[[nodiscard]] inline uint64_t hash_key(std::string_view key) noexcept {
  return detail::hash_bytes<false>(key, 0).hash;
}

[[nodiscard]] inline PathHash hash_path(std::string_view path, char delimiter) noexcept {
  return detail::hash_bytes<true>(path, delimiter);
}

}  // namespace treecached::storage
