// treecached-bench: a memcached text-protocol load generator. See --help and
// bench/load/README.md.

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "bench/load/load.h"
#include "bench/load/options.h"

namespace treecached::bench {
namespace {

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + '"';
}

double us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

double rate(uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0.0;
}

std::string hit_ratio_json(const PhaseResult& r) {
  if (r.keys_requested == 0) {
    return "null";
  }
  return fmt::format("{:.6f}", static_cast<double>(r.hits) / static_cast<double>(r.keys_requested));
}

std::string to_json(const Options& o, const PhaseResult& r, const PhaseResult* preload) {
  const Histogram& h = r.latency_ns;
  std::string out = "{\n";
  out += fmt::format("  \"tool\": \"treecached-bench\",\n  \"server\": {},\n",
                     json_string(fmt::format("{}:{}", o.host, o.port)));
  out += fmt::format(
      "  \"config\": {{\"connections\": {}, \"threads\": {}, \"pipeline\": {}, \"keys\": {}, "
      "\"key_size\": {}, \"value_size\": {}, \"get_ratio\": {}, \"multiget\": {}, "
      "\"dist\": \"{}\", \"zipf_skew\": {}, \"requests\": {}, \"duration\": {}, "
      "\"preload\": {}, \"key_prefix\": {}, \"seed\": {}, \"rate\": {}}},\n",
      o.connections, o.threads, o.pipeline, o.keys, o.key_size, o.value_size, o.get_ratio,
      o.multiget, o.dist == Distribution::kZipf ? "zipf" : "uniform", o.zipf_skew, o.requests,
      o.duration, o.preload, json_string(o.key_prefix), o.seed, o.rate);
  out += fmt::format(
      "  \"requests\": {},\n  \"gets\": {},\n  \"sets\": {},\n  \"keys_requested\": {},\n"
      "  \"hits\": {},\n  \"hit_ratio\": {},\n  \"not_stored\": {},\n  \"errors\": {},\n"
      "  \"error_replies\": {},\n  \"connection_errors\": {},\n  \"protocol_errors\": {},\n",
      r.requests, r.gets, r.sets, r.keys_requested, r.hits, hit_ratio_json(r), r.not_stored,
      r.errors(), r.error_replies, r.connection_errors, r.protocol_errors);
  out += fmt::format(
      "  \"seconds\": {:.6f},\n  \"ops_per_sec\": {:.1f},\n  \"keys_per_sec\": {:.1f},\n",
      r.seconds, rate(r.requests, r.seconds), rate(r.keys_requested + r.sets, r.seconds));
  out += fmt::format(
      "  \"latency_us\": {{\"min\": {:.3f}, \"mean\": {:.3f}, \"p50\": {:.3f}, \"p90\": {:.3f}, "
      "\"p99\": {:.3f}, \"p999\": {:.3f}, \"max\": {:.3f}}},\n",
      us(h.min()), h.mean() / 1000.0, us(h.quantile(0.5)), us(h.quantile(0.9)),
      us(h.quantile(0.99)), us(h.quantile(0.999)), us(h.max()));
  if (preload != nullptr) {
    out += fmt::format(
        "  \"preload\": {{\"requests\": {}, \"errors\": {}, \"not_stored\": {}, "
        "\"seconds\": {:.6f}}}\n",
        preload->requests, preload->errors(), preload->not_stored, preload->seconds);
  } else {
    out += "  \"preload\": null\n";
  }
  out += "}\n";
  return out;
}

std::string to_csv(const Options& o, const PhaseResult& r) {
  const Histogram& h = r.latency_ns;
  std::string out =
      "server,connections,threads,pipeline,get_ratio,multiget,requests,seconds,ops_per_sec,"
      "p50_us,p90_us,p99_us,p999_us,max_us,hit_ratio,errors,rate\n";
  out += fmt::format(
      "{}:{},{},{},{},{},{},{},{:.6f},{:.1f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{},{},{}\n", o.host,
      o.port, o.connections, o.threads, o.pipeline, o.get_ratio, o.multiget, r.requests, r.seconds,
      rate(r.requests, r.seconds), us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)),
      us(h.quantile(0.999)), us(h.max()), r.keys_requested == 0 ? std::string() : hit_ratio_json(r),
      r.errors(), o.rate);
  return out;
}

