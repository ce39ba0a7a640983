#!/usr/bin/env python3
"""Readiness benchmark (issue 10): how long after launch the demo stack's
/health answers 200, against the sum of its processes' own time to answer.

Each round uses a fresh data directory, so every boot does the same work: the
restore step finds no database and no replica, migrate creates the schema,
the replicator starts, the app opens the database and serves GET /health.

- own time: the same steps run by hand, one after the other, with the same
  environment: restore and migrate to completion, then the app from its start
  until GET /health answers 200 (polled every 2 ms). The replicator has no
  health check: it is ready once started, so it adds nothing but its spawn.
- oxinit: `oxinit run --config examples/demo/oxfile.toml` from the launch
  until oxinit's own /health (boot finished, every service ready) answers 200,
  polled every 2 ms. The app's health check is interval = "10s" in the demo:
  before issue 10 that alone made every boot take 10 s or more.

The overhead (oxinit minus own) is what oxinit adds: spawning, waiting for
each step, the readiness probes' cadence. Target: within 250 ms.

Usage: python3 bench/readiness.py [--oxinit PATH] [--rounds N]
(no root needed: oxinit runs as a child subreaper, as under `docker run --init`).
"""

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
POLL = 0.002
DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(port: int, path: str) -> int | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", path)
        code = conn.getresponse().status
        conn.close()
        return code
    except OSError:
        return None


def wait_200(port: int, path: str, t0: float, proc: subprocess.Popen) -> float:
    """Seconds from t0 until GET path answers 200."""
    while time.monotonic() - t0 < DEADLINE:
        if status_of(port, path) == 200:
            return time.monotonic() - t0
        if proc.poll() is not None:
            benchlib.die(f"{proc.args!r} exited with {proc.returncode} before /health answered")
        time.sleep(POLL)
    benchlib.die(f"no 200 from 127.0.0.1:{port}{path} within {DEADLINE}s")
    return DEADLINE


def environment(data: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DEMO_DATA=str(data),
        DATABASE_PATH=str(data / "data" / "app.db"),
        REPLICA_DIR=str(data / "replica"),
        PORT=str(free_port()),
        METRICS_LISTEN=f"127.0.0.1:{free_port()}",
        OXINIT_SOCKET=str(data / "ox.sock"),
        REPLICATE_INTERVAL="1",
    )
    (data / "data").mkdir(parents=True)
    (data / "replica").mkdir()
    return env


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def own_time(data: Path) -> float:
    """restore + migrate + app's start-to-200, run by hand."""
    env = environment(data)
    total = 0.0
    for script in ("restore.py", "migrate.py"):
        t0 = time.monotonic()
        subprocess.run(
            [sys.executable, script], cwd=DEMO, env=env, check=True, stdout=subprocess.DEVNULL
        )
        total += time.monotonic() - t0
    t0 = time.monotonic()
    app = subprocess.Popen(
        [sys.executable, "app.py"], cwd=DEMO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    total += wait_200(int(env["PORT"]), "/health", t0, app)
    stop(app)
    return total


def oxinit_time(oxinit: str, data: Path) -> float:
    env = environment(data)
    metrics_port = int(env["METRICS_LISTEN"].rsplit(":", 1)[1])
    t0 = time.monotonic()
    ox = subprocess.Popen(
        [oxinit, "run", "--config", str(DEMO / "oxfile.toml")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    took = wait_200(metrics_port, "/health", t0, ox)
    stop(ox)
    return took


def default_oxinit() -> str:
    for candidate in (
        REPO / "target" / "x86_64-unknown-linux-gnu" / "release" / "oxinit",
        REPO / "target" / "release" / "oxinit",
    ):
        if candidate.exists():
            return str(candidate)
    benchlib.die("no release oxinit: cargo build --release, or pass --oxinit PATH")
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--oxinit", help="oxinit binary (default: the release build)")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    oxinit = args.oxinit or default_oxinit()
    t_start = time.monotonic()
    own, ox, overhead = [], [], []
    for r in range(args.rounds):
        scratch = Path(tempfile.mkdtemp(prefix="oxinit-readiness-"))
        try:
            # Alternate which goes first, so drift on the machine spreads.
            if r % 2:
                o = oxinit_time(oxinit, scratch / "ox")
                s = own_time(scratch / "own")
            else:
                s = own_time(scratch / "own")
                o = oxinit_time(oxinit, scratch / "ox")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        own.append(s * 1e9)
        ox.append(o * 1e9)
        overhead.append((o - s) * 1e9)
        print(f"round {r + 1}: own {s * 1000:.0f} ms, oxinit {o * 1000:.0f} ms", file=sys.stderr)
    rows = [
        ["processes' own time to answer", benchlib.fmt_ms(benchlib.median(own)), benchlib.fmt_ms(benchlib.p90(own))],
        ["oxinit: launch to /health 200", benchlib.fmt_ms(benchlib.median(ox)), benchlib.fmt_ms(benchlib.p90(ox))],
        ["overhead (per round difference)", benchlib.fmt_ms(benchlib.median(overhead)), benchlib.fmt_ms(benchlib.p90(overhead))],
    ]
    verdict = "met" if benchlib.median(overhead) <= 250e6 else "NOT met"
    text = "\n".join(
        [
            "## Readiness: demo stack, launch to /health 200",
            "",
            *benchlib.machine_lines(),
            f"- oxinit: `{oxinit}`, {args.rounds} rounds",
            "",
            benchlib.md_table(["", "median", "p90"], rows),
            "",
            f"Target: overhead within 250 ms: {verdict}.",
            *benchlib.end_lines(t_start),
        ]
    )
    print(text)
    benchlib.write_results("readiness", text, {"own_ns": own, "oxinit_ns": ox, "overhead_ns": overhead})


if __name__ == "__main__":
    main()
