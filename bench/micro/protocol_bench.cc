// Protocol micro-benchmarks: parsing and reply building, no sockets.
//
//   build/release/bench/micro_bench --benchmark_filter='Parse|Reply'
//
// Parse benchmarks report bytes/s of request text taken apart, the way a
// connection does it: parse, consume, repeat over a buffer of pipelined
// requests.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/parser.h"
#include "protocol/reply.h"

namespace {

using treecached::protocol::OutputBuffer;
using treecached::protocol::ParseResult;
using treecached::protocol::ParserLimits;
using treecached::protocol::ParseStatus;
using treecached::protocol::Request;

// `count` copies of `one` back to back, as a pipelining client sends them.
std::string pipelined(const std::string& one, size_t count) {
  std::string all;
  for (size_t i = 0; i < count; ++i) {
    all += one;
  }
  return all;
}

void run_parse(benchmark::State& state, const std::string& input) {
  const ParserLimits limits;
  Request request;
  size_t requests = 0;
  for (auto _ : state) {
    std::string_view rest(input);
    while (!rest.empty()) {
      const ParseResult result = treecached::protocol::parse_request(rest, request, limits);
      if (result.status == ParseStatus::kNeedMore) {
        state.SkipWithError("incomplete request in the benchmark input");
        return;
      }
      benchmark::DoNotOptimize(request);
      rest.remove_prefix(result.consumed);
      ++requests;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * input.size()));
  state.SetItemsProcessed(static_cast<int64_t>(requests));
}

void BM_Parse_Get(benchmark::State& state) {
  static const std::string input = pipelined("get key:100000000001\r\n", 64);
  run_parse(state, input);
}
BENCHMARK(BM_Parse_Get);

void BM_Parse_Set100(benchmark::State& state) {
  static const std::string input =
      pipelined("set key:100000000001 0 0 100\r\n" + std::string(100, 'v') + "\r\n", 64);
  run_parse(state, input);
}
BENCHMARK(BM_Parse_Set100);

void BM_Parse_Multiget10(benchmark::State& state) {
  std::string line = "get";
  for (int i = 0; i < 10; ++i) {
    line += " key:10000000000" + std::to_string(i);
  }
  static const std::string input = pipelined(line + "\r\n", 64);
  run_parse(state, input);
}
BENCHMARK(BM_Parse_Multiget10);

// Nine gets and a set, repeated: the 90/10 mix of the load profiles.
void BM_Parse_PipelinedMix(benchmark::State& state) {
  static const std::string input =
      pipelined(pipelined("get key:100000000001\r\n", 9) + "set key:100000000002 0 0 100\r\n" +
                    std::string(100, 'v') + "\r\n",
                16);
  run_parse(state, input);
}
BENCHMARK(BM_Parse_PipelinedMix);

void BM_Parse_SetPath4(benchmark::State& state) {
  static const std::string input = pipelined(
      "set reg sip1 1001 contact 0 60 32 noreply\r\n" + std::string(32, 'v') + "\r\n", 64);
  run_parse(state, input);
}
BENCHMARK(BM_Parse_SetPath4);

// One VALUE block of a 100-byte value with its cas, as gets answers.
void BM_Reply_Value100(benchmark::State& state) {
  const std::string value(100, 'v');
  const uint64_t cas = 123456789;
  OutputBuffer out;
  for (auto _ : state) {
    out.clear();
    treecached::protocol::append_value(out, "key:100000000001", 0, value, &cas);
    treecached::protocol::append(out, "END\r\n");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Reply_Value100);

void BM_Reply_Stats(benchmark::State& state) {
  OutputBuffer out;
  for (auto _ : state) {
    out.clear();
    for (uint64_t i = 0; i < 60; ++i) {
      treecached::protocol::append_stat(out, "get_hits", i * 1000003);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 60);
}
BENCHMARK(BM_Reply_Stats);

}  // namespace
