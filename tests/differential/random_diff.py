#!/usr/bin/python3
"""Randomized differential test: stock memcached 1.6.18 vs. the server under test.

For each seed it generates sequences of flat-key text-protocol requests, valid
and malformed (see Generator), sends each sequence with identical bytes to both
servers over one fresh connection per server, in random write splits, and
compares the replies byte for byte (cas uniques renamed C1, C2, ... in order of
first appearance, `VERSION x` normalised). A sequence whose replies differ in a
way that SPEC.md section 1.3 does not explain (RULES below) is shrunk and saved
as a case file that `diff_test.py --cases FILE` replays.

Usage:
  /usr/bin/python3 random_diff.py --server-bin build/debug/server/treecached --seconds 60
  /usr/bin/python3 random_diff.py --against-memcached --seeds 20   # self-check
  options: --server-arg ARG (repeatable; default --memcached-syntax)  --path-syntax
           --seed N (repeatable) | --seeds N [--base-seed B] | --seconds S
           --sequences-per-seed N  --max-requests N  --out DIR  --avoid CLASS
           --no-shrink  --shrink-seconds S  --max-shrinks N  --timeout S
           --stall S  --memcached PATH  -v

Servers (started once, restarted if one dies or after every few hundred MB):
  reference:          memcached -u nobody -U 0 -l 127.0.0.1 -p PORT -t 1 -m 1024
  server under test:  SERVER_BIN -l 127.0.0.1 -p PORT -t 1 -m 1024 [--server-arg ...]

Per sequence, on each server: connect, `flush_all` (not compared), send the
requests, shutdown(SHUT_WR) after the last one and read to EOF, as diff_test.py
does. Where the next request needs every earlier reply read first (a cas whose
unique comes from an earlier gets, or rule 4 below), the runner sends
`version` and waits until both servers have answered it (a barrier).

Determinism (memcached vs memcached must agree on every seed):
  - exptimes never race the clock: 0, negative, already-past absolute times, or
    lifetimes of a day or more; flush_all only without a positive delay (a
    delayed or past-absolute flush_all makes memcached 1.6.18 forget the earlier
    immediate flush, so items its background crawler has not reclaimed yet
    would come back);
  - a small key space, values of at most ~900 KB stored per key, restarts every
    few hundred MB sent: -m 1024 never evicts;
  - no line other than get/gets exceeds 2000 bytes (memcached closes a
    connection on more than 2048 bytes without a newline, depending on how the
    bytes arrive), so a command line that memcached rejects is followed only by
    short data, made of bytes that cannot start a command (no lowercase);
  - every request is self-contained: a data block is exactly as long as the
    length memcached reads (computed by emulating its strtol/strtoul parsing),
    or deliberately wrong with filler so that nothing after it is eaten;
  - values are never all whitespace, and no stored number reaches 2^63
    (memcached's incr then reads past the value, into stale memory);
  - quit and HTTP/ lines come only last, an HTTP/ line after a barrier (it
    closes at once, dropping memcached's unwritten replies).
Against memcached (--against-memcached) the two servers get different write
splits, so a clean self-check also shows that no reply depends on how the
bytes arrive; rule 3 applies both ways there (memcached pads in place only when
nothing else holds the item).

Known, still open mismatches of treecached are classes in KNOWN: a mismatch
that goes away when the class's input is neutralised is counted in the class,
and only the first of each class is shrunk and saved; --avoid CLASS stops
generating that input.

Exit status: 0 if no unexplained mismatch, 1 otherwise, 2 on usage or start-up
errors. The last line printed has the counts.
"""

import argparse
import os
import random
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import diff_test  # noqa: E402  (Server, Conn, wait_quiet, load_cases, run_case)

# --------------------------------------------------------------------------
# SPEC.md section 1.3: treecached's only intended differences from memcached.
# Each is either avoided by the generator or normalised by the comparison.
# Any other difference is an unexplained mismatch.
# --------------------------------------------------------------------------

RULES = {
    1: ("`delete <k1> <k2> ...` and storage/incr/touch commands with extra tokens "
        "are paths in treecached",
        "AVOIDED: the server under test runs with --memcached-syntax (default), "
        "which turns this off; with --path-syntax (or --server-arg without "
        "--memcached-syntax) the generator sends no extra tokens and no legacy "
        "`delete key 0`"),
    2: ("a data block ending in a bare \\n is accepted by treecached",
        "AVOIDED: every data block ends in \\r\\n; a wrong-length block never has "
        "\\n right after its declared length (bare \\n ends command lines only)"),
    3: ("after incr/decr the stored length is the new number's (memcached pads "
        "a shorter result with spaces)",
        "NORMALISED: arithmetic runs on its own key pool, which append/prepend "
        "never touch, and a VALUE whose memcached data is digits then spaces "
        "matches ours if ours is those digits (counted as explained)"),
    4: ("a client error answers its own request only (memcached 1.6.18 drops the "
        "replies it has queued, not yet written, when a get key is over 250 bytes)",
        "AVOIDED: a get/gets/gat/gats with a key over 250 bytes comes right after "
        "a barrier, or right after a successful retrieval (memcached writes a "
        "retrieval's reply out in full before it reads the next command), so "
        "memcached has nothing queued: both must answer "
        "`CLIENT_ERROR bad command line format`"),
}

# Classes of mismatches this tool has found in the server under test. A
# mismatch that goes away when its sequence is rewritten by a class's
# `neutralise` is counted in that class (still unexplained: the exit status is
# 1), and only the first of each class is shrunk and saved; --avoid CLASS stops
# generating its input, to look past an open one until it is fixed. Both below
# were found in treecached 51be54f and fixed by 8c2136e; they stay to name a
# regression. Add a class when a new mismatch is found and not fixed at once.
KNOWN = {
    "long-after-retrieval": (
        "a get/gets/gat/gats with a key over 250 bytes right after a successful "
        "retrieval: treecached dropped (or, past 256 KiB, cut) the earlier replies it "
        "had not written yet, which memcached had all written",
        lambda reqs: [r.copy(barrier=True) if r.long_retrieval else r for r in reqs]),
    "http-close": (
        "an unknown command whose last token starts with HTTP/: memcached closes the "
        "connection at once without a reply; treecached answered ERROR and went on",
        lambda reqs: [r for r in reqs if not (r.closes and b"HTTP/" in r.render())]),
}

MEMCACHED = "/usr/bin/memcached"
DEFAULT_OUT = os.path.join(REPO, "build", "random-diff")
SENTINEL = b"version\r\n"  # the barrier request: both servers answer one VERSION line
RESTART_BYTES = 300 << 20  # restart both servers after this much was sent

# --------------------------------------------------------------------------
# memcached's number parsing (util.c safe_strto*: C strtol/strtoul/strtoull in
# base 10 on a NUL-terminated token, then "the next byte is whitespace or the
# end"), so the generator knows how memcached frames each request.
# --------------------------------------------------------------------------

_CSPACE = b" \t\n\v\f\r"


def _c_strto(tok, signed):
    """(value, erange, end) as C's strto(u)l(l) base 10, or None if no digits."""
    i = 0
    while i < len(tok) and tok[i] in _CSPACE:
        i += 1
    neg = False
    if i < len(tok) and tok[i] in b"+-":
        neg = tok[i] == ord("-")
        i += 1
    j = i
    while j < len(tok) and 48 <= tok[j] <= 57:
        j += 1
    if j == i:
        return None
    mag = int(tok[i:j])
    if signed:
        v = -mag if neg else mag
        erange = not -(1 << 63) <= v < (1 << 63)
    else:
        erange = mag >= (1 << 64)
        v = ((-mag) % (1 << 64)) if neg else mag
    return v, erange, j


def _end_ok(tok, end):
    return end >= len(tok) or tok[end] in _CSPACE or tok[end] == 0


def mc_strtoul32(tok):
    """safe_strtoul into uint32_t: the value, or None if memcached rejects it."""
    r = _c_strto(tok, False)
    if r is None or r[1] or not _end_ok(tok, r[2]):
        return None
    if r[0] >= (1 << 63) and b"-" in tok:
        return None
    return r[0] & 0xFFFFFFFF


def mc_strtol32(tok):
    """safe_strtol into int32_t (strtol into 64 bits, then a cast)."""
    r = _c_strto(tok, True)
    if r is None or r[1] or not _end_ok(tok, r[2]):
        return None
    return ((r[0] + (1 << 31)) % (1 << 32)) - (1 << 31)


def mc_strtoull(tok):
    """safe_strtoull into uint64_t."""
    r = _c_strto(tok, False)
    if r is None or r[1] or not _end_ok(tok, r[2]):
        return None
    if r[0] >= (1 << 63) and b"-" in tok:
        return None
    return r[0]


# --------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------

