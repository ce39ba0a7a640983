#!/usr/bin/env python3
"""An sd_notify service for the supervisor-mode tests, run by oxinit.

usage: notify_client.py LOG WHO READY_FILE PET_FILE

Logs "<unix-ms> WHO <event>" lines to LOG (tests/common/mod.rs read_events):
  "start <pid> NOTIFY_SOCKET=<path> WATCHDOG_USEC=<n>"  at start;
  "ready sent"   after sending READY=1, once READY_FILE exists;
  "pet"          after each WATCHDOG=1, sent every 200 ms while PET_FILE exists;
  "term"         when SIGTERM ends it.
The files are the test's switches; they are looked at every 50 ms.
"""

import os
import signal
import socket
import sys
import time


def main():
    log_path, who, ready_file, pet_file = sys.argv[1:5]

    def log(event):
        line = f"{int(time.time() * 1000)} {who} {event}\n"
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def on_term(_sig, _frame):
        log("term")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    target = os.environ.get("NOTIFY_SOCKET", "")
    log(
        f"start {os.getpid()} NOTIFY_SOCKET={target} "
        f"WATCHDOG_USEC={os.environ.get('WATCHDOG_USEC', '')}"
    )
    if target.startswith("@"):
        target = "\0" + target[1:]  # an abstract socket, as sd_notify(3) allows
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def notify(message):
        sock.sendto(message.encode(), target)

    ready_sent = False
    last_pet = 0.0
    while True:
        if not ready_sent and os.path.exists(ready_file):
            notify("READY=1\nSTATUS=serving")
            ready_sent = True
            log("ready sent")
        now = time.monotonic()
        if now - last_pet >= 0.2 and os.path.exists(pet_file):
            notify("WATCHDOG=1")
            last_pet = now
            log("pet")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
