#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace treecached::bench {

// What a request expects back.
enum class ReplyKind : uint8_t {
  kGet,           // get k1 [k2 ...]: VALUE blocks then END
  kStore,         // set: one status line
  kMetaGet,       // mg <key> v: one VA block, or EN
  kMetaMultiGet,  // mg <key> v k q per key, then mn: VA blocks (hits only) then MN
  kMetaStore,     // ms: HD, or NS / EX / NF
};

// Whether a request of this kind reads values (a get of either protocol).
[[nodiscard]] constexpr bool is_get(ReplyKind kind) noexcept {
  return kind == ReplyKind::kGet || kind == ReplyKind::kMetaGet || kind == ReplyKind::kMetaMultiGet;
}

enum class ReplyStatus : uint8_t {
  kNeedMore,       // consumed what it could; call again with more bytes
  kDone,           // one whole reply consumed; see values() / error() / stored()
  kProtocolError,  // not a memcached reply to this request; drop the connection
};

// Incremental parser for memcached text-protocol replies, one reply at a time.
//
// The caller keeps a byte buffer; parse() reads from the start of the view it
// is given and reports in `consumed` how many bytes it used (possibly some
// even on kNeedMore: whole lines and data bytes are consumed as they come, an
// incomplete line is left for the next call). So a reply may arrive split at
// any byte, and a value of any size passes through a small buffer. No
// allocation; the parser keeps no pointers into the caller's buffer.
//
// A VALUE line's byte count is its last token (so `gets` replies with a cas
// token would be misread; the load generator sends only `get`); a meta VA
// line's is its second token, before any return flags. ERROR, CLIENT_ERROR
// and SERVER_ERROR lines end the reply with error() set.
class ReplyParser {
 public:
  // Lines longer than this (without their end) are a protocol error.
  static constexpr size_t kMaxLine = 4096;

  // Starts the reply to a request of `kind`; forgets the previous one.
  void start(ReplyKind kind) noexcept;

  [[nodiscard]] ReplyStatus parse(std::string_view input, size_t& consumed) noexcept;

  // For the reply just completed (or in progress).
  [[nodiscard]] uint32_t values() const noexcept { return values_; }
  [[nodiscard]] bool error() const noexcept { return error_; }
  // For kStore: STORED (true) versus NOT_STORED / EXISTS / NOT_FOUND (false);
  // for kMetaStore: HD versus NS / EX / NF.
  [[nodiscard]] bool stored() const noexcept { return stored_; }

 private:
  enum class State : uint8_t { kLine, kData, kTrailer };

  // Handles one complete line (without its line end).
  [[nodiscard]] ReplyStatus on_line(std::string_view line) noexcept;
  [[nodiscard]] ReplyStatus on_meta_line(std::string_view line) noexcept;
  // Starts reading a data block of `bytes`, given as text.
  [[nodiscard]] ReplyStatus expect_data(std::string_view bytes) noexcept;

  ReplyKind kind_ = ReplyKind::kGet;
  State state_ = State::kLine;
  uint64_t data_left_ = 0;
  uint32_t values_ = 0;
  bool error_ = false;
  bool stored_ = false;
};

}  // namespace treecached::bench