class Req:
    """One request: its wire bytes as segments (bytes, ("rep", unit, n) for
    unit*n, or ("cas", key) for the latest cas unique seen for key)."""

    __slots__ = ("segs", "kind", "versions", "ok_retrieval", "long_retrieval",
                 "cas_key", "closes", "barrier", "variants", "after")

    def __init__(self, segs, kind, versions=0, ok_retrieval=False,
                 long_retrieval=False, cas_key=None, closes=False, barrier=False,
                 variants=None):
        self.segs = segs
        self.kind = kind
        self.versions = versions          # VERSION lines it is answered with
        self.ok_retrieval = ok_retrieval  # a get/gets/gat/gats that ends in END
        self.long_retrieval = long_retrieval  # retrieval with a key over 250 bytes
        self.cas_key = cas_key            # needs a barrier: unique from a reply
        self.closes = closes              # memcached closes the connection
        self.barrier = barrier            # always wants a barrier first
        self.variants = variants          # () -> simpler Reqs, for shrinking
        self.after = None                 # a Req that must come right before it

    def copy(self, **changes):
        new = Req.__new__(Req)
        for name in Req.__slots__:
            setattr(new, name, changes.get(name, getattr(self, name)))
        return new

    def render(self, cas_fn=None):
        out = bytearray()
        for s in self.segs:
            if isinstance(s, bytes):
                out += s
            elif s[0] == "rep":
                out += s[1] * s[2]
            else:
                out += cas_fn(s[1]) if cas_fn else b"0"
        return bytes(out)


def data_len(segs):
    return sum(len(s) if isinstance(s, bytes) else len(s[1]) * s[2] for s in segs)


def shrink_data(data, m):
    """The first m bytes of a value (None if that would be all whitespace)."""
    if data and isinstance(data[0], tuple):
        unit = data[0][1]
        c, t = divmod(m, len(unit))
        return [("rep", unit, c)] + ([unit[:t]] if t else [])
    flat = b"".join(d for d in data if isinstance(d, bytes))[:m]
    if flat and not flat.strip(_CSPACE + b"\x00"):
        return None
    return [flat] if flat else []


def needs_barrier(req, prev):
    """Must every earlier reply be read before req is sent?"""
    if req.cas_key is not None or req.barrier:
        return True
    # Rule 4: memcached has nothing queued right after a successful retrieval.
    return req.long_retrieval and not (prev is not None and prev.ok_retrieval)


def plan(reqs, mode):
    """Steps to run reqs: ("req", i), ("barrier",) = send `version` and wait
    until both servers answered it, ("quiet",) = write, wait until both are
    quiet (diff_test's `send`). mode: ("whole",), ("random", seed) or
    ("points", frozenset of indices followed by a quiet step)."""
    steps = []
    unsynced = False
    for i, req in enumerate(reqs):
        if unsynced and needs_barrier(req, reqs[i - 1] if i else None):
            steps.append(("barrier",))
            unsynced = False
        steps.append(("req", i))
        unsynced = True
        if req.closes:
            break
        if mode[0] == "points" and i in mode[1] and i + 1 < len(reqs):
            steps.append(("quiet",))
    return steps


# --------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------

KEY_CHARS = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
             b"_-.:/|!#$%&()+,;<=>?@[]^`~'\"")
# Value bytes: no lowercase, so no line of a value can be read as a command
# when memcached (rightly) refuses its header and parses the data as commands.
VALUE_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:,;!?#@%&()[]<>=+/|~^$'\""
FILLER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
VALUE_SPICE = [b"\r\n", b"\n", b"\r", b"\t", b"\x00", b"\xff", b"\x80", b"{", b"}",
               b"*", b"\\", b"VALUE ", b"END\r\n"]

FLAGS_OK = [b"0", b"0", b"0", b"1", b"7", b"65535", b"4294967295", b"+1", b"-0", b"00012",
            b"4294967296", b"4294967297", b"18446744073709551615",
            b"-18446744073709551615", b"-9223372036854775809", b"\t5", b"5\t"]
FLAGS_BAD = [b"-1", b"1x", b"0x10", b"18446744073709551616", b"x", b"+", b"-", b"--1",
             b"1.5", b"-4294967296"]
# exptimes that do not race the clock (memcached casts strtol's 64 bits to 32)
EXP_LIVE = [b"0", b"0", b"0", b"0", b"100000", b"+100000", b"2592000", b"2000000000",
            b"2147483647", b"4294967296", b"-2147483649", b"4295067296", b"00",
            b"-0", b"\t0", b"0\t", b"86400"]
EXP_DEAD = [b"-1", b"-100", b"2592001", b"1000000000", b"2147483648", b"4294967295",
            b"9223372036854775807"]
EXP_BAD = [b"9223372036854775808", b"-9223372036854775809", b"x", b"1x", b"0x10",
           b"--1", b"+-1", b"1.5", b""]
U64_OK = [b"0", b"1", b"+1", b"-0", b"01", b"18446744073709551615",
          b"-18446744073709551615", b"\t1", b"1\t", b"9223372036854775808"]
U64_BAD = [b"-1", b"18446744073709551616", b"x", b"1x", b"0x5", b"--1", b"1.0",
           b"99999999999999999999999"]
# Values for the arithmetic keys. None is a number of 2^63 or more: memcached
# parses a stored value with safe_strtoull, which for such a number looks for a
# '-' with strchr() past the end of the value, through stale item memory, so it
# may answer "non-numeric" depending on what that chunk held before.
# ERANGE ("18446744073709551616") and a '-' inside the value are safe.
ARITH_VALUES = [b"0", b"1", b"9", b"10", b"99", b"100", b"1000", b"12345678",
                b"4611686018427387903", b"4611686018427387904", b" 5", b"+5", b"5 ",
                b"00010", b"5\r\nX", b"1 2", b"12abc", b"-5", b"", b"18446744073709551616",
                b"99999999999999999999", b"\t7", b"7\x00X", b"0000", b"4294967296", b"X",
                b"-18446744073709551615"]
ARITH_MAX = 1 << 62  # stored arithmetic values stay below 2^63: see ARITH_VALUES
INCR_DELTA_MAX = 1 << 32  # * max_requests increments still stay below 2^63


