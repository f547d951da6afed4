#!/usr/bin/python3
"""Set latency at a full cache: every set evicts. treecached builds vs stock memcached.

Eviction work lands on the set that needs room, under its shard's lock, so a
set's tail latency at a full cache shows what one eviction costs at worst. For
each server (--server-bin, repeatable, LABEL=PATH to name it; plus stock
memcached unless --no-memcached) this script:

1. starts it fresh with `-t T -m M` (defaults -t 1 -m 64; with -t 1 the servers
   are pinned to core 0 and the load generators to core 1 with taskset, as
   bench/compare/compare.py does);
2. fills it past its capacity: treecached-bench --preload sets --fill-factor
   (default 5) times the budget's worth of --value-size (default 1000 B) values,
   keys 0..K-1 once each; the fill must have evicted (`stats evictions`) and each
   measured run reports evictions per set, which stays near 1 - (share of keys
   present) because every set of a new key must evict;
3. runs rounds (--rounds, default 3) in alternation, A B A B as compare.py does:
   each round runs every profile for --seconds against each server in turn.

Profiles (each unpipelined and pipelined 16 deep, 50 connections, uniform keys
over all K keys, sets only from the measured generator):

- `set`, `set-p16`: sets only; every set of an absent key evicts.
- `set+hot`, `set+hot-p16`: the same sets while a second generator
  (--reader-connections, default 10, same pipeline depth) reads a hot subset:
  keys 0..H-1, H = --hot-fraction (0.5) of the items that fit, set just before
  the run. Its rate is fixed (open loop) so that gets would be --hot-share (0.5)
  of all requests at the lower of the servers' `set` ops/s in round 1: both
  servers get the same read load. Read items carry the "read" mark, which is
  where an eviction scan of treecached's CLOCK is longest. Only the set
  generator's latency is reported.

Per server and profile the table shows medians over rounds of the set
generator's ops/s, p50, p99, p99.9 and max latency (µs), evictions per second
and per set, the server's CPU use (cores), how busy core 1 (both generators) was
when pinned (`!` above 0.9: the generators, not the server, may set the pace),
the CPU the rest of the machine used meanwhile (other work; a run during which
it exceeded --max-other-cpu, 0.25 cores, is repeated up to --busy-retries, 2,
times), and, for `set+hot`, the reader's gets/s, share of requests and hit
ratio. Markdown goes to stdout and --out-dir/summary.md, everything to
results.json there (default bench/memory/results/full-cache-<time>/).

Usage (build first: cmake --preset release &&
       cmake --build build/release -j2 --target treecached treecached_bench):
  /usr/bin/python3 bench/memory/full_cache_latency.py
      [--server-bin [LABEL=]PATH ...] [--no-memcached] [-t 1] [-m 64]
      [--seconds 5] [--rounds 3] [--pipelines 1,16] [--no-warm] [--out-dir DIR]

Example, before and after an eviction change:
  /usr/bin/python3 bench/memory/full_cache_latency.py --server-bin before=/tmp/old/treecached \\
      --server-bin after=build/release/server/treecached
"""

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import resource
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench", "compare"))
from compare import (cpu_ticks, free_port, git_commit, machine, memcached_version,  # noqa: E402
                     start_server, stop_server, steal_ticks, CLK_TCK)

GENERATOR_BUSY = 0.9  # core 1 busier than this: the generators, not the server, may be the limit
RESULT_FIELDS = ("ops_per_sec", "p50_us", "p99_us", "p999_us", "max_us", "evictions_per_sec",
                 "evictions_per_set", "reader_gets_per_sec", "get_share", "hot_hit_ratio",
                 "server_cpu_util", "bench_cpu_util", "generator_core_busy", "other_cpu",
                 "steal_pct")


