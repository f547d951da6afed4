#!/usr/bin/python3
"""Soak test: many clients, every command, flat and nested keys, bad input mixed in.

Starts treecached (--server-bin, small -m, -t 2) or uses a running server
(--host/--port), then runs --clients connections (one thread each) for
--seconds. Every client owns a disjoint namespace

    <run><N>_k<i>, <run><N>_n<i>                  flat values and counters
    <run><N> s<j>, <run><N> s<j> k<i>, ... n0, d0, d0 k<i>   nested paths

and keeps a model of what the server acknowledged: for every key a list of
candidate states (normally one; several after a noreply write whose outcome
the client cannot know), each a value that names its key, client and version
("<key>|<client>|<version>|" + padding) with its flags and TTL deadline, or
"absent". Every read is checked against the model:

- a hit must be exactly one candidate (bytes, length, flags); otherwise it is
  a stale version (lost update), another key's value, a value after its
  acknowledged delete or subtree delete (resurrected), or a corrupt value;
- a miss is legitimate only when the model says absent, when the key (or an
  ancestor holding a value) may have expired (from deadline - 2 s), or when
  the server's `evictions` counter has grown since the write; such misses are
  counted ("misses allowed by expiry/eviction");
- getch listings and getr subtrees must agree with the model (no deleted
  node, no missing node that must exist, names sorted, parents first).

About 2% of operations are bad input (unknown commands, bad numbers,
negative lengths, over-long keys, values over -I, bad data chunks, over-deep
paths, garbage, a line that never ends). Each must get an error reply (or a
close, for the endless line) and the connection must stay in sync. 20% of the
clients also write unchecked "churn" values up to 100 KB so that the server
evicts. A monitor samples `stats` and the server's RSS every second.

Exit status 0 when nothing failed; 1 on any failure, a server crash or RSS
above --rss-limit-mb.

Usage:
  /usr/bin/python3 tests/soak/soak.py --server-bin build/release/server/treecached \
      [--seconds 600] [--clients 50] [--memory-mb 32] [--seed 1] [--quiet]
  /usr/bin/python3 tests/soak/soak.py --host 127.0.0.1 --port 11211 [--server-pid PID]

--self-test-corrupt makes client 0's model wrong on purpose: it expects wrong
versions of one key, forgets the sets of another, and expects a write that was
never sent to a third. The run must then fail with stale_version, resurrected
and lost_write failures (a check that the checker can fail).
"""

import argparse
import collections
import json
import os
import random
import re
import socket
import string
import subprocess
import sys
import threading
import time

PIECE_RE = re.compile(rb"\|(\d+)\|(\d+)\|")
PAD = bytes(random.Random(7).choice(string.ascii_lowercase.encode()) for _ in range(70000))
CHURN = PAD * 2  # churn values go up to 100 KB
ERROR_PREFIXES = (b"ERROR", b"CLIENT_ERROR ", b"SERVER_ERROR ")


class Closed(Exception):
    """The server closed the connection."""


class ProtocolFailure(Exception):
    """A reply that cannot be right: the connection is out of sync."""


# --------------------------------------------------------------------------
# Shared state


class Shared:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.failures = collections.Counter()
        self.failure_msgs = []
        self.ops = collections.Counter()
        self.allowed = collections.Counter()  # misses allowed: expiry / eviction
        self.bad_inputs = collections.Counter()
        self.stop = threading.Event()
        self.evictions = 0  # latest value seen by the monitor (a lower bound)
        self.peak_rss = 0.0
        self.rss = 0.0
        self.server_dead = None
        self.reconnects = 0
        self.stats = {}

    def fail(self, kind, msg):
        with self.lock:
            self.failures[kind] += 1
            if len(self.failure_msgs) < 200:
                self.failure_msgs.append("%s: %s" % (kind, msg))
            if not self.args.quiet and sum(self.failures.values()) <= 30:
                print("FAIL %s: %s" % (kind, msg), flush=True)


# --------------------------------------------------------------------------
# Connection


