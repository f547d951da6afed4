// libFuzzer target: storage::Store against a model, a std::map from path to
// value. The input is decoded into a sequence of Store operations on a small
// path alphabet, with a clock the target owns (no real time, no threads). The
// model predicts every status and everything an operation returns (values,
// flags, cas, incr/decr results, listings and their order), and every so
// often the whole store is listed and compared with it, together with the
// counters (curr_items, total_items, evictions, tree_stats).
//
// The model holds only the nodes with a value; a value-less node exists while
// some value lies below it. Its rules are those of store.h and SPEC.md §2-3:
// storing under a path creates value-less ancestors; a value that expires
// (deadline <= now) or is flushed takes its whole subtree with it; remove
// takes the node and its subtree (kNotFound if the node does not exist);
// discard_value keeps the children; append/prepend keep flags and deadline
// and refuse to grow an item past max_item_size (memcached's item size);
// incr/decr read the value as memcached's safe_strtoull does (checked here
// with the C library's strtoull, not with the store's parser), wrap at 2^64
// (incr) or stop at 0 (decr) and store the decimal result; a delayed
// flush_all takes effect at the first operation at or after its time, and a
// later flush_all replaces one still pending.
//
// cas values are not predicted, only required to be consistent: each value
// the model stores is a new version; the first time the store shows a
// version's cas it must be non-zero and ordered like the versions (later
// writes have larger cas), and from then on it must not change. cas commands
// use cas values seen earlier, 0 or 2^64-1 (neither is ever handed out), so
// the model knows whether they match.
//
// Options byte (see fuzz_input.h):
//   bits 0-1  configuration: 0 or 2 exact (evictions off, a 1 GiB limit:
//             nothing may fail, the store must equal the model); 1 evicting
//             (a small limit with evictions: values may disappear, each with
//             its subtree, only during an operation that raises
//             stats().evictions, and the model follows); 3 refusing (a small
//             limit with evictions off, memcached's -M: writes may fail with
//             kNoMemory or kTooLarge, nothing may disappear)
//   bits 2-3  shard_bits 0, 1, 3 or 6
//   bit 4     max_item_size 4 KiB (else 1 MiB)
//   bit 5     compare the whole store with the model every kOpsPerOftenCheck
//             operations (else every kOpsPerFullCheck, and when asked);
//             after every one would be six times slower, and the listings
//             would clear away the dead values that lazy expiry should meet
//   bit 6     end without the final flush and sweep: the Store's destructor
//             frees what it holds (LeakSanitizer checks)
//   bit 7     unused
// Bytes 1-2 (the shared header's split point; nothing is split here): the
// small limit, 1 KiB plus 8 bytes per unit (big-endian).
//
// The payload is a sequence of operations, each an opcode byte (taken modulo
// 32, see kOps) followed by its arguments, decoded by the read_* functions
// below. A missing byte reads as 0, so every input decodes. Set
// STORE_FUZZ_TRACE=1 to print each operation and its result (the way to turn
// a crash into an operation list). regressions-store/ holds reproducers of
// two bugs it found (a write over the budget, dead values counted as
// evictions), fixed in issue 12.

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/rules.h"
#include "storage/item.h"
#include "storage/store.h"
#include "tests/fuzz/fuzz_input.h"

