#!/usr/bin/env python3
"""Benchmark oxinit's supervisor mode against supervisord (issue 3).

Both run as PID 1 of a PID namespace (`unshare --pid --fork --mount-proc`),
from configs generated here in a temp dir (oxinit: `oxinit run --config
oxfile.toml`, supervisord: `supervisord -n -c supervisord.conf`), in rounds
whose order alternates. What is measured, and how:

start       Three services, each `sh -c 'echo TOKEN > FIFO; exec sleep …'`.
            From just before forking unshare until the harness has read all
            three lines from its FIFO: the services provably run (supervisord's
            RUNNING state would add its startsecs, so it is not used).
stop        SIGTERM to PID 1 until unshare exits (pidfd). The services are
            `sleep`, which dies on SIGTERM at once.
idle        VmRSS and context switches (voluntary + nonvoluntary, all
            threads) of PID 1 over a 10 s idle window after 1 s settle, both
            tools idle side by side.
relay       One service marks START on the FIFO, writes N bytes of 100-byte
            lines (`yes LINE | head -n`) to stdout, then an END line, then
            sleeps. PID 1's stdout is a pipe read by `grep -F -q END`, which
            exits once everything before END went through the relay:
            throughput = payload bytes / START-to-grep's-exit, and the bytes
            grep read prove nothing was lost. Baseline: the same command
            writing straight into that pipe, no supervisor. oxinit relays in
            `prefixed` mode; supervisord copies to its own stdout
            (stdout_logfile=/dev/stdout: it has no prefixed mode). CPU =
            utime + stime of PID 1 between START and END (clock ticks), per
            GB (10^9 payload bytes).

Targets (issue 3) for oxinit: idle RSS <= 3 MiB, 0 wake-ups in 10 s idle,
relay throughput >= 80% of the straight pipe.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import benchlib as b

REPO = b.BENCH_DIR.parent
DEFAULT_OXINIT = REPO / "target/x86_64-unknown-linux-gnu/release/oxinit"
SERVICES = ["alpha", "beta", "gamma"]
LINE = "x" * 99  # + "\n" = 100 bytes, a typical log line
# No `$$` and no `${` in these scripts: oxinit expands `${VAR}` in commands and
# reads `$$` as an escaped `$`; bare `$0`/`$1` reach the shell untouched.
SERVICE_SCRIPT = 'echo "$1" > "$0"; exec sleep 100000'
# sh -c RELAY_SCRIPT FIFO TOKEN LINE COUNT: START on the FIFO, END in the stream.
RELAY_SCRIPT = 'echo "$1-start" > "$0"; yes "$2" | head -n "$3"; echo "$1-end"; exec sleep 100000'
BASELINE = "straight pipe"


@dataclass
class Samples:
    start: list[int] = field(default_factory=list)  # ns
    stop: list[int] = field(default_factory=list)  # ns
    stop_failed: int = 0
    rss_kib: list[int] = field(default_factory=list)
    wakeups: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    relay_bps: list[float] = field(default_factory=list)  # payload bytes per second
    relay_bytes: list[int] = field(default_factory=list)  # what the reader got: payload + prefixes
    cpu_s_per_gb: list[float] = field(default_factory=list)


def toml_str(s: str) -> str:
    # A JSON string of printable ASCII is a valid TOML basic string.
    return json.dumps(s)


class Tool:
    """One supervisor under test: writes its config, gives its argv."""

    name: str

    def argv(self, config: Path) -> list[str]:
        raise NotImplementedError

    def config(self, path: Path, services: dict[str, list[str]]) -> None:
        raise NotImplementedError


class Oxinit(Tool):
    name = "oxinit"

    def __init__(self, binary: str):
        self.binary = binary

    def argv(self, config: Path) -> list[str]:
        return [self.binary, "run", "--config", str(config)]

    def config(self, path: Path, services: dict[str, list[str]]) -> None:
        # Only keys from DESIGN.md's seed format: [init] log_format and
        # [processes.NAME] command / restart / stop_timeout.
        lines = ["[init]", 'log_format = "prefixed"', ""]
        for name, argv in services.items():
            lines += [
                f"[processes.{name}]",
                f"command = {toml_str(shlex.join(argv))}",
                'restart = "always"',
                'stop_timeout = "10s"',
                "",
            ]
        path.write_text("\n".join(lines))


class Supervisord(Tool):
    name = "supervisord"

    def __init__(self, binary: str, tmp: Path):
        self.binary = binary
        self.tmp = tmp

    def argv(self, config: Path) -> list[str]:
        return [self.binary, "-n", "-c", str(config)]

    def config(self, path: Path, services: dict[str, list[str]]) -> None:
        lines = [
            "[supervisord]",
            "nodaemon = true",
            "silent = true",  # its own log lines go to the file, not into the relay
            f"logfile = {self.tmp}/supervisord.log",
            f"pidfile = {self.tmp}/supervisord.pid",
            f"childlogdir = {self.tmp}",
            "",
        ]
        for name, argv in services.items():
            # supervisord %-interpolates its config values: double every %.
            command = shlex.join(argv).replace("%", "%%")
            lines += [
                f"[program:{name}]",
                f"command = {command}",
                "autorestart = true",
                "startsecs = 0",
                "stopwaitsecs = 10",
                # Relay to supervisord's own stdout/stderr (maxbytes 0: no
                # rotation, which would seek on a pipe).
                "stdout_logfile = /dev/stdout",
                "stdout_logfile_maxbytes = 0",
                "stderr_logfile = /dev/stderr",
                "stderr_logfile_maxbytes = 0",
                "",
            ]
        path.write_text("\n".join(lines))


class Bench:
    def __init__(self, args, tools: list[Tool], tmp: Path):
        self.args = args
        self.tools = tools
        self.tmp = tmp
        self.fifo = b.Fifo(tmp / "report.fifo")
        self.log = open(tmp / "tools.log", "ab")
        self.samples = {t.name: Samples() for t in tools}
        self.samples[BASELINE] = Samples()
        self.seq = 0

    def launch(self, tool: Tool, services: dict[str, list[str]], stdout=subprocess.DEVNULL) -> b.NsRun:
        self.seq += 1
        config = self.tmp / f"{tool.name}-{self.seq}.conf"
        tool.config(config, services)
        return b.NsRun(tool.argv(config), stdout=stdout, stderr=self.log)

    def three_services(self) -> tuple[dict[str, list[str]], list[str]]:
        tokens = []
        services = {}
        for name in SERVICES:
            self.seq += 1
            token = f"{name}{self.seq}"
            tokens.append(token)
            services[name] = ["/bin/sh", "-c", SERVICE_SCRIPT, str(self.fifo.path), token]
        return services, tokens

    def start_stop(self, tool: Tool) -> None:
        services, tokens = self.three_services()
        run = self.launch(tool, services)
        s = self.samples[tool.name]
        try:
            t_all = max(self.fifo.wait(t, 20)[0] for t in tokens)
            s.start.append(t_all - run.t_launch)
            t0 = b.now_ns()
            os.kill(run.pid1(), signal.SIGTERM)
            rc, t_exit = run.wait(15.0)
            if rc is None:
                s.stop_failed += 1
            else:
                s.stop.append(t_exit - t0)
        finally:
            run.kill()

    def idle(self, tools: list[Tool]) -> None:
        runs = []
        # Start from a cold page cache, as a fresh container does (see
        # benchlib.evict_from_page_cache); supervisord is a script, whose
        # interpreter this harness itself runs on, so only oxinit's.
        for tool in tools:
            if isinstance(tool, Oxinit):
                b.evict_from_page_cache(tool.binary)
        try:
            for tool in tools:
                services, tokens = self.three_services()
                runs.append((tool, self.launch(tool, services), tokens))
            for _, _, tokens in runs:
                for t in tokens:
                    self.fifo.wait(t, 20)
            pid1 = {tool.name: run.pid1() for tool, run, _ in runs}
            time.sleep(self.args.settle)
            before = {n: b.thread_switches(p) for n, p in pid1.items()}
            time.sleep(self.args.idle_seconds)
            for n, p in pid1.items():
                after = b.thread_switches(p)
                s = self.samples[n]
                s.wakeups.append(b.wakeups(before[n], after))
                s.rss_kib.append(b.rss_kib(p))
                s.threads.append(len(after))
        finally:
            for _, run, _ in runs:
                run.kill()

    def relay(self, tool: Tool | None) -> None:
        """One relay round; tool None = the straight pipe.

        PID 1's stdout (or the writer's, for the straight pipe) is a pipe read
        by `grep -F -q TOKEN-end`: C, 96 KiB reads, far faster than any relay,
        so the relay is what is measured. The END line comes after the payload
        in the same stream, so grep exits only once everything before it went
        through the relay: its exit is the end of the measurement, and the
        bytes it read (rchar) prove nothing was lost. START is marked on the
        FIFO before the first byte.
        """
        self.seq += 1
        token = f"relay{self.seq}"
        lines = self.args.relay_mib * 1024 * 1024 // (len(LINE) + 1)
        payload = lines * (len(LINE) + 1)
        cmd = ["/bin/sh", "-c", RELAY_SCRIPT, str(self.fifo.path), token, LINE, str(lines)]
        r, w = os.pipe()
        reader = subprocess.Popen(["grep", "-F", "-q", "--", f"{token}-end"], stdin=r)
        os.close(r)
        proc = run = None
        name = tool.name if tool else BASELINE
        try:
            if tool is None:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=w, stderr=self.log)
            else:
                run = self.launch(tool, {"writer": cmd}, stdout=w)
            os.close(w)
            w = -1
            t_start, _ = self.fifo.wait(f"{token}-start", 20)
            pid = run.pid1() if run else None
            cpu0 = b.cpu_seconds(pid) if pid else None
            t_end = b.exited_at(reader.pid, 600)
            if t_end is None:
                b.die(f"{name}: the relay did not deliver its END line within 600 s")
            cpu1 = b.cpu_seconds(pid) if pid else None
            received = b.bytes_read(reader.pid)
        finally:
            if w >= 0:
                os.close(w)
            if proc is not None:
                proc.kill()  # sh has exec'd sleep; yes and head are done
                proc.wait()
            if run is not None:
                run.kill()
            reader.kill()
            rc = reader.wait()
        if rc != 0 or received < payload:
            b.die(f"{name}: the END line came after {received} of {payload} payload bytes (grep exit {rc}): output was lost")
        s = self.samples[name]
        s.relay_bps.append(payload / ((t_end - t_start) / 1e9))
        s.relay_bytes.append(received)
        if cpu0 is not None:
            s.cpu_s_per_gb.append((cpu1 - cpu0) / (payload / 1e9))


# --------------------------------------------------------------------- report


def cell_latency(xs: list[int]) -> str:
    if not xs:
        return "–"
    return f"{b.fmt_ms(b.median(xs))} ({b.fmt_ms(b.p90(xs))})"


def report(bench: Bench, args, header: list[str]) -> tuple[str, dict]:
    names = [t.name for t in bench.tools]
    S = bench.samples
    has_ox = "oxinit" in names
    cols = ["metric", BASELINE] + names + (["target (oxinit)", "result"] if has_ox else [])
    rows = []

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "**FAIL**"

    def row(metric, cells, target="", ok=None):
        extra = [target, "" if ok is None else verdict(ok)] if has_ox else []
        rows.append([metric, cells.get(BASELINE, "–")] + [cells.get(n, "–") for n in names] + extra)

    row("start: launch to 3 services running, ms: median (p90)", {n: cell_latency(S[n].start) for n in names})
    row(
        "stop: SIGTERM to exit, ms: median (p90)",
        {n: cell_latency(S[n].stop) + (f", {S[n].stop_failed} did not stop" if S[n].stop_failed else "") for n in names},
    )
    rss = {n: max(S[n].rss_kib) for n in names if S[n].rss_kib}
    row(
        "idle RSS of PID 1 (max)",
        {n: f"{v} KiB" + (f" ({max(S[n].threads)} threads)" if max(S[n].threads) > 1 else "") for n, v in rss.items()},
        "≤ 3072 KiB",
        rss.get("oxinit", 1 << 30) <= 3072,
    )
    wk = {n: max(S[n].wakeups) for n in names if S[n].wakeups}
    row(f"wake-ups of PID 1 in {args.idle_seconds:g} s idle (max)", {n: str(v) for n, v in wk.items()}, "0", wk.get("oxinit") == 0)
    base = b.median(S[BASELINE].relay_bps) if S[BASELINE].relay_bps else None
    relay = {}
    for n in [BASELINE] + names:
        if S[n].relay_bps:
            m = b.median(S[n].relay_bps)
            relay[n] = f"{m / 1e6:.0f} MB/s" + (f" ({m / base:.0%})" if base and n != BASELINE else "")
            # Bytes beyond the payload: prefixes, plus ~20 KiB the reader's
            # loader and locale reads add; shown only when prefixes matter.
            extra = b.median(S[n].relay_bytes) / (args.relay_mib * 1024 * 1024) - 1
            if extra > 0.005:
                relay[n] += f", +{extra:.0%} bytes"
    ox_relay = b.median(S["oxinit"].relay_bps) if has_ox and S["oxinit"].relay_bps else None
    row(
        f"log relay, {args.relay_mib} MiB of 100 B lines: median",
        relay,
        "≥ 80% of straight pipe",
        ox_relay is not None and base is not None and ox_relay >= 0.8 * base,
    )
    row(
        "CPU of PID 1 per GB relayed: median",
        {n: f"{b.median(S[n].cpu_s_per_gb):.2f} s" for n in names if S[n].cpu_s_per_gb},
    )
    text = "\n".join(
        ["## Supervisor benchmark: oxinit run vs supervisord", ""]
        + header
        + ["", b.md_table(cols, rows), "", "How each number is measured:", ""]
        + [f"- {line}" for line in METHOD_NOTES]
        + [""]
    )
    raw = {"header": header, "samples": {n: vars(S[n]) for n in [BASELINE] + names}}
    return text, raw


METHOD_NOTES = [
    "both run as PID 1 of a PID namespace (`unshare --pid --fork --mount-proc`), configs generated "
    "per run, rounds alternate the order;",
    "**start**: from just before forking `unshare` until all three services (`sh -c 'echo … > FIFO; "
    "exec sleep …'`) have written to the harness's FIFO;",
    "**stop**: SIGTERM to PID 1 until `unshare` exits (pidfd); the services are `sleep` (die on TERM);",
    "**idle**: VmRSS and voluntary + nonvoluntary context switches of PID 1 (all threads) over the idle "
    "window after 1 s settle, both tools side by side;",
    "**relay**: a service marks START on the FIFO, writes N bytes of 100-byte lines (`yes | head -n`) "
    "then an END line to stdout; PID 1's stdout is a pipe read by `grep -F -q END` (C, fast), which exits "
    "once everything before END went through; throughput = payload / START-to-grep's-exit; the bytes "
    "grep read prove nothing was lost (*+N% bytes* = prefixes added); the *straight pipe* column runs "
    "the same command with its stdout on that pipe; oxinit prefixes lines "
    "(`log_format = \"prefixed\"`), supervisord copies raw (`stdout_logfile=/dev/stdout`; it has no "
    "prefixing); CPU = utime + stime of PID 1 between START and END, per 10^9 payload bytes.",
]


# ----------------------------------------------------------------------- main


def parse_args():
    p = argparse.ArgumentParser(
        description="oxinit supervisor mode vs supervisord (issue 3). Root only.",
        epilog="Writes a Markdown table to stdout and bench/results/supervisor-DATE.md (+ .json).",
    )
    p.add_argument("--tools", default="supervisord,oxinit", help="comma-separated (default supervisord,oxinit)")
    p.add_argument("--oxinit", default=str(DEFAULT_OXINIT), help="oxinit binary (default: the static release build)")
    p.add_argument("--rounds", type=int, default=20, help="start/stop rounds (default 20)")
    p.add_argument("--idle-rounds", type=int, default=3, help="idle rounds (default 3)")
    p.add_argument("--idle-seconds", type=float, default=10.0, help="idle window (default 10)")
    p.add_argument("--settle", type=float, default=1.0, help="settle before the idle window (default 1)")
    p.add_argument("--relay-rounds", type=int, default=3, help="relay rounds (default 3)")
    p.add_argument("--relay-mib", type=int, default=512, help="payload per relay round (default 512)")
    p.add_argument("--rt", action="store_true", help="run everything under SCHED_FIFO: much less noise on a busy machine")
    p.add_argument("--quick", action="store_true", help="about a minute: 5 rounds, 1 idle, 1 relay of 128 MiB")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.idle_rounds, args.relay_rounds, args.relay_mib = 5, 1, 1, 128
    return args


def resolve_tools(args, tmp: Path) -> list[Tool]:
    tools: list[Tool] = []
    for name in args.tools.split(","):
        name = name.strip()
        if name == "oxinit":
            path = Path(args.oxinit)
            if not path.is_file():
                b.die(
                    f"oxinit binary not found at {path}: build it with bench/run.sh supervisor, "
                    "pass --oxinit PATH, or leave it out with --tools supervisord"
                )
            tools.append(Oxinit(str(path.resolve())))
        elif name == "supervisord":
            path = shutil.which("supervisord")
            if path is None:
                b.die("supervisord not found: apt-get install -y supervisor (or run bench/run.sh supervisor)")
            tools.append(Supervisord(path, tmp))
        else:
            b.die(f"unknown tool {name!r}: choose among supervisord, oxinit")
    return tools


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    args = parse_args()
    b.require_root()
    with tempfile.TemporaryDirectory(prefix="oxinit-bench-") as tmp:
        tmp = Path(tmp)
        tools = resolve_tools(args, tmp)
        versions = {
            "oxinit": lambda t: b.version_of([t.binary, "--version"]),
            "supervisord": lambda t: "supervisord " + b.version_of([t.binary, "--version"]),
        }
        header = b.machine_lines() + [
            "- tools: " + "; ".join(f"{t.name} `{t.binary}` ({versions[t.name](t)})" for t in tools),
            f"- rounds: {args.rounds} start/stop, {args.idle_rounds} idle ({args.settle:g} s settle + "
            f"{args.idle_seconds:g} s), {args.relay_rounds} relay; cells are median (p90) unless marked",
        ]
        if args.rt:
            header.append(b.use_realtime())
        bench = Bench(args, tools, tmp)
        t0 = time.monotonic()
        for tool in tools:  # warm-up, not recorded
            bench.start_stop(tool)
            bench.samples[tool.name] = Samples()
        progress(f"start/stop: {args.rounds} rounds")
        for r in range(args.rounds):
            for tool in tools[r % len(tools) :] + tools[: r % len(tools)]:
                bench.start_stop(tool)
        progress(f"relay: {args.relay_rounds} rounds of {args.relay_mib} MiB")
        for r in range(args.relay_rounds):
            order = [None] + tools
            for tool in order[r % len(order) :] + order[: r % len(order)]:
                bench.relay(tool)
        progress(f"idle: {args.idle_rounds} rounds of {args.settle + args.idle_seconds:g} s")
        for r in range(args.idle_rounds):
            bench.idle(tools)
        header += b.end_lines(t0)
        text, raw = report(bench, args, header)
    print(text)
    progress(f"written to {b.write_results('supervisor', text, raw)}")


if __name__ == "__main__":
    main()
