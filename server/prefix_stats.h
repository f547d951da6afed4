#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/mutex.h"

namespace treecached::server {

// memcached's `stats detail`: get, hit, set and delete counts per key
// prefix, kept only while `stats detail on` (or -o... not supported: off at
// start). A nested path's prefix is its first token (with --key-separator
// that is the part before the first separator); a flat key's is the part
// before its first ':' (memcached's default -D), and a flat key without ':'
// has none and is not counted. Shared by all workers: one mutex, taken only
// while detail is on. At most kMaxPrefixes prefixes are kept (memcached keeps
// any number); later ones are not counted, so a client cannot grow it
// without bound.
class PrefixStats {
 public:
  static constexpr size_t kMaxPrefixes = 10000;

  struct Counts {
    uint64_t gets = 0;
    uint64_t hits = 0;
    uint64_t sets = 0;
    uint64_t deletes = 0;
  };
  struct Entry {
    std::string prefix;
    Counts counts;
  };

  [[nodiscard]] bool enabled() const noexcept { return enabled_.load(std::memory_order_relaxed); }
  void set_enabled(bool on) noexcept { enabled_.store(on, std::memory_order_relaxed); }

  void record_get(std::string_view path, bool hit);
  void record_set(std::string_view path);
  void record_delete(std::string_view path);

  // Every prefix with its counts (in no particular order, as memcached).
  [[nodiscard]] std::vector<Entry> snapshot() const;
  // `stats reset` forgets every prefix, as memcached does.
  void clear();

  // The prefix of a store path; false if it has none (":a" has the empty
  // prefix, "a" none).
  [[nodiscard]] static bool prefix_of(std::string_view path, std::string_view& prefix) noexcept;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const noexcept {
      return std::hash<std::string_view>{}(text);
    }
  };
  // The counts of the path's prefix, created if there is room; nullptr if
  // the path has no prefix or the table is full.
  Counts* find(std::string_view path) REQUIRES(mu_);

  std::atomic<bool> enabled_{false};
  mutable storage::Mutex mu_;
  std::unordered_map<std::string, Counts, Hash, std::equal_to<>> counts_ GUARDED_BY(mu_);
};

}  // namespace treecached::server
