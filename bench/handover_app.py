#!/usr/bin/env python3
"""The app that bench/handover.py runs under oxinit: a small threaded HTTP
server with a realistic start and a graceful stop.

- Its socket: with `LISTEN_FDS` set (oxinit's `listen`, systemd's protocol)
  it serves on fd 3, which oxinit bound and keeps open; else it binds
  127.0.0.1:$PORT itself with SO_REUSEPORT (the baseline: what an app does
  under any other init, and what lets two instances share a port during a
  reload without held sockets).
- Start: it sleeps $STARTUP_MS (300) before it accepts, as an app loading its
  code and opening its database would; in the baseline it binds only then,
  as most frameworks do. Then READY=1 over $NOTIFY_SOCKET when one is set.
- Requests: GET /health answers at once; any other path after $WORK_MS (2 ms)
  of work. Every answer says which pid served it (X-Pid). One request per
  connection (HTTP/1.0, the server closes).
- Stop: on SIGTERM it stops accepting, closes its copy of the socket, finishes
  the requests it has accepted, then exits 0.
- Each accepted connection is written to $ACCEPT_LOG as `PID PEER_PORT NS`
  (CLOCK_MONOTONIC) right after accept(2) returns, with one write(2) on an
  O_APPEND file: the line survives a kill -9 that comes after it, so the
  bench can tell a request lost with a killed process (it had accepted it)
  from one the init let fail.

Python 3 standard library only.
"""

import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTUP_MS = int(os.environ.get("STARTUP_MS", "300"))
WORK_MS = float(os.environ.get("WORK_MS", "2"))
PID = os.getpid()
ACCEPT_LOG = os.environ.get("ACCEPT_LOG")
LOG_FD = os.open(ACCEPT_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if ACCEPT_LOG else None


def held_socket() -> socket.socket | None:
    """fd 3 when oxinit passed its held sockets (systemd's sd_listen_fds)."""
    count = os.environ.get("LISTEN_FDS")
    if not count:
        return None
    listen_pid = os.environ.get("LISTEN_PID")
    if listen_pid and int(listen_pid) != PID:
        # systemd's rule: the fds are for that pid only. A mismatch here is a
        # bug in whoever set them, and the benchmark must not hide it.
        sys.exit(f"handover_app: LISTEN_PID={listen_pid} but my pid is {PID}")
    if int(count) < 1:
        sys.exit(f"handover_app: LISTEN_FDS={count}: no socket to serve on")
    return socket.socket(fileno=3)


def own_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    return sock


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path != "/health" and WORK_MS > 0:
            time.sleep(WORK_MS / 1000)
        body = f"{PID}\n".encode()
        self.send_response(200)
        self.send_header("X-Pid", str(PID))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class Server(ThreadingHTTPServer):
    # Not daemon threads, and server_close() joins them: in-flight requests
    # are finished before the process exits.
    daemon_threads = False
    block_on_close = True

    def __init__(self, sock: socket.socket):
        super().__init__(sock.getsockname()[:2], Handler, bind_and_activate=False)
        self.socket.close()
        # Non-blocking: during a reload two instances wait on one held socket;
        # the one that loses the race for a connection must not sit in
        # accept(2), deaf to its own shutdown.
        sock.setblocking(False)
        self.socket = sock

    def get_request(self):
        conn, addr = self.socket.accept()
        if LOG_FD is not None:
            os.write(LOG_FD, f"{PID} {addr[1]} {time.monotonic_ns()}\n".encode())
        conn.setblocking(True)
        conn.settimeout(10)
        return conn, addr


def notify_ready() -> None:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"READY=1", path)


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    time.sleep(STARTUP_MS / 1000)
    sock = held_socket()
    mode = "held (fd 3)"
    if sock is None:
        sock = own_socket(int(os.environ["PORT"]))
        mode = "own"
    server = Server(sock)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    serving.start()
    notify_ready()
    print(f"handover_app {PID}: serving on {sock.getsockname()} ({mode})", file=sys.stderr, flush=True)
    while not stop.wait(0.1):  # a timed wait: the signal handler runs between waits
        pass
    server.shutdown()
    serving.join()
    server.server_close()  # closes our socket, then joins the request threads
    print(f"handover_app {PID}: stopped gracefully", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
