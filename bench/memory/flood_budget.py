#!/usr/bin/python3
"""Memory-budget flood: does `stats bytes` stay <= `limit_maxbytes` at all times?

The memory limit `-m` is a hard budget: at no moment may the server's `stats bytes`
exceed its `limit_maxbytes`. This script starts a server (treecached by default,
stock memcached with --memcached) with `-t T -m M`, floods it from N writer
connections and watches it from one more:

- Writers (one thread and one connection each) pipeline batches of `set`s of
  log-uniformly random sizes between --min-value and --max-value over a key space
  --key-factor times the budget, with --append-ratio of the operations appends or
  prepends to keys the writer set recently (so they mostly hit and grow large
  items, kept under --item-max), and --incr-ratio incrs of a few small numeric keys
  (each answer checked against the writer's own arithmetic). Each writer owns its
  keys, so it knows what each reply must be. `SERVER_ERROR out of memory storing
  object` (and `SERVER_ERROR out of memory` for incr) is tolerated and counted;
  any other error reply, an unexpected or wrong answer, a stream out of step, a
  closed connection or a dead server is a failure.
- A poller (its own process, so the writers' GIL does not slow it) sends `stats`
  as fast as the server answers and reads /proc/PID/status (VmRSS, VmHWM) every
  few ms. It records the peak `bytes`, the number of polls, the polls that saw
  `bytes > limit_maxbytes` (with the first few such samples), the peak RSS (the
  higher of the kernel's VmHWM, which catches peaks between samples, and the
  highest sample) and, before the flood, the empty process's RSS.

It runs for --seconds (or until --total-mb MiB of values were written), prints a
short summary, writes everything to --json FILE if given, and exits 1 if any poll
saw bytes > limit_maxbytes or (with --rss-limit-mb) the peak RSS exceeded the
bound; 2 on a protocol failure or a dead server.

Usage:
  /usr/bin/python3 bench/memory/flood_budget.py [--server-bin build/release/server/treecached]
      [--memcached] [-t 2] [-m 64] [--connections 16] [--seconds 20 | --total-mb 2000]
      [--min-value 100] [--max-value 500000] [--append-ratio 0.1] [--incr-ratio 0.02]
      [--rss-limit-mb auto|X] [--json out.json]

  --rss-limit-mb auto is the team's acceptance bound: M MiB + 10% + 16 MiB
  (86.4 MiB at -m 64). ctest's `memory_budget` runs it at -t 2 -m 8 for 10 s.
"""

import argparse
import json
import math
import multiprocessing
import os
import random
import re
import socket
import sys
import threading
import time

from servers import free_port, start, stop

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

OOM = b"SERVER_ERROR out of memory storing object"
OOM_ARITH = b"SERVER_ERROR out of memory"
BYTES_RE = re.compile(rb"\r\nSTAT bytes (\d+)\r\n")
LIMIT_RE = re.compile(rb"\r\nSTAT limit_maxbytes (\d+)\r\n")
RSS_RE = re.compile(rb"VmRSS:\s+(\d+) kB")
HWM_RE = re.compile(rb"VmHWM:\s+(\d+) kB")
# Item header, key and "\r\n" are under this; appends keep items this far below --item-max.
ITEM_SLACK = 1024
COUNTERS = 4  # small numeric keys per writer


