"""Log every signal this process receives, as events for the test harness.

usage: sigcatch.py LOG NAME [--exit-after N] [--exit-on SIG,...] [--ignore SIG,...]
                           [--exit-code C]

Installs a handler for every catchable signal (1-31 but KILL, STOP, CHLD), except
those given to --ignore (set to SIG_IGN), then appends to LOG:
    "<unix-ms> NAME ready <pid>"            once every handler is installed
    "<unix-ms> NAME got <signum> <SIGNAME>" for each signal received
    "<unix-ms> NAME exit <code>"            when it exits
It exits with --exit-code (default 0) after N signals, or on one of --exit-on;
without either it runs until killed.
"""

import argparse
import os
import signal
import sys
import time


def signum(name):
    name = name.strip().upper()
    return int(name) if name.isdigit() else getattr(signal, name if name.startswith("SIG") else "SIG" + name)


def signame(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"SIG{num}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("log")
    p.add_argument("name")
    p.add_argument("--exit-after", type=int, default=0)
    p.add_argument("--exit-on", default="")
    p.add_argument("--ignore", default="")
    p.add_argument("--exit-code", type=int, default=0)
    a = p.parse_args()
    exit_on = {signum(s) for s in a.exit_on.split(",") if s}
    ignore = {signum(s) for s in a.ignore.split(",") if s}

    fd = os.open(a.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def log(event):
        # One write per line: lines from several processes never interleave.
        os.write(fd, f"{int(time.time() * 1000)} {a.name} {event}\n".encode())

    received = 0
    done = False

    def handler(num, _frame):
        nonlocal received, done
        received += 1
        log(f"got {num} {signame(num)}")
        if num in exit_on or (a.exit_after and received >= a.exit_after):
            done = True

    for num in range(1, 32):
        if num in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD):
            continue
        signal.signal(num, signal.SIG_IGN if num in ignore else handler)
    log(f"ready {os.getpid()}")
    # Handlers run between bytecodes; a short sleep bounds the exit latency and,
    # unlike pause(), cannot miss the signal that sets `done`.
    while not done:
        time.sleep(0.02)
    log(f"exit {a.exit_code}")
    sys.exit(a.exit_code)


main()
