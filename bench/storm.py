#!/usr/bin/env python3
"""Storm bench (issue 15): the real oxinit binary as PID 1 of a new PID
namespace, in supervisor mode, through three storms in a row:

1. orphans: a service hands PID 1 COUNT zombies at once (orphan_storm.py);
   timed from the intermediate's exit until PID 1 has no zombie child left;
2. signals: the harness sends COUNT signals (HUP, USR1, USR2, WINCH in turn)
   to PID 1 as fast as it can; oxinit forwards them to the running service;
3. idle connections: CONNS TCP connections to the metrics port and CONNS unix
   connections to the control socket, opened and left silent; meanwhile a
   fresh GET /health is timed and `oxinit status` must get through.

Then SIGTERM. Reported: times, what oxinit counted, its RSS, CPU and open
descriptors before/after (no leak), zombies left, panics in its log, the exit
code, and the cgroups it leaves behind (the service has a memory limit, so on
a machine with writable cgroups it gets one; none may remain after exit).

Usage: sudo python3 bench/storm.py --oxinit target/x86_64-unknown-linux-gnu/release/oxinit
       (or: sudo bench/run.sh storm)
Python 3 standard library only, Linux, root.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    BENCH_DIR,
    Fifo,
    NsRun,
    children,
    cpu_seconds,
    die,
    end_lines,
    fmt_ms,
    machine_lines,
    md_table,
    namespace_states,
    now_ns,
    require_root,
    rss_kib,
    write_results,
)

FORWARDED = [signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH]

# The orphan service ignores the forwarded signals (an ignored disposition
# survives exec), so it stays up and /health stays 200 through the storms.
# The service that receives the forwarded signals: counts them, reports the
# count on SIGTERM. Handlers only bump a counter (no I/O in a handler).
COUNTER = """
import os, signal, sys, time
fifo, token = sys.argv[1], sys.argv[2]
seen = [0]
def count(sig, frame): seen[0] += 1
for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
    signal.signal(s, count)
done = []
signal.signal(signal.SIGTERM, lambda s, f: done.append(1))
fd = os.open(fifo, os.O_WRONLY)
os.write(fd, f"{token}-ready {os.getpid()}\\n".encode())
while not done:
    signal.pause()
os.write(fd, f"{token}-count {seen[0]}\\n".encode())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, str, int]:
    """(status, body, ns taken) of one GET on a fresh connection."""
    t = now_ns()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            body = r.read().decode()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read().decode(), e.code
    return status, body, now_ns() - t


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def own_memory_cgroups() -> list[Path]:
    """Our cgroup directories that hold process cgroups: the v1 memory one
    and the v2 one (oxinit started by us sits in the same)."""
    dirs = []
    for line in open("/proc/self/cgroup"):
        _, controllers, path = line.rstrip("\n").split(":", 2)
        if "memory" in controllers.split(","):
            dirs.append(Path("/sys/fs/cgroup/memory") / path.lstrip("/"))
        elif controllers == "":
            for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                if (root / "cgroup.controllers").exists():
                    dirs.append(root / path.lstrip("/"))
                    break
    return [d for d in dirs if d.is_dir()]


