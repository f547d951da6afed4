#!/usr/bin/python3
"""Writes store_fuzz's seed corpus: a few operation scripts, encoded.

Each seed is a short scenario (flat keys, a tree, expiry, delayed flush,
incr/decr on odd numbers, evictions, -M, the item size limit, held
references) written with the encoder below, which mirrors the decoder in
store_fuzz.cc (opcodes are indexes into kOps; keep the two in step). The
committed copies in tests/fuzz/store_seeds/ are this script's output:
ctest replays them and scripts/fuzz.sh starts from them.

Usage: /usr/bin/python3 tests/fuzz/make_store_seeds.py OUT_DIR
"""

import argparse
import itertools
import os

# store_fuzz.cc's kOps: opcode byte (mod 32) -> operation; the first slot of each.
OPS = [
    "set", "set", "set", "set_number", "add", "replace", "append", "prepend",
    "cas", "cas_fresh", "get", "get", "get_and_touch", "incr", "decr", "touch",
    "remove", "remove", "discard_value", "list_children", "list_top", "collect_subtree",
    "advance", "advance", "flush_all", "sweep", "set_memory_limit", "full_check",
    "hold", "release", "stats", "reset_stats",
]
TOKENS = {"a": 0, "b": 1, "c": 2}
RARE = {"ab": 0, "a-": 1, "A": 2, "a" * 250: 3}
ODD_NUMBERS = [
    b"", b" ", b"+", b"-", b"-0", b"+0", b"007", b"0x10", b"1\0", b"\x001",
    b"\v\f\r\n\t9", b"18446744073709551615", b"18446744073709551616",
    b"-18446744073709551615", b"-9223372036854775808", b"-9223372036854775807",
    b"99999999999999999999", b"1 2", b"12\r", b" -1 ", b"+-1", b"1x", b"\xff1", b"  +3 x",
]
CLOCK_JUMPS = [60, 61, 119, 3600, 86400, 2592000, 2592001, 1000000]


def opcode(name):
    return bytes([OPS.index(name)])


def path(text):
    tokens = text.split(" ")
    assert 1 <= len(tokens) <= 4
    codes = [TOKENS.get(t, 3) for t in tokens]
    head = len(tokens) - 1
    for i, code in enumerate(codes[:3]):
        head |= code << (2 + 2 * i)
    assert head < 0xF0, "decodes as a model path: %r" % text
    out = bytearray([head])
    for i, (token, code) in enumerate(zip(tokens, codes)):
        if i == 3:
            out.append(code)
        if code == 3:
            out.append(RARE[token])
    return bytes(out)


def model_path(index, parent=False):
    """The index-th value path of the model (or its parent)."""
    return bytes([0xF1 if parent else 0xF0, index])


def value(v):
    """bytes up to 16 long, or ("number", n, decoration), ("odd", text),
    ("large", n, seed) (256 n - seed bytes, a number first if seed < 32), ("near_max", k)."""
    if isinstance(v, bytes):
        if not v:
            return b"\x00"
        assert len(v) <= 16
        return bytes([0x20 | len(v)]) + v
    kind = v[0]
    if kind == "number":
        n, decoration = v[1], v[2] if len(v) > 2 else 0
        if n < 256:
            return bytes([0x60 | decoration, n])
        return bytes([0x80 | decoration]) + n.to_bytes(8, "big")
    if kind == "odd":
        return bytes([0xA0 | ODD_NUMBERS.index(v[1])])
    if kind == "large":
        return bytes([0xC0 | (v[1] - 1), v[2]])
    if kind == "near_max":
        return bytes([0xE0 | v[1]])
    raise ValueError(v)


def flags(f):
    assert f < 0xF0
    return bytes([f])


def deadline(d):
    """None: never; ("in", k): now + k for -2 <= k <= 61; ("min", m): now + 64 + 60 m;
    "expired": the executor's 1."""
    if d is None:
        return b"\x00"
    if d == "expired":
        return b"\xff"
    if d[0] == "in":
        assert -2 <= d[1] <= 61
        return bytes([0x80 + d[1] + 2])
    return bytes([0xC0 | d[1]])


