#!/usr/bin/python3
"""Differential test: stock memcached vs. the server under test.

Sends every case of a corpus (tests/differential/cases/*.txt) to two servers,
each over its own fresh TCP connection, and checks that the replies are equal
byte for byte after a small, fixed normalisation (see normalise()).

Usage:
  /usr/bin/python3 diff_test.py --server-bin build/debug/treecached
  /usr/bin/python3 diff_test.py --against-memcached        # self-check
  options: --memcached PATH  --cases DIR_OR_FILE  -k SUBSTRING  -v
           --skip-tag TAG  --dump  --timeout S  --server-arg ARG

The runner starts both servers itself on free loopback ports:
  reference:          memcached -u nobody -U 0 -l 127.0.0.1 -p PORT -t 1
  server under test:  SERVER_BIN -l 127.0.0.1 -p PORT -t 1 [--server-arg ...]
  (--against-memcached: the server under test is --server-bin, or
   --memcached when --server-bin is not given, started with the reference's
   arguments, so the runner and corpus can be checked for determinism.)

Per case, on each server: connect, send "flush_all\\r\\n" and read "OK\\r\\n"
(not compared), send the case's steps, shutdown(SHUT_WR) after the last one
and read to EOF. A case that does not reach EOF within its timeout fails.

The case file format is described at the top of every file in cases/.
Exit status: 0 if every selected case passed, 1 if any failed, 2 on usage or
start-up errors. The last line printed is "N passed, M failed".
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASES = os.path.join(HERE, "cases")
DEFAULT_TIMEOUT = 5.0  # s: for EOF after the last write, and for each `send` or cas wait
QUIET = 0.05  # a `send` step waits until neither server has written for this long


# --------------------------------------------------------------------------
# Case files
# --------------------------------------------------------------------------

class CaseError(Exception):
    pass


class Case:
    def __init__(self, name, path, line):
        self.name = name
        self.path = path
        self.line = line
        self.steps = []  # ("data", [segments]) | ("send",) | ("sleep", secs)
        self.tags = []
        self.timeout = DEFAULT_TIMEOUT
        # A deliberate difference from memcached: why, and the exact
        # (normalised) reply the server under test must give instead.
        self.differs = None
        self.expect = None

    def where(self):
        return "%s:%d" % (os.path.relpath(self.path, HERE), self.line)


_PLACEHOLDER = re.compile(r"\{(cas:[^{}]+|time[+-][0-9]+|[^{}*]*\*[0-9]+)\}")
_SIMPLE_ESC = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "s": b" ",
               "\\": b"\\", "{": b"{", "}": b"}"}


def unescape(text):
    """Decode \\r \\n \\t \\0 \\s(space) \\\\ \\{ \\} \\xNN; other bytes as UTF-8."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        if i + 1 >= len(text):
            raise CaseError("dangling backslash")
        e = text[i + 1]
        if e in _SIMPLE_ESC:
            out += _SIMPLE_ESC[e]
            i += 2
        elif e == "x":
            hx = text[i + 2:i + 4]
            if not re.fullmatch(r"[0-9a-fA-F]{2}", hx):
                raise CaseError("bad \\x escape: %r" % text[i:i + 4])
            out.append(int(hx, 16))
            i += 4
        else:
            raise CaseError("unknown escape \\%s" % e)
    return bytes(out)


def parse_template(text):
    """Split step text into segments: bytes, ("cas", key) or ("time", offset)."""
    segs = []
    # Scan by hand so that an escaped brace never starts a placeholder.
    i = 0
    lit_start = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "{":
            m = _PLACEHOLDER.match(text, i)
            if m:
                if lit_start < i:
                    segs.append(unescape(text[lit_start:i]))
                body = m.group(1)
                if body.startswith("cas:"):
                    segs.append(("cas", unescape(body[4:])))
                elif re.fullmatch(r"time[+-][0-9]+", body):
                    segs.append(("time", int(body[4:])))
                else:
                    rep, count = body.rsplit("*", 1)
                    segs.append(unescape(rep) * int(count))
                i = m.end()
                lit_start = i
                continue
        i += 1
    if lit_start < len(text):
        segs.append(unescape(text[lit_start:]))
    return segs


