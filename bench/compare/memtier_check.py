#!/usr/bin/python3
"""treecached vs stock memcached under memtier_benchmark, an independent load generator.

bench/compare/compare.py drives both servers with our own treecached-bench; this
script checks its headline figures with memtier_benchmark (Redis Ltd.'s load
generator, built by the user outside the repository from its public source) so
that a generator tuned on treecached cannot flatter it.

Both servers run with `-t 1 -m 1024`, pinned to core 0, memtier pinned to core 1
(as compare.py and BASELINE.md do). Each is preloaded with the same keys
(memtier's `memtier-1..K`, 100-byte values) and then every profile runs for
--seconds against treecached and against memcached in turn, --rounds times
(A B A B). Per profile: memtier's ops/s and the server's CPU µs per request
(utime + stime from /proc/PID/stat over the run), medians over rounds, and the
treecached / memcached ratios.

Usage:
  /usr/bin/python3 bench/compare/memtier_check.py --memtier /path/to/memtier_benchmark
      [--server-bin build/release/server/treecached] [--seconds 10] [--rounds 3]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from compare import cpu_ticks, free_port, start_server, stop_server, CLK_TCK  # noqa: E402

KEYS = 10000
VALUE_SIZE = 100
# name, memtier arguments (1 thread, 50 connections: memtier's default per thread)
PROFILES = [
    ("get-hit", ["--ratio=0:1", "--pipeline=1"]),
    ("get-hit-p16", ["--ratio=0:1", "--pipeline=16"]),
    ("set", ["--ratio=1:0", "--pipeline=1"]),
    ("set-p16", ["--ratio=1:0", "--pipeline=16"]),
    ("mix-90/10-p16", ["--ratio=1:9", "--pipeline=16"]),
]
OPS_LINE = re.compile(r"^Totals\s+([0-9.]+)\s")


def memtier_argv(args, port, extra):
    return ["taskset", "-c", "1", args.memtier, "--server=127.0.0.1", "--port=%d" % port,
            "--protocol=memcache_text", "--threads=1", "--clients=50",
            "--data-size=%d" % VALUE_SIZE, "--key-minimum=1", "--key-maximum=%d" % KEYS,
            "--hide-histogram", "--distinct-client-seed"] + extra


def run_memtier(args, port, extra):
    result = subprocess.run(memtier_argv(args, port, extra), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("memtier failed: %s" % result.stderr[-2000:])
    for line in result.stdout.splitlines():
        match = OPS_LINE.match(line)
        if match:
            return float(match.group(1)), result.stdout
    raise RuntimeError("no Totals line in memtier's output:\n" + result.stdout[-2000:])


def preload(args, port):
    # Every key once, in order: 10000 requests from 1 connection.
    run_memtier(args, port, ["--ratio=1:0", "--key-pattern=P:P", "--clients=1",
                             "--requests=%d" % KEYS])


def measure(args, proc, port, extra):
    before = sum(cpu_ticks(proc.pid))
    ops, _ = run_memtier(args, port, extra + ["--key-pattern=R:R",
                                             "--test-time=%d" % args.seconds])
    ticks = sum(cpu_ticks(proc.pid)) - before
    cpu_us = ticks / CLK_TCK * 1e6 / (ops * args.seconds) if ops else float("nan")
    return ops, cpu_us


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memtier", required=True, help="memtier_benchmark binary")
    parser.add_argument("--server-bin", default=os.path.join(ROOT, "build/release/server/treecached"))
    parser.add_argument("--memcached-bin", default="/usr/bin/memcached")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    servers = {}
    argv_tail = ["-l", "127.0.0.1", "-t", "1", "-m", "1024"]
    for name, binary, extra in (("treecached", args.server_bin, []),
                                ("memcached", args.memcached_bin, ["-u", "nobody", "-U", "0"])):
        port = free_port()
        argv = ["taskset", "-c", "0", binary] + extra + argv_tail + ["-p", str(port)]
        servers[name] = (start_server(name, argv, port), port)
    try:
        for name, (proc, port) in servers.items():
            preload(args, port)
        results = {}
        for round_no in range(1, args.rounds + 1):
            for profile, extra in PROFILES:
                for name, (proc, port) in servers.items():
                    ops, cpu_us = measure(args, proc, port, extra)
                    results.setdefault((profile, name), []).append((ops, cpu_us))
                    print("round %d %-14s %-10s %10.0f ops/s  cpu %5.2f us/req" %
                          (round_no, profile, name, ops, cpu_us), flush=True)
    finally:
        for proc, _ in servers.values():
            stop_server(proc)

    print()
    # The rounds' own ratios (the two runs of a round are back to back): when
    # their range straddles 1.0 the median ratio is the machine's noise.
    print("| profile | treecached ops/s | memcached ops/s | ops ratio | ops ratio rounds "
          "| treecached CPU µs/req | memcached CPU µs/req | CPU ratio | CPU ratio rounds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for profile, _ in PROFILES:
        tc = results[(profile, "treecached")]
        mc = results[(profile, "memcached")]
        tc_ops = statistics.median(r[0] for r in tc)
        mc_ops = statistics.median(r[0] for r in mc)
        tc_cpu = statistics.median(r[1] for r in tc)
        mc_cpu = statistics.median(r[1] for r in mc)
        ops_rounds = [t[0] / m[0] for t, m in zip(tc, mc)]
        cpu_rounds = [t[1] / m[1] for t, m in zip(tc, mc)]
        print("| %s | %s | %s | %.2f | %.2f..%.2f | %.2f | %.2f | %.2f | %.2f..%.2f |" %
              (profile, format(round(tc_ops), ","), format(round(mc_ops), ","), tc_ops / mc_ops,
               min(ops_rounds), max(ops_rounds), tc_cpu, mc_cpu, tc_cpu / mc_cpu,
               min(cpu_rounds), max(cpu_rounds)))


if __name__ == "__main__":
    main()
