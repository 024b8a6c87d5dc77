"""Where POST /v1/route/batch's time goes, in-process: the service's own work beside route_many.

Builds the benchmark's router (benchmarks/bench_service.py: 900-episode cohort, code systems on)
and an app on a temporary SQLite (or, with ``--db pg``, PostgreSQL) store, then times, for the
same 1,000 episodes (median of ``--repeats``):
  - ``Router.route_many`` alone (the library's time, the target's denominator);
  - ``_route_batch`` whole (the service's handler, no HTTP: validation, routing, rows, the
    committed write, the encoded answer), and the difference: the service's own work;
with ``--profile``, a cProfile of ``_route_batch`` (top functions by cumulative time).
No HTTP, so the figures are the handler's alone; bench_service.py measures through uvicorn.

Usage: .venv/bin/python benchmarks/profile_batch.py [--repeats 9] [--db sqlite|pg] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "service"))

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    ap.add_argument("--profile", action="store_true", help="cProfile one _route_batch call")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fastapi.testclient import TestClient
    from router_bundle import build_bundle, sample_episodes
    from starlette.requests import Request

    from service.api.routes.routing import _route_batch
    from service.core.config import Settings
    from service.loading import load_router
    from service.main import create_app

    work = Path(tempfile.mkdtemp(prefix="profile-batch-"))
    bundle = build_bundle(work / "router", n=900, seed=0, code_systems=True)
    router = load_router(str(bundle))
    episodes = sample_episodes(300, seed=1)
    batch = [dict(episodes[i % 300], episode_id=i) for i in range(1000)]
    body = json.dumps({"episodes": batch}).encode()
    url = f"sqlite:///{work / 'decisions.db'}" if args.db == "sqlite" else PG_URL
    settings = Settings(database_url=url, api_keys="router:profile-batch-key-0123",
                        model_uri="profile", table_prefix=f"pb{uuid.uuid4().hex[:8]}_",
                        initial_policy_state="live")
    app = create_app(settings, router_loader=lambda _uri: router)
    with TestClient(app):
        state = app.state
        routing, store = state.router_holder.get(), state.store
        request = Request({"type": "http", "app": app, "method": "POST", "headers": []})

        def library() -> None:
            routing.route_many([dict(e) for e in batch])

        def handler() -> None:
            response = _route_batch(body, request, routing, store, settings)
            assert response.status_code == 200

        lib, svc = [], []
        library(), handler()  # warm caches
        for _ in range(args.repeats):
            t = time.perf_counter()
            library()
            lib.append(time.perf_counter() - t)
            t = time.perf_counter()
            handler()
            svc.append(time.perf_counter() - t)
        lib_ms, svc_ms = statistics.median(lib) * 1e3, statistics.median(svc) * 1e3
        print(f"store {args.db}; 1,000 episodes, median of {args.repeats}; "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print(f"  route_many             {lib_ms:7.1f} ms")
        print(f"  _route_batch           {svc_ms:7.1f} ms ({svc_ms / lib_ms:.2f}x)")
        print(f"  service's own work     {svc_ms - lib_ms:7.1f} ms")
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(handler)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
    store.drop_all()  # after the app's background loops stopped


if __name__ == "__main__":
    main()
