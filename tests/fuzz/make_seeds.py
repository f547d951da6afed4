#!/usr/bin/python3
"""Writes the fuzz seed corpus: one file per differential test case.

Each case of tests/differential/cases/*.txt becomes one seed holding the raw
bytes the case sends (all its `>` and `raw` steps, concatenated), behind the
3-byte header of tests/fuzz/fuzz_input.h: options 0 and a split point in the
middle of the payload. `{cas:KEY}` placeholders become 1 and `{time+N}` the
current time + N. Payloads are cut at --max-bytes (the fuzzers' -max_len).

Usage: /usr/bin/python3 tests/fuzz/make_seeds.py OUT_DIR [--max-bytes N]
"""

import argparse
import hashlib
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "differential"))

import diff_test  # noqa: E402  (the case parser of the differential test)


def payload(case, now):
    out = bytearray()
    for step in case.steps:
        if step[0] != "data":
            continue
        for seg in step[1]:
            if isinstance(seg, bytes):
                out += seg
            elif seg[0] == "cas":
                out += b"1"
            else:  # ("time", offset)
                out += str(now + seg[1]).encode()
    return bytes(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--max-bytes", type=int, default=16384)
    args = parser.parse_args()

    cases = diff_test.load_cases([diff_test.DEFAULT_CASES])
    os.makedirs(args.out_dir, exist_ok=True)
    now = int(time.time())
    written = 0
    for case in cases:
        data = payload(case, now)[: args.max_bytes - 3]
        if not data:
            continue
        split = len(data) // 2
        seed = bytes([0, split >> 8 & 0xFF, split & 0xFF]) + data
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", case.name)[:80]
        digest = hashlib.sha1(case.name.encode()).hexdigest()[:8]
        with open(os.path.join(args.out_dir, "%s-%s" % (name, digest)), "wb") as fh:
            fh.write(seed)
        written += 1
    print("%d seeds in %s" % (written, args.out_dir))


if __name__ == "__main__":
    main()
