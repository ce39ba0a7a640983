#!/usr/bin/env python3
"""Benchmark oxinit against tini and dumb-init as PID 1 of a PID namespace.

Every init is invoked the same way, `unshare --pid --fork --mount-proc INIT --
CMD`, as root, and the inits take turns: round r runs them in an order rotated
by r, so drift on a shared machine (other load, frequency, caches) spreads over
all of them instead of landing on one. What is measured, and how:

spawn latency   From just before the harness forks `unshare` to the moment the
                harness reads a line the child (`sh -c 'echo … > FIFO'`) wrote
                into a FIFO the harness holds open. Nothing is subtracted; the
                "no init" column runs `unshare … CMD` directly, so the init's
                own cost is the difference.
stop latency    The same child then execs `sleep`, which dies on SIGTERM. The
                harness sends SIGTERM to the namespace's PID 1 (its host pid is
                unshare's only child) and times until unshare exits (a pidfd,
                so the exit is seen at once). Without an init, PID 1 has no
                handler and the kernel drops the signal: it never stops.
orphans         The child (orphan_storm.py) forks an intermediate that forks
                N grandchildren which exit at once, then the intermediate
                exits: N zombies are reparented to PID 1 in one go. Time from
                the intermediate's own timestamp just before its exit to PID
                1 having no child left but CMD (zombies stay on the children
                list until reaped); polled every 0.5 ms, given up after 5 s.
                Zombies left: processes in state Z whose /proc/PID/ns/pid is
                the namespace's, counted when the list emptied or at 5 s.
idle RSS        VmRSS of PID 1 with `sleep` as the child, after 1 s settle
                plus the idle window (all inits idle side by side: nothing
                runs, so they do not disturb each other and the 10 s window
                is paid once per round, not once per init). Each init's
                binary is evicted from the page cache first, so each starts
                as from a fresh image (see benchlib.evict_from_page_cache).
wake-ups        voluntary + nonvoluntary context switches of PID 1, summed
                over its threads, across 10 s idle. 0 means it sleeps in the
                kernel until something happens; a periodic timer shows up as
                one wake-up per period.
binary size     Size of the file as installed/built, and whether it is static
                (no PT_INTERP) and stripped (no .symtab).

Targets (issue 2), checked for oxinit against tini (/usr/bin/tini, Debian's
dynamically linked build): spawn and stop median <= 1.1x tini's; 0 zombies
left and median time to 0 zombies <= tini's; idle RSS <= 2 MiB; 0 wake-ups in
10 s idle; stripped static binary <= 2.5 MB (2,500,000 bytes: static glibc's fixed cost makes 2 MB unreachable without musl).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import benchlib as b

REPO = b.BENCH_DIR.parent
DEFAULT_OXINIT = REPO / "target/x86_64-unknown-linux-gnu/release/oxinit"
STORM = b.BENCH_DIR / "orphan_storm.py"
NO_INIT = "no init"
REFERENCE = "tini"
ORPHAN_LIMIT_S = 5.0

# `sh -c SCRIPT FIFO TOKEN`: report "TOKEN <pid in the namespace>", then become
# a process that dies on SIGTERM (sleep keeps the default disposition).
CHILD_SCRIPT = 'echo "$1 $$" > "$0"; exec sleep 100000'


@dataclass
class Init:
    name: str
    path: str | None  # None: the no-init baseline, CMD itself is PID 1

    def argv(self, cmd: list[str]) -> list[str]:
        return cmd if self.path is None else [self.path, "--", *cmd]


@dataclass
class Samples:
    spawn: list[int] = field(default_factory=list)  # ns
    stop: list[int] = field(default_factory=list)  # ns
    stop_failed: int = 0  # still running 5 s after SIGTERM
    orphan_time: list[int | None] = field(default_factory=list)  # ns; None = not 0 after 5 s
    zombies_left: list[int] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    wakeups: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)


class Bench:
    def __init__(self, args, inits: list[Init], tmp: Path):
        self.args = args
        self.inits = inits
        self.fifo = b.Fifo(tmp / "report.fifo")
        self.log = open(tmp / "inits.log", "ab")  # the inits' stderr, for failures
        self.samples = {i.name: Samples() for i in inits}
        self.seq = 0

    def token(self, what: str) -> str:
        self.seq += 1
        return f"{what}{self.seq}"

    def launch(self, init: Init, cmd: list[str]) -> b.NsRun:
        return b.NsRun(init.argv(cmd), stderr=self.log)

    def child(self, token: str) -> list[str]:
        return ["/bin/sh", "-c", CHILD_SCRIPT, str(self.fifo.path), token]

    # -- spawn + stop ----------------------------------------------------------

    def lifecycle(self, init: Init, record: bool = True) -> None:
        token = self.token("up")
        run = self.launch(init, self.child(token))
        try:
            t_up, _ = self.fifo.wait(token, 10)
            s = self.samples[init.name]
            if record:
                s.spawn.append(t_up - run.t_launch)
            if init.path is None:
                return  # no handler for SIGTERM in a bare PID 1: see stop_baseline
            pid1 = run.pid1()
            t0 = b.now_ns()
            os.kill(pid1, signal.SIGTERM)
            rc, t_exit = run.wait(5.0)
            if not record:
                return
            if rc is None:
                s.stop_failed += 1
            else:
                s.stop.append(t_exit - t0)
        finally:
            run.kill()

    def stop_baseline(self) -> bool:
        """True when a bare PID 1 (`sleep`) survives SIGTERM for 0.5 s."""
        token = self.token("bare")
        run = self.launch(Init(NO_INIT, None), self.child(token))
        try:
            self.fifo.wait(token, 10)
            os.kill(run.pid1(), signal.SIGTERM)
            rc, _ = run.wait(0.5)
            return rc is None
        finally:
            run.kill()

    # -- orphans ---------------------------------------------------------------

    def orphans(self, init: Init) -> None:
        token = self.token("storm")
        cmd = [sys.executable, str(STORM), str(self.fifo.path), token, str(self.args.orphans)]
        run = self.launch(init, cmd)
        try:
            _, cmd_nspid = self.fifo.wait(f"{token}-ready", 10)
            pid1 = run.pid1()
            # CMD's host pid: PID 1 itself without an init, else PID 1's child
            # with CMD's namespace pid (looked up now, before any orphan exists).
            cmd_host = pid1
            if init.path is not None:
                kids = b.children(pid1)
                cmd_host = next((p for p in kids if b.ns_pid(p) == int(cmd_nspid)), None)
                if cmd_host is None:
                    b.die(f"{init.name}: CMD (pid {cmd_nspid} in the namespace) is not a child of PID 1 {kids}")
            _, exit_stamp = self.fifo.wait(f"{token}-exit", 120)
            if exit_stamp.startswith("error"):
                b.die(f"orphan storm under {init.name}: {exit_stamp}")
            t_exit = int(exit_stamp)
            self.fifo.wait(f"{token}-reparented", 10)
            deadline = t_exit + int(ORPHAN_LIMIT_S * 1e9)
            elapsed = None
            while True:
                t = b.now_ns()
                if not [p for p in b.children(pid1) if p != cmd_host]:
                    elapsed = t - t_exit
                    break
                if t > deadline:
                    break
                time.sleep(0.0005)
            zombies = sum(1 for st in b.namespace_states(pid1).values() if st == "Z")
            s = self.samples[init.name]
            s.orphan_time.append(elapsed)
            s.zombies_left.append(zombies)
        finally:
            run.kill()

    # -- idle ------------------------------------------------------------------

    def idle(self, inits: list[Init]) -> None:
        runs = {}
        for init in inits:
            b.evict_from_page_cache(init.path)
        try:
            for init in inits:
                token = self.token("idle")
                runs[init.name] = (self.launch(init, self.child(token)), token)
            for run, token in runs.values():
                self.fifo.wait(token, 10)
            pid1 = {name: run.pid1() for name, (run, _) in runs.items()}
            time.sleep(self.args.settle)
            before = {name: b.thread_switches(p) for name, p in pid1.items()}
            time.sleep(self.args.idle_seconds)
            for name, p in pid1.items():
                after = b.thread_switches(p)
                s = self.samples[name]
                s.wakeups.append(b.wakeups(before[name], after))
                s.rss_kib.append(b.rss_kib(p))
                s.threads.append(len(after))
        finally:
            for run, _ in runs.values():
                run.kill()


def rotated(xs: list, r: int) -> list:
    k = r % len(xs)
    return xs[k:] + xs[:k]


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------- report


def cell_latency(xs: list[int]) -> str:
    if not xs:
        return "–"
    return f"{b.fmt_ms(b.median(xs))} ({b.fmt_ms(b.p90(xs))})"


def orphan_cell(ts: list[int | None]) -> str:
    done = [t for t in ts if t is not None]
    if not ts:
        return "–"
    if not done:
        return f"never (> {ORPHAN_LIMIT_S:.0f} s)"
    cell = cell_latency(done)
    if len(done) < len(ts):
        cell += f", {len(ts) - len(done)}/{len(ts)} > {ORPHAN_LIMIT_S:.0f} s"
    return cell


def report(bench: Bench, args, bare_ignores_term: bool | None, header: list[str]) -> tuple[str, dict]:
    names = [i.name for i in bench.inits]
    S = bench.samples
    has_ox = "oxinit" in S and REFERENCE in S
    cols = ["metric"] + names + (["oxinit/tini", "target (oxinit)", "result"] if has_ox else [])
    rows = []
    raw: dict = {"header": header, "samples": {n: vars(S[n]) for n in names}}

    def ratio(a: float | None, ref: float | None) -> str:
        return f"{a / ref:.2f}×" if a is not None and ref else "–"

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "**FAIL**"

    def row(metric: str, cells: dict[str, str], extra: list[str]) -> None:
        rows.append([metric] + [cells.get(n, "–") for n in names] + (extra if has_ox else []))

    def med(xs):
        xs = [x for x in xs if x is not None]
        return b.median(xs) if xs else None

    # spawn
    ox, ref = (med(S["oxinit"].spawn), med(S[REFERENCE].spawn)) if has_ox else (None, None)
    row(
        "spawn latency, ms: median (p90)",
        {n: cell_latency(S[n].spawn) for n in names},
        [ratio(ox, ref), "≤ 1.1× tini", verdict(ox is not None and ref is not None and ox <= 1.1 * ref)],
    )
    # stop
    stop_cells = {}
    for n in names:
        if n == NO_INIT:
            stop_cells[n] = "never: SIGTERM ignored" if bare_ignores_term else "stopped (unexpected)"
        else:
            stop_cells[n] = cell_latency(S[n].stop) + (
                f", {S[n].stop_failed} did not stop in 5 s" if S[n].stop_failed else ""
            )
    ox, ref = (med(S["oxinit"].stop), med(S[REFERENCE].stop)) if has_ox else (None, None)
    ok = has_ox and S["oxinit"].stop_failed == 0 and ox is not None and ref is not None and ox <= 1.1 * ref
    row("stop latency, ms: median (p90)", stop_cells, [ratio(ox, ref), "≤ 1.1× tini", verdict(ok)])
    # orphans
    n_orph = args.orphans
    ox_t = S["oxinit"].orphan_time if has_ox else []
    ref_t = S[REFERENCE].orphan_time if has_ox else []
    ok = bool(ox_t) and None not in ox_t and (None in ref_t or med(ox_t) <= med(ref_t))
    row(
        f"{n_orph} orphans: time to 0 zombies, ms: median (p90)",
        {n: orphan_cell(S[n].orphan_time) for n in names},
        [ratio(med(ox_t), med(ref_t)), "≤ tini", verdict(ok)],
    )
    row(
        f"{n_orph} orphans: zombies left after 5 s (max)",
        {n: str(max(S[n].zombies_left)) for n in names if S[n].zombies_left},
        ["", "0", verdict(has_ox and bool(S["oxinit"].zombies_left) and max(S["oxinit"].zombies_left) == 0)],
    )
    # idle
    def rss_cell(n: str) -> str:
        if not S[n].rss_kib:
            return "–"
        threads = max(S[n].threads)
        return f"{max(S[n].rss_kib)} KiB" + (f" ({threads} threads)" if threads > 1 else "")

    ox_rss = max(S["oxinit"].rss_kib) if has_ox and S["oxinit"].rss_kib else None
    ref_rss = max(S[REFERENCE].rss_kib) if has_ox and S[REFERENCE].rss_kib else None
    row(
        "idle RSS of PID 1 (max)",
        {n: rss_cell(n) for n in names if n != NO_INIT},
        [ratio(ox_rss, ref_rss), "≤ 2048 KiB", verdict(ox_rss is not None and ox_rss <= 2048)],
    )
    ox_w = max(S["oxinit"].wakeups) if has_ox and S["oxinit"].wakeups else None
    row(
        f"wake-ups of PID 1 in {args.idle_seconds:g} s idle (max)",
        {n: str(max(S[n].wakeups)) for n in names if S[n].wakeups},
        ["", "0", verdict(ox_w == 0)],
    )
    # binary
    bins = {}
    for init in bench.inits:
        if init.path is None:
            continue
        info = b.elf_info(init.path)
        raw.setdefault("binaries", {})[init.name] = {"path": init.path, **vars(info)}
        bins[init.name] = f"{info.size:,} B ({info.describe()})"
    ox_bin = raw.get("binaries", {}).get("oxinit")
    ok = ox_bin is not None and ox_bin["stripped"] and ox_bin["size"] <= 2_500_000
    ref_bin = raw.get("binaries", {}).get(REFERENCE)
    row(
        "binary size",
        bins,
        [ratio(ox_bin and ox_bin["size"], ref_bin and ref_bin["size"]), "≤ 2,500,000 B, stripped", verdict(ok)],
    )

    text = "\n".join(
        ["## PID 1 benchmark: oxinit vs tini vs dumb-init", ""]
        + header
        + ["", b.md_table(cols, rows), "", "How each number is measured:", ""]
        + [f"- {line}" for line in METHOD_NOTES]
        + [""]
    )
    return text, raw


METHOD_NOTES = [
    "every init runs as `unshare --pid --fork --mount-proc INIT -- CMD` (root), in rounds "
    "whose order rotates, so drift on the machine spreads over all inits;",
    "**spawn**: from just before forking `unshare` to the harness reading the line the child "
    "(`sh -c 'echo … > FIFO'`) wrote to a FIFO; nothing subtracted; *no init* runs `unshare … CMD` "
    "without an init, so the difference is the init's own cost;",
    "**stop**: SIGTERM to the namespace's PID 1 (host pid from /proc), the child being `sleep` "
    "(dies on TERM), until `unshare` exits (pidfd); a bare PID 1 has no handler, so the kernel "
    "drops the signal;",
    "**orphans**: an intermediate forks N children that exit at once, then exits itself, so N "
    "zombies are reparented to PID 1 together; time from the intermediate's timestamp before its "
    "exit to PID 1 having no child but CMD (polled every 0.5 ms); zombies left = state Z in the "
    "namespace (ns/pid link) when the list empties or at 5 s;",
    "**idle RSS**: VmRSS of PID 1 with `sleep` as the child, after 1 s settle plus the idle window, each binary evicted from the page cache first (as in a fresh container);",
    "**wake-ups**: voluntary + nonvoluntary context switches of PID 1 (all threads) over the idle "
    "window; all inits idle side by side;",
    "**binary**: file size; static = no PT_INTERP, stripped = no .symtab.",
]


# ----------------------------------------------------------------------- main


def resolve_inits(args) -> list[Init]:
    inits = []
    for name in args.inits.split(","):
        name = name.strip()
        if name == "oxinit":
            path = Path(args.oxinit)
            if not path.is_file():
                b.die(
                    f"oxinit binary not found at {path}: build it with bench/run.sh, pass "
                    "--oxinit PATH, or leave it out with --inits tini,dumb-init"
                )
            inits.append(Init(name, str(path.resolve())))
        elif name in ("tini", "tini-static", "dumb-init"):
            path = shutil.which(name)
            if path is None:
                b.die(f"{name} not found on PATH: apt-get install -y tini dumb-init (or run bench/run.sh)")
            inits.append(Init(name, path))
        elif "=" in name:
            # NAME=PATH: any other init taking `-- CMD` (e.g. another oxinit build).
            label, _, path = name.partition("=")
            if not Path(path).is_file():
                b.die(f"{label}: no file at {path}")
            inits.append(Init(label, str(Path(path).resolve())))
        else:
            b.die(f"unknown init {name!r}: choose among tini, tini-static, dumb-init, oxinit, or NAME=PATH")
    if args.baseline:
        inits.insert(0, Init(NO_INIT, None))
    return inits


def parse_args():
    p = argparse.ArgumentParser(
        description="oxinit vs tini vs dumb-init as PID 1 (issue 2). Root only.",
        epilog="Writes a Markdown table to stdout and bench/results/pid1-DATE.md (+ .json with every sample).",
    )
    default_inits = "tini,tini-static,dumb-init,oxinit" if shutil.which("tini-static") else "tini,dumb-init,oxinit"
    p.add_argument(
        "--inits",
        default=default_inits,
        help=f"comma-separated (default {default_inits}); NAME=PATH adds any init taking `-- CMD`",
    )
    p.add_argument("--oxinit", default=str(DEFAULT_OXINIT), help="oxinit binary (default: the static release build)")
    # Spawn/stop rounds cost ~5 ms per init: 100 of them buy a stable median for
    # a few seconds.
    p.add_argument("--rounds", type=int, default=100, help="spawn/stop rounds (default 100)")
    p.add_argument("--orphan-rounds", type=int, default=20, help="orphan rounds (default 20, ~1 s each)")
    p.add_argument("--orphans", type=int, default=2000, help="orphans per round (default 2000)")
    p.add_argument("--idle-rounds", type=int, default=3, help="idle RSS/wake-up rounds (default 3)")
    p.add_argument("--idle-seconds", type=float, default=10.0, help="idle window (default 10)")
    p.add_argument("--settle", type=float, default=1.0, help="settle time before the idle window (default 1)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip the no-init column")
    p.add_argument("--rt", action="store_true", help="run everything under SCHED_FIFO: much less noise on a busy machine")
    p.add_argument("--quick", action="store_true", help="about a minute: 30 rounds, 3 orphan rounds, 1 idle round")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.orphan_rounds, args.idle_rounds = 30, 3, 1
    return args


def main() -> None:
    args = parse_args()
    b.require_root()
    inits = resolve_inits(args)
    real = [i for i in inits if i.path is not None]
    header = b.machine_lines() + [
        "- inits: "
        + "; ".join(f"{i.name} `{i.path}` ({b.version_of([i.path, '--version'])})" for i in real),
        f"- rounds: {args.rounds} spawn/stop, {args.orphan_rounds} orphans ({args.orphans} each), "
        f"{args.idle_rounds} idle ({args.settle:g} s settle + {args.idle_seconds:g} s); "
        "cells are median (p90) unless marked max",
    ]
    if args.rt:
        header.append(b.use_realtime())
    with tempfile.TemporaryDirectory(prefix="oxinit-bench-") as tmp:
        bench = Bench(args, inits, Path(tmp))
        t_start = time.monotonic()
        for init in inits:  # warm-up: page the binaries and sh/sleep in, not recorded
            bench.lifecycle(init, record=False)
        progress(f"spawn/stop: {args.rounds} rounds of {', '.join(i.name for i in inits)}")
        for r in range(args.rounds):
            for init in rotated(inits, r):
                bench.lifecycle(init)
        bare_ignores_term = bench.stop_baseline() if args.baseline else None
        progress(f"orphans: {args.orphan_rounds} rounds of {args.orphans}")
        for r in range(args.orphan_rounds):
            for init in rotated(real, r):
                bench.orphans(init)
            progress(f"  round {r + 1}: " + ", ".join(
                f"{i.name} {orphan_cell(bench.samples[i.name].orphan_time[-1:])}" for i in real))
        if args.baseline:
            bench.orphans(inits[0])  # once: a bare PID 1 never reaps
        progress(f"idle: {args.idle_rounds} rounds of {args.settle + args.idle_seconds:g} s")
        for r in range(args.idle_rounds):
            bench.idle(rotated(real, r))
        header += b.end_lines(t_start)
        if bench.fifo.stray():
            progress(f"note: {len(bench.fifo.stray())} stray FIFO lines, e.g. {bench.fifo.stray()[0]!r}")
        text, raw = report(bench, args, bare_ignores_term, header)
    print(text)
    path = b.write_results("pid1", text, raw)
    progress(f"written to {path}")


if __name__ == "__main__":
    main()
