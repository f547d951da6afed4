#pragma once

#include <cstddef>
#include <cstdint>

namespace treecached::storage {

// Memory for small items. malloc puts an 8-byte header before every block
// and rounds to 16 bytes, which for a 100-byte item is a sixth of its size.
// Here chunks come in 8-byte size classes, carved from 4 KiB pages that
// carry the bookkeeping once per page.
//
// Each thread allocates from its own arena (threads are spread over a few),
// so allocation takes no lock shared by every thread; a chunk is returned to
// the arena that owns its page, from any thread. A page whose last chunk is
// freed goes back to a shared pool for any size class to reuse, and pages
// the pool does not need are handed back to the kernel, so memory freed by
// one size class serves the others.
class SlabAllocator {
 public:
  static constexpr size_t kPageSize = 4096;
  static constexpr size_t kGranule = 8;
  static constexpr size_t kMinChunk = 16;
  // Larger requests go to malloc, whose overhead is small next to them.
  static constexpr size_t kMaxChunk = 512;

  // The chunk that serves a request of `size` bytes (1..kMaxChunk).
  [[nodiscard]] static constexpr size_t chunk_size(size_t size) noexcept {
    const size_t rounded = (size + kGranule - 1) & ~(kGranule - 1);
    return rounded < kMinChunk ? kMinChunk : rounded;
  }

  // A chunk of chunk_size(size) bytes, 8-byte aligned; nullptr if the
  // system is out of memory.
  [[nodiscard]] static void* allocate(size_t size) noexcept;
  // Returns a chunk from allocate(size), from any thread.
  static void deallocate(void* chunk, size_t size) noexcept;

  struct Stats {
    size_t pages_in_use = 0;    // pages holding at least one chunk
    size_t pooled_pages = 0;    // empty pages kept for reuse, still resident
    size_t released_pages = 0;  // empty pages handed back to the kernel (reused first)
    size_t chunks_in_use = 0;
  };
  [[nodiscard]] static Stats stats() noexcept;
};

}  // namespace treecached::storage
