#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol/parser.h"

namespace treecached::server {

inline constexpr const char* kVersion = "0.1.0";
// What `version` and `stats` report: the memcached release whose protocol we
// follow, so that clients gating features on the version keep working.
inline constexpr const char* kProtocolVersion = "1.6.18";

struct Config {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 11211;
  unsigned threads = 4;
  size_t memory_limit_mb = 64;
  unsigned max_connections = 1024;
  size_t max_item_size = 1024 * 1024;
  bool evictions_enabled = true;  // -M turns them off
  unsigned verbosity = 0;
  bool shutdown_command = false;  // -A
  bool flush_enabled = true;      // -F turns flush_all off
  // Hierarchy: deepest path accepted, most nodes one getch/getr may list, and
  // the separator that splits single-token keys into paths (0: off).
  size_t max_depth = 32;
  size_t max_listing = 100000;
  char key_separator = 0;
  // Value commands take one key and memcached's token counts (see
  // protocol::ParserLimits::memcached_syntax).
  bool memcached_syntax = false;
  // Close a connection that sends nothing for this many seconds (0: never).
  unsigned idle_timeout = 0;
};

// The parser's limits for this configuration.
[[nodiscard]] protocol::ParserLimits parser_limits(const Config& config) noexcept;

enum class ParseOutcome { kRun, kExitSuccess, kExitFailure };

// Reads memcached-style flags into `config`. Prints help, version or the
// error to stdout/stderr itself and says whether to run or exit.
ParseOutcome parse_command_line(int argc, char** argv, Config& config);

}  // namespace treecached::server
