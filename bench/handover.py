#!/usr/bin/env python3
"""Handover benchmark (issue 13): requests at a steady rate to an app under
oxinit while the app is killed, restarted and reloaded; what the clients see.

One run per mode, each a fresh `oxinit run` of one service, `app`
(bench/handover_app.py: 300 ms to start, graceful on SIGTERM):

- `listen`: the oxfile says `listen = ["127.0.0.1:PORT"]`; oxinit binds the
  socket and holds it for the container's life, the app serves on fd 3
  (LISTEN_FDS). While no instance accepts, connections wait in the backlog.
- `own`: the baseline, what every other init gives: the app binds the port
  itself (SO_REUSEPORT, so a reload can start the new instance beside the old).

The client (asyncio, one connection per request, `GET /`) starts request i at
i/RATE seconds whatever happened to the others (an open loop: a stall shows
up as latency, it does not slow the load down), each bounded by --timeout.
The events come in turn, each once the one before has finished (the app
serves again) and not before its slot (DURATION/5 apart): `kill -9` of the
app's pid, `oxinit restart app`, `oxinit reload app` twice. An event's window
runs from its start to the next event's start; steady state is the load
before the first event (after 0.5 s of warm-up). A request counts in the
window where it ended: one in flight when an event began lived through it.

Per window: requests ended in it; refused (ECONNREFUSED); reset (RST, or
EOF before any answer); failed (non-200, timeout, any other error); lost
with the killed process; latency of the 200s (from connect to the answer's
last byte), p50/p99/max, nearest rank. Lost with the killed process: a reset
or unanswered request whose connection the killed pid had accepted (the app
logs each accept with the peer's port, before reading; a port matches when
its accept fell inside that request's lifetime). No init can save those. A
kill that lands between accept(2) and the log line's write(2) makes its
request count as a reset instead, against oxinit: a microsecond-wide window.

Which events run: `listen` needs an oxinit whose `check` accepts the key,
`reload` one that has `oxinit reload`; what the binary lacks is skipped and
said so in the table.

Usage: python3 bench/handover.py [--oxinit PATH] [--rate 200] [--duration 20]
  [--modes listen,own] [--health notify|http] [--smoke]
No root needed: oxinit runs as a child subreaper, as under `docker run --init`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
APP = Path(__file__).resolve().parent / "handover_app.py"
WARMUP = 0.5
GAP = 1.0  # seconds of quiet load after an event has finished, before the next
TAIL = 2.0  # seconds of load after the last event has finished
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
EVENTS = ["kill -9", "restart", "reload", "reload"]
MODES = {"listen": "held by oxinit (`listen`)", "own": "the app's own (baseline)"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------- features


def listen_supported(oxinit: str, scratch: Path) -> tuple[bool, str]:
    """Does this oxinit's `check` accept `listen` in a process table?"""
    path = scratch / "probe-listen.toml"
    path.write_text(f'[processes.app]\ncommand = ["sleep", "1"]\nlisten = ["127.0.0.1:{free_port()}"]\n')
    out = subprocess.run([oxinit, "check", "--config", str(path)], capture_output=True, text=True)
    if out.returncode == 0:
        return True, ""
    first = (out.stderr.strip().splitlines() or ["?"])[0]
    said = first[first.find("unknown key") :] if "unknown key" in first else first
    return False, f"`oxinit check` rejects `listen` ({said.split(';')[0]})"


def reload_supported(oxinit: str) -> tuple[bool, str]:
    out = subprocess.run([oxinit, "reload", "--help"], capture_output=True, text=True)
    if out.returncode == 0:
        return True, ""
    return False, "this oxinit has no `oxinit reload` (`oxinit reload --help` fails)"


# --------------------------------------------------------------- the oxinit run


def oxfile(mode: str, d: Path, port: int, args: argparse.Namespace) -> str:
    env = {
        "PORT": str(port),
        "STARTUP_MS": str(args.startup_ms),
        "WORK_MS": str(args.work_ms),
        "ACCEPT_LOG": str(d / "accepts.log"),
    }
    env_toml = ", ".join(f'{k} = "{v}"' for k, v in env.items())
    lines = [
        "[init]",
        f'control_socket = "{d / "oxinit.sock"}"',
        'shutdown_timeout = "20s"',
        "[metrics]",
        f'listen = "127.0.0.1:{free_port()}"',
        "[processes.app]",
        f'command = ["{sys.executable}", "{APP}"]',
        f"env = {{ {env_toml} }}",
        f'restart_delay = "{args.restart_delay}"',
        'stop_timeout = "10s"',
    ]
    if mode == "listen":
        lines.append(f'listen = ["127.0.0.1:{port}"]')
    lines.append("[processes.app.health]")
    if args.health == "notify":
        lines.append('type = "notify"')
    else:
        lines += ['type = "http"', f'url = "http://127.0.0.1:{port}/health"', 'interval = "1s"']
    return "\n".join(lines) + "\n"


