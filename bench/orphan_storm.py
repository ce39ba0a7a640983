"""The child of the orphan benchmark: hand PID 1 COUNT orphans at once.

Usage: orphan_storm.py FIFO TOKEN COUNT  (run as the init's CMD)

This process (CMD) forks an intermediate. The intermediate forks COUNT
grandchildren that exit at once and stay unreaped (zombies), then writes
"TOKEN-exit <CLOCK_MONOTONIC ns>" and exits: the kernel reparents all its
zombies to the namespace's PID 1 in that exit, and PID 1 must now reap them.
CMD reaps the intermediate (only it, by pid) and then writes
"TOKEN-reparented": from that line on every orphan is PID 1's child, so the
harness can count them from PID 1's children list without racing the exit.
CMD then waits for a signal (the harness ends the namespace).

Every line is short, so each write to the FIFO is atomic. A failed fork is
reported as "TOKEN-exit error: …" so the harness fails fast instead of waiting.
"""

import ctypes
import os
import signal
import sys
import time


def say(fifo: int, line: str) -> None:
    os.write(fifo, (line + "\n").encode())


def main() -> None:
    path, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fifo = os.open(path, os.O_WRONLY)
    say(fifo, f"{token}-ready {os.getpid()}")

    middle = os.fork()
    if middle == 0:
        # libc's fork, not os.fork: os.fork runs Python's at-fork machinery in
        # parent and child and costs ~1 ms a fork here, libc's ~0.3 ms, which
        # keeps a 2000-orphan round near a second. The child only calls
        # _exit, which needs none of that machinery.
        libc = ctypes.CDLL(None, use_errno=True)
        for made in range(count):
            pid = libc.fork()
            if pid == 0:
                os._exit(0)
            if pid < 0:  # EAGAIN: a pid limit; report it, do not hang the bench
                err = os.strerror(ctypes.get_errno())
                say(fifo, f"{token}-exit error: fork #{made + 1} of {count} failed: {err}")
                os._exit(1)
        say(fifo, f"{token}-exit {time.monotonic_ns()}")
        os._exit(0)

    os.waitpid(middle, 0)
    say(fifo, f"{token}-reparented")
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
