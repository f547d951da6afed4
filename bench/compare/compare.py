#!/usr/bin/python3
"""treecached against stock memcached with our load generator, in alternation.

For each server thread count (-t 1, then -t 2) both servers are (re)started
with the same -t and -m on two loopback ports and preloaded with the same keys.
Then, for each round, every profile runs for --seconds against treecached and
then against memcached (A B A B ...). For every run we record the load
generator's ops/s and latency percentiles and the server's CPU time
(utime + stime from /proc/PID/stat, all threads) divided by the requests
served. The table shows medians over the rounds and treecached/memcached
ratios; results go to JSON and CSV, and a PNG plot if gnuplot is installed.

Normally started by bench/compare/run.sh, which installs and builds first:
  bench/compare/run.sh [--quick] [--seconds S] [--rounds N] [--threads 1,2] ...
"""

import argparse
import csv
import datetime
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# name -> treecached-bench arguments; each also runs with --pipeline 16 ("-p16").
BASE_PROFILES = [
    ("get-hit", ["--get-ratio", "1"]),
    ("get-miss", ["--get-ratio", "1", "--key-prefix", "miss:"]),
    ("set", ["--get-ratio", "0"]),
    ("mix-90/10", ["--get-ratio", "0.9"]),
    ("multiget-10", ["--get-ratio", "1", "--multiget", "10"]),
]
PIPELINE_DEPTH = 16
# "@NN%" profiles: the unpipelined profile again, open loop at NN% of the lower of the two
# servers' closed-loop ops/s in round 1, so both get the same offered load.
RATE_SUFFIX = "@%d%%"
SERVERS = ("treecached", "memcached")
CLK_TCK = os.sysconf("SC_CLK_TCK")
GENERATOR_BUSY = 0.85  # cores of CPU the load generator used, median over rounds


def profiles(rate_percent):
    """(name, generator arguments, closed-loop profile a fixed rate derives from or None)."""
    out = []
    for name, args in BASE_PROFILES:
        out.append((name, args + ["--pipeline", "1"], None))
        out.append((name + "-p%d" % PIPELINE_DEPTH, args + ["--pipeline", str(PIPELINE_DEPTH)],
                    None))
    if rate_percent:
        for name, args in BASE_PROFILES:
            out.append((name + RATE_SUFFIX % rate_percent, args + ["--pipeline", "1"], name))
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def steal_ticks():
    """Time the hypervisor ran something else on our vCPUs, all CPUs, in clock ticks."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[8]) if len(fields) > 8 else 0


def cpu_ticks(pid):
    """(utime, stime) of the whole process (all threads), in clock ticks: time in
    user space and in the kernel on its behalf."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)


def start_server(name, argv, port):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("%s did not start: %s" % (name, " ".join(argv)))


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def git_commit():
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
            "host": platform.node()}