class Oxinit:
    def __init__(self, binary: str, d: Path, config: Path):
        self.binary = binary
        self.socket = str(d / "oxinit.sock")
        self.log_path = d / "oxinit.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "run", "--config", str(config)], stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log
        )

    def client(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, *argv, "--socket", self.socket], capture_output=True, text=True, timeout=timeout
        )

    def app(self) -> dict | None:
        """The app's entry of `oxinit status --json`, None while it cannot say."""
        try:
            out = self.client("status", "--json", timeout=10)
        except subprocess.TimeoutExpired:
            return None
        if out.returncode != 0:
            return None
        for p in json.loads(out.stdout)["processes"]:
            if p["name"] == "app":
                return p
        return None

    def wait_serving(self, not_pid: int | None, timeout: float) -> int:
        """Until the app is up and ready with a pid other than `not_pid`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"oxinit exited ({self.proc.returncode}) while the app was starting")
            p = self.app()
            if p and p["up"] and p["ready"] and p["pid"] and p["pid"] != not_pid and p["state"] in ("running", "ready"):
                return p["pid"]
            time.sleep(0.05)
        self.fail(f"the app was not up and ready within {timeout}s")
        return 0

    def stop(self) -> int:
        """SIGTERM and wait: oxinit's exit status (negative: a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def fail(self, msg: str) -> None:
        self.stop()
        benchlib.die(f"{msg}\n--- oxinit's log (last lines):\n{self.tail()}")


# ------------------------------------------------------------------- the load


@dataclass
class Load:
    port: int
    rate: float
    timeout: float
    t0: float = 0.0
    records: list[dict] = field(default_factory=list)

    async def one(self, i: int, t_sched: float) -> None:
        start = time.monotonic()
        rec = {"i": i, "lag": start - t_sched, "start": start - self.t0, "port": None, "sent": False}
        outcome = "ok"
        data = b""
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                rec["port"] = writer.get_extra_info("sockname")[1]
                try:
                    writer.write(REQUEST)
                    await writer.drain()
                    rec["sent"] = True
                    data = await reader.read()  # until the server closes
                finally:
                    writer.close()
        except ConnectionRefusedError:
            outcome = "refused"
        except (ConnectionResetError, BrokenPipeError):
            outcome = "reset"
        except TimeoutError:
            outcome = "timeout"
        except OSError as e:
            outcome = f"error {e.errno}"
        end = time.monotonic()
        rec["end"] = end - self.t0
        if outcome == "ok":
            head, _, body = data.partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0].split()
            if not data:
                outcome = "closed"  # EOF before any answer: the server's end closed
            elif len(status) < 2 or status[1] != b"200":
                outcome = f"status {status[1].decode(errors='replace') if len(status) > 1 else '?'}"
            else:
                rec["pid"] = int(body.strip() or 0)
                rec["ms"] = (end - start) * 1000
        rec["outcome"] = outcome
        self.records.append(rec)

    async def run(self, driver: asyncio.Task, events_done: list[float], duration: float) -> None:
        """Request i at t0 + i/rate until `duration` has passed and TAIL
        seconds after the driver has finished (`events_done` holds when)."""
        tasks = set()
        i = 0
        hard_stop = self.t0 + max(3 * duration, duration + 120)
        while True:
            t_sched = self.t0 + i / self.rate
            if t_sched - self.t0 >= duration and driver.done():
                if t_sched >= (events_done[0] if events_done else 0) + TAIL:
                    break
            if t_sched > hard_stop:
                break
            delay = t_sched - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.one(i, t_sched))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.wait(tasks)


# ----------------------------------------------------------------- the events


