"""One key's maximal requests against everyone else's latency (issue 24, item 2).

Serves a synthetic router with uvicorn (one worker, loopback, SQLite), starts ``--heavy`` client
processes that each send maximal ``POST /v1/route`` requests in a loop (``--max-codes`` real
ICD-10-CM codes with scores, one key), and measures, from another key, the latency of a 1-code
route and of ``GET /healthz`` (sequential requests), first unloaded, then under that load.

Usage: .venv/bin/python benchmarks/bench_fairness.py [--max-codes N] [--heavy 4] [--n 300]
(``--max-codes`` defaults to triage.decisions.validation.MAX_CODES, the most the service takes.)
Prints the loaded/unloaded p99 ratio (the issue's target: at most 2x). The heavy clients run on
the same machine as the server, so on 2 cores they also take CPU from it.
"""

from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(ROOT / "tests" / "service"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_service import wait_for  # the one readiness wait of the benchmarks

HEAVY_KEY, LIGHT_KEY = "bench-fair-heavy-key-0123", "bench-fair-light-key-0123"
HEAVY_CLIENT = """
import json, sys, httpx
port, path = int(sys.argv[1]), sys.argv[2]
body = open(path, "rb").read()
with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600,
                  headers={"X-API-Key": sys.argv[3], "content-type": "application/json"}) as c:
    while True:
        c.post("/v1/route", content=body)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def codes(n: int) -> list[str]:
    import simple_icd_10_cm as cm

    out = [c for c in cm.get_all_codes(with_dots=True) if cm.is_leaf(c)]
    return out[:: max(1, len(out) // n)][:n]


def percentiles(xs: list[float]) -> str:
    xs = sorted(xs)
    p99 = xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]
    return f"p50 {statistics.median(xs) * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms"


def measure(port: int, n: int) -> tuple[list[float], list[float]]:
    route, health = [], []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": LIGHT_KEY}, timeout=600) as c:
        for i in range(n):
            t0 = time.perf_counter()
            r = c.post("/v1/route", json={"episode_id": i, "code_scores": {"I50.9": 0.97}})
            route.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
            t0 = time.perf_counter()
            c.get("/healthz")
            health.append(time.perf_counter() - t0)
    return route, health


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-codes", type=int, default=None)
    ap.add_argument("--heavy", type=int, default=4)
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    if args.max_codes is None:
        from triage.decisions.validation import MAX_CODES

        args.max_codes = MAX_CODES
    from router_bundle import build_bundle

    tmp = Path(tempfile.mkdtemp(prefix="bench-fair-"))
    bundle = build_bundle(tmp / "bundle", n=600, seed=0, code_systems=True)
    body = tmp / "heavy.json"
    body.write_text(json.dumps({"episode_id": 1, "code_scores": {c: 0.3 for c in codes(args.max_codes)},
                                "metadata": {"age": 70, "gender": "F"}}))
    port = free_port()
    env = {**os.environ, "TRIAGE_MODEL_URI": str(bundle),
           "TRIAGE_API_KEYS": f"router:{HEAVY_KEY},router:{LIGHT_KEY}",
           "TRIAGE_DATABASE_URL": f"sqlite:///{tmp / 'fair.db'}"}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "service.main:create_app",
                               "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    heavy = []
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", 600, server)  # as long as a slow machine needs
        t0 = time.perf_counter()
        r = httpx.post(f"http://127.0.0.1:{port}/v1/route", content=body.read_bytes(), timeout=600,
                       headers={"X-API-Key": HEAVY_KEY, "content-type": "application/json"})
        print(f"one maximal request ({args.max_codes} codes): {r.status_code} in {time.perf_counter() - t0:.2f} s")
        measure(port, 20)  # warm
        route0, health0 = measure(port, args.n)
        print(f"unloaded: 1-code route {percentiles(route0)}; /healthz {percentiles(health0)}")
        heavy = [subprocess.Popen([sys.executable, "-c", HEAVY_CLIENT, str(port), str(body), HEAVY_KEY])
                 for _ in range(args.heavy)]
        time.sleep(3)
        route1, health1 = measure(port, args.n)
        print(f"{args.heavy} clients of one key sending maximal requests: 1-code route {percentiles(route1)}; "
              f"/healthz {percentiles(health1)}")
        p99 = lambda xs: sorted(xs)[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]  # noqa: E731
        print(f"p99 ratio loaded/unloaded: route {p99(route1) / p99(route0):.1f}x, "
              f"healthz {p99(health1) / p99(health0):.1f}x")
    finally:
        for p in heavy:
            p.kill()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
