"""Plumbing shared by the oxinit benchmarks (pid1.py, supervisor.py).

What every benchmark here needs:
- launch a command as PID 1 of a fresh PID namespace
  (`unshare --pid --fork --mount-proc ARGV`) and find that PID 1's host pid;
- a FIFO the measured children report to, so "the child runs" is a fact the
  child states, not something the harness guesses from /proc;
- readers for /proc (RSS, context switches, CPU time, children, namespace);
- order statistics, Markdown tables, and a description of the machine.

Python 3 standard library only, Linux only, root only (PID namespaces).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import select
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def now_ns() -> int:
    """CLOCK_MONOTONIC in ns. PID namespaces do not virtualise it, so a
    timestamp taken inside the namespace compares with one taken here."""
    return time.monotonic_ns()


def die(msg: str, code: int = 1) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(code)


def require_root() -> None:
    if os.geteuid() != 0:
        die("needs root: every init runs as PID 1 of a new PID namespace (unshare --pid)")


def use_realtime(priority: int = 10) -> str:
    """Run the harness, and so every process it starts (unshare, the init, its
    children inherit the policy), under SCHED_FIFO: on a machine shared with
    other work, a runnable benchmark process then never waits behind it, which
    takes most of the noise out of sub-millisecond latencies. Every tool gets
    the same treatment. The kernel's RT throttling (95% of each second) keeps
    the machine responsive. Returns a line for the report header."""
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    return f"- scheduling: SCHED_FIFO priority {priority} for the harness and everything it starts (--rt)"


# --------------------------------------------------------------------------- FIFO


class Fifo:
    """A named pipe the harness holds open for reading and writing.

    Holding a write end ourselves means a child's `open(path, O_WRONLY)` never
    blocks and our reads never see EOF between children. Children write one
    line per event, "TOKEN payload…\\n"; a write of at most PIPE_BUF bytes is
    atomic, so concurrent children never interleave their lines. A line's
    time is when the harness read it (it sleeps in select until then).
    """

    def __init__(self, path: Path):
        self.path = path
        os.mkfifo(path, 0o600)
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self.buf = b""
        self.read_at = 0
        # Lines read while waiting for another token, with the time they were
        # read: several children report in any order.
        self.pending: dict[str, tuple[int, str]] = {}

    def wait(self, token: str, timeout: float) -> tuple[int, str]:
        """Block until a line starting with `token` arrives. Returns (the
        monotonic ns at which it was read, the rest of the line)."""
        deadline = time.monotonic() + timeout
        while True:
            if token in self.pending:
                return self.pending.pop(token)
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                got, _, rest = line.decode(errors="replace").partition(" ")
                self.pending[got] = (self.read_at, rest)
            if token in self.pending:
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no '{token}' line on {self.path} within {timeout}s")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                t = now_ns()  # the line was there when select returned
                try:
                    self.buf += os.read(self.fd, 65536)
                    self.read_at = t  # the time of the read that completes a line
                except BlockingIOError:
                    pass

    def stray(self) -> list[str]:
        """Lines nobody waited for (a child of an earlier, failed trial)."""
        return [f"{k} {v[1]}" for k, v in self.pending.items()]

    def close(self) -> None:
        os.close(self.fd)


# ----------------------------------------------------------------- PID namespaces

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]


class NsRun:
    """One `unshare --pid --fork --mount-proc ARGV` run.

    unshare forks once and its child becomes PID 1 of the new namespace, then
    execs ARGV[0] (the init, or the bare command for the no-init baseline).
    `t_launch` is taken just before the fork of unshare itself.
    """

    def __init__(self, argv: list[str], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=None):
        self.argv = UNSHARE + argv
        self.t_launch = now_ns()
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env
        )
        self._pid1: int | None = None

    def pid1(self, timeout: float = 5.0) -> int:
        """Host pid of the namespace's PID 1: unshare's only child."""
        if self._pid1 is None:
            deadline = time.monotonic() + timeout
            while True:
                kids = children(self.proc.pid)
                if kids:
                    self._pid1 = kids[0]
                    break
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"no PID 1 under unshare (pid {self.proc.pid}): {self.argv}")
                time.sleep(0.001)
        return self._pid1

    def wait(self, timeout: float) -> tuple[int | None, int]:
        """(unshare's exit status or None if still running at the deadline,
        monotonic ns when the wait ended).

        Popen.wait(timeout) polls with sleeps of up to 50 ms, far too coarse
        for a latency; a pidfd becomes readable the moment the process exits.
        """
        if self.proc.returncode is not None:
            return self.proc.returncode, now_ns()
        pidfd = os.pidfd_open(self.proc.pid)
        try:
            ready, _, _ = select.select([pidfd], [], [], timeout)
            t = now_ns()
        finally:
            os.close(pidfd)
        if not ready:
            return None, t
        return self.proc.wait(), t

    def kill(self) -> None:
        """SIGKILL to PID 1 ends the whole namespace (the kernel kills every
        process in it); then reap unshare."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid1(timeout=1.0), signal.SIGKILL)
            except (ProcessLookupError, RuntimeError):
                self.proc.kill()
            self.proc.wait()


