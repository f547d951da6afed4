#!/usr/bin/python3
"""TTLs and a step of the wall clock (issue 12, defect 6), against memcached.

memcached keeps time on a monotonic clock relative to its start and turns
absolute exptimes into that clock once, when a request arrives; a step of the
wall clock (NTP, an operator) moves no TTL. treecached must do the same.

Each server runs under libfaketime (Debian's faketime package) with its wall
clock read from a file that the test rewrites, and its monotonic clock left
alone (FAKETIME_DONT_FAKE_MONOTONIC=1). The same steps go to stock memcached
and to the server under test, and both must answer alike:

  forward:  set keys with a 100 s TTL and with an absolute exptime 200 s
            ahead, step the wall clock 1000 s forward: all still there.
  backward: set a key with a 2 s TTL, step the wall clock 1000 s back, wait
            3 s of real time: gone (a wall-clock server keeps it 1000 s more).

Usage: clock_step.py --server-bin PATH [--memcached PATH]
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, argv, stamp_file):
        self.port = free_port()
        env = dict(os.environ)
        env.update({
            "LD_PRELOAD": FAKETIME_LIB,
            "FAKETIME_TIMESTAMP_FILE": stamp_file,
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        })
        self.proc = subprocess.Popen(argv + ["-l", "127.0.0.1", "-p", str(self.port)],
                                     env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.proc.kill()
                    raise RuntimeError("did not start: %s" % argv)
                time.sleep(0.05)
        self.buffer = b""

    def request(self, text, terminator=b"\r\n"):
        self.sock.sendall(text)
        while terminator not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buffer += chunk
        end = self.buffer.index(terminator) + len(terminator)
        reply, self.buffer = self.buffer[:end], self.buffer[end:]
        return reply

    def server_time(self):
        stats = self.request(b"stats\r\n", b"END\r\n").decode()
        for line in stats.splitlines():
            if line.startswith("STAT time "):
                return int(line.split()[2])
        raise RuntimeError("no STAT time")

    def stop(self):
        self.sock.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


def set_clock(stamp_file, offset):
    with open(stamp_file + ".tmp", "w") as f:
        f.write("%+ds\n" % offset)
    os.replace(stamp_file + ".tmp", stamp_file)


def run(name, argv, stamp_file):
    """The steps for one server; returns the list of replies."""
    set_clock(stamp_file, 0)
    server = Server(argv, stamp_file)
    replies = []
    try:
        # The wall clock as the server sees it (faked), for absolute exptimes.
        wall = server.server_time()
        replies.append(server.request(b"set rel 0 100 1\r\na\r\n"))
        replies.append(server.request(b"set abs 0 %d 1\r\nb\r\n" % (wall + 200)))
        replies.append(server.request(b"set short 0 2 1\r\nc\r\n"))
        set_clock(stamp_file, 1000)
        time.sleep(0.2)
        replies.append(server.request(b"get rel abs\r\n", b"END\r\n"))
        # `stats time` follows the server's clock, not the step.
        after = server.server_time()
        replies.append(b"time moved %s" % (b"little" if after - wall < 100 else b"with the step"))
        set_clock(stamp_file, -1000)
        time.sleep(3.2)
        replies.append(server.request(b"get short rel\r\n", b"END\r\n"))
    finally:
        server.stop()
    print("%s: %r" % (name, replies))
    return replies


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-bin", required=True)
    parser.add_argument("--memcached", default="/usr/bin/memcached")
    args = parser.parse_args()
    if not os.path.exists(FAKETIME_LIB):
        print("libfaketime is missing: apt-get install faketime", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        stamp = os.path.join(tmp, "faketime")
        reference = run("memcached", [args.memcached, "-u", "nobody", "-U", "0", "-t", "1"], stamp)
        tested = run("server", [args.server_bin, "-t", "1"], stamp)
    expected = [b"STORED\r\n", b"STORED\r\n", b"STORED\r\n",
                b"VALUE rel 0 1\r\na\r\nVALUE abs 0 1\r\nb\r\nEND\r\n", b"time moved little",
                b"VALUE rel 0 1\r\na\r\nEND\r\n"]
    ok = True
    if reference != expected:
        print("memcached itself did not behave as expected: is libfaketime working?")
        ok = False
    if tested != reference:
        print("FAIL: the server answers differently from memcached")
        ok = False
    print("passed" if ok else "failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
