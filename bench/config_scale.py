#!/usr/bin/env python3
"""How `oxinit check` scales with the size of oxfile.toml (issue #15).

PID 1 reads its config before anything else runs, so the cost of reading it
must grow with the file, not faster: a name lookup by scan turns a large but
honest file (many processes, many dependencies, many variables) into minutes
of a container that does nothing. Each case generates a file, runs the
release binary's `oxinit check --config FILE` on it a few times and reports
the median wall time. Each case is also run at a tenth of its size, so the
ratio says whether the work is linear (ratio ~10) or not (~100 for a
quadratic walk).

Cases (the issue's figures: 62 s and over 20 s before the fix, target < 1 s):
- `deps`: 10,000 processes, each depending on the 50 before it;
- `env`: one process with 100,000 `env` keys;
- `env_file`: one process whose env_file holds 50,000 lines (0.9 MB, under
  the 1 MiB cap);
- `errors`: 20,000 processes with one unknown dependency each, every one a
  near miss of some process's name (every problem is reported, with its line
  and column and a hint).

Python 3 standard library only; needs no root.

    python3 bench/config_scale.py --oxinit target/release/oxinit
    python3 bench/config_scale.py --oxinit OLD --oxinit NEW   # before/after
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402


def deps_file(dir: Path, n: int) -> Path:
    fan = 50
    lines = []
    for i in range(n):
        deps = ", ".join(f'"p{j}"' for j in range(max(0, i - fan), i))
        lines.append(f'[processes.p{i}]\ncommand = "true"\noneshot = true\ndepends_on = [{deps}]\n')
    path = dir / "deps.toml"
    path.write_text("\n".join(lines))
    return path


def env_file(dir: Path, n: int) -> Path:
    body = ", ".join(f'K{i} = "value{i}"' for i in range(n))
    path = dir / "env.toml"
    path.write_text(f'[processes.api]\ncommand = "true"\nenv = {{ {body} }}\n')
    return path


def env_file_file(dir: Path, n: int) -> Path:
    (dir / "big.env").write_text("".join(f"K{i}=value{i}\n" for i in range(n)))
    path = dir / "env_file.toml"
    path.write_text('[processes.api]\ncommand = "true"\nenv_file = "big.env"\n')
    return path


def errors_file(dir: Path, n: int) -> Path:
    # Every name one edit from a process's name, all of the same length:
    # the worst case for "did you mean" (no length tells them apart).
    lines = [f'[processes.p{i:06}]\ncommand = "true"\ndepends_on = ["q{i:06}"]\n' for i in range(n)]
    path = dir / "errors.toml"
    path.write_text("\n".join(lines))
    return path


CASES = {
    # name: (generator, full size, exit code `check` must give)
    "deps": (deps_file, 10_000, 0),
    "env": (env_file, 100_000, 0),
    "env_file": (env_file_file, 50_000, 0),
    "errors": (errors_file, 20_000, 78),
}


def time_check(oxinit: str, config: Path, expect: int, runs: int, limit: float) -> tuple[float, float] | None:
    """Median (wall, CPU) seconds of `oxinit check`, or None when one run
    passed `limit`. CPU (user + system) is what the work costs; wall time
    also holds the waits for a CPU on a busy machine."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        try:
            proc = subprocess.run(
                [oxinit, "check", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=limit,
            )
        except subprocess.TimeoutExpired:
            return None
        walls.append(time.monotonic() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != expect:
            benchlib.die(f"{oxinit} check {config}: exit {proc.returncode}, expected {expect}: {proc.stderr[-2000:]!r}")
    return benchlib.median(walls), benchlib.median(cpus)


def fmt(result: tuple[float, float] | None, limit: float) -> str:
    if result is None:
        return f"> {limit:.0f} s"
    wall, cpu = result
    return f"{wall:.3f} s ({cpu:.3f} s CPU)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oxinit", action="append", help="binary to measure (repeat to compare); default target/release/oxinit")
    parser.add_argument("--runs", type=int, default=3, help="runs per case and size (median), default 3")
    parser.add_argument("--limit", type=float, default=120.0, help="give up on one run after this many seconds, default 120")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    args = parser.parse_args()
    binaries = args.oxinit or [str(benchlib.BENCH_DIR.parent / "target/release/oxinit")]
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            benchlib.die(f"{binary} is not an executable: build it with cargo build --release")

    t_start = time.monotonic()
    rows = []
    with tempfile.TemporaryDirectory(prefix="oxinit-config-scale-") as tmp:
        for name in args.cases.split(","):
            generate, full, expect = CASES[name]
            for size in (full // 10, full):
                dir = Path(tmp) / f"{name}-{size}"
                dir.mkdir()
                config = generate(dir, size)
                row = [name, f"{size:,}", f"{config.stat().st_size / 1e6:.1f} MB"]
                for binary in binaries:
                    row.append(fmt(time_check(binary, config, expect, args.runs, args.limit), args.limit))
                rows.append(row)
                print(" | ".join(row), file=sys.stderr)

    header = ["case", "size", "file"] + [f"`{b}`" for b in binaries]
    text = "\n".join(
        ["# oxinit check: cost against file size", ""]
        + benchlib.machine_lines()
        + [f"- median of {args.runs} runs of `oxinit check --config FILE`: wall time (user + system CPU time), output to /dev/null", ""]
        + [benchlib.md_table(header, rows), ""]
        + benchlib.end_lines(t_start)
    )
    print(text)
    print(f"written to {benchlib.write_results('config-scale', text + chr(10))}", file=sys.stderr)


if __name__ == "__main__":
    main()
