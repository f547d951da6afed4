// Unit tests for bench/load/options.h: defaults, every option, refusals.

#include "bench/load/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace treecached::bench {
namespace {

struct Parsed {
  std::optional<Options> options;
  int exit_code;
};

Parsed parse(std::vector<std::string> args) {
  args.insert(args.begin(), "treecached-bench");
  std::vector<char*> argv;
  for (auto& arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  Parsed parsed{};
  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  parsed.options = parse_options(static_cast<int>(args.size()), argv.data(), parsed.exit_code);
  testing::internal::GetCapturedStdout();
  testing::internal::GetCapturedStderr();
  return parsed;
}

TEST(Options, Defaults) {
  const Parsed p = parse({});
  ASSERT_TRUE(p.options);
  EXPECT_EQ(p.exit_code, 0);
  EXPECT_EQ(p.options->host, "127.0.0.1");
  EXPECT_EQ(p.options->port, 11211);
  EXPECT_EQ(p.options->connections, 50u);
  EXPECT_EQ(p.options->threads, 1u);
  EXPECT_EQ(p.options->pipeline, 1u);
  EXPECT_EQ(p.options->requests, 0u);
  EXPECT_EQ(p.options->duration, 5.0);  // neither --requests nor --duration
  EXPECT_EQ(p.options->dist, Distribution::kUniform);
  EXPECT_EQ(p.options->format, OutputFormat::kTable);
  EXPECT_EQ(p.options->protocol, Protocol::kText);
}

TEST(Options, EveryOption) {
  const Parsed p = parse({"--host",
                          "::1",
                          "--port",
                          "1234",
                          "--connections",
                          "8",
                          "--threads",
                          "2",
                          "--pipeline",
                          "16",
                          "--keys",
                          "500",
                          "--key-size",
                          "10",
                          "--value-size",
                          "0",
                          "--get-ratio",
                          "0.25",
                          "--multiget",
                          "10",
                          "--dist",
                          "zipf",
                          "--zipf-skew",
                          "1.2",
                          "--requests",
                          "99",
                          "--preload",
                          "--key-prefix",
                          "k-",
                          "--progress",
                          "--json",
                          "out.json",
                          "--format",
                          "csv",
                          "--seed",
                          "7",
                          "--timeout",
                          "3",
                          "--protocol",
                          "meta"});
  ASSERT_TRUE(p.options);
  const Options& o = *p.options;
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 1234);
  EXPECT_EQ(o.connections, 8u);
  EXPECT_EQ(o.threads, 2u);
  EXPECT_EQ(o.pipeline, 16u);
  EXPECT_EQ(o.keys, 500u);
  EXPECT_EQ(o.key_size, 10u);
  EXPECT_EQ(o.value_size, 0u);
  EXPECT_EQ(o.get_ratio, 0.25);
  EXPECT_EQ(o.multiget, 10u);
  EXPECT_EQ(o.dist, Distribution::kZipf);
  EXPECT_EQ(o.zipf_skew, 1.2);
  EXPECT_EQ(o.requests, 99u);
  EXPECT_EQ(o.duration, 0.0);
  EXPECT_TRUE(o.preload);
  EXPECT_EQ(o.key_prefix, "k-");
  EXPECT_TRUE(o.progress);
  EXPECT_EQ(o.json_file, "out.json");
  EXPECT_EQ(o.format, OutputFormat::kCsv);
  EXPECT_EQ(o.seed, 7u);
  EXPECT_EQ(o.timeout, 3.0);
  EXPECT_EQ(o.protocol, Protocol::kMeta);
}

TEST(Options, RateIsOffOrRequestsPerSecond) {
  EXPECT_EQ(parse({}).options->rate, 0.0);  // closed loop
  const Parsed p = parse({"--rate", "25000.5"});
  ASSERT_TRUE(p.options);
  EXPECT_EQ(p.options->rate, 25000.5);
}

TEST(Options, MoreThreadsThanConnectionsIsCapped) {
  const Parsed p = parse({"--connections", "3", "--threads", "8"});
  ASSERT_TRUE(p.options);
  EXPECT_EQ(p.options->threads, 3u);
}

TEST(Options, HelpExitsZero) {
  const Parsed p = parse({"--help"});
  EXPECT_FALSE(p.options);
  EXPECT_EQ(p.exit_code, 0);
}

TEST(Options, Refusals) {
  const std::vector<std::vector<std::string>> bad = {
      {"--port", "0"},
      {"--port", "65536"},
      {"--connections", "0"},
      {"--pipeline", "x"},
      {"--rate", "0"},
      {"--rate", "-5"},
      {"--rate", "fast"},
      {"--get-ratio", "1.5"},
      {"--get-ratio", "-0.1"},
      {"--get-ratio", "nan"},
      {"--dist", "pareto"},
      {"--format", "xml"},
      {"--protocol", "binary"},
      {"--key-size", "251"},
      {"--keys", "0"},
      {"--requests", "10", "--duration", "1"},
      {"--keys", "100000", "--key-size", "8"},  // "key:" + 5 digits > 8 bytes
      {"--key-prefix", "a b"},
      {"--nonsense"},
      {"stray"},
  };
  for (const auto& args : bad) {
    const Parsed p = parse(args);
    EXPECT_FALSE(p.options) << args[0];
    EXPECT_EQ(p.exit_code, 64) << args[0];
  }
}

TEST(Options, KeySizeFitsPrefixAndDigitsExactly) {
  // 100000 keys: indexes up to 99999, five digits; "key:" + 5 = 9 bytes.
  EXPECT_TRUE(parse({"--keys", "100000", "--key-size", "9"}).options);
  EXPECT_FALSE(parse({"--keys", "100001", "--key-size", "9"}).options);
}

}  // namespace
}  // namespace treecached::bench
