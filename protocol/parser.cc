#include "protocol/parser.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

#include "protocol/rules.h"

namespace treecached::protocol {
namespace {

// Room for a path of the deepest allowed depth plus the command, four
// numbers and noreply; one more tells "too many" apart.
constexpr size_t kMaxTokens = kMaxPathDepth + 7;

// Token slots are plain pointer/length pairs, left unset until tokenize()
// fills them: an array of std::string_view would be zeroed, all 71 slots, for
// every request parsed.
class TokenSlots {
 public:
  std::string_view operator[](size_t i) const noexcept { return {slots_[i].data, slots_[i].size}; }
  void set(size_t i, std::string_view text) noexcept { slots_[i] = {text.data(), text.size()}; }

 private:
  struct Slot {
    const char* data;
    size_t size;
  };
  std::array<Slot, kMaxTokens> slots_;
};

struct Tokens {
  TokenSlots token;
  size_t count = 0;  // real tokens; kMaxTokens + 1 means "more than fit"
  // Text after the first token, for commands that take free-form arguments.
  std::string_view after_command;
};

// Splits on ' ' only, as memcached does: tabs and other bytes belong to
// tokens. Stops after `limit` tokens (count becomes limit + 1 if more follow).
void tokenize(std::string_view line, Tokens& out, size_t limit) noexcept {
  size_t i = 0;
  const size_t n = line.size();
  out.count = 0;
  while (i < n) {
    while (i < n && line[i] == ' ') {
      ++i;
    }
    if (i == n) {
      break;
    }
    size_t end = i;
    while (end < n && line[end] != ' ') {
      ++end;
    }
    if (out.count == limit) {
      out.count = limit + 1;
      return;
    }
    if (out.count == 0) {
      out.after_command = line.substr(end);
    }
    out.token.set(out.count++, line.substr(i, end - i));
    i = end;
  }
}

enum class Family : uint8_t {
  kRetrieval,
  kNodeRead,
  kStorage,
  kCas,
  kArithmetic,
  kTouch,
  kDelete,
  kFlush,
  kStats,
  kVersion,
  kVerbosity,
  kQuit,
  kShutdown,
  kMemlimit
};

struct CommandSpec {
  std::string_view name;
  Command command;
  Family family;
  // Accepted numbers of tokens, command included (memcached's WANT_TOKENS).
  uint8_t min_tokens;
  uint8_t max_tokens;  // 0: no upper bound
  // The upper bound under memcached syntax, for commands that take a path.
  uint8_t memcached_max_tokens = 0;
};

// The one table of commands. Path-taking commands have no upper bound here;
// their paths are checked against the depth limit instead.
constexpr std::array kCommands = {
    CommandSpec{"get", Command::kGet, Family::kRetrieval, 2, 0},
    CommandSpec{"set", Command::kSet, Family::kStorage, 5, 0, 6},
    CommandSpec{"gets", Command::kGets, Family::kRetrieval, 2, 0},
    CommandSpec{"gat", Command::kGat, Family::kRetrieval, 2, 0},
    CommandSpec{"gats", Command::kGats, Family::kRetrieval, 2, 0},
    CommandSpec{"bget", Command::kGet, Family::kRetrieval, 2, 0},
    CommandSpec{"add", Command::kAdd, Family::kStorage, 5, 0, 6},
    CommandSpec{"replace", Command::kReplace, Family::kStorage, 5, 0, 6},
    CommandSpec{"append", Command::kAppend, Family::kStorage, 5, 0, 6},
    CommandSpec{"prepend", Command::kPrepend, Family::kStorage, 5, 0, 6},
    CommandSpec{"cas", Command::kCas, Family::kCas, 6, 0, 7},
    CommandSpec{"incr", Command::kIncr, Family::kArithmetic, 3, 0, 4},
    CommandSpec{"decr", Command::kDecr, Family::kArithmetic, 3, 0, 4},
    CommandSpec{"touch", Command::kTouch, Family::kTouch, 3, 0, 4},
    CommandSpec{"delete", Command::kDelete, Family::kDelete, 2, 0, 4},
    CommandSpec{"getn", Command::kGetNode, Family::kNodeRead, 2, 0},
    CommandSpec{"getsn", Command::kGetsNode, Family::kNodeRead, 2, 0},
    CommandSpec{"getch", Command::kGetChildren, Family::kNodeRead, 1, 0},
    CommandSpec{"getr", Command::kGetSubtree, Family::kNodeRead, 2, 0},
    CommandSpec{"flush_all", Command::kFlushAll, Family::kFlush, 1, 3},
    CommandSpec{"stats", Command::kStats, Family::kStats, 1, 0},
    CommandSpec{"version", Command::kVersion, Family::kVersion, 1, 0},
    CommandSpec{"verbosity", Command::kVerbosity, Family::kVerbosity, 2, 3},
    CommandSpec{"quit", Command::kQuit, Family::kQuit, 1, 0},
    CommandSpec{"shutdown", Command::kShutdown, Family::kShutdown, 1, 0},
    CommandSpec{"cache_memlimit", Command::kCacheMemlimit, Family::kMemlimit, 2, 3},
};

// Families whose arguments are all read from the token array.
constexpr bool takes_path(Family family) noexcept {
  switch (family) {
    case Family::kStorage:
    case Family::kCas:
    case Family::kArithmetic:
    case Family::kTouch:
    case Family::kDelete:
    case Family::kNodeRead:
      return true;
    default:
      return false;
  }
}

const CommandSpec* find_command(std::string_view name) noexcept {
  for (const CommandSpec& spec : kCommands) {
    if (spec.name == name) {
      return &spec;
    }
  }
  return nullptr;
}

bool token_count_ok(const CommandSpec& spec, size_t count, const ParserLimits& limits) noexcept {
  const uint8_t max_tokens = limits.memcached_syntax && spec.memcached_max_tokens != 0
                                 ? spec.memcached_max_tokens
                                 : spec.max_tokens;
  return count >= spec.min_tokens && (max_tokens == 0 || count <= max_tokens);
}

// memcached's set_noreply_maybe: the last token decides.
bool last_is_noreply(const Tokens& t) noexcept { return t.token[t.count - 1] == "noreply"; }

ParseResult error(ParseError kind, size_t consumed) noexcept {
  ParseResult r;
  r.status = ParseStatus::kError;
  r.error = kind;
  r.consumed = consumed;
  return r;
}

ParseResult ok(size_t consumed) noexcept {
  ParseResult r;
  r.status = ParseStatus::kOk;
  r.consumed = consumed;
  return r;
}

// A line that has not ended yet: wait for more, or give up on it.
// Whether a line that has not ended yet can still become a valid path
// command: such lines grow to max_depth tokens of 250 bytes.
bool may_be_long_path(std::string_view head, const ParserLimits& limits) noexcept {
  const size_t command_end = std::min(head.find(' '), head.size());
  const CommandSpec* spec = find_command(head.substr(0, command_end));
  if (spec == nullptr || !takes_path(spec->family) ||
      (limits.memcached_syntax && spec->memcached_max_tokens != 0)) {
    return false;
  }
  // Room for the command, the numbers and noreply around the path.
  constexpr size_t kArgumentsRoom = 160;
  if (head.size() > limits.max_depth * (kMaxKeyLength + 1) + kArgumentsRoom) {
    return false;
  }
  if (head.ends_with('\r')) {
    head.remove_suffix(1);  // the line's own "\r" may already be here
  }
  size_t token = 0;
  for (const char c : head) {
    token = c == ' ' ? 0 : token + 1;
    if (token > kMaxKeyLength) {
      return false;
    }
  }
  return true;
}

// A line that has not ended yet: wait for more, or give up on it.
ParseResult unterminated_line(std::string_view input, const ParserLimits& limits) noexcept {
  ParseResult more;
  more.need = input.size() + 1;
  if (input.size() <= kMaxLineWithoutNewline) {
    return more;
  }
  // Past memcached's limit only a multi-get may go on (memcached allows up to
  // 100 leading spaces), and here also a path command with a long path.
  size_t spaces = 0;
  while (spaces < input.size() && input[spaces] == ' ') {
    ++spaces;
  }
  const std::string_view head = input.substr(spaces);
  const bool multiget = head.starts_with("get ") || head.starts_with("gets ");
  if (spaces > 100 ||
      (multiget ? input.size() > limits.max_multiget_line : !may_be_long_path(head, limits))) {
    return error(ParseError::kLineTooLong, 0);
  }
  return more;
}

// get|gets|bget <key>*
// gat|gats <exptime> <key>*
ParseResult parse_retrieval(const Tokens& t, size_t line_end, Request& out) noexcept {
  out.rest = t.after_command;
  if (out.command == Command::kGat || out.command == Command::kGats) {
    if (!parse_i32(t.token[1], out.exptime)) {
      return error(ParseError::kInvalidExptime, line_end);
    }
    // Keys follow the exptime token.
    const size_t exptime_end =
        static_cast<size_t>(t.token[1].data() + t.token[1].size() - out.rest.data());
    out.rest.remove_prefix(exptime_end);
  }
  return ok(line_end);
}

// Reads the path held by tokens [first, end) into `out`. Each token obeys
// memcached's key rule (at most 250 bytes); the depth is limited.
ParseError take_path(const Tokens& t, size_t first, size_t end, const ParserLimits& limits,
                     Request& out) noexcept {
  size_t token_bytes = 0;
  for (size_t i = first; i < end; ++i) {
    if (t.token[i].size() > kMaxKeyLength) {
      return ParseError::kBadFormat;
    }
    token_bytes += t.token[i].size();
  }
  if (end - first > limits.max_depth) {
    return ParseError::kPathTooDeep;
  }
  if (first == end) {
    out.key = {};
    out.key_depth = 0;
    return ParseError::kNone;
  }
  const char* begin = t.token[first].data();
  const char* last_end = t.token[end - 1].data() + t.token[end - 1].size();
  out.key = std::string_view(begin, static_cast<size_t>(last_end - begin));
  out.key_depth = static_cast<uint16_t>(end - first);
  out.key_canonical = out.key.size() == token_bytes + (end - first - 1);
  return ParseError::kNone;
}

// Where the path ends for a command with `numbers` numeric arguments read
// from the right, after an optional trailing noreply. As in memcached, the
// last token decides noreply; if dropping it would leave no path, it stays an
// argument (`delete noreply` deletes the key "noreply").
size_t path_end(const Tokens& t, size_t numbers, Request& out) noexcept {
  out.noreply = t.token[t.count - 1] == "noreply";
  const size_t without_noreply = t.count - numbers - 1;
  if (out.noreply && without_noreply >= 2) {
    return without_noreply;
  }
  // memcached's delete looks for noreply only after a key; the other
  // commands take it from the last token even when it stands for a number.
  if (numbers == 0) {
    out.noreply = false;
  }
  return t.count - numbers;
}

// Reads the path before the `numbers` arguments; false (with `failure` set)
// if the tokens do not make one.
bool read_path(const Tokens& t, size_t numbers, const ParserLimits& limits, size_t line_end,
               Request& out, size_t& end, ParseResult& failure) noexcept {
  if (t.count > kMaxTokens) {
    // Too many tokens to hold: certainly too deep. noreply still counts.
    std::string_view rest = t.after_command;
    rest.remove_suffix(rest.size() - (rest.find_last_not_of(' ') + 1));
    out.noreply = rest.substr(rest.rfind(' ') + 1) == "noreply";
    failure = error(ParseError::kPathTooDeep, line_end);
    return false;
  }
  if (limits.memcached_syntax) {
    // One key token, numbers right after it; the token count was checked.
    // As in memcached, a lone `delete noreply` deletes the key "noreply".
    out.noreply = t.count > 2 && last_is_noreply(t);
    end = 2;
  } else {
    end = path_end(t, numbers, out);
  }
  const ParseError path_error = take_path(t, 1, end, limits, out);
  if (path_error != ParseError::kNone) {
    failure = error(path_error, line_end);
    return false;
  }
  return true;
}

// The token `back` places from the end of `text` (0: the last one), or
// empty if there are fewer.
std::string_view token_from_end(std::string_view text, size_t back) noexcept {
  size_t end = text.size();
  for (;;) {
    while (end > 0 && text[end - 1] == ' ') {
      --end;
    }
    size_t start = end;
    while (start > 0 && text[start - 1] != ' ') {
      --start;
    }
    if (start == end || back == 0) {
      return text.substr(start, end - start);
    }
    --back;
    end = start;
  }
}

// A storage command refused for its path (too deep: memcached has no such
// error) still has a data block on the way. When its length token parses,
// the block is swallowed so that it is not read as commands.
void swallow_refused_data(const Tokens& t, bool with_cas, bool noreply,
                          ParseResult& failure) noexcept {
  const std::string_view bytes =
      token_from_end(t.after_command, (noreply ? 1U : 0U) + (with_cas ? 1U : 0U));
  int32_t length = 0;
  if (parse_i32(bytes, length) && length >= 0 && length <= INT_MAX - 2) {
    failure.swallow = static_cast<size_t>(length) + 2;
  }
}

// set|add|replace|append|prepend <path> <flags> <exptime> <bytes> [noreply]\r\n<data>\r\n
// cas <path> <flags> <exptime> <bytes> <cas unique> [noreply]\r\n<data>\r\n
ParseResult parse_storage(const Tokens& t, bool with_cas, std::string_view input, size_t line_end,
                          const ParserLimits& limits, Request& out) noexcept {
  size_t n = 0;
  ParseResult failure;
  if (!read_path(t, with_cas ? 4 : 3, limits, line_end, out, n, failure)) {
    if (failure.error == ParseError::kPathTooDeep) {
      swallow_refused_data(t, with_cas, out.noreply, failure);
    }
    return failure;
  }
  int32_t length = 0;
  if (!parse_u32(t.token[n], out.flags) || !parse_i32(t.token[n + 1], out.exptime) ||
      !parse_i32(t.token[n + 2], length)) {
    return error(ParseError::kBadFormat, line_end);
  }
  if (with_cas && !parse_u64(t.token[n + 3], out.cas_unique)) {
    return error(ParseError::kBadFormat, line_end);
  }
  if (length < 0 || length > INT_MAX - 2) {
    return error(ParseError::kBadFormat, line_end);
  }
  const auto value_size = static_cast<size_t>(length);
  if (!fits_item_limit(out.key.size(), out.flags, value_size, limits.max_item_size)) {
    ParseResult r = error(ParseError::kTooLarge, line_end);
    r.swallow = value_size + 2;
    return r;
  }
  const size_t data_end = line_end + value_size;
  // A bare "\n" after the data is accepted too, so that an nc user can type
  // a value (memcached insists on "\r\n" there). Not after a '\r': that is a
  // client whose length counted the "\r" of "\r\n", and memcached's bad data
  // chunk is the better answer.
  const bool ends_in_cr = value_size > 0 && input.size() >= data_end && input[data_end - 1] == '\r';
  if (input.size() > data_end && input[data_end] == '\n' && !ends_in_cr) {
    out.data = input.substr(line_end, value_size);
    return ok(data_end + 1);
  }
  const size_t total = data_end + 2;
  if (input.size() < total) {
    ParseResult more;
    // Until the byte after the data is here, it may be a lone "\n".
    more.need = input.size() <= data_end ? data_end + 1 : total;
    return more;
  }
  if (input[total - 2] != '\r' || input[total - 1] != '\n') {
    return error(ParseError::kBadDataChunk, total);
  }
  out.data = input.substr(line_end, value_size);
  return ok(total);
}

// incr|decr <path> <value> [noreply]
// touch <path> <exptime> [noreply]
ParseResult parse_path_and_number(const Tokens& t, size_t line_end, const ParserLimits& limits,
                                  Request& out) noexcept {
  size_t n = 0;
  ParseResult failure;
  if (!read_path(t, 1, limits, line_end, out, n, failure)) {
    return failure;
  }
  if (out.command == Command::kTouch) {
    return parse_i32(t.token[n], out.exptime) ? ok(line_end)
                                              : error(ParseError::kInvalidExptime, line_end);
  }
  return parse_u64(t.token[n], out.delta) ? ok(line_end)
                                          : error(ParseError::kInvalidDelta, line_end);
}

// delete <path> [noreply]
// (memcached's legacy "delete <key> 0" reads as the path "<key> 0", except
// under memcached syntax)
ParseResult parse_delete(const Tokens& t, size_t line_end, const ParserLimits& limits,
                         Request& out) noexcept {
  if (limits.memcached_syntax && t.count > 2) {
    // memcached: delete <key> [0] [noreply]; anything else is refused.
    const bool hold_is_zero = t.token[2] == "0";
    out.noreply = last_is_noreply(t);
    const bool valid = (t.count == 3 && (hold_is_zero || out.noreply)) ||
                       (t.count == 4 && hold_is_zero && out.noreply);
    if (!valid) {
      return error(ParseError::kBadDeleteFormat, line_end);
    }
  }
  size_t n = 0;
  ParseResult failure;
  if (!read_path(t, 0, limits, line_end, out, n, failure)) {
    return failure;
  }
  return ok(line_end);
}

// getn|getsn|getr <path>
// getch [<path>]
ParseResult parse_node_read(const Tokens& t, size_t line_end, const ParserLimits& limits,
                            Request& out) noexcept {
  if (t.count > kMaxTokens) {
    return error(ParseError::kPathTooDeep, line_end);
  }
  const ParseError path_error = take_path(t, 1, t.count, limits, out);
  if (path_error != ParseError::kNone) {
    return error(path_error, line_end);
  }
  return ok(line_end);
}

// flush_all [delay] [noreply]
ParseResult parse_flush(const Tokens& t, size_t line_end, Request& out) noexcept {
  out.noreply = last_is_noreply(t);
  if (t.count != (out.noreply ? 2U : 1U)) {
    if (!parse_i32(t.token[1], out.exptime)) {
      return error(ParseError::kInvalidExptime, line_end);
    }
    out.has_delay = true;
  }
  return ok(line_end);
}

// verbosity <level> [noreply]
ParseResult parse_verbosity(const Tokens& t, size_t line_end, Request& out) noexcept {
  out.noreply = last_is_noreply(t);
  if (!parse_u32(t.token[1], out.level)) {
    return error(ParseError::kBadFormat, line_end);
  }
  return ok(line_end);
}

// cache_memlimit <megabytes> [noreply]
ParseResult parse_memlimit(const Tokens& t, size_t line_end, Request& out) noexcept {
  out.noreply = last_is_noreply(t);
  if (!parse_u32(t.token[1], out.level)) {
    return error(ParseError::kUnknownCommand, line_end);
  }
  return ok(line_end);
}

// memcached closes a connection whose request line is an HTTP request (a
// browser, or an SSRF): an unknown command whose last token starts with
// "HTTP/". As memcached, this applies to commands it cannot have dispatched
// on their first letter (not get..., set..., meta, ...), and "last" means the
// 23rd token of a longer line (memcached's 24-token tokenizer).
bool is_http_request(std::string_view line, std::string_view command) noexcept {
  constexpr std::string_view kDispatchedFirstLetters = "gsacidt";
  if (kDispatchedFirstLetters.find(command.front()) != std::string_view::npos ||
      (command.front() == 'm' && command.size() == 2)) {
    return false;
  }
  constexpr size_t kMemcachedLastToken = 23;
  Tokens t;
  tokenize(line, t, kMemcachedLastToken);
  const size_t last = std::min(t.count, kMemcachedLastToken) - 1;
  return t.token[last].starts_with("HTTP/");
}

}  // namespace

std::string_view name(ParseStatus status) noexcept {
  switch (status) {
    case ParseStatus::kOk:
      return "kOk";
    case ParseStatus::kNeedMore:
      return "kNeedMore";
    case ParseStatus::kError:
      return "kError";
  }
  return "?";
}

std::string_view name(ParseError error) noexcept {
  switch (error) {
    case ParseError::kNone:
      return "kNone";
    case ParseError::kUnknownCommand:
      return "kUnknownCommand";
    case ParseError::kBadFormat:
      return "kBadFormat";
    case ParseError::kInvalidExptime:
      return "kInvalidExptime";
    case ParseError::kInvalidDelta:
      return "kInvalidDelta";
    case ParseError::kBadDataChunk:
      return "kBadDataChunk";
    case ParseError::kTooLarge:
      return "kTooLarge";
    case ParseError::kPathTooDeep:
      return "kPathTooDeep";
    case ParseError::kBadDeleteFormat:
      return "kBadDeleteFormat";
    case ParseError::kLineTooLong:
      return "kLineTooLong";
    case ParseError::kHttpRequest:
      return "kHttpRequest";
  }
  return "?";
}

std::string_view name(Command command) noexcept {
  for (const CommandSpec& spec : kCommands) {
    if (spec.command == command) {
      return spec.name;
    }
  }
  return "?";
}

ParseResult parse_request(std::string_view input, Request& out,
                          const ParserLimits& limits) noexcept {
  out = Request{};
  const void* newline = std::memchr(input.data(), '\n', input.size());
  if (newline == nullptr) {
    return unterminated_line(input, limits);
  }
  const size_t line_end = static_cast<size_t>(static_cast<const char*>(newline) - input.data()) + 1;
  std::string_view line = input.substr(0, line_end - 1);
  if (line.size() > 1 && line.back() == '\r') {
    line.remove_suffix(1);
  }
  // memcached treats the line as a C string: a NUL ends it.
  if (const void* nul = std::memchr(line.data(), '\0', line.size())) {
    line = line.substr(0, static_cast<size_t>(static_cast<const char*>(nul) - line.data()));
  }

  Tokens t;
  // Enough tokens for every fixed-form command; paths may need more.
  constexpr size_t kShortLine = 8;
  tokenize(line, t, kShortLine);
  if (t.count == 0 || t.token[0].size() < 2) {
    return error(ParseError::kUnknownCommand, line_end);
  }
  const CommandSpec* spec = find_command(t.token[0]);
  if (spec != nullptr && t.count > kShortLine && takes_path(spec->family)) {
    tokenize(line, t, kMaxTokens);
  }
  if (spec == nullptr && is_http_request(line, t.token[0])) {
    return error(ParseError::kHttpRequest, line_end);
  }
  if (spec == nullptr || !token_count_ok(*spec, t.count, limits)) {
    return error(ParseError::kUnknownCommand, line_end);
  }
  out.command = spec->command;
  switch (spec->family) {
    case Family::kRetrieval:
      return parse_retrieval(t, line_end, out);
    case Family::kStorage:
      return parse_storage(t, false, input, line_end, limits, out);
    case Family::kCas:
      return parse_storage(t, true, input, line_end, limits, out);
    case Family::kArithmetic:
    case Family::kTouch:
      return parse_path_and_number(t, line_end, limits, out);
    case Family::kDelete:
      return parse_delete(t, line_end, limits, out);
    case Family::kNodeRead:
      return parse_node_read(t, line_end, limits, out);
    case Family::kFlush:
      return parse_flush(t, line_end, out);
    case Family::kVerbosity:
      return parse_verbosity(t, line_end, out);
    case Family::kMemlimit:
      return parse_memlimit(t, line_end, out);
    case Family::kStats:
    case Family::kShutdown:
      out.rest = t.after_command;
      return ok(line_end);
    case Family::kVersion:
    case Family::kQuit:
      return ok(line_end);
  }
  return error(ParseError::kUnknownCommand, line_end);
}

}  // namespace treecached::protocol
