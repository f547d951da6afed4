#!/usr/bin/python3
"""Hit ratio under a Zipf workload larger than memory: treecached vs memcached.

Both servers get the same -m and the same request stream: a cache-aside loop
(get; on a miss, set) over KEYS keys whose popularity follows Zipf(skew).
Requests go in pipelined batches; after a warm-up the hit ratio is measured.

Usage:
  /usr/bin/python3 bench/memory/hit_ratio.py --server-bin build/release/server/treecached
      [--memory-mb 16] [--keys 200000] [--value-bytes 200] [--requests 400000] [--skew 0.99]
"""

import argparse
import bisect
import random
import sys

from servers import free_port, start, stop


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def skip(self, n):
        while len(self.buf) < n:
            self.buf += self.sock.recv(1 << 20)
        self.buf = self.buf[n:]


def zipf_sampler(keys, skew, rng):
    weights = [1.0 / (rank ** skew) for rank in range(1, keys + 1)]
    total = sum(weights)
    cdf, acc = [], 0.0
    for w in weights:
        acc += w / total
        cdf.append(acc)
    order = list(range(keys))
    rng.shuffle(order)  # popularity is not tied to key order
    return lambda: order[min(bisect.bisect_left(cdf, rng.random()), keys - 1)]


def run(argv, port, stream, value, warmup):
    proc, sock = start(argv, port)
    reader = Reader(sock)
    hits = counted = 0
    try:
        for start_at in range(0, len(stream), 100):
            batch = stream[start_at:start_at + 100]
            sock.sendall(b"".join(b"get k%d\r\n" % k for k in batch))
            misses = []
            for i, key in enumerate(batch):
                line = reader.line()
                hit = line.startswith(b"VALUE")
                if hit:
                    reader.skip(int(line.split()[3]) + 2)
                    if reader.line() != b"END":
                        raise RuntimeError("bad reply")
                else:
                    misses.append(key)
                if start_at + i >= warmup:
                    counted += 1
                    hits += hit
            if misses:
                sock.sendall(b"".join(b"set k%d 0 0 %d noreply\r\n%s\r\n" % (k, len(value), value)
                                      for k in misses))
        return hits / counted
    finally:
        stop(proc, sock)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--memcached", default="/usr/bin/memcached")
    ap.add_argument("--memory-mb", type=int, default=16)
    ap.add_argument("--keys", type=int, default=200000)
    ap.add_argument("--value-bytes", type=int, default=200)
    ap.add_argument("--requests", type=int, default=400000)
    ap.add_argument("--skew", type=float, default=0.99)
    args = ap.parse_args()
    rng = random.Random(42)
    sample = zipf_sampler(args.keys, args.skew, rng)
    stream = [sample() for _ in range(args.requests)]
    value = b"v" * args.value_bytes
    warmup = args.requests // 4
    port = free_port()
    mc = run([args.memcached, "-u", "nobody", "-U", "0", "-l", "127.0.0.1", "-p", str(port),
              "-t", "1", "-m", str(args.memory_mb)], port, stream, value, warmup)
    port = free_port()
    tc = run([args.server_bin, "-l", "127.0.0.1", "-p", str(port), "-t", "1",
              "-m", str(args.memory_mb)], port, stream, value, warmup)
    data_mb = args.keys * (args.value_bytes + 16) / 2**20
    print("Zipf %.2f, %d keys x %d B (~%.0f MiB of data), -m %d, %d requests (first %d warm-up)"
          % (args.skew, args.keys, args.value_bytes, data_mb, args.memory_mb, args.requests, warmup))
    print("| server | hit ratio |")
    print("|---|---|")
    print("| memcached | %.4f |" % mc)
    print("| treecached | %.4f |" % tc)
    print("difference: %+.2f points" % ((tc - mc) * 100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