class Generator:
    """Builds one sequence of requests from a seeded random.Random."""

    def __init__(self, rng, max_requests, extra_tokens, avoid=()):
        self.rng = rng
        self.avoid = set(avoid)
        self.max_requests = max_requests
        self.extra_tokens = extra_tokens  # rule 1: only with --memcached-syntax
        r = rng
        self.normal = []
        for i in range(r.randint(4, 30)):
            n = r.choice([1, 2, 3, 5, 8, 12, 20, 40])
            self.normal.append(b"k%d" % i + self.rand_bytes(KEY_CHARS, max(0, n - 3)))
        self.arith = [b"n%d" % i for i in range(r.randint(2, 5))]
        self.arith.append(b"N" + b"9" * 249)  # a 250-byte arithmetic key
        self.big = [b"big%d" % i for i in range(r.randint(1, 3))]
        self.long = [b"L%d" % i + self.rand_bytes(KEY_CHARS, 248) for i in range(2)]
        self.long.append(b"M" + self.rand_bytes(KEY_CHARS, 248))  # 249 bytes
        self.over = [b"O" + self.rand_bytes(KEY_CHARS, 250),
                     b"P" + self.rand_bytes(KEY_CHARS, 251),
                     b"Q" + self.rand_bytes(KEY_CHARS, r.choice([259, 299, 1000]))]
        self.ghost = b"ghost"  # never stored
        self.big_budget = r.randint(0, 4)  # ~600 KB payloads in this sequence
        self.big_gets = 3                  # retrievals that may name big keys
        # Keep appended bytes bounded so no stored value comes near the 1 MB
        # limit: at most ~640 KB + 20 KB + max_requests * append_max.
        self.append_max = max(1, min(2000, 240000 // max(1, max_requests)))

    # -- pieces ------------------------------------------------------------

    def rand_bytes(self, alphabet, n):
        return bytes(self.rng.choice(alphabet) for _ in range(n))

    def eol(self):
        return b"\n" if self.rng.random() < 0.15 else b"\r\n"

    def style(self):
        """How a command line is spelled: separator, leading and trailing
        spaces, line end."""
        r = self.rng
        return (b"  " if r.random() < 0.05 else b" ",
                b" " * r.randint(1, 3) if r.random() < 0.03 else b"",
                b" " * r.randint(1, 3) if r.random() < 0.03 else b"",
                self.eol())

    @staticmethod
    def join(tokens, style):
        """Segments of a command line; a token may be a ("cas", key) placeholder."""
        sep, lead, trail, eol = style
        segs = []
        cur = bytearray(lead)
        for i, t in enumerate(tokens):
            if i:
                cur += sep
            if isinstance(t, tuple):
                segs += [bytes(cur), t]
                cur = bytearray()
            else:
                cur += t
        cur += trail + eol
        segs.append(bytes(cur))
        return [s for s in segs if s != b""]

    def line(self, tokens, eol=None):
        style = self.style()
        if eol is not None:
            style = style[:3] + (eol,)
        return self.join(tokens, style)[0]

    def value(self, n, spice=True):
        """n bytes of value, never all whitespace."""
        r = self.rng
        if n == 0:
            return b""
        out = bytearray(self.rand_bytes(VALUE_CHARS, n))
        if spice and n > 1 and r.random() < 0.3:
            for _ in range(r.randint(1, 3)):
                s = r.choice(VALUE_SPICE)
                at = r.randrange(n)
                out[at:at + len(s)] = s
            del out[n:]
        if not bytes(out).strip(_CSPACE + b"\x00"):
            out[0] = ord("X")
        return bytes(out)

    def small_len(self):
        r = self.rng.random()
        if r < 0.05:
            return 0
        if r < 0.5:
            return self.rng.randint(1, 10)
        if r < 0.85:
            return self.rng.randint(11, 100)
        if r < 0.97:
            return self.rng.randint(101, 2000)
        return self.rng.randint(2001, 20000)

    def big_data(self, n):
        unit = self.rand_bytes(FILLER, self.rng.randint(5, 13))
        count, tail = divmod(n, len(unit))
        return [("rep", unit, count)] + ([unit[:tail]] if tail else [])

    def flags(self):
        r = self.rng.random()
        if r < 0.7:
            return b"0"
        if r < 0.85:
            return b"%d" % self.rng.randrange(1 << 32)
        return self.rng.choice(FLAGS_OK)

    def exptime(self, dead=0.1):
        return self.rng.choice(EXP_DEAD if self.rng.random() < dead else EXP_LIVE)

    def bytes_token(self, n):
        """A token memcached reads as length n."""
        r = self.rng.random()
        if r < 0.85:
            return b"%d" % n
        forms = [b"+%d" % n, b"00%d" % n, b"%d" % (n + (1 << 32)), b"%d" % (n + (5 << 32)),
                 b"\t%d" % n, b"%d\t" % n]
        if n == 0:
            forms.append(b"-0")
        tok = self.rng.choice(forms)
        assert mc_strtol32(tok) == n, tok
        return tok

    def u64(self):
        r = self.rng.random()
        if r < 0.4:
            return b"%d" % self.rng.randint(0, 10)
        if r < 0.6:
            return b"%d" % self.rng.randrange(1 << 64)
        if r < 0.7:
            return b"%d" % ((1 << 64) - self.rng.randint(1, 3))
        return self.rng.choice(U64_OK)

    def noreply(self, p=0.15):
        return self.rng.random() < p

    def any_key(self, big_ok=False):
        r = self.rng.random()
        if r < 0.6:
            return self.rng.choice(self.normal)
        if r < 0.75:
            return self.rng.choice(self.arith)
        if r < 0.85:
            return self.rng.choice(self.long)
        if r < 0.9:
            return self.ghost
        if big_ok:
            return self.rng.choice(self.big)
        return self.rng.choice(self.normal)

    # -- request builders -------------------------------------------------

    def storage(self, cmd, key, data, flags=None, exp=None, cas=None, noreply=False,
                term=b"\r\n", kind=None, extra=(), style=None, btok=None):
        """A storage request whose header memcached accepts, so that it reads a
        data block of data_len(data) bytes; cas may be a ("cas", key)
        placeholder. Its variants are the same request with less data."""
        n = data_len(data)
        flags = flags if flags is not None else self.flags()
        exp = exp if exp is not None else self.exptime()
        btok = btok if btok is not None else self.bytes_token(n)
        style = style or self.style()
        toks = [cmd, key, flags, exp, btok] + ([cas] if cas is not None else []) + \
            list(extra) + ([b"noreply"] if noreply else [])
        if self.frames([b"1" if isinstance(t, tuple) else t for t in toks]) is None:
            # memcached answers the header alone and parses the data as command
            # lines: keep them short (see the module docstring).
            data = [self.value(min(n, 40), spice=False)] if n else []
            n = data_len(data)
        segs = self.join(toks, style) + list(data) + [term]
        req = Req(segs, kind or cmd.decode(),
                  cas_key=cas[1] if isinstance(cas, tuple) else None)

        def variants():
            out = []
            for m in sorted({0, 1, n // 100, n // 10, n // 2}):
                nd = shrink_data(data, m) if m < n else None
                if nd is not None:
                    out.append(self.storage(cmd, key, nd, flags, exp, cas, noreply, term,
                                            kind, extra, style, b"%d" % m))
            return out

        if n > 1:
            req.variants = variants
        return req

    def retrieval(self, cmd, keys, exp=None):
        toks = [cmd] + ([exp] if exp is not None else []) + keys
        line = self.line(toks)
        ok = bool(keys) and all(len(k) <= 250 for k in keys)
        if exp is not None:
            ok = ok and mc_strtol32(exp) is not None
        long_ = any(len(k) > 250 for k in keys)
        req = Req([line], cmd.decode(), ok_retrieval=ok, long_retrieval=long_,
                  barrier=long_ and "long-after-retrieval" in self.avoid)
        if len(keys) > 1:
            def variants():
                half = len(keys) // 2
                cands = [keys[:half], keys[half:]]
                if long_:  # keep the long key
                    cands = [c for c in cands if any(len(k) > 250 for k in c)]
                return [self.retrieval(cmd, c, exp) for c in cands if c]
            req.variants = variants
        return req

    def simple(self, line, kind, **kw):
        return Req([line], kind, **kw)

    # -- actions: each returns a list of requests ---------------------------

    def act_store(self):
        r = self.rng
        cmd = r.choice([b"set", b"set", b"add", b"replace", b"append", b"prepend"])
        key = r.choice(self.normal) if r.random() < 0.9 else r.choice(self.long[:2])
        n = self.small_len()
        if cmd in (b"append", b"prepend"):
            n = min(n, self.append_max)
        return [self.storage(cmd, key, [self.value(n)] if n else [], noreply=self.noreply())]

    def act_arith_set(self):
        r = self.rng
        cmd = r.choice([b"set", b"set", b"add", b"replace"])
        v = r.choice(ARITH_VALUES) if r.random() < 0.7 else b"%d" % r.randrange(ARITH_MAX)
        return [self.storage(cmd, r.choice(self.arith), [v] if v else [],
                             noreply=self.noreply(0.1), kind="arith-set")]

    def act_incr(self):
        """incr/decr. Increments are small, so that no stored number reaches
        2^63 (see ARITH_VALUES); a wrap past 2^64 is tested on a value just
        set, as a pair that shrinking keeps together."""
        r = self.rng
        cmd = r.choice([b"incr", b"decr"])
        x = r.random()
        if x < 0.88:
            key = r.choice(self.arith)
        elif x < 0.94:
            key = self.ghost
        else:
            key = r.choice(self.over)  # CLIENT_ERROR
        if cmd == b"incr" and key in self.arith and r.random() < 0.1:
            v = r.randint(1, 1000)
            first = self.storage(b"set", key, [b"%d" % v], flags=b"0", exp=b"0",
                                 kind="arith-set")
            delta = (1 << 64) - r.randint(1, v)
            second = self.simple(self.line([cmd, key, b"%d" % delta]), "incr-wrap")
            second.after = first
            return [first, second]
        if r.random() < 0.1:
            delta = self.rng.choice(U64_BAD)
        elif cmd == b"decr":
            delta = self.u64()
        elif r.random() < 0.7:
            delta = b"%d" % r.randint(0, 10)
        elif r.random() < 0.7:
            delta = b"%d" % r.randrange(INCR_DELTA_MAX)
        else:
            delta = r.choice([b"+1", b"-0", b"01", b"\t1", b"1\t", b"-18446744073709551615",
                              b"%d" % INCR_DELTA_MAX])
        toks = [cmd, key, delta]
        if self.noreply():
            toks.append(b"noreply")
        return [self.simple(self.line(toks), cmd.decode())]

    def act_big(self):
        r = self.rng
        if self.big_budget <= 0:
            return self.act_store()
        self.big_budget -= 1
        cmd = r.choice([b"set", b"set", b"set", b"add", b"replace", b"append", b"prepend"])
        n = r.randint(560000, 640000)
        term = b"\r\n"
        kind = "big-" + cmd.decode()
        if r.random() < 0.1:  # bad terminator: still exactly n + 2 bytes
            term = r.choice([b"XY", b"\r\r", b"  ", b"\rX"])
            kind = "big-bad-chunk"
        return [self.storage(cmd, r.choice(self.big), self.big_data(n), term=term,
                             noreply=self.noreply(0.1), kind=kind)]

    def act_too_large(self):
        r = self.rng
        if self.big_budget <= 0:
            return self.act_store()
        self.big_budget -= 1
        cmd = r.choice([b"set", b"add", b"append", b"replace"])
        key = r.choice(self.big + self.normal[:2])
        n = r.randint(1100000, 1300000)
        return [self.storage(cmd, key, self.big_data(n), noreply=self.noreply(0.2),
                             kind="too-large")]

    def pick_keys(self, count, big_ok):
        keys = []
        bigs = 0
        for _ in range(count):
            k = self.any_key(big_ok=big_ok and bigs < 2)
            if k in self.big:
                bigs += 1
            keys.append(k)
        return keys

    def big_ok(self):
        if self.big_gets > 0 and self.rng.random() < 0.5:
            self.big_gets -= 1
            return True
        return False

    def act_get(self):
        r = self.rng
        cmd = r.choice([b"get", b"get", b"gets"])
        count = 0 if r.random() < 0.03 else r.randint(1, 5)
        return [self.retrieval(cmd, self.pick_keys(count, self.big_ok()))]

    def act_multiget(self):
        r = self.rng
        cmd = r.choice([b"get", b"gets"])
        count = r.choice([r.randint(20, 60), r.randint(60, 300)])
        return [self.retrieval(cmd, self.pick_keys(count, self.big_ok()))]

    def gat_keys(self, count, big_ok, budget=2000):
        keys = self.pick_keys(count, big_ok)
        while keys and sum(len(k) + 2 for k in keys) > budget:
            keys.pop()
        return keys

    def gat_exp(self):
        r = self.rng.random()
        if r < 0.8:
            return self.exptime(dead=0.15)
        return self.rng.choice(EXP_BAD[:-1])

    def act_gat(self):
        r = self.rng
        cmd = r.choice([b"gat", b"gats"])
        count = 0 if r.random() < 0.03 else r.choice([1, 1, 2, 3, r.randint(4, 60)])
        return [self.retrieval(cmd, self.gat_keys(count, self.big_ok()), self.gat_exp())]

    def act_touch(self):
        r = self.rng
        key = self.any_key() if r.random() < 0.95 else r.choice(self.over)
        toks = [b"touch", key, self.gat_exp()]
        if self.noreply():
            toks.append(b"noreply")
        return [self.simple(self.line(toks), "touch")]

    def act_delete(self):
        r = self.rng
        key = self.any_key(big_ok=True) if r.random() < 0.95 else r.choice(self.over)
        toks = [b"delete", key]
        if self.noreply():
            toks.append(b"noreply")
        if self.extra_tokens and r.random() < 0.25:  # rule 1: memcached syntax only
            toks = r.choice([
                [b"delete", key, b"0"], [b"delete", key, b"1"], [b"delete", key, b"x"],
                [b"delete", key, b"0", b"noreply"], [b"delete", key, b"noreply", b"0"],
                [b"delete", key, b"0", b"0"], [b"delete", key, b"0", b"noreply", b"x"],
                [b"delete"] + self.pick_keys(r.randint(2, 6), False)])
            return [self.simple(self.line(toks), "delete-extra")]
        return [self.simple(self.line(toks), "delete")]

    def cas_data(self, pool):
        if pool is self.arith:
            return [self.rng.choice(ARITH_VALUES[:8])]
        n = self.small_len()
        return [self.value(n)] if n else []

    def act_cas(self):
        r = self.rng
        pool = self.arith if r.random() < 0.2 else self.normal
        key = r.choice(pool)
        out = []
        if r.random() < 0.5:
            out.append(self.storage(b"set", key, self.cas_data(pool), exp=b"0", kind="set"))
        others = self.pick_keys(r.randint(0, 3), False)
        if r.random() < 0.3:
            out.append(self.retrieval(b"gats", [key] + others, self.exptime(dead=0)))
        else:
            out.append(self.retrieval(b"gets", [key] + others))
        x = r.random()
        if x < 0.2:  # touched in between: still the same unique (touch keeps it)
            out.append(self.simple(self.line([b"touch", key, b"0"]), "touch"))
        elif x < 0.35:  # modified in between: EXISTS
            out.append(self.storage(b"append" if pool is self.normal else b"set", key,
                                    [b"7"], kind="set"))
        data = self.cas_data(pool)
        if r.random() < 0.85:
            cas = ("cas", key)
        else:
            cas = r.choice([b"0", b"-0", b"18446744073709551615", b"+18446744073709551614"]
                           + U64_BAD)
        out.append(self.storage(b"cas", key, data, cas=cas, noreply=self.noreply(0.1),
                                kind="cas"))
        return out

    def act_flush(self):
        # No positive delay: see the module docstring.
        toks = self.rng.choice([
            [b"flush_all"], [b"flush_all"], [b"flush_all", b"0"], [b"flush_all", b"-1"],
            [b"flush_all", b"noreply"], [b"flush_all", b"0", b"noreply"],
            [b"flush_all", b"-0"], [b"flush_all", b"4294967296"], [b"flush_all", b"x"],
            [b"flush_all", b"9223372036854775808"], [b"flush_all", b"0", b"5"],
            [b"flush_all", b"noreply", b"0"], [b"flush_all", b"0", b"0", b"0"],
            [b"flush_all", b"x", b"noreply"]])
        return [self.simple(self.line(toks), "flush_all")]

    def act_verbosity(self):
        toks = self.rng.choice([
            [b"verbosity"], [b"verbosity", b"0"], [b"verbosity", b"1"],
            [b"verbosity", b"0", b"noreply"], [b"verbosity", b"x"], [b"verbosity", b"-1"],
            [b"verbosity", b"+0"], [b"verbosity", b"noreply"], [b"verbosity", b"0", b"1"],
            [b"verbosity", b"0", b"1", b"2"], [b"verbosity", b"0\t"]])
        return [self.simple(self.line(toks), "verbosity")]

    def act_version(self):
        toks = self.rng.choice([[b"version"], [b"version"], [b"version", b"x"],
                                [b"version", b"noreply"]])
        return [self.simple(self.line(toks), "version", versions=1)]

    def act_junk(self):
        r = self.rng
        line = r.choice([
            b"foo", b"GET k", b"sett k 0 0 1", b"gett k", b"sets", b"x", b"", b"   ",
            b"incrr n0 1", b"deletes k0", b"ab", b"Set k 0 0 1", b"get\tk0", b"touch",
            b"incr", b"incr n0", b"decr n0", b"touch k0", b"delete", b"cas k0 0 0 1",
            b"gat", b"gats", b"gat 0", b"gets", b"get", b"shutdown", b"quitx",
            b"get / HTTP/1.1", b"gets a HTTP/1.0", b"flush_al", b"verbose 1", b"VERSION",
            b"\x80\xff", b"incr  n0  1", b"get " + self.rng.choice(self.normal) + b" ",
            b"set " + self.rng.choice(self.normal), b"append", b"prepend k0 0",
            b"replace k0 0 0", b"add k0 x", b"cas k0 0 0 1"])
        return [self.simple(line + self.eol(), "junk")]

    def act_bad_storage(self):
        """A header memcached refuses without reading a data block: the
        (short, command-free) data is then parsed as command lines."""
        r = self.rng
        cmd = r.choice([b"set", b"add", b"replace", b"append", b"prepend", b"cas"])
        key = r.choice(self.normal)
        n = r.randint(0, 40)
        flags, exp, btok = self.flags(), self.exptime(), b"%d" % n
        cas = [b"1"] if cmd == b"cas" else []
        what = r.choice(["flags", "exp", "bytes", "cas", "key", "few", "noreply-bytes"])
        if what == "flags":
            flags = r.choice(FLAGS_BAD)
        elif what == "exp":
            exp = self.rng.choice(EXP_BAD[:-1])
        elif what == "bytes":
            btok = r.choice([b"-1", b"-%d" % (n + 1), b"2147483646", b"2147483647",
                             b"4294967295", b"x", b"1x", b"0x1", b"9223372036854775808",
                             b"--1", b"1.0", b"+-1", b"%d" % ((1 << 32) - 5)])
        elif what == "cas":
            if cmd == b"cas":
                cas = [r.choice(U64_BAD)]
            else:
                flags = r.choice(FLAGS_BAD)
        elif what == "key":
            key = r.choice(self.over)
        toks = [cmd, key, flags, exp, btok] + cas
        if what == "few":
            toks = toks[:r.randint(1, len(toks) - 1)]
        elif what == "noreply-bytes":
            toks[4] = b"noreply"  # the last token is checked for noreply first
        if self.noreply(0.2) and what != "few":
            toks.append(b"noreply")
        assert self.frames(toks) is None, toks
        data = self.value(n, spice=False) + b"\r\n"
        if r.random() < 0.3:
            data = b""  # no data at all
        return [self.simple(self.line(toks) + data, "bad-storage")]

    def frames(self, toks):
        """Length of the data block memcached reads after this storage header,
        or None if it answers without reading one."""
        cmd = toks[0]
        want = (6, 7) if cmd == b"cas" else (5, 6)
        if len(toks) not in want or len(toks[1]) > 250:
            return None
        if mc_strtoul32(toks[2]) is None or mc_strtol32(toks[3]) is None:
            return None
        vlen = mc_strtol32(toks[4])
        if vlen is None:
            return None
        if cmd == b"cas" and mc_strtoull(toks[5]) is None:
            return None
        if vlen < 0 or vlen > (1 << 31) - 3:
            return None
        return vlen

    def act_bad_chunk(self):
        """A data block of the wrong length or with a bad terminator, built so
        that memcached reads exactly its declared length + 2 from this request
        and the rest (if any) is one command-free line; never a \\n right
        after the declared length (rule 2)."""
        r = self.rng
        cmd = r.choice([b"set", b"set", b"add", b"replace", b"append", b"prepend"])
        key = r.choice(self.normal)
        for _ in range(50):
            n = r.randint(0, 60)
            btok = r.choice([b"%d" % n, b"%d" % n, b"%d" % (n + (1 << 32))])
            if btok == b"4294967296":
                n = 0
            m = r.randint(0, 80)
            if m == n:
                continue
            block = self.value(m, spice=False) + b"\r\n"
            if len(block) < n + 2:
                block += self.rand_bytes(FILLER, n + 2 - len(block) + r.choice([0, 0, 3]))
            if block[n:n + 2] == b"\r\n" or block[n:n + 1] == b"\n":
                continue
            rest = block[n + 2:]
            if rest and not rest.endswith(b"\n"):
                block += b"\r\n"
            toks = [cmd, key, self.flags(), self.exptime(), btok]
            if self.noreply(0.15):
                toks.append(b"noreply")
            return [self.simple(self.line(toks) + block, "bad-chunk")]
        return self.act_store()

    def act_bad_term(self):
        """Right length, wrong two bytes after the data."""
        r = self.rng
        n = self.rng.randint(0, 100)
        term = r.choice([b"XY", b"\r\r", b"  ", b"\rX", b"\r\x00", b"X\r"])
        return [self.storage(r.choice([b"set", b"add", b"append"]), r.choice(self.normal),
                             [self.value(n)] if n else [], term=term, kind="bad-term")]

    def act_long_get(self):
        """Rule 4: a retrieval with a key over 250 bytes, right after a
        successful retrieval (often a big multi-get) or after a barrier."""
        r = self.rng
        out = []
        if r.random() < 0.6:
            out += self.act_multiget() if r.random() < 0.5 else self.act_get()
        cmd = r.choice([b"get", b"get", b"gets", b"gat", b"gats"])
        keys = self.pick_keys(r.randint(0, 5), False)
        keys.insert(r.randint(0, len(keys)), r.choice(self.over))
        if cmd in (b"gat", b"gats"):
            while len(keys) > 1 and sum(len(k) + 1 for k in keys) > 1900:
                keys.remove(next(k for k in keys if len(k) <= 250))
            if sum(len(k) + 1 for k in keys) > 1900:
                keys = [self.over[0]]
            out.append(self.retrieval(cmd, keys, self.exptime(dead=0)))
        else:
            out.append(self.retrieval(cmd, keys))
        return out

    def act_extra(self):
        """Rule 1: extra tokens, only when treecached uses memcached's syntax."""
        r = self.rng
        if not self.extra_tokens:
            return self.act_store()
        key = r.choice(self.normal)
        x = r.random()
        if x < 0.35:  # one extra token: memcached ignores it (unless noreply)
            n = r.randint(0, 20)
            extra = [r.choice([b"x", b"NOREPLY", b"0", b"noreplyx", b"1"])]
            return [self.storage(r.choice([b"set", b"add", b"append"]), key,
                                 [self.value(n)] if n else [], extra=extra,
                                 kind="extra-token")]
        if x < 0.55:
            toks = r.choice([[b"incr", r.choice(self.arith), b"1", b"x"],
                             [b"decr", r.choice(self.arith), b"1", b"x", b"y"],
                             [b"touch", key, b"0", b"x"], [b"touch", key, b"0", b"x", b"y"],
                             [b"incr", r.choice(self.arith), b"1", b"NOREPLY"]])
            return [self.simple(self.line(toks), "extra-token")]
        # Two or many extra tokens: ERROR, and the data line is a command.
        depth = r.choice([3, 4, r.randint(20, 70), r.randint(70, 200)])
        path = [key] + [self.rand_bytes(KEY_CHARS, r.randint(1, 6)) for _ in range(depth - 1)]
        n = r.randint(0, 20)
        toks = [r.choice([b"set", b"add", b"cas"])] + path + [b"0", b"0", b"%d" % n]
        if toks[0] == b"cas":
            toks.append(b"1")
        if self.noreply(0.2):
            toks.append(b"noreply")
        assert self.frames(toks) is None
        return [self.simple(self.line(toks) + self.value(n, spice=False) + b"\r\n",
                            "deep-path")]

    ACTIONS = [("act_store", 22), ("act_arith_set", 6), ("act_incr", 10), ("act_big", 2),
               ("act_too_large", 0.3), ("act_get", 14), ("act_multiget", 3), ("act_gat", 5),
               ("act_touch", 4), ("act_delete", 6), ("act_cas", 5), ("act_flush", 1),
               ("act_verbosity", 1), ("act_version", 1), ("act_junk", 3),
               ("act_bad_storage", 5), ("act_bad_chunk", 3), ("act_bad_term", 2),
               ("act_long_get", 2), ("act_extra", 3)]

    def sequence(self):
        r = self.rng
        names = [a for a, _ in self.ACTIONS]
        weights = [w for _, w in self.ACTIONS]
        target = r.randint(5, self.max_requests)
        reqs = []
        while len(reqs) < target:
            reqs += getattr(self, r.choices(names, weights)[0])()
        del reqs[target:]
        if r.random() < 0.05:  # memcached closes the connection: last only
            line = r.choice([b"quit\r\n", b"quit x\r\n", b"GET / HTTP/1.1\r\n",
                             b"quit\n", b"FOO HTTP/1.0\r\n"])
            # quit writes what is queued first; an HTTP/ line closes at once,
            # dropping memcached's unwritten replies: a barrier first.
            if b"HTTP/" not in line or "http-close" not in self.avoid:
                reqs.append(Req([line], "close", closes=True, barrier=b"HTTP/" in line))
        return reqs


# --------------------------------------------------------------------------
# Replies: split into lines and VALUE blocks, cas uniques renamed
# --------------------------------------------------------------------------

_VALUE_RE = re.compile(rb"VALUE ([^ ]+) ([^ ]+) ([0-9]+)(?: ([0-9]+))?\Z")
_HEAD_RE = re.compile(rb"VALUE ([^ ]+) ([^ ]+) ([0-9]+)(?: (C[0-9]+))?\Z")  # normalised
_PADDED_RE = re.compile(rb"([0-9]+) +")


class Scanner:
    """Incremental reply parser: tokens are (line, None) or (VALUE line, data
    with its 2 trailing bytes), cas uniques mapped to C1, C2, ... in order of
    first appearance (like diff_test.normalise)."""

    def __init__(self):
        self.buf = bytearray()
        self.pos = 0
        self.tokens = []
        self.cas_map = {}
        self.versions = 0

    def feed(self, data):
        if data:
            self.buf += data
            self._scan()

    def _scan(self):
        buf = self.buf
        while True:
            nl = buf.find(b"\n", self.pos)
            if nl < 0:
                return
            cr = nl > self.pos and buf[nl - 1] == 13
            body = bytes(buf[self.pos:nl - 1 if cr else nl])
            eol = b"\r\n" if cr else b"\n"
            m = _VALUE_RE.match(body)
            if m:
                end = nl + 1 + int(m.group(3)) + 2
                if len(buf) < end:
                    return
                self.tokens.append((self._value_head(m) + eol, bytes(buf[nl + 1:end])))
                self.pos = end
                continue
            if body.startswith(b"VERSION "):
                self.versions += 1
                body = b"VERSION <v>"
            self.tokens.append((body + eol, None))
            self.pos = nl + 1

    def _value_head(self, m):
        if m.group(4) is None:
            return m.group(0)
        cas = m.group(4)
        if cas not in self.cas_map:
            self.cas_map[cas] = b"C%d" % (len(self.cas_map) + 1)
        return b"VALUE %s %s %s %s" % (m.group(1), m.group(2), m.group(3), self.cas_map[cas])

    def final_tokens(self):
        """All tokens, with whatever is left (an incomplete line or block)."""
        toks = list(self.tokens)
        rest = bytes(self.buf[self.pos:])
        if rest:
            toks.append((b"<incomplete>" + rest, None))
        return toks


def _padded_match(ref, sut):
    """Rule 3: memcached's VALUE has digits + spaces where ours has the digits."""
    if ref[1] is None or sut[1] is None:
        return False
    mr, ms = _HEAD_RE.match(ref[0].rstrip(b"\r\n")), _HEAD_RE.match(sut[0].rstrip(b"\r\n"))
    if not mr or not ms or ref[0][-2:] != sut[0][-2:]:
        return False
    if (mr.group(1), mr.group(2), mr.group(4)) != (ms.group(1), ms.group(2), ms.group(4)):
        return False
    if ref[1][-2:] != sut[1][-2:]:
        return False
    pm = _PADDED_RE.fullmatch(ref[1][:-2])
    return bool(pm) and pm.group(1) == sut[1][:-2]


def compare_tokens(ref, sut, symmetric, prefix=False):
    """(first differing index or None, set of rules used). With prefix=True
    only the common length is compared."""
    rules = set()
    n = min(len(ref), len(sut))
    for i in range(n):
        a, b = ref[i], sut[i]
        if a == b:
            continue
        if _padded_match(a, b) or (symmetric and _padded_match(b, a)):
            rules.add(3)
            continue
        return i, rules
    if not prefix and len(ref) != len(sut):
        return n, rules
    return None, rules


def _shape(tok):
    if tok is None:
        return "<nothing>"
    line = tok[0]
    if line.startswith(b"VALUE "):
        return "VALUE"
    text = re.sub(rb"[0-9]+", b"N", line.rstrip(b"\r\n"))[:60]
    return text.decode("latin-1")


# --------------------------------------------------------------------------
# Running a sequence
# --------------------------------------------------------------------------

class Outcome:
    def __init__(self):
        self.status = "match"  # "match" | "explained" | "mismatch"
        self.rules = set()
        self.signature = ""
        self.raw = [b"", b""]
        self.errors = []
        self.unresolved = [set(), set()]  # indices of reqs whose cas was not found
        self.stalled = False
        self.sent = 0


class Runner:
    def __init__(self, args, servers):
        self.args = args
        self.servers = servers
        self.bytes_since_start = 0

    def ensure_servers(self):
        restart = self.bytes_since_start > RESTART_BYTES
        for srv in self.servers:
            if restart or not srv.alive():
                if not srv.alive() and not restart:
                    print("# %s had exited (status %s); restarted"
                          % (srv.label, srv.proc.returncode if srv.proc else "?"))
                srv.stop()
                srv.start(avoid=[s.port for s in self.servers if s is not srv])
        if restart:
            self.bytes_since_start = 0

    def execute(self, reqs, mode):
        out = Outcome()
        args = self.args
        self.ensure_servers()
        conns = []
        try:
            for srv in self.servers:
                conns.append(diff_test.Conn(srv.port, args.timeout))
        except (OSError, RuntimeError) as e:
            for c in conns:
                c.abort()
            out.status = "mismatch"
            out.errors.append("connect: %s" % e)
            out.signature = "connect"
            return out
        scans = [Scanner(), Scanner()]
        taken = [0, 0]

        def pump():
            for i, c in enumerate(conns):
                with c.lock:
                    new = bytes(c.buf[taken[i]:])
                taken[i] += len(new)
                scans[i].feed(new)

        pending = [[], []]
        nflush = [0]
        split_seed = mode[1] if mode[0] == "random" else None

        def flush():
            datas = [b"".join(p) for p in pending]
            pending[0], pending[1] = [], []
            if not datas[0] and not datas[1]:
                return
            nflush[0] += 1
            out.sent += len(datas[0])
            # Against memcached, the two servers get different splits: what
            # memcached answers must not depend on how the bytes arrive.
            plans = [chunk_plan(split_seed if i == 0 or split_seed is None or
                                not args.against_memcached else split_seed + ":other",
                                nflush[0], len(d)) for i, d in enumerate(datas)]
            pos = [0, 0]
            for j in range(max(len(p) for p in plans)):
                for i in (0, 1):
                    if j < len(plans[i]):
                        size, pause = plans[i][j]
                        conns[i].send(datas[i][pos[i]:pos[i] + size])
                        pos[i] += size
                if any(j < len(p) and p[j][1] for p in plans):
                    time.sleep(0.001)

        versions = 0
        try:
            for step in plan(reqs, mode):
                if step[0] == "barrier":
                    pending[0].append(SENTINEL)
                    pending[1].append(SENTINEL)
                    versions += 1
                    flush()
                    if not self.wait_barrier(conns, scans, pump, versions, out):
                        break
                    continue
                if step[0] == "quiet":
                    flush()
                    diff_test.wait_quiet(conns, time.monotonic() + args.timeout)
                    continue
                i = step[1]
                req = reqs[i]
                if conns[0].done.is_set():
                    break  # memcached closed the connection: the sequence ends
                for s in (0, 1):
                    def cas_fn(key, s=s):
                        v = conns[s].resolve_cas(key)
                        if v is None:
                            out.unresolved[s].add(i)
                            return b"0"
                        return v
                    pending[s].append(req.render(cas_fn))
                versions += req.versions
            flush()
            for c in conns:
                c.half_close()
            self.wait_end(conns, pump, out)
        finally:
            for c in conns:
                c.abort()
        pump()
        self.bytes_since_start += out.sent
        for i, c in enumerate(conns):
            if c.send_error and "timed out" in c.send_error:
                out.errors.append("%s stopped reading (send %s)"
                                  % (self.servers[i].label, c.send_error))
        out.raw = [bytes(s.buf) for s in scans]
        ref, sut = scans[0].final_tokens(), scans[1].final_tokens()
        at, rules = compare_tokens(ref, sut, args.against_memcached)
        eof = [c.done.is_set() for c in conns]
        if at is not None:
            out.status = "mismatch"
            out.signature = "%s | %s" % (_shape(ref[at] if at < len(ref) else None),
                                         _shape(sut[at] if at < len(sut) else None))
        elif eof[0] != eof[1]:
            out.status = "mismatch"
            out.signature = "EOF | no EOF" if eof[0] else "no EOF | EOF"
        else:
            # Equal replies; a stall of both (a tool bug) is reported by main().
            out.status = "explained" if rules else "match"
            out.rules = rules
        # A crash caused by this sequence should be blamed on it.
        if out.status == "mismatch":
            time.sleep(0.05)
        for i, srv in enumerate(self.servers):
            if not srv.alive():
                out.status = "mismatch"
                out.errors.append("%s exited (status %s)" % (srv.label, srv.proc.returncode))
                out.signature = "crash: %s" % srv.label
        return out

    def wait_barrier(self, conns, scans, pump, k, out):
        """Until both servers answered the k-th VERSION. False: stop the
        sequence (memcached closed, replies already differ, or one stalled)."""
        args = self.args
        deadline = time.monotonic() + args.timeout
        while True:
            pump()
            ok = [scans[i].versions >= k or conns[i].done.is_set() for i in (0, 1)]
            if ok[0] and ok[1]:
                return not conns[0].done.is_set() and not conns[1].done.is_set()
            now = time.monotonic()
            if ok[0] or ok[1]:
                at, _ = compare_tokens(scans[0].tokens, scans[1].tokens,
                                       args.against_memcached, prefix=True)
                if at is not None:
                    return False
                lag = conns[1] if ok[0] else conns[0]
                if now - lag.last_activity > args.stall:
                    out.stalled = True
                    out.errors.append("%s stalled before a barrier"
                                      % self.servers[1 if ok[0] else 0].label)
                    return False
            if now > deadline:
                out.stalled = True
                out.errors.append("barrier not reached within %.0fs" % args.timeout)
                return False
            time.sleep(0.002)

    def wait_end(self, conns, pump, out):
        args = self.args
        deadline = time.monotonic() + args.timeout
        while True:
            done = [c.done.is_set() for c in conns]
            if all(done):
                return
            now = time.monotonic()
            if any(done):
                lag = 1 if done[0] else 0
                if now - conns[lag].last_activity > args.stall:
                    out.stalled = True
                    out.errors.append("%s: no EOF (stalled %.0fs after the other ended)"
                                      % (self.servers[lag].label, args.stall))
                    return
            if now > deadline:
                out.stalled = True
                out.errors.append("no EOF within %.0fs" % args.timeout)
                return
            pump()
            time.sleep(0.002)


def chunk_plan(seed, index, n):
    """Write sizes (and whether to pause 1 ms after) for n bytes."""
    if seed is None:
        return [(n, False)] if n else []
    rng = random.Random("%s:%d" % (seed, index))
    if rng.random() < 0.15:
        return [(n, False)]
    out = []
    pos = 0
    tiny_budget = 400
    while pos < n:
        x = rng.random()
        if x < 0.04 and tiny_budget > 0:  # byte by byte
            run = min(rng.randint(5, 120), n - pos, tiny_budget)
            tiny_budget -= run
            out += [(1, rng.random() < 0.2) for _ in range(run)]
            pos += run
            continue
        if x < 0.2:
            size = rng.randint(1, 8)
        elif x < 0.5:
            size = rng.randint(9, 300)
        elif x < 0.8:
            size = rng.randint(301, 8192)
        else:
            size = rng.randint(8193, 262144)
        size = min(size, n - pos)
        out.append((size, rng.random() < 0.08))
        pos += size
    return out


# --------------------------------------------------------------------------
# Shrinking and reproducers
# --------------------------------------------------------------------------

class Shrinker:
    """Delta debugging over whole requests, then simpler requests and fewer
    pauses. A candidate "fails" if any of `tries` runs gives an unexplained
    mismatch (some bugs depend on how the server's reads fall), with every
    cas placeholder resolved on both servers."""

    def __init__(self, runner, deadline, max_runs, tries=2):
        self.runner = runner
        self.deadline = deadline
        self.runs = 0
        self.max_runs = max_runs
        self.tries = tries

    def budget_left(self):
        return self.runs < self.max_runs and time.monotonic() < self.deadline

    def fails(self, reqs, mode, tries=None):
        if any(req.after is not None and (i == 0 or reqs[i - 1] is not req.after)
               for i, req in enumerate(reqs)):
            return False  # a pair that only makes sense together
        for _ in range(tries or self.tries):
            if not reqs or not self.budget_left():
                return False
            self.runs += 1
            o = self.runner.execute(reqs, mode)
            if o.status != "mismatch":
                continue
            if any(req.cas_key is not None and (i in o.unresolved[0] or i in o.unresolved[1])
                   for i, req in enumerate(reqs)):
                continue
            return True
        return False

    def first_failing_prefix(self, reqs, mode):
        """Length of the shortest failing prefix (binary search)."""
        lo, hi = 1, len(reqs)
        while lo < hi and self.budget_left():
            mid = (lo + hi) // 2
            if self.fails(reqs[:mid], self.remap(mode, reqs, reqs[:mid])):
                hi = mid
            else:
                lo = mid + 1
        return hi

    def shrink(self, reqs, mode):
        # Which writes does it need? One write per barrier-to-barrier group is
        # what a case file replays; else a quiet pause after chosen requests.
        for cand in (("whole",), ("points", frozenset(range(len(reqs))))):
            if self.fails(reqs, cand, tries=3):
                mode = cand
                break
        n = self.first_failing_prefix(reqs, mode)
        mode = self.remap(mode, reqs, reqs[:n])
        reqs = reqs[:n]
        # Most mismatches need only a few neighbouring requests: try short
        # windows, from the end, sent as one write (one try each: cheap, and a
        # read-dependent mismatch shows best with all of it in one write).
        found_window = False
        for w in (1, 2, 3, 4, 6, 8):
            if w >= len(reqs) or found_window:
                break
            for end in range(len(reqs), w - 1, -1):
                if not self.budget_left():
                    break
                cand = reqs[end - w:end]
                for m in ((("whole",),) if mode[0] == "whole" else (("whole",), mode)):
                    cmode = self.remap(m, reqs, cand)
                    if self.fails(cand, cmode, tries=1):
                        reqs, mode, found_window = cand, cmode, True
                        break
                if found_window:
                    break
        reqs, mode = self.ddmin(reqs, mode)
        # Simpler requests: shorter values, fewer keys.
        changed = True
        while changed and self.budget_left():
            changed = False
            for i, req in enumerate(reqs):
                if req.variants is None:
                    continue
                for v in req.variants():
                    cand = reqs[:i] + [v] + reqs[i + 1:]
                    if self.fails(cand, mode):
                        reqs = cand
                        changed = True
                        break
        if mode[0] == "points" and mode[1]:
            mode = ("points", frozenset(self.ddmin_list(
                sorted(mode[1]), lambda pts: self.fails(reqs, ("points", frozenset(pts))))))
        return reqs, mode

    @staticmethod
    def remap(mode, old, new):
        if mode[0] != "points":
            return mode
        ids = {id(r): i for i, r in enumerate(new)}
        return ("points", frozenset(ids[id(old[i])] for i in mode[1] if id(old[i]) in ids))

    def ddmin(self, reqs, mode):
        def test(cand):
            return self.fails(cand, self.remap(mode, reqs, cand))
        out = self.ddmin_list(reqs, test)
        return out, self.remap(mode, reqs, out)

    def ddmin_list(self, items, test):
        n = 2
        while len(items) >= 2 and self.budget_left():
            chunk = -(-len(items) // n)
            reduced = False
            for start in range(0, len(items), chunk):
                cand = items[:start] + items[start + chunk:]
                if test(cand):
                    items = cand
                    n = max(n - 1, 2)
                    reduced = True
                    break
            if not reduced:
                if n >= len(items):
                    break
                n = min(n * 2, len(items))
        if len(items) == 1 and self.budget_left() and test([]):
            items = []
        return items


_KIND_CLASS = {"get": "retrieval", "gets": "retrieval", "gat": "retrieval",
               "gats": "retrieval", "set": "storage", "add": "storage", "replace": "storage",
               "append": "storage", "prepend": "storage"}


def signature(reqs):
    """A name for a shrunk reproducer: its requests' kinds and a few features
    of their command lines, so that one bug found many times is listed once."""
    out = []
    for i, req in enumerate(reqs):
        head = req.render()
        head = head[:head.find(b"\n") + 1] if b"\n" in head else head
        tags = [_KIND_CLASS.get(req.kind, req.kind)]
        if req.long_retrieval:
            prev = reqs[i - 1] if i else None
            tags.append("long-key" + ("-after-retrieval" if prev is not None and
                                      prev.ok_retrieval and not req.barrier else ""))
        out.append(" ".join(tags))
    return "; ".join(out)


def escape_bytes(b):
    out = []
    for i, byte in enumerate(b):
        c = chr(byte)
        if c == "\\":
            out.append("\\\\")
        elif c == "{":
            out.append("\\{")
        elif c == "}":
            out.append("\\}")
        elif c == "\r":
            out.append("\\r")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\0":
            out.append("\\0")
        elif c == " " and i == len(b) - 1:
            out.append("\\s")
        elif 0x20 <= byte < 0x7F:
            out.append(c)
        else:
            out.append("\\x%02x" % byte)
    return "".join(out)


def case_text(req, unresolved):
    parts = []
    for s in req.segs:
        if isinstance(s, bytes):
            parts.append(escape_bytes(s))
        elif s[0] == "rep":
            parts.append("{%s*%d}" % (escape_bytes(s[1]), s[2]))
        elif unresolved:
            parts.append("0")
        else:
            parts.append("{cas:%s}" % escape_bytes(s[1]))
    return "".join(parts)


def difference_view(raws, symmetric):
    """The normalised replies and, for each, the byte offset of the first
    token that differs other than by rule 3."""
    toks = []
    for raw in raws:
        s = Scanner()
        s.feed(raw)
        toks.append(s.final_tokens())
    at, _ = compare_tokens(toks[0], toks[1], symmetric)
    out = []
    for t in toks:
        data = b"".join(h + (d or b"") for h, d in t)
        k = len(t) if at is None else min(at, len(t))
        out.append((data, sum(len(h) + len(d or b"") for h, d in t[:k])))
    return out


def describe_bytes(data, at, width=160):
    """repr of data from a little before byte `at` (the first difference)."""
    lo = max(0, at - 40)
    hi = lo + width
    r = repr(data[lo:hi])
    return ("..." if lo else "") + r + ("..." if hi < len(data) else "") + \
        " (%d bytes)" % len(data)


def write_case(path, name, reqs, mode, outcome, header):
    steps = plan(reqs, mode)
    lines = ["# Reproducer written by tests/differential/random_diff.py "
             "(a diff_test.py case file)."]
    lines += ["# " + h for h in header]
    lines += ["#", "=== %s" % name, "@timeout 15"]
    for step in steps:
        if step[0] == "barrier":
            lines.append("> version")
            lines.append("send")
        elif step[0] == "quiet":
            lines.append("send")
        else:
            i = step[1]
            unresolved = i in outcome.unresolved[0] and i in outcome.unresolved[1]
            lines.append("raw " + case_text(reqs[i], unresolved))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server-bin", help="server under test (treecached)")
    ap.add_argument("--memcached", default=MEMCACHED,
                    help="reference memcached binary (default %(default)s)")
    ap.add_argument("--server-arg", action="append", default=None,
                    help="argument for the server under test (repeatable; default "
                         "--memcached-syntax)")
    ap.add_argument("--path-syntax", action="store_true",
                    help="run treecached without --memcached-syntax; the generator then "
                         "sends no extra tokens (rule 1)")
    ap.add_argument("--against-memcached", action="store_true",
                    help="self-check: the server under test is memcached (or --server-bin) "
                         "with memcached's arguments; must give zero mismatches")
    ap.add_argument("--seed", type=int, action="append", default=[],
                    help="run this seed (repeatable)")
    ap.add_argument("--seeds", type=int, help="run this many seeds from --base-seed")
    ap.add_argument("--base-seed", type=int, default=1)
    ap.add_argument("--seconds", type=float,
                    help="run seeds (from --base-seed, or the --seed list) until time is up")
    ap.add_argument("--sequences-per-seed", type=int, default=4)
    ap.add_argument("--max-requests", type=int, default=120,
                    help="longest sequence (default %(default)s)")
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help="where reproducers go (default %(default)s)")
    ap.add_argument("--no-shrink", action="store_true", help="save mismatches unshrunk")
    ap.add_argument("--shrink-seconds", type=float, default=180.0,
                    help="time limit for shrinking one mismatch (default %(default)s)")
    ap.add_argument("--max-shrinks", type=int,
                    help="shrink at most this many mismatches; save later ones unshrunk")
    ap.add_argument("--timeout", type=float, default=15.0,
                    help="per barrier and for EOF at the end (default %(default)s)")
    ap.add_argument("--stall", type=float, default=3.0,
                    help="one server done, the other silent this long: stop waiting")
    ap.add_argument("--avoid", action="append", default=[], choices=sorted(KNOWN),
                    help="do not generate the inputs of this known, still open mismatch "
                    "(repeatable): " + "; ".join("%s: %s" % (k, v[0]) for k, v in
                                                 sorted(KNOWN.items())))
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    if not args.server_bin and not args.against_memcached:
        ap.error("--server-bin is required (or use --against-memcached)")
    if args.max_requests < 5:
        ap.error("--max-requests must be at least 5")
    if args.server_arg is None:
        args.server_arg = [] if (args.path_syntax or args.against_memcached) \
            else ["--memcached-syntax"]
    if args.path_syntax and "--memcached-syntax" in args.server_arg:
        ap.error("--path-syntax and --server-arg=--memcached-syntax contradict")
    extra_tokens = args.against_memcached and not args.path_syntax or \
        "--memcached-syntax" in args.server_arg

    if args.seed:
        seeds = list(args.seed)
    else:
        count = args.seeds if args.seeds is not None else (None if args.seconds else 10)
        seeds = None if count is None else list(range(args.base_seed, args.base_seed + count))

    def seed_iter():
        if seeds is not None:
            yield from seeds
        else:
            s = args.base_seed
            while True:
                yield s
                s += 1

    mc_args = ["-u", "nobody", "-U", "0", "-l", "127.0.0.1", "-t", "1", "-m", "1024"]
    ref = diff_test.Server("memcached", lambda port: [args.memcached] + mc_args +
                           ["-p", str(port)])
    if args.against_memcached:
        binary = args.server_bin or args.memcached
        sut = diff_test.Server("memcached2", lambda port: [binary] + mc_args +
                               ["-p", str(port)] + args.server_arg)
    else:
        sut = diff_test.Server("server", lambda port: [
            args.server_bin, "-l", "127.0.0.1", "-p", str(port), "-t", "1", "-m", "1024"]
            + args.server_arg)
    servers = [ref, sut]

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    counts = {"seeds": 0, "sequences": 0, "requests": 0, "bytes": 0, "unexplained": 0,
              "explained": 0, "stalls": 0}
    by_rule = {}
    by_class = {}  # unexplained mismatches: KNOWN class or "new"
    found = {}  # signature -> [paths]
    t0 = time.monotonic()
    end_time = t0 + args.seconds if args.seconds else None
    status = 0
    try:
        for srv in servers:
            try:
                srv.start(avoid=[s.port for s in servers if s is not srv])
            except (RuntimeError, OSError) as e:
                print("error: %s" % e, file=sys.stderr)
                return 2
        print("# %s: %s" % (ref.label, " ".join(ref.argv)))
        print("# %s: %s" % (sut.label, " ".join(sut.argv)))
        if args.verbose:
            for n, (what, how) in sorted(RULES.items()):
                print("# rule %d: %s -- %s" % (n, what, how))
            print("# extra tokens generated: %s" % ("yes" if extra_tokens else "no (rule 1)"))
        sys.stdout.flush()
        runner = Runner(args, servers)
        for seed in seed_iter():
            if end_time and time.monotonic() >= end_time:
                break
            counts["seeds"] += 1
            for q in range(args.sequences_per_seed):
                if end_time and time.monotonic() >= end_time:
                    break
                rng = random.Random("treecached-random-diff:%d:%d" % (seed, q))
                gen = Generator(rng, args.max_requests, extra_tokens, args.avoid)
                reqs = gen.sequence()
                mode = ("random", "%d:%d" % (seed, q)) if rng.random() < 0.8 else ("whole",)
                t_seq = time.monotonic()
                o = runner.execute(reqs, mode)
                counts["sequences"] += 1
                counts["requests"] += len(reqs)
                counts["bytes"] += o.sent
                counts["stalls"] += 1 if o.stalled else 0
                if args.verbose:
                    print("seed %d seq %d: %d requests, %d bytes, %.2fs, %s%s" % (
                        seed, q, len(reqs), o.sent, time.monotonic() - t_seq, o.status,
                        (" (%s)" % o.signature) if o.signature else ""))
                if o.status == "explained":
                    counts["explained"] += 1
                    for rule in o.rules:
                        by_rule[rule] = by_rule.get(rule, 0) + 1
                    continue
                if o.status == "match":
                    if o.stalled:
                        print("# seed %d seq %d: both servers stalled alike: %s"
                              % (seed, q, "; ".join(o.errors)))
                    continue
                counts["unexplained"] += 1
                status = 1
                cls = report_mismatch(args, runner, seed, q, reqs, mode, o, found)
                by_class[cls or "new"] = by_class.get(cls or "new", 0) + 1
                sys.stdout.flush()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = status or 1
    finally:
        for srv in servers:
            srv.stop()
    if found:
        print("# distinct mismatches (known class, or the requests of the shrunk reproducer):")
        for sig, paths in found.items():
            print("#   %s: %s" % (sig, ", ".join(paths)))
    expl = ", ".join("rule %d: %d" % kv for kv in sorted(by_rule.items()))
    unexpl = ", ".join("%s: %d" % kv for kv in sorted(by_class.items()))
    print("%d seeds, %d sequences, %d requests, %d bytes sent, %.0fs: "
          "%d mismatches (%d explained%s, %d unexplained%s)%s" % (
              counts["seeds"], counts["sequences"], counts["requests"], counts["bytes"],
              time.monotonic() - t0, counts["explained"] + counts["unexplained"],
              counts["explained"], (" [%s]" % expl) if expl else "",
              counts["unexplained"], (" [%s]" % unexpl) if unexpl else "",
              (", %d stalled" % counts["stalls"]) if counts["stalls"] else ""))
    return status


def classify(runner, reqs, mode):
    """The KNOWN class (or "a+b") whose neutralisers make the mismatch go away,
    or None if it stays: then it is new."""
    sh = Shrinker(runner, time.monotonic() + 60, 20)
    applicable = []
    for name, (_, neutralise) in KNOWN.items():
        cand = neutralise(reqs)
        if len(cand) != len(reqs) or any(a is not b for a, b in zip(cand, reqs)):
            applicable.append(name)
    if not applicable:
        return None
    everything = reqs
    for name in applicable:
        everything = KNOWN[name][1](everything)
    if sh.fails(everything, mode, tries=2):
        return None
    for name in applicable:
        if not sh.fails(KNOWN[name][1](reqs), mode, tries=2):
            return name
    return "+".join(applicable)


def report_mismatch(args, runner, seed, q, reqs, mode, o, found):
    """Classify the mismatch, then shrink and save it if it is new or the
    first of its known class (each class of a combination on its own, with the
    other classes' inputs neutralised). Returns the class (None: new)."""
    print("MISMATCH seed %d sequence %d (%d requests): first difference %s%s" % (
        seed, q, len(reqs), o.signature, ("; " + "; ".join(o.errors)) if o.errors else ""))
    cls = classify(runner, reqs, mode)
    if cls is None:
        save_mismatch(args, runner, "seed%d-seq%d" % (seed, q), seed, reqs, mode, o, found,
                      None)
        return None
    parts = cls.split("+")
    todo = [c for c in parts if not found.get("known: " + c)]
    if not todo:
        print("  known: %s (first saved as %s)" % (
            cls, ", ".join(found["known: " + c][0] for c in parts)))
    for c in todo:
        sub = reqs
        for other in parts:
            if other != c:
                sub = KNOWN[other][1](sub)
        so = o if sub is reqs else None
        for _ in range(3):
            if so is not None:
                break
            check = runner.execute(sub, mode)
            so = check if check.status == "mismatch" else None
        if so is None:
            print("  %s alone does not reproduce it" % c)
            continue
        name = "seed%d-seq%d" % (seed, q) + ("-" + c if len(parts) > 1 else "")
        save_mismatch(args, runner, name, seed, sub, mode, so, found, c)
    return cls


def save_mismatch(args, runner, name, seed, reqs, mode, o, found, cls):
    """Shrink (within the budget), save as a case file, replay it."""
    t = time.monotonic()
    final_reqs, final_mode, final = reqs, mode, o
    if not args.no_shrink and (args.max_shrinks is None or args.max_shrinks > 0):
        if args.max_shrinks is not None:
            args.max_shrinks -= 1
        sh = Shrinker(runner, t + args.shrink_seconds, 3000)
        cand_reqs, cand_mode = sh.shrink(reqs, mode)
        for _ in range(3):
            check = runner.execute(cand_reqs, cand_mode)
            if check.status == "mismatch":
                final_reqs, final_mode, final = cand_reqs, cand_mode, check
                break
        print("  shrunk to %d requests in %d runs, %.0fs" % (len(final_reqs), sh.runs,
                                                            time.monotonic() - t))
    sig = signature(final_reqs) if len(final_reqs) <= 12 else \
        "%d requests: %s" % (len(final_reqs), o.signature)
    seen = found.setdefault("known: " + cls if cls else sig, [])
    (a, at_a), (b, at_b) = difference_view(final.raw, args.against_memcached)
    path = os.path.join(args.out, name + ".txt")
    srv_args = " ".join("--server-arg=%s" % x for x in args.server_arg)
    header = [
        "%s: %d requests, saved %d" % (name, len(reqs), len(final_reqs)),
        "requests: %s" % sig,
    ] + (["known mismatch %s: %s" % (cls, KNOWN[cls][0])] if cls else []) + [
        "server under test: %s" % " ".join(runner.servers[1].argv),
        "replay: /usr/bin/python3 tests/differential/diff_test.py --server-bin BIN %s--cases %s"
        % (srv_args + " " if srv_args else "", show_path(path)),
        "first difference (normalised, cas uniques as C1, C2, ...):",
        "  memcached: %s" % describe_bytes(a, at_a),
        "  server:    %s" % describe_bytes(b, at_b),
    ] + ["  " + e for e in final.errors]
    if final_mode[0] == "random":
        header.append("found with random write splits (seed %s): a plain replay may not "
                      "reproduce it; rerun random_diff.py --seed %d" % (final_mode[1], seed))
    write_case(path, "random-diff " + name, final_reqs, final_mode, final, header)
    replay = replay_case(path, runner)
    seen.append(show_path(path))
    print("  saved %s (diff_test.py replay: %s)%s" % (
        show_path(path), replay, "" if len(seen) == 1 else "; seen before: " + seen[0]))
    print("  %srequests: %s" % ("known: %s; " % cls if cls else "", sig))
    print("  first difference:")
    print("    memcached: %s" % describe_bytes(a, at_a))
    print("    server:    %s" % describe_bytes(b, at_b))


def show_path(path):
    """path relative to the repository if it is inside it, else absolute."""
    path = os.path.abspath(path)
    rel = os.path.relpath(path, REPO)
    return path if rel.startswith("..") else rel


def replay_case(path, runner):
    try:
        cases = diff_test.load_cases([path])
        runner.ensure_servers()
        res = diff_test.run_case(cases[0], runner.servers, runner.args.against_memcached)
    except Exception as e:  # a broken reproducer must not stop the run
        return "error: %s" % e
    return "reproduces" if not res.ok else "does NOT reproduce"


if __name__ == "__main__":
    sys.exit(main())