def fmt(value, digits=0):
    if value is None:
        return "-"
    return "{:,.{}f}".format(value, digits)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cpu_times(cpu):
    """(busy, total) clock ticks of one CPU from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu%d " % cpu):
                v = [int(x) for x in line.split()[1:]]
                idle = v[3] + (v[4] if len(v) > 4 else 0)
                return sum(v[:8]) - idle, sum(v[:8])
    return 0, 0


def machine_busy():
    """Busy clock ticks of all CPUs together, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]) - v[3] - (v[4] if len(v) > 4 else 0)


def proc_ticks(pid):
    try:
        return sum(cpu_ticks(pid))
    except (OSError, ValueError, IndexError):
        return 0


def stats(port):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed during stats")
            data += chunk
    return {m.group(1).decode(): m.group(2).decode()
            for m in re.finditer(rb"STAT (\S+) (\S+)\r\n", data)}


class Server:
    def __init__(self, label, argv_head, is_memcached):
        self.label, self.argv_head, self.is_memcached = label, argv_head, is_memcached
        self.port = self.proc = None
        self.fill = None


class Bench:
    def __init__(self, args, workdir):
        self.args, self.workdir = args, workdir
        self.pin = (args.pin and args.threads == 1 and shutil.which("taskset") is not None
                    and (os.cpu_count() or 1) >= 2)
        self.seq = 0

    def server_argv(self, server):
        argv = server.argv_head + ["-l", "127.0.0.1", "-p", str(server.port),
                                   "-t", str(self.args.threads), "-m", str(self.args.memory_mb)]
        return (["taskset", "-c", "0"] + argv) if self.pin else argv

    def bench_argv(self, port, extra):
        argv = [self.args.bench_bin, "--port", str(port), "--threads", "1",
                "--key-size", str(self.args.key_size), "--value-size", str(self.args.value_size),
                "--timeout", "30"] + extra
        return (["taskset", "-c", "1"] + argv) if self.pin else argv

    def launch(self, port, extra):
        """Starts the generator; returns (Popen, json path)."""
        self.seq += 1
        out = os.path.join(self.workdir, "r%d.json" % self.seq)
        argv = self.bench_argv(port, extra + ["--json", out])
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True), out, argv

    @staticmethod
    def collect(launched):
        proc, out, argv = launched
        stdout, stderr = proc.communicate()
        if proc.returncode not in (0, 1) or not os.path.exists(out):
            raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(argv), proc.returncode,
                                                         stdout, stderr))
        with open(out) as f:
            result = json.load(f)
        os.unlink(out)
        result["stderr_tail"] = stderr.strip()[-500:] if result["errors"] else ""
        if result["errors"]:
            print("  warning: %d errors (%d error replies, %d connection, %d protocol): %s\n  %s"
                  % (result["errors"], result["error_replies"], result["connection_errors"],
                     result["protocol_errors"], " ".join(argv), stderr.strip()[-300:]),
                  file=sys.stderr)
        return result

    def run(self, port, extra):
        return self.collect(self.launch(port, extra))


