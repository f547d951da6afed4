#!/usr/bin/python3
"""RSS under a write flood: does the process stay near its -m budget?

Starts treecached with `-m MB`, writes TOTAL MiB of values whose sizes are
log-uniform between 10 bytes and MAX bytes (noreply sets over one
connection), samples the RSS as it goes, and prints the peak next to the
budget and the empty process.

Usage:
  /usr/bin/python3 bench/memory/flood_rss.py --server-bin build/release/server/treecached
      [--memory-mb 32] [--max-value 100000] [--total-mb 400] [--connections 1]

With several connections the batches go round-robin over them, so that the
server's worker threads all allocate and free.
"""

import argparse
import random
import socket
import sys

from servers import free_port, start, stop


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def stats(sock):
    sock.sendall(b"stats\r\n")
    data = b""
    while not data.endswith(b"END\r\n"):
        data += sock.recv(65536)
    return dict(line.split()[1:3] for line in data.decode().split("\r\n")
                if line.startswith("STAT "))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--memory-mb", type=int, default=32)
    ap.add_argument("--max-value", type=int, default=100000)
    ap.add_argument("--total-mb", type=int, default=400)
    ap.add_argument("--connections", type=int, default=1)
    args = ap.parse_args()
    port = free_port()
    proc, sock = start([args.server_bin, "-l", "127.0.0.1", "-p", str(port), "-t", "2",
                        "-m", str(args.memory_mb)], port)
    socks = [sock] + [socket.create_connection(("127.0.0.1", port), timeout=60)
                      for _ in range(args.connections - 1)]
    try:
        empty = rss_mib(proc.pid)
        rng = random.Random(1)
        written = peak = 0
        key = 0
        while written < args.total_mb * 2**20:
            batch = []
            for _ in range(200):
                size = int(10 * (args.max_value / 10) ** rng.random())
                batch.append(b"set k%d 0 0 %d noreply\r\n%s\r\n" % (key % 2000000, size, b"x" * size))
                written += size
                key += 1
            socks[key // 200 % len(socks)].sendall(b"".join(batch))
            if key % 20000 == 0:
                for s in socks:  # every connection has caught up
                    s.sendall(b"version\r\n")
                    s.recv(100)
                peak = max(peak, rss_mib(proc.pid))
        for s in socks:
            s.sendall(b"version\r\n")
            s.recv(100)
        s = stats(sock)
        peak = max(peak, rss_mib(proc.pid))
        print("-m %d MiB, values 10..%d B, %d MiB written: empty RSS %.1f MiB, peak RSS %.1f MiB "
              "(budget + empty = %.1f MiB); bytes %s, curr_items %s, evictions %s"
              % (args.memory_mb, args.max_value, written / 2**20, empty, peak,
                 args.memory_mb + empty, s["bytes"], s["curr_items"], s["evictions"]))
    finally:
        for s in socks[1:]:
            s.close()
        stop(proc, sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
