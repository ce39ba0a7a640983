"""Run a command as the only child of a child subreaper: `unshare --fork` without a namespace.

usage: keeper.py REPORT CMD ARGS...

The test harness starts oxinit "as an ordinary child" through this keeper, so that
- nothing oxinit leaves behind escapes to the host's init: it is reparented here,
  listed in REPORT (one line per process: "<pid> <state> <cmdline>") and killed;
- the harness can kill the whole tree when a test fails (nothing escapes a subreaper).
While the command runs, orphans that reach the keeper (because the command is not a
subreaper itself) are reaped, as a host init would.
The keeper exits like the command: the same code, or killed by the same signal.
"""

import ctypes
import os
import resource
import signal
import sys

import proctree

PR_SET_CHILD_SUBREAPER = 36


def main():
    report, argv = sys.argv[1], sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"keeper: prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    child = os.fork()
    if child == 0:
        # Python ignores SIGPIPE and SIGXFSZ and handles SIGINT; undo that so the
        # command starts with what the harness gave us: default dispositions.
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            os.write(2, f"keeper: cannot run {argv[0]}: {e}\n".encode())
        os._exit(127)

    status = None
    while status is None:
        pid, st = os.waitpid(-1, 0)
        if pid == child:
            status = st

    # The command is gone: whatever is left was reparented to us.
    left = [(pid, proctree.table().get(pid, (0, "?"))[1], proctree.cmdline(pid))
            for pid in proctree.descendants(os.getpid())]
    with open(report, "w") as f:
        for pid, state, cmd in left:
            f.write(f"{pid} {state} {cmd}\n")
    proctree.kill_tree(os.getpid())
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break

    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        sys.exit(128 + sig)  # not reached unless the signal cannot kill us
    sys.exit(os.WEXITSTATUS(status))


main()
