#include "storage/slab.h"

#include <sys/mman.h>

#include <array>
#include <atomic>
#include <new>
#include <vector>

#include "storage/mutex.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TREECACHED_POISON(addr, size) ASAN_POISON_MEMORY_REGION(addr, size)
#define TREECACHED_UNPOISON(addr, size) ASAN_UNPOISON_MEMORY_REGION(addr, size)
#else
#define TREECACHED_POISON(addr, size) ((void)(addr), (void)(size))
#define TREECACHED_UNPOISON(addr, size) ((void)(addr), (void)(size))
#endif

namespace treecached::storage {
namespace {

using Slab = SlabAllocator;

constexpr size_t kClassCount = (Slab::kMaxChunk - Slab::kMinChunk) / Slab::kGranule + 1;
// More arenas than cores keeps threads apart; each arena's partly used
// pages (about half a page per size class in use) are the price.
constexpr size_t kArenaCount = 8;
// Pages come from the kernel 1 MiB at a time.
constexpr size_t kPagesPerMapping = 256;
// Empty pages kept resident for quick reuse (256 KiB); beyond this they are
// handed back to the kernel.
constexpr size_t kResidentPoolPages = 64;

struct Arena;

// The first bytes of every page.
struct PageHeader {
  Arena* arena = nullptr;
  void* free_list = nullptr;  // freed chunks, linked through their first word
  // The arena's list of this class's pages that have a free chunk.
  PageHeader* prev = nullptr;
  PageHeader* next = nullptr;
  uint16_t size_class = 0;
  uint16_t capacity = 0;  // chunks in the page
  uint16_t live = 0;      // chunks handed out and not returned
  uint16_t carved = 0;    // chunks taken so far from the never-used tail
  bool listed = false;
};
// Chunks start here, 16-byte aligned.
constexpr size_t kHeaderSize = 48;
static_assert(sizeof(PageHeader) <= kHeaderSize);

// Guards its lists and counts, and the headers of the pages it owns. Taken
// with a shard mutex held (items are freed under it), never the other way.
struct Arena {
  Mutex mu;
  std::array<PageHeader*, kClassCount> with_room GUARDED_BY(mu){};
  size_t chunks_in_use GUARDED_BY(mu) = 0;
};

// Taken last: with an arena's mutex held (a new page), never the other way.
struct PagePool {
  Mutex mu;
  std::vector<void*> resident GUARDED_BY(mu);  // empty pages whose memory is still there
  std::vector<void*> released GUARDED_BY(mu);  // empty pages given back with MADV_DONTNEED
  size_t pages_in_use GUARDED_BY(mu) = 0;
  size_t pages_mapped GUARDED_BY(mu) = 0;
};

// Never destroyed: items may be freed by static destructors at exit.
Arena* arenas() {
  static Arena* const all = new Arena[kArenaCount];
  return all;
}

PagePool& pool() {
  static PagePool* const instance = new PagePool;
  return *instance;
}

Arena& this_thread_arena() {
  static std::atomic<size_t> next_arena{0};
  thread_local Arena& arena =
      arenas()[next_arena.fetch_add(1, std::memory_order_relaxed) % kArenaCount];
  return arena;
}

constexpr size_t class_of(size_t size) noexcept {
  return (Slab::chunk_size(size) - Slab::kMinChunk) / Slab::kGranule;
}

constexpr size_t class_chunk(size_t size_class) noexcept {
  return Slab::kMinChunk + size_class * Slab::kGranule;
}

PageHeader* page_of(void* chunk) noexcept {
  return reinterpret_cast<PageHeader*>(reinterpret_cast<uintptr_t>(chunk) &
                                       ~uintptr_t{Slab::kPageSize - 1});
}

// An empty page from the pool, or from a new mapping; nullptr if the kernel
// has no memory left.
void* take_page() noexcept {
  PagePool& p = pool();
  MutexLock lock(p.mu);
  if (p.resident.empty() && p.released.empty()) {
    void* mapping = mmap(nullptr, kPagesPerMapping * Slab::kPageSize, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) {
      return nullptr;
    }
    // Room for every page in `released`, so that return_page never
    // allocates. Untouched pages take no memory: they count as released.
    try {
      p.released.reserve(p.pages_mapped + kPagesPerMapping);
      p.resident.reserve(kResidentPoolPages);
    } catch (...) {
      munmap(mapping, kPagesPerMapping * Slab::kPageSize);
      return nullptr;
    }
    p.pages_mapped += kPagesPerMapping;
    for (size_t i = kPagesPerMapping; i-- > 0;) {
      p.released.push_back(static_cast<char*>(mapping) + i * Slab::kPageSize);
    }
  }
  std::vector<void*>& from = p.resident.empty() ? p.released : p.resident;
  void* page = from.back();
  from.pop_back();
  ++p.pages_in_use;
  return page;
}

void return_page(void* page) noexcept {
  PagePool& p = pool();
  MutexLock lock(p.mu);
  --p.pages_in_use;
  // Both vectors have room reserved (see take_page).
  if (p.resident.size() < kResidentPoolPages) {
    p.resident.push_back(page);
  } else {
    madvise(page, Slab::kPageSize, MADV_DONTNEED);
    p.released.push_back(page);
  }
}

void link(Arena& arena, PageHeader* page) noexcept REQUIRES(arena.mu) {
  PageHeader*& head = arena.with_room[page->size_class];
  page->prev = nullptr;
  page->next = head;
  if (head != nullptr) {
    head->prev = page;
  }
  head = page;
  page->listed = true;
}

void unlink(Arena& arena, PageHeader* page) noexcept REQUIRES(arena.mu) {
  (page->prev != nullptr ? page->prev->next : arena.with_room[page->size_class]) = page->next;
  if (page->next != nullptr) {
    page->next->prev = page->prev;
  }
  page->prev = page->next = nullptr;
  page->listed = false;
}

PageHeader* new_page(Arena& arena, size_t size_class) noexcept REQUIRES(arena.mu) {
  void* memory = take_page();
  if (memory == nullptr) {
    return nullptr;
  }
  TREECACHED_UNPOISON(memory, kHeaderSize);
  auto* page = new (memory) PageHeader;
  page->arena = &arena;
  page->size_class = static_cast<uint16_t>(size_class);
  page->capacity = static_cast<uint16_t>((Slab::kPageSize - kHeaderSize) / class_chunk(size_class));
  link(arena, page);
  return page;
}

}  // namespace

void* SlabAllocator::allocate(size_t size) noexcept {
  const size_t size_class = class_of(size);
  const size_t chunk_bytes = class_chunk(size_class);
  Arena& arena = this_thread_arena();
  MutexLock lock(arena.mu);
  PageHeader* page = arena.with_room[size_class];
  if (page == nullptr) {
    page = new_page(arena, size_class);
    if (page == nullptr) {
      return nullptr;
    }
  }
  void* chunk = page->free_list;
  if (chunk != nullptr) {
    TREECACHED_UNPOISON(chunk, chunk_bytes);
    page->free_list = *static_cast<void**>(chunk);
  } else {
    chunk = reinterpret_cast<char*>(page) + kHeaderSize + page->carved * chunk_bytes;
    ++page->carved;
    TREECACHED_UNPOISON(chunk, chunk_bytes);
  }
  ++page->live;
  ++arena.chunks_in_use;
  if (page->live == page->capacity) {
    unlink(arena, page);
  }
  return chunk;
}

void SlabAllocator::deallocate(void* chunk, size_t size) noexcept {
  PageHeader* page = page_of(chunk);
  Arena& arena = *page->arena;
  bool now_empty = false;
  {
    MutexLock lock(arena.mu);
    *static_cast<void**>(chunk) = page->free_list;
    page->free_list = chunk;
    TREECACHED_POISON(chunk, chunk_size(size));
    --page->live;
    --arena.chunks_in_use;
    if (page->live == 0) {
      if (page->listed) {
        unlink(arena, page);
      }
      now_empty = true;
    } else if (!page->listed) {
      link(arena, page);  // was full
    }
  }
  if (now_empty) {
    page->~PageHeader();
    TREECACHED_POISON(page, kPageSize);
    return_page(page);
  }
}

SlabAllocator::Stats SlabAllocator::stats() noexcept {
  Stats out;
  for (size_t i = 0; i < kArenaCount; ++i) {
    MutexLock lock(arenas()[i].mu);
    out.chunks_in_use += arenas()[i].chunks_in_use;
  }
  PagePool& p = pool();
  MutexLock lock(p.mu);
  out.pages_in_use = p.pages_in_use;
  out.pooled_pages = p.resident.size();
  out.released_pages = p.released.size();
  return out;
}

}  // namespace treecached::storage