def exited_at(pid: int, timeout: float) -> int | None:
    """Monotonic ns at which child `pid` exits (a pidfd turns readable), or
    None at the deadline. Does not reap: /proc/PID stays readable (a zombie
    keeps its io and CPU counters) until the caller waits for it."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
        return now_ns() if ready else None
    finally:
        os.close(pidfd)


def bytes_read(pid: int) -> int:
    """rchar: every byte the process got from read-like calls (its input,
    plus the few KiB the loader and locale reads add)."""
    return int(status_fields(pid, "io")["rchar"])


# ------------------------------------------------------------------------- /proc


def children(pid: int) -> list[int]:
    """Direct children of a single-threaded process (zombies included: a child
    stays on the list until its parent reaps it)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def status_fields(pid: int, path: str = "status") -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/{path}") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def ns_pid(host_pid: int) -> int:
    """The pid a process has inside its innermost PID namespace (NSpid's last)."""
    return int(status_fields(host_pid)["NSpid"].split()[-1])


def evict_from_page_cache(path: str) -> None:
    """Drops a file's clean pages from the page cache, as if it had never been
    read: the state of a binary in a container image that has just started.

    A file's resident set depends on how its pages got into the cache — one
    just written by the linker or by cp sits in large folios, and the kernel
    maps a whole folio on a fault — so the same binary shows up to ~20% more
    RSS right after a build than after a cold read. Evicting every init's
    binary before the idle round measures them all in the same, production
    state. Dirty pages are written back first so they can go too.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def rss_kib(pid: int) -> int:
    return int(status_fields(pid)["VmRSS"].split()[0])


def thread_switches(pid: int) -> dict[int, int]:
    """Voluntary + nonvoluntary context switches of each thread (tid -> count).
    /proc/PID/status alone counts only the main thread."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            st = status_fields(pid, f"task/{tid}/status")
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread exited while we looked
        out[int(tid)] = int(st["voluntary_ctxt_switches"]) + int(st["nonvoluntary_ctxt_switches"])
    return out


def wakeups(before: dict[int, int], after: dict[int, int]) -> int:
    """Wake-ups between two thread_switches samples. A thread that appeared
    counts all its switches; one that vanished took its counter with it, so
    it counts 1 (it at least woke up to exit): a lower bound, never hidden."""
    grown = sum(n - before.get(tid, 0) for tid, n in after.items())
    return grown + len(before.keys() - after.keys())


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (stat field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def namespace_states(pid1: int) -> dict[int, str]:
    """Every process in PID 1's namespace: host pid -> state letter (Z = zombie).
    A zombie still has its struct pid, so its ns/pid link still resolves."""
    target = os.readlink(f"/proc/{pid1}/ns/pid")
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != target:
                continue
            with open(f"/proc/{entry}/stat") as f:
                out[int(entry)] = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # exited while we looked
    return out


# ---------------------------------------------------------------------- binaries


@dataclass
class ElfInfo:
    size: int
    static: bool  # no PT_INTERP: the kernel maps it without ld.so
    stripped: bool  # no .symtab section

    def describe(self) -> str:
        link = "static" if self.static else "dynamic"
        strip = "stripped" if self.stripped else "not stripped"
        return f"{link}, {strip}"


def elf_info(path: str) -> ElfInfo:
    """Just enough ELF64 little-endian parsing to tell static/dynamic and
    stripped/not, so the output does not depend on `file(1)` being installed."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
    e_phoff, e_shoff = struct.unpack_from("<QQ", data, 0x20)
    e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", data, 0x36)
    has_interp = any(
        struct.unpack_from("<I", data, e_phoff + i * e_phentsize)[0] == 3  # PT_INTERP
        for i in range(e_phnum)
    )
    has_symtab = any(
        struct.unpack_from("<I", data, e_shoff + i * e_shentsize + 4)[0] == 2  # SHT_SYMTAB
        for i in range(e_shnum)
    )
    return ElfInfo(size=len(data), static=not has_interp, stripped=not has_symtab)


def version_of(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5)
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


# -------------------------------------------------------------------- statistics


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def p90(xs: list[float]) -> float:
    """Nearest-rank 90th percentile: the smallest sample >= 90% of them."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def fmt_ms(ns: float) -> str:
    ms = ns / 1e6
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------- machine


def machine_lines() -> list[str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = open("/proc/loadavg").read().split()[:3]
    return [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), kernel {platform.release()}, "
        f"load average at start {' '.join(load)}",
    ]


def end_lines(t_start: float) -> list[str]:
    """Closing header lines: how long it took and how busy the machine was.
    A load average above the CPU count means the inits shared their CPUs with
    other work, and the latencies' tails (p90) say more about that work."""
    load = open("/proc/loadavg").read().split()[:3]
    lines = [f"- total bench time {time.monotonic() - t_start:.0f} s, load average at end {' '.join(load)}"]
    if float(load[0]) > (os.cpu_count() or 1):
        lines.append("- **note: the machine was busy (load above its CPU count): expect noisy latencies**")
    return lines


def write_results(kind: str, text: str, raw: dict | None = None) -> Path:
    """bench/results/KIND-DATE.md (+ .json with every sample); the directory is
    gitignored: results are pasted into the README by hand, with their date."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    path = RESULTS_DIR / f"{kind}-{stamp}.md"
    path.write_text(text)
    if raw is not None:
        path.with_suffix(".json").write_text(json.dumps(raw, indent=1) + "\n")
    return path