def memcached_version(binary):
    try:
        return subprocess.run([binary, "-V"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


class Runner:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.pin = args.pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2

    def bench_argv(self, port, extra, server_threads):
        argv = [self.args.bench_bin, "--port", str(port),
                "--connections", str(self.args.connections),
                "--threads", str(self.args.bench_threads),
                "--keys", str(self.args.keys), "--key-size", str(self.args.key_size),
                "--value-size", str(self.args.value_size), "--dist", self.args.dist,
                "--timeout", "20"] + extra
        if self.pinned(server_threads):
            argv = ["taskset", "-c", "1"] + argv
        return argv

    def pinned(self, server_threads):
        # One server thread: server on core 0, load generator on core 1, as in
        # BASELINE.md. Two server threads need both cores: nothing is pinned.
        return self.pin and server_threads == 1

    def server_argv(self, name, port, threads):
        common = ["-l", "127.0.0.1", "-p", str(port), "-t", str(threads),
                  "-m", str(self.args.memory_mb)]
        if name == "treecached":
            argv = [self.args.server_bin] + common
        else:
            argv = [self.args.memcached_bin, "-u", "nobody", "-U", "0"] + common
        if self.pinned(threads):
            argv = ["taskset", "-c", "0"] + argv
        return argv

    def run_bench(self, port, extra, server_threads, check=True):
        out = os.path.join(self.workdir, "result.json")
        argv = self.bench_argv(port, extra + ["--json", out], server_threads)
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode not in (0, 1) or not os.path.exists(out):
            raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(argv), done.returncode,
                                                         done.stdout, done.stderr))
        with open(out) as f:
            result = json.load(f)
        os.unlink(out)
        if check and result["errors"]:
            print("  warning: %d errors: %s" % (result["errors"], done.stderr.strip()[-300:]),
                  file=sys.stderr)
        return result

    def measure(self, proc, port, extra, server_threads):
        usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        user_before, sys_before = cpu_ticks(proc.pid)
        steal_before = steal_ticks()
        wall_before = time.monotonic()
        result = self.run_bench(port, extra + ["--duration", str(self.args.seconds)],
                                server_threads)
        wall = time.monotonic() - wall_before
        user_after, sys_after = cpu_ticks(proc.pid)
        user, kernel = user_after - user_before, sys_after - sys_before
        ticks = user + kernel
        steal = steal_ticks() - steal_before
        usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        bench_cpu = (usage_after.ru_utime - usage_before.ru_utime +
                     usage_after.ru_stime - usage_before.ru_stime)
        requests = result["requests"]
        lat = result["latency_us"]
        per_request_us = (lambda t: t * 1e6 / CLK_TCK / requests) if requests else (lambda t: None)
        return {
            "ops_per_sec": result["ops_per_sec"],
            "requests": requests,
            "p50_us": lat["p50"], "p90_us": lat["p90"], "p99_us": lat["p99"],
            "p999_us": lat["p999"],
            "server_cpu_us_per_req": per_request_us(ticks),
            "server_user_us_per_req": per_request_us(user),
            "server_kernel_us_per_req": per_request_us(kernel),
            "server_cpu_util": ticks / CLK_TCK / wall,
            "bench_cpu_util": bench_cpu / wall,
            "steal_pct": 100.0 * steal / CLK_TCK / wall / (os.cpu_count() or 1),
            "hit_ratio": result["hit_ratio"],
            "errors": result["errors"],
        }


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(value, digits=0):
    if value is None:
        return "-"
    return "{:,.{}f}".format(value, digits)


def summarize(runs):
    keys = []
    for run in runs:
        key = (run["server_threads"], run["profile"])
        if key not in keys:
            keys.append(key)
    summary = []
    for threads, profile in keys:
        row = {"server_threads": threads, "profile": profile,
               "offered_rate": next((r["offered_rate"] for r in runs if r["profile"] == profile
                                     and r["server_threads"] == threads), None)}
        for server in SERVERS:
            mine = [r for r in runs if r["server_threads"] == threads and r["profile"] == profile
                    and r["server"] == server]
            for field in ("ops_per_sec", "p50_us", "p99_us", "p999_us", "server_cpu_us_per_req",
                          "server_user_us_per_req", "server_kernel_us_per_req",
                          "bench_cpu_util", "steal_pct", "hit_ratio"):
                row["%s_%s" % (server, field)] = median([r[field] for r in mine])
            row["%s_errors" % server] = sum(r["errors"] for r in mine)
            row["%s_rounds" % server] = len(mine)
        for field in ("ops_per_sec", "p99_us", "server_cpu_us_per_req"):
            row["ratio_" + field] = ratio(row["treecached_" + field], row["memcached_" + field])
        # The p99 ratio of each round alone (the two servers ran back to back),
        # to show how far one round's ratio moves from the next.
        by_round = {}
        for r in runs:
            if r["server_threads"] == threads and r["profile"] == profile:
                by_round.setdefault(r["round"], {})[r["server"]] = r["p99_us"]
        round_ratios = [ratio(p.get("treecached"), p.get("memcached")) for p in by_round.values()]
        round_ratios = [x for x in round_ratios if x is not None]
        row["ratio_p99_us_min"] = min(round_ratios, default=None)
        row["ratio_p99_us_max"] = max(round_ratios, default=None)
        summary.append(row)
    return summary


