"""Drive a command on a pseudo-terminal, like a user at `docker run -it`.

usage: pty_session.py SCENARIO -- CMD ARGS...

CMD is started on a fresh pty (stdin/stdout/stderr), in a new session that does not
own the pty: CMD is expected to take it itself (tests/scripts/ctty_exec.py, the way
a container runtime hands PID 1 its terminal). SCENARIO is one of:

  bash-jobs  CMD ends in an interactive `bash -m`: background job, `jobs`, `fg`,
             ^Z (VSUSP) stops it, `bg`, `kill %1` ends it (status 143), `exit 7`;
             CMD must exit 7.
  tac        CMD ends in `tac`: it must be the terminal's foreground process group,
             read three lines and ^D (VEOF), write them back reversed; CMD exits 0.

Prints the transcript and exits 0 when the scenario passed, 1 with the reason
otherwise. Every step has a deadline; whatever CMD left running is killed.
"""

import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import fcntl
import time

import proctree

PROMPT = rb"OXP\$ "


class Failed(Exception):
    pass


class Term:
    def __init__(self, argv):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.tty_rdev = os.fstat(slave).st_rdev
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        # The pty's own control characters, not assumed defaults (^Z, ^D).
        cc = [c if isinstance(c, bytes) else bytes([c]) for c in termios.tcgetattr(self.master)[6]]
        self.vsusp, self.veof = cc[termios.VSUSP], cc[termios.VEOF]
        self.buf = b""
        self.pos = 0  # start of the output not yet consumed by expect()
        self.eof = False

    def _read(self, timeout):
        if self.eof:
            return False
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return False
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: every holder of the slave side is gone
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def expect(self, pattern, timeout=10.0, what=None):
        """Wait for `pattern` in the unconsumed output; return what came before it."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.buf[self.pos:])
            if m:
                before = self.buf[self.pos:self.pos + m.start()]
                self.pos += m.end()
                return before
            left = deadline - time.monotonic()
            if left <= 0 or (self.eof and not self._read(0)):
                raise Failed(f"no {what or pattern!r} within {timeout}s"
                             + (" (terminal closed)" if self.eof else ""))
            self._read(min(left, 0.1))

    def send(self, data):
        os.write(self.master, data)

    def drain_to_eof(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.eof:
            if time.monotonic() > deadline:
                raise Failed(f"terminal still open {timeout}s after the session should have ended")
            self._read(0.1)

    def exit_code(self, timeout=10.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failed(f"command still running {timeout}s after its terminal closed")

    def cleanup(self):
        proctree.kill_tree(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def bash_jobs(t):
    before = t.expect(PROMPT, what="bash's first prompt")
    for bad in (b"no job control", b"cannot set terminal process group"):
        if bad in before:
            raise Failed(f"bash complained: {bad.decode()!r}")
    t.send(b"sleep 30 &\n")
    t.expect(rb"\[1\] \d+", what="'[1] <pid>' after 'sleep 30 &'")
    t.expect(PROMPT)
    t.send(b"jobs\n")
    t.expect(rb"\[1\]\+\s+Running\s+sleep 30 &", what="'[1]+ Running sleep 30 &'")
    t.expect(PROMPT)
    shell_group = os.tcgetpgrp(t.master)  # the pty's foreground group: bash's
    t.send(b"fg\n")
    t.expect(rb"sleep 30\r\n", what="fg announcing 'sleep 30'")
    # fg prints the job before it hands it the terminal: wait for the handover, or
    # ^Z would go to bash (which ignores it).
    deadline = time.monotonic() + 10
    while os.tcgetpgrp(t.master) == shell_group:
        if time.monotonic() > deadline:
            raise Failed("fg never made the job the terminal's foreground group")
        time.sleep(0.01)
    # bash hands over the terminal before it sends the job SIGCONT, which undoes a
    # ^Z that lands in between: repeat ^Z until bash reports the stop. (A ^Z that
    # lands after bash took the terminal back goes to bash, which ignores it.)
    for attempt in range(20):
        t.send(t.vsusp)
        try:
            t.expect(rb"\[1\]\+\s+Stopped\s+sleep 30", timeout=0.5)
            break
        except Failed:
            pass
    else:
        raise Failed("^Z never stopped the foreground job ('[1]+ Stopped')")
    t.expect(PROMPT)
    t.send(b"jobs\n")
    t.expect(rb"\[1\]\+\s+Stopped\s+sleep 30", what="'[1]+ Stopped sleep 30'")
    t.expect(PROMPT)
    t.send(b"bg\n")
    t.expect(rb"\[1\]\+ sleep 30 &", what="bg resuming the job ('[1]+ sleep 30 &')")
    t.expect(PROMPT)
    # Kill a running job and reap it in the same line: bash 5.2 can lose track of a
    # job that is killed while stopped, and it forgets a job once it has reported it.
    t.send(b"kill %1; wait %1; echo status=$?\n")
    t.expect(rb"status=143", what="'kill %1' terminating the job (status=143)")
    t.expect(PROMPT)
    t.send(b"exit 7\n")
    t.drain_to_eof()
    code = t.exit_code()
    if code != 7:
        raise Failed(f"bash exited 7 but the command exited {code}")


def tac(t):
    # Find tac and check it owns the terminal before typing: a process that is not
    # in the foreground group of its controlling tty is stopped by SIGTTIN on read.
    deadline = time.monotonic() + 10
    while True:
        found = [p for p in proctree.descendants(t.proc.pid) if proctree.cmdline(p) == "tac"]
        if found:
            break
        if time.monotonic() > deadline:
            raise Failed("tac never started")
        time.sleep(0.01)
    with open(f"/proc/{found[0]}/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2:].split()
    pgrp, tty_nr, tpgid = int(fields[2]), int(fields[4]), int(fields[5])
    if tty_nr != t.tty_rdev:
        raise Failed(f"tac's controlling terminal is {tty_nr:#x}, not our pty {t.tty_rdev:#x}")
    if tpgid != pgrp:
        raise Failed(f"tac (group {pgrp}) is not the terminal's foreground group ({tpgid})")
    t.send(b"one\ntwo\nthree\n")
    t.send(t.veof)
    t.expect(rb"three\r\ntwo\r\none\r\n", what="the lines reversed")
    t.drain_to_eof()
    code = t.exit_code()
    if code != 0:
        raise Failed(f"tac succeeded but the command exited {code}")


SCENARIOS = {"bash-jobs": bash_jobs, "tac": tac}


def main():
    scenario, sep, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    assert sep == "--", __doc__
    t = Term(argv)
    try:
        SCENARIOS[scenario](t)
        ok, reason = True, ""
    except Failed as e:
        ok, reason = False, str(e)
    finally:
        t.cleanup()
    print("--- transcript ---")
    print(t.buf.decode(errors="replace"))
    print("--- end ---")
    if ok:
        print(f"PASS {scenario}")
        sys.exit(0)
    print(f"FAIL {scenario}: {reason}")
    sys.exit(1)


if __name__ == "__main__":
    main()
