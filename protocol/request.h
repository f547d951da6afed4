#pragma once

#include <cstdint>
#include <string_view>

namespace treecached::protocol {

enum class Command : uint8_t {
  kGet,
  kGets,
  kGat,
  kGats,
  kSet,
  kAdd,
  kReplace,
  kAppend,
  kPrepend,
  kCas,
  kIncr,
  kDecr,
  kTouch,
  kDelete,
  kGetNode,      // getn <path>
  kGetsNode,     // getsn <path>
  kGetChildren,  // getch [<path>]
  kGetSubtree,   // getr <path>
  kFlushAll,
  kStats,
  kVersion,
  kVerbosity,
  kQuit,
  kShutdown,
  kCacheMemlimit,
};

// Longest key memcached accepts; also the longest token of a path.
inline constexpr size_t kMaxKeyLength = 250;
// Deepest path the depth-limit flag may allow.
inline constexpr size_t kMaxPathDepth = 64;

// One parsed request.
//
// Every string_view points into the caller's input buffer: the request is
// valid only until that buffer is compacted, grown or overwritten. Parse,
// execute and reply must finish before the caller touches the buffer again.
struct Request {
  Command command = Command::kGet;
  bool noreply = false;

  // Storage, arithmetic, touch, delete and the node reads: the key or path,
  // from its first to its last token. A path's tokens are separated by
  // spaces; `key_canonical` is false when some are separated by more than one
  // (canonical_path() then gives the single-spaced form). Empty for a getch
  // of the top level.
  std::string_view key;
  uint16_t key_depth = 0;  // tokens in `key`
  bool key_canonical = true;
  // Retrieval (get/gets/gat/gats): every key of the line, space separated,
  // not yet validated; walk them with KeyCursor. Stats: the sub-command text.
  std::string_view rest;
  // Storage: the data block without its trailing "\r\n".
  std::string_view data;

  uint32_t flags = 0;
  // Raw exptime as sent (set family, touch, gat); flush_all delay.
  int32_t exptime = 0;
  bool has_delay = false;  // flush_all with an explicit delay
  uint64_t cas_unique = 0;
  uint64_t delta = 0;  // incr/decr
  uint32_t level = 0;  // verbosity level; cache_memlimit megabytes
};

// Walks space-separated tokens (the keys of a multi-key line, the tokens of a
// path) without copying.
class KeyCursor {
 public:
  explicit KeyCursor(std::string_view keys) noexcept : rest_(keys) {}

  // Stores the next key in `key` and returns true, or returns false at the end.
  bool next(std::string_view& key) noexcept {
    size_t start = 0;
    while (start < rest_.size() && rest_[start] == ' ') {
      ++start;
    }
    if (start == rest_.size()) {
      return false;
    }
    size_t end = rest_.find(' ', start);
    if (end == std::string_view::npos) {
      end = rest_.size();
    }
    key = rest_.substr(start, end - start);
    rest_.remove_prefix(end);
    return true;
  }

 private:
  std::string_view rest_;
};

}  // namespace treecached::protocol
