#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/load/histogram.h"
#include "bench/load/options.h"
#include "bench/load/zipf.h"

namespace treecached::bench {

// Keys, value and key distribution, generated once before any connection
// opens and read-only afterwards (shared by all load threads).
class Workload {
 public:
  explicit Workload(const Options& options);

  [[nodiscard]] const Options& options() const noexcept { return options_; }
  [[nodiscard]] uint64_t key_count() const noexcept { return options_.keys; }
  // Key `index` (< key_count()): options().key_size bytes.
  [[nodiscard]] const char* key(uint64_t index) const noexcept {
    return keys_.data() + index * options_.key_size;
  }
  // A key index drawn from the configured distribution.
  [[nodiscard]] uint64_t sample_key(Rng& rng) const noexcept;
  // " 0 0 <value-size>\r\n" (after `set <key>`) and "<value>\r\n".
  [[nodiscard]] const std::string& set_header_tail() const noexcept { return set_tail_; }
  [[nodiscard]] const std::string& value_block() const noexcept { return value_block_; }
  // Largest request this workload writes, in bytes.
  [[nodiscard]] size_t max_request_size() const noexcept;

 private:
  Options options_;
  std::vector<char> keys_;
  std::string set_tail_;
  std::string value_block_;
  std::unique_ptr<ZipfTable> zipf_;  // null for the uniform distribution
};

// What one phase (preload or measured run) did, summed over threads.
struct PhaseResult {
  uint64_t requests = 0;           // completed requests (a multiget is one)
  uint64_t gets = 0;               // completed get requests
  uint64_t sets = 0;               // completed set requests
  uint64_t keys_requested = 0;     // keys asked for by completed gets
  uint64_t hits = 0;               // VALUE blocks received
  uint64_t not_stored = 0;         // NOT_STORED / EXISTS / NOT_FOUND replies to sets
  uint64_t error_replies = 0;      // ERROR, CLIENT_ERROR, SERVER_ERROR
  uint64_t connection_errors = 0;  // connect failures, resets, early closes, timeouts
  uint64_t protocol_errors = 0;    // replies that do not parse
  double seconds = 0;              // first send to last reply
  Histogram latency_ns;

  [[nodiscard]] uint64_t errors() const noexcept {
    return error_replies + connection_errors + protocol_errors;
  }
};

enum class PhaseKind : uint8_t {
  kPreload,   // one set per key, sequential, pipelined; no key is skipped
  kMeasured,  // the configured mix, for --requests or --duration
};

// Makes running phases stop issuing requests and drain (async-signal-safe: for SIGINT).
void request_stop() noexcept;

// Opens the connections, runs one phase to completion and closes them.
// With progress, prints one line per second on stderr.
[[nodiscard]] std::unique_ptr<PhaseResult> run_phase(const Workload& workload, PhaseKind kind,
                                                     bool progress);

}  // namespace treecached::bench
