"""Cold start of ``triage serve``: seconds from the command to a 200 on ``/readyz``.

Starts ``triage serve --model BUNDLE`` (a fresh process each time, on a temporary SQLite store),
polls ``/readyz`` every 50 ms and prints, per start, the wall seconds to ready and the CPU seconds
the server process used by then (``/proc/<pid>/stat``), then the median. With no ``--model`` it
fits the tests' small router bundle (tests/service/router_bundle.py) first.

Usage: .venv/bin/python benchmarks/bench_service_start.py [--model models/router] [--repeat 3]
Target: <= 10 s wall to ready on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def start_once(model: str, timeout: float = 600.0) -> tuple[float, float, float, float]:
    """(wall seconds to ready, CPU seconds of the server by then, the same two to warm: the code
    tables loaded in the background, ``"warm": true`` on /readyz)."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TRIAGE_API_KEYS": "router:bench-start-key-0123"}
        cmd = [sys.executable, "-c", "from triage.cli import app; app()", "serve", "--model", model,
               "--port", str(port), "--db", f"sqlite:///{tmp}/service.db"]
        t0, ready = time.perf_counter(), None
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"serve exited {proc.returncode}: "
                                       f"{proc.stderr.read().decode(errors='replace')[-2000:]}")
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"not ready after {timeout:.0f} s")
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                    if r.status_code == 200 and ready is None:
                        ready = (time.perf_counter() - t0, _cpu_seconds(proc.pid))
                    if r.status_code == 200 and r.json().get("warm"):
                        return (*ready, time.perf_counter() - t0, _cpu_seconds(proc.pid))
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="router bundle (default: fit the tests' small bundle)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = args.model
    if model is None:
        sys.path.insert(0, str(ROOT / "tests" / "service"))
        from router_bundle import build_bundle

        model = str(build_bundle(Path(tempfile.mkdtemp()) / "bundle", n=600, seed=0))
    load = os.getloadavg()[0]
    runs = [start_once(model) for _ in range(args.repeat)]
    for i, (wall, cpu, warm_wall, warm_cpu) in enumerate(runs, 1):
        print(f"start {i}: ready in {wall:.2f} s wall, {cpu:.2f} CPU-s; "
              f"warm in {warm_wall:.2f} s wall, {warm_cpu:.2f} CPU-s")
    print(f"median: ready {statistics.median(r[0] for r in runs):.2f} s wall, "
          f"{statistics.median(r[1] for r in runs):.2f} CPU-s; warm {statistics.median(r[2] for r in runs):.2f} s "
          f"wall, {statistics.median(r[3] for r in runs):.2f} CPU-s "
          f"(load average {load:.1f} on {os.cpu_count()} cores; target: ready <= 10 s idle)")


if __name__ == "__main__":
    main()
