#include "server/config.h"

#include <getopt.h>

#include <charconv>
#include <cstdio>
#include <string_view>

#include "protocol/request.h"

namespace treecached::server {
namespace {

constexpr const char* kUsage =
    "treecached %s: a memcached-compatible cache with hierarchical keys\n"
    "Usage: treecached [options]\n"
    "  -p, --port=<num>             TCP port to listen on (default: 11211; 0 picks a free one)\n"
    "  -l, --listen=<addr>          interface to listen on (default: 127.0.0.1)\n"
    "  -t, --threads=<num>          number of worker threads (default: 4)\n"
    "  -m, --memory-limit=<mb>      item memory in megabytes (default: 64)\n"
    "  -c, --conn-limit=<num>       max simultaneous connections (default: 1024)\n"
    "  -I, --max-item-size=<num>    largest item, with k/m suffix (default: 1m)\n"
    "  -M, --disable-evictions      return an error on memory exhausted instead of evicting\n"
    "  -A, --enable-shutdown        enable the ascii \"shutdown\" command\n"
    "  -F, --disable-flush-all      disable flush_all (CLIENT_ERROR flush_all not allowed)\n"
    "  -U, --udp-port=<num>         accepted for compatibility; only 0 (UDP off) is supported\n"
    "  -u, --user=<name>            accepted for compatibility; privileges are not changed\n"
    "      --max-depth=<num>        deepest path accepted, 1..64 (default: 32)\n"
    "      --max-listing=<num>      most nodes one getch or getr answers (default: 100000)\n"
    "      --key-separator=<char>   split single-token keys on this character into paths\n"
    "      --memcached-syntax       value commands take one key with memcached's token\n"
    "                               counts; extra tokens are errors, not a path\n"
    "      --idle-timeout=<sec>     close connections idle this long (default: 0, never)\n"
    "  -v, --verbose                verbose (repeat for more)\n"
    "  -h, --help                   print this help and exit\n"
    "  -V, --version                print version and exit\n";

template <typename T>
bool parse_number(std::string_view text, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// "1048576", "1024k", "1m" (memcached's -I syntax).
bool parse_size(std::string_view text, size_t& out) {
  size_t multiplier = 1;
  if (!text.empty()) {
    const char unit = text.back();
    if (unit == 'k' || unit == 'K') {
      multiplier = 1024;
    } else if (unit == 'm' || unit == 'M') {
      multiplier = 1024 * 1024;
    }
    if (multiplier != 1) {
      text.remove_suffix(1);
    }
  }
  size_t value = 0;
  if (!parse_number(text, value)) {
    return false;
  }
  out = value * multiplier;
  return true;
}

// Long options without a short form.
enum : int {
  kMaxDepthOption = 1000,
  kMaxListingOption,
  kKeySeparatorOption,
  kMemcachedSyntaxOption,
  kIdleTimeoutOption,
};

bool fail(const char* flag, const char* value, const char* why) {
  std::fprintf(stderr, "treecached: invalid %s '%s': %s\n", flag, value, why);
  return false;
}

}  // namespace

protocol::ParserLimits parser_limits(const Config& config) noexcept {
  protocol::ParserLimits limits;
  limits.max_item_size = config.max_item_size;
  limits.max_depth = config.max_depth;
  limits.memcached_syntax = config.memcached_syntax;
  return limits;
}

ParseOutcome parse_command_line(int argc, char** argv, Config& config) {
  static const option kLongOptions[] = {
      {"port", required_argument, nullptr, 'p'},
      {"listen", required_argument, nullptr, 'l'},
      {"threads", required_argument, nullptr, 't'},
      {"memory-limit", required_argument, nullptr, 'm'},
      {"conn-limit", required_argument, nullptr, 'c'},
      {"max-item-size", required_argument, nullptr, 'I'},
      {"disable-evictions", no_argument, nullptr, 'M'},
      {"enable-shutdown", no_argument, nullptr, 'A'},
      {"disable-flush-all", no_argument, nullptr, 'F'},
      {"udp-port", required_argument, nullptr, 'U'},
      {"user", required_argument, nullptr, 'u'},
      {"verbose", no_argument, nullptr, 'v'},
      {"help", no_argument, nullptr, 'h'},
      {"version", no_argument, nullptr, 'V'},
      {"max-depth", required_argument, nullptr, kMaxDepthOption},
      {"max-listing", required_argument, nullptr, kMaxListingOption},
      {"key-separator", required_argument, nullptr, kKeySeparatorOption},
      {"memcached-syntax", no_argument, nullptr, kMemcachedSyntaxOption},
      {"idle-timeout", required_argument, nullptr, kIdleTimeoutOption},
      {nullptr, 0, nullptr, 0},
  };
  optind = 1;
  int option_char = 0;
  while ((option_char = getopt_long(argc, argv, "p:l:t:m:c:I:MAFU:u:vhV", kLongOptions, nullptr)) !=
         -1) {
    const char* arg = optarg;
    bool ok = true;
    switch (option_char) {
      case 'p':
        ok = parse_number(arg, config.port) || fail("port", arg, "expected 0..65535");
        break;
      case 'l':
        config.listen_address = arg;
        break;
      case 't':
        ok = (parse_number(arg, config.threads) && config.threads >= 1 && config.threads <= 256) ||
             fail("thread count", arg, "expected 1..256");
        break;
      case 'm':
        ok = (parse_number(arg, config.memory_limit_mb) && config.memory_limit_mb >= 1 &&
              config.memory_limit_mb <= (size_t{1} << 30)) ||
             fail("memory limit", arg, "expected megabytes, at least 1");
        break;
      case 'c':
        ok = (parse_number(arg, config.max_connections) && config.max_connections >= 1) ||
             fail("connection limit", arg, "expected a positive number");
        break;
      case 'I':
        ok = (parse_size(arg, config.max_item_size) && config.max_item_size >= 1024 &&
              config.max_item_size <= (size_t{1} << 30)) ||
             fail("max item size", arg, "expected 1k..1024m");
        break;
      case 'M':
        config.evictions_enabled = false;
        break;
      case 'A':
        config.shutdown_command = true;
        break;
      case 'F':
        config.flush_enabled = false;
        break;
      case 'U': {
        unsigned udp_port = 0;
        ok = (parse_number(arg, udp_port) && udp_port == 0) ||
             fail("UDP port", arg, "UDP is not supported; use -U 0");
        break;
      }
      case 'u':
        break;
      case kMaxDepthOption:
        ok = (parse_number(arg, config.max_depth) && config.max_depth >= 1 &&
              config.max_depth <= protocol::kMaxPathDepth) ||
             fail("max depth", arg, "expected 1..64");
        break;
      case kMaxListingOption:
        ok = (parse_number(arg, config.max_listing) && config.max_listing >= 1) ||
             fail("max listing", arg, "expected a positive number");
        break;
      case kKeySeparatorOption: {
        const std::string_view text(arg);
        const bool printable = text.size() == 1 && text[0] > ' ' && text[0] < 0x7F;
        ok = printable || fail("key separator", arg, "expected one printable character");
        config.key_separator = printable ? text[0] : 0;
        break;
      }
      case kMemcachedSyntaxOption:
        config.memcached_syntax = true;
        break;
      case kIdleTimeoutOption:
        ok = parse_number(arg, config.idle_timeout) ||
             fail("idle timeout", arg, "expected seconds (0: never)");
        break;
      case 'v':
        ++config.verbosity;
        break;
      case 'h':
        std::printf(kUsage, kVersion);
        return ParseOutcome::kExitSuccess;
      case 'V':
        std::printf("treecached %s\n", kVersion);
        return ParseOutcome::kExitSuccess;
      default:
        std::fprintf(stderr, "Try 'treecached --help'.\n");
        return ParseOutcome::kExitFailure;
    }
    if (!ok) {
      return ParseOutcome::kExitFailure;
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "treecached: unexpected argument '%s'\n", argv[optind]);
    return ParseOutcome::kExitFailure;
  }
  if (config.max_item_size > config.memory_limit_mb * 1024 * 1024 / 2) {
    std::fprintf(stderr, "treecached: max item size cannot exceed half of the memory limit\n");
    return ParseOutcome::kExitFailure;
  }
  return ParseOutcome::kRun;
}

}  // namespace treecached::server
