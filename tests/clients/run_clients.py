#!/usr/bin/python3
"""Drive a memcached-protocol server through real client software.

Clients used:
  * pymemcache (Debian python3-pymemcache; run with /usr/bin/python3)
      - pymemcache.client.base.Client, HashClient, PooledClient
  * libmemcached-tools (memccp, memccat, memcrm, memcflush, memcstat,
    memctouch, memcexist)
  * memccapable -a (libmemcached's ascii protocol conformance checker)
  * a few raw-socket checks for things the installed clients cannot send
    (gat/gats: pymemcache 3.5.2 has no gat; oversize-item swallowing;
    251-byte keys, which pymemcache refuses client-side)

Usage:
  /usr/bin/python3 run_clients.py --server-bin PATH [--server-arg X ...]
  /usr/bin/python3 run_clients.py --memcached          # stock /usr/bin/memcached

The server is started as `PATH -l 127.0.0.1 -p PORT -t 2 [extra args]` on a
free loopback port, and killed at the end.  One line per test is printed
(`PASS name` / `FAIL name: why`), then `N passed, M failed`.  The exit code is
non-zero if anything failed.
"""

import argparse
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

try:
    from pymemcache.client.base import Client, PooledClient
    from pymemcache.client.hash import HashClient
    from pymemcache import exceptions as pmexc
    import pymemcache
except ImportError:  # pragma: no cover
    sys.stderr.write(
        "cannot import pymemcache with %s; run this file with /usr/bin/python3 "
        "(Debian's python3-pymemcache)\n" % sys.executable)
    sys.exit(2)

HOST = "127.0.0.1"
CLIENT_TIMEOUT = 10.0        # seconds, every pymemcache socket op
TOOL_TIMEOUT = 20.0          # seconds, every libmemcached-tools invocation
MEMCCAPABLE_TIMEOUT = 45.0   # seconds, the whole memccapable run
ITEM_SIZE_MAX = 1024 * 1024  # default -I

# memccapable (libmemcached 1.1.4) ascii tests, in the order it runs them.
MEMCCAPABLE_ASCII_TESTS = [
    "ascii version", "ascii quit", "ascii verbosity", "ascii set",
    "ascii set noreply", "ascii get", "ascii gets", "ascii mget",
    "ascii flush", "ascii flush noreply", "ascii add", "ascii add noreply",
    "ascii replace", "ascii replace noreply", "ascii cas", "ascii cas noreply",
    "ascii delete", "ascii delete noreply", "ascii incr", "ascii incr noreply",
    "ascii decr", "ascii decr noreply", "ascii append", "ascii append noreply",
    "ascii prepend", "ascii prepend noreply", "ascii stat",
]

STATS_KEYS = ["pid", "uptime", "curr_items", "get_hits", "get_misses", "bytes",
              "limit_maxbytes", "threads", "curr_connections", "cmd_get",
              "cmd_set"]


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise TestFailure("%s: expected %s, got %s"
                          % (what, short(expected), short(actual)))


def short(v, limit=120):
    r = repr(v)
    if len(r) > limit:
        r = r[:limit] + "...(%d chars)" % len(r)
    return r


def raises(exc_type, fn, *args, **kwargs):
    """Call fn, require that it raises exc_type; return the exception."""
    try:
        r = fn(*args, **kwargs)
    except exc_type as e:
        return e
    except Exception as e:  # wrong exception
        raise TestFailure("expected %s, got %s: %s"
                          % (exc_type.__name__, type(e).__name__, e))
    raise TestFailure("expected %s, call returned %s"
                      % (exc_type.__name__, short(r)))