def leftover_cgroups(names: list[str]) -> list[str]:
    left = []
    for parent in own_memory_cgroups():
        for name in names:
            if (parent / f"oxinit-{name}").exists():
                left.append(str(parent / f"oxinit-{name}"))
    return left


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--oxinit", required=True, help="the oxinit binary (the static release build)")
    ap.add_argument("--signals", type=int, default=10_000)
    ap.add_argument("--orphans", type=int, default=10_000)
    ap.add_argument("--conns", type=int, default=1000, help="idle connections of each kind")
    ap.add_argument("--idle-rounds", type=int, default=4, help="rounds of idle connections")
    args = ap.parse_args()
    require_root()
    oxinit = os.path.abspath(args.oxinit)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * args.conns + 256
    if hard < need:
        die(f"storm.py: {2 * args.conns} connections need {need} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))

    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="oxinit-storm-"))
    fifo = Fifo(tmp / "fifo")
    port = free_port()
    sock = tmp / "ox.sock"
    svc, orph = f"storm{os.getpid()}", f"orphans{os.getpid()}"
    (tmp / "counter.py").write_text(COUNTER)
    (tmp / "oxfile.toml").write_text(
        f"""[init]
control_socket = "{sock}"
log_format = "raw"

[metrics]
listen = "127.0.0.1:{port}"

[processes.{svc}]
command = ["{sys.executable}", "{tmp / 'counter.py'}", "{fifo.path}", "svc"]
limits = {{ memory = "256M" }}

[processes.{orph}]
command = ["sh", "-c", "trap '' HUP USR1 USR2 WINCH; exec \\"$0\\" \\"$@\\"",
           "{sys.executable}", "{BENCH_DIR / 'orphan_storm.py'}", "{fifo.path}", "orph", "{args.orphans}"]
"""
    )
    stderr = open(tmp / "stderr", "w+")
    run = NsRun([oxinit, "run", "--config", str(tmp / "oxfile.toml")], stderr=stderr)
    rows: list[list[str]] = []
    raw: dict = {"signals": args.signals, "orphans": args.orphans, "conns": args.conns}
    try:
        pid1 = run.pid1()
        fifo.wait("svc-ready", 30)
        made = leftover_cgroups([svc, orph])  # the limited service's, where cgroups are writable
        # ---------------------------------------------------------- orphans
        _, rest = fifo.wait("orph-exit", 120)
        if rest.startswith("error"):
            die(f"storm.py: the orphan storm failed: {rest}")
        t_exit = int(rest)
        fifo.wait("orph-reparented", 60)
        live = 2  # the two services
        deadline = time.monotonic() + 60
        while len(children(pid1)) > live and time.monotonic() < deadline:
            time.sleep(0.0005)
        t_reaped = now_ns()
        zombies = sum(1 for s in namespace_states(pid1).values() if s == "Z")
        status, metrics, _ = get(port, "/metrics")
        reaped = metric_sum(metrics, "oxinit_zombies_reaped_total")
        raw["orphans_ns"] = t_reaped - t_exit
        rows.append([
            f"{args.orphans:,} orphans at once",
            f"{fmt_ms(t_reaped - t_exit)} ms to 0 zombies",
            f"{int(reaped):,} reaped (`oxinit_zombies_reaped_total`), {zombies} zombies left",
        ])
        rss0, fds0, cpu0 = rss_kib(pid1), open_fds(pid1), cpu_seconds(pid1)
        raw.update(rss_before_kib=rss0, fds_before=fds0)

        # ---------------------------------------------------------- signals
        before = metric_sum(get(port, "/metrics")[1], "oxinit_signals_received_total")
        t0 = now_ns()
        for i in range(args.signals):
            os.kill(pid1, FORWARDED[i % len(FORWARDED)])
        t_sent = now_ns()
        # Wait until oxinit has read them all (its counter stops moving).
        last, still = -1.0, 0
        while still < 5:
            time.sleep(0.05)
            got = metric_sum(get(port, "/metrics")[1], "oxinit_signals_received_total") - before
            still = still + 1 if got == last else 0
            last = got
        t_settled = now_ns()
        health, _, health_ns = get(port, "/health")
        cpu1 = cpu_seconds(pid1)
        state = next(p for p in json.loads(get(port, "/status")[1])["processes"] if p["name"] == svc)
        if state["state"] != "running" or state["restarts"] != 0:
            die(f"storm.py: the service did not ride out the signal storm: {state}")
        raw.update(signals_received=last, signal_send_ns=t_sent - t0, signal_settle_ns=t_settled - t0)
        rows.append([
            f"{args.signals:,} signals (HUP, USR1, USR2, WINCH)",
            f"sent in {fmt_ms(t_sent - t0)} ms; oxinit CPU {1000 * (cpu1 - cpu0):.0f} ms",
            f"{int(last):,} read by oxinit (the kernel merges a pending signal with its repeats), "
            f"/health {health} after, the service running (pid {state['pid']}, 0 restarts)",
        ])

        # ---------------------------------------------------------- idle connections
        # In rounds: memory that grows in the first round and not after is
        # the allocator's high-water mark; growth every round would be a leak.
        rss_rounds = []
        for _ in range(args.idle_rounds):
            idle = []
            t0 = now_ns()
            for _ in range(args.conns):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.connect(("127.0.0.1", port))
                idle.append(s)
            for _ in range(args.conns):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(str(sock))
                except OSError:
                    pass
                idle.append(s)
            t_open = now_ns()
            fds_during = open_fds(pid1)
            health_idle, _, health_idle_ns = get(port, "/health")
            # `oxinit status` must get through while they are open.
            t_status, ok = now_ns(), False
            while not ok and now_ns() - t_status < 30e9:
                ok = subprocess.run([oxinit, "status", "--socket", str(sock)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=30).returncode == 0
            status_ns = now_ns() - t_status
            for s in idle:
                s.close()
            deadline = time.monotonic() + 30
            while open_fds(pid1) > fds0 and time.monotonic() < deadline:
                time.sleep(0.05)
            fds_after = open_fds(pid1)
            rss_rounds.append(rss_kib(pid1))
        raw.update(fds_during=fds_during, fds_after=fds_after, rss_rounds_kib=rss_rounds,
                   health_idle_ns=health_idle_ns, status_ns=status_ns)
        rows.append([
            f"{args.conns:,} idle TCP + {args.conns:,} idle control connections, {args.idle_rounds}×",
            f"opened in {fmt_ms(t_open - t0)} ms; fresh /health {health_idle} in "
            f"{fmt_ms(health_idle_ns)} ms; `oxinit status` {'ok' if ok else 'FAILED'} after {fmt_ms(status_ns)} ms",
            f"oxinit fds {fds0} → {fds_during} during → {fds_after} after (capped, none leaked); "
            f"RSS {rss0} → {' → '.join(map(str, rss_rounds))} KiB after each round",
        ])
        zombies_end = sum(1 for s in namespace_states(pid1).values() if s == "Z")

        # ---------------------------------------------------------- stop
        t0 = now_ns()
        os.kill(pid1, signal.SIGTERM)
        code, t_end = run.wait(60)
        _, counted = fifo.wait("svc-count", 5)
        stderr.seek(0)
        log = stderr.read()
        panics = log.count("panicked")
        left = leftover_cgroups([svc, orph])
        raw.update(cgroups_made=made, exit_code=code, stop_ns=t_end - t0, forwarded=int(counted), panics=panics, cgroups_left=left)
        rows.append([
            "SIGTERM after the storms",
            f"stopped in {fmt_ms(t_end - t0)} ms, exit code {code}",
            f"service counted {int(counted):,} forwarded signals; "
            f"{panics} panics; {zombies_end} zombies; {len(made)} cgroup(s) made, {len(left)} left",
        ])
    finally:
        run.kill()
        fifo.close()

    text = "\n".join(
        ["# Storm bench (bench/storm.py)", ""]
        + machine_lines()
        + [f"- oxinit: {oxinit}", ""]
        + [md_table(["storm", "time", "outcome"], rows), ""]
        + end_lines(t_start)
    ) + "\n"
    print(text)
    print(f"written to {write_results('storm', text, raw)}", file=sys.stderr)
    bad = raw.get("panics") or raw.get("cgroups_left") or raw.get("exit_code") not in (0,)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