class Conn:
    def __init__(self, host, port, timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(str(e))

    def _fill(self):
        try:
            chunk = self.sock.recv(262144)
        except ConnectionResetError as e:
            raise Closed(str(e))
        except socket.timeout:
            raise ProtocolFailure("timeout waiting for a reply (buffered %r)" % self.buf[:100])
        if not chunk:
            raise Closed("EOF")
        self.buf += chunk

    def readline(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            if len(self.buf) > 4096:
                raise ProtocolFailure("reply line without CRLF: %r" % self.buf[:100])
            self._fill()

    def readexact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def parse_stats(conn, command=b"stats"):
    conn.send(command + b"\r\n")
    out = {}
    while True:
        line = conn.readline()
        if line == b"END":
            return out
        parts = line.split(b" ", 2)
        if len(parts) != 3 or parts[0] != b"STAT":
            raise ProtocolFailure("bad stats line %r" % line[:100])
        out[parts[1].decode()] = parts[2].decode(errors="replace")


# --------------------------------------------------------------------------
# Model


class Entry:
    __slots__ = ("value", "flags", "deadline", "ev", "cas", "prev_cas", "version", "slack")

    def __init__(self, value, flags, deadline, ev, version, prev_cas=None):
        self.value = value
        self.flags = flags
        self.deadline = deadline
        self.ev = ev
        self.cas = None
        self.prev_cas = prev_cas
        self.version = version
        # Seconds between sending the write that set `deadline` and its
        # acknowledgement: the server's deadline lies in [deadline,
        # deadline + slack] (+ its whole-second clock). None: not known yet.
        self.slack = None

    def derive(self, value=None, deadline=False, version=None):
        """A write (value given: the cas must change) or a touch (deadline
        given: the cas may or may not change, nothing is asserted)."""
        touch = value is None
        e = Entry(self.value if value is None else value, self.flags,
                  self.deadline if deadline is False else deadline, self.ev,
                  self.version if version is None else version,
                  None if touch else self.cas)
        if deadline is False:
            e.slack = self.slack
        return e


def is_number(b):
    return 0 < len(b) <= 20 and b.isdigit()


class Client:
    FLAT = 24
    LEAVES = 8
    DEEP = 4

    def __init__(self, shared, cid, host, port, run, item_size_max, max_depth):
        self.sh = shared
        self.args = shared.args
        self.cid = cid
        self.host, self.port = host, port
        self.rng = random.Random("%d-%d" % (self.args.seed, cid))
        self.ns = "%sc%d" % (run, cid)
        self.item_size_max = item_size_max
        self.max_depth = max_depth
        self.churn = cid % 5 == 4
        self.version = 0
        self.model = {}
        self.taint = set()  # subtrees whose value may have expired: descendants may be gone
        self.flat = ["%s_k%d" % (self.ns, i) for i in range(self.FLAT)]
        self.counters = ["%s_n%d" % (self.ns, i) for i in range(4)]
        self.subtrees = ["%s s%d" % (self.ns, j) for j in range(3)]
        self.nested = []
        self.nested_counters = []
        self.parents = []
        for s in self.subtrees:
            self.parents += [s, s + " d0"]
            self.nested += ["%s k%d" % (s, i) for i in range(self.LEAVES)]
            self.nested += ["%s d0 k%d" % (s, i) for i in range(self.DEEP)]
            self.nested_counters.append(s + " n0")
        self.all_keys = self.flat + self.counters + self.parents + self.nested + self.nested_counters
        for k in self.all_keys:
            self.model[k] = [None]
        self.conn = None
        self.side = None  # a second connection for some reads (another worker)
        self.pending_noreply = False
        self.corrupt_pending = self.args.self_test_corrupt and cid == 0
        self.fresh_ev = None
        self.corrupt_announced = False
        self.probe = None

    # ---- infrastructure

    def connect(self):
        if self.conn:
            self.conn.close()
        if self.side:
            self.side.close()
            self.side = None
        for _ in range(50):
            try:
                self.conn = Conn(self.host, self.port)
                self.pending_noreply = False
                return
            except OSError:
                if self.sh.stop.is_set():
                    raise
                time.sleep(0.1)
        raise Closed("cannot reconnect")

    def fail(self, kind, msg):
        self.sh.fail(kind, "client %d: %s" % (self.cid, msg))

    def count(self, op):
        self.ops[op] += 1

    def evictions_now(self):
        """Evictions counted by the server now (one stats call per operation)."""
        if self.fresh_ev is None:
            self.fresh_ev = int(parse_stats(self.conn).get("evictions", "0"))
        return self.fresh_ev

    def next_version(self):
        self.version += 1
        return self.version

    def make_value(self, key, ver, pad=None):
        if pad is None:
            r = self.rng.random()
            pad = self.rng.randrange(0, 100) if r < 0.7 else (
                self.rng.randrange(100, 2000) if r < 0.95 else self.rng.randrange(2000, 20000))
        pad = min(pad, self.item_size_max // 4)
        head = ("%s|%d|%d|" % (key, self.cid, ver)).encode()
        start = ver % 1000
        return head + PAD[start:start + pad]

    def rand_flags(self):
        r = self.rng.random()
        if r < 0.6:
            return 0
        if r < 0.9:
            return self.rng.randrange(1, 1000)
        return self.rng.randrange(0, 2**32)

    def rand_ttl(self, prob=0.15, key=None):
        """A TTL (or 0). Values with children get longer ones: once a parent
        may have expired, its subtree is only loosely checked until deleted."""
        if self.rng.random() < prob:
            if key is not None and key in self.parents:
                return self.rng.randrange(5, 16)
            return self.rng.randrange(2, 9)
        return 0

    def deadline(self, ttl, t):
        return t + ttl if ttl > 0 else None

    def ancestors(self, key):
        toks = key.split(" ")
        return [" ".join(toks[:i]) for i in range(1, len(toks))]

    def under(self, key):
        return [k for k in self.all_keys if k == key or k.startswith(key + " ")]

    def maybe_expired(self, key, t):
        for a in self.ancestors(key):
            if a in self.taint:
                return True
            for c in self.model.get(a, ()):
                if c is not None and c.deadline is not None and t >= c.deadline - 2:
                    return True
        for c in self.model[key]:
            if c is not None and c.deadline is not None and t >= c.deadline - 2:
                return True
        return False

    def set_cands(self, key, cands, t, acked=True):
        for c in cands:
            if c is not None and c.slack is None:
                c.slack = time.time() - t if acked else float("inf")
        old = self.model[key]
        if key in self.parents:
            for c in old:
                if c is not None and c.deadline is not None and t >= c.deadline - 2:
                    self.taint.add(key)
        self.model[key] = cands

    def deleted(self, key):
        for k in self.under(key):
            self.model[k] = [None]
            self.taint.discard(k)

    def absence_reason(self, key, t):
        """Why `key` may be missing now: 'model', 'expiry', 'eviction' or None."""
        cands = self.model[key]
        if None in cands:
            return "model"
        if self.maybe_expired(key, t):
            return "expiry"
        ev = min(c.ev for c in cands)
        if self.sh.evictions > ev or self.evictions_now() > ev:
            return "eviction"
        return None

    def may_be_absent(self, key, t):
        """For noreply bookkeeping: absence through the model or expiry only;
        eviction is judged at read time through the entries' ev."""
        return None in self.model[key] or self.maybe_expired(key, t)

    def present(self, key):
        return [c for c in self.model[key] if c is not None]

    # ---- checks

    def check_miss(self, key, t):
        reason = self.absence_reason(key, t)
        if reason is None:
            c = self.present(key)[0]
            self.fail("lost_write", "miss for %r, acknowledged version %d (%d bytes) not found"
                      % (key, c.version, len(c.value)))
        else:
            self.misses[reason] += 1
            if key in self.parents:
                # Its value expired or was evicted: the subtree may have gone
                # with it, or may go at the next sweep.
                self.taint.add(key)
        self.model[key] = [None]

    def check_hit(self, key, flags, data, cas, t_send):
        cands = self.model[key]
        for c in cands:
            if c is not None and c.value == data and c.flags == flags:
                if c.deadline is not None and t_send > c.deadline + c.slack + 2:
                    self.fail("expired_visible", "%r returned %.1f s after its TTL deadline"
                              % (key, t_send - c.deadline - c.slack))
                if cas is not None:
                    if c.cas is not None and c.cas != cas:
                        self.fail("cas", "%r: cas changed from %d to %d without a write"
                                  % (key, c.cas, cas))
                    elif c.prev_cas is not None and c.prev_cas == cas:
                        self.fail("cas", "%r: cas %d not changed by a write" % (key, cas))
                    c.cas = cas
                self.model[key] = [c]
                self.hits += 1
                return
        self.classify(key, flags, data, cands)
        # Follow the server from here on, to report each problem once.
        e = Entry(data, flags, None, self.sh.evictions, -1)
        e.cas = cas
        self.model[key] = [e]

    def classify(self, key, flags, data, cands):
        present = [c for c in cands if c is not None]
        short = data[:60]
        if not present:
            self.fail("resurrected", "%r returned %r after its acknowledged delete/expiry"
                      % (key, short))
            return
        if all(is_number(c.value) for c in present):
            if data == present[0].value:
                self.fail("wrong_flags", "%r flags %d, expected %d" % (key, flags, present[0].flags))
            else:
                self.fail("stale_version", "counter %r is %r, expected %r"
                          % (key, short, [c.value for c in present]))
            return
        if not data.startswith(key.encode() + b"|"):
            m = re.match(rb"([^|]*)\|", data)
            self.fail("other_key", "%r returned a value of %r: %r"
                      % (key, m.group(1) if m else None, short))
            return
        versions = [int(v) for cl, v in PIECE_RE.findall(data)]
        got = max(versions) if versions else -1
        want = max(c.version for c in present)
        if any(c.value == data for c in present):
            self.fail("wrong_flags", "%r flags %d, expected %r" % (key, flags,
                                                               [c.flags for c in present]))
        elif got < want:
            self.fail("stale_version", "%r has version %d, acknowledged version %d (lost update)"
                      % (key, got, want))
        elif any(len(c.value) != len(data) for c in present):
            self.fail("corrupt_value", "%r: %d bytes version %d, expected %r bytes version %d"
                      % (key, len(data), got, [len(c.value) for c in present], want))
        else:
            self.fail("corrupt_value", "%r: value differs from the model (version %d)" % (key, got))

    def expect(self, line, allowed, what):
        if line not in allowed:
            raise ProtocolFailure("%s: unexpected reply %r" % (what, line[:200]))

    # ---- reading values

    def read_values(self, with_cas, path_mode, what):
        out = []
        while True:
            line = self.conn.readline()
            if line == b"END":
                return out
            if not line.startswith(b"VALUE "):
                raise ProtocolFailure("%s: unexpected line %r" % (what, line[:200]))
            n = 3 if with_cas else 2
            if path_mode:
                parts = line[6:].rsplit(b" ", n)
            else:
                parts = line[6:].split(b" ")
            if len(parts) != n + 1 or not all(p.isdigit() for p in parts[1:]):
                raise ProtocolFailure("%s: malformed VALUE line %r" % (what, line[:200]))
            key = parts[0].decode(errors="replace")
            flags, size = int(parts[1]), int(parts[2])
            cas = int(parts[3]) if with_cas else None
            data = self.conn.readexact(size + 2)
            if data[-2:] != b"\r\n":
                raise ProtocolFailure("%s: value of %r not followed by CRLF" % (what, key))
            out.append((key, flags, data[:-2], cas))

    # ---- operations

    def pick_value_key(self):
        r = self.rng.random()
        if r < 0.5:
            return self.rng.choice(self.flat)
        if r < 0.9:
            return self.rng.choice(self.nested)
        return self.rng.choice(self.parents)

    def pick_counter(self):
        return self.rng.choice(self.counters + self.nested_counters)

    def op_set(self, noreply=False, key=None):
        key = key or self.pick_value_key()
        ttl = self.rand_ttl(0.2 if key in self.parents else 0.15, key)
        ver = self.next_version()
        data, flags = self.make_value(key, ver), self.rand_flags()
        t = time.time()
        ev = self.sh.evictions
        reply = self.store(b"set", key, flags, ttl, data, noreply=noreply)
        if not noreply:
            self.expect(reply, (b"STORED",), "set %r" % key)
        e = Entry(data, flags, self.deadline(ttl, t), ev, ver, self.last_cas(key))
        if self.corrupt_pending and not noreply and key == self.flat[0]:
            # Every acknowledged set of this one key is remembered with a
            # wrong version: the next read of it must be reported.
            e.value = self.make_value(key, ver + 1000000, len(data) - len(self.make_value(key, ver, 0)))
            e.version = ver + 1000000
            if not self.corrupt_announced:
                self.corrupt_announced = True
                print("self-test: client 0 expects wrong versions of %r" % key, flush=True)
        if self.corrupt_pending and not noreply and key == self.flat[1]:
            # ... and forgets every acknowledged set of this one: reads must
            # report a value after its delete.
            self.set_cands(key, [None], t)
            return
        self.set_cands(key, [e], t, acked=not noreply)

    def last_cas(self, key):
        for c in self.model[key]:
            if c is not None and c.cas is not None:
                return c.cas
        return None

    def store(self, cmd, key, flags, ttl, data, cas=None, noreply=False):
        line = b"%s %s %d %d %d" % (cmd, key.encode(), flags, ttl, len(data))
        if cas is not None:
            line += b" %d" % cas
        if noreply:
            line += b" noreply"
            self.pending_noreply = True
        self.conn.send(line + b"\r\n" + data + b"\r\n")
        if noreply:
            return None
        return self.conn.readline()

    def op_set_negative(self):
        key = self.rng.choice(self.flat)
        ver = self.next_version()
        data = self.make_value(key, ver)
        t = time.time()
        self.expect(self.store(b"set", key, 0, -1, data), (b"STORED",), "set %r -1" % key)
        self.set_cands(key, [None], t)

    def op_add(self, noreply=False):
        key = self.pick_value_key()
        ttl = self.rand_ttl(key=key)
        ver = self.next_version()
        data, flags = self.make_value(key, ver), self.rand_flags()
        t = time.time()
        new = Entry(data, flags, self.deadline(ttl, t), self.sh.evictions, ver, self.last_cas(key))
        reply = self.store(b"add", key, flags, ttl, data, noreply=noreply)
        if noreply:
            # Stored if the key was absent (deleted, expired or evicted), else not.
            self.set_cands(key, self.present(key) + [new], t, acked=False)
            return
        if reply == b"STORED":
            if self.present(key) and self.absence_reason(key, time.time()) is None:
                c = self.present(key)[0]
                self.fail("lost_write", "add %r stored: acknowledged version %d was gone"
                          % (key, c.version))
            self.set_cands(key, [new], t)
        elif reply == b"NOT_STORED":
            old = self.present(key)
            if not old:
                self.fail("resurrected", "add %r NOT_STORED after its delete/expiry" % key)
            else:
                self.set_cands(key, old, t)
        else:
            self.expect(reply, (), "add %r" % key)

    def op_modify(self, cmd, noreply=False):
        """replace, append, prepend."""
        key = self.pick_value_key()
        old = self.present(key)
        if cmd != b"replace" and old and max(len(c.value) for c in old) > min(30000, self.item_size_max // 4):
            cmd = b"replace"
        ver = self.next_version()
        t = time.time()
        if cmd == b"replace":
            ttl = self.rand_ttl(key=key)
            flags = self.rand_flags()
            data = self.make_value(key, ver)
            new = [Entry(data, flags, self.deadline(ttl, t), min([c.ev for c in old] or [0]), ver,
                         self.last_cas(key))]
        else:
            ttl, flags = 0, 0
            data = self.make_value(key, ver, self.rng.randrange(0, 50))
            new = [c.derive(value=(c.value + data if cmd == b"append" else data + c.value),
                            version=ver) for c in old]
        reply = self.store(cmd, key, flags, ttl, data, noreply=noreply)
        if noreply:
            self.set_cands(key, new + ([None] if self.may_be_absent(key, t) or not old else []), t,
                           acked=False)
            return
        if reply == b"STORED":
            if not old:
                self.fail("resurrected", "%s %r stored after its delete/expiry" % (cmd.decode(), key))
                self.set_cands(key, [None], t)  # value unknown: the next read reports
                return
            self.set_cands(key, new, t)
        elif reply == b"NOT_STORED":
            if old and self.absence_reason(key, time.time()) is None:
                self.fail("lost_write", "%s %r NOT_STORED: acknowledged version %d was gone"
                          % (cmd.decode(), key, old[0].version))
            elif old:
                self.misses[self.absence_reason(key, time.time())] += 1
            self.set_cands(key, [None], t)
        else:
            self.expect(reply, (), "%s %r" % (cmd.decode(), key))

    def op_cas(self):
        key = self.pick_value_key()
        flat = key in self.flat
        t0 = time.time()
        self.conn.send(b"%s %s\r\n" % (b"gets" if flat else b"getsn", key.encode()))
        vals = self.read_values(True, not flat, "gets %r" % key)
        if not vals:
            self.check_miss(key, time.time())
            # cas on a missing key
            ver = self.next_version()
            reply = self.store(b"cas", key, 0, 0, self.make_value(key, ver), cas=12345)
            if reply == b"NOT_FOUND":
                return
            if reply == b"EXISTS" or reply == b"STORED":
                self.fail("resurrected", "cas on missing %r answered %r" % (key, reply))
                self.model[key] = [None]
                return
            self.expect(reply, (), "cas %r" % key)
        if len(vals) != 1 or vals[0][0] != key:
            raise ProtocolFailure("gets %r returned %r" % (key, [v[0] for v in vals]))
        _, flags, data, cas = vals[0]
        self.check_hit(key, flags, data, cas, t0)
        if self.rng.random() < 0.2:
            bad = cas - 1 if cas > 1 else cas + 1000000007
            reply = self.store(b"cas", key, 0, 0, b"x", cas=bad)
            if reply == b"NOT_FOUND":
                self.check_miss(key, time.time())
            elif reply != b"EXISTS":
                self.fail("cas", "cas %r with a wrong unique answered %r" % (key, reply[:100]))
                self.model[key] = [None]
            return
        ver = self.next_version()
        ttl = self.rand_ttl(key=key)
        ndata, nflags = self.make_value(key, ver), self.rand_flags()
        t = time.time()
        reply = self.store(b"cas", key, nflags, ttl, ndata, cas=cas)
        new = Entry(ndata, nflags, self.deadline(ttl, t), self.sh.evictions, ver, cas)
        if reply == b"STORED":
            self.set_cands(key, [new], t)
        elif reply == b"NOT_FOUND":
            self.check_miss(key, time.time())
        elif reply == b"EXISTS":
            self.fail("cas", "cas %r with the unique just read answered EXISTS" % key)
            self.model[key] = [None]
        else:
            self.expect(reply, (), "cas %r" % key)

    def op_counter_set(self, key=None):
        key = key or self.pick_counter()
        ver = self.next_version()
        n = self.rng.choice([0, 1, 10, 99, 12345, 2**64 - 2, self.rng.randrange(0, 2**64)])
        data = b"%d" % n
        flags = self.rand_flags()
        t = time.time()
        self.expect(self.store(b"set", key, flags, 0, data), (b"STORED",), "set %r" % key)
        self.set_cands(key, [Entry(data, flags, None, self.sh.evictions, ver, self.last_cas(key))], t)

    def op_incr(self, cmd, noreply=False, key=None):
        key = key or self.pick_counter()
        old = self.present(key)
        if not old or not all(is_number(c.value) for c in old):
            return self.op_counter_set(key)
        delta = self.rng.choice([1, 1, 2, 7, 1000, self.rng.randrange(0, 2**64)])
        ver = self.next_version()
        t = time.time()

        def apply(c):
            v = int(c.value)
            v = (v + delta) % 2**64 if cmd == b"incr" else max(0, v - delta)
            return c.derive(value=b"%d" % v, version=ver)

        new = [apply(c) for c in old]
        line = b"%s %s %d" % (cmd, key.encode(), delta)
        if noreply:
            self.conn.send(line + b" noreply\r\n")
            self.pending_noreply = True
            self.set_cands(key, new + ([None] if self.may_be_absent(key, t) else []), t, acked=False)
            return
        self.conn.send(line + b"\r\n")
        reply = self.conn.readline()
        if reply == b"NOT_FOUND":
            self.check_miss(key, time.time())
            return
        if not reply.isdigit():
            self.expect(reply, (), "%s %r" % (cmd.decode(), key))
        match = [c for c in new if c.value == reply]
        if not match:
            self.fail("stale_version", "%s %r by %d answered %r, model expects %r"
                      % (cmd.decode(), key, delta, reply, [c.value for c in new]))
            self.model[key] = [Entry(reply, old[0].flags, None, self.sh.evictions, ver)]
            return
        self.set_cands(key, match[:1], t)

    def op_incr_nonnumeric(self):
        key = self.rng.choice(self.flat + self.nested)
        old = self.present(key)
        if len(old) != 1 or is_number(old[0].value):
            return
        self.conn.send(b"incr %s 1\r\n" % key.encode())
        reply = self.conn.readline()
        if reply == b"NOT_FOUND":
            self.check_miss(key, time.time())
        else:
            self.expect(reply, (b"CLIENT_ERROR cannot increment or decrement non-numeric value",),
                        "incr non-numeric %r" % key)

    def op_touch(self, noreply=False):
        key = self.pick_value_key()
        ttl = self.rand_ttl(0.5, key)
        t = time.time()
        old = self.present(key)
        new = [c.derive(deadline=self.deadline(ttl, t)) for c in old]
        line = b"touch %s %d" % (key.encode(), ttl)
        if noreply:
            self.conn.send(line + b" noreply\r\n")
            self.pending_noreply = True
            self.set_cands(key, new + ([None] if self.may_be_absent(key, t) or not old else []), t,
                           acked=False)
            return
        self.conn.send(line + b"\r\n")
        reply = self.conn.readline()
        if reply == b"TOUCHED":
            if not old:
                self.fail("resurrected", "touch %r TOUCHED after its delete/expiry" % key)
                self.model[key] = [None]
                return
            self.set_cands(key, new, t)
        elif reply == b"NOT_FOUND":
            self.check_miss(key, time.time())
        else:
            self.expect(reply, (), "touch %r" % key)

    def multi_keys(self):
        pool = self.flat + self.counters
        return self.rng.sample(pool, self.rng.randrange(1, 8))

    def op_get(self, cmd):
        """get, gets, gat, gats over flat keys."""
        keys = self.multi_keys()
        with_cas = cmd in (b"gets", b"gats")
        ttl = None
        line = cmd
        if cmd in (b"gat", b"gats"):
            ttl = self.rand_ttl(0.5)
            line += b" %d" % ttl
        t0 = time.time()
        self.conn.send(line + b" " + " ".join(keys).encode() + b"\r\n")
        vals = self.read_values(with_cas, False, cmd.decode())
        t1 = time.time()
        pos = 0
        for key, flags, data, cas in vals:
            while pos < len(keys) and keys[pos] != key:
                self.check_miss(keys[pos], t1)
                pos += 1
            if pos == len(keys):
                raise ProtocolFailure("%s returned %r out of order or not asked" % (cmd.decode(), key))
            self.check_hit(key, flags, data, cas, t0)
            if ttl is not None:
                c = self.model[key][0]
                self.set_cands(key, [c.derive(deadline=self.deadline(ttl, t0))], t0)
            pos += 1
        for key in keys[pos:]:
            self.check_miss(key, t1)

    def op_getn(self, cmd):
        key = self.pick_value_key() if self.rng.random() < 0.8 else self.pick_counter()
        with_cas = cmd == b"getsn"
        t0 = time.time()
        self.conn.send(b"%s %s\r\n" % (cmd, key.encode()))
        vals = self.read_values(with_cas, True, cmd.decode())
        if not vals:
            self.check_miss(key, time.time())
            return
        if len(vals) != 1 or vals[0][0] != key:
            raise ProtocolFailure("%s %r returned %r" % (cmd.decode(), key, [v[0] for v in vals]))
        _, flags, data, cas = vals[0]
        self.check_hit(key, flags, data, cas, t0)

    def op_delete(self, noreply=False, key=None):
        key = key or (self.rng.choice(self.flat + self.counters) if self.rng.random() < 0.5
                      else self.rng.choice(self.nested + self.parents + self.nested_counters))
        line = b"delete %s" % key.encode()
        if noreply:
            self.conn.send(line + b" noreply\r\n")
            self.pending_noreply = True
            self.deleted(key)
            return
        self.conn.send(line + b"\r\n")
        reply = self.conn.readline()
        t = time.time()
        if reply == b"NOT_FOUND":
            for k in self.under(key):
                if self.present(k):
                    self.check_miss(k, t)
        elif reply == b"DELETED":
            if not any(self.present(k) or self.maybe_expired(k, t) for k in self.under(key)):
                # The node may exist as value-less parent of nothing we hold:
                # impossible in our namespace, so it is a resurrection.
                self.fail("resurrected", "delete %r answered DELETED, the model holds nothing there"
                          % key)
        else:
            self.expect(reply, (), "delete %r" % key)
        self.deleted(key)

    def op_delete_subtree(self):
        self.op_delete(noreply=self.rng.random() < 0.2, key=self.rng.choice(self.subtrees))

    def op_getch(self):
        node = self.rng.choice(self.parents)
        t0 = time.time()
        self.conn.send(b"getch %s\r\n" % node.encode())
        vals = self.read_values(False, True, "getch")
        t1 = time.time()
        children = {}
        for k in self.under(node):
            if k != node:
                name = k[len(node) + 1:].split(" ")[0]
                children.setdefault(name, []).append(k)
        if not vals:
            listed = None
        else:
            if len(vals) != 1 or vals[0][0] != node or vals[0][1] != 0:
                raise ProtocolFailure("getch %r returned %r" % (node, [v[:2] for v in vals]))
            try:
                listed = json.loads(vals[0][2].decode())
                assert isinstance(listed, list) and all(isinstance(x, str) for x in listed)
            except (ValueError, AssertionError):
                raise ProtocolFailure("getch %r: not a JSON array of strings: %r"
                                      % (node, vals[0][2][:200]))
            if listed != sorted(set(listed), key=lambda s: s.encode()):
                self.fail("listing", "getch %r: names not sorted/unique: %r" % (node, listed))
        for name in listed or []:
            if name not in children:
                self.fail("listing", "getch %r lists unknown child %r" % (node, name))
                continue
            keys = children[name]
            if all(self.model[k] == [None] for k in keys) and \
                    not any(self.maybe_expired(k, t1) for k in keys):
                self.fail("resurrected", "getch %r lists %r, deleted (model: %s)"
                          % (node, name, ", ".join(keys)))
        listed_set = set(listed or [])
        for name, keys in children.items():
            if name in listed_set:
                continue
            for k in keys:
                if self.present(k) and self.absence_reason(k, t1) is None:
                    self.fail("listing", "getch %r omits %r, which holds version %d"
                              % (node, name, self.present(k)[0].version))
                    break
        if listed is None and self.present(node):
            self.check_miss(node, t1)

    def op_getr(self):
        r = self.rng.random()
        node = self.rng.choice(self.subtrees if r < 0.6 else (self.parents if r < 0.8 else self.nested))
        t0 = time.time()
        self.conn.send(b"getr %s\r\n" % node.encode())
        vals = self.read_values(False, True, "getr")
        t1 = time.time()
        seen = []
        for key, flags, data, _ in vals:
            if key != node and not key.startswith(node + " "):
                raise ProtocolFailure("getr %r returned %r outside the subtree" % (node, key))
            if key not in self.model:
                self.fail("listing", "getr %r returned unknown node %r" % (node, key))
                continue
            if key in seen:
                self.fail("listing", "getr %r returned %r twice" % (node, key))
            if any(s.startswith(key + " ") for s in seen):
                self.fail("listing", "getr %r returned %r after one of its descendants" % (node, key))
            seen.append(key)
            self.check_hit(key, flags, data, None, t0)
        for k in self.under(node):
            if k not in seen and self.present(k):
                self.check_miss(k, t1)

    def op_stats(self):
        s = parse_stats(self.conn, self.rng.choice([b"stats", b"stats", b"stats settings",
                                                    b"stats tree"]))
        if not s:
            raise ProtocolFailure("empty stats")

    def op_version(self):
        self.conn.send(b"version\r\n")
        line = self.conn.readline()
        if not line.startswith(b"VERSION "):
            raise ProtocolFailure("version answered %r" % line[:100])
        self.pending_noreply = False

    def op_noreply(self):
        r = self.rng.random()
        if r < 0.35:
            self.op_set(noreply=True)
        elif r < 0.45:
            self.op_add(noreply=True)
        elif r < 0.6:
            self.op_modify(self.rng.choice([b"replace", b"append", b"prepend"]), noreply=True)
        elif r < 0.75:
            self.op_incr(self.rng.choice([b"incr", b"decr"]), noreply=True)
        elif r < 0.85:
            self.op_touch(noreply=True)
        else:
            self.op_delete(noreply=True)

    def op_churn(self):
        key = "%s_churn%d" % (self.ns, self.rng.randrange(0, 3000))
        size = min(int(10 * (10000 ** self.rng.random())), self.item_size_max - 1000)
        self.conn.send(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), size, CHURN[:size]))
        self.expect(self.conn.readline(), (b"STORED",), "churn set")

    # ---- TTL probe: a parent with a TTL, a child without, a flat key with a TTL

    def op_ttl_probe(self):
        parent, child, flat = self.ns + " ttl", self.ns + " ttl x", self.ns + "_ttl"
        p = self.probe
        if p is None:
            self.conn.send(b"delete %s\r\n" % parent.encode())
            self.expect(self.conn.readline(), (b"DELETED", b"NOT_FOUND"), "delete %r" % parent)
            ttl = self.rng.randrange(2, 5)
            ver = self.next_version()
            t = time.time()
            vals = {k: self.make_value(k, ver, 20) for k in (parent, child, flat)}
            for k in (parent, child, flat):
                self.expect(self.store(b"set", k, 0, 0 if k == child else ttl, vals[k]),
                            (b"STORED",), "set %r" % k)
            self.probe = {"deadline": t + ttl, "slack": time.time() - t, "ev": self.sh.evictions,
                          "vals": vals}
            return
        t0 = time.time()
        self.conn.send(b"getn %s\r\nget %s\r\ngetr %s\r\n" % (child.encode(), flat.encode(),
                                                             parent.encode()))
        got_child = self.read_values(False, True, "getn")
        got_flat = self.read_values(False, False, "get")
        got_tree = self.read_values(False, True, "getr")
        t1 = time.time()
        late = t0 - p["deadline"] - p["slack"]
        for key, got in ((child, got_child), (flat, got_flat)):
            if got:
                if got[0][2] != p["vals"][key] or got[0][0] != key:
                    self.fail("corrupt_value", "TTL probe %r returned %r" % (key, got[0][2][:60]))
                if late > 2:
                    what = "child of a parent whose TTL ended" if key == child else "flat key"
                    self.fail("expired_visible", "TTL probe: %s %r visible %.1f s after the TTL"
                              % (what, key, late))
            elif t1 < p["deadline"] - 2 and not (self.sh.evictions > p["ev"]
                                                   or self.evictions_now() > p["ev"]):
                self.fail("lost_write", "TTL probe: %r missing %.1f s before its TTL"
                          % (key, p["deadline"] - t1))
            elif t1 >= p["deadline"] - 2:
                self.misses["expiry"] += 1
            else:
                self.misses["eviction"] += 1
        if late > 2 and got_tree:
            self.fail("expired_visible", "TTL probe: getr %r returned %r %.1f s after the TTL"
                      % (parent, [v[0] for v in got_tree], late))
        if late > 2:
            self.probe = None

    # ---- bad input

    def sync(self, what, expect_first=None, exactly_one=False, require_error=True):
        """Sends `version` and reads up to its reply; lines before must be errors."""
        self.conn.send(b"version\r\n")
        lines = []
        while True:
            line = self.conn.readline()
            if line.startswith(b"VERSION "):
                break
            lines.append(line)
            if len(lines) > 10:
                break
        if len(lines) > 10 or not all(l.startswith(ERROR_PREFIXES) for l in lines):
            self.fail("bad_input", "%s: non-error replies %r" % (what, lines[:4]))
            raise ProtocolFailure("out of sync after bad input")
        if require_error and not lines:
            self.fail("bad_input", "%s: no error reply" % what)
        if expect_first is not None and lines and not lines[0].startswith(expect_first):
            self.fail("bad_input", "%s: first reply %r, expected %r" % (what, lines[0][:100],
                                                                       expect_first))
        if exactly_one and len(lines) != 1:
            self.fail("bad_input", "%s: %d replies %r, expected one" % (what, len(lines), lines[:4]))
        self.pending_noreply = False

    def op_bad(self):
        if self.pending_noreply:
            self.op_version()
        kinds = ["unknown", "bad_number", "negative_length", "long_key_get", "long_key_set",
                 "too_large", "bad_chunk_long", "bad_chunk_short", "too_deep_get", "too_deep_set",
                 "garbage", "endless_line", "bad_delta", "bad_exptime"]
        kind = self.rng.choice(kinds)
        with self.sh.lock:
            self.sh.bad_inputs[kind] += 1
        bad = ("%s_bad" % self.ns).encode()
        c = self.conn
        if kind == "unknown":
            c.send(b"%s %s 1 2\r\n" % (self.rng.choice([b"bogus", b"sett", b"GET", b"mg2", b"x"]), bad))
            self.sync(kind, b"ERROR", exactly_one=True)
        elif kind == "bad_number":
            c.send(self.rng.choice([b"set %s abc 0 1\r\nz\r\n", b"set %s 0 xyz 1\r\nz\r\n",
                                    b"set %s 0 0 1x\r\nz\r\n", b"add %s 1.5 0 1\r\nz\r\n"]) % bad)
            self.sync(kind, b"CLIENT_ERROR")
        elif kind == "negative_length":
            c.send(b"set %s 0 0 -%d\r\n" % (bad, self.rng.randrange(1, 100)))
            self.sync(kind, b"CLIENT_ERROR")
        elif kind == "long_key_get":
            c.send(b"get %s\r\n" % (b"K" * self.rng.randrange(251, 1000)))
            self.sync(kind, b"CLIENT_ERROR", exactly_one=True)
        elif kind == "long_key_set":
            c.send(b"set %s 0 0 1\r\nz\r\n" % (b"K" * self.rng.randrange(251, 1000)))
            self.sync(kind, b"CLIENT_ERROR")
        elif kind == "too_large":
            size = self.item_size_max + self.rng.randrange(1, 20000)
            c.send(b"set %s_big 0 0 %d\r\n" % (bad, size))
            c.send(PAD[:size % 60000] + b"y" * (size - size % 60000) + b"\r\n")
            self.sync(kind, b"SERVER_ERROR object too large for cache", exactly_one=True)
        elif kind == "bad_chunk_long":
            n = self.rng.randrange(1, 20)
            c.send(b"set %s 0 0 %d\r\n%s\r\n" % (bad, n, b"w" * (n + self.rng.randrange(1, 6))))
            self.sync(kind, b"CLIENT_ERROR bad data chunk")
        elif kind == "bad_chunk_short":
            n = self.rng.randrange(5, 40)
            short = self.rng.randrange(1, n)
            # The server reads n+2 bytes: the short data, its CRLF, then filler.
            c.send(b"set %s 0 0 %d\r\n%s\r\n%s" % (bad, n, b"w" * (n - short), b"F" * short))
            self.sync(kind, b"CLIENT_ERROR bad data chunk")
        elif kind == "too_deep_get":
            c.send(b"getn %s\r\n" % b" ".join([bad] + [b"p"] * 70))
            self.sync(kind, b"CLIENT_ERROR", exactly_one=True)
        elif kind == "too_deep_set":
            c.send(b"set %s 0 0 1\r\nz\r\n" % b" ".join([bad] + [b"p"] * 70))
            self.sync(kind, b"CLIENT_ERROR")
        elif kind == "garbage":
            n = self.rng.randrange(1, 4000)
            junk = bytes(self.rng.choice(range(1, 256)) for _ in range(n)).replace(b"\n", b".")
            c.send(b"zz" + junk)
            c.send(b"\r\n")
            if n + 2 > 2048:
                try:
                    self.sync(kind, require_error=True)
                except Closed:
                    self.connect()  # closed as a line too long: legitimate
            else:
                self.sync(kind, b"ERROR")
        elif kind == "endless_line":
            c.send(bad + b"L" * self.rng.randrange(2100, 6000))
            c.sock.settimeout(10)
            try:
                c.readline()
                self.fail("bad_input", "endless line: got a reply instead of a close")
            except Closed:
                pass
            except ProtocolFailure:
                self.fail("bad_input", "endless line: connection not closed within 10 s")
            self.connect()
            with self.sh.lock:
                self.sh.reconnects += 1
        elif kind == "bad_delta":
            c.send(b"incr %s abc\r\n" % self.rng.choice(self.counters).encode())
            self.sync(kind, b"CLIENT_ERROR invalid numeric delta argument", exactly_one=True)
        elif kind == "bad_exptime":
            c.send(b"touch %s xyz\r\n" % self.rng.choice(self.flat).encode())
            self.sync(kind, b"CLIENT_ERROR", exactly_one=True)

    # ---- main loop

    OPS = [
        ("set", 14), ("add", 4), ("replace", 4), ("append", 4), ("prepend", 3), ("cas", 5),
        ("incr", 5), ("decr", 3), ("touch", 3), ("gat", 2), ("gats", 2), ("get", 12),
        ("gets", 6), ("delete", 4), ("getn", 8), ("getsn", 4), ("getch", 4), ("getr", 5),
        ("delete_subtree", 1.5), ("noreply", 7), ("stats", 0.3), ("version", 0.3),
        ("incr_nonnumeric", 0.5), ("set_negative_ttl", 0.5), ("set_parent", 3),
        ("counter_set", 1), ("ttl_probe", 2),
    ]

    def do(self, op):
        if op == "set":
            self.op_set()
        elif op == "add":
            self.op_add()
        elif op in ("replace", "append", "prepend"):
            self.op_modify(op.encode())
        elif op == "cas":
            self.op_cas()
        elif op in ("incr", "decr"):
            self.op_incr(op.encode())
        elif op == "touch":
            self.op_touch()
        elif op in ("gat", "gats", "get", "gets"):
            self.op_get(op.encode())
        elif op == "delete":
            self.op_delete()
        elif op in ("getn", "getsn"):
            self.op_getn(op.encode())
        elif op == "getch":
            self.op_getch()
        elif op == "getr":
            self.op_getr()
        elif op == "delete_subtree":
            self.op_delete_subtree()
        elif op == "noreply":
            self.op_noreply()
        elif op == "stats":
            self.op_stats()
        elif op == "version":
            self.op_version()
        elif op == "incr_nonnumeric":
            self.op_incr_nonnumeric()
        elif op == "set_negative_ttl":
            self.op_set_negative()
        elif op == "set_parent":
            self.op_set(key=self.rng.choice(self.parents))
        elif op == "counter_set":
            self.op_counter_set()
        elif op == "bad":
            self.op_bad()
        elif op == "ttl_probe":
            self.op_ttl_probe()
        elif op == "churn":
            self.op_churn()
        elif op == "verify":
            self.op_verify_all()

    SIDE_OPS = ("get", "gets", "getn", "getsn", "getch", "getr")

    def do_on_side(self, op):
        """A read on the second connection: what one connection was told must
        hold on any other (after the noreply writes are surely applied)."""
        if self.pending_noreply:
            self.op_version()
        if self.side is None:
            self.side = Conn(self.host, self.port)
        main, self.conn = self.conn, self.side
        try:
            self.do(op)
            self.ops["side_reads"] += 1
        except Exception:
            self.side.close()
            self.side = None
            raise
        finally:
            self.conn = main

    def op_verify_all(self):
        """Final pass: read every key once."""
        for key in self.all_keys:
            t0 = time.time()
            self.conn.send(b"getn %s\r\n" % key.encode())
            vals = self.read_values(False, True, "final getn")
            if not vals:
                self.check_miss(key, time.time())
            else:
                _, flags, data, _ = vals[0]
                self.check_hit(key, flags, data, None, t0)

    def run(self, end):
        self.ops = collections.Counter()
        self.hits = 0
        self.misses = collections.Counter()
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        try:
            self.connect()
        except Exception as e:  # noqa: BLE001
            self.fail("server", "client %d cannot connect: %r" % (self.cid, e))
            return
        final_done = False
        if self.corrupt_pending:
            # ... and believes in a write that was never sent (no eviction can
            # excuse it): its reads must report a lost write.
            phantom = Entry(self.make_value(self.flat[2], 0, 10), 0, None, 2**62, 0)
            phantom.slack = 0
            self.model[self.flat[2]] = [phantom]
            print("self-test: client 0 also forgets sets of %r and expects a phantom %r"
                  % (self.flat[1], self.flat[2]), flush=True)
        while True:
            if time.time() >= end or self.sh.stop.is_set():
                if final_done or self.sh.server_dead:
                    break
                op = "verify"
                final_done = True
            elif self.churn and self.rng.random() < 0.35:
                op = "churn"
            elif self.rng.random() < self.args.bad_fraction:
                op = "bad"
            else:
                op = self.rng.choices(names, weights)[0]
            self.fresh_ev = None
            try:
                if op in self.SIDE_OPS and self.rng.random() < 0.2:
                    self.do_on_side(op)
                else:
                    self.do(op)
                self.ops[op] += 1
            except ProtocolFailure as e:
                if not self.sh.server_dead:
                    self.fail("protocol", "%s: %s" % (op, e))
                self.reconnect_after_error()
            except (Closed, OSError) as e:
                if self.sh.server_dead or self.sh.stop.is_set():
                    break
                self.fail("protocol", "%s: connection lost unexpectedly (%s)" % (op, e))
                self.reconnect_after_error()
            except Exception:  # a bug in this script must not pass silently
                import traceback
                self.fail("internal", "%s: %s" % (op, traceback.format_exc()))
                self.reconnect_after_error()
        with self.sh.lock:
            self.sh.ops.update(self.ops)
            self.sh.allowed.update(self.misses)
            self.sh.allowed["hits"] += self.hits
        if self.conn:
            self.conn.close()

    def reconnect_after_error(self):
        try:
            with self.sh.lock:
                self.sh.reconnects += 1
            self.connect()
        except Exception:  # noqa: BLE001
            time.sleep(0.5)


# --------------------------------------------------------------------------
# Server and monitor


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args):
    port = free_port()
    argv = [args.server_bin, "-l", "127.0.0.1", "-p", str(port), "-t", str(args.threads),
            "-m", str(args.memory_mb), "-c", str(max(1024, args.clients * 2 + 16))] + args.server_arg
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start: %s" % " ".join(argv))


def rss_mib(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def monitor(sh, host, port, proc, pid, rss_limit, start, end):
    conn = None
    last_print = time.time()
    last_ops_total = 0
    while not sh.stop.is_set():
        now = time.time()
        if proc is not None and proc.poll() is not None:
            sh.server_dead = "server exited with status %s" % proc.returncode
            sh.fail("server", sh.server_dead)
            sh.stop.set()
            return
        if pid:
            rss = rss_mib(pid)
            if rss is None and proc is None:
                pass
            elif rss is None:
                sh.server_dead = "server process gone"
                sh.fail("server", sh.server_dead)
                sh.stop.set()
                return
            else:
                sh.rss = rss
                if rss > sh.peak_rss:
                    sh.peak_rss = rss
                if rss > rss_limit:
                    sh.fail("rss", "RSS %.1f MiB above the bound %.1f MiB" % (rss, rss_limit))
        try:
            if conn is None:
                conn = Conn(host, port, timeout=30)
            s = parse_stats(conn)
            sh.stats = s
            sh.evictions = max(sh.evictions, int(s.get("evictions", "0")))
        except (OSError, Closed, ProtocolFailure) as e:
            if conn is not None:
                conn.close()
            conn = None
            if proc is None or proc.poll() is None:
                sh.fail("server", "monitor: stats failed: %r" % e)
        if not sh.args.quiet and now - last_print >= 10:
            last_print = now
            with sh.lock:
                nfail = sum(sh.failures.values())
            total = int(sh.stats.get("cmd_get", 0)) + int(sh.stats.get("cmd_set", 0))
            print("[%4.0fs] server get+set %d (%.0f/s), evictions %d, curr_items %s, RSS %.1f MiB "
                  "(peak %.1f), failures %d" % (now - start, total, (total - last_ops_total) / 10,
                                                sh.evictions, sh.stats.get("curr_items", "?"),
                                                sh.rss, sh.peak_rss, nfail), flush=True)
            last_ops_total = total
        sh.stop.wait(1.0)
    if conn is not None:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server-bin")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra server argument (repeatable)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int)
    ap.add_argument("--server-pid", type=int, help="PID of an existing server (for RSS)")
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--memory-mb", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rss-limit-mb", type=float)
    ap.add_argument("--bad-fraction", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--self-test-corrupt", action="store_true",
                    help="make the model expect a wrong version for one key (the run must fail)")
    args = ap.parse_args()
    if not args.server_bin and not args.port:
        ap.error("give --server-bin or --port")
    rss_limit = args.rss_limit_mb or args.memory_mb * 1.5 + 32
    sh = Shared(args)
    proc = None
    if args.server_bin:
        proc, port = start_server(args)
        host, pid = "127.0.0.1", proc.pid
    else:
        host, port, pid = args.host, args.port, args.server_pid
    try:
        c = Conn(host, port)
        settings = parse_stats(c, b"stats settings")
        st = parse_stats(c)
        c.close()
        if not pid and host in ("127.0.0.1", "localhost") and "pid" in st:
            pid = int(st["pid"]) if os.path.exists("/proc/%s" % st["pid"]) else None
        item_size_max = int(settings.get("item_size_max", 1048576))
        max_depth = int(settings.get("max_depth", 32))
        run = "s%x" % random.Random(args.seed * 1000003 + int(time.time())).randrange(16**5)
        start = time.time()
        end = start + args.seconds
        clients = [Client(sh, i, host, port, run, item_size_max, max_depth)
                   for i in range(args.clients)]
        threads = [threading.Thread(target=cl.run, args=(end,), daemon=True) for cl in clients]
        mon = threading.Thread(target=monitor, args=(sh, host, port, proc, pid, rss_limit, start, end),
                               daemon=True)
        mon.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1, end - time.time()) + 120)
        hung = sum(t.is_alive() for t in threads)
        if hung:
            sh.fail("server", "%d clients did not finish (server hung?)" % hung)
        elapsed = time.time() - start
        sh.stop.set()
        mon.join(timeout=5)
        if pid:
            rss = rss_mib(pid)
            if rss:
                sh.peak_rss = max(sh.peak_rss, rss)
        final_stats = {}
        if not sh.server_dead:
            try:
                c = Conn(host, port)
                final_stats = parse_stats(c)
                c.close()
            except (OSError, Closed, ProtocolFailure) as e:
                sh.fail("server", "final stats failed: %r" % e)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                sh.fail("server", "server did not stop on SIGTERM within 15 s")
            if proc.returncode not in (0, -15) and not sh.server_dead:
                sh.fail("server", "server exited with status %s" % proc.returncode)
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if sh.failures["server"] and err:
                print("server stderr (tail):\n" + err[-3000:])

    total_ops = sum(v for k, v in sh.ops.items() if k != "side_reads")
    lost = sh.failures["lost_write"] + sh.failures["stale_version"]
    other = sum(sh.failures.values()) - lost
    print("=" * 72)
    print("soak summary")
    print("  duration          %.1f s (%d connections, seed %d, -m %d)"
          % (elapsed, args.clients, args.seed, args.memory_mb))
    print("  operations        %d (%.0f ops/s)" % (total_ops, total_ops / max(elapsed, 1e-9)))
    print("  per kind          " + ", ".join("%s %d" % kv for kv in sorted(sh.ops.items())))
    print("  bad inputs sent   %d (%s)" % (sum(sh.bad_inputs.values()),
                                           ", ".join("%s %d" % kv for kv in sorted(sh.bad_inputs.items()))))
    print("  reconnects        %d" % sh.reconnects)
    print("  lost acknowledged writes  %d (missing %d, stale version %d)"
          % (lost, sh.failures["lost_write"], sh.failures["stale_version"]))
    print("  other failures    %d %s" % (other, dict((k, v) for k, v in sh.failures.items()
                                                      if k not in ("lost_write", "stale_version") and v)))
    print("  reads checked     %d hits exact, %d misses the model expected"
          % (sh.allowed["hits"], sh.allowed["model"]))
    print("  misses allowed    expiry %d, eviction %d" % (sh.allowed["expiry"], sh.allowed["eviction"]))
    print("  evictions         %s (curr_items %s, total_items %s)"
          % (final_stats.get("evictions", sh.evictions), final_stats.get("curr_items", "?"),
             final_stats.get("total_items", "?")))
    print("  peak RSS          %.1f MiB (bound %.1f MiB)" % (sh.peak_rss, rss_limit))
    if sh.failure_msgs:
        print("first failures:")
        for m in sh.failure_msgs[:40]:
            print("  " + m)
    ok = not sh.failures and not sh.server_dead
    print("RESULT: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
