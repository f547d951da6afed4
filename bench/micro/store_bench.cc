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
#include <string_view>
#include <vector>

#include "protocol/rules.h"
#include "storage/store.h"

namespace {

using treecached::storage::Store;
using treecached::storage::StoreConfig;

constexpr uint32_t kNow = 1'700'000'000;
constexpr size_t kItems = 200'000;
const std::string kValue(32, 'v');

// Keys packed in one buffer, so that the benchmark's own reads of them stay
// cheap and the store's lookups dominate.
struct KeySet {
  std::string bytes;
  std::vector<std::string_view> keys;

  explicit KeySet(const std::vector<std::string>& list) {
    for (const std::string& key : list) {
      bytes += key;
    }
    size_t at = 0;
    for (const std::string& key : list) {
      keys.emplace_back(bytes.data() + at, key.size());
      at += key.size();
    }
  }
};

// 16-byte flat keys, as in memcached benchmarks.
KeySet flat_keys() {
  std::vector<std::string> keys;
  for (size_t i = 0; i < kItems; ++i) {
    keys.push_back(("key:" + std::to_string(100000000000 + i)).substr(0, 16));
  }
  return KeySet(keys);
}

// Depth-4 paths such as "r12 s3 u17 k1234". With `roots` top-level names the
// paths spread over up to that many shards; with one root they all share a
// shard, as a single subtree must.
KeySet nested_keys(size_t roots) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < kItems; ++i) {
    keys.push_back("r" + std::to_string(i % roots) + " s" + std::to_string(i / roots % 16) + " u" +
                   std::to_string(i / roots / 16 % 64) + " k" + std::to_string(i));
  }
  return KeySet(keys);
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
  config.rules.parse_number = &treecached::protocol::parse_u64;
  config.rules.item_fits = &treecached::protocol::fits_item_limit;
  return config;
}

// One loaded store per key set, built once and shared by every run.
Store& loaded_store(const KeySet& keys) {
  auto* store = new Store(big_store());
  for (const std::string_view key : keys.keys) {
    benchmark::DoNotOptimize(store->set(key, kValue, 0, 0, kNow));
  }
  return *store;
}

void run_gets(benchmark::State& state, Store& store, const KeySet& keys) {
  static const std::vector<uint32_t> order = access_order();
  size_t next = static_cast<size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    auto item = store.get(keys.keys[order[next++ % kItems]], kNow);
    benchmark::DoNotOptimize(item);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Store_GetFlat(benchmark::State& state) {
  static const KeySet keys = flat_keys();
  static Store& store = loaded_store(keys);
  run_gets(state, store, keys);
}
BENCHMARK(BM_Store_GetFlat)->Threads(1)->Threads(2)->UseRealTime();

void BM_Store_GetNested4(benchmark::State& state) {
  static const KeySet keys = nested_keys(4096);
  static Store& store = loaded_store(keys);
  run_gets(state, store, keys);
}
BENCHMARK(BM_Store_GetNested4)->Threads(1)->Threads(2)->UseRealTime();

// Every path under one root: one shard, one lock, for two threads too.
void BM_Store_GetNested4OneRoot(benchmark::State& state) {
  static const KeySet keys = nested_keys(1);
  static Store& store = loaded_store(keys);
  run_gets(state, store, keys);
}
BENCHMARK(BM_Store_GetNested4OneRoot)->Threads(1)->Threads(2)->UseRealTime();

// Sets overwrite the loaded items (threads start at different points).
void run_sets(benchmark::State& state, Store& store, const KeySet& keys) {
  static const std::vector<uint32_t> order = access_order();
  size_t next = static_cast<size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    benchmark::DoNotOptimize(store.set(keys.keys[order[next++ % kItems]], kValue, 0, 0, kNow));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Store_SetFlat(benchmark::State& state) {
  static const KeySet keys = flat_keys();
  static Store& store = loaded_store(keys);
  run_sets(state, store, keys);
}
BENCHMARK(BM_Store_SetFlat)->Threads(1)->Threads(2)->UseRealTime();

void BM_Store_SetNested4(benchmark::State& state) {
  static const KeySet keys = nested_keys(4096);
  static Store& store = loaded_store(keys);
  run_sets(state, store, keys);
}
BENCHMARK(BM_Store_SetNested4)->Threads(1)->Threads(2)->UseRealTime();

// incr on counters, one per thread-spread key.
void run_incrs(benchmark::State& state, Store& store, const KeySet& keys) {
  static const std::vector<uint32_t> order = access_order();
  size_t next = static_cast<size_t>(state.thread_index()) * 7919;
  uint64_t result = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(store.incr(keys.keys[order[next++ % kItems]], 1, kNow, result));
  }
  state.SetItemsProcessed(state.iterations());
}

Store& counter_store(const KeySet& keys) {
  auto* store = new Store(big_store());
  for (const std::string_view key : keys.keys) {
    benchmark::DoNotOptimize(store->set(key, "1000", 0, 0, kNow));
  }
  return *store;
}

void BM_Store_IncrFlat(benchmark::State& state) {
  static const KeySet keys = flat_keys();
  static Store& store = counter_store(keys);
  run_incrs(state, store, keys);
}
BENCHMARK(BM_Store_IncrFlat)->Threads(1)->Threads(2)->UseRealTime();

void BM_Store_IncrNested4(benchmark::State& state) {
  static const KeySet keys = nested_keys(4096);
  static Store& store = counter_store(keys);
  run_incrs(state, store, keys);
}
BENCHMARK(BM_Store_IncrNested4)->Threads(1)->Threads(2)->UseRealTime();

// delete then set again, so every delete finds its item: the pair is timed.
void run_delete_set(benchmark::State& state, Store& store, const KeySet& keys) {
  static const std::vector<uint32_t> order = access_order();
  size_t next = static_cast<size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    const std::string_view key = keys.keys[order[next++ % kItems]];
    benchmark::DoNotOptimize(store.remove(key, kNow));
    benchmark::DoNotOptimize(store.set(key, kValue, 0, 0, kNow));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Store_DeleteSetFlat(benchmark::State& state) {
  static const KeySet keys = flat_keys();
  static Store& store = loaded_store(keys);
  run_delete_set(state, store, keys);
}
BENCHMARK(BM_Store_DeleteSetFlat)->Threads(1)->Threads(2)->UseRealTime();

void BM_Store_DeleteSetNested4(benchmark::State& state) {
  static const KeySet keys = nested_keys(4096);
  static Store& store = loaded_store(keys);
  run_delete_set(state, store, keys);
}
BENCHMARK(BM_Store_DeleteSetNested4)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
