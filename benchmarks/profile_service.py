"""Where a POST /v1/route's time goes inside the service: py-spy samples a running uvicorn worker
while a client sends sequential requests, and the samples are summed by where they were spent.

Prints, per part of the request path (HTTP parsing, the edge guard, FastAPI/pydantic validation,
the router itself, the store's commit, JSON encoding, metrics, other), the share of the worker's
busy samples and the implied milliseconds per request; with --top, the heaviest functions.
Shares hold on a loaded machine too (py-spy samples the worker's own CPU time); milliseconds
need an idle one.

Usage: .venv/bin/python benchmarks/profile_service.py [--requests 3000] [--seconds 20] [--db pg]
Needs py-spy (pip install py-spy) and permission to trace a child process (root, or ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "service"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_service import API_KEY, child_env, free_port, stop, wait_for, wait_warm  # noqa: E402

#: (part, substrings of a frame "function (file)" that put a sample in it), first match wins,
#: looked for from the innermost frame outwards
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("store (SQL, commit)", ("sqlalchemy", "sqlite3", "psycopg", "service/store.py")),
    ("router (library)", ("triage/", "lightgbm", "numpy", "scipy", "sklearn")),
    ("operation states and draws", ("service/operation.py",)),
    ("JSON encode/decode", ("json", "pydantic_core/__init__", "to_json", "orjson")),
    ("request validation (pydantic)", ("pydantic", "fastapi/_compat", "fastapi/dependencies")),
    ("edge guard (auth, limits)", ("service/api/guard.py", "service/security.py",
                                   "service/api/limits.py")),
    ("metrics middleware", ("service/prometheus.py", "prometheus_client")),
    ("routes and spelling", ("service/api/",)),
    ("FastAPI / Starlette", ("fastapi", "starlette", "anyio")),
    ("HTTP server (uvicorn, httptools)", ("uvicorn", "httptools", "h11", "asyncio", "uvloop")),
)


def part_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for part, keys in PARTS:
            if any(k in frame for k in keys):
                return part
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=20.0, help="How long py-spy samples.")
    ap.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        sys.exit("py-spy is not installed (pip install py-spy)")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

    from router_bundle import build_bundle, sample_episodes

    work = Path(tempfile.mkdtemp(prefix="profile-service-"))
    bundle = build_bundle(work / "bundle", n=900, seed=0)
    episodes = sample_episodes(200, seed=3)
    db = (f"sqlite:///{work / 'decisions.db'}" if args.db == "sqlite"
          else "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    port = free_port()
    env = child_env(TRIAGE_MODEL_URI=str(bundle), TRIAGE_DATABASE_URL=db,
                    TRIAGE_API_KEYS=f"router:{API_KEY}", TRIAGE_INITIAL_POLICY_STATE="live",
                    TRIAGE_TABLE_PREFIX=f"prof{os.getpid()}_")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env, cwd=work, start_new_session=True)
    raw = work / "samples.txt"
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", 900, proc)
        wait_warm(f"http://127.0.0.1:{port}/readyz", 900)  # the code tables load after ready
        done = threading.Event()
        sent = [0]

        def client() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}",
                              headers={"X-API-Key": API_KEY}) as c:
                i = 0
                while not done.is_set() and i < args.requests:
                    r = c.post("/v1/route", json=episodes[i % len(episodes)])
                    assert r.status_code == 200, r.text
                    i += 1
                sent[0] = i

        for ep in episodes[:50]:  # warm
            httpx.post(f"http://127.0.0.1:{port}/v1/route", json=ep,
                       headers={"X-API-Key": API_KEY})
        thread = threading.Thread(target=client)
        t0 = time.perf_counter()
        thread.start()
        subprocess.run([spy, "record", "--pid", str(proc.pid), "--duration",
                        str(int(args.seconds)), "--rate", "1000", "--format", "raw",
                        "--output", str(raw), "--nonblocking"],
                       check=True, capture_output=True)
        done.set()
        thread.join()
        elapsed = time.perf_counter() - t0
    finally:
        stop(proc)
    parts: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not count.isdigit():  # not a "frame;frame;... count" line
            continue
        stack = stack_text.split(";")
        n = int(count)
        parts[part_of(stack)] += n
        leaves[stack[-1]] += n
    busy = sum(parts.values())
    per_request_ms = 1000.0 * elapsed / max(sent[0], 1)
    print(f"{sent[0]} sequential requests in {elapsed:.1f} s ({per_request_ms:.2f} ms each, "
          f"client included); {busy} worker samples at 1 kHz")
    print(f"{'part of the request path':38s} {'share':>7s} {'ms/request':>11s}")
    for part, n in parts.most_common():
        print(f"{part:38s} {n / busy:7.1%} {n / max(sent[0], 1):11.3f}")
    print(f"\nheaviest functions (self samples, top {args.top}):")
    for frame, n in leaves.most_common(args.top):
        print(f"  {n / busy:6.1%}  {frame[:110]}")


if __name__ == "__main__":
    main()