async def drive(ox: Oxinit, plan: list[dict], t0: float, spacing: float, done: list[float]) -> None:
    """Each event in its slot, never before the one before has finished (the
    app serves again) plus GAP. Appends to `done` when the last one has."""
    last_done = t0
    for k, ev in enumerate(plan):
        start_at = max(t0 + spacing * (k + 1), last_done + GAP)
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        if ev.get("skipped"):
            ev["start"] = start_at - t0
            continue
        before = await asyncio.to_thread(ox.app)
        pid = before["pid"] if before else None
        if not pid:
            ox.fail(f"before {ev['label']}: `oxinit status` shows no pid for the app ({before})")
        ev["pid_before"] = pid
        t_start = time.monotonic()
        ev["start"] = t_start - t0
        if ev["name"] == "kill -9":
            os.kill(pid, signal.SIGKILL)
        else:
            out = await asyncio.to_thread(ox.client, ev["name"], "app")
            ev["rc"] = out.returncode
            ev["client_output"] = (out.stdout + out.stderr).strip()[-400:]
        ev["command_s"] = time.monotonic() - t_start
        if ev.get("rc"):
            # The command failed (a reload whose new instance never became
            # ready leaves the old one serving): no new pid to wait for.
            print(f"`oxinit {ev['name']} app` exited {ev['rc']}: {ev['client_output']}", file=sys.stderr)
            ev["pid_after"] = await asyncio.to_thread(ox.wait_serving, None, 60)
        else:
            ev["pid_after"] = await asyncio.to_thread(ox.wait_serving, pid, 60)
        last_done = time.monotonic()
        ev["serving_again_s"] = last_done - t_start
    done.append(last_done)


def run_mode(mode: str, oxinit: str, events: list[dict], args: argparse.Namespace) -> dict:
    d = Path(tempfile.mkdtemp(prefix=f"oxinit-handover-{mode}-"))
    port = free_port()
    config = d / "oxfile.toml"
    config.write_text(oxfile(mode, d, port, args))
    check = subprocess.run([oxinit, "check", "--config", str(config)], capture_output=True, text=True)
    if check.returncode != 0:
        benchlib.die(f"`oxinit check` refuses the bench's oxfile {config}:\n{check.stderr}")
    ox = Oxinit(oxinit, d, config)
    ox.wait_serving(None, 30)
    plan = [dict(ev) for ev in events]
    load = Load(port=port, rate=args.rate, timeout=args.timeout)

    async def both() -> None:
        load.t0 = time.monotonic()
        done: list[float] = []
        driver = asyncio.create_task(drive(ox, plan, load.t0, args.duration / (len(plan) + 1), done))
        await load.run(driver, done, args.duration)
        await driver  # re-raises what the driver hit

    print(f"{mode}: {args.rate}/s for {args.duration}s on 127.0.0.1:{port} (oxinit in {d})", file=sys.stderr)
    try:
        asyncio.run(both())
    except BaseException:
        print(ox.tail(), file=sys.stderr)
        ox.stop()
        raise
    rc = ox.stop()
    log = ox.log_path.read_text(errors="replace")
    accepts = []
    accept_log = d / "accepts.log"
    if accept_log.exists():
        for line in accept_log.read_text().splitlines():
            pid, peer, t_ns = line.split()
            accepts.append((int(pid), int(peer), int(t_ns) / 1e9 - load.t0))
    attribute_lost(load.records, accepts, {ev["pid_before"] for ev in plan if ev["name"] == "kill -9" and "pid_before" in ev})
    return {
        "mode": mode,
        "port": port,
        "dir": str(d),
        "oxinit_exit": rc,
        "oxinit_panicked": "panicked" in log,
        "events": plan,
        "requests": sorted(load.records, key=lambda r: r["i"]),
        "accepts": accepts,
    }


def attribute_lost(records: list[dict], accepts: list[tuple[int, int, float]], killed: set[int]) -> None:
    """A request reset or left unanswered whose connection a killed pid had
    accepted (same peer port, accepted during the request's life) was lost
    with that process."""
    by_port: dict[int, list[tuple[int, float]]] = {}
    for pid, peer, t in accepts:
        if pid in killed:
            by_port.setdefault(peer, []).append((pid, t))
    for r in records:
        if r["outcome"] not in ("reset", "closed", "timeout") or r["port"] is None:
            continue
        for pid, t in by_port.get(r["port"], []):
            if r["start"] - 0.001 <= t <= r["end"] + 0.001:
                r["outcome"] = "lost with the killed process"
                r["killed_pid"] = pid
                break