def run_profile(bench, server, pipeline, reader_rate, hot_keys):
    """One measured run; reader_rate None = sets only."""
    a = bench.args
    reader = None
    if reader_rate is not None:
        # The hot subset is stored just before (the sets since the last run have evicted
        # most of it), then read at a fixed rate, starting a moment before the sets so that
        # the hot items carry read marks when the measurement starts.
        warm = bench.run(server.port, ["--keys", str(hot_keys), "--preload", "--requests", "1",
                                       "--get-ratio", "1", "--connections", "4"])
        if warm["preload"]["errors"]:
            raise RuntimeError("hot preload of %s failed" % server.label)
        reader = bench.launch(server.port, [
            "--keys", str(hot_keys), "--get-ratio", "1", "--seed", "7",
            "--connections", str(a.reader_connections), "--pipeline", str(pipeline),
            "--rate", str(reader_rate), "--duration", str(a.seconds + a.reader_lead + 0.5)])
        time.sleep(a.reader_lead)
    before = stats(server.port)
    user0, sys0 = cpu_ticks(server.proc.pid)
    steal0 = steal_ticks()
    wall0 = time.monotonic()
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    core0 = cpu_times(1)
    busy0 = machine_busy()
    reader0 = proc_ticks(reader[0].pid) if reader is not None else 0
    setter = bench.launch(server.port, [
        "--keys", str(a.keys), "--get-ratio", "0", "--connections", str(a.connections),
        "--pipeline", str(pipeline), "--duration", str(a.seconds)])
    result = bench.collect(setter)
    wall = time.monotonic() - wall0
    busy1 = machine_busy()
    reader1 = proc_ticks(reader[0].pid) if reader is not None else 0
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the set generator only: the
    # reader has not been waited for yet
    core1 = cpu_times(1)
    gen_core = ((core1[0] - core0[0]) / (core1[1] - core0[1])
                if bench.pin and core1[1] > core0[1] else None)
    bench_cpu = (usage1.ru_utime - usage0.ru_utime + usage1.ru_stime - usage0.ru_stime) / wall
    user1, sys1 = cpu_ticks(server.proc.pid)
    steal = steal_ticks() - steal0
    after = stats(server.port)
    read = bench.collect(reader) if reader is not None else None
    if server.proc.poll() is not None:
        raise RuntimeError("%s exited with status %s" % (server.label, server.proc.returncode))
    server_ticks = user1 - user0 + sys1 - sys0
    # CPU the rest of the machine used meanwhile (other people's work, the kernel's
    # threads): what is busy minus the server and the two generators, in cores.
    other = ((busy1 - busy0 - server_ticks - (reader1 - reader0)) / CLK_TCK / wall
             - bench_cpu)
    lat = result["latency_us"]
    evictions = int(after["evictions"]) - int(before["evictions"])
    seconds = result["seconds"] or wall
    m = {
        "ops_per_sec": result["ops_per_sec"], "requests": result["requests"],
        "sets": result["sets"],
        "p50_us": lat["p50"], "p90_us": lat["p90"], "p99_us": lat["p99"], "p999_us": lat["p999"],
        "max_us": lat["max"], "mean_us": lat["mean"],
        "evictions": evictions,
        "evictions_per_sec": evictions / wall,
        "evictions_per_set": evictions / result["sets"] if result["sets"] else None,
        "errors": result["errors"] + (read["errors"] if read else 0),
        "reader_errors": read["errors"] if read else None,
        "error_replies": result["error_replies"], "connection_errors": result["connection_errors"],
        "protocol_errors": result["protocol_errors"],
        "errors_stderr": result["stderr_tail"] + (read["stderr_tail"] if read else ""),
        "other_cpu": max(0.0, other),
        "server_cpu_util": server_ticks / CLK_TCK / wall,
        "steal_pct": 100.0 * steal / CLK_TCK / wall / (os.cpu_count() or 1),
        "bytes": int(after["bytes"]), "limit_maxbytes": int(after["limit_maxbytes"]),
        "curr_items": int(after["curr_items"]),
        "reader_gets_per_sec": None, "get_share": None, "hot_hit_ratio": None,
        "reader_rate": reader_rate, "bench_cpu_util": bench_cpu,
        "generator_core_busy": gen_core, "set_seconds": seconds,
    }
    if read is not None:
        gets_per_sec = read["ops_per_sec"]
        m.update(reader_gets_per_sec=gets_per_sec,
                 get_share=gets_per_sec / (gets_per_sec + result["ops_per_sec"])
                 if gets_per_sec + result["ops_per_sec"] else None,
                 hot_hit_ratio=read["hit_ratio"])
    return m


def profiles(args):
    out = []
    for depth in args.pipeline_list:
        suffix = "" if depth == 1 else "-p%d" % depth
        out.append(("set" + suffix, depth, False))
    if args.warm:
        for depth in args.pipeline_list:
            suffix = "" if depth == 1 else "-p%d" % depth
            out.append(("set+hot" + suffix, depth, True))
    return out