class Failure(Exception):
    pass


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise Failure("connection closed by the server")
        self.buf += chunk

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            if len(self.buf) > 4096:
                raise Failure("reply line longer than 4 KiB: %r" % self.buf[:100])
            self.fill()

    def until(self, terminator):
        while not self.buf.endswith(terminator):
            self.fill()
        data, self.buf = self.buf, b""
        return data


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def proc_status(pid):
    """(VmRSS, VmHWM) in KiB, or None if the process is gone."""
    try:
        with open("/proc/%d/status" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    rss, hwm = RSS_RE.search(data), HWM_RE.search(data)
    if rss is None or hwm is None:
        return None
    return int(rss.group(1)), int(hwm.group(1))


def stats(sock, reader):
    sock.sendall(b"stats\r\n")
    data = reader.until(b"END\r\n")
    return {k.decode(): v.decode() for k, v in
            (line.split(b" ", 2)[1:3] for line in data.split(b"\r\n")
             if line.startswith(b"STAT "))}


# ---------------------------------------------------------------------------- poller

def poller(port, pid, stop_evt, ready_evt, out, status_interval):
    """Polls `stats` back to back until stop_evt; sends its findings through `out`."""
    result = {"polls": 0, "polls_over": 0, "peak_bytes": 0, "peak_bytes_at_s": None,
              "limit_maxbytes": None, "first_over": [], "peak_rss_sampled_kib": 0,
              "timeline": [], "error": None}
    try:
        sock = connect(port)
        reader = Reader(sock)
        t0 = time.monotonic()
        next_status = 0.0
        second = 0
        sec_peak = sec_rss = 0
        ready_evt.set()
        polls = over = peak = 0
        limit = None
        while True:
            if polls & 31 == 0 and stop_evt.is_set():
                break
            sock.sendall(b"stats\r\n")
            data = reader.until(b"END\r\n")
            now = time.monotonic() - t0
            b = BYTES_RE.search(data)
            lim = LIMIT_RE.search(data)
            if b is None or lim is None:
                raise Failure("stats reply without bytes or limit_maxbytes: %r" % data[:200])
            used, limit = int(b.group(1)), int(lim.group(1))
            polls += 1
            if used > peak:
                peak = used
                result["peak_bytes_at_s"] = round(now, 3)
            if used > limit:
                over += 1
                if len(result["first_over"]) < 10:
                    result["first_over"].append({"t_s": round(now, 4), "bytes": used,
                                                 "over_by": used - limit})
            if used > sec_peak:
                sec_peak = used
            if now >= next_status:
                next_status = now + status_interval
                st = proc_status(pid)
                if st is None:
                    raise Failure("server process gone")
                result["peak_rss_sampled_kib"] = max(result["peak_rss_sampled_kib"], st[0])
                sec_rss = max(sec_rss, st[0])
            if int(now) > second:
                result["timeline"].append({"t_s": second, "peak_bytes": sec_peak,
                                           "peak_rss_kib": sec_rss})
                second, sec_peak, sec_rss = int(now), 0, 0
        result.update(polls=polls, polls_over=over, peak_bytes=peak, limit_maxbytes=limit,
                      seconds=time.monotonic() - t0)
        sock.close()
    except (OSError, Failure) as e:
        result["error"] = "poller: %s" % e
        ready_evt.set()
    out.send(result)
    out.close()


# ---------------------------------------------------------------------------- writers

class Shared:
    def __init__(self):
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failures = []
        self.written = 0  # value bytes sent, all writers

    def fail(self, msg):
        with self.lock:
            self.failures.append(msg)
        self.stop.set()


class Writer(threading.Thread):
    def __init__(self, idx, port, args, keys, pad, shared):
        super().__init__(daemon=True)
        self.idx, self.port, self.args, self.pad, self.sh = idx, port, args, pad, shared
        self.rng = random.Random(args.seed * 7919 + idx)
        self.keys = keys  # this writer's key count
        self.size = {}  # key index -> value size the server must hold (absent: unknown/none)
        self.recent = []  # keys set lately: append/prepend targets
        self.counter = [None] * COUNTERS  # expected value of each numeric key, None = absent
        self.count = {"set": 0, "append": 0, "prepend": 0, "incr": 0, "counter_set": 0,
                      "stored": 0, "not_stored": 0, "not_found": 0, "oom": 0, "oom_append": 0,
                      "oom_arith": 0, "batches": 0}
        self.log_min = math.log(args.min_value)
        self.log_span = math.log(args.max_value) - self.log_min

    def value_size(self, cap=None):
        size = int(math.exp(self.log_min + self.log_span * self.rng.random()))
        return size if cap is None else min(size, cap)

    def key(self, i):
        return b"w%d:k%d" % (self.idx, i)

    def batch(self):
        """[(kind, arg, size)], request bytes."""
        a, rng = self.args, self.rng
        ops, parts, volume = [], [], 0
        while len(ops) < a.pipeline and volume < a.batch_bytes:
            r = rng.random()
            if r < a.incr_ratio:
                j = rng.randrange(COUNTERS)
                name = b"w%d:n%d" % (self.idx, j)
                if self.counter[j] is None:
                    v = b"%d" % rng.randrange(1000)
                    parts.append(b"set %s 0 0 %d\r\n%s\r\n" % (name, len(v), v))
                    ops.append(("counter_set", j, int(v)))
                else:
                    delta = rng.randrange(1, 100)
                    parts.append(b"incr %s %d\r\n" % (name, delta))
                    ops.append(("incr", j, delta))
                continue
            if r < a.incr_ratio + a.append_ratio and self.recent:
                k = rng.choice(self.recent)
                have = self.size.get(k)
                room = a.item_max - ITEM_SLACK - (have or 0)
                if have is not None and room >= a.min_value:
                    size = self.value_size(room)
                    kind = "append" if rng.random() < 0.5 else "prepend"
                    parts.append(b"%s %s 0 0 %d\r\n" % (kind.encode(), self.key(k), size))
                    parts.append(self.pad[:size])
                    parts.append(b"\r\n")
                    ops.append((kind, k, size))
                    volume += size
                    continue
            k = rng.randrange(self.keys)
            size = self.value_size()
            parts.append(b"set %s 0 0 %d\r\n" % (self.key(k), size))
            parts.append(self.pad[:size])
            parts.append(b"\r\n")
            ops.append(("set", k, size))
            volume += size
        return ops, parts, volume

    def check(self, op, line):
        kind, k, size = op
        c = self.count
        if kind in ("set", "append", "prepend", "counter_set"):
            if line == b"STORED":
                c["stored"] += 1
                if kind == "set":
                    self.size[k] = size
                    self.recent.append(k)
                    if len(self.recent) > 32:
                        del self.recent[0]
                elif kind == "counter_set":
                    self.counter[k] = size
                elif k in self.size:
                    self.size[k] += size
                # else: its size became unknown (an earlier reply in this batch was out of
                # memory), so it is no longer an append target.
                return
            if line == OOM:
                c["oom_append" if kind in ("append", "prepend") else "oom"] += 1
                # A failed set drops the old value; a failed append may or may not have.
                if kind == "counter_set":
                    self.counter[k] = None
                else:
                    self.size.pop(k, None)
                return
            if line == b"NOT_STORED" and kind in ("append", "prepend"):
                c["not_stored"] += 1  # evicted since we set it
                self.size.pop(k, None)
                return
            raise Failure("%s %s (%d B): unexpected reply %r" % (kind, self.key(k).decode(), size,
                                                                 line[:200]))
        # incr
        if line == b"NOT_FOUND":
            c["not_found"] += 1  # evicted
            self.counter[k] = None
            return
        if line == OOM_ARITH or line == OOM:
            c["oom_arith"] += 1
            self.counter[k] = None
            return
        if line.isdigit():
            if self.counter[k] is None:
                # An earlier incr of this batch ran out of memory: the value it left is
                # not known, so adopt the answer.
                self.counter[k] = int(line)
                return
            want = (self.counter[k] + size) % (1 << 64)
            if int(line) != want:
                raise Failure("incr w%d:n%d by %d: got %s, expected %d"
                              % (self.idx, k, size, line.decode(), want))
            self.counter[k] = want
            return
        raise Failure("incr w%d:n%d: unexpected reply %r" % (self.idx, k, line[:200]))

    def run(self):
        try:
            sock = connect(self.port)
            reader = Reader(sock)
            while not self.sh.stop.is_set():
                ops, parts, volume = self.batch()
                sock.sendall(b"".join(parts))
                for op in ops:
                    self.count[op[0]] += 1
                    self.check(op, reader.line())
                self.count["batches"] += 1
                with self.sh.lock:
                    self.sh.written += volume
            # The stream must still be in step: one more request, one exact answer.
            sock.sendall(b"version\r\n")
            line = reader.line()
            if not line.startswith(b"VERSION ") or reader.buf:
                raise Failure("after the flood: %r" % (line + reader.buf)[:200])
            sock.close()
        except (OSError, Failure) as e:
            self.sh.fail("writer %d: %s" % (self.idx, e))


# ---------------------------------------------------------------------------- main

def rss_limit_value(text, memory_mb):
    if text is None:
        return None
    if text == "auto":
        return memory_mb * 1.1 + 16
    return float(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog=__doc__.split("\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-bin", default=os.path.join(ROOT, "build/release/server/treecached"))
    ap.add_argument("--memcached", action="store_true",
                    help="run stock memcached (--memcached-bin) instead, for comparison")
    ap.add_argument("--memcached-bin", default="/usr/bin/memcached")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra server argument (repeatable, e.g. --server-arg=-I --server-arg=2m)")
    ap.add_argument("-t", "--threads", type=int, default=2, help="server -t (default 2)")
    ap.add_argument("-m", "--memory-mb", type=int, default=64, help="server -m (default 64)")
    ap.add_argument("--connections", type=int, default=16, help="writer connections (default 16)")
    ap.add_argument("--seconds", type=float, default=20, help="flood duration (default 20)")
    ap.add_argument("--total-mb", type=float, default=None,
                    help="stop after this many MiB of values instead (--seconds still caps it)")
    ap.add_argument("--min-value", type=int, default=100)
    ap.add_argument("--max-value", type=int, default=500 * 1000)
    ap.add_argument("--item-max", type=int, default=1 << 20,
                    help="the server's -I; appends keep items below it (default 1 MiB)")
    ap.add_argument("--append-ratio", type=float, default=0.1,
                    help="share of operations that are appends or prepends (default 0.1)")
    ap.add_argument("--incr-ratio", type=float, default=0.02,
                    help="share of operations that are incrs of small numeric keys (default 0.02)")
    ap.add_argument("--key-factor", type=float, default=4,
                    help="key space = this many times the budget at the mean value size "
                         "(default 4)")
    ap.add_argument("--pipeline", type=int, default=8,
                    help="requests per batch and connection (default 8)")
    ap.add_argument("--batch-bytes", type=int, default=2 << 20,
                    help="a batch ends once its values reach this many bytes (default 2 MiB)")
    ap.add_argument("--status-ms", type=float, default=2,
                    help="read /proc/PID/status every this many ms (default 2)")
    ap.add_argument("--rss-limit-mb", default=None,
                    help="fail if peak RSS (VmHWM) exceeds X MiB; 'auto' = M + 10%% + 16 MiB")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    if not 0 < args.min_value <= args.max_value:
        ap.error("need 0 < --min-value <= --max-value")
    rss_limit = rss_limit_value(args.rss_limit_mb, args.memory_mb)

    port = free_port()
    common = ["-l", "127.0.0.1", "-p", str(port), "-t", str(args.threads),
              "-m", str(args.memory_mb)]
    if args.memcached:
        name = "memcached"
        argv = [args.memcached_bin, "-u", "nobody", "-U", "0"] + common + args.server_arg
    else:
        name = "treecached"
        argv = [args.server_bin] + common + args.server_arg
    budget = args.memory_mb << 20
    mean = ((args.max_value - args.min_value) / math.log(args.max_value / args.min_value)
            if args.max_value > args.min_value else args.min_value)
    keys_total = max(args.connections, int(args.key_factor * budget / mean))
    keys_each = max(1, keys_total // args.connections)
    pad = memoryview((b"0123456789abcdefghijklmnopqrstuvwxyz" * (args.max_value // 36 + 2))
                     [:max(args.max_value, args.item_max)])

    proc, sock = start(argv, port)
    reader = Reader(sock)
    sh = Shared()
    failures = sh.failures
    writers = []
    poll_proc = None
    result = {}
    try:
        sock.sendall(b"version\r\n")
        version = reader.line().decode()
        time.sleep(0.3)
        empty = proc_status(proc.pid)
        before = stats(sock, reader)
        limit = int(before["limit_maxbytes"])

        ctx = multiprocessing.get_context("fork")
        stop_evt, ready_evt = ctx.Event(), ctx.Event()
        recv_end, send_end = ctx.Pipe(duplex=False)
        poll_proc = ctx.Process(target=poller, args=(port, proc.pid, stop_evt, ready_evt,
                                                     send_end, args.status_ms / 1000.0))
        poll_proc.start()
        send_end.close()
        ready_evt.wait(10)

        writers = [Writer(i, port, args, keys_each, pad, sh) for i in range(args.connections)]
        t0 = time.monotonic()
        for w in writers:
            w.start()
        deadline = t0 + args.seconds
        total = None if args.total_mb is None else args.total_mb * 2**20
        while not sh.stop.is_set():
            time.sleep(0.05)
            if proc.poll() is not None:
                sh.fail("server exited with status %s" % proc.returncode)
            elif time.monotonic() >= deadline or (total is not None and sh.written >= total):
                sh.stop.set()
        for w in writers:
            w.join(120)
            if w.is_alive():
                sh.fail("writer %d hung" % w.idx)
        elapsed = time.monotonic() - t0
        stop_evt.set()
        polled = recv_end.recv() if recv_end.poll(60) else {"error": "poller: no result"}
        poll_proc.join(10)
        if polled.get("error"):
            failures.append(polled["error"])
        after = stats(sock, reader) if proc.poll() is None else {}
        final = proc_status(proc.pid)
        if final is None:
            failures.append("server process gone at the end")
    except (OSError, Failure) as e:
        sh.fail("main: %s" % e)
        polled, after, final, elapsed, empty, limit, version = {}, {}, None, 0, None, None, "?"
        before = {}
    finally:
        sh.stop.set()
        if poll_proc is not None and poll_proc.is_alive():
            poll_proc.terminate()
        alive = proc.poll() is None
        try:
            stop(proc, sock)
        except Exception as e:  # noqa: BLE001 - report, do not mask the run's result
            failures.append("stopping the server: %s" % e)
        if not alive and not any("server exited" in f for f in failures):
            failures.append("server exited with status %s" % proc.returncode)

    counts = {}
    for w in writers:
        for k, v in w.count.items():
            counts[k] = counts.get(k, 0) + v
    peak_bytes = polled.get("peak_bytes", 0)
    polls_over = polled.get("polls_over", 0)
    # VmHWM; the kernel folds per-thread RSS counters in lazily, so a sample can be higher.
    peak_rss = (max(final[1], polled.get("peak_rss_sampled_kib", 0)) / 1024) if final else None
    empty_rss = empty[0] / 1024 if empty else None
    rss_over = rss_limit is not None and peak_rss is not None and peak_rss > rss_limit
    result = {
        "server": name, "argv": argv, "version": version,
        "config": {k: v for k, v in vars(args).items()},
        "keys": keys_each * args.connections, "mean_value_bytes": mean,
        "seconds": elapsed, "written_mib": sh.written / 2**20,
        "written_mib_per_s": sh.written / 2**20 / elapsed if elapsed else None,
        "limit_maxbytes": limit, "peak_bytes": peak_bytes,
        "peak_over_limit": peak_bytes - limit if limit else None,
        "peak_bytes_at_s": polled.get("peak_bytes_at_s"),
        "polls": polled.get("polls", 0), "polls_over_limit": polls_over,
        "polls_per_s": polled["polls"] / polled["seconds"] if polled.get("seconds") else None,
        "first_over": polled.get("first_over", []),
        "empty_rss_mib": empty_rss, "peak_rss_mib": peak_rss,
        "peak_rss_sampled_mib": polled.get("peak_rss_sampled_kib", 0) / 1024,
        "rss_limit_mib": rss_limit, "rss_over_limit": rss_over,
        "ops": counts,
        "final_stats": {k: after.get(k) for k in ("bytes", "curr_items", "evictions",
                                                  "total_items", "cmd_set")},
        "timeline": polled.get("timeline", []),
        "failures": failures,
    }
    result["ok"] = not failures and polls_over == 0 and not rss_over

    ops_total = sum(counts.get(k, 0) for k in ("set", "append", "prepend", "incr", "counter_set"))
    print("%s -t %d -m %d, %d writers, values %d..%d B (log-uniform), %d keys, "
          "%.0f%% append/prepend, %.0f%% incr, %.1f s"
          % (name, args.threads, args.memory_mb, args.connections, args.min_value,
             args.max_value, result["keys"], 100 * args.append_ratio, 100 * args.incr_ratio,
             elapsed))
    print("  written %.0f MiB (%.1f MiB/s), %d requests: %d sets, %d appends/prepends, %d incrs; "
          "out of memory %d (appends %d, incr %d); evictions %s"
          % (result["written_mib"], result["written_mib_per_s"] or 0, ops_total,
             counts.get("set", 0), counts.get("append", 0) + counts.get("prepend", 0),
             counts.get("incr", 0), counts.get("oom", 0), counts.get("oom_append", 0),
             counts.get("oom_arith", 0), after.get("evictions", "?")))
    if limit:
        print("  stats bytes: peak %s vs limit_maxbytes %s (%+d); %d polls (%.0f/s), "
              "%d above the limit"
              % ("{:,}".format(peak_bytes), "{:,}".format(limit), peak_bytes - limit,
                 result["polls"], result["polls_per_s"] or 0, polls_over))
    if peak_rss is not None:
        print("  RSS: empty %.1f MiB, peak %.1f MiB (VmHWM or highest sample; sampled peak %.1f)%s"
              % (empty_rss or 0, peak_rss, result["peak_rss_sampled_mib"],
                 "" if rss_limit is None else ", bound %.1f MiB: %s"
                 % (rss_limit, "EXCEEDED" if rss_over else "ok")))
    for f in failures[:10]:
        print("  FAILURE: %s" % f)
    print("PASS" if result["ok"] else "FAIL" + (": stats bytes above limit_maxbytes in %d polls"
                                                % polls_over if polls_over else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if failures:
        return 2
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
