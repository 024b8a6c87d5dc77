"""The service's edges under abuse (issue 14): what an unauthenticated or oversized request costs.

Fits a small synthetic router, serves it with uvicorn (one worker, loopback, SQLite) and prints:
  - time to the 401 for a 10 MB body sent without a key (from the first header byte to the status
    line; the client keeps streaming the body) and how much of the body was sent by then, against
    the same body sent with a key (read, parsed and validated before it is refused);
  - the largest POST /v1/allocate the default limits accept (5,000 decisions x 100 coders =
    TRIAGE_ALLOCATE_MAX_CELLS) with its time, solver and peak server RSS, a 1,000 x 500 call, and
    the answer just past the limit (413 at once).

Usage: .venv/bin/python benchmarks/bench_edge.py
Targets: 401 p50 <= 20 ms whatever the body; allocate at the limit <= 15 s (10 s solver limit).
"""

from __future__ import annotations

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
sys.path.insert(0, str(ROOT / "tests" / "service"))  # the synthetic router builder
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_service import wait_for  # the one readiness wait of the benchmarks

KEY = "bench-edge-key-012345"
SPECIALTIES = ["cardiology", "oncology", "respiratory", "renal", "general", "neurology", "orthopaedics"]
LEVELS = ["junior", "intermediate", "senior"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_status(port: int, body: bytes, key: str | None) -> tuple[float, str, int]:
    """Seconds from the first header byte to the status line, the status line, body bytes sent."""
    s = socket.create_connection(("127.0.0.1", port))
    head = (f"POST /v1/route/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n" + (f"X-API-Key: {key}\r\n" if key else "") + "\r\n")
    t0 = time.perf_counter()
    s.sendall(head.encode())
    s.setblocking(False)
    sent, answer = 0, b""
    while b"\r\n" not in answer:
        try:
            answer += s.recv(65536)
        except BlockingIOError:
            pass
        if sent < len(body):
            try:
                sent += s.send(body[sent:sent + 262144])
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
    elapsed = time.perf_counter() - t0
    s.close()
    return elapsed, answer.split(b"\r\n")[0].decode(), sent


def roster(n: int) -> list[dict]:
    return [{"coder_id": f"c{j}", "specialties": [SPECIALTIES[j % 7], "general"] if j % 3 else ["general"],
             "level": LEVELS[j % 3], "hours": 7.5} for j in range(n)]


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def main() -> None:
    from router_bundle import build_bundle, sample_episodes

    tmp = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    bundle = build_bundle(tmp / "bundle", n=600, seed=0)
    port = free_port()
    env = {**os.environ, "TRIAGE_MODEL_URI": str(bundle), "TRIAGE_API_KEYS": f"router:{KEY}",
           "TRIAGE_DATABASE_URL": f"sqlite:///{tmp / 'edge.db'}"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "service.main:create_app",
                             "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", 600, proc)  # as long as a slow machine needs

        body = b'{"episodes": [' + b",".join(
            [b'{"episode_id": 1, "code_scores": {"I10": 0.9}}'] * 220_000) + b"]}"
        runs = [time_to_status(port, body, None) for _ in range(20)]
        print(f"10 MB body ({len(body) / 1e6:.1f} MB), no key: {runs[0][1]}; p50 "
              f"{statistics.median(r[0] for r in runs) * 1e3:.1f} ms, max {max(r[0] for r in runs) * 1e3:.1f} ms; "
              f"body sent by then (median) {statistics.median(r[2] for r in runs) / 1e6:.1f} MB")
        keyed = time_to_status(port, body, KEY)
        print(f"same body with a key: {keyed[1]} after {keyed[0]:.2f} s (read, parsed, validated)")

        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": KEY}, timeout=600)
        episodes = sample_episodes(5000, seed=3)
        ids = []
        for i, e in enumerate(episodes):
            e["episode_id"] = f"a{i}"
            e["metadata"]["discharge_date"] = f"2026-11-{1 + i % 25:02d}"
        for k in range(0, 5000, 1000):
            r = client.post("/v1/route/batch", json={"episodes": episodes[k:k + 1000]})
            r.raise_for_status()
            ids += [d["decision_id"] for d in r.json()["decisions"]]
        for n_dec, n_cod in ((5000, 100), (1000, 500), (5000, 101)):
            t0 = time.perf_counter()
            r = client.post("/v1/allocate", json={"roster": roster(n_cod), "decision_ids": ids[:n_dec],
                                                   "as_of": "2026-11-27"})
            dt = time.perf_counter() - t0
            if r.status_code == 200:
                s = r.json()["summary"]
                print(f"allocate {n_dec} x {n_cod}: 200 in {dt:.1f} s; solver {s['solver']} "
                      f"({s['n_pairs']} eligible pairs, {s['solve_seconds']:.1f} s, gap {s['optimality_gap']:.1%}); "
                      f"{s['n_assigned']} assigned; server peak RSS {peak_rss_mb(proc.pid):.0f} MB")
            else:
                print(f"allocate {n_dec} x {n_cod}: {r.status_code} in {dt * 1e3:.0f} ms: {r.json()['detail']}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