class Script:
    def __init__(self, options, limit_units=0):
        self.out = bytearray([options, limit_units >> 8 & 0xFF, limit_units & 0xFF])

    def op(self, name, *args):
        self.out += opcode(name)
        for arg in args:
            self.out += arg
        return self

    def set(self, p, v=b"x", f=0, d=None, kind="set"):
        return self.op(kind, path(p) if isinstance(p, str) else p, value(v), flags(f), deadline(d))

    def add(self, p, v=b"x", f=0, d=None):
        return self.set(p, v, f, d, "add")

    def replace(self, p, v=b"x", f=0, d=None):
        return self.set(p, v, f, d, "replace")

    def cas(self, p, v, cas_byte, f=0, d=None):
        return self.op("cas", path(p), value(v), flags(f), deadline(d), bytes([cas_byte]))

    def cas_fresh(self, p, v, f=0, d=None):
        return self.set(p, v, f, d, "cas_fresh")

    def concat(self, name, p, v):
        return self.op(name, path(p), value(v))

    def get(self, p):
        return self.op("get", path(p) if isinstance(p, str) else p)

    def gat(self, p, d):
        return self.op("get_and_touch", path(p), deadline(d))

    def arith(self, name, p, delta):
        if delta < 16:
            code = bytes([delta])
        else:
            code = bytes([0xE0]) + delta.to_bytes(8, "big")
        return self.op(name, path(p), code)

    def touch(self, p, d):
        return self.op("touch", path(p), deadline(d))

    def remove(self, p):
        return self.op("remove", path(p))

    def discard(self, p):
        return self.op("discard_value", path(p))

    def children(self, p, limit=None):
        return self.op("list_children", path(p), bytes([0 if limit is None else 0x80 | limit]))

    def top(self, limit=None):
        return self.op("list_top", bytes([0 if limit is None else 0x80 | limit]))

    def subtree(self, p, limit=None):
        return self.op("collect_subtree", path(p), bytes([0 if limit is None else 0x80 | limit]))

    def advance(self, seconds):
        if seconds < 4:
            return self.op("advance", bytes([seconds]))
        if seconds < 56:
            return self.op("advance", bytes([0xC0 | seconds]))
        return self.op("advance", bytes([0xF8 | CLOCK_JUMPS.index(seconds)]))

    def flush(self, delay=0):
        return self.op("flush_all", bytes([0 if delay == 0 else 0x80 | (delay - 1) << 2]))

    def sweep(self, buckets=None):
        return self.op("sweep", bytes([0xFF if buckets is None else buckets - 1]))

    def limit(self, code):
        return self.op("set_memory_limit", bytes([code]))

    def check(self):
        return self.op("full_check")

    def hold(self, p):
        return self.op("hold", path(p))

    def release(self, index=0):
        return self.op("release", bytes([index]))

    def stats(self):
        return self.op("stats")

    def reset_stats(self):
        return self.op("reset_stats")


