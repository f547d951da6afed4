"""Starting servers for the memory benchmarks (shared by the scripts here)."""

import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, port):
    """Starts `argv` and returns (process, connected socket) once it accepts."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            # Small pipelined writes must not wait for delayed ACKs (Nagle).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return proc, sock
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start: %s" % " ".join(argv))


def stop(proc, sock):
    """Closes the connection and stops the server."""
    sock.close()
    proc.terminate()
    proc.wait(timeout=30)