def load_cases(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p)
                            if f.endswith(".txt"))
        else:
            files.append(p)
    cases = []
    names = set()
    for path in files:
        cur = None
        with open(path, encoding="utf-8") as fh:
            for lineno, raw in enumerate(fh, 1):
                line = raw.rstrip("\n")
                if line.endswith("\r"):
                    line = line[:-1]
                try:
                    if line.startswith("=== "):
                        name = line[4:].strip()
                        if not name:
                            raise CaseError("empty case name")
                        if name in names:
                            raise CaseError("duplicate case name %r" % name)
                        names.add(name)
                        cur = Case(name, path, lineno)
                        cases.append(cur)
                        continue
                    stripped = line.strip()
                    if not stripped or stripped.startswith("#"):
                        continue
                    if cur is None:
                        raise CaseError("step outside a case")
                    if line.startswith("> ") or line == ">":
                        segs = parse_template(line[2:]) + [b"\r\n"]
                        cur.steps.append(("data", segs))
                    elif line.startswith("raw "):
                        cur.steps.append(("data", parse_template(line[4:])))
                    elif stripped == "send":
                        cur.steps.append(("send",))
                    elif stripped.startswith("sleep "):
                        cur.steps.append(("sleep", float(stripped[6:])))
                    elif stripped.startswith("@tags "):
                        cur.tags += stripped[6:].split()
                    elif stripped.startswith("@timeout "):
                        cur.timeout = float(stripped[9:])
                    elif stripped.startswith("@differs "):
                        cur.differs = stripped[9:].strip()
                    elif line.startswith("expect "):
                        cur.expect = (cur.expect or b"") + unescape(line[7:])
                    else:
                        raise CaseError("unknown step: %r" % line[:60])
                except (CaseError, ValueError) as e:
                    raise CaseError("%s:%d: %s" % (path, lineno, e))
    for case in cases:
        if (case.differs is None) != (case.expect is None):
            raise CaseError("%s: @differs and expect go together" % case.where())
    return cases


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------

try:
    import ctypes
    _prctl = ctypes.CDLL(None).prctl
except (ImportError, OSError, AttributeError):
    _prctl = None


def _die_with_parent():
    """Runs in the child before exec: SIGTERM it if this runner dies (Linux
    PR_SET_PDEATHSIG; memcached drops it when it switches to user nobody)."""
    if _prctl is not None:
        _prctl(1, int(signal.SIGTERM))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, label, argv_fn):
        self.label = label
        self.argv_fn = argv_fn  # port -> argv
        self.proc = None
        self.port = None
        self.argv = None

    def start(self, avoid=()):
        for _ in range(5):
            port = free_port()
            if port in avoid:
                continue
            self.port = port
            self.argv = self.argv_fn(port)
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_die_with_parent)
            if self._wait_ready(10.0):
                return
            self.stop()
        raise RuntimeError("%s did not start: %s" % (self.label, " ".join(self.argv)))

    def _wait_ready(self, limit):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except OSError:
                pass
        self.proc = None


# --------------------------------------------------------------------------
# One connection
# --------------------------------------------------------------------------

