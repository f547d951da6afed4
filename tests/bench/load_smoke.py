#!/usr/bin/python3
"""Smoke test of treecached-bench against treecached and stock memcached.

Starts each server on a free loopback port and runs short fixed-count loads:
a get/set/multiget mix with pipelining, get-only after --preload (hit ratio
1.0), a miss-only run (hit ratio 0.0), CSV output and open-loop (--rate)
runs; then checks that a refused connection is reported as an error, and
that --rate charges a slow server for the requests queued behind it (a fake
server that answers every 50 ms). Every JSON result must parse.

Usage:
  /usr/bin/python3 tests/bench/load_smoke.py --server-bin build/debug/server/treecached
      --bench-bin build/debug/bench/load/treecached-bench [--memcached-bin /usr/bin/memcached]
"""

import argparse
import csv
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

# Servers are started and stopped the way bench/compare does it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                                "compare"))
from compare import free_port, start_server, stop_server  # noqa: E402

REQUESTS = 2000
KEYS = 1000


class Failures:
    def __init__(self):
        self.messages = []

    def check(self, condition, message):
        if not condition:
            self.messages.append(message)
            print("FAIL:", message)


def run_bench(bench, port, args, expect_rc=0):
    argv = [bench, "--port", str(port), "--keys", str(KEYS)] + args
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if done.returncode != expect_rc:
        raise RuntimeError("%s exited %d (expected %d)\nstdout:\n%s\nstderr:\n%s"
                           % (" ".join(argv), done.returncode, expect_rc, done.stdout,
                              done.stderr))
    return done