def table(summary):
    header = ("%-3s %-16s | %11s %9s %8s | %11s %9s %8s | %6s %6s %6s"
              % ("-t", "profile", "tc ops/s", "tc p99us", "tc cpuus", "mc ops/s", "mc p99us",
                 "mc cpuus", "x ops", "x p99", "x cpu"))
    lines = [header, "-" * len(header)]
    for row in summary:
        # "!" marks a profile where the load generator used most of a core: its ops/s
        # may be the generator's limit rather than the server's.
        busy = any((row["%s_bench_cpu_util" % server] or 0) > GENERATOR_BUSY
                   for server in SERVERS)
        lines.append("%-3s %-16s | %11s %9s %8s | %11s %9s %8s | %6s %6s %6s" % (
            row["server_threads"], row["profile"] + ("!" if busy else ""),
            fmt(row["treecached_ops_per_sec"]), fmt(row["treecached_p99_us"]),
            fmt(row["treecached_server_cpu_us_per_req"], 2),
            fmt(row["memcached_ops_per_sec"]), fmt(row["memcached_p99_us"]),
            fmt(row["memcached_server_cpu_us_per_req"], 2),
            fmt(row["ratio_ops_per_sec"], 2), fmt(row["ratio_p99_us"], 2),
            fmt(row["ratio_server_cpu_us_per_req"], 2)))
    return "\n".join(lines)


def cpu_split_table(summary):
    """Where the server CPU goes, and how much the p99 ratio moves between rounds."""
    header = ("%-3s %-16s | %9s %9s | %9s %9s | %13s"
              % ("-t", "profile", "tc user", "tc kernel", "mc user", "mc kernel",
                 "x p99 rounds"))
    lines = [header, "-" * len(header)]
    for row in summary:
        lines.append("%-3s %-16s | %9s %9s | %9s %9s | %6s..%-5s" % (
            row["server_threads"], row["profile"],
            fmt(row["treecached_server_user_us_per_req"], 2),
            fmt(row["treecached_server_kernel_us_per_req"], 2),
            fmt(row["memcached_server_user_us_per_req"], 2),
            fmt(row["memcached_server_kernel_us_per_req"], 2),
            fmt(row["ratio_p99_us_min"], 2), fmt(row["ratio_p99_us_max"], 2)))
    return "\n".join(lines)


def markdown(summary):
    lines = ["| -t | profile | treecached ops/s | memcached ops/s | ops ratio | treecached p99 µs "
             "| memcached p99 µs | p99 ratio | treecached CPU µs/req | memcached CPU µs/req "
             "| CPU ratio |", "|" + "---|" * 11]
    for row in summary:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            row["server_threads"], row["profile"], fmt(row["treecached_ops_per_sec"]),
            fmt(row["memcached_ops_per_sec"]), fmt(row["ratio_ops_per_sec"], 2),
            fmt(row["treecached_p99_us"]), fmt(row["memcached_p99_us"]),
            fmt(row["ratio_p99_us"], 2), fmt(row["treecached_server_cpu_us_per_req"], 2),
            fmt(row["memcached_server_cpu_us_per_req"], 2),
            fmt(row["ratio_server_cpu_us_per_req"], 2)))
    return "\n".join(lines)


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)