class Conn:
    """A TCP connection with a background reader collecting every reply byte."""

    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.end = None  # "eof" | "reset" | "error: ..."
        self.send_error = None
        self.last_activity = time.monotonic()
        self.cas_seen = {}  # key -> cas bytes, from VALUE lines parsed so far
        try:
            self._handshake(timeout)
        except BaseException:
            self.sock.close()
            raise
        # The timeout bounds sendall() against a server that stops reading;
        # the reader just retries on it.
        self.sock.settimeout(timeout)
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def _handshake(self, timeout):
        self.sock.sendall(b"flush_all\r\n")
        got = b""
        deadline = time.monotonic() + timeout
        while len(got) < 4 and time.monotonic() < deadline:
            chunk = self.sock.recv(4 - len(got))
            if not chunk:
                break
            got += chunk
        if got != b"OK\r\n":
            raise RuntimeError("setup flush_all answered %r, expected b'OK\\r\\n'" % got)

    def _reader(self):
        try:
            while True:
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    self.end = "eof"
                    break
                with self.lock:
                    self.buf += chunk
                    self.last_activity = time.monotonic()
        except ConnectionResetError:
            self.end = "reset"
        except OSError as e:
            self.end = "error: %s" % e
        finally:
            self.done.set()

    def send(self, data):
        if self.send_error:
            return
        self.last_activity = time.monotonic()
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.send_error = str(e)

    def resolve_cas(self, key):
        with self.lock:
            data = bytes(self.buf)
        for m in re.finditer(rb"(?:^|\n)VALUE ([^ \n]+) [0-9]+ [0-9]+ ([0-9]+)\r\n", data):
            self.cas_seen[m.group(1)] = m.group(2)
        return self.cas_seen.get(key)

    def half_close(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def finish(self, deadline):
        """Read to EOF (or the deadline) after half_close(); return (reply, timed_out)."""
        self.done.wait(max(0.0, deadline - time.monotonic()))
        timed_out = not self.done.is_set()
        self.abort()
        with self.lock:
            return bytes(self.buf), timed_out

    def abort(self):
        # Wake the reader with shutdown() before close(): closing an fd that
        # another thread is blocked on neither wakes it nor stops it from
        # reading a later connection that reuses the fd number.
        if not self.done.is_set():
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.thread.join(2.0)
        if self.done.is_set():
            try:
                self.sock.close()
            except OSError:
                pass


# --------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------

_VALUE_RE = re.compile(rb"VALUE ([^ ]+) ([^ ]+) ([0-9]+)(?: ([0-9]+))?\Z")


def normalise(data):
    """Map cas uniques in VALUE lines to C1, C2, ... (per reply, in order of
    first appearance), `VERSION x` to `VERSION <v>`, and `STAT name value` to
    `STAT name <n>`. Data blocks after VALUE lines are skipped, not rewritten."""
    out = bytearray()
    cas_map = {}
    pos = 0
    n = len(data)
    while pos < n:
        nl = data.find(b"\n", pos)
        if nl < 0:
            out += data[pos:]
            break
        line_end = nl + 1
        line = data[pos:nl]
        cr = line.endswith(b"\r")
        body = line[:-1] if cr else line
        eol = data[nl - 1:line_end] if cr else b"\n"
        m = _VALUE_RE.match(body)
        if m:
            if m.group(4) is not None:
                cas = m.group(4)
                if cas not in cas_map:
                    cas_map[cas] = b"C%d" % (len(cas_map) + 1)
                body = b"VALUE %s %s %s %s" % (m.group(1), m.group(2), m.group(3),
                                               cas_map[cas])
            out += body + eol
            skip = int(m.group(3)) + 2
            out += data[line_end:line_end + skip]
            pos = line_end + skip
            continue
        if body.startswith(b"VERSION "):
            body = b"VERSION <v>"
        elif body.startswith(b"STAT "):
            parts = body.split(b" ", 2)
            body = b"STAT " + (parts[1] if len(parts) > 1 else b"") + b" <n>"
        out += body + eol
        pos = line_end
    return bytes(out)


# --------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------

class Result:
    def __init__(self, case):
        self.case = case
        self.raw = {}
        self.norm = {}
        self.errors = []
        self.ok = False


def render(segs, conn, now, deadline):
    out = bytearray()
    for s in segs:
        if isinstance(s, tuple) and s[0] == "time":
            out += b"%d" % (now + s[1])
        elif isinstance(s, tuple):
            cas = conn.resolve_cas(s[1])
            while cas is None and time.monotonic() < deadline and not conn.done.is_set():
                time.sleep(0.01)  # a slow server: its gets reply may still come
                cas = conn.resolve_cas(s[1])
            if cas is None:
                raise CaseError("{cas:%s}: no VALUE line with a cas for that key yet"
                                % s[1].decode("latin-1"))
            out += cas
        else:
            out += s
    return bytes(out)


def wait_quiet(conns, deadline):
    while time.monotonic() < deadline:
        now = time.monotonic()
        if all(c.done.is_set() or now - c.last_activity >= QUIET for c in conns):
            return
        time.sleep(0.01)


def run_case(case, servers, against_memcached=False):
    res = Result(case)
    conns = []
    try:
        for srv in servers:
            try:
                conns.append(Conn(srv.port, case.timeout))
            except (OSError, RuntimeError) as e:
                res.errors.append("%s: %s" % (srv.label, e))
                conns.append(None)
        if any(c is None for c in conns):
            return res
        pending = [[] for _ in conns]

        def flush():
            for i, c in enumerate(conns):
                if pending[i]:
                    c.send(b"".join(pending[i]))
                    pending[i] = []

        for step in case.steps:
            if step[0] == "data":
                now = int(time.time())  # one value for both servers
                for i, c in enumerate(conns):
                    try:
                        pending[i].append(render(step[1], c, now,
                                                 time.monotonic() + case.timeout))
                    except CaseError as e:
                        res.errors.append("%s: %s" % (servers[i].label, e))
                        pending[i].append(b"")
            elif step[0] == "send":
                flush()
                wait_quiet(conns, time.monotonic() + case.timeout)
            elif step[0] == "sleep":
                flush()
                time.sleep(step[1])
        flush()
        deadline = time.monotonic() + case.timeout
        for c in conns:
            c.half_close()
        for i, c in enumerate(conns):
            data, timed_out = c.finish(deadline)
            res.raw[servers[i].label] = data
            res.norm[servers[i].label] = normalise(data)
            if c.send_error and "timed out" in c.send_error:
                res.errors.append("%s: stopped reading (send %s)"
                                  % (servers[i].label, c.send_error))
            if timed_out:
                res.errors.append("%s: no EOF within %.1fs (reply so far %d bytes)"
                                  % (servers[i].label, case.timeout, len(data)))
        conns = []
    finally:
        for c in conns:
            if c is not None:
                c.abort()
    a, b = (res.norm.get(s.label) for s in servers)
    if case.expect is not None and not against_memcached:
        # A deliberate difference: the server must give the expected reply,
        # and memcached must really answer otherwise (else drop @differs).
        res.ok = not res.errors and b == case.expect and a != case.expect
    else:
        res.ok = not res.errors and a == b
    return res


def short_repr(data, at, width):
    if len(data) <= width:
        return repr(data)
    lo = max(0, at - width // 4)
    hi = lo + width
    r = repr(data[lo:hi])
    return ("..." if lo else "") + r + ("..." if hi < len(data) else "") + \
        " (%d bytes)" % len(data)


def describe_failure(res, servers, verbose):
    ref, sut = servers
    a = res.norm.get(ref.label)
    b = res.norm.get(sut.label)
    head = "FAIL %s (%s)" % (res.case.name, res.case.where())
    if res.case.expect is not None:
        head += " [differs on purpose: %s; expected %r]" % (res.case.differs, res.case.expect)
        a = res.case.expect
    if res.case.tags:
        head += " [tags: %s]" % " ".join(res.case.tags)
    parts = [head]
    parts += res.errors
    if a is not None and b is not None and a != b:
        at = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]),
                  min(len(a), len(b)))
        width = 1 << 30 if verbose else 300
        parts.append("first difference at byte %d" % at)
        parts.append("%s=%s" % (ref.label, short_repr(a, at, width)))
        parts.append("%s=%s" % (sut.label, short_repr(b, at, width)))
    return ": ".join(parts[:2]) + ("; " + "; ".join(parts[2:]) if len(parts) > 2 else "")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server-bin", help="server under test (treecached)")
    ap.add_argument("--memcached", default="/usr/bin/memcached",
                    help="reference memcached binary (default %(default)s)")
    ap.add_argument("--against-memcached", action="store_true",
                    help="self-check: start the server under test with memcached's "
                         "arguments (default binary: --memcached)")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra argument for the server under test (repeatable)")
    ap.add_argument("--cases", action="append",
                    help="case file or directory (repeatable; default cases/)")
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTRING",
                    help="run only cases whose name contains SUBSTRING (repeatable: any)")
    ap.add_argument("--skip-tag", action="append", default=[], metavar="TAG",
                    help="skip cases carrying TAG (repeatable)")
    ap.add_argument("--same-as-memcached", action="append", default=[], metavar="SUBSTRING",
                    help="cases whose @differs reason contains SUBSTRING must match "
                         "memcached after all (for a server flag that removes the "
                         "difference; repeatable)")
    ap.add_argument("--timeout", type=float, help="override every case's timeout")
    ap.add_argument("--dump", action="store_true",
                    help="print memcached's raw reply for every selected case")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    if not args.server_bin and not args.against_memcached:
        ap.error("--server-bin is required (or use --against-memcached)")
    try:
        cases = load_cases(args.cases or [DEFAULT_CASES])
    except (CaseError, OSError) as e:
        print("error loading cases: %s" % e, file=sys.stderr)
        return 2
    matching = [c for c in cases if not args.k or any(k in c.name for k in args.k)]
    selected = [c for c in matching if not set(c.tags) & set(args.skip_tag)]
    skipped = len(matching) - len(selected)
    for c in selected:
        if c.differs is not None and any(x in c.differs for x in args.same_as_memcached):
            c.differs = c.expect = None
    if args.timeout:
        for c in selected:
            c.timeout = args.timeout

    mc_args = ["-u", "nobody", "-U", "0", "-l", "127.0.0.1", "-t", "1"]

    def mc_argv(binary):
        return lambda port: [binary] + mc_args + ["-p", str(port)]

    ref = Server("memcached", mc_argv(args.memcached))
    if args.against_memcached:
        sut = Server("memcached2", lambda port: (
            mc_argv(args.server_bin or args.memcached)(port) + args.server_arg))
    else:
        sut = Server("server", lambda port: [args.server_bin, "-l", "127.0.0.1", "-p",
                                             str(port), "-t", "1"] + args.server_arg)
    servers = [ref, sut]

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    passed = failed = 0
    deliberate = []
    t0 = time.monotonic()
    try:
        for srv in servers:
            try:
                srv.start(avoid=[s.port for s in servers if s is not srv])
            except (RuntimeError, OSError) as e:
                print("error: %s" % e, file=sys.stderr)
                print("%d passed, %d failed" % (0, len(selected)))
                return 2
        if args.verbose:
            for srv in servers:
                print("# %s: %s" % (srv.label, " ".join(srv.argv)))
        for case in selected:
            for srv in servers:  # died after the previous case was judged?
                if not srv.alive():
                    print("# %s had exited (status %s); restarted" %
                          (srv.label, srv.proc.returncode))
                    srv.stop()
                    srv.start(avoid=[s.port for s in servers if s is not srv])
            res = run_case(case, servers, args.against_memcached)
            if not res.ok:
                time.sleep(0.2)  # let a crash caused by this case show up here
            for srv in servers:
                if not srv.alive():
                    res.ok = False
                    res.errors.append("%s exited (status %s) during the case; restarted"
                                      % (srv.label, srv.proc.returncode))
                    srv.stop()
                    srv.start(avoid=[s.port for s in servers if s is not srv])
            if res.ok:
                passed += 1
                if case.differs is not None and not args.against_memcached:
                    deliberate.append(case)
                if args.verbose:
                    print("ok   %s" % case.name)
            else:
                failed += 1
                print(describe_failure(res, servers, args.verbose))
            if args.dump:
                print("     %s -> %r" % (case.name, res.raw.get(ref.label)))
            sys.stdout.flush()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        failed += 1
    finally:
        for srv in servers:
            srv.stop()
    if deliberate:
        print("# %d cases differ from memcached on purpose, as expected:" % len(deliberate))
        for reason in sorted({c.differs for c in deliberate}):
            names = [c.name for c in deliberate if c.differs == reason]
            print("#   %s (%d): %s" % (reason, len(names), ", ".join(names)))
    if args.verbose or skipped:
        print("# %d of %d cases run (%d skipped by tag) in %.1fs" %
              (len(selected), len(cases), skipped, time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
