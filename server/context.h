#pragma once

#include <atomic>
#include <functional>
#include <vector>

#include "server/clock.h"
#include "server/config.h"
#include "server/prefix_stats.h"
#include "server/stats.h"
#include "storage/store.h"

namespace treecached::server {

// What every worker shares: the store, the configuration and the figures
// that `stats` reports. Lives as long as the server.
struct ServerContext {
  ServerContext(const Config& cfg, storage::Store& s) : config(cfg), store(s) {}
  ServerContext(const Config& cfg, storage::Store& s, const ServerClock& c)
      : config(cfg), store(s), clock(c) {}

  const Config& config;
  storage::Store& store;
  ServerClock clock;
  ConnectionStats connections;
  CounterBaseline baseline;
  PrefixStats prefix_stats;
  // One per worker, fixed before the workers start.
  std::vector<const WorkerCounters*> worker_counters;
  std::atomic<unsigned> verbosity{0};
  // Asks the server to stop (the `shutdown` command); safe from any thread.
  std::function<void()> request_shutdown;

  [[nodiscard]] CounterValues counter_totals() const {
    CounterValues totals{};
    for (const WorkerCounters* counters : worker_counters) {
      for (size_t i = 0; i < kCounterCount; ++i) {
        totals[i] += counters->get(static_cast<Counter>(i));
      }
    }
    return totals;
  }
};

}  // namespace treecached::server
