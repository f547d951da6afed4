#include "bench/load/options.h"

#include <getopt.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace treecached::bench {

namespace {

constexpr const char* kUsage = R"(Usage: treecached-bench [options]

A load generator for memcached text-protocol servers (treecached, memcached, ...).
Prints ops/s, latency percentiles, hit ratio and errors of the measured run.

Target and concurrency:
  --host HOST          server address (default 127.0.0.1)
  --port PORT          server port (default 11211)
  --connections N      TCP connections in all (default 50)
  --threads T          load threads, each with its own event loop; connections
                       are spread over them round-robin (default 1)
  --pipeline D         requests in flight per connection (default 1)
  --protocol text|meta requests as text commands (get, set; default) or meta
                       commands: `mg <key> v`, a multiget as `mg <key> v k q`
                       per key ended by `mn` (as Dalli sends them), and
                       `ms <key> <bytes>`
  --rate R             offer R requests/s in all, on a fixed schedule (open
                       loop; default: closed loop, a new request as soon as a
                       reply completes). Latency then counts from each
                       request's scheduled time, so waiting for a free
                       connection or a late send is charged to the server.

Workload:
  --keys K             key space size (default 10000)
  --key-size B         bytes per key, prefix + zero-padded index (default 16)
  --value-size B       bytes per value (default 100)
  --key-prefix P       key prefix (default "key:"); a prefix that was never
                       stored gives a miss workload
  --get-ratio R        fraction of requests that are gets, 0..1; the rest are
                       sets (default 0.9)
  --multiget W         keys per get (default 1)
  --dist uniform|zipf  key popularity (default uniform)
  --zipf-skew S        Zipf exponent (default 0.99)
  --seed N             random seed (default 1)

Length:
  --requests N         stop after N requests (all connections together)
  --duration S         or run for S seconds (default 5 when neither is given)
  --preload            first set every key once (not measured)
  --timeout S          fail connections that get no reply for S seconds (default 10)

Output:
  --format table|json|csv   what to print on stdout (default table)
  --json FILE          also write the JSON result to FILE
  --progress           print progress on stderr every second
  --help               this text

Latency is per request, from the moment it is written (each pipelined request
its own send time; with --rate, its scheduled time) to the end of its reply.
A multiget counts as one request.
Exit status: 0 on success, 1 if any error reply or connection failure, 64 on
bad arguments.
)";

enum OptionId : int {
  kHost = 1000,
  kPort,
  kConnections,
  kThreads,
  kPipeline,
  kProtocol,
  kRate,
  kKeys,
  kKeySize,
  kValueSize,
  kKeyPrefix,
  kGetRatio,
  kMultiget,
  kDist,
  kZipfSkew,
  kSeed,
  kRequests,
  kDuration,
  kPreload,
  kTimeout,
  kFormat,
  kJson,
  kProgress,
  kHelp,
};

template <typename T>
bool parse_uint(std::string_view text, T& out, T min, T max) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || value < min ||
      value > max) {
    return false;
  }
  out = static_cast<T>(value);
  return true;
}

bool parse_double(const char* text, double& out, double min, double max) {
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(value >= min && value <= max)) {
    return false;
  }
  out = value;
  return true;
}

}  // namespace