# ---------------------------------------------------------------- the figures


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def windows(run: dict) -> list[dict]:
    """Steady state, then one window per event: [its start, the next start).
    A request belongs to the window in which it ended (its answer or its
    error): one in flight when an event began lived through that event."""
    ends = [r["end"] for r in run["requests"]]
    bounds = [WARMUP] + [ev["start"] for ev in run["events"]] + [max(ends, default=0) + 1]
    out = []
    for k in range(len(bounds) - 1):
        lo, hi = bounds[k], bounds[k + 1]
        reqs = [r for r in run["requests"] if lo <= r["end"] < hi and r["start"] >= WARMUP]
        w = {"label": "steady state" if k == 0 else run["events"][k - 1]["label"], "from_s": lo, "to_s": hi}
        ev = run["events"][k - 1] if k else None
        if ev and ev.get("skipped"):
            w["skipped"] = ev["skipped"]
        count = {}
        for r in reqs:
            count[r["outcome"]] = count.get(r["outcome"], 0) + 1
        ms = [r["ms"] for r in reqs if r["outcome"] == "ok"]
        w.update(
            requests=len(reqs),
            ok=count.get("ok", 0),
            refused=count.get("refused", 0),
            reset=count.get("reset", 0) + count.get("closed", 0),
            lost_killed=count.get("lost with the killed process", 0),
            outcomes=count,
            p50_ms=pct(ms, 0.5) if ms else None,
            p99_ms=pct(ms, 0.99) if ms else None,
            max_ms=max(ms) if ms else None,
            client_lag_max_ms=max((r["lag"] for r in reqs), default=0) * 1000,
            served_by=sorted({r["pid"] for r in reqs if "pid" in r}),
        )
        w["failed"] = w["requests"] - w["ok"] - w["refused"] - w["reset"] - w["lost_killed"]
        if ev and not ev.get("skipped"):
            w["serving_again_ms"] = ev["serving_again_s"] * 1000
            w["rc"] = ev.get("rc")
        out.append(w)
    return out