# --------------------------------------------------------------------------
# Server management
# --------------------------------------------------------------------------

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server(object):
    def __init__(self, binary, extra_args):
        self.binary = binary
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.log = tempfile.NamedTemporaryFile(
            prefix="treecached-clients-server-", suffix=".log", delete=False)

    def start(self, attempts=3):
        last_err = "?"
        for _ in range(attempts):
            self.port = free_port()
            argv = [self.binary, "-l", HOST, "-p", str(self.port), "-t", "2"]
            argv += self.extra_args
            self.argv = argv
            self.log.seek(0)
            self.log.truncate()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=self.log,
                                         start_new_session=True)
            deadline = time.time() + 10
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    last_err = "server exited with code %s during startup" \
                        % self.proc.returncode
                    break
                try:
                    s = socket.create_connection((HOST, self.port), timeout=0.5)
                    s.close()
                    return
                except OSError:
                    time.sleep(0.05)
            else:
                last_err = "server did not accept TCP on %s:%d within 10 s" \
                    % (HOST, self.port)
                self.stop()
                break  # not a port clash; retrying will not help
            # exited early: maybe the port was taken in the meantime; retry
        raise RuntimeError("%s (argv: %s)\n--- server output ---\n%s"
                           % (last_err, " ".join(self.argv), self.output()))

    def owns_pid(self, pid):
        """True if pid is the server process or one of its descendants
        (the latter when --server-bin is a wrapper script)."""
        for _ in range(16):
            if pid == self.proc.pid:
                return True
            try:
                with open("/proc/%d/status" % pid) as f:
                    ppid = int(re.search(r"(?m)^PPid:\s*(\d+)", f.read()).group(1))
            except (OSError, AttributeError, ValueError):
                return False
            if ppid <= 1:
                return False
            pid = ppid
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Terminate the server (its whole process group, so wrapper
        scripts' children go too)."""
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                p.wait(timeout=5)
        # leftovers in the group (e.g. a wrapper script's child)
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def output(self, tail=4000):
        try:
            self.log.flush()
            with open(self.log.name, "rb") as f:
                data = f.read()
            return data[-tail:].decode("utf-8", "replace")
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        try:
            self.log.close()
            os.unlink(self.log.name)
        except OSError:
            pass


# --------------------------------------------------------------------------
# Test context / helpers
# --------------------------------------------------------------------------

class FlagsSerde(object):
    """Returns (value, flags) from get so tests can see the flags."""

    def serialize(self, key, value):
        if isinstance(value, tuple):
            return value[0], value[1]
        return value, 0

    def deserialize(self, key, value, flags):
        return value, flags


class Ctx(object):
    def __init__(self, server, args):
        self.server = server
        self.port = server.port
        self.args = args
        self.tmpdir = tempfile.mkdtemp(prefix="treecached-clients-")
        self._clients = []

    @property
    def addr(self):
        return (HOST, self.port)

    @property
    def servers_opt(self):
        return "--servers=%s:%d" % (HOST, self.port)

    def client(self, **kw):
        kw.setdefault("default_noreply", False)
        kw.setdefault("connect_timeout", 5)
        kw.setdefault("timeout", CLIENT_TIMEOUT)
        c = Client(self.addr, **kw)
        self._clients.append(c)
        return c

    def close_clients(self):
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self._clients = []

    def raw(self):
        s = socket.create_connection(self.addr, timeout=CLIENT_TIMEOUT)
        return RawConn(s)

    def tool(self, name, *args, **kw):
        """Run a libmemcached tool; returns CompletedProcess (bytes)."""
        exe = shutil.which(name)
        if exe is None:
            raise TestFailure("%s is not installed" % name)
        argv = [exe, self.servers_opt] + list(args)
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE,
                                  timeout=kw.get("timeout", TOOL_TIMEOUT),
                                  cwd=kw.get("cwd", self.tmpdir))
        except subprocess.TimeoutExpired:
            raise TestFailure("%s timed out after %ss" % (" ".join(argv),
                                                           TOOL_TIMEOUT))

    def write_file(self, name, data):
        path = os.path.join(self.tmpdir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def stats(self):
        c = self.client()
        try:
            return c.stats()
        finally:
            c.close()


class RawConn(object):
    """Minimal line-oriented memcached text-protocol connection."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise TestFailure("server closed the connection; pending %s"
                              % short(self.buf))
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def retrieval(self):
        """Read VALUE blocks until END. Returns list of (headerfields, data)."""
        out = []
        while True:
            ln = self.line()
            if ln == b"END":
                return out
            check(ln.startswith(b"VALUE "), "expected VALUE/END, got %s"
                  % short(ln))
            parts = ln.split(b" ")
            n = int(parts[3])
            data = self.exact(n + 2)
            eq(data[-2:], b"\r\n", "data terminator")
            out.append((parts[1:], data[:-2]))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


TESTS = []


def test(name):
    def deco(fn):
        TESTS.append((name, fn))
        return fn
    return deco


# --------------------------------------------------------------------------
# pymemcache tests
# --------------------------------------------------------------------------

@test("pymemcache.set_get")
def t_set_get(ctx):
    c = ctx.client()
    eq(c.set("sg_a", "hello"), True, "set str")
    eq(c.get("sg_a"), b"hello", "get after set")
    eq(c.set("sg_a", b"world"), True, "overwrite")
    eq(c.get("sg_a"), b"world", "get after overwrite")
    eq(c.get("sg_missing"), None, "get missing")
    eq(c.get("sg_missing", default=b"dflt"), b"dflt", "get missing w/ default")
    eq(c.set("sg_empty", b""), True, "set empty value")
    eq(c.get("sg_empty"), b"", "get empty value")
    # dict-style API
    c["sg_item"] = b"x"
    eq(c["sg_item"], b"x", "__getitem__")
    del c["sg_item"]
    eq(c.get("sg_item"), None, "after __delitem__")
    # 94 distinct printable non-space ASCII characters in one key
    k = bytes(range(0x21, 0x7f))
    eq(c.set(k, b"punct"), True, "set key with all printable chars")
    eq(c.get(k), b"punct", "get key with all printable chars")


@test("pymemcache.flags")
def t_flags(ctx):
    c = ctx.client(serde=FlagsSerde())
    for fl in (0, 1, 12345, 2 ** 31, 2 ** 32 - 1):
        c.set("fl_%d" % fl, (b"v", fl))
        eq(c.get("fl_%d" % fl), (b"v", fl), "flags %d round trip" % fl)
        v, cas = c.gets("fl_%d" % fl)
        eq(v, (b"v", fl), "flags %d via gets" % fl)
    # append/prepend keep the item's original flags
    c.set("fl_app", (b"a", 7))
    eq(c.append("fl_app", (b"b", 99)), True, "append")
    eq(c.prepend("fl_app", (b"_", 98)), True, "prepend")
    eq(c.get("fl_app"), (b"_ab", 7), "flags after append/prepend")
    # flags parameter of the client call
    c.set("fl_param", b"p", flags=31)
    eq(c.get("fl_param"), (b"p", 31), "explicit flags= argument")


@test("pymemcache.get_many")
def t_get_many(ctx):
    c = ctx.client()
    c.set("gm_1", b"one")
    c.set("gm_2", b"two")
    c.set("gm_4", b"four")
    r = c.get_many(["gm_1", "gm_2", "gm_3", "gm_4", "gm_5"])
    eq(r, {"gm_1": b"one", "gm_2": b"two", "gm_4": b"four"}, "get_many result")
    eq(c.get_many([]), {}, "get_many of nothing")
    eq(c.get_many(["gm_x", "gm_y"]), {}, "get_many all misses")
    r = c.gets_many(["gm_1", "gm_3", "gm_4"])
    eq(sorted(r), ["gm_1", "gm_4"], "gets_many keys")
    check(r["gm_1"][0] == b"one" and r["gm_4"][0] == b"four",
          "gets_many values: %s" % short(r))
    check(r["gm_1"][1] != r["gm_4"][1], "distinct items share a cas unique: %s"
          % short(r))


@test("pymemcache.set_many")
def t_set_many(ctx):
    c = ctx.client()
    vals = {"sm_%d" % i: ("value-%d" % i).encode() for i in range(50)}
    eq(c.set_many(vals), [], "set_many failed keys")
    eq(c.get_many(list(vals)), vals, "values after set_many")
    vals2 = {k: v + b"-2" for k, v in vals.items()}
    eq(c.set_many(vals2, noreply=True), [], "set_many noreply")
    eq(c.get_many(list(vals2)), vals2, "values after set_many noreply")


@test("pymemcache.add")
def t_add(ctx):
    c = ctx.client()
    c.delete("add_k")
    eq(c.add("add_k", b"first"), True, "add new key")
    eq(c.add("add_k", b"second"), False, "add existing key")
    eq(c.get("add_k"), b"first", "value after failed add")
    c.delete("add_k")
    eq(c.add("add_k", b"third"), True, "add after delete")
    eq(c.get("add_k"), b"third", "value after re-add")


@test("pymemcache.replace")
def t_replace(ctx):
    c = ctx.client()
    eq(c.replace("rep_missing", b"x"), False, "replace missing key")
    eq(c.get("rep_missing"), None, "replace must not create")
    c.set("rep_k", b"old")
    eq(c.replace("rep_k", b"new"), True, "replace existing")
    eq(c.get("rep_k"), b"new", "value after replace")


@test("pymemcache.append_prepend")
def t_append_prepend(ctx):
    c = ctx.client()
    c.set("ap_k", b"middle")
    eq(c.append("ap_k", b"_end"), True, "append")
    eq(c.prepend("ap_k", b"start_"), True, "prepend")
    eq(c.get("ap_k"), b"start_middle_end", "after append+prepend")
    eq(c.append("ap_missing", b"x"), False, "append to missing")
    eq(c.prepend("ap_missing", b"x"), False, "prepend to missing")
    eq(c.get("ap_missing"), None, "append/prepend must not create")
    c.set("ap_bin", b"\x00\r\n")
    c.append("ap_bin", b"\xff\r\nEND\r\n")
    eq(c.get("ap_bin"), b"\x00\r\n\xff\r\nEND\r\n", "binary append")
    eq(c.append("ap_k", b""), True, "append empty")
    eq(c.get("ap_k"), b"start_middle_end", "after empty append")


@test("pymemcache.cas")
def t_cas(ctx):
    c = ctx.client()
    c.set("cas_k", b"v1")
    v, cas1 = c.gets("cas_k")
    eq(v, b"v1", "gets value")
    check(cas1.isdigit(), "cas unique not numeric: %s" % short(cas1))
    eq(c.cas("cas_k", b"v2", cas1), True, "cas with current unique (STORED)")
    eq(c.get("cas_k"), b"v2", "value after cas")
    eq(c.cas("cas_k", b"v3", cas1), False, "cas with stale unique (EXISTS)")
    eq(c.get("cas_k"), b"v2", "value after failed cas")
    v, cas2 = c.gets("cas_k")
    check(cas2 != cas1, "cas unique unchanged after successful cas")
    c.set("cas_k", b"v4")
    v, cas3 = c.gets("cas_k")
    check(cas3 not in (cas1, cas2), "cas unique reused after set")
    eq(c.cas("cas_k", b"v5", cas2), False, "cas after intervening set")
    c.delete("cas_nokey")
    eq(c.cas("cas_nokey", b"x", cas3), None, "cas on missing key (NOT_FOUND)")
    eq(c.gets("cas_nokey"), (None, None), "gets missing")
    # uniques are unique across keys
    seen = set()
    for i in range(20):
        c.set("cas_u_%d" % i, b"x")
        seen.add(c.gets("cas_u_%d" % i)[1])
    eq(len(seen), 20, "distinct cas uniques for 20 fresh items")
    # noreply cas
    v, cas4 = c.gets("cas_k")
    c.cas("cas_k", b"v6", cas4, noreply=True)
    eq(c.get("cas_k"), b"v6", "value after noreply cas")


@test("pymemcache.incr_decr")
def t_incr_decr(ctx):
    c = ctx.client()
    c.set("id_k", b"10")
    eq(c.incr("id_k", 5), 15, "incr 10+5")
    eq(c.decr("id_k", 3), 12, "decr 15-3")
    eq(c.get("id_k"), b"12", "value after incr/decr")
    eq(c.incr("id_missing", 1), None, "incr missing (NOT_FOUND)")
    eq(c.decr("id_missing", 1), None, "decr missing (NOT_FOUND)")
    eq(c.get("id_missing"), None, "incr/decr must not create")
    # decr floors at 0
    eq(c.decr("id_k", 100), 0, "decr below zero stops at 0")
    eq(c.decr("id_k", 1), 0, "decr at 0 stays 0")
    # grow in length
    c.set("id_g", b"9")
    eq(c.incr("id_g", 1), 10, "incr 9+1")
    eq(c.get("id_g"), b"10", "stored value grows to 2 digits")
    # shrink: memcached pads the old length with spaces, treecached's spec says
    # the length follows the number; accept both, the number must be right
    c.set("id_s", b"100")
    eq(c.decr("id_s", 91), 9, "decr 100-91")
    v = c.get("id_s")
    check(v is not None and v.strip() == b"9" and v.lstrip() == v,
          "value after shrinking decr: %s" % short(v))
    eq(c.incr("id_s", 1), 10, "incr after shrink")
    # 64-bit wrap
    c.set("id_w", str(2 ** 64 - 1))
    eq(c.incr("id_w", 1), 0, "incr 2^64-1 + 1 wraps to 0")
    c.set("id_w", str(2 ** 64 - 2))
    eq(c.incr("id_w", 3), 1, "incr 2^64-2 + 3 wraps to 1")
    c.set("id_w", b"10")
    eq(c.incr("id_w", 2 ** 64 - 5), 5, "incr by 2^64-5 wraps")
    c.set("id_big", str(2 ** 64 - 1))
    eq(c.decr("id_big", 1), 2 ** 64 - 2, "decr from 2^64-1")
    # errors
    c.set("id_nan", b"abc")
    e = raises(pmexc.MemcacheClientError, c.incr, "id_nan", 1)
    check(b"non-numeric" in e.args[0],
          "error text for non-numeric incr: %s" % short(e.args))
    e = raises(pmexc.MemcacheClientError, c.decr, "id_nan", 1)
    raises(pmexc.MemcacheClientError, c.incr, "id_k", 2 ** 64)
    eq(c.get("id_nan"), b"abc", "non-numeric value unchanged")
    # noreply forms
    c.set("id_nr", b"1")
    c.incr("id_nr", 5, noreply=True)
    c.decr("id_nr", 2, noreply=True)
    eq(c.get("id_nr"), b"4", "after noreply incr/decr")


@test("pymemcache.delete")
def t_delete(ctx):
    c = ctx.client()
    c.set("del_k", b"x")
    eq(c.delete("del_k"), True, "delete existing (DELETED)")
    eq(c.get("del_k"), None, "get after delete")
    eq(c.delete("del_k"), False, "delete missing (NOT_FOUND)")
    keys = ["del_m_%d" % i for i in range(30)]
    c.set_many({k: b"v" for k in keys})
    eq(c.delete_many(keys + ["del_never"]), True, "delete_many")
    eq(c.get_many(keys), {}, "get_many after delete_many")
    c.set("del_nr", b"x")
    eq(c.delete("del_nr", noreply=True), True, "delete noreply")
    eq(c.get("del_nr"), None, "after delete noreply")
    c.set_many({k: b"v" for k in keys})
    c.delete_many(keys, noreply=True)
    eq(c.get_many(keys), {}, "get_many after delete_many noreply")


# A note on short TTLs.  memcached keeps a 1-second clock and computes
# exptime = now + ttl, expiring when exptime <= now; so an item stored with
# ttl 1 lives anywhere in (0, 1] s and may already be gone a few ms after it
# was stored.  Checks that an item is still present right after it was stored
# therefore use ttl 2 (lives (1, 2] s), and all "must be gone" checks start
# at 2.1 s and poll until 3.5 s (wait_until_gone).


def wait_until_gone(c, keys, first=2.1, limit=3.5):
    """Sleep `first` seconds, then poll until none of keys is found; False if
    some key is still there `limit` seconds after the call."""
    t0 = time.time()
    time.sleep(first)
    while True:
        if not c.get_many(keys):
            return True
        if time.time() - t0 > limit:
            return False
        time.sleep(0.1)


@test("pymemcache.touch")
def t_touch(ctx):
    c = ctx.client()
    eq(c.touch("touch_missing", 10), False, "touch missing (NOT_FOUND)")
    eq(c.get("touch_missing"), None, "touch must not create")
    c.set("touch_extend", b"a", expire=2)
    c.set("touch_shorten", b"b")
    c.set("touch_shorten1", b"b1")
    c.set("touch_noreply", b"c")
    eq(c.touch("touch_extend", 100), True, "touch existing (TOUCHED)")
    eq(c.touch("touch_shorten", 2), True, "touch existing to 2 s")
    eq(c.touch("touch_shorten1", 1), True, "touch existing to 1 s")
    eq(c.touch("touch_noreply", 2, noreply=True), True, "touch noreply")
    eq(c.get_many(["touch_shorten", "touch_noreply"]),
       {"touch_shorten": b"b", "touch_noreply": b"c"},
       "still there right after touch to 2 s")
    keys = ["touch_shorten", "touch_shorten1", "touch_noreply"]
    check(wait_until_gone(c, keys),
          "items touched to expire in 1-2 s still present after 3.5 s: %s"
          % short(c.get_many(keys)))
    eq(c.get("touch_extend"), b"a",
       "item set with expire=2 then touched to 100 should survive")


@test("pymemcache.expire")
def t_expire(ctx):
    c = ctx.client()
    now = int(time.time())
    c.set("exp_1s", b"x", expire=1)
    c.set("exp_2s", b"x2", expire=2)
    c.set("exp_never", b"y", expire=0)
    c.set("exp_abs_future", b"z", expire=now + 100)
    c.set("exp_long", b"w", expire=2592000)           # 30 days (relative)
    eq(c.get("exp_2s"), b"x2", "expire=2 readable immediately")
    eq(c.get("exp_abs_future"), b"z", "absolute future exptime readable")
    eq(c.get("exp_long"), b"w", "exptime 2592000 (30 days) readable")
    eq(c.set("exp_neg", b"n", expire=-1), True, "set with negative exptime")
    eq(c.get("exp_neg"), None, "negative exptime = already expired")
    eq(c.set("exp_abs_past", b"p", expire=now - 10), True,
       "set with absolute past exptime")
    eq(c.get("exp_abs_past"), None, "absolute past exptime = expired")
    # absolute time barely beyond the 30-day boundary -> 1970 -> expired
    eq(c.set("exp_abs_1970", b"q", expire=2592001), True,
       "set with exptime 2592001")
    eq(c.get("exp_abs_1970"), None, "exptime 2592001 is absolute (1970)")
    check(wait_until_gone(c, ["exp_1s", "exp_2s"]),
          "items with expire=1/2 still present after 3.5 s: %s"
          % short(c.get_many(["exp_1s", "exp_2s"])))
    eq(c.get("exp_never"), b"y", "expire=0 item must stay")
    eq(c.get("exp_abs_future"), b"z", "absolute future item must stay")
    eq(c.get("exp_long"), b"w", "30-day item must stay")


@test("pymemcache.flush_all")
def t_flush_all(ctx):
    c = ctx.client()
    c2 = ctx.client()
    keys = ["fa_%d" % i for i in range(20)]
    c.set_many({k: b"v" for k in keys})
    eq(c.flush_all(), True, "flush_all (OK)")
    eq(c.get_many(keys), {}, "items after flush_all")
    eq(c2.get_many(keys), {}, "items after flush_all (other connection)")
    # items stored right after a flush (same second) must be visible
    c.set("fa_after", b"new")
    eq(c.get("fa_after"), b"new", "set right after flush_all")
    eq(c.add("fa_0", b"re"), True, "add of a flushed key")
    eq(c.flush_all(noreply=True), True, "flush_all noreply")
    eq(c.get("fa_after"), None, "after flush_all noreply")
    eq(c2.get("fa_0"), None, "after flush_all noreply (other connection)")


@test("pymemcache.stats")
def t_stats(ctx):
    c = ctx.client()
    s0 = c.stats()
    for k in STATS_KEYS:
        check(k.encode() in s0, "stats lacks %s (has %d keys)" % (k, len(s0)))
        check(isinstance(s0[k.encode()], int),
              "stats %s not an integer: %s" % (k, short(s0[k.encode()])))
    check(ctx.server.owns_pid(s0[b"pid"]), "stats pid %s is not the server "
          "process (%d) or a child of it" % (s0[b"pid"], ctx.server.proc.pid))
    eq(s0[b"threads"], 2, "stats threads (-t 2)")
    check(s0[b"curr_connections"] >= 1, "curr_connections < 1")
    check(s0[b"uptime"] >= 0, "negative uptime")
    if "-m" not in ctx.server.extra_args:
        eq(s0[b"limit_maxbytes"], 64 * 1024 * 1024, "limit_maxbytes default")
    for k in ("version", "time", "total_connections", "cmd_touch",
              "get_expired", "delete_hits", "delete_misses", "incr_hits",
              "incr_misses", "decr_hits", "decr_misses", "cas_hits",
              "cas_misses", "cas_badval", "touch_hits", "touch_misses",
              "bytes_read", "bytes_written", "total_items", "evictions"):
        check(k.encode() in s0, "stats lacks %s" % k)
    # counters move as expected (this connection is the only active one)
    c.set("st_a", b"12345")
    c.set("st_b", b"1")
    c.get("st_a")
    c.get("st_missing")
    c.delete("st_b")
    c.delete("st_missing")
    c.set("st_n", b"5")
    c.incr("st_n", 1)
    c.incr("st_missing", 1)
    c.decr("st_n", 1)
    c.decr("st_missing", 1)
    c.touch("st_a", 100)
    c.touch("st_missing", 100)
    _, cas = c.gets("st_a")
    c.cas("st_a", b"x", cas)
    c.cas("st_a", b"y", cas)
    c.cas("st_missing", b"y", cas)
    s1 = c.stats()

    def d(k):
        return s1[k.encode()] - s0[k.encode()]
    expect = {"cmd_get": 3, "get_hits": 2, "get_misses": 1, "cmd_set": 6,
              "delete_hits": 1, "delete_misses": 1, "incr_hits": 1,
              "incr_misses": 1, "decr_hits": 1, "decr_misses": 1,
              "touch_hits": 1, "touch_misses": 1, "cmd_touch": 2,
              "cas_hits": 1, "cas_badval": 1, "cas_misses": 1}
    bad = ["%s %+d (want %+d)" % (k, d(k), v) for k, v in expect.items()
           if d(k) != v]
    # 3 sets + 1 successful cas link new items; an incr/decr may or may not
    # (memcached updates in place when it can)
    if not 4 <= d("total_items") <= 6:
        bad.append("total_items %+d (want +4..+6)" % d("total_items"))
    check(not bad, "stats deltas wrong: " + ", ".join(bad))
    check(s1[b"curr_items"] >= 2, "curr_items < 2 with 2 live items")
    check(s1[b"bytes"] > 0, "bytes == 0 with live items")
    check(s1[b"bytes_read"] > s0[b"bytes_read"], "bytes_read did not grow")
    check(s1[b"bytes_written"] > s0[b"bytes_written"],
          "bytes_written did not grow")
    check(s1[b"uptime"] >= s0[b"uptime"], "uptime went backwards")
    # stats settings
    st = c.stats("settings")
    for k in ("maxbytes", "maxconns", "tcpport", "item_size_max",
              "num_threads"):
        check(k.encode() in st, "stats settings lacks %s" % k)
    eq(st[b"tcpport"], ctx.port, "stats settings tcpport")
    eq(st[b"num_threads"], 2, "stats settings num_threads")
    if "-I" not in ctx.server.extra_args:
        eq(st[b"item_size_max"], ITEM_SIZE_MAX, "stats settings item_size_max")


@test("pymemcache.version")
def t_version(ctx):
    c = ctx.client()
    v = c.version()
    check(isinstance(v, bytes) and len(v) > 0 and b" " not in v,
          "version: %s" % short(v))
    eq(c.stats()[b"version"], v, "stats version vs version command")


@test("pymemcache.binary_values")
def t_binary(ctx):
    c = ctx.client()
    allbytes = bytes(range(256))
    vals = {
        "bin_all": allbytes,
        "bin_all4": allbytes * 4,
        "bin_rev": bytes(reversed(allbytes)),
        "bin_crlf": b"\r\n",
        "bin_end": b"x\r\nEND\r\n",
        "bin_value": b"VALUE bin_value 0 5\r\nhello\r\nEND\r\n",
        "bin_nul": b"\x00" * 100,
        "bin_lf": b"\n\n\n",
    }
    for k, v in vals.items():
        eq(c.set(k, v), True, "set %s" % k)
        eq(c.get(k), v, "get %s" % k)
    eq(c.get_many(list(vals)), vals, "get_many binary values")
    eq({k: v for k, (v, cas) in c.gets_many(list(vals)).items()}, vals,
       "gets_many binary values")


@test("pymemcache.large_value")
def t_large(ctx):
    c = ctx.client()
    big = os.urandom(1000000)
    eq(c.set("large_1m", big), True, "set 1,000,000-byte value")
    got = c.get("large_1m")
    check(got == big, "1,000,000-byte value mismatch (got %s bytes)"
          % (None if got is None else len(got)))
    v, cas = c.gets("large_1m")
    check(v == big, "gets of 1,000,000-byte value mismatch")
    eq(c.append("large_1m", b"tail"), True, "append to 1,000,000-byte value")
    got = c.get("large_1m")
    check(got == big + b"tail", "append result mismatch")
    too_big = b"z" * (ITEM_SIZE_MAX + 1)
    e = raises(pmexc.MemcacheServerError, c.set, "large_over", too_big)
    check(b"object too large" in e.args[0],
          "oversize error text: %s" % short(e.args))
    eq(c.get("large_over"), None, "oversize value must not be stored")
    e = raises(pmexc.MemcacheServerError, c.set, "large_over2",
               b"z" * (2 * ITEM_SIZE_MAX))
    check(b"object too large" in e.args[0],
          "2 MiB error text: %s" % short(e.args))
    # the client reconnects after the error; the server must still serve
    eq(c.set("large_small", b"ok"), True, "set after oversize error")
    eq(c.get("large_small"), b"ok", "get after oversize error")


@test("pymemcache.too_large_set_drops_old_value")
def t_too_large_old(ctx):
    # memcached: a failed oversize *set* unlinks the old item so stale data
    # does not persist (process_update_command, "Avoid stale data persisting").
    c = ctx.client()
    c.set("tl_old", b"old")
    raises(pmexc.MemcacheServerError, c.set, "tl_old", b"z" * (ITEM_SIZE_MAX + 1))
    eq(c.get("tl_old"), None, "old value after a refused oversize set")


@test("pymemcache.noreply")
def t_noreply(ctx):
    c = ctx.client(default_noreply=True)
    keys = ["nr_%d" % i for i in range(20)]
    for k in keys:
        eq(c.set(k, k.encode()), True, "noreply set")
    c.add("nr_0", b"ADDED")                # not stored: exists
    c.add("nr_new", b"added")              # stored
    c.replace("nr_1", b"replaced")
    c.replace("nr_missing", b"x")          # not stored
    c.append("nr_2", b"+app")
    c.prepend("nr_3", b"pre+")
    c.delete("nr_4")
    c.delete("nr_missing")
    c.touch("nr_5", 100)
    c.set("nr_num", b"5")
    c.incr("nr_num", 10, noreply=True)
    c.decr("nr_num", 3, noreply=True)
    c.incr("nr_missing", 1, noreply=True)
    # same connection: a stray reply from any noreply command above would be
    # read here and make pymemcache raise MemcacheUnknownError
    r = c.get_many(keys + ["nr_new", "nr_missing", "nr_num"])
    exp = {k: k.encode() for k in keys}
    exp.update({"nr_new": b"added", "nr_1": b"replaced", "nr_2": b"nr_2+app",
                "nr_3": b"pre+nr_3", "nr_num": b"12"})
    del exp["nr_4"]
    eq(r, exp, "state after noreply commands (same connection)")
    eq(c.version() != b"", True, "version after noreply burst")
    c2 = ctx.client()
    eq(c2.get_many(list(exp) + ["nr_4", "nr_missing"]), exp,
       "state after noreply commands (other connection)")


@test("pymemcache.key_250_bytes")
def t_key250(ctx):
    c = ctx.client()
    k = "k" * 249 + "Z"
    eq(len(k), 250, "key length")
    eq(c.set(k, b"long"), True, "set with 250-byte key")
    eq(c.get(k), b"long", "get with 250-byte key")
    r = c.get_many([k, "short_key_x"])
    eq(r, {k: b"long"}, "get_many with 250-byte key")
    v, cas = c.gets(k)
    eq(c.cas(k, b"long2", cas), True, "cas with 250-byte key")
    eq(c.touch(k, 100), True, "touch with 250-byte key")
    eq(c.delete(k), True, "delete with 250-byte key")
    # pymemcache refuses 251 bytes client-side (nothing is sent)
    raises(pmexc.MemcacheIllegalInputError, c.set, "k" * 251, b"x")


@test("raw.key_251_bytes_rejected")
def t_key251_raw(ctx):
    r = ctx.raw()
    try:
        r.send(b"get " + b"k" * 251 + b"\r\n")
        ln = r.line()
        check(ln.startswith(b"CLIENT_ERROR"),
              "get with 251-byte key: %s" % short(ln))
        r.send(b"get " + b"k" * 250 + b"\r\n")
        eq(r.line(), b"END", "connection usable after CLIENT_ERROR")
    finally:
        r.close()


@test("pymemcache.many_keys")
def t_many(ctx):
    c = ctx.client()
    n = 5000
    keys = ["many_%05d" % i for i in range(n)]
    vals = {k: ("v%d" % i).encode() * (1 + i % 7) for i, k in enumerate(keys)}
    for i in range(0, n, 500):
        chunk = {k: vals[k] for k in keys[i:i + 500]}
        eq(c.set_many(chunk), [], "set_many chunk %d" % i)
    got = {}
    for i in range(0, n, 100):
        got.update(c.get_many(keys[i:i + 100]))
    check(got == vals, "get_many (100-key chunks): %d/%d right"
          % (sum(1 for k in keys if got.get(k) == vals[k]), n))
    # one multi-get with 1000 keys (~11 KB command line)
    r = c.get_many(keys[1000:2000])
    check(r == {k: vals[k] for k in keys[1000:2000]},
          "1000-key get_many: %d/1000 right" % len(r))
    r = c.gets_many(keys[:300])
    eq(len(r), 300, "300-key gets_many")
    s = c.stats()
    check(s[b"curr_items"] >= n, "curr_items %d < %d" % (s[b"curr_items"], n))
    c.delete_many(keys)
    eq(c.get_many(keys[:100]) or c.get_many(keys[-100:]), {},
       "after delete_many")


@test("pymemcache.utf8_key")
def t_utf8(ctx):
    c = ctx.client(allow_unicode_keys=True)
    k = u"cl\u00e9_\u043a\u043b\u044e\u0447_\u2603"
    eq(c.set(k, u"snow\u2603".encode("utf-8")), True, "set utf-8 key")
    eq(c.get(k), u"snow\u2603".encode("utf-8"), "get utf-8 key")
    eq(c.get_many([k]), {k: u"snow\u2603".encode("utf-8")}, "get_many utf-8")


@test("pymemcache.quit_reconnect")
def t_quit(ctx):
    c = ctx.client()
    c.set("quit_k", b"v")
    c.quit()
    eq(c.get("quit_k"), b"v", "get after quit (client reconnects)")


@test("pymemcache.hashclient")
def t_hashclient(ctx):
    hc = HashClient([ctx.addr], default_noreply=False, connect_timeout=5,
                    timeout=CLIENT_TIMEOUT)
    try:
        eq(hc.set("hc_a", b"1"), True, "HashClient set")
        eq(hc.get("hc_a"), b"1", "HashClient get")
        eq(hc.add("hc_a", b"2"), False, "HashClient add existing")
        eq(hc.set_many({"hc_b": b"2", "hc_c": b"3"}), [], "HashClient set_many")
        eq(hc.get_many(["hc_a", "hc_b", "hc_c", "hc_d"]),
           {"hc_a": b"1", "hc_b": b"2", "hc_c": b"3"}, "HashClient get_many")
        eq(hc.incr("hc_a", 41), 42, "HashClient incr")
        v, cas = hc.gets("hc_b")
        eq(hc.cas("hc_b", b"22", cas), True, "HashClient cas")
        eq(hc.delete("hc_c"), True, "HashClient delete")
        eq(hc.get("hc_c"), None, "HashClient get deleted")
    finally:
        hc.close()


def run_threads(target, n, budget=30.0):
    """Run target(i, stop) in n threads; stop is set on the first error or
    when the time budget runs out.  Returns (errors, timed_out)."""
    errors = []
    stop = threading.Event()

    def wrap(i):
        try:
            target(i, stop, errors)
        except Exception as e:
            errors.append("%s: %s" % (type(e).__name__, e))
        if errors:
            stop.set()
    ths = [threading.Thread(target=wrap, args=(i,), daemon=True)
           for i in range(n)]
    for th in ths:
        th.start()
    deadline = time.time() + budget
    for th in ths:
        th.join(max(0.0, deadline - time.time()))
    timed_out = any(th.is_alive() for th in ths)
    stop.set()
    for th in ths:
        th.join(CLIENT_TIMEOUT + 1)
    return errors, timed_out


@test("pymemcache.pooledclient_threads")
def t_pooled(ctx):
    pc = PooledClient(ctx.addr, max_pool_size=8, default_noreply=False,
                      connect_timeout=5, timeout=CLIENT_TIMEOUT)
    pc.set("pool_ctr", b"0")
    nthreads, nops = 8, 150

    def worker(t, stop, errors):
        for i in range(nops):
            if stop.is_set():
                return
            k = "pool_%d_%d" % (t, i)
            v = ("%d:%d" % (t, i)).encode()
            if not pc.set(k, v):
                errors.append("set %s failed" % k)
            got = pc.get(k)
            if got != v:
                errors.append("get %s: %r" % (k, got))
            if pc.incr("pool_ctr", 1) is None:
                errors.append("incr pool_ctr returned None (NOT_FOUND)")
            if errors:
                return
    try:
        errors, timed_out = run_threads(worker, nthreads)
        check(not errors, "%d errors, first: %s" % (len(errors), errors[:3]))
        check(not timed_out, "worker threads did not finish within 30 s")
        eq(pc.get("pool_ctr"), str(nthreads * nops).encode(),
           "counter after %d concurrent incr" % (nthreads * nops))
    finally:
        pc.close()


@test("pymemcache.concurrent_clients_incr_cas")
def t_concurrent(ctx):
    c0 = ctx.client()
    c0.set("cc_ctr", b"0")
    c0.set("cc_cas", b"0")
    nthreads, nops = 6, 100

    def worker(t, stop, errors):
        c = Client(ctx.addr, default_noreply=False, connect_timeout=5,
                   timeout=CLIENT_TIMEOUT)
        try:
            for _ in range(nops):
                if stop.is_set():
                    return
                if c.incr("cc_ctr", 1) is None:
                    errors.append("incr cc_ctr returned None (NOT_FOUND)")
                    return
                # optimistic read-modify-write loop through gets/cas
                for _attempt in range(200):
                    v, cas = c.gets("cc_cas")
                    if v is None:
                        errors.append("gets cc_cas: miss")
                        return
                    if c.cas("cc_cas", str(int(v) + 1), cas):
                        break
                    if stop.is_set():
                        return
                else:
                    errors.append("cas failed 200 times in a row")
                    return
        finally:
            c.close()
    errors, timed_out = run_threads(worker, nthreads)
    check(not errors, "%d errors, first: %s" % (len(errors), errors[:3]))
    check(not timed_out, "worker threads did not finish within 30 s")
    eq(c0.get("cc_ctr"), str(nthreads * nops).encode(), "incr counter")
    eq(c0.get("cc_cas"), str(nthreads * nops).encode(),
       "gets/cas counter (lost updates?)")


# --------------------------------------------------------------------------
# raw-socket checks for commands the installed clients cannot send
# --------------------------------------------------------------------------

@test("raw.gat_gats")
def t_gat(ctx):
    # pymemcache 3.5.2 (Debian 12) has no gat/gats, so these go raw.
    c = ctx.client()
    c.set("gat_k", b"hello", flags=5)
    c.set("gat_short", b"bye")
    _, cas = c.gets("gat_k")
    r = ctx.raw()
    try:
        r.send(b"gat 100 gat_k gat_missing\r\n")
        eq(r.retrieval(), [([b"gat_k", b"5", b"5"], b"hello")], "gat reply")
        r.send(b"gats 100 gat_k\r\n")
        eq(r.retrieval(), [([b"gat_k", b"5", b"5", cas], b"hello")],
           "gats reply (cas as from gets)")
        r.send(b"gat 1 gat_short\r\n")
        eq(r.retrieval(), [([b"gat_short", b"0", b"3"], b"bye")], "gat 1")
        r.send(b"gat 100 gat_missing\r\n")
        eq(r.retrieval(), [], "gat miss")
    finally:
        r.close()
    check(wait_until_gone(c, ["gat_short"]),
          "item after gat with exptime 1 still there after 3.5 s")
    eq(c.get("gat_k"), b"hello", "item after gat 100")


@test("raw.too_large_is_swallowed")
def t_swallow(ctx):
    c = ctx.client()
    c.set("sw_k", b"still-here")
    r = ctx.raw()
    try:
        n = ITEM_SIZE_MAX + 1
        # data contains protocol-looking lines; they must not be executed
        data = (b"get sw_k\r\n" * (n // 10 + 1))[:n]
        r.send(b"set sw_big 0 0 %d\r\n" % n + data + b"\r\nget sw_k\r\n")
        eq(r.line(), b"SERVER_ERROR object too large for cache",
           "oversize set reply")
        eq(r.retrieval(), [([b"sw_k", b"0", b"10"], b"still-here")],
           "next command on the same connection")
    finally:
        r.close()


# --------------------------------------------------------------------------
# libmemcached-tools
# --------------------------------------------------------------------------

def rc_ok(p, what):
    check(p.returncode == 0, "%s: exit %d, stderr %s" %
          (what, p.returncode, short(p.stderr)))


def rc_fail(p, what):
    check(p.returncode != 0, "%s: expected non-zero exit, got 0 (stdout %s)" %
          (what, short(p.stdout)))


@test("libmemcached.memccp_memccat")
def t_memccp(ctx):
    data = b"line one\nline two\r\n" + bytes(range(256)) + b"\r\nEND\r\n"
    path = ctx.write_file("lm_file.bin", data)
    rc_ok(ctx.tool("memccp", path), "memccp")
    p = ctx.tool("memccat", "lm_file.bin")
    rc_ok(p, "memccat")
    # memccat writes the value followed by one newline
    eq(p.stdout, data + b"\n", "memccat stdout")
    out = os.path.join(ctx.tmpdir, "lm_out.bin")
    rc_ok(ctx.tool("memccat", "--file=" + out, "lm_file.bin"), "memccat --file")
    with open(out, "rb") as f:
        eq(f.read(), data, "memccat --file contents")
    eq(ctx.client().get("lm_file.bin"), data, "pymemcache sees memccp's value")
    # larger file (900 KB)
    big = os.urandom(900 * 1024)
    bpath = ctx.write_file("lm_big.bin", big)
    rc_ok(ctx.tool("memccp", bpath), "memccp 900 KB")
    p = ctx.tool("memccat", "lm_big.bin")
    rc_ok(p, "memccat 900 KB")
    check(p.stdout == big + b"\n", "memccat 900 KB mismatch (%d bytes)"
          % len(p.stdout))
    # several keys, one missing
    ctx.client().set("lm_other", b"other")
    p = ctx.tool("memccat", "lm_file.bin", "lm_nokey", "lm_other")
    rc_fail(p, "memccat with a missing key")
    eq(p.stdout, data + b"\n" + b"other\n", "memccat multi-key stdout")


@test("libmemcached.memccp_flags_expire_add_replace")
def t_memccp_opts(ctx):
    path = ctx.write_file("lm_opts", b"abc")
    rc_ok(ctx.tool("memccp", "--flags=123", "--expire=1000", path),
          "memccp --flags --expire")
    p = ctx.tool("memccat", "-F", "lm_opts")
    rc_ok(p, "memccat -F")
    eq(p.stdout, b"123\nabc\n", "memccat -F output (flags line, value)")
    c = ctx.client(serde=FlagsSerde())
    eq(c.get("lm_opts"), (b"abc", 123), "pymemcache sees flags")
    # --add on an existing key fails, value unchanged
    path2 = ctx.write_file("lm_opts", b"xyz")
    p = ctx.tool("memccp", "--add", path2)
    rc_fail(p, "memccp --add existing")
    eq(c.get("lm_opts"), (b"abc", 123), "value after failed --add")
    # --replace on existing works
    rc_ok(ctx.tool("memccp", "--replace", path2), "memccp --replace existing")
    eq(c.get("lm_opts"), (b"xyz", 0), "value after --replace")
    # --replace on a missing key fails and creates nothing
    path3 = ctx.write_file("lm_opts_missing", b"q")
    rc_fail(ctx.tool("memccp", "--replace", path3), "memccp --replace missing")
    eq(c.get("lm_opts_missing"), None, "--replace must not create")
    rc_ok(ctx.tool("memccp", "--add", path3), "memccp --add missing")
    eq(c.get("lm_opts_missing"), (b"q", 0), "value after --add")


@test("libmemcached.memccat_missing")
def t_memccat_missing(ctx):
    p = ctx.tool("memccat", "lm_never_set")
    rc_fail(p, "memccat missing key")
    eq(p.stdout, b"", "memccat missing stdout")


@test("libmemcached.memcrm")
def t_memcrm(ctx):
    c = ctx.client()
    c.set("lm_rm1", b"1")
    c.set("lm_rm2", b"2")
    rc_ok(ctx.tool("memccat", "lm_rm1"), "memccat before rm")
    rc_ok(ctx.tool("memcrm", "lm_rm1", "lm_rm2"), "memcrm two keys")
    rc_fail(ctx.tool("memccat", "lm_rm1"), "memccat after memcrm")
    eq(c.get_many(["lm_rm1", "lm_rm2"]), {}, "pymemcache after memcrm")
    rc_fail(ctx.tool("memcrm", "lm_rm1"), "memcrm missing key")


@test("libmemcached.memcflush")
def t_memcflush(ctx):
    c = ctx.client()
    keys = ["lm_fl_%d" % i for i in range(10)]
    c.set_many({k: b"v" for k in keys})
    rc_ok(ctx.tool("memcflush"), "memcflush")
    eq(c.get_many(keys), {}, "items after memcflush")
    c.set("lm_fl_after", b"x")
    eq(c.get("lm_fl_after"), b"x", "set after memcflush")


@test("libmemcached.memcstat")
def t_memcstat(ctx):
    p = ctx.tool("memcstat")
    rc_ok(p, "memcstat")
    out = p.stdout.decode("utf-8", "replace")
    check(("Server: %s (%d)" % (HOST, ctx.port)) in out,
          "memcstat header missing: %s" % short(out))
    names = dict(re.findall(r"(?m)^\t(\w+): (.*)$", out))
    missing = [k for k in STATS_KEYS + ["version", "total_items"]
               if k not in names]
    check(not missing, "memcstat lacks %s" % missing)
    check(names["pid"].isdigit() and ctx.server.owns_pid(int(names["pid"])),
          "memcstat pid %s is not the server process" % names["pid"])
    eq(names["threads"], "2", "memcstat threads")
    # -S prints "host:port version" (to stderr in libmemcached 1.1.4)
    p = ctx.tool("memcstat", "-S")
    rc_ok(p, "memcstat -S")
    ver = ctx.client().version().decode()
    both = (p.stdout + p.stderr).decode("utf-8", "replace")
    check(("%s:%d %s" % (HOST, ctx.port, ver)) in both,
          "memcstat -S output: %s" % short(both))
    p = ctx.tool("memcstat", "settings")
    rc_ok(p, "memcstat settings")
    out = p.stdout.decode("utf-8", "replace")
    check(re.search(r"(?m)^\ttcpport: %d$" % ctx.port, out),
          "memcstat settings lacks tcpport: %s" % short(out))


@test("libmemcached.memctouch")
def t_memctouch(ctx):
    c = ctx.client()
    c.set("lm_t_short", b"s")
    c.set("lm_t_long", b"l", expire=2)
    rc_ok(ctx.tool("memctouch", "--expire=100", "lm_t_long"),
          "memctouch -e 100 existing")
    rc_ok(ctx.tool("memctouch", "--expire=1", "lm_t_short"),
          "memctouch -e 1 existing")
    rc_fail(ctx.tool("memctouch", "--expire=100", "lm_t_missing"),
            "memctouch missing key")
    eq(c.get("lm_t_missing"), None, "memctouch must not create")
    check(wait_until_gone(c, ["lm_t_short"]),
          "item memctouch'ed to 1 s still present after 3.5 s")
    eq(c.get("lm_t_long"), b"l", "item set with ttl 2, memctouch'ed to 100 s")
    rc_ok(ctx.tool("memctouch", "lm_t_long"), "memctouch without -e (touch 0)")
    eq(c.get("lm_t_long"), b"l", "after touch 0")


@test("libmemcached.memcexist")
def t_memcexist(ctx):
    if shutil.which("memcexist") is None:
        return "SKIP memcexist not installed"
    c = ctx.client()
    c.set("lm_ex", b"here")
    rc_ok(ctx.tool("memcexist", "lm_ex"), "memcexist existing")
    eq(c.get("lm_ex"), b"here", "memcexist must not change existing value")
    # memcexist sends `add KEY 0 2678400 0` (an absolute exptime in 1970):
    # NOT_STORED means "exists", STORED means "did not exist" -- and the
    # stored item must be born expired.
    rc_fail(ctx.tool("memcexist", "lm_ex_missing"), "memcexist missing")
    eq(c.get("lm_ex_missing"), None, "memcexist must not create the key")
    rc_fail(ctx.tool("memcexist", "lm_ex_missing"), "memcexist missing (again)")


# --------------------------------------------------------------------------
# memccapable
# --------------------------------------------------------------------------

def run_memccapable(ctx, xfail):
    """Returns list of (name, ok, why)."""
    exe = shutil.which("memccapable")
    if exe is None:
        return [("memccapable", False, "memccapable not installed")]
    argv = [exe, "-a", "-v", "-h", HOST, "-p", str(ctx.port)]
    stdbuf = shutil.which("stdbuf")
    if stdbuf:  # keep -v assertion text next to the test it belongs to
        argv = [stdbuf, "-o0", "-e0"] + argv
    t0 = time.time()
    timed_out = False
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=MEMCCAPABLE_TIMEOUT)
        out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        rc, timed_out = None, True
    dt = time.time() - t0
    starts = [(m.start(), m.group(1)) for m in
              re.finditer(r"(?m)^(ascii [a-z]+(?: [a-z]+)*) *", out)]
    seg = {}
    for i, (pos, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(out)
        seg[name] = out[pos + len(name):end]
    results = []
    for name in MEMCCAPABLE_ASCII_TESTS:
        tname = "memccapable." + name.replace(" ", "_")
        s = seg.get(name)
        if s is None:
            why = "did not run (memccapable %s after %.1fs)" % (
                "timed out" if timed_out else "exited %s" % rc, dt)
            ok = False
        elif "[pass]" in s:
            ok, why = True, ""
        elif "[FAIL]" in s:
            detail = " | ".join(x.strip() for x in s.splitlines()
                                if x.strip() and x.strip() != "[FAIL]")
            ok, why = False, "[FAIL] " + (detail or "(no detail)")
        else:
            ok, why = False, "no result (%s)" % (
                "timed out" if timed_out else "output: %s" % short(s))
        if not ok and name.replace(" ", "_") in xfail:
            results.append((tname, True, "XFAIL(allowed by --memccapable-xfail): "
                            + why))
        else:
            results.append((tname, ok, why))
    unknown = [n for _, n in starts if n not in MEMCCAPABLE_ASCII_TESTS]
    summary_ok = (rc == 0 and "All tests passed" in out and not unknown)
    why = "" if summary_ok else "exit %s, unexpected tests %s, tail %s" % (
        "timeout" if timed_out else rc, unknown, short(out[-300:], 400))
    if not summary_ok and all(ok for _, ok, _ in results) and xfail:
        summary_ok, why = True, "XFAIL(allowed by --memccapable-xfail): " + why
    results.append(("memccapable.summary", summary_ok, why))
    return results


# --------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------

class Runner(object):
    def __init__(self, server, args):
        self.server = server
        self.args = args
        self.passed = 0
        self.failed = 0
        self.unresponsive = False
        self.ctx = Ctx(server, args)

    def report(self, name, ok, why=""):
        if ok:
            self.passed += 1
            line = "PASS %s" % name
            if why and self.args.verbose or why.startswith("XFAIL"):
                line += " (%s)" % why
        else:
            self.failed += 1
            line = "FAIL %s: %s" % (name, " ".join(str(why).split()))
        print(line, flush=True)

    def selected(self, name):
        return self.args.only is None or re.search(self.args.only, name)

    def responsive(self):
        """Quick health probe: does `version` get a reply within 3 s?"""
        try:
            s = socket.create_connection((HOST, self.server.port), timeout=3)
            try:
                s.sendall(b"version\r\n")
                buf = b""
                while b"\r\n" not in buf:
                    d = s.recv(4096)
                    if not d:
                        return False
                    buf += d
                return True
            finally:
                s.close()
        except OSError:
            return False

    def precheck(self, name):
        if not self.server.alive():
            self.report(name, False, "server is not running (exit code %s)"
                        % self.server.proc.returncode)
            return False
        if self.unresponsive:
            self.report(name, False, "skipped: server stopped answering "
                        "`version` after an earlier failure")
            return False
        return True

    def run_one(self, name, fn):
        if not self.precheck(name):
            return
        t0 = time.time()
        try:
            r = fn(self.ctx)
            if isinstance(r, str) and r.startswith("SKIP"):
                print("SKIP %s: %s" % (name, r[5:]), flush=True)
                return
            ok, why = True, ""
        except TestFailure as e:
            ok, why = False, str(e)
        except Exception as e:
            tb = traceback.extract_tb(e.__traceback__)
            where = ""
            for fr in reversed(tb):
                if fr.filename == os.path.abspath(__file__) or \
                        fr.filename.endswith("run_clients.py"):
                    where = " (line %d)" % fr.lineno
                    break
            ok, why = False, "%s: %s%s" % (type(e).__name__, e, where)
        finally:
            self.ctx.close_clients()
        if not self.server.alive():
            died = "server died during the test (exit code %s)" \
                % self.server.proc.returncode
            why = "%s [%s]" % (why, died) if not ok else died
            ok = False
        if not ok and self.server.alive() and not self.responsive():
            self.unresponsive = True
            why += " [server no longer answers `version` within 3 s]"
        if self.args.verbose:
            why = (why + " " if why else "") + "[%.2fs]" % (time.time() - t0)
        self.report(name, ok, why)

    def run(self):
        for name, fn in TESTS:
            if self.selected(name):
                self.run_one(name, fn)
        if self.args.no_memccapable:
            return
        if any(self.selected("memccapable." + n.replace(" ", "_"))
               for n in MEMCCAPABLE_ASCII_TESTS + ["summary"]):
            if not self.precheck("memccapable"):
                return
            xfail = set(x.replace(" ", "_") for x in self.args.memccapable_xfail)
            for name, ok, why in run_memccapable(self.ctx, xfail):
                if self.selected(name):
                    self.report(name, ok, why)
            if not self.server.alive():
                self.report("memccapable.server_alive", False,
                            "server died during memccapable (exit code %s)"
                            % self.server.proc.returncode)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server-bin", help="server executable")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra server argument (repeatable; use "
                         "--server-arg=-x for values starting with '-')")
    ap.add_argument("--memcached", action="store_true",
                    help="shortcut: /usr/bin/memcached -u nobody -U 0 "
                         "(plus any --server-arg)")
    ap.add_argument("--only", "-k", metavar="REGEX",
                    help="run only tests whose name matches REGEX")
    ap.add_argument("--no-memccapable", action="store_true",
                    help="skip the memccapable run")
    ap.add_argument("--memccapable-xfail", action="append", default=[],
                    metavar="TEST", help="memccapable test allowed to fail, "
                    "e.g. 'ascii_delete' (reported as PASS with XFAIL note)")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="show per-test timing")
    ap.add_argument("--list", action="store_true", help="list tests and exit")
    a = ap.parse_args(argv)
    if a.list:
        return a
    if a.memcached:
        a.server_bin = a.server_bin or "/usr/bin/memcached"
        a.server_arg = ["-u", "nobody", "-U", "0"] + a.server_arg
    if not a.server_bin:
        ap.error("--server-bin PATH (or --memcached) is required")
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        for name, _ in TESTS:
            print(name)
        for n in MEMCCAPABLE_ASCII_TESTS + ["summary"]:
            print("memccapable." + n.replace(" ", "_"))
        return 0
    server = Server(args.server_bin, args.server_arg)

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(server.cleanup)

    t0 = time.time()
    runner = None
    try:
        try:
            server.start()
        except (RuntimeError, OSError) as e:
            print("FAIL server_start: %s" % " ".join(str(e).split()), flush=True)
            print("0 passed, 1 failed")
            return 1
        print("# server: %s (port %d, pid %d); pymemcache %s"
              % (" ".join(server.argv), server.port, server.proc.pid,
                 pymemcache.__version__), flush=True)
        runner = Runner(server, args)
        runner.run()
        if not server.alive():
            runner.report("server_alive_at_end", False,
                          "server exited with code %s; output tail: %s"
                          % (server.proc.returncode, server.output(1500)))
    except KeyboardInterrupt:
        print("# interrupted", flush=True)
        if runner is not None:
            runner.failed += 1
    finally:
        server.stop()
        if runner is not None:
            shutil.rmtree(runner.ctx.tmpdir, ignore_errors=True)
    if runner is None:
        print("0 passed, 1 failed")
        return 1
    print("# %.1f s" % (time.time() - t0))
    print("%d passed, %d failed" % (runner.passed, runner.failed))
    return 0 if runner.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