def summarize(runs, servers, chosen):
    summary = []
    for name, depth, warm in chosen:
        for server in servers:
            mine = [r for r in runs if r["profile"] == name and r["server"] == server.label]
            row = {"profile": name, "server": server.label, "pipeline": depth,
                   "rounds": len(mine), "errors": sum(r["errors"] for r in mine)}
            for field in RESULT_FIELDS:
                row[field] = median([r[field] for r in mine])
            row["disturbed_rounds"] = sum(1 for r in mine if r.get("disturbed"))
            row["p99_us_range"] = ([min(r["p99_us"] for r in mine), max(r["p99_us"] for r in mine)]
                                   if mine else None)
            summary.append(row)
    return summary


def markdown(summary, warm):
    head = ("| profile | server | ops/s | p50 µs | p99 µs | p99.9 µs | max µs | evictions/s "
            "| evictions/set | server CPU | gen. core | other CPU |")
    sep = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    if warm:
        head += " reader gets/s | get share | hot hit ratio |"
        sep += "---:|---:|---:|"
    lines = [head, sep]
    for row in summary:
        busy = row["generator_core_busy"]
        line = "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            row["profile"], row["server"], fmt(row["ops_per_sec"]), fmt(row["p50_us"]),
            fmt(row["p99_us"]), fmt(row["p999_us"]), fmt(row["max_us"]),
            fmt(row["evictions_per_sec"]), fmt(row["evictions_per_set"], 2),
            fmt(row["server_cpu_util"], 2),
            "-" if busy is None else fmt(busy, 2) + ("!" if busy > GENERATOR_BUSY else ""),
            fmt(row["other_cpu"], 2))
        if warm:
            line += " %s | %s | %s |" % (fmt(row["reader_gets_per_sec"]),
                                        fmt(row["get_share"], 2), fmt(row["hot_hit_ratio"], 3))
        lines.append(line)
    return "\n".join(lines)