def check_server(bench, port, name, failures, workdir):
    base = ["--connections", "4", "--pipeline", "4", "--requests", str(REQUESTS)]

    # Mixed gets (multiget of 4 keys) and sets, pipelined, over preloaded keys.
    json_file = os.path.join(workdir, name + "-mix.json")
    run_bench(bench, port, base + ["--get-ratio", "0.8", "--multiget", "4", "--preload",
                                   "--threads", "2", "--json", json_file])
    with open(json_file) as f:
        mix = json.load(f)
    failures.check(mix["errors"] == 0, "%s mix: %d errors" % (name, mix["errors"]))
    failures.check(mix["requests"] == REQUESTS,
                   "%s mix: %d requests, wanted %d" % (name, mix["requests"], REQUESTS))
    failures.check(mix["gets"] + mix["sets"] == REQUESTS, "%s mix: gets + sets" % name)
    failures.check(0 < mix["sets"] < REQUESTS // 2, "%s mix: %d sets" % (name, mix["sets"]))
    failures.check(mix["keys_requested"] == 4 * mix["gets"], "%s mix: keys per get" % name)
    failures.check(mix["hit_ratio"] == 1.0, "%s mix: hit ratio %s" % (name, mix["hit_ratio"]))
    failures.check(mix["preload"]["requests"] == KEYS and mix["preload"]["errors"] == 0,
                   "%s mix: preload %s" % (name, mix["preload"]))
    lat = mix["latency_us"]
    failures.check(0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"],
                   "%s mix: latency percentiles out of order: %s" % (name, lat))

    # Get-only after --preload: every key is there. JSON on stdout.
    done = run_bench(bench, port, base + ["--get-ratio", "1", "--preload", "--format", "json"])
    gets = json.loads(done.stdout)
    failures.check(gets["errors"] == 0, "%s get: errors" % name)
    failures.check(gets["requests"] == REQUESTS and gets["gets"] == REQUESTS,
                   "%s get: %d requests" % (name, gets["requests"]))
    failures.check(gets["hit_ratio"] == 1.0, "%s get: hit ratio %s" % (name, gets["hit_ratio"]))

    # Keys that were never stored: all misses. CSV on stdout.
    done = run_bench(bench, port, base + ["--get-ratio", "1", "--key-prefix", "absent:",
                                          "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    failures.check(len(rows) == 1, "%s miss: %d CSV rows" % (name, len(rows)))
    failures.check(rows and float(rows[0]["hit_ratio"]) == 0.0 and rows[0]["errors"] == "0"
                   and rows[0]["requests"] == str(REQUESTS), "%s miss: %s" % (name, rows))

    # Open loop: request i is scheduled at i/rate, so a 1 s run at 2000/s is
    # exactly 2000 requests (1000 per thread), taking at least 1 s.
    done = run_bench(bench, port, ["--connections", "4", "--threads", "2", "--rate", "2000",
                                   "--duration", "1", "--get-ratio", "1", "--format", "json"])
    paced = json.loads(done.stdout)
    failures.check(paced["errors"] == 0 and paced["requests"] == 2000,
                   "%s rate: %d requests, %d errors" % (name, paced["requests"], paced["errors"]))
    failures.check(0.99 <= paced["seconds"] < 10 and paced["config"]["rate"] == 2000,
                   "%s rate: took %.3f s" % (name, paced["seconds"]))
    # --requests with --rate: the count is exact and pipelining still works.
    done = run_bench(bench, port, ["--connections", "3", "--pipeline", "2", "--rate", "1000",
                                   "--requests", "300", "--get-ratio", "0.5", "--format", "json"])
    counted = json.loads(done.stdout)
    failures.check(counted["errors"] == 0 and counted["requests"] == 300
                   and 0.29 <= counted["seconds"] < 10,
                   "%s rate+requests: %d requests in %.3f s"
                   % (name, counted["requests"], counted["seconds"]))
    print("%s: mix %.0f req/s p99 %.0f us; get hit ratio %.3f; miss OK; --rate p99 %.0f us"
          % (name, mix["ops_per_sec"], lat["p99"], gets["hit_ratio"],
             paced["latency_us"]["p99"]))


def slow_server(delay):
    """A fake memcached on a free port that answers each request line with
    END after `delay` seconds, one at a time. Returns (port, stop function)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def serve(conn):
        with conn:
            pending = b""
            while not stop.is_set():
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                pending += data
                while b"\r\n" in pending:
                    _, pending = pending.split(b"\r\n", 1)
                    stop.wait(delay)
                    conn.sendall(b"END\r\n")

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()

    def close():
        stop.set()
        listener.close()

    return listener.getsockname()[1], close


def check_open_loop_counts_queueing(bench, failures):
    """One connection to a server that takes 50 ms per request. Closed loop,
    each request waits ~50 ms. At 40 requests/s (one every 25 ms) the server
    falls further behind with every request: request i waits about
    i * 25 ms, and --rate must report that, not the 50 ms service time."""
    port, close = slow_server(0.05)
    try:
        common = ["--port", str(port), "--connections", "1", "--get-ratio", "1",
                  "--requests", "20", "--keys", "10", "--format", "json"]
        closed = json.loads(subprocess.run([bench] + common, capture_output=True, text=True,
                                           timeout=60).stdout)
        opened = json.loads(subprocess.run([bench] + common + ["--rate", "40"],
                                           capture_output=True, text=True, timeout=60).stdout)
    finally:
        close()
    for label, result in (("closed", closed), ("open", opened)):
        failures.check(result["errors"] == 0 and result["requests"] == 20,
                       "slow server %s loop: %s" % (label, result))
    closed_p50 = closed["latency_us"]["p50"]
    open_max = opened["latency_us"]["max"]
    failures.check(45_000 <= closed_p50 < 200_000,
                   "slow server closed loop: p50 %.0f us, wanted ~50 ms" % closed_p50)
    # The last request is scheduled at 19 * 25 ms = 475 ms and answered at
    # about 20 * 50 ms = 1000 ms.
    # Request i waits about 50 + 25 * i ms, so the median is near 290 ms.
    open_p50 = opened["latency_us"]["p50"]
    failures.check(450_000 <= open_max,
                   "slow server open loop: max %.0f us, wanted >= 450 ms" % open_max)
    failures.check(150_000 <= open_p50,
                   "slow server open loop: p50 %.0f us, wanted ~290 ms" % open_p50)
    print("slow server: closed loop p50 %.0f us; open loop p50 %.0f us, max %.0f us"
          % (closed_p50, open_p50, open_max))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-bin", required=True)
    parser.add_argument("--bench-bin", required=True)
    parser.add_argument("--memcached-bin", default="/usr/bin/memcached")
    args = parser.parse_args()
    failures = Failures()

    done = subprocess.run([args.bench_bin, "--help"], capture_output=True, text=True)
    failures.check(done.returncode == 0 and "--pipeline" in done.stdout, "--help")
    done = subprocess.run([args.bench_bin, "--get-ratio", "2"], capture_output=True)
    failures.check(done.returncode == 64, "bad option: exit %d" % done.returncode)

    servers = [("treecached", lambda port: [args.server_bin, "-l", "127.0.0.1", "-p", str(port),
                                            "-t", "2", "-m", "64"])]
    if os.path.exists(args.memcached_bin):
        servers.append(("memcached", lambda port: [args.memcached_bin, "-u", "nobody", "-U", "0",
                                                   "-l", "127.0.0.1", "-p", str(port), "-t", "2",
                                                   "-m", "64"]))
    else:
        print("note: %s not found, memcached part skipped" % args.memcached_bin)

    with tempfile.TemporaryDirectory() as workdir:
        for name, argv in servers:
            port = free_port()
            proc = start_server(name, argv(port), port)
            try:
                check_server(args.bench_bin, port, name, failures, workdir)
            finally:
                stop_server(proc)

        check_open_loop_counts_queueing(args.bench_bin, failures)

        # Nothing listens there any more: every connection is an error, exit status 1.
        done = run_bench(args.bench_bin, port, ["--connections", "3", "--requests", "10",
                                                "--format", "json"], expect_rc=1)
        refused = json.loads(done.stdout)
        failures.check(refused["connection_errors"] == 3 and refused["requests"] == 0,
                       "refused: %s" % refused)

    if failures.messages:
        print("%d check(s) failed" % len(failures.messages))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
