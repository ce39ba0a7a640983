#!/usr/bin/env python3
"""An HTTP app for the reload tests: `reload_app.py PORT EVENTS [BROKEN]`.

It serves oxinit's held socket (fd 3, systemd's LISTEN_FDS) when it is given
one; else it binds 127.0.0.1:PORT itself with SO_REUSEPORT, as apps that
reload beside themselves do.

- `GET /` answers 200 with "pid <its pid>"; `GET /health` 200, or 500 when
  the file BROKEN existed at its start (a bad deploy);
- it waits `$DELAY` seconds before it serves (a slow start, so a test can
  see two instances);
- binding itself, the newest instance gets every new connection: a one-line
  classic BPF program on the port's reuseport group picks socket 1, the
  second bound, and the kernel falls back to its hash when there is none (so
  the old one's queue only drains, and closing it drops nothing). With a
  held socket there is one queue, oxinit's, and nothing to do;
- on SIGTERM it stops accepting, takes what its own listener still has
  queued, finishes what it serves and exits 0. It logs "<ms> api start
  <pid>" and "<ms> api term" to EVENTS.
"""

import ctypes
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

PORT = int(sys.argv[1])
EVENTS = sys.argv[2]
BROKEN = len(sys.argv) > 3 and os.path.exists(sys.argv[3])
SO_ATTACH_REUSEPORT_CBPF = 51


def log(what):
    with open(EVENTS, "a") as f:
        f.write(f"{int(time.time() * 1000)} api {what}\n")


def newest_first(sock):
    # struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }: BPF_RET|BPF_K 1.
    program = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 1))
    fprog = struct.pack("@HP", 1, ctypes.addressof(program))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
    return program  # kept alive while the socket is


def serve(conn):
    try:
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        path = data.split(b" ", 2)[1].decode()
        if path == "/health" and BROKEN:
            status, body = "500 Internal Server Error", "broken\n"
        else:
            status, body = "200 OK", f"pid {os.getpid()}\n"
        conn.sendall(
            f"HTTP/1.0 {status}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n{body}".encode()
        )
    except OSError:
        pass
    finally:
        conn.close()


stopping = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopping.set())
time.sleep(float(os.environ.get("DELAY", "0")))
held = os.environ.get("LISTEN_FDS") == "1"
if held:
    listener = socket.socket(fileno=3)
else:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind(("127.0.0.1", PORT))
    listener.listen(128)
    keep = newest_first(listener)
log(f"start {os.getpid()}")
workers = []
while not stopping.is_set():
    try:
        ready, _, _ = select.select([listener], [], [], 0.05)
    except InterruptedError:
        continue
    if ready:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            # A held socket: the other instance took it first.
            continue
        t = threading.Thread(target=serve, args=(conn,))
        t.start()
        workers.append(t)
log("term")
# A held socket's queue is the new instance's too: it takes what comes (and
# O_NONBLOCK would be set on the socket both share).
if not held:
    listener.setblocking(False)
while not held:
    try:
        conn, _ = listener.accept()
    except (BlockingIOError, InterruptedError):
        break
    conn.setblocking(True)
    serve(conn)
listener.close()
for t in workers:
    t.join()
sys.exit(0)