def ms(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def table(results: list[dict]) -> str:
    header = ["window", "the app's socket", "requests", "refused", "reset", "failed",
              "lost with the killed process", "p50 ms", "p99 ms", "max ms", "serving again after"]
    rows = []
    per_mode = {r["mode"]: r["windows"] for r in results}
    labels = [w["label"] for w in results[0]["windows"]]
    for k, label in enumerate(labels):
        for mode, ws in per_mode.items():
            w = ws[k]
            if "skipped" in w:
                rows.append([label, MODES[mode], f"skipped: {w['skipped']}"] + [""] * (len(header) - 3))
                continue
            again = f"{ms(w['serving_again_ms'])} ms" if "serving_again_ms" in w else "–"
            if w.get("rc"):
                again += f" (client exit {w['rc']})"
            rows.append([label, MODES[mode], str(w["requests"]), str(w["refused"]), str(w["reset"]),
                         str(w["failed"]), str(w["lost_killed"]), ms(w["p50_ms"]), ms(w["p99_ms"]),
                         ms(w["max_ms"]), again])
    return benchlib.md_table(header, rows)


def verdicts(results: list[dict]) -> list[str]:
    held = next((r for r in results if r["mode"] == "listen"), None)
    if held is None:
        return ["Targets (held sockets): not measured, the `listen` run was skipped."]
    ws = held["windows"]
    events = [w for w in ws[1:] if "skipped" not in w]
    bad = [w["label"] for w in events if w["refused"] or w["reset"] or w["failed"] or w.get("rc")]
    lines = [
        "Target, held sockets: 0 refused, 0 reset, 0 failed in every event (lost with a killed "
        f"process apart): {'met' if not bad else 'NOT met in ' + ', '.join(bad)}."
    ]
    steady = ws[0]["p99_ms"]
    reloads = [w for w in events if w["label"].startswith("oxinit reload")]
    if not reloads:
        lines.append("Target, reload p99 within 2x of steady state: not measured (no reload in this run).")
    elif steady:
        worst = max(w["p99_ms"] or 0 for w in reloads)
        ok = worst <= 2 * steady
        lines.append(
            f"Target, reload p99 within 2x of steady state ({ms(steady)} ms): worst reload p99 "
            f"{ms(worst)} ms ({worst / steady:.1f}x): {'met' if ok else 'NOT met'}."
        )
    return lines


def client_lag(results: list[dict]) -> list[str]:
    """How late the client started its requests: on a busy machine the load
    generator shares the CPUs too, and a lag is time no server is charged."""
    out = []
    for r in results:
        lags = [q["lag"] * 1000 for q in r["requests"]]
        if lags:
            out.append(
                f"Client's start lag against its schedule, {MODES[r['mode']]}: p99 {ms(pct(lags, 0.99))} ms, "
                f"max {ms(max(lags))} ms."
            )
    return out


# ---------------------------------------------------------------------- main


def default_oxinit() -> str:
    for candidate in (
        REPO / "target" / "release" / "oxinit",
        REPO / "target" / "x86_64-unknown-linux-gnu" / "release" / "oxinit",
    ):
        if candidate.exists():
            return str(candidate)
    benchlib.die("no release oxinit: cargo build --release, or pass --oxinit PATH")
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--oxinit", help="oxinit binary (default: the release build)")
    parser.add_argument("--rate", type=float, help="requests per second (200; --smoke: 50)")
    parser.add_argument("--duration", type=float, help="seconds of load at least (20; --smoke: 8)")
    parser.add_argument("--timeout", type=float, default=5.0, help="a request's bound, connect to last byte (5 s)")
    parser.add_argument("--modes", default="listen,own", help="listen, own or both (default listen,own)")
    parser.add_argument("--health", choices=["notify", "http"], default="notify",
                        help="the app's readiness: READY=1 (exact) or an http probe of the port")
    parser.add_argument("--startup-ms", type=int, default=300, help="the app's time from exec to accepting")
    parser.add_argument("--work-ms", type=float, default=2.0, help="the app's time per request")
    parser.add_argument("--restart-delay", default="1s", help="the oxfile's restart_delay (oxinit's default, 1s)")
    parser.add_argument("--smoke", action="store_true",
                        help="short run for CI: exits 1 on a crash or a refused connection with held sockets")
    args = parser.parse_args()
    args.rate = args.rate or (50 if args.smoke else 200)
    args.duration = args.duration or (8 if args.smoke else 20)
    oxinit = args.oxinit or default_oxinit()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            benchlib.die(f"--modes: unknown mode {m!r}; the modes are listen and own")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # rate x timeout connections at worst
    t_start = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="oxinit-handover-"))
    has_listen, no_listen = listen_supported(oxinit, scratch)
    has_reload, no_reload = reload_supported(oxinit)
    notes = []
    if not has_listen and "listen" in modes:
        modes.remove("listen")
        notes.append(f"- `listen` run skipped: {no_listen}")
    if not has_reload:
        notes.append(f"- reload events skipped: {no_reload}")
    if not modes:
        benchlib.die("nothing to run: " + "; ".join(notes))

    counts: dict[str, int] = {}
    events = []
    for name in EVENTS:
        counts[name] = counts.get(name, 0) + 1
        label = "kill -9 of the app" if name == "kill -9" else f"oxinit {name}"
        if EVENTS.count(name) > 1:
            label += f" ({counts[name]})"
        ev = {"name": name, "label": label}
        if name == "reload" and not has_reload:
            ev["skipped"] = "no `oxinit reload` in this binary"
        events.append(ev)

    results = []
    for mode in modes:
        run = run_mode(mode, oxinit, events, args)
        run["windows"] = windows(run)
        results.append(run)

    text = "\n".join(
        [
            "## Handover: requests across kill -9, restart and reload",
            "",
            *benchlib.machine_lines(),
            f"- oxinit: `{oxinit}`; load: {args.rate:g} requests/s, one connection each, at least "
            f"{args.duration:g} s, each bounded by {args.timeout:g} s",
            f"- app: {args.startup_ms} ms from exec to accepting, {args.work_ms:g} ms per request, graceful on "
            f"SIGTERM; readiness by {args.health}; restart_delay {args.restart_delay}",
            *notes,
            "",
            table(results),
            "",
            "Latencies are of the 200s only, connect to last byte. Failed: non-200, timeout or another error.",
            *client_lag(results),
            *verdicts(results),
            *benchlib.end_lines(t_start),
        ]
    )
    print(text)
    raw = {"args": vars(args), "oxinit": oxinit, "notes": notes, "runs": results}
    print(f"results: {benchlib.write_results('handover', text, raw)}", file=sys.stderr)

    crashed = [r["mode"] for r in results if r["oxinit_panicked"] or r["oxinit_exit"] < 0]
    if crashed:
        benchlib.die(f"oxinit crashed (a panic, or killed by a signal) in: {', '.join(crashed)}")
    held = next((r for r in results if r["mode"] == "listen"), None)
    if args.smoke and held and any(w.get("refused") for w in held["windows"]):
        benchlib.die("connections refused while oxinit held the app's socket")


if __name__ == "__main__":
    main()
