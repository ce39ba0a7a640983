"""Become a session leader with stdin's terminal as controlling terminal, then exec.

usage: ctty_exec.py CMD ARGS...

This is what `docker run -it` gives PID 1: a session of its own that owns the pty.
"""

import fcntl
import os
import sys
import termios

if os.getsid(0) != os.getpid():
    os.setsid()
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
os.execvp(sys.argv[1], sys.argv[1:])
