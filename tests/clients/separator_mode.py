#!/usr/bin/python3
"""Separator mode through an unchanged memcached client (pymemcache).

Starts `SERVER_BIN -l 127.0.0.1 -p PORT -t 2 --key-separator :` and checks
that a stock client gets subtree invalidation from plain commands
(SPEC.md section 2, "Separator mode"): `delete user:42` drops every
`user:42:*` key. Prints one PASS/FAIL line per check and `N passed, M failed`.

Usage: /usr/bin/python3 separator_mode.py --server-bin PATH
"""

import argparse
import socket
import subprocess
import sys
import time

try:
    from pymemcache.client.base import Client
except ImportError:
    sys.stderr.write("run with /usr/bin/python3 (Debian's python3-pymemcache)\n")
    sys.exit(2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary):
    port = free_port()
    proc = subprocess.Popen([binary, "-l", "127.0.0.1", "-p", str(port), "-t", "2",
                             "--key-separator", ":"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def checks(client):
    """(name, callable) pairs; each callable raises AssertionError on failure."""

    def user_subtree_invalidation():
        client.set("user:42:name", "Ada")
        client.set("user:42:email", "ada@example.org")
        client.set("user:42:prefs:lang", "en")
        client.set("user:7:name", "Bob")
        got = client.get_many(["user:42:name", "user:42:email", "user:42:prefs:lang"])
        assert got == {"user:42:name": b"Ada", "user:42:email": b"ada@example.org",
                       "user:42:prefs:lang": b"en"}, got
        assert client.delete("user:42", noreply=False) is True
        assert client.get("user:42:name") is None
        assert client.get_many(["user:42:email", "user:42:prefs:lang"]) == {}
        assert client.get("user:7:name") == b"Bob", "another user's keys must stay"

    def parent_value_and_children_coexist():
        client.set("session:1", "meta")
        client.set("session:1:cart", "3 items")
        assert client.get("session:1") == b"meta"
        client.set("session:1", "meta2")  # a set on the parent keeps its children
        assert client.get("session:1:cart") == b"3 items"
        assert client.delete("session:1", noreply=False) is True
        assert client.get("session:1:cart") is None

    def counters_and_cas_on_paths():
        client.set("stats:page:home", "10")
        assert client.incr("stats:page:home", 5) == 15
        assert client.decr("stats:page:home", 20) == 0
        value, cas = client.gets("stats:page:home")
        assert value == b"0"
        assert client.cas("stats:page:home", "99", cas, noreply=False) is True
        assert client.cas("stats:page:home", "98", cas, noreply=False) is False
        assert client.get("stats:page:home") == b"99"

    def parent_ttl_bounds_children():
        # 2 s, not 1: with whole-second clocks a 1 s TTL may end at once.
        client.set("call:abc", "INVITE", expire=2)
        client.set("call:abc:leg1", "alice")
        assert client.get("call:abc:leg1") == b"alice"
        time.sleep(3.1)
        assert client.get("call:abc:leg1") is None

    def flat_keys_unchanged():
        client.set("plainkey", "v")
        assert client.get("plainkey") == b"v"
        assert client.add("plainkey", "w", noreply=False) is False
        assert client.delete("plainkey", noreply=False) is True
        assert client.get("plainkey") is None

    return [(f.__name__, f) for f in (user_subtree_invalidation, parent_value_and_children_coexist,
                                     counters_and_cas_on_paths, parent_ttl_bounds_children,
                                     flat_keys_unchanged)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server-bin", required=True)
    args = ap.parse_args()
    proc, port = start(args.server_bin)
    passed = failed = 0
    try:
        client = Client(("127.0.0.1", port), connect_timeout=5, timeout=5)
        for name, check in checks(client):
            try:
                check()
                print("PASS %s" % name)
                passed += 1
            except Exception as error:  # a failed check, or the client's error
                print("FAIL %s: %r" % (name, error))
                failed += 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