def plot(summary, out_dir):
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print("note: gnuplot not found, no plot (bench/compare/run.sh installs gnuplot-nox)")
        return None
    data = os.path.join(out_dir, "plot.dat")
    with open(data, "w") as f:
        f.write("# label tc_ops mc_ops tc_p99 mc_p99\n")
        for row in summary:
            f.write('"%s -t%s" %s %s %s %s\n' % (
                row["profile"], row["server_threads"],
                *(("%g" % row[k]) if row[k] is not None else "NaN" for k in (
                    "treecached_ops_per_sec", "memcached_ops_per_sec", "treecached_p99_us",
                    "memcached_p99_us"))))
    png = os.path.join(out_dir, "compare.png")
    script = """
set terminal pngcairo size 1400,1000 font ",10" noenhanced
set output '{png}'
set datafile missing 'NaN'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set xtics rotate by -40 scale 0
set key top left
set logscale y
set multiplot layout 2,1 title 'treecached vs memcached (medians over rounds)'
set ylabel 'requests/s'
plot '{data}' using 2:xtic(1) title 'treecached' lc rgb '#2a7ab0', '' using 3 title 'memcached' lc rgb '#e08a1e'
set ylabel 'p99 latency (us)'
plot '{data}' using 4:xtic(1) title 'treecached' lc rgb '#2a7ab0', '' using 5 title 'memcached' lc rgb '#e08a1e'
unset multiplot
""".format(png=png, data=data)
    done = subprocess.run([gnuplot], input=script, capture_output=True, text=True)
    if done.returncode != 0:
        # pngcairo comes with gnuplot-nox on Debian; fall back to the GD png terminal.
        script = script.replace('pngcairo size 1400,1000 font ",10" noenhanced',
                                "png size 1400,1000 noenhanced")
        done = subprocess.run([gnuplot], input=script, capture_output=True, text=True)
    if done.returncode != 0:
        print("note: gnuplot failed: %s" % done.stderr.strip())
        return None
    return png


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-bin", default=os.path.join(ROOT, "build/release/server/treecached"))
    parser.add_argument("--bench-bin",
                        default=os.path.join(ROOT, "build/release/bench/load/treecached-bench"))
    parser.add_argument("--memcached-bin", default="/usr/bin/memcached")
    parser.add_argument("--threads", default="1,2",
                        help="server thread counts, comma-separated (default 1,2)")
    parser.add_argument("--memory-mb", type=int, default=1024, help="-m for both (default 1024)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per run (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="short run: 1 s per run, 3 rounds (unless given)")
    parser.add_argument("--profiles", default=None,
                        help="comma-separated subset of profile names (default all)")
    parser.add_argument("--connections", type=int, default=50, help="default 50")
    parser.add_argument("--bench-threads", type=int, default=1, help="default 1")
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--key-size", type=int, default=16)
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--dist", choices=("uniform", "zipf"), default="uniform")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin -t 1 servers to core 0 and the load generator to core 1")
    parser.add_argument("--rate-percent", type=int, default=0,
                        help="also run each unpipelined profile open loop at this percent of the "
                             "lower closed-loop ops/s of the two servers, e.g. 50 (default 0: not run)")
    parser.add_argument("--out-dir", default=None,
                        help="where results go (default bench/compare/results/<time>)")
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 1.0 if args.quick else 5.0
    if args.rounds is None:
        args.rounds = 3
    thread_counts = [int(t) for t in args.threads.split(",")]
    if not 0 <= args.rate_percent <= 100:
        parser.error("--rate-percent must be between 0 and 100")
    chosen = profiles(args.rate_percent)
    if args.profiles:
        wanted = set(args.profiles.split(","))
        unknown = wanted - {name for name, _, _ in chosen}
        if unknown:
            parser.error("unknown profiles: %s (known: %s)"
                         % (", ".join(sorted(unknown)), ", ".join(n for n, _, _ in chosen)))
        # A fixed-rate profile needs the closed-loop profile its rate comes from.
        wanted |= {base for name, _, base in chosen if name in wanted and base}
        chosen = [p for p in chosen if p[0] in wanted]
    for binary in (args.server_bin, args.bench_bin, args.memcached_bin):
        if not os.access(binary, os.X_OK):
            parser.error("%s is not an executable (run bench/compare/run.sh to build)" % binary)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = args.out_dir or os.path.join(HERE, "results", stamp)
    os.makedirs(out_dir, exist_ok=True)

    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "memcached": memcached_version(args.memcached_bin),
        "config": {k: v for k, v in vars(args).items()},
        "pipeline_depth": PIPELINE_DEPTH,
    }
    total = len(thread_counts) * args.rounds * len(chosen) * len(SERVERS)
    print("treecached vs memcached: %d runs of %g s (%s), results in %s"
          % (total, args.seconds, ", ".join("-t %d" % t for t in thread_counts), out_dir))
    print("commit %s; %s, %s cores" % (meta["commit"], meta["machine"]["cpu"],
                                       meta["machine"]["cores"]))

    runs = []
    done_runs = 0
    with tempfile.TemporaryDirectory() as workdir:
        runner = Runner(args, workdir)
        for threads in thread_counts:
            procs = {}
            ports = {}
            try:
                for server in SERVERS:
                    ports[server] = free_port()
                    procs[server] = start_server(
                        server, runner.server_argv(server, ports[server], threads), ports[server])
                for server in SERVERS:  # the same keys and values in both
                    warm = runner.run_bench(ports[server],
                                            ["--preload", "--requests", "1", "--get-ratio", "1"],
                                            threads)
                    if warm["errors"] or warm["preload"]["errors"]:
                        raise RuntimeError("preload of %s failed: %s" % (server, warm))
                rates = {}  # fixed-rate profile -> requests/s, from round 1
                for round_index in range(args.rounds):
                    for profile, extra, base in chosen:
                        if base is not None and profile not in rates:
                            base_ops = min(
                                r["ops_per_sec"] for r in runs if r["profile"] == base
                                and r["server_threads"] == threads and r["round"] == 1)
                            if base_ops <= 0:
                                raise RuntimeError("%s served no requests in round 1, so %s "
                                                   "has no rate" % (base, profile))
                            rates[profile] = max(1, round(args.rate_percent / 100.0 * base_ops))
                        if base is not None:
                            extra = extra + ["--rate", str(rates[profile])]
                        for server in SERVERS:
                            m = runner.measure(procs[server], ports[server], extra, threads)
                            m.update({"server": server, "server_threads": threads,
                                      "profile": profile, "round": round_index + 1,
                                      "offered_rate": rates.get(profile)})
                            runs.append(m)
                            done_runs += 1
                            print("[%3d/%d] -t %d round %d %-16s %-10s %10s ops/s  p99 %7s us  "
                                  "cpu %5s us/req  steal %4.1f%%%s" % (
                                      done_runs, total, threads, round_index + 1, profile, server,
                                      fmt(m["ops_per_sec"]), fmt(m["p99_us"]),
                                      fmt(m["server_cpu_us_per_req"], 2), m["steal_pct"],
                                      "  ERRORS %d" % m["errors"] if m["errors"] else ""),
                                  flush=True)
            finally:
                for proc in procs.values():
                    stop_server(proc)

    summary = summarize(runs)
    write_csv(os.path.join(out_dir, "runs.csv"), runs)
    write_csv(os.path.join(out_dir, "summary.csv"), summary)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"meta": meta, "summary": summary, "runs": runs}, f, indent=1)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(markdown(summary) + "\n\n```\n" + cpu_split_table(summary) + "\n```\n")
    png = plot(summary, out_dir)

    print()
    print("Medians over %d rounds of %g s; tc = treecached, mc = memcached %s; "
          "x = treecached/memcached" % (args.rounds, args.seconds, meta["memcached"]))
    print("(ops/s higher is better; p99 and server CPU us per request lower is better; "
          "! = load generator above %.2f cores)" % GENERATOR_BUSY)
    print(table(summary))
    print()
    print("Server CPU us per request split into user space and kernel (medians), and the lowest "
          "and highest p99 ratio of a single round:")
    print(cpu_split_table(summary))
    steal = [r["steal_pct"] for r in runs]
    print("vCPU steal (time the host ran other guests on our cores) during the runs: "
          "median %.1f%%, max %.1f%%" % (statistics.median(steal), max(steal)))
    if args.rate_percent:
        print("%s profiles: open loop at a fixed rate (the offered_rate column of summary.csv), "
              "latency from each request's scheduled time" % (RATE_SUFFIX % args.rate_percent))
    print()
    print("results: %s" % " ".join(sorted(os.listdir(out_dir))) + " in " + out_dir)
    if png:
        print("plot: %s" % png)
    errors = sum(r["errors"] for r in runs)
    if errors:
        print("WARNING: %d errors in all runs (see runs.csv)" % errors)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
