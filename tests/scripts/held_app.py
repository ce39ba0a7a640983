"""A server behind oxinit's held sockets (tests/held_sockets.rs).

It binds nothing itself: it serves every socket it was passed on fds 3, 4, …
(systemd's LISTEN_FDS protocol). Each connection gets one JSON line saying
who answered and what this process was given, then is closed:
  {"pid", "uid", "listen_pid", "listen_fds", "names", "listening", "fd"}
("listening": the fds from 3 on that are listening sockets; "fd": the one
that accepted this connection).

With $RELISTEN set, each socket is listened on again with that backlog, as
servers such as Node do.

With $MARK set, "term <pid>" is appended to that file on SIGTERM, and the
process then waits $STOP_MS (default 0) before it exits, without accepting
in the meantime: connections made then must wait in the kernel's backlog.
"""

import json
import os
import selectors
import signal
import socket
import sys
import time

count = int(os.environ.get("LISTEN_FDS", "0"))
info = {
    "pid": os.getpid(),
    "uid": os.getuid(),
    "listen_pid": os.environ.get("LISTEN_PID"),
    "listen_fds": os.environ.get("LISTEN_FDS"),
    "names": os.environ.get("LISTEN_FDNAMES"),
    "listening": [],
}
sockets = []
for fd in range(3, 3 + count):
    s = socket.socket(fileno=fd)
    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        info["listening"].append(fd)
    if os.environ.get("RELISTEN"):
        # As Node's server.listen({ fd: 3 }) does: listen(2) again, with
        # the server's own backlog.
        s.listen(int(os.environ["RELISTEN"]))
    sockets.append(s)


def on_term(_sig, _frame):
    mark = os.environ.get("MARK")
    if mark:
        with open(mark, "a") as f:
            f.write(f"term {os.getpid()}\n")
    time.sleep(int(os.environ.get("STOP_MS", "0")) / 1000)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
if not sockets:
    print("held_app: no sockets passed (LISTEN_FDS unset)", file=sys.stderr)
    sys.exit(3)
sel = selectors.DefaultSelector()
for s in sockets:
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        with conn:
            reply = dict(info, fd=key.fileobj.fileno())
            conn.sendall((json.dumps(reply) + "\n").encode())