// FUZZ_CHECK with a description of what differs, printed before the abort.
#define STORE_CHECK(condition, ...)                                                  \
  do {                                                                               \
    if (!(condition)) {                                                              \
      std::fprintf(stderr, "%s\n", ::fmt::format(__VA_ARGS__).c_str());              \
      std::fprintf(stderr, "(replay with STORE_FUZZ_TRACE=1 for the operations)\n"); \
      ::treecached::fuzz::fail(__FILE__, __LINE__, #condition);                      \
    }                                                                                \
  } while (false)

namespace treecached::fuzz {
namespace {

using namespace std::string_view_literals;
using storage::Item;
using storage::ItemRef;
using storage::Store;
using storage::StoreStatus;

// The clock starts well above 0 and stops advancing at kLatestTime, so that
// now + any deadline offset below stays under 2^32.
constexpr uint32_t kStartTime = 1'700'000'000;
constexpr uint32_t kLatestTime = 4'000'000'000;
constexpr size_t kExactLimit = size_t{1} << 30;
constexpr size_t kOpsPerFullCheck = 64;
constexpr size_t kOpsPerOftenCheck = 4;
constexpr size_t kMaxHeld = 4;
constexpr size_t kCasPoolSize = 32;
// The final sweep's step, in buckets per shard.
constexpr size_t kFinalSweepStep = 64;
// stats tree counts deeper nodes as this depth (store.cc's kTrackedDepths - 1).
constexpr size_t kMaxTrackedDepth = 127;

constexpr std::string_view kTokens[] = {"a", "b", "c"};
// Rarer tokens: "ab" extends "a", "a-" sorts between the two and "A" before
// both, and the longest key memcached allows, which extends "a" too.
const std::string kLongToken(250, 'a');
const std::string_view kRareTokens[] = {"ab", "a-", "A", kLongToken};

// Values for incr/decr's number rule (leading space, signs, overflow, a NUL,
// other whitespace) next to the plain numbers read_value makes.
constexpr std::string_view kOddNumbers[] = {
    ""sv,
    " "sv,
    "+"sv,
    "-"sv,
    "-0"sv,
    "+0"sv,
    "007"sv,
    "0x10"sv,
    "1\0"sv,
    "\0"
    "1"sv,
    "\v\f\r\n\t9"sv,
    "18446744073709551615"sv,
    "18446744073709551616"sv,
    "-18446744073709551615"sv,
    "-9223372036854775808"sv,
    "-9223372036854775807"sv,
    "99999999999999999999"sv,
    "1 2"sv,
    "12\r"sv,
    " -1 "sv,
    "+-1"sv,
    "1x"sv,
    "\xff"
    "1"sv,
    "  +3 x"sv,
};

constexpr uint32_t kOddFlags[] = {UINT32_MAX,  0x80000000u, 0xFFFFu,     0x10000u,
                                  0x7FFFFFFFu, 1u << 24,    0xDEADBEEFu, 255u};

constexpr uint32_t kClockJumps[] = {60, 61, 119, 3600, 86400, 2592000, 2592001, 1000000};

constexpr uint64_t kOddDeltas[] = {UINT64_MAX,
                                   UINT64_MAX - 1,
                                   uint64_t{1} << 63,
                                   (uint64_t{1} << 63) - 1,
                                   uint64_t{1} << 32,
                                   1000000007,
                                   10,
                                   100};

const char* status_name(StoreStatus status) {
  switch (status) {
    case StoreStatus::kOk:
      return "kOk";
    case StoreStatus::kStored:
      return "kStored";
    case StoreStatus::kNotStored:
      return "kNotStored";
    case StoreStatus::kExists:
      return "kExists";
    case StoreStatus::kNotFound:
      return "kNotFound";
    case StoreStatus::kTooLarge:
      return "kTooLarge";
    case StoreStatus::kNoMemory:
      return "kNoMemory";
    case StoreStatus::kNonNumeric:
      return "kNonNumeric";
  }
  return "?";
}

bool is_failure(StoreStatus status) {
  return status == StoreStatus::kNoMemory || status == StoreStatus::kTooLarge;
}

// Bytes for humans: escapes, the long token abbreviated, long values cut.
std::string show(std::string_view bytes, size_t max = 24) {
  std::string out = "\"";
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes.substr(i).starts_with(kLongToken)) {
      out += "<a*250>";
      i += kLongToken.size() - 1;
      continue;
    }
    if (out.size() > max + 1) {
      out += fmt::format("...\"({} bytes)", bytes.size());
      return out;
    }
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out + "\"";
}

// The prefix every descendant of `path` starts with.
std::string child_prefix(std::string_view path) {
  std::string prefix(path);
  prefix += storage::kPathDelimiter;
  return prefix;
}

bool is_under(std::string_view path, std::string_view ancestor) {
  return path.size() > ancestor.size() && path[ancestor.size()] == storage::kPathDelimiter &&
         path.starts_with(ancestor);
}

std::string_view parent_of(std::string_view path) {
  const size_t last = path.rfind(storage::kPathDelimiter);
  return last == std::string_view::npos ? std::string_view() : path.substr(0, last);
}

size_t depth_of(std::string_view path) {
  return static_cast<size_t>(std::count(path.begin(), path.end(), storage::kPathDelimiter)) + 1;
}

// memcached's safe_strtoull (util.c), on the value as a C string, as memcached
// sees it: whitespace, an optional sign, digits; then the end or whitespace;
// "-N" only where strtoull's result is still a non-negative int64.
bool memcached_number(const std::string& value, uint64_t& out) {
  const char* text = value.c_str();
  char* end = nullptr;
  errno = 0;
  const unsigned long long number = std::strtoull(text, &end, 10);
  if (errno == ERANGE || end == text) {
    return false;
  }
  const auto stop = static_cast<unsigned char>(*end);
  if (stop != '\0' && stop != ' ' && (stop < '\t' || stop > '\r')) {
    return false;
  }
  if (static_cast<long long>(number) < 0 &&
      std::memchr(text, '-', static_cast<size_t>(end - text)) != nullptr) {
    return false;
  }
  out = number;
  return true;
}

// memcached's size of an item (header with cas, key and NUL, value and CRLF,
// client flags when non-zero): what -I limits and what store.h's
// append/prepend compare with max_item_size.
size_t memcached_item_size(size_t key_size, uint32_t flags, size_t value_size) {
  return 56 + key_size + 1 + value_size + 2 + (flags != 0 ? 4 : 0);
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  [[nodiscard]] bool empty() const { return pos_ >= bytes_.size(); }
  uint8_t byte() { return pos_ < bytes_.size() ? static_cast<uint8_t>(bytes_[pos_++]) : 0; }
  uint64_t big_endian(size_t n) {
    uint64_t value = 0;
    for (size_t i = 0; i < n; ++i) {
      value = (value << 8) | byte();
    }
    return value;
  }
  std::string_view take(size_t n) {
    const std::string_view out = bytes_.substr(std::min(pos_, bytes_.size()), n);
    pos_ += out.size();
    return out;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

struct ModelValue {
  std::string data;
  uint32_t flags = 0;
  uint32_t deadline = 0;
  uint64_t version = 0;  // the write that made it; one per cas the store hands out
};

using ValueMap = std::map<std::string, ModelValue, std::less<>>;

enum class Write : uint8_t { kSet, kAdd, kReplace, kAppend, kPrepend, kCas };

const char* write_name(Write kind) {
  constexpr const char* kNames[] = {"set", "add", "replace", "append", "prepend", "cas"};
  return kNames[static_cast<size_t>(kind)];
}

// One storage command.
struct WriteOp {
  Write kind = Write::kSet;
  std::string path;
  std::string value;
  uint32_t flags = 0;
  uint32_t deadline = 0;
  uint64_t cas = 0;
  std::optional<uint64_t> cas_version;  // the version whose cas `cas` is, if any
};

// What the store should hold: the nodes that have a value, by path.
class Model {
 public:
  [[nodiscard]] const ValueMap& values() const { return values_; }
  [[nodiscard]] uint64_t stores() const { return stores_; }
  [[nodiscard]] uint64_t subtree_deletes() const { return subtree_deletes_; }
  // reset_stats() zeroes the cumulative counters.
  void reset_counters() {
    stores_ = 0;
    subtree_deletes_ = 0;
  }

  [[nodiscard]] const ModelValue* find(std::string_view path) const {
    const auto it = values_.find(path);
    return it == values_.end() ? nullptr : &it->second;
  }

  [[nodiscard]] bool has_descendants(std::string_view path) const {
    const std::string prefix = child_prefix(path);
    const auto it = values_.lower_bound(prefix);
    return it != values_.end() && it->first.starts_with(prefix);
  }

  // A node exists while it holds a value or has descendants (which, in the
  // end, hold values).
  [[nodiscard]] bool exists(std::string_view path) const {
    return find(path) != nullptr || has_descendants(path);
  }

  void erase_subtree(std::string_view path) {
    if (const auto it = values_.find(path); it != values_.end()) {
      values_.erase(it);
    }
    const std::string prefix = child_prefix(path);
    for (auto it = values_.lower_bound(prefix);
         it != values_.end() && it->first.starts_with(prefix);) {
      it = values_.erase(it);
    }
  }

  // The children of `path` (the top level if empty) as full paths, sorted
  // bytewise, value-less ones included.
  [[nodiscard]] std::vector<std::string> children(std::string_view path) const {
    std::set<std::string, std::less<>> names;
    const std::string prefix = path.empty() ? std::string() : child_prefix(path);
    for (auto it = values_.lower_bound(prefix);
         it != values_.end() && it->first.starts_with(prefix); ++it) {
      const std::string_view key = it->first;
      names.emplace(key.substr(0, key.find(storage::kPathDelimiter, prefix.size())));
    }
    return {names.begin(), names.end()};
  }

  // The node and every descendant with a value, parents before children,
  // siblings in bytewise order.
  void collect(std::string_view path, std::vector<const ValueMap::value_type*>& out) const {
    if (const auto it = values_.find(path); it != values_.end()) {
      out.push_back(&*it);
    }
    for (const std::string& child : children(path)) {
      collect(child, out);
    }
  }

  // Every node: the values and their ancestors.
  [[nodiscard]] size_t node_count() const {
    std::set<std::string_view> nodes;
    for (const auto& [path, value] : values_) {
      const std::string_view key = path;
      nodes.insert(key);
      for (size_t i = key.find(storage::kPathDelimiter); i != std::string_view::npos;
           i = key.find(storage::kPathDelimiter, i + 1)) {
        nodes.insert(key.substr(0, i));
      }
    }
    return nodes.size();
  }

  [[nodiscard]] size_t max_depth() const {
    size_t deepest = 0;
    for (const auto& [path, value] : values_) {
      deepest = std::max(deepest, std::min(depth_of(path), kMaxTrackedDepth));
    }
    return deepest;
  }

  // At least what the store's `bytes` must count for these nodes.
  [[nodiscard]] size_t bytes_lower_bound() const {
    size_t bytes = 0;
    std::set<std::string_view> value_less;
    for (const auto& [path, value] : values_) {
      bytes += Item::total_size_for(path.size(), value.data.size());
      const std::string_view key = path;
      for (size_t i = key.find(storage::kPathDelimiter); i != std::string_view::npos;
           i = key.find(storage::kPathDelimiter, i + 1)) {
        if (find(key.substr(0, i)) == nullptr) {
          value_less.insert(key.substr(0, i));
        }
      }
    }
    for (const std::string_view path : value_less) {
      bytes += Item::total_size_for(path.size(), 0, true);
    }
    return bytes;
  }

  // Values that expired by `now` go, each with its subtree.
  void expire(uint32_t now) {
    std::vector<std::string> dead;
    for (const auto& [path, value] : values_) {
      if (value.deadline != 0 && value.deadline <= now) {
        dead.push_back(path);
      }
    }
    for (const std::string& path : dead) {
      erase_subtree(path);
    }
  }

  // What every operation that reads or writes the store does first.
  void apply_pending_flush(uint32_t now) {
    if (pending_flush_at_ != 0 && now >= pending_flush_at_) {
      values_.clear();
      pending_flush_at_ = 0;
    }
  }

  void flush_all(uint32_t at, uint32_t now) {
    if (at <= now) {
      values_.clear();
      pending_flush_at_ = 0;
    } else {
      pending_flush_at_ = at;
    }
  }

  StoreStatus write(const WriteOp& op, size_t max_item_size) {
    const ModelValue* old = find(op.path);
    switch (op.kind) {
      case Write::kSet:
        break;
      case Write::kAdd:
        if (old != nullptr) {
          return StoreStatus::kNotStored;
        }
        break;
      case Write::kReplace:
      case Write::kAppend:
      case Write::kPrepend:
        if (old == nullptr) {
          return StoreStatus::kNotStored;
        }
        break;
      case Write::kCas:
        if (old == nullptr) {
          return StoreStatus::kNotFound;
        }
        if (op.cas_version != old->version) {
          return StoreStatus::kExists;
        }
        break;
    }
    ModelValue fresh;
    if (op.kind == Write::kAppend || op.kind == Write::kPrepend) {
      if (memcached_item_size(op.path.size(), old->flags, old->data.size() + op.value.size()) >
          max_item_size) {
        return StoreStatus::kNotStored;
      }
      fresh.data = op.kind == Write::kAppend ? old->data + op.value : op.value + old->data;
      fresh.flags = old->flags;
      fresh.deadline = old->deadline;
    } else {
      fresh.data = op.value;
      fresh.flags = op.flags;
      fresh.deadline = op.deadline;
    }
    fresh.version = next_version_++;
    ++stores_;
    values_.insert_or_assign(op.path, std::move(fresh));
    return StoreStatus::kStored;
  }

  // A write refused for want of memory: a set drops the old value (memcached
  // does, so that it does not go stale); the others change nothing.
  void write_failed(const WriteOp& op) {
    if (op.kind == Write::kSet) {
      discard_value(op.path);
    }
  }

  StoreStatus arithmetic(std::string_view path, bool increment, uint64_t delta, uint64_t& result) {
    const auto it = values_.find(path);
    if (it == values_.end()) {
      return StoreStatus::kNotFound;
    }
    uint64_t number = 0;
    if (!memcached_number(it->second.data, number)) {
      return StoreStatus::kNonNumeric;
    }
    if (increment) {
      number += delta;
    } else {
      number = delta > number ? 0 : number - delta;
    }
    it->second.data = std::to_string(number);
    it->second.version = next_version_++;
    result = number;
    return StoreStatus::kOk;
  }

  StoreStatus touch(std::string_view path, uint32_t deadline) {
    const auto it = values_.find(path);
    if (it == values_.end()) {
      return StoreStatus::kNotFound;
    }
    it->second.deadline = deadline;
    return StoreStatus::kOk;
  }

  StoreStatus remove(std::string_view path) {
    if (!exists(path)) {
      return StoreStatus::kNotFound;
    }
    if (has_descendants(path)) {
      ++subtree_deletes_;
    }
    erase_subtree(path);
    return StoreStatus::kOk;
  }

  // The node's value goes; its children stay.
  void discard_value(std::string_view path) {
    if (const auto it = values_.find(path); it != values_.end()) {
      values_.erase(it);
    }
  }

 private:
  ValueMap values_;
  uint32_t pending_flush_at_ = 0;  // 0: none
  uint64_t next_version_ = 1;
  uint64_t stores_ = 0;           // writes that stored: the store's total_items
  uint64_t subtree_deletes_ = 0;  // removes of a node with descendants
};

enum class Config : uint8_t { kExact, kEvicting, kRefusing };

struct Setup {
  Config config = Config::kExact;
  unsigned shard_bits = 0;
  size_t max_item_size = 0;
  size_t small_limit = 0;
  size_t ops_per_full_check = kOpsPerFullCheck;
  bool leave_contents = false;
};

Setup decode_setup(const uint8_t* data) {
  const uint8_t options = data[0];
  Setup setup;
  constexpr Config kConfigs[] = {Config::kExact, Config::kEvicting, Config::kExact,
                                 Config::kRefusing};
  setup.config = kConfigs[options & 3];
  constexpr unsigned kShardBits[] = {0, 1, 3, 6};
  setup.shard_bits = kShardBits[(options >> 2) & 3];
  setup.max_item_size = (options & 16) != 0 ? 4096 : 1024 * 1024;
  setup.ops_per_full_check = (options & 32) != 0 ? kOpsPerOftenCheck : kOpsPerFullCheck;
  setup.leave_contents = (options & 64) != 0;
  setup.small_limit = 1024 + 8 * ((size_t{data[1]} << 8) | data[2]);
  return setup;
}

storage::StoreConfig store_config(const Setup& setup) {
  storage::StoreConfig config;
  config.memory_limit = setup.config == Config::kExact ? kExactLimit : setup.small_limit;
  config.shard_bits = setup.shard_bits;
  config.evictions_enabled = setup.config == Config::kEvicting;
  config.max_item_size = setup.max_item_size;
  // The server's rules; the model checks incr against the C library.
  config.rules.parse_number = &protocol::parse_u64;
  config.rules.item_fits = &protocol::fits_item_limit;
  return config;
}

// What the store lists from the top: list_children("") and a collect_subtree
// of each top-level node.
struct Snapshot {
  std::vector<ItemRef> top;
  std::vector<ItemRef> values;
};

// A reference kept across later operations, with what it showed when taken:
// an ItemRef must keep its item (key, value, flags, cas) unchanged.
struct Held {
  ItemRef ref;
  std::string key;
  std::string data;
  uint32_t flags = 0;
  uint64_t cas = 0;
};

enum class Op : uint8_t {
  kSet,
  kSetNumber,
  kAdd,
  kReplace,
  kAppend,
  kPrepend,
  kCas,
  kCasFresh,
  kGet,
  kGetAndTouch,
  kIncr,
  kDecr,
  kTouch,
  kRemove,
  kDiscardValue,
  kListChildren,
  kListTop,
  kCollectSubtree,
  kAdvance,
  kFlushAll,
  kSweep,
  kSetMemoryLimit,
  kFullCheck,
  kHold,
  kRelease,
  kStats,
  kResetStats,
};

// Opcode byte modulo 32 -> operation; writes and reads get the most slots.
constexpr Op kOps[32] = {
    Op::kSet,             // 0
    Op::kSet,             // 1
    Op::kSet,             // 2
    Op::kSetNumber,       // 3
    Op::kAdd,             // 4
    Op::kReplace,         // 5
    Op::kAppend,          // 6
    Op::kPrepend,         // 7
    Op::kCas,             // 8
    Op::kCasFresh,        // 9
    Op::kGet,             // 10
    Op::kGet,             // 11
    Op::kGetAndTouch,     // 12
    Op::kIncr,            // 13
    Op::kDecr,            // 14
    Op::kTouch,           // 15
    Op::kRemove,          // 16
    Op::kRemove,          // 17
    Op::kDiscardValue,    // 18
    Op::kListChildren,    // 19
    Op::kListTop,         // 20
    Op::kCollectSubtree,  // 21
    Op::kAdvance,         // 22
    Op::kAdvance,         // 23
    Op::kFlushAll,        // 24
    Op::kSweep,           // 25
    Op::kSetMemoryLimit,  // 26
    Op::kFullCheck,       // 27
    Op::kHold,            // 28
    Op::kRelease,         // 29
    Op::kStats,           // 30
    Op::kResetStats,      // 31
};

class Harness {
 public:
  explicit Harness(const Setup& setup)
      : setup_(setup), store_(store_config(setup)), limit_(store_config(setup).memory_limit) {
    static const bool kTrace = std::getenv("STORE_FUZZ_TRACE") != nullptr;
    trace_ = kTrace;
    if (trace_) {
      constexpr const char* kConfigNames[] = {"exact", "evicting", "refusing"};
      log("config {} shard_bits {} max_item_size {} limit {} full check every {} leave_contents {} "
          "now {}",
          kConfigNames[static_cast<size_t>(setup_.config)], setup_.shard_bits, setup_.max_item_size,
          limit_, setup_.ops_per_full_check, setup_.leave_contents, now_);
    }
  }

  void run(Reader& in) {
    while (!in.empty()) {
      step(in);
    }
  }

  // Compares everything, flushes, sweeps until the store is empty: it must
  // then count no items, no nodes and no bytes.
  void finish() {
    full_check();
    if (setup_.leave_contents) {
      check_held();
      held_.clear();
      return;
    }
    store_.flush_all(now_, now_);
    model_.flush_all(now_, now_);
    const size_t bound = store_.stats().hash_buckets / kFinalSweepStep + 2;
    for (size_t i = 0; i < bound && store_.tree_stats().nodes != 0; ++i) {
      store_.sweep(now_, kFinalSweepStep);
    }
    const storage::StoreStats stats = store_.stats();
    const storage::TreeStats tree = store_.tree_stats();
    STORE_CHECK(stats.curr_items == 0 && stats.bytes == 0 && tree.nodes == 0 &&
                    tree.value_nodes == 0 && tree.max_depth == 0,
                "after flush_all and a whole sweep: curr_items {} bytes {} nodes {} "
                "value_nodes {} max_depth {}",
                stats.curr_items, stats.bytes, tree.nodes, tree.value_nodes, tree.max_depth);
    STORE_CHECK(stats.evictions == evictions_seen_, "the final sweep evicted");
    std::vector<ItemRef> top;
    STORE_CHECK(store_.list_children("", now_, SIZE_MAX, top) == StoreStatus::kOk && top.empty(),
                "the top level lists {} nodes after flush_all", top.size());
    // References outlive their items' removal.
    check_held();
    held_.clear();
  }

 private:
  template <typename... Args>
  void log(fmt::format_string<Args...> format, Args&&... args) {
    std::fprintf(stderr, "%s\n", fmt::format(format, std::forward<Args>(args)...).c_str());
  }

  // ---- decoding ----

  std::string read_path(Reader& in) {
    const uint8_t head = in.byte();
    const ValueMap& values = model_.values();
    if (head >= 0xF0 && !values.empty()) {
      // A node that exists: a value's path, or its parent.
      const auto it =
          std::next(values.begin(), static_cast<std::ptrdiff_t>(in.byte() % values.size()));
      std::string_view path = it->first;
      if ((head & 1) != 0 && depth_of(path) > 1) {
        path = parent_of(path);
      }
      return std::string(path);
    }
    // Depth 1-4, then 2 bits per token (a, b, c or a rare one); the fourth
    // token's code is in the next byte, a rare token's choice too.
    const size_t depth = 1 + (head & 3u);
    unsigned codes = head >> 2;
    std::string path;
    for (size_t i = 0; i < depth; ++i) {
      unsigned code = 0;
      if (i < 3) {
        code = codes & 3u;
        codes >>= 2;
      } else {
        code = in.byte() & 3u;
      }
      if (i > 0) {
        path += storage::kPathDelimiter;
      }
      path += code < 3 ? kTokens[code] : kRareTokens[in.byte() & 3u];
    }
    return path;
  }

  static std::string number_text(uint64_t number, unsigned decoration) {
    std::string text;
    if ((decoration & 1) != 0) {
      text += (decoration & 16) != 0 ? "\t " : " ";
    }
    if ((decoration & 2) != 0) {
      text += '+';
    }
    if ((decoration & 4) != 0) {
      text += '-';
    }
    text += std::to_string(number);
    if ((decoration & 8) != 0) {
      text += (decoration & 16) != 0 ? "x" : " 7";
    }
    return text;
  }

  static std::string read_value(Reader& in) {
    const uint8_t head = in.byte();
    const unsigned low = head & 31u;
    switch (head >> 5) {
      case 0:
        return {};
      case 1:
      case 2:  // a few bytes from the input
        return std::string(in.take(low % 17));
      case 3:
        return number_text(in.byte(), low);
      case 4:
        return number_text(in.big_endian(8), low);
      case 5:
        return std::string(kOddNumbers[low % std::size(kOddNumbers)]);
      case 6: {  // 1 byte to 8 KiB (the next byte shortens it); some start with a number
        const uint8_t seed = in.byte();
        std::string text((low + 1) * 256 - seed, ' ');
        if (seed < 32) {
          text.replace(0, 3, std::to_string(100 + seed));
        } else {
          for (size_t i = 0; i < text.size(); ++i) {
            text[i] = static_cast<char>('a' + (i * seed + i / 7) % 26);
          }
        }
        return text;
      }
      default:  // close to 2^64: incr wraps soon
        return std::to_string(UINT64_MAX - low);
    }
  }

  static uint32_t read_flags(Reader& in) {
    const uint8_t f = in.byte();
    return f < 0xF0 ? f : kOddFlags[f & 7u];
  }

  // 0 (never) half of the time; else from 2 s ago (dead already) to about an
  // hour ahead; 0xFF is the executor's "already expired".
  uint32_t read_deadline(Reader& in) const {
    const uint8_t d = in.byte();
    if (d < 0x80) {
      return 0;
    }
    if (d == 0xFF) {
      return 1;
    }
    if (d < 0xC0) {
      return now_ + (d & 63u) - 2;
    }
    return now_ + 64 + (d & 63u) * 60;
  }

  static uint64_t read_delta(Reader& in) {
    const uint8_t d = in.byte();
    if (d < 0xE0) {
      return d % 16u;
    }
    if (d < 0xF0) {
      return in.big_endian(8);
    }
    return kOddDeltas[d & 7u];
  }

  static size_t read_limit(Reader& in) {
    const uint8_t l = in.byte();
    return l < 0x80 ? SIZE_MAX : l & 7u;
  }

  // A cas value the model can judge: 0 and 2^64-1 match nothing; others are
  // cas values the store showed earlier.
  void read_cas(Reader& in, WriteOp& op) {
    const uint8_t c = in.byte();
    if (c < 2 || cas_pool_.empty()) {
      op.cas = c == 1 ? UINT64_MAX : 0;
      return;
    }
    const uint64_t version = cas_pool_[cas_pool_.size() - 1 - (c - 2u) % cas_pool_.size()];
    op.cas = cas_of_version_.at(version);
    op.cas_version = version;
  }

  // ---- operations ----

  void step(Reader& in) {
    const Op op = kOps[in.byte() % 32u];
    ++ops_;
    switch (op) {
      case Op::kSet:
      case Op::kSetNumber:
      case Op::kAdd:
      case Op::kReplace:
      case Op::kCas: {
        WriteOp write;
        write.kind = op == Op::kAdd       ? Write::kAdd
                     : op == Op::kReplace ? Write::kReplace
                     : op == Op::kCas     ? Write::kCas
                                          : Write::kSet;
        write.path = read_path(in);
        write.value = op == Op::kSetNumber ? number_text(in.byte(), 0) : read_value(in);
        write.flags = read_flags(in);
        write.deadline = read_deadline(in);
        if (op == Op::kCas) {
          read_cas(in, write);
        }
        write_command(write);
        break;
      }
      case Op::kAppend:
      case Op::kPrepend: {
        WriteOp write;
        write.kind = op == Op::kAppend ? Write::kAppend : Write::kPrepend;
        write.path = read_path(in);
        write.value = read_value(in);
        write_command(write);
        break;
      }
      case Op::kCasFresh: {
        // gets, then cas with what it returned (kNotFound if nothing).
        WriteOp write;
        write.kind = Write::kCas;
        write.path = read_path(in);
        if (const ItemRef ref = checked_get(write.path, std::nullopt)) {
          write.cas = ref.cas();
          write.cas_version = model_.find(write.path)->version;
        }
        write.value = read_value(in);
        write.flags = read_flags(in);
        write.deadline = read_deadline(in);
        write_command(write);
        break;
      }
      case Op::kGet:
        (void)checked_get(read_path(in), std::nullopt);
        break;
      case Op::kGetAndTouch: {
        std::string path = read_path(in);
        (void)checked_get(path, read_deadline(in));
        break;
      }
      case Op::kIncr:
      case Op::kDecr: {
        const std::string path = read_path(in);
        arithmetic(path, op == Op::kIncr, read_delta(in));
        break;
      }
      case Op::kTouch: {
        const std::string path = read_path(in);
        const uint32_t deadline = read_deadline(in);
        model_.apply_pending_flush(now_);
        const StoreStatus got = store_.touch(path, deadline, now_);
        if (trace_) {
          log("#{} touch {} deadline {} -> {}", ops_, show(path), show_deadline(deadline),
              status_name(got));
        }
        const StoreStatus expected = model_.touch(path, deadline);
        STORE_CHECK(got == expected, "touch {}: store {}, model {}", show(path), status_name(got),
                    status_name(expected));
        break;
      }
      case Op::kRemove: {
        const std::string path = read_path(in);
        model_.apply_pending_flush(now_);
        const StoreStatus got = store_.remove(path, now_);
        if (trace_) {
          log("#{} remove {} -> {}", ops_, show(path), status_name(got));
        }
        const StoreStatus expected = model_.remove(path);
        STORE_CHECK(got == expected, "remove {}: store {}, model {}", show(path), status_name(got),
                    status_name(expected));
        break;
      }
      case Op::kDiscardValue: {
        const std::string path = read_path(in);
        model_.apply_pending_flush(now_);
        store_.discard_value(path, now_);
        if (trace_) {
          log("#{} discard_value {}", ops_, show(path));
        }
        model_.discard_value(path);
        break;
      }
      case Op::kListChildren:
        list_children(read_path(in), read_limit(in));
        break;
      case Op::kListTop:
        list_children("", read_limit(in));
        break;
      case Op::kCollectSubtree: {
        const std::string path = read_path(in);
        collect_subtree(path, read_limit(in));
        break;
      }
      case Op::kAdvance: {
        const uint8_t c = in.byte();
        const uint32_t seconds = c < 0xC0 ? c % 4u : c < 0xF8 ? (c & 63u) : kClockJumps[c & 7u];
        if (now_ <= kLatestTime - seconds) {
          now_ += seconds;
        }
        if (trace_) {
          log("#{} advance {} -> now {}", ops_, seconds, now_);
        }
        break;
      }
      case Op::kFlushAll: {
        const uint8_t f = in.byte();
        const uint32_t at = f < 0x40   ? now_
                            : f < 0x60 ? 0
                            : f < 0x80 ? now_ - (f & 31u)
                                       : now_ + 1 + ((f & 127u) >> 2);
        store_.flush_all(at, now_);
        if (trace_) {
          log("#{} flush_all at now{:+}", ops_, static_cast<int64_t>(at) - now_);
        }
        model_.flush_all(at, now_);
        break;
      }
      case Op::kSweep: {
        const uint8_t b = in.byte();
        const size_t buckets = b >= 0xF0 ? SIZE_MAX : 1 + b % 16u;
        model_.apply_pending_flush(now_);
        store_.sweep(now_, buckets);
        if (trace_) {
          log("#{} sweep {}", ops_, buckets == SIZE_MAX ? "all" : std::to_string(buckets));
        }
        if (buckets == SIZE_MAX) {
          // Nothing dead is left anywhere.
          check_counts_exact("after a whole sweep");
        }
        break;
      }
      case Op::kSetMemoryLimit: {
        const uint8_t b = in.byte();
        if (setup_.config == Config::kExact) {
          limit_ = kExactLimit + b;
        } else if (b < 0xF0) {
          limit_ = 1024 + size_t{b} * 512;
        } else {
          limit_ = b == 0xFF ? kExactLimit : setup_.small_limit;
        }
        store_.set_memory_limit(limit_, now_);
        if (trace_) {
          log("#{} set_memory_limit {}", ops_, limit_);
        }
        STORE_CHECK(store_.memory_limit() == limit_, "memory_limit() {} after setting {}",
                    store_.memory_limit(), limit_);
        break;
      }
      case Op::kFullCheck:
        if (trace_) {
          log("#{} full check", ops_);
        }
        full_check();
        break;
      case Op::kHold: {
        const std::string path = read_path(in);
        if (trace_) {
          log("#{} hold {}", ops_, show(path));
        }
        if (ItemRef ref = checked_get(path, std::nullopt)) {
          Held held;
          held.key = ref.key();
          held.data = ref.value();
          held.flags = ref.flags();
          held.cas = ref.cas();
          held.ref = std::move(ref);
          held_.push_back(std::move(held));
          if (held_.size() > kMaxHeld) {
            held_.erase(held_.begin());
          }
        }
        break;
      }
      case Op::kRelease: {
        const uint8_t b = in.byte();
        if (trace_) {
          log("#{} release one of {} held", ops_, held_.size());
        }
        if (!held_.empty()) {
          check_held();
          held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(b % held_.size()));
        }
        break;
      }
      case Op::kStats:
        if (trace_) {
          log("#{} stats", ops_);
        }
        check_counts_bounds();
        break;
      case Op::kResetStats: {
        const storage::StoreStats before = store_.stats();
        store_.reset_stats();
        if (trace_) {
          log("#{} reset_stats", ops_);
        }
        model_.reset_counters();
        evictions_seen_ = 0;
        previous_ = {};
        const storage::StoreStats after = store_.stats();
        STORE_CHECK(after.total_items == 0 && after.evictions == 0 && after.reclaimed == 0 &&
                        after.curr_items == before.curr_items && after.bytes == before.bytes,
                    "after reset_stats: total_items {} evictions {} reclaimed {}, curr_items {} "
                    "(was {}), bytes {} (was {})",
                    after.total_items, after.evictions, after.reclaimed, after.curr_items,
                    before.curr_items, after.bytes, before.bytes);
        break;
      }
    }
    // What an operation stored may be dead already (a deadline in the past).
    model_.expire(now_);
    after_step();
  }

  static std::string show_deadline(uint32_t deadline) {
    return deadline == 0 ? std::string("never") : std::to_string(deadline);
  }

  std::string show_op(const WriteOp& op) const {
    std::string text = fmt::format("{} {} {}", write_name(op.kind), show(op.path), show(op.value));
    if (op.kind != Write::kAppend && op.kind != Write::kPrepend) {
      text += fmt::format(" flags {} deadline {}", op.flags, show_deadline(op.deadline));
      if (op.deadline != 0) {
        text += fmt::format(" (now{:+})", static_cast<int64_t>(op.deadline) - now_);
      }
    }
    if (op.kind == Write::kCas) {
      text += fmt::format(" cas {}", op.cas);
    }
    return text;
  }

  StoreStatus call(const WriteOp& op) {
    switch (op.kind) {
      case Write::kSet:
        return store_.set(op.path, op.value, op.flags, op.deadline, now_);
      case Write::kAdd:
        return store_.add(op.path, op.value, op.flags, op.deadline, now_);
      case Write::kReplace:
        return store_.replace(op.path, op.value, op.flags, op.deadline, now_);
      case Write::kAppend:
        return store_.append(op.path, op.value, now_);
      case Write::kPrepend:
        return store_.prepend(op.path, op.value, now_);
      case Write::kCas:
        return store_.cas(op.path, op.value, op.flags, op.deadline, op.cas, now_);
    }
    return StoreStatus::kOk;
  }

  void write_command(const WriteOp& op) {
    model_.apply_pending_flush(now_);
    used_before_ = store_.stats().budget_used;
    const StoreStatus got = call(op);
    if (trace_) {
      log("#{} {} -> {}", ops_, show_op(op), status_name(got));
    }
    const uint64_t evictions = store_.stats().evictions;
    if (evictions != evictions_seen_) {
      STORE_CHECK(setup_.config == Config::kEvicting && evictions > evictions_seen_,
                  "evictions went from {} to {}", evictions_seen_, evictions);
      reconcile(&op, got, evictions - evictions_seen_);
      evictions_seen_ = evictions;
      check_budget(op, got);
      return;
    }
    if (is_failure(got)) {
      STORE_CHECK(setup_.config != Config::kExact, "{}: {} with a {} byte limit", show_op(op),
                  status_name(got), limit_);
      check_failure(op, got);
      model_.write_failed(op);
      return;
    }
    if (setup_.config != Config::kExact && op.kind != Write::kAppend &&
        op.kind != Write::kPrepend) {
      STORE_CHECK(Item::total_size_for(op.path.size(), op.value.size(),
                                       storage::is_nested(op.path)) <= limit_,
                  "{}: {} although larger than the {} byte limit", show_op(op), status_name(got),
                  limit_);
    }
    const StoreStatus expected = model_.write(op, setup_.max_item_size);
    STORE_CHECK(got == expected, "{}: store {}, model {}", show_op(op), status_name(got),
                status_name(expected));
    check_budget(op, got);
  }

  // A write leaves the store within its memory limit (SPEC.md §3: the limit
  // covers keys, values and per-item overhead; the budget is hard, issue 12):
  // neither what it holds nor what its budget counts passes it. The store
  // once reserved room for the item only, not for the value-less ancestors,
  // tree links and tree nodes a write adds (regressions-store/budget-*).
  // (A limit lowered below what is in use, with evictions off, frees
  // nothing: then a write must at least not add to it.)
  void check_budget(const WriteOp& op, StoreStatus) {
    if (setup_.config == Config::kExact) {
      return;
    }
    const storage::StoreStats stats = store_.stats();
    const uint64_t bound = std::max<uint64_t>(limit_, used_before_);
    STORE_CHECK(stats.bytes <= bound && stats.budget_used <= bound,
                "{}: the store holds {} bytes and its budget counts {}, over its {} byte limit",
                show_op(op), stats.bytes, stats.budget_used, limit_);
  }

  // kTooLarge exactly when the item alone exceeds the limit. For append and
  // prepend the store counts the old value as it finds it (dead or
  // value-less included), so only a live one can be judged.
  void check_failure(const WriteOp& op, StoreStatus got) const {
    size_t value_size = op.value.size();
    if (op.kind == Write::kAppend || op.kind == Write::kPrepend) {
      const ModelValue* old = model_.find(op.path);
      if (old == nullptr) {
        return;
      }
      value_size += old->data.size();
    }
    // A nested node's item has room for tree links; a flat key's has it only
    // if it ever had children, which the model does not track: between the
    // two sizes either answer is right.
    const bool nested = storage::is_nested(op.path);
    const size_t smallest = Item::total_size_for(op.path.size(), value_size, nested);
    const size_t largest = Item::total_size_for(op.path.size(), value_size, true);
    const bool too_large = got == StoreStatus::kTooLarge;
    STORE_CHECK(too_large ? largest > limit_ : smallest <= limit_,
                "{}: {}, but the item is {} bytes and the limit {}", show_op(op), status_name(got),
                smallest, limit_);
  }

  // Configuration kEvicting, after an operation during which
  // stats().evictions grew by `evicted`. Eviction makes room before a write,
  // so the store may have lost values (each with its whole subtree) and then
  // done the write. A listing of the whole store tells which: every value
  // outside the write's subtree that the model has and the store lacks was
  // evicted; the target may or may not have been (two candidates); below the
  // target, what the write leaves alive but the store lacks was evicted. The
  // write on the model without all that must give the store's status and
  // exactly its contents, and each value evicted with its subtree counts
  // one eviction at least.
  void reconcile(const WriteOp* op, StoreStatus got, uint64_t evicted) {
    Snapshot snapshot;
    enumerate(snapshot);
    std::set<std::string, std::less<>> present;
    for (const ItemRef& ref : snapshot.values) {
      present.emplace(ref.key());
    }
    const std::string target = op != nullptr ? op->path : std::string();
    const auto in_target_subtree = [&](std::string_view path) {
      return op != nullptr && (path == target || is_under(path, target));
    };
    std::set<std::string, std::less<>> outside;
    for (const auto& [path, value] : model_.values()) {
      if (!in_target_subtree(path) && present.count(path) == 0) {
        outside.insert(path);
      }
    }
    std::string differences;
    for (const bool target_evicted : {false, true}) {
      if (target_evicted && (op == nullptr || model_.find(target) == nullptr)) {
        continue;
      }
      Model candidate = model_;
      std::set<std::string, std::less<>> lost = outside;
      if (target_evicted) {
        lost.insert(target);
      }
      for (const std::string& path : lost) {
        candidate.erase_subtree(path);
      }
      StoreStatus expected = got;
      if (op != nullptr) {
        if (is_failure(got)) {
          candidate.write_failed(*op);
        } else {
          expected = candidate.write(*op, setup_.max_item_size);
        }
      }
      candidate.expire(now_);
      std::vector<std::string> below;
      for (const auto& [path, value] : candidate.values()) {
        if (op != nullptr && is_under(path, target) && present.count(path) == 0) {
          below.push_back(path);
        }
      }
      for (const std::string& path : below) {
        candidate.erase_subtree(path);
        lost.insert(path);
      }
      const std::string difference =
          expected != got
              ? fmt::format("status: store {}, model {}", status_name(got), status_name(expected))
              : compare(candidate, snapshot);
      if (!difference.empty()) {
        differences += fmt::format("\n  if {} was {}evicted: {}", show(target),
                                   target_evicted ? "" : "not ", difference);
        continue;
      }
      const auto under_lost = [&](std::string_view path) {
        for (std::string_view up = parent_of(path); !up.empty(); up = parent_of(up)) {
          if (lost.count(up) != 0) {
            return true;
          }
        }
        return false;
      };
      size_t roots = 0;
      std::string lost_list;
      for (const std::string& path : lost) {
        roots += under_lost(path) ? 0 : 1;
        lost_list += " " + show(path);
      }
      size_t lost_values = 0;
      // Values below the target that the write itself ends (a value stored
      // already expired takes its subtree) may have been evicted before it:
      // they do not show as lost, but may count.
      size_t ended_by_write = 0;
      for (const auto& [path, value] : model_.values()) {
        lost_values += lost.count(path) != 0 || under_lost(path) ? 1 : 0;
        ended_by_write += op != nullptr && is_under(path, target) && lost.count(path) == 0 &&
                                  !under_lost(path) && candidate.find(path) == nullptr
                              ? 1
                              : 0;
      }
      // At most one per value lost, too: a value the eviction hand finds
      // dead (expired, flushed, or below a dead value) is reclaimed, not
      // evicted, as memcached counts the dead items it finds at the LRU tail
      // (the store once counted them as evictions:
      // regressions-store/evictions-dead-value).
      if (roots > evicted || evicted > lost_values + ended_by_write) {
        differences += fmt::format(
            "\n  if {} was {}evicted: {} values were lost, {} of them with their subtrees, but "
            "{} evictions counted (lost:{})",
            show(target), target_evicted ? "" : "not ", lost_values, roots, evicted, lost_list);
        continue;
      }
      if (trace_) {
        log("   {} evictions: lost{}", evicted, lost_list);
      }
      model_ = std::move(candidate);
      observe(snapshot);
      return;
    }
    STORE_CHECK(false, "{} evictions during {}; the store matches no model state:{}", evicted,
                op != nullptr ? show_op(*op) : std::string("a non-write"), differences);
  }

  void arithmetic(const std::string& path, bool increment, uint64_t delta) {
    model_.apply_pending_flush(now_);
    uint64_t result = 0;
    const StoreStatus got =
        increment ? store_.incr(path, delta, now_, result) : store_.decr(path, delta, now_, result);
    if (trace_) {
      log("#{} {} {} {} -> {} {}", ops_, increment ? "incr" : "decr", show(path), delta,
          status_name(got), result);
    }
    const ModelValue* old = model_.find(path);
    const std::string before = old != nullptr ? old->data : std::string();
    const Model unchanged = model_;
    uint64_t expected_result = 0;
    const StoreStatus expected = model_.arithmetic(path, increment, delta, expected_result);
    // A number that needs a bigger block is a new item, and the budget may
    // have no room for it (memcached: SERVER_ERROR out of memory); with
    // evictions on, making room may even take the number itself.
    if (expected == StoreStatus::kOk && setup_.config != Config::kExact &&
        (got == StoreStatus::kNoMemory ||
         (got == StoreStatus::kNotFound && setup_.config == Config::kEvicting))) {
      model_ = unchanged;
      return;
    }
    STORE_CHECK(got == expected, "{} {} {} on {}: store {}, model {}", increment ? "incr" : "decr",
                show(path), delta, show(before), status_name(got), status_name(expected));
    STORE_CHECK(got != StoreStatus::kOk || result == expected_result,
                "{} {} {} on {}: store {}, model {}", increment ? "incr" : "decr", show(path),
                delta, show(before), result, expected_result);
  }

  ItemRef checked_get(const std::string& path, std::optional<uint32_t> touch) {
    model_.apply_pending_flush(now_);
    ItemRef ref =
        touch.has_value() ? store_.get_and_touch(path, *touch, now_) : store_.get(path, now_);
    if (trace_) {
      log("#{} {} {}{} -> {}", ops_, touch.has_value() ? "get_and_touch" : "get", show(path),
          touch.has_value() ? " deadline " + show_deadline(*touch) : std::string(),
          ref ? show(ref.value()) : std::string("miss"));
    }
    const ModelValue* expected = model_.find(path);
    if (expected == nullptr) {
      STORE_CHECK(!ref, "get {}: store has {}, model nothing", show(path), show(ref.value()));
      return ref;
    }
    STORE_CHECK(ref, "get {}: store nothing, model {}", show(path), show(expected->data));
    const std::string difference = compare_value(ref, path, *expected);
    STORE_CHECK(difference.empty(), "get {}: {}", show(path), difference);
    observe(expected->version, ref.cas());
    if (touch.has_value()) {
      (void)model_.touch(path, *touch);
    }
    return ref;
  }

  void list_children(const std::string& path, size_t limit) {
    model_.apply_pending_flush(now_);
    std::vector<ItemRef> out;
    const StoreStatus got = store_.list_children(path, now_, limit, out);
    if (trace_) {
      log("#{} list_children {} limit {} -> {} {}", ops_, show(path), limit, status_name(got),
          out.size());
    }
    const char* what = "list_children";
    if (!path.empty() && !model_.exists(path)) {
      STORE_CHECK(got == StoreStatus::kNotFound && out.empty(), "{} {}: {} {}, model kNotFound",
                  what, show(path), status_name(got), out.size());
      return;
    }
    const std::vector<std::string> children = model_.children(path);
    if (children.size() > limit) {
      STORE_CHECK(got == StoreStatus::kTooLarge && out.empty(),
                  "{} {} limit {}: {} {}, model {} children", what, show(path), limit,
                  status_name(got), out.size(), children.size());
      return;
    }
    STORE_CHECK(got == StoreStatus::kOk, "{} {}: {}, model kOk", what, show(path),
                status_name(got));
    const std::string difference = compare_nodes(out, children);
    STORE_CHECK(difference.empty(), "{} {}: {}", what, show(path), difference);
    observe(out);
  }

  void collect_subtree(const std::string& path, size_t limit) {
    model_.apply_pending_flush(now_);
    std::vector<ItemRef> out;
    const StoreStatus got = store_.collect_subtree(path, now_, limit, out);
    if (trace_) {
      log("#{} collect_subtree {} limit {} -> {} {}", ops_, show(path), limit, status_name(got),
          out.size());
    }
    const char* what = "collect_subtree";
    if (!model_.exists(path)) {
      STORE_CHECK(got == StoreStatus::kNotFound && out.empty(), "{} {}: {} {}, model kNotFound",
                  what, show(path), status_name(got), out.size());
      return;
    }
    std::vector<const ValueMap::value_type*> expected;
    model_.collect(path, expected);
    if (expected.size() > limit) {
      STORE_CHECK(got == StoreStatus::kTooLarge && out.empty(),
                  "{} {} limit {}: {} {}, model {} values", what, show(path), limit,
                  status_name(got), out.size(), expected.size());
      return;
    }
    STORE_CHECK(got == StoreStatus::kOk, "{} {}: {}, model kOk", what, show(path),
                status_name(got));
    const std::string difference = compare_values(out, expected);
    STORE_CHECK(difference.empty(), "{} {}: {}", what, show(path), difference);
    observe(out);
  }

  // ---- comparing ----

  // Empty if the ref shows the model's value; else what differs.
  std::string compare_value(const ItemRef& ref, std::string_view path,
                            const ModelValue& expected) const {
    if (ref.key() != path) {
      return fmt::format("key {}, expected {}", show(ref.key()), show(path));
    }
    if (!ref.has_value()) {
      return fmt::format("{} is value-less, model has {}", show(path), show(expected.data));
    }
    if (ref.value() != expected.data) {
      return fmt::format("{} holds {}, model {}", show(path), show(ref.value()),
                         show(expected.data));
    }
    if (ref.flags() != expected.flags) {
      return fmt::format("{} has flags {}, model {}", show(path), ref.flags(), expected.flags);
    }
    if (const auto it = cas_of_version_.find(expected.version);
        it != cas_of_version_.end() && it->second != ref.cas()) {
      return fmt::format("{} has cas {}, seen before as {}", show(path), ref.cas(), it->second);
    }
    return {};
  }

  // A listing of children against the model's.
  std::string compare_nodes(const std::vector<ItemRef>& out,
                            const std::vector<std::string>& expected) const {
    for (size_t i = 0; i < std::max(out.size(), expected.size()); ++i) {
      if (i >= out.size() || i >= expected.size() || out[i].key() != expected[i]) {
        return fmt::format("entry {}: store {}, model {} ({} vs {} entries)", i,
                           i < out.size() ? show(out[i].key()) : std::string("none"),
                           i < expected.size() ? show(expected[i]) : std::string("none"),
                           out.size(), expected.size());
      }
      const ModelValue* value = model_.find(expected[i]);
      if (value == nullptr) {
        if (out[i].has_value()) {
          return fmt::format("{} holds {}, model no value", show(expected[i]),
                             show(out[i].value()));
        }
        continue;
      }
      std::string difference = compare_value(out[i], expected[i], *value);
      if (!difference.empty()) {
        return difference;
      }
    }
    return {};
  }

  // A listing of values against the model's.
  std::string compare_values(const std::vector<ItemRef>& out,
                             const std::vector<const ValueMap::value_type*>& expected) const {
    for (size_t i = 0; i < std::max(out.size(), expected.size()); ++i) {
      if (i >= out.size() || i >= expected.size()) {
        return fmt::format("entry {}: store {}, model {} ({} vs {} values)", i,
                           i < out.size() ? show(out[i].key()) : std::string("none"),
                           i < expected.size() ? show(expected[i]->first) : std::string("none"),
                           out.size(), expected.size());
      }
      std::string difference = compare_value(out[i], expected[i]->first, expected[i]->second);
      if (!difference.empty()) {
        return fmt::format("entry {}: {}", i, difference);
      }
    }
    return {};
  }

  // Empty if the snapshot shows exactly the model; else what differs.
  std::string compare(const Model& model, const Snapshot& snapshot) const {
    const std::vector<std::string> top = model.children("");
    for (size_t i = 0; i < std::max(snapshot.top.size(), top.size()); ++i) {
      if (i >= snapshot.top.size() || i >= top.size() || snapshot.top[i].key() != top[i]) {
        return fmt::format(
            "top level entry {}: store {}, model {}", i,
            i < snapshot.top.size() ? show(snapshot.top[i].key()) : std::string("none"),
            i < top.size() ? show(top[i]) : std::string("none"));
      }
      if (snapshot.top[i].has_value() != (model.find(top[i]) != nullptr)) {
        return fmt::format("top level {}: store {} a value, model {}", show(top[i]),
                           snapshot.top[i].has_value() ? "has" : "has not",
                           model.find(top[i]) != nullptr ? "has" : "has not");
      }
    }
    std::vector<const ValueMap::value_type*> expected;
    for (const std::string& node : top) {
      model.collect(node, expected);
    }
    for (size_t i = 0; i < std::max(snapshot.values.size(), expected.size()); ++i) {
      if (i >= snapshot.values.size() || i >= expected.size()) {
        return fmt::format(
            "value {}: store {}, model {} ({} vs {} values)", i,
            i < snapshot.values.size() ? show(snapshot.values[i].key()) : std::string("none"),
            i < expected.size() ? show(expected[i]->first) : std::string("none"),
            snapshot.values.size(), expected.size());
      }
      std::string difference =
          compare_value(snapshot.values[i], expected[i]->first, expected[i]->second);
      if (!difference.empty()) {
        return fmt::format("value {}: {}", i, difference);
      }
    }
    return {};
  }

  void enumerate(Snapshot& out) {
    const StoreStatus top = store_.list_children("", now_, SIZE_MAX, out.top);
    STORE_CHECK(top == StoreStatus::kOk, "list_children of the top level: {}", status_name(top));
    std::vector<ItemRef> subtree;
    for (const ItemRef& node : out.top) {
      const StoreStatus got = store_.collect_subtree(node.key(), now_, SIZE_MAX, subtree);
      STORE_CHECK(got == StoreStatus::kOk, "collect_subtree {} just listed: {}", show(node.key()),
                  status_name(got));
      for (ItemRef& ref : subtree) {
        out.values.push_back(std::move(ref));
      }
    }
  }

  // The whole store against the model, then the counters, which must be exact
  // now that the listing has removed everything dead.
  void full_check() {
    model_.apply_pending_flush(now_);
    Snapshot snapshot;
    enumerate(snapshot);
    const std::string difference = compare(model_, snapshot);
    STORE_CHECK(difference.empty(), "the store differs from the model: {}", difference);
    observe(snapshot);
    check_counts_exact("after listing everything");
    // Each node's children.
    std::set<std::string_view> parents;
    for (const auto& [path, value] : model_.values()) {
      for (std::string_view up = parent_of(path); !up.empty(); up = parent_of(up)) {
        parents.insert(up);
      }
    }
    for (const std::string_view parent : parents) {
      std::vector<ItemRef> out;
      const StoreStatus got = store_.list_children(parent, now_, SIZE_MAX, out);
      STORE_CHECK(got == StoreStatus::kOk, "list_children {}: {}", show(parent), status_name(got));
      const std::string children = compare_nodes(out, model_.children(parent));
      STORE_CHECK(children.empty(), "list_children {}: {}", show(parent), children);
    }
    // Each value by get, the value-less nodes and some absent paths too.
    for (const auto& [path, value] : model_.values()) {
      const ItemRef ref = store_.get(path, now_);
      STORE_CHECK(ref, "get {}: store nothing, model {}", show(path), show(value.data));
      const std::string got = compare_value(ref, path, value);
      STORE_CHECK(got.empty(), "get {}: {}", show(path), got);
    }
    for (const std::string_view parent : parents) {
      if (model_.find(parent) == nullptr) {
        const ItemRef ref = store_.get(parent, now_);
        STORE_CHECK(!ref, "get {} (value-less): store has {}", show(parent), show(ref.value()));
      }
    }
    for (const std::string_view path : {"a"sv, "b c"sv, "c a b"sv, "a a a a"sv, "ab"sv}) {
      if (model_.find(path) == nullptr) {
        const ItemRef ref = store_.get(path, now_);
        STORE_CHECK(!ref, "get {}: store has {}, model nothing", show(path), show(ref.value()));
      }
    }
    check_held();
  }

  void check_counts_exact(const char* when) {
    const storage::StoreStats stats = store_.stats();
    const storage::TreeStats tree = store_.tree_stats();
    const size_t values = model_.values().size();
    STORE_CHECK(stats.curr_items == values && tree.value_nodes == values,
                "{}: curr_items {} value_nodes {}, model {} values", when, stats.curr_items,
                tree.value_nodes, values);
    const size_t nodes = model_.node_count();
    STORE_CHECK(tree.nodes == nodes, "{}: {} nodes, model {}", when, tree.nodes, nodes);
    STORE_CHECK(tree.max_depth == model_.max_depth(), "{}: max_depth {}, model {}", when,
                tree.max_depth, model_.max_depth());
    STORE_CHECK(tree.subtree_deletes == model_.subtree_deletes(),
                "{}: subtree_deletes {}, model {}", when, tree.subtree_deletes,
                model_.subtree_deletes());
    const size_t lower_bound = model_.bytes_lower_bound();
    STORE_CHECK(stats.bytes >= lower_bound && (stats.bytes == 0) == (nodes == 0),
                "{}: bytes {} for {} nodes, at least {} expected", when, stats.bytes, nodes,
                lower_bound);
  }

  // What holds while dead values may still be in the store.
  void check_counts_bounds() {
    const storage::StoreStats stats = store_.stats();
    const storage::TreeStats tree = store_.tree_stats();
    STORE_CHECK(stats.curr_items >= model_.values().size() && tree.value_nodes == stats.curr_items,
                "curr_items {} value_nodes {}, model {} values", stats.curr_items, tree.value_nodes,
                model_.values().size());
    STORE_CHECK(tree.nodes >= model_.node_count() && tree.max_depth >= model_.max_depth(),
                "{} nodes of depth up to {}, model {} of depth {}", tree.nodes, tree.max_depth,
                model_.node_count(), model_.max_depth());
    STORE_CHECK(stats.bytes >= model_.bytes_lower_bound(), "bytes {}, model at least {}",
                stats.bytes, model_.bytes_lower_bound());
  }

  // After every operation: the cheap counters.
  void after_step() {
    const storage::StoreStats stats = store_.stats();
    // The cumulative counters only grow (reset_stats aside), and each
    // dead value found is counted as reclaimed, whoever found it.
    STORE_CHECK(
        stats.total_items >= previous_.total_items && stats.evictions >= previous_.evictions &&
            stats.expired_unfetched >= previous_.expired_unfetched &&
            stats.evicted_unfetched >= previous_.evicted_unfetched &&
            stats.reclaimed >= previous_.reclaimed && stats.get_expired >= previous_.get_expired &&
            stats.get_flushed >= previous_.get_flushed &&
            stats.sweep_reclaimed >= previous_.sweep_reclaimed &&
            stats.sweep_checked >= previous_.sweep_checked,
        "a cumulative counter went down");
    STORE_CHECK(stats.evicted_unfetched <= stats.evictions &&
                    stats.sweep_reclaimed <= stats.reclaimed &&
                    stats.expired_unfetched <= stats.reclaimed &&
                    stats.get_expired + stats.get_flushed <= stats.reclaimed,
                "counters: evictions {} evicted_unfetched {} reclaimed {} sweep_reclaimed {} "
                "expired_unfetched {} get_expired {} get_flushed {}",
                stats.evictions, stats.evicted_unfetched, stats.reclaimed, stats.sweep_reclaimed,
                stats.expired_unfetched, stats.get_expired, stats.get_flushed);
    previous_ = stats;
    STORE_CHECK(stats.total_items == model_.stores(), "total_items {}, model {} stores",
                stats.total_items, model_.stores());
    STORE_CHECK(stats.limit_maxbytes == limit_, "limit_maxbytes {}, set {}", stats.limit_maxbytes,
                limit_);
    if (stats.evictions != evictions_seen_) {
      // Writes evict (write_command has accounted for theirs), and so does
      // a lower memory limit.
      STORE_CHECK(setup_.config == Config::kEvicting && stats.evictions > evictions_seen_,
                  "evictions went from {} to {}", evictions_seen_, stats.evictions);
      reconcile(nullptr, StoreStatus::kOk, stats.evictions - evictions_seen_);
      evictions_seen_ = stats.evictions;
    }
    const uint64_t curr_items = store_.stats().curr_items;
    STORE_CHECK(curr_items >= model_.values().size(), "curr_items {}, model {} values", curr_items,
                model_.values().size());
    if (ops_ % setup_.ops_per_full_check == 0) {
      full_check();
    }
  }

  void check_held() const {
    for (const Held& held : held_) {
      STORE_CHECK(held.ref.key() == held.key && held.ref.value() == held.data &&
                      held.ref.flags() == held.flags && held.ref.cas() == held.cas,
                  "a held reference to {} changed: now {} {} {} {}, was {}", show(held.key),
                  show(held.ref.key()), show(held.ref.value()), held.ref.flags(), held.ref.cas(),
                  show(held.data));
    }
  }

  // ---- cas ----

  // The store showed `cas` for the value the model knows as `version`.
  void observe(uint64_t version, uint64_t cas) {
    const auto [it, fresh] = cas_of_version_.try_emplace(version, cas);
    if (!fresh) {
      STORE_CHECK(it->second == cas, "version {}: cas {}, earlier {}", version, cas, it->second);
      return;
    }
    STORE_CHECK(cas != 0 && cas != UINT64_MAX, "version {}: cas {}", version, cas);
    // Ordered like the writes: later versions have larger cas values.
    if (const auto next = std::next(it); next != cas_of_version_.end()) {
      STORE_CHECK(cas < next->second, "version {} has cas {}, the later version {} has {}", version,
                  cas, next->first, next->second);
    }
    if (it != cas_of_version_.begin()) {
      const auto previous = std::prev(it);
      STORE_CHECK(cas > previous->second, "version {} has cas {}, the earlier version {} has {}",
                  version, cas, previous->first, previous->second);
    }
    cas_pool_.push_back(version);
    if (cas_pool_.size() > kCasPoolSize) {
      cas_pool_.erase(cas_pool_.begin());
    }
  }

  void observe(const std::vector<ItemRef>& refs) {
    for (const ItemRef& ref : refs) {
      if (ref.has_value()) {
        if (const ModelValue* value = model_.find(ref.key())) {
          observe(value->version, ref.cas());
        }
      }
    }
  }

  void observe(const Snapshot& snapshot) { observe(snapshot.values); }

  Setup setup_;
  Store store_;
  size_t limit_;
  uint64_t used_before_ = 0;  // the budget's count before the current write
  Model model_;
  uint32_t now_ = kStartTime;
  size_t ops_ = 0;
  bool trace_ = false;
  uint64_t evictions_seen_ = 0;
  storage::StoreStats previous_;  // after the previous operation
  std::map<uint64_t, uint64_t> cas_of_version_;
  std::vector<uint64_t> cas_pool_;  // versions whose cas is known, latest last
  std::vector<Held> held_;
};

}  // namespace
}  // namespace treecached::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace treecached::fuzz;
  FuzzInput input;
  if (!read_input(data, size, input)) {
    return 0;
  }
  Harness harness(decode_setup(data));
  Reader reader(input.payload);
  harness.run(reader);
  harness.finish();
  return 0;
}