std::optional<Options> parse_options(int argc, char** argv, int& exit_code) {
  static const option kLong[] = {
      {"host", required_argument, nullptr, kHost},
      {"port", required_argument, nullptr, kPort},
      {"connections", required_argument, nullptr, kConnections},
      {"threads", required_argument, nullptr, kThreads},
      {"pipeline", required_argument, nullptr, kPipeline},
      {"rate", required_argument, nullptr, kRate},
      {"keys", required_argument, nullptr, kKeys},
      {"key-size", required_argument, nullptr, kKeySize},
      {"value-size", required_argument, nullptr, kValueSize},
      {"key-prefix", required_argument, nullptr, kKeyPrefix},
      {"get-ratio", required_argument, nullptr, kGetRatio},
      {"multiget", required_argument, nullptr, kMultiget},
      {"dist", required_argument, nullptr, kDist},
      {"zipf-skew", required_argument, nullptr, kZipfSkew},
      {"seed", required_argument, nullptr, kSeed},
      {"requests", required_argument, nullptr, kRequests},
      {"duration", required_argument, nullptr, kDuration},
      {"preload", no_argument, nullptr, kPreload},
      {"timeout", required_argument, nullptr, kTimeout},
      {"protocol", required_argument, nullptr, kProtocol},
      {"format", required_argument, nullptr, kFormat},
      {"json", required_argument, nullptr, kJson},
      {"progress", no_argument, nullptr, kProgress},
      {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0},
  };
  Options o;
  exit_code = 64;
  optind = 0;  // GNU getopt: 0 reinitialises fully (parse_options may run more than once)
  int id = 0;
  while ((id = getopt_long(argc, argv, "", kLong, nullptr)) != -1) {
    const char* arg = optarg;
    bool ok = true;
    switch (id) {
      case kHost:
        o.host = arg;
        break;
      case kPort:
        ok = parse_uint<uint16_t>(arg, o.port, 1, 65535);
        break;
      case kConnections:
        ok = parse_uint<uint32_t>(arg, o.connections, 1, 100000);
        break;
      case kThreads:
        ok = parse_uint<uint32_t>(arg, o.threads, 1, 1024);
        break;
      case kPipeline:
        ok = parse_uint<uint32_t>(arg, o.pipeline, 1, 65536);
        break;
      case kRate:
        ok = parse_double(arg, o.rate, 1, 1e9);
        break;
      case kKeys:
        ok = parse_uint<uint64_t>(arg, o.keys, 1, uint64_t{1} << 32);
        break;
      case kKeySize:
        ok = parse_uint<uint32_t>(arg, o.key_size, 1, 250);
        break;
      case kValueSize:
        ok = parse_uint<uint32_t>(arg, o.value_size, 0, 64u << 20);
        break;
      case kKeyPrefix:
        o.key_prefix = arg;
        break;
      case kGetRatio:
        ok = parse_double(arg, o.get_ratio, 0.0, 1.0);
        break;
      case kMultiget:
        ok = parse_uint<uint32_t>(arg, o.multiget, 1, 1000);
        break;
      case kDist:
        if (std::string_view(arg) == "uniform") {
          o.dist = Distribution::kUniform;
        } else if (std::string_view(arg) == "zipf") {
          o.dist = Distribution::kZipf;
        } else {
          ok = false;
        }
        break;
      case kZipfSkew:
        ok = parse_double(arg, o.zipf_skew, 0.0, 100.0);
        break;
      case kSeed:
        ok = parse_uint<uint64_t>(arg, o.seed, 0, UINT64_MAX);
        break;
      case kRequests:
        ok = parse_uint<uint64_t>(arg, o.requests, 1, UINT64_MAX);
        break;
      case kDuration:
        ok = parse_double(arg, o.duration, 0.001, 1e7);
        break;
      case kPreload:
        o.preload = true;
        break;
      case kTimeout:
        ok = parse_double(arg, o.timeout, 0.001, 1e7);
        break;
      case kProtocol:
        if (std::string_view(arg) == "text") {
          o.protocol = Protocol::kText;
        } else if (std::string_view(arg) == "meta") {
          o.protocol = Protocol::kMeta;
        } else {
          ok = false;
        }
        break;
      case kFormat:
        if (std::string_view(arg) == "table") {
          o.format = OutputFormat::kTable;
        } else if (std::string_view(arg) == "json") {
          o.format = OutputFormat::kJson;
        } else if (std::string_view(arg) == "csv") {
          o.format = OutputFormat::kCsv;
        } else {
          ok = false;
        }
        break;
      case kJson:
        o.json_file = arg;
        break;
      case kProgress:
        o.progress = true;
        break;
      case kHelp:
        std::fputs(kUsage, stdout);
        exit_code = 0;
        return std::nullopt;
      default:  // getopt_long has printed the reason
        std::fputs("Try 'treecached-bench --help'.\n", stderr);
        return std::nullopt;
    }
    if (!ok) {
      std::fprintf(stderr, "treecached-bench: bad value for --%s: '%s'\n", kLong[id - kHost].name,
                   arg);
      return std::nullopt;
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "treecached-bench: unexpected argument '%s'\n", argv[optind]);
    return std::nullopt;
  }
  if (o.requests == 0 && o.duration == 0) {
    o.duration = 5;
  }
  if (o.requests != 0 && o.duration != 0) {
    std::fputs("treecached-bench: give --requests or --duration, not both\n", stderr);
    return std::nullopt;
  }
  // Keys are the prefix followed by the zero-padded index; the index must fit.
  const size_t digits = std::to_string(o.keys - 1).size();
  if (o.key_prefix.size() + digits > o.key_size) {
    std::fprintf(stderr,
                 "treecached-bench: --key-size %u is too small for prefix '%s' and %zu digits\n",
                 o.key_size, o.key_prefix.c_str(), digits);
    return std::nullopt;
  }
  for (const char c : o.key_prefix) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      std::fputs("treecached-bench: --key-prefix may not hold spaces or control bytes\n", stderr);
      return std::nullopt;
    }
  }
  if (o.threads > o.connections) {
    o.threads = o.connections;
  }
  exit_code = 0;
  return o;
}

}  // namespace treecached::bench