def parse_server(text):
    if "=" in text:
        label, path = text.split("=", 1)
    else:
        path = text
        label = "treecached"
    return label, path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog=__doc__.split("\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-bin", action="append", default=None, metavar="[LABEL=]PATH",
                    help="a treecached binary, repeatable (default "
                         "treecached=build/release/server/treecached)")
    ap.add_argument("--no-memcached", dest="memcached", action="store_false")
    ap.add_argument("--memcached-bin", default="/usr/bin/memcached")
    ap.add_argument("--bench-bin",
                    default=os.path.join(ROOT, "build/release/bench/load/treecached-bench"))
    ap.add_argument("-t", "--threads", type=int, default=1, help="server -t (default 1)")
    ap.add_argument("-m", "--memory-mb", type=int, default=64, help="server -m (default 64)")
    ap.add_argument("--value-size", type=int, default=1000)
    ap.add_argument("--key-size", type=int, default=16)
    ap.add_argument("--fill-factor", type=float, default=5,
                    help="key space = this many budgets of values (default 5)")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--pipelines", default="1,16", help="pipeline depths (default 1,16)")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-warm", dest="warm", action="store_false",
                    help="skip the set+hot profiles")
    ap.add_argument("--hot-fraction", type=float, default=0.5,
                    help="hot subset, as a share of the items that fit (default 0.5)")
    ap.add_argument("--hot-share", type=float, default=0.5,
                    help="gets as a share of all requests in set+hot (default 0.5)")
    ap.add_argument("--reader-connections", type=int, default=10)
    ap.add_argument("--reader-lead", type=float, default=1.0,
                    help="seconds the reader runs before the sets start (default 1)")
    ap.add_argument("--profiles", default=None,
                    help="comma-separated subset, e.g. set,set+hot-p16 (default all)")
    ap.add_argument("--max-other-cpu", type=float, default=0.25,
                    help="a run during which other work took more CPU than this (cores) is "
                         "run again, up to --busy-retries times (default 0.25)")
    ap.add_argument("--busy-retries", type=int, default=2, help="default 2")
    ap.add_argument("--no-pin", dest="pin", action="store_false")
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args()
    args.pipeline_list = [int(p) for p in args.pipelines.split(",")]
    if not 0 < args.hot_share < 1:
        ap.error("--hot-share must be between 0 and 1")
    specs = [parse_server(s) for s in (args.server_bin or
                                       [os.path.join(ROOT, "build/release/server/treecached")])]
    servers = [Server(label, [path], False) for label, path in specs]
    if args.memcached:
        servers.append(Server("memcached", [args.memcached_bin, "-u", "nobody", "-U", "0"], True))
    labels = [s.label for s in servers]
    if len(set(labels)) != len(labels):
        ap.error("server labels must differ: %s (use LABEL=PATH)" % labels)
    for binary in [s.argv_head[0] for s in servers] + [args.bench_bin]:
        if not os.access(binary, os.X_OK):
            ap.error("%s is not an executable (build the release preset first)" % binary)
    budget = args.memory_mb << 20
    args.keys = int(args.fill_factor * budget / args.value_size)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = args.out_dir or os.path.join(HERE, "results", "full-cache-" + stamp)
    os.makedirs(out_dir, exist_ok=True)
    chosen = profiles(args)
    if args.profiles:
        wanted = set(args.profiles.split(","))
        unknown = wanted - {name for name, _, _ in chosen}
        if unknown:
            ap.error("unknown profiles %s (known: %s)" % (", ".join(sorted(unknown)),
                                                          ", ".join(n for n, _, _ in chosen)))
        # set+hot takes its read rate from set, so set runs whenever set+hot does.
        wanted |= {n.replace("set+hot", "set") for n in wanted}
        chosen = [p for p in chosen if p[0] in wanted]
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "commit": git_commit(), "machine": machine(),
            "memcached": memcached_version(args.memcached_bin) if args.memcached else None,
            "servers": {s.label: s.argv_head for s in servers},
            "config": {k: v for k, v in vars(args).items()}}
    total = args.rounds * len(chosen) * len(servers)
    print("full-cache set latency: %s; -t %d -m %d, %d keys x %d B (%.1fx the budget), "
          "%d runs of %g s, results in %s"
          % (", ".join(labels), args.threads, args.memory_mb, args.keys, args.value_size,
             args.fill_factor, total, args.seconds, out_dir))
    print("commit %s; %s, %s cores; %s" % (meta["commit"], meta["machine"]["cpu"],
                                           meta["machine"]["cores"],
                                           "server on core 0, generators on core 1"
                                           if args.threads == 1 and args.pin else "not pinned"),
          flush=True)

    runs = []
    with tempfile.TemporaryDirectory() as workdir:
        bench = Bench(args, workdir)
        try:
            for server in servers:
                server.port = free_port()
                server.proc = start_server(server.label, bench.server_argv(server), server.port)
            for server in servers:
                t0 = time.monotonic()
                fill = bench.run(server.port, ["--keys", str(args.keys), "--preload",
                                               "--requests", "1", "--get-ratio", "1",
                                               "--connections", "4"])
                s = stats(server.port)
                server.fill = {"seconds": time.monotonic() - t0,
                               "errors": fill["preload"]["errors"],
                               "evictions": int(s["evictions"]), "curr_items": int(s["curr_items"]),
                               "bytes": int(s["bytes"]), "limit_maxbytes": int(s["limit_maxbytes"])}
                print("fill %-12s %d sets in %.1f s: curr_items %d, bytes %s of %s, evictions %d"
                      % (server.label, args.keys, server.fill["seconds"], server.fill["curr_items"],
                         fmt(server.fill["bytes"]), fmt(server.fill["limit_maxbytes"]),
                         server.fill["evictions"]), flush=True)
                if server.fill["evictions"] == 0 or server.fill["errors"]:
                    raise RuntimeError("%s: the fill did not evict (or failed): %s"
                                       % (server.label, server.fill))
            hot_keys = max(1, int(args.hot_fraction * min(s.fill["curr_items"] for s in servers)))
            rates = {}
            done = 0
            for round_index in range(args.rounds):
                for name, depth, warm in chosen:
                    rate = None
                    if warm:
                        if name not in rates:
                            cold = name.replace("set+hot", "set")
                            base = min(r["ops_per_sec"] for r in runs
                                       if r["profile"] == cold and r["round"] == 1) \
                                if any(r["profile"] == cold for r in runs) else 10000
                            rates[name] = max(1, round(base * args.hot_share /
                                                       (1 - args.hot_share)))
                        rate = rates[name]
                    for server in servers:
                        for attempt in range(args.busy_retries + 1):
                            m = run_profile(bench, server, depth, rate, hot_keys)
                            if m["other_cpu"] <= args.max_other_cpu:
                                break
                            if attempt < args.busy_retries:
                                print("       %s %s: other work took %.2f cores, again"
                                      % (name, server.label, m["other_cpu"]), flush=True)
                        m.update(server=server.label, profile=name, round=round_index + 1,
                                 attempts=attempt + 1,
                                 disturbed=m["other_cpu"] > args.max_other_cpu)
                        runs.append(m)
                        done += 1
                        print("[%2d/%d] round %d %-13s %-12s %9s ops/s  p50 %6s  p99 %7s  "
                              "p99.9 %7s  max %8s us  evictions %7s/s (%.2f/set)  "
                              "other CPU %.2f%s%s" % (
                                  done, total, round_index + 1, name, server.label,
                                  fmt(m["ops_per_sec"]), fmt(m["p50_us"]), fmt(m["p99_us"]),
                                  fmt(m["p999_us"]), fmt(m["max_us"]),
                                  fmt(m["evictions_per_sec"]), m["evictions_per_set"] or 0,
                                  m["other_cpu"],
                                  "  gets %s/s hit %.3f" % (fmt(m["reader_gets_per_sec"]),
                                                            m["hot_hit_ratio"] or 0)
                                  if warm else "",
                                  "  ERRORS %d" % m["errors"] if m["errors"] else ""),
                              flush=True)
        finally:
            for server in servers:
                if server.proc is not None:
                    stop_server(server.proc)

    summary = summarize(runs, servers, chosen)
    table = markdown(summary, args.warm)
    notes = ("-t %d -m %d, %d connections, %d B values, %d keys (%.1fx the budget), hot subset "
             "%d keys; medians over %d rounds of %g s; latency of the set generator in µs"
             % (args.threads, args.memory_mb, args.connections, args.value_size, args.keys,
                args.fill_factor, hot_keys, args.rounds, args.seconds))
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"meta": meta, "fill": {s.label: s.fill for s in servers},
                   "hot_keys": hot_keys, "reader_rates": rates, "summary": summary,
                   "runs": runs}, f, indent=1)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(notes + "\n\n" + table + "\n")
    print()
    print(notes)
    print()
    print(table)
    steal = [r["steal_pct"] for r in runs]
    disturbed = sum(1 for r in runs if r.get("disturbed"))
    if disturbed:
        print()
        print("%d of %d runs had other work above %.2f cores even after %d retries "
              "(other CPU column; `disturbed` in results.json)"
              % (disturbed, len(runs), args.max_other_cpu, args.busy_retries))
    print()
    print("vCPU steal during the runs: median %.1f%%, max %.1f%%; results in %s"
          % (statistics.median(steal), max(steal), out_dir))
    errors = sum(r["errors"] for r in runs)
    if errors:
        print("WARNING: %d errors in all runs (see results.json)" % errors)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
