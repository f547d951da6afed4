#!/usr/bin/python3
"""Bytes per item: treecached against stock memcached, side by side.

For each value size, starts a fresh treecached and a fresh memcached with the
same memory limit and one worker thread, loads N items with 16-byte keys into
each (pipelined `set ... noreply`), and reports (RSS loaded - RSS empty) / N.

Usage:
  /usr/bin/python3 bench/memory/bytes_per_item.py --server-bin build/release/server/treecached
      [--items 1000000] [--sizes 32,100,1000] [--memory-mb 4096]
"""

import argparse
import sys
import time

from servers import free_port, start, stop


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for pid %d" % pid)


def sync(sock):
    sock.sendall(b"version\r\n")
    reply = b""
    while not reply.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed")
        reply += chunk
    if not reply.startswith(b"VERSION"):
        raise RuntimeError("unexpected reply %r" % reply[:100])


def load(sock, items, value_size):
    value = b"v" * value_size
    batch = []
    for i in range(items):
        batch.append(b"set key:%012d 0 0 %d noreply\r\n%s\r\n" % (i, value_size, value))
        if len(batch) == 2000:
            sock.sendall(b"".join(batch))
            batch = []
    if batch:
        sock.sendall(b"".join(batch))
    sync(sock)


def curr_items(sock):
    sock.sendall(b"stats\r\n")
    data = b""
    while not data.endswith(b"END\r\n"):
        data += sock.recv(65536)
    for line in data.split(b"\r\n"):
        if line.startswith(b"STAT curr_items "):
            return int(line.split()[2])
    return -1


def measure(name, argv, port, items, value_size):
    proc, sock = start(argv, port)
    try:
        sync(sock)
        time.sleep(0.2)
        empty = rss_bytes(proc.pid)
        load(sock, items, value_size)
        time.sleep(0.5)
        loaded = rss_bytes(proc.pid)
        stored = curr_items(sock)
        return {"server": name, "empty": empty, "loaded": loaded, "stored": stored,
                "per_item": (loaded - empty) / items}
    finally:
        stop(proc, sock)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--memcached", default="/usr/bin/memcached")
    ap.add_argument("--items", type=int, default=1000000)
    ap.add_argument("--sizes", default="32,100,1000")
    ap.add_argument("--memory-mb", type=int, default=4096)
    args = ap.parse_args()
    print("| value bytes | server | items stored | RSS empty MiB | bytes/item | vs memcached |")
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        port = free_port()
        mc = measure("memcached", [args.memcached, "-u", "nobody", "-U", "0", "-l", "127.0.0.1",
                                   "-p", str(port), "-t", "1", "-m", str(args.memory_mb)],
                     port, args.items, size)
        port = free_port()
        tc = measure("treecached", [args.server_bin, "-l", "127.0.0.1", "-p", str(port), "-t", "1",
                                    "-m", str(args.memory_mb)], port, args.items, size)
        for r in (mc, tc):
            print("| %d | %s | %d | %.1f | %.1f | %.2fx |" % (
                size, r["server"], r["stored"], r["empty"] / 2**20, r["per_item"],
                r["per_item"] / mc["per_item"]))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
