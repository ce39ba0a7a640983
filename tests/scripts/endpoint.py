#!/usr/bin/env python3
"""A health-check target for the supervisor-mode tests, run as a service by oxinit.

usage: endpoint.py LOG WHO MODE PORT [SICK_FILE]

Every line it appends to LOG is "<unix-ms> WHO <event>" (tests/common/mod.rs
read_events). It logs "start <pid>" once it listens and "term" when SIGTERM
ends it.

MODE
  http       GET any path: 200, or 503 while SICK_FILE exists. Logs
             "probe 200|503" *before* answering, so anything oxinit starts
             because of the answer happens after the logged time.
  hang-http  accepts, reads the request, never answers. Logs "request" when
             one arrives and "closed after MS" when the client gives up.
  full-tcp   listen(0) with the accept queue filled by its own connections:
             the kernel drops further SYNs, so a connect() hangs until the
             caller's timeout. Logs "full" once that is so.
"""

import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    log_path, who, mode, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sick = sys.argv[5] if len(sys.argv) > 5 else None

    def log(event):
        line = f"{int(time.time() * 1000)} {who} {event}\n"
        # One write on an O_APPEND fd: lines of concurrent writers never mix.
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def on_term(_sig, _frame):
        log("term")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    addr = ("127.0.0.1", port)

    if mode == "http":
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                code = 503 if sick and os.path.exists(sick) else 200
                log(f"probe {code}")
                body = b"ok\n" if code == 200 else b"sick\n"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass  # oxinit relays our stderr: keep its log readable

        ThreadingHTTPServer.daemon_threads = True
        server = ThreadingHTTPServer(addr, Handler)
        log(f"start {os.getpid()}")
        server.serve_forever()

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(addr)

    if mode == "hang-http":
        listener.listen(16)

        def hold(conn):
            accepted = time.monotonic()
            logged = False
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    break
                if not logged:
                    log("request")
                    logged = True
            ms = int((time.monotonic() - accepted) * 1000)
            log(f"closed after {ms}")
            conn.close()

        log(f"start {os.getpid()}")
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=hold, args=(conn,), daemon=True).start()

    if mode == "full-tcp":
        # A backlog of 0 holds one connection; the next SYN is dropped (not
        # refused) while the queue is full, and we never accept().
        listener.listen(0)
        held = []
        while True:
            client = socket.socket()
            client.settimeout(0.5)
            try:
                client.connect(addr)
            except (socket.timeout, TimeoutError):
                client.close()
                break
            held.append(client)
        log(f"start {os.getpid()}")
        log("full")
        while True:
            time.sleep(3600)

    sys.exit(f"endpoint.py: unknown mode {mode!r}: http | hang-http | full-tcp")


if __name__ == "__main__":
    main()
