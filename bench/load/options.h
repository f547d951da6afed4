#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace treecached::bench {

enum class Distribution : uint8_t { kUniform, kZipf };
enum class OutputFormat : uint8_t { kTable, kJson, kCsv };
// Which memcached protocol the requests use: text (`get`/`set`) or meta (`mg`/`ms`).
enum class Protocol : uint8_t { kText, kMeta };

// Command-line settings of treecached-bench. Defaults are in the member initialisers.
struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 11211;
  uint32_t connections = 50;
  uint32_t threads = 1;
  uint32_t pipeline = 1;
  Protocol protocol = Protocol::kText;
  uint64_t keys = 10000;
  uint32_t key_size = 16;
  uint32_t value_size = 100;
  double get_ratio = 0.9;
  uint32_t multiget = 1;
  Distribution dist = Distribution::kUniform;
  double zipf_skew = 0.99;
  uint64_t requests = 0;  // 0: run for `duration` seconds
  double duration = 0;    // used when requests == 0 (default 5 s)
  double rate = 0;        // requests/s offered in all (open loop); 0: closed loop
  bool preload = false;
  std::string key_prefix = "key:";
  bool progress = false;
  std::string json_file;  // empty: none
  OutputFormat format = OutputFormat::kTable;
  uint64_t seed = 1;
  double timeout = 10;  // seconds without any reply while requests are in flight
};

// Parses argv. On --help prints usage to stdout and returns nullopt with
// exit_code 0; on a bad argument prints the reason to stderr and returns
// nullopt with exit_code 64.
[[nodiscard]] std::optional<Options> parse_options(int argc, char** argv, int& exit_code);

}  // namespace treecached::bench
