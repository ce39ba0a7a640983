"""Exec a command with a chosen signal state, to test what a program inherits.

usage: launcher.py [--ignore SIG,...] [--block SIG,...] [--pending SIG,...] -- CMD ARGS...

--ignore sets SIG_IGN, --block adds to the signal mask, --pending blocks the signal
and sends it to ourselves so it is pending when CMD starts (pending signals and
the mask survive execve). Names as in Python's signal module, SIG optional
(USR1, SIGRTMIN). Every other signal starts at its default: Python's own SIGPIPE
and SIGXFSZ ignores and SIGINT handler are undone first. (Signals 32 and 33 are
glibc's own and cannot be set from here.)
"""

import os
import signal
import sys


def sigs(spec):
    return [getattr(signal, s if s.startswith("SIG") else "SIG" + s) for s in spec.split(",") if s]


def main():
    args = sys.argv[1:]
    opts = {"--ignore": [], "--block": [], "--pending": []}
    while args and args[0] != "--":
        opt, value = args[0], args[1]
        opts[opt] = sigs(value)
        args = args[2:]
    argv = args[1:]

    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
    for sig in opts["--ignore"]:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, opts["--block"] + opts["--pending"])
    for sig in opts["--pending"]:
        os.kill(os.getpid(), sig)
    os.execvp(argv[0], argv)


main()
