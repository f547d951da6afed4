#include "bench/load/reply_parser.h"

#include <algorithm>
#include <charconv>

namespace treecached::bench {

namespace {

bool is_error_line(std::string_view line) noexcept {
  return line == "ERROR" || line.starts_with("ERROR ") || line.starts_with("CLIENT_ERROR") ||
         line.starts_with("SERVER_ERROR");
}

// A meta status line: its code, then return flags after a space.
bool is_meta_code(std::string_view line, std::string_view code) noexcept {
  return line.starts_with(code) && (line.size() == code.size() || line[code.size()] == ' ');
}

}  // namespace

void ReplyParser::start(ReplyKind kind) noexcept {
  kind_ = kind;
  state_ = State::kLine;
  data_left_ = 0;
  values_ = 0;
  error_ = false;
  stored_ = false;
}

ReplyStatus ReplyParser::expect_data(std::string_view bytes) noexcept {
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), n);
  if (ec != std::errc() || end != bytes.data() + bytes.size() || bytes.empty()) {
    return ReplyStatus::kProtocolError;
  }
  ++values_;
  data_left_ = n;
  state_ = State::kData;
  return ReplyStatus::kNeedMore;
}

ReplyStatus ReplyParser::on_meta_line(std::string_view line) noexcept {
  if (kind_ == ReplyKind::kMetaStore) {
    if (is_meta_code(line, "HD")) {
      stored_ = true;
      return ReplyStatus::kDone;
    }
    if (is_meta_code(line, "NS") || is_meta_code(line, "EX") || is_meta_code(line, "NF")) {
      return ReplyStatus::kDone;
    }
    return ReplyStatus::kProtocolError;
  }
  if (kind_ == ReplyKind::kMetaGet && is_meta_code(line, "EN")) {
    return ReplyStatus::kDone;
  }
  if (kind_ == ReplyKind::kMetaMultiGet && line == "MN") {
    return ReplyStatus::kDone;
  }
  // VA <bytes> <return flags>*
  if (!line.starts_with("VA ")) {
    return ReplyStatus::kProtocolError;
  }
  const std::string_view rest = line.substr(3);
  return expect_data(rest.substr(0, rest.find(' ')));
}

ReplyStatus ReplyParser::on_line(std::string_view line) noexcept {
  if (is_error_line(line)) {
    error_ = true;
    return ReplyStatus::kDone;
  }
  if (kind_ != ReplyKind::kGet && kind_ != ReplyKind::kStore) {
    return on_meta_line(line);
  }
  if (kind_ == ReplyKind::kStore) {
    if (line == "STORED") {
      stored_ = true;
      return ReplyStatus::kDone;
    }
    if (line == "NOT_STORED" || line == "EXISTS" || line == "NOT_FOUND") {
      return ReplyStatus::kDone;
    }
    return ReplyStatus::kProtocolError;
  }
  if (line == "END") {
    return ReplyStatus::kDone;
  }
  // VALUE <key> <flags> <bytes>
  if (!line.starts_with("VALUE ")) {
    return ReplyStatus::kProtocolError;
  }
  const size_t space = line.rfind(' ');
  if (space < 6) {
    return ReplyStatus::kProtocolError;
  }
  return expect_data(line.substr(space + 1));
}

ReplyStatus ReplyParser::parse(std::string_view input, size_t& consumed) noexcept {
  consumed = 0;
  while (true) {
    const std::string_view rest = input.substr(consumed);
    switch (state_) {
      case State::kLine: {
        const size_t nl = rest.find('\n');
        if (nl == std::string_view::npos) {
          return rest.size() > kMaxLine ? ReplyStatus::kProtocolError : ReplyStatus::kNeedMore;
        }
        std::string_view line = rest.substr(0, nl);
        if (line.ends_with('\r')) {
          line.remove_suffix(1);
        }
        consumed += nl + 1;
        const ReplyStatus status = on_line(line);
        if (status != ReplyStatus::kNeedMore) {
          return status;
        }
        break;
      }
      case State::kData: {
        const uint64_t take = std::min<uint64_t>(data_left_, rest.size());
        consumed += static_cast<size_t>(take);
        data_left_ -= take;
        if (data_left_ > 0) {
          return ReplyStatus::kNeedMore;
        }
        state_ = State::kTrailer;
        break;
      }
      case State::kTrailer: {
        if (rest.size() < 2) {
          return ReplyStatus::kNeedMore;
        }
        if (rest[0] != '\r' || rest[1] != '\n') {
          return ReplyStatus::kProtocolError;
        }
        consumed += 2;
        state_ = State::kLine;
        if (kind_ == ReplyKind::kMetaGet) {
          return ReplyStatus::kDone;  // one VA block is the whole reply
        }
        break;
      }
    }
  }
}

}  // namespace treecached::bench