def seeds():
    out = {}

    s = Script(0)
    s.set("a", b"hello", 5).get("a").add("a", b"no").add("b", b"yes").replace("c", b"no")
    s.replace("a", b"world", 7).concat("append", "a", b"!").concat("prepend", "a", b">")
    s.get("a").cas_fresh("a", b"swapped", 1).cas("a", b"stale", 2).cas("b", b"zero", 0)
    s.remove("a").get("a").remove("a").check()
    out["flat"] = s

    s = Script(0)
    s.set("a b c", b"leaf").set("a b", b"mid").set("a ab", b"x").set("a a-", b"y").set("A", b"z")
    s.top().children("a").children("a b").subtree("a").subtree("a", 1).children("a", 1)
    s.discard("a b").get("a b").subtree("a").remove("a b").children("a").remove("a b")
    s.set("a a a a", b"deep").remove("a").top().check()
    out["tree"] = s

    s = Script(4)
    s.set("a", b"parent", d=("in", 2)).set("a b", b"child").set("a b c", b"grandchild")
    s.set("b", b"soon", d=("in", 1)).set("c", b"now", d=("in", 0)).get("c")
    s.advance(1).get("b").get("a b").advance(1).get("a b c").top()
    s.set("a", b"again", d=("min", 0)).touch("a", ("in", 5)).gat("a", ("in", 1)).advance(2)
    s.get("a").set("b c", b"x", d="expired").children("b").check()
    out["expiry"] = s

    s = Script(8)
    s.set("a", b"1").set("b c", b"2").flush(3).set("c", b"3").advance(2).get("a")
    s.set("b", b"4").advance(1).get("b").get("c").top().set("a", b"5").flush(2).flush(30)
    s.advance(3).get("a").flush().sweep().set("a b", b"6").sweep(1).sweep(2).stats().check()
    # A sweep applies a delayed flush that has come due; a later flush_all
    # then cannot cancel it.
    s.flush(2).advance(2).sweep(1).flush(10).get("a b").check()
    out["flush"] = s

    s = Script(12)
    s.op("set_number", path("a"), bytes([41]), flags(0), deadline(None))
    s.arith("incr", "a", 1).get("a")
    s.set("b", ("near_max", 1)).arith("incr", "b", 3).arith("decr", "b", 15)
    s.arith("decr", "a", 100).get("a")
    s.set("c", ("number", 12, 1)).arith("incr", "c", 1)
    s.set("c", ("number", 7, 2)).arith("decr", "c", 1)
    for i, text in enumerate([b"-0", b"-18446744073709551615", b"1\0",
                              b"\x001", b"18446744073709551616", b"1 2", b"12\r", b"0x10"]):
        s.set("c", ("odd", text)).arith("incr" if i % 2 else "decr", "c", 2).get("c")
    s.set("c b", ("number", 5, 1 | 2)).arith("incr", "c b", 2 ** 64 - 1).arith("incr", "b b", 1)
    s.set("c", ("large", 2, 5)).arith("incr", "c", 1).check()
    out["arithmetic"] = s

    s = Script(1 | 3 << 2, 256)  # evicting, 64 shards, about 3 KiB
    for i, p in enumerate(["a", "b", "c", "a b", "a c", "b a", "c c c", "a b c", "ab"]):
        s.set(p, ("large", 1, 40 + i))
        if i % 3 == 2:
            s.get("a")
    s.set("a", ("large", 8, 41)).limit(2).set("b", b"small").limit(0xF0).set("c a", b"x")
    s.add("a", b"x").replace("b", b"y").concat("append", "b", ("large", 1, 40)).check()
    out["evicting"] = s

    s = Script(3 | 1 << 2, 300)  # -M, 2 shards
    for p in ["a", "b", "a b", "a c", "c", "b b b"]:
        s.set(p, ("large", 1, 50))
    s.set("a", ("large", 30, 60)).get("a").limit(0xFF).set("a", ("large", 2, 50)).check()
    out["refusing"] = s

    s = Script(16 | 32)  # 4 KiB items, full check after every operation
    s.set("a", ("large", 8, 40), 3)
    for _ in range(8):
        s.concat("append", "a", ("large", 1, 41))
    s.concat("prepend", "a", b"x").set("a b", ("large", 15, 33)).concat("append", "a b", b"y")
    # At the limit: 56 + key 1 + NUL + 4032 + CRLF + flags 4 = 4096 fits, one more byte does not.
    s.set("b", ("large", 16, 96), 1).concat("append", "b", b"x" * 16)
    s.concat("prepend", "b", b"y" * 16)
    s.concat("append", "b", b"z").get("b")
    out["item_size"] = s

    s = Script(2 | 2 << 2)
    s.set("a b", b"held", 9).hold("a b").set("a b", b"new").hold("a b").remove("a")
    s.set("c", b"x").hold("c").flush().release(1).stats()
    out["held"] = s

    s = Script(0)
    long = "a" * 250
    s.set(long, b"long").set("a " + long, b"x").set(long + " a", b"y").set("a a-", b"z")
    s.set("ab a- c", b"rare").top().children("a").subtree(long).get(model_path(1))
    s.get(model_path(0, True)).remove(long).check()
    out["tokens"] = s

    s = Script(64)  # one shard; ends with the store full (its destructor frees it)
    names = ["a", "b", "c"]
    paths = [" ".join(p) for depth in range(1, 5) for p in itertools.product(names, repeat=depth)]
    for i, p in enumerate(paths):
        s.set(p, bytes([65 + i % 26]) * (i % 5), d=("min", i % 3) if i % 7 == 0 else None)
    s.top().subtree("a").stats().reset_stats().remove("b").advance(3600).check()
    out["many_nodes"] = s
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    written = seeds()
    for name, script in written.items():
        with open(os.path.join(args.out_dir, name), "wb") as fh:
            fh.write(bytes(script.out))
    print("%d seeds in %s" % (len(written), args.out_dir))


if __name__ == "__main__":
    main()
