#!/usr/bin/env python3
"""Scrape cost of oxinit's /metrics: latency under a steady scrape rate and
the server's CPU time for it.

    bench/scrape.py URL [--rate 100] [--duration 10] [--pid PID]
    bench/scrape.py --fake 20 [--rate 100] [--duration 10] [--binary PATH]

With a URL it scrapes that server (give --pid to also get its CPU time).
With --fake N it runs examples/metrics_bench (N processes, services backed
by real children) twice — once idle, once under scrapes — and compares the
timing of its supervision stand-ins (a 10 ms timer, a stop every 250 ms), so
"no effect on a concurrent stop" is measured, not assumed.

Scrapes are sent on one keep-alive connection, as Prometheus does, at fixed
times (i / rate); a scrape that falls behind is sent at once, never
skipped, and the loop is bounded by rate * duration requests.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse


def cpu_seconds(pid):
    """utime + stime of a live process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, q):
    ordered = sorted(values)
    return ordered[round((len(ordered) - 1) * q)]


def scrape(url, rate, duration, pid=None):
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/metrics"
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=5)
    latencies, sizes, errors = [], [], 0
    total = int(rate * duration)
    cpu_before = cpu_seconds(pid) if pid else None
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        t0 = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                errors += 1
                continue
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=5)
            continue
        latencies.append((time.perf_counter() - t0) * 1e3)
        sizes.append(len(body))
    wall = time.perf_counter() - start
    conn.close()
    result = {
        "url": url,
        "scrapes": len(latencies),
        "errors": errors,
        "rate_per_s": round(len(latencies) / wall, 1),
        "body_bytes": sizes[-1] if sizes else 0,
    }
    if latencies:
        result.update(
            p50_ms=round(percentile(latencies, 0.5), 3),
            p99_ms=round(percentile(latencies, 0.99), 3),
            max_ms=round(max(latencies), 3),
        )
    if pid:
        cpu = cpu_seconds(pid) - cpu_before
        result.update(
            server_cpu_s=round(cpu, 3),
            server_cpu_percent=round(100 * cpu / wall, 2),
            server_cpu_ms_per_scrape=round(1e3 * cpu / max(len(latencies), 1), 3),
        )
    return result


def find_binary(explicit):
    if explicit:
        return explicit
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    binary = os.path.join(target, "release", "examples", "metrics_bench")
    subprocess.run(
        ["cargo", "build", "--release", "--example", "metrics_bench"], cwd=root, check=True
    )
    return binary


def run_fake(binary, fake, rate, duration, load):
    """One run of metrics_bench: idle or under scrapes; its report."""
    server = subprocess.Popen(
        [binary, "--fake", str(fake)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline().split()
        if len(line) < 4 or line[0] != "listening":
            raise SystemExit(f"metrics_bench said {line!r}")
        url, pid = line[1] + "/metrics", int(line[3])
        if load:
            scrape(url, rate=10, duration=0.5)  # warm up: first /proc walk, pages
            result = scrape(url, rate, duration, pid)
        else:
            cpu_before = cpu_seconds(pid)
            time.sleep(duration)
            result = {"server_cpu_s": round(cpu_seconds(pid) - cpu_before, 3)}
        server.stdin.close()
        result["supervision"] = json.loads(server.stdout.readline())
        server.wait(timeout=10)
        return result
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--fake", type=int, help="run examples/metrics_bench with N processes")
    parser.add_argument("--binary", help="path of the metrics_bench binary")
    parser.add_argument("--rate", type=float, default=100.0, help="scrapes per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--pid", type=int, help="server pid, for its CPU time")
    args = parser.parse_args()
    if args.fake:
        binary = find_binary(args.binary)
        idle = run_fake(binary, args.fake, args.rate, args.duration, load=False)
        loaded = run_fake(binary, args.fake, args.rate, args.duration, load=True)
        print(json.dumps({"processes": args.fake, "idle": idle, "scraped": loaded}, indent=2))
    elif args.url:
        print(json.dumps(scrape(args.url, args.rate, args.duration, args.pid), indent=2))
    else:
        parser.error("give a URL or --fake N")


if __name__ == "__main__":
    sys.exit(main())
