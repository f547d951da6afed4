// Store micro-benchmarks: flat keys against nested paths.
//
//   build/release/bench/micro_bench --benchmark_filter=Store
//
// BM_Store_GetFlat and BM_Store_GetNested4 look up the same number of live
// items; the ratio of their times is what SPEC.md's "flat keys stay fast,
// paths cost little more" is measured by.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "storage/store.h"

namespace {

using treecached::storage::Store;
using treecached::storage::StoreConfig;

constexpr uint32_t kNow = 1'700'000'000;
constexpr size_t kItems = 200'000;
const std::string kValue(32, 'v');

// 16-byte flat keys, as in memcached benchmarks.
std::vector<std::string> flat_keys() {
  std::vector<std::string> keys;
  keys.reserve(kItems);
  for (size_t i = 0; i < kItems; ++i) {
    std::string key = "key:" + std::to_string(100000000000 + i);
    keys.push_back(key.substr(0, 16));
  }
  return keys;
}

// Depth-4 paths such as "reg s3 u17 k1234": many parents, small fan-out.
std::vector<std::string> nested_keys() {
  std::vector<std::string> keys;
  keys.reserve(kItems);
  for (size_t i = 0; i < kItems; ++i) {
    keys.push_back("reg s" + std::to_string(i % 16) + " u" + std::to_string(i / 16 % 256) + " k" +
                   std::to_string(i));
  }
  return keys;
}

// Visit keys in a shuffled order so caches see a realistic spread.
std::vector<uint32_t> access_order() {
  std::vector<uint32_t> order(kItems);
  for (uint32_t i = 0; i < kItems; ++i) {
    order[i] = i;
  }
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  return order;
}

StoreConfig big_store() {
  StoreConfig config;
  config.memory_limit = size_t{1} << 30;
  return config;
}

// One loaded store per key set, built once and shared by every run.
Store& loaded_store(const std::vector<std::string>& keys) {
  auto* store = new Store(big_store());
  for (const std::string& key : keys) {
    benchmark::DoNotOptimize(store->set(key, kValue, 0, 0, kNow));
  }
  return *store;
}

void run_gets(benchmark::State& state, Store& store, const std::vector<std::string>& keys) {
  static const std::vector<uint32_t> order = access_order();
  size_t next = static_cast<size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    auto item = store.get(keys[order[next++ % kItems]], kNow);
    benchmark::DoNotOptimize(item);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Store_GetFlat(benchmark::State& state) {
  static const std::vector<std::string> keys = flat_keys();
  static Store& store = loaded_store(keys);
  run_gets(state, store, keys);
}
BENCHMARK(BM_Store_GetFlat)->Threads(1)->Threads(2)->UseRealTime();

void BM_Store_GetNested4(benchmark::State& state) {
  static const std::vector<std::string> keys = nested_keys();
  static Store& store = loaded_store(keys);
  run_gets(state, store, keys);
}
BENCHMARK(BM_Store_GetNested4)->Threads(1)->Threads(2)->UseRealTime();

void run_sets(benchmark::State& state, const std::vector<std::string>& keys) {
  Store store(big_store());
  const std::vector<uint32_t> order = access_order();
  size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(store.set(keys[order[next++ % kItems]], kValue, 0, 0, kNow));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Store_SetFlat(benchmark::State& state) {
  static const std::vector<std::string> keys = flat_keys();
  run_sets(state, keys);
}
BENCHMARK(BM_Store_SetFlat);

void BM_Store_SetNested4(benchmark::State& state) {
  static const std::vector<std::string> keys = nested_keys();
  run_sets(state, keys);
}
BENCHMARK(BM_Store_SetNested4);

}  // namespace

BENCHMARK_MAIN();