std::string to_table(const Options& o, const PhaseResult& r, const PhaseResult* preload) {
  const Histogram& h = r.latency_ns;
  std::string out = fmt::format(
      "treecached-bench -> {}:{}: {} connections on {} thread(s), pipeline {}, {} keys "
      "({} B keys, {} B values, {}), gets {:.0f}% (x{} keys)\n",
      o.host, o.port, o.connections, o.threads, o.pipeline, o.keys, o.key_size, o.value_size,
      o.dist == Distribution::kZipf ? fmt::format("zipf {}", o.zipf_skew) : "uniform",
      o.get_ratio * 100, o.multiget);
  if (o.rate > 0) {
    out += fmt::format(
        "  open loop    {:.0f} requests/s offered; latency from each scheduled time\n", o.rate);
  }
  if (preload != nullptr) {
    out += fmt::format("  preload      {} sets in {:.3f} s, {} errors\n", preload->requests,
                       preload->seconds, preload->errors());
  }
  out += fmt::format("  requests     {} ({} gets, {} sets) in {:.3f} s\n", r.requests, r.gets,
                     r.sets, r.seconds);
  out += fmt::format("  throughput   {:.0f} requests/s\n", rate(r.requests, r.seconds));
  out += fmt::format(
      "  latency us   p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  mean {:.1f}\n",
      us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)), us(h.quantile(0.999)),
      us(h.max()), h.mean() / 1000.0);
  if (r.keys_requested > 0) {
    out += fmt::format("  hit ratio    {:.4f} ({} of {} keys)\n",
                       static_cast<double>(r.hits) / static_cast<double>(r.keys_requested), r.hits,
                       r.keys_requested);
  }
  if (r.not_stored > 0) {
    out += fmt::format("  not stored   {}\n", r.not_stored);
  }
  out += fmt::format("  errors       {} (error replies {}, connection {}, protocol {})\n",
                     r.errors(), r.error_replies, r.connection_errors, r.protocol_errors);
  return out;
}

extern "C" void on_sigint(int /*signal*/) { request_stop(); }

int run(int argc, char** argv) {
  int exit_code = 0;
  const std::optional<Options> options = parse_options(argc, argv, exit_code);
  if (!options) {
    return exit_code;
  }
  struct sigaction action {};
  action.sa_handler = &on_sigint;
  action.sa_flags = static_cast<int>(SA_RESETHAND);  // a second Ctrl-C ends the program at once
  sigaction(SIGINT, &action, nullptr);

  const Workload workload(*options);
  std::unique_ptr<PhaseResult> preload;
  if (options->preload) {
    preload = run_phase(workload, PhaseKind::kPreload, options->progress);
  }
  const std::unique_ptr<PhaseResult> result =
      run_phase(workload, PhaseKind::kMeasured, options->progress);

  const std::string json = to_json(*options, *result, preload.get());
  const std::string table = to_table(*options, *result, preload.get());
  switch (options->format) {
    case OutputFormat::kTable:
      std::fputs(table.c_str(), stdout);
      break;
    case OutputFormat::kJson:
      std::fputs(table.c_str(), stderr);
      std::fputs(json.c_str(), stdout);
      break;
    case OutputFormat::kCsv:
      std::fputs(table.c_str(), stderr);
      std::fputs(to_csv(*options, *result).c_str(), stdout);
      break;
  }
  if (!options->json_file.empty()) {
    std::FILE* file = std::fopen(options->json_file.c_str(), "w");
    if (file == nullptr || std::fputs(json.c_str(), file) < 0 || std::fclose(file) != 0) {
      std::fprintf(stderr, "treecached-bench: cannot write %s\n", options->json_file.c_str());
      return 1;
    }
  }
  const bool failed = result->errors() > 0 || (preload && preload->errors() > 0);
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace treecached::bench

int main(int argc, char** argv) {
  try {
    return treecached::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "treecached-bench: %s\n", e.what());
    return 1;
  }
}
