#include "storage/slab.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace treecached::storage {
namespace {

using Slab = SlabAllocator;

// Pages every chunk of this size class fills (48-byte page header).
size_t per_page(size_t size) { return (Slab::kPageSize - 48) / Slab::chunk_size(size); }

size_t total_pages(const Slab::Stats& s) {
  return s.pages_in_use + s.pooled_pages + s.released_pages;
}

TEST(SlabTest, ChunkSizesAreEightByteClasses) {
  EXPECT_EQ(Slab::chunk_size(1), 16U);
  EXPECT_EQ(Slab::chunk_size(16), 16U);
  EXPECT_EQ(Slab::chunk_size(17), 24U);
  EXPECT_EQ(Slab::chunk_size(104), 104U);
  EXPECT_EQ(Slab::chunk_size(105), 112U);
  EXPECT_EQ(Slab::chunk_size(511), 512U);
  EXPECT_EQ(Slab::chunk_size(Slab::kMaxChunk), Slab::kMaxChunk);
}

TEST(SlabTest, ChunksAreDistinctAlignedAndPacked) {
  constexpr size_t kSize = 100;  // chunks of 104 bytes
  const size_t count = per_page(kSize) * 3;
  const Slab::Stats before = Slab::stats();
  std::vector<char*> chunks;
  for (size_t i = 0; i < count; ++i) {
    auto* chunk = static_cast<char*>(Slab::allocate(kSize));
    ASSERT_NE(chunk, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(chunk) % 8, 0U);
    std::memset(chunk, static_cast<int>(i), kSize);
    chunks.push_back(chunk);
  }
  // No two chunks overlap: each still holds its own pattern.
  for (size_t i = 0; i < count; ++i) {
    for (size_t b = 0; b < kSize; ++b) {
      ASSERT_EQ(chunks[i][b], static_cast<char>(i)) << "chunk " << i;
    }
  }
  const std::set<char*> distinct(chunks.begin(), chunks.end());
  EXPECT_EQ(distinct.size(), count);
  const Slab::Stats full = Slab::stats();
  EXPECT_EQ(full.chunks_in_use - before.chunks_in_use, count);
  EXPECT_EQ(full.pages_in_use - before.pages_in_use, 3U);  // 39 chunks of 104 B a page
  for (char* chunk : chunks) {
    Slab::deallocate(chunk, kSize);
  }
  const Slab::Stats after = Slab::stats();
  EXPECT_EQ(after.chunks_in_use, before.chunks_in_use);
  EXPECT_EQ(after.pages_in_use, before.pages_in_use);
}

TEST(SlabTest, FreedChunkIsReusedBeforeANewPage) {
  void* a = Slab::allocate(40);
  void* b = Slab::allocate(40);
  Slab::deallocate(a, 40);
  void* c = Slab::allocate(40);
  EXPECT_EQ(c, a);
  Slab::deallocate(b, 40);
  Slab::deallocate(c, 40);
}

// Pages emptied by one size class serve another: no new memory is mapped,
// and pages beyond the small resident pool go back to the kernel.
TEST(SlabTest, EmptyPagesAreSharedBetweenSizeClassesAndReleased) {
  constexpr size_t kPages = 400;
  std::vector<void*> small;
  const size_t small_count = per_page(64) * kPages;
  for (size_t i = 0; i < small_count; ++i) {
    small.push_back(Slab::allocate(64));
    ASSERT_NE(small.back(), nullptr);
  }
  const Slab::Stats loaded = Slab::stats();
  for (void* chunk : small) {
    Slab::deallocate(chunk, 64);
  }
  const Slab::Stats emptied = Slab::stats();
  EXPECT_EQ(loaded.pages_in_use - emptied.pages_in_use, kPages);
  // At most 64 pages (256 KiB) stay resident in the pool.
  EXPECT_LE(emptied.pooled_pages, 64U);
  EXPECT_GE(emptied.released_pages, kPages - 64);

  std::vector<void*> large;
  const size_t large_count = per_page(500) * kPages;
  for (size_t i = 0; i < large_count; ++i) {
    large.push_back(Slab::allocate(500));
    ASSERT_NE(large.back(), nullptr);
  }
  EXPECT_EQ(total_pages(Slab::stats()), total_pages(loaded)) << "a new mapping was made";
  for (void* chunk : large) {
    Slab::deallocate(chunk, 500);
  }
}

// Threads allocate from their own arenas and free each other's chunks; every
// chunk keeps its contents until freed.
TEST(SlabTest, ConcurrentAllocateAndCrossThreadFree) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 20000;
  const Slab::Stats before = Slab::stats();
  // Chunks a thread hands over for another to check and free.
  std::vector<std::vector<std::pair<char*, size_t>>> handed(kThreads);
  std::vector<std::thread> threads;
  std::vector<int> corrupted(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &handed, &corrupted] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<std::pair<char*, size_t>> mine;
      for (int i = 0; i < kRounds; ++i) {
        const size_t size = 1 + rng() % Slab::kMaxChunk;
        auto* chunk = static_cast<char*>(Slab::allocate(size));
        std::memset(chunk, t + 1, size);
        mine.emplace_back(chunk, size);
        if (mine.size() > 64) {
          const size_t victim = rng() % mine.size();
          auto [old, old_size] = mine[victim];
          mine[victim] = mine.back();
          mine.pop_back();
          for (size_t b = 0; b < old_size; ++b) {
            corrupted[static_cast<size_t>(t)] += old[b] != static_cast<char>(t + 1);
          }
          Slab::deallocate(old, old_size);
        }
      }
      handed[static_cast<size_t>(t)] = std::move(mine);
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  threads.clear();
  // Each thread frees the chunks of the next one.
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &handed, &corrupted] {
      const int owner = (t + 1) % kThreads;
      for (auto [chunk, size] : handed[static_cast<size_t>(owner)]) {
        for (size_t b = 0; b < size; ++b) {
          corrupted[static_cast<size_t>(t)] += chunk[b] != static_cast<char>(owner + 1);
        }
        Slab::deallocate(chunk, size);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(corrupted[static_cast<size_t>(t)], 0) << "thread " << t;
  }
  const Slab::Stats after = Slab::stats();
  EXPECT_EQ(after.chunks_in_use, before.chunks_in_use);
  EXPECT_EQ(after.pages_in_use, before.pages_in_use);
}

}  // namespace
}  // namespace treecached::storage
