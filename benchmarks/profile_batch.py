"""Where POST /v1/route/batch's time goes, in-process: the service's own work beside route_many.

Builds the benchmark's router (benchmarks/bench_service.py: 900-episode cohort, code systems on)
and an app on a temporary SQLite (or, with ``--db pg``, PostgreSQL) store, then times, for the
same 1,000 episodes (median of ``--repeats``):
  - ``Router.route_many`` alone (the library's time, the target's denominator);
  - ``_route_batch`` whole (the service's handler, no HTTP: validation, routing, rows, the
    committed write, the encoded answer), and the difference: the service's own work;
with ``--profile``, a cProfile of ``_route_batch`` (top functions by cumulative time); with
``--against REV``, the handler at git revision REV too, in alternating rounds with today's (the
machine's load drifts alike over both: their medians and the median of the paired differences
compare them). REV's handler is its ``service/api/routes/routing.py`` writing through its
``service/store.py``'s DecisionStore (on the same tables); the other modules are today's. With
``--prefill N`` (SQLite), the decisions table holds N rows or more before the timed rounds (the
first batch's rows copied with random ids): a write's cost grows with the table's indexes.
No HTTP, so the figures are the handler's alone; bench_service.py measures through uvicorn.

Usage: .venv/bin/python benchmarks/profile_batch.py [--repeats 9] [--db sqlite|pg] [--profile]
       [--against main] [--prefill 200000]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "service"))

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def module_at(rev: str, path: str, work: Path, imports: dict[str, Any] | None = None):
    """The module ``path`` (in the repository) at git revision ``rev``, imported under a name of
    its own, with ``imports`` (module name -> module) in place of today's while it imports (the
    hot-route table a routes module registers into is put back as it was)."""
    from service.api import hotpath

    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    name = f"at_rev_{Path(path).stem}"
    (work / f"{name}.py").write_text(source)
    routes = dict(hotpath.HOT_ROUTES)
    today = {m: sys.modules[m] for m in imports or {}}
    sys.modules.update(imports or {})
    try:
        spec = importlib.util.spec_from_file_location(name, work / f"{name}.py")
        module = sys.modules[name] = importlib.util.module_from_spec(spec)  # dataclasses look it up
        spec.loader.exec_module(module)
    finally:
        sys.modules.update(today)
        hotpath.HOT_ROUTES.clear()
        hotpath.HOT_ROUTES.update(routes)
    return module


def prefill(store: Any, n: int) -> None:
    """Copy the stored decisions, each with a new random id, until there are ``n`` or more."""
    import sqlalchemy as sa

    d = store.decisions
    others = [c.name for c in d.columns if c.name != "decision_id"]
    copy = sa.text(f"INSERT INTO {d.name} (decision_id, {', '.join(others)}) "
                   f"SELECT lower(hex(randomblob(16))), {', '.join(others)} FROM {d.name}")
    with store.engine.begin() as conn:
        while conn.execute(sa.select(sa.func.count()).select_from(d)).scalar_one() < n:
            conn.execute(copy)
    store.checkpoint()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    ap.add_argument("--profile", action="store_true", help="cProfile one _route_batch call")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--against", metavar="REV", help="also time routing.py's handler at REV")
    ap.add_argument("--prefill", type=int, default=0, metavar="N",
                    help="SQLite: at least N decisions stored before the timed rounds")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fastapi.testclient import TestClient
    from router_bundle import build_bundle, sample_episodes
    from starlette.requests import Request

    from service.api.routes.routing import _route_batch
    from service.core.config import Settings
    from service.loading import freeze_long_lived, load_router
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
    old_route_batch = old_store = None
    if args.against:
        store_at = module_at(args.against, "service/store.py", work)
        old_route_batch = module_at(args.against, "service/api/routes/routing.py", work,
                                    {"service.store": store_at})._route_batch
        old_store = store_at.DecisionStore(url, table_prefix=settings.table_prefix,
                                           sqlite_synchronous=settings.sqlite_synchronous)
    with TestClient(app):
        state = app.state
        routing, store = state.router_holder.get(), state.store
        request = Request({"type": "http", "app": app, "method": "POST", "headers": []})

        def library() -> None:
            routing.route_many([dict(e) for e in batch])

        def handler(route_batch=_route_batch, writes_to=store) -> None:
            response = route_batch(body, request, routing, writes_to, settings)
            assert response.status_code == 200

        def old() -> None:
            handler(old_route_batch, old_store)

        lib, svc, alt = [], [], []
        cpu: dict[str, list[float]] = {"svc": [], "alt": []}  # this thread's CPU time
        library(), handler()  # warm caches
        if args.prefill and args.db == "sqlite":
            prefill(store, args.prefill)
        if old_route_batch is not None:
            old()
        freeze_long_lived()  # as the service does once its router is warm: no full GC of it
        load = os.getloadavg()[0]
        for i in range(args.repeats):
            timed = [(library, lib, None), (handler, svc, cpu["svc"])]
            if old_route_batch is not None:  # which handler goes first alternates too
                timed.insert(1 + i % 2, (old, alt, cpu["alt"]))
            for fn, times, cpu_times in timed:
                t, c = time.perf_counter(), time.thread_time()
                fn()
                times.append(time.perf_counter() - t)
                if cpu_times is not None:
                    cpu_times.append(time.thread_time() - c)
        lib_ms, svc_ms = statistics.median(lib) * 1e3, statistics.median(svc) * 1e3
        print(f"store {args.db}; 1,000 episodes, median of {args.repeats}; load average "
              f"{load:.2f} -> {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print(f"  route_many             {lib_ms:7.1f} ms")
        print(f"  _route_batch           {svc_ms:7.1f} ms ({svc_ms / lib_ms:.2f}x)")
        print(f"  service's own work     {svc_ms - lib_ms:7.1f} ms")
        if old_route_batch is not None:
            alt_ms = statistics.median(alt) * 1e3
            paired = statistics.median(a - b for a, b in zip(alt, svc)) * 1e3
            ratios = statistics.median(b / a for a, b in zip(lib, alt))
            print(f"  _route_batch at {args.against:6s} {alt_ms:7.1f} ms ({alt_ms / lib_ms:.2f}x; "
                  f"own work {alt_ms - lib_ms:.1f} ms)")
            cpu_paired = statistics.median(a - b for a, b in zip(cpu["alt"], cpu["svc"])) * 1e3
            print(f"  paired: at {args.against} minus today, median {paired:+.1f} ms "
                  f"({cpu_paired:+.1f} ms of this thread's CPU time); "
                  f"median round ratios {ratios:.2f}x (at {args.against}), "
                  f"{statistics.median(b / a for a, b in zip(lib, svc)):.2f}x (today)")
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(handler)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
    if old_store is not None:
        old_store.dispose()
    store.drop_all()  # after the app's background loops stopped


if __name__ == "__main__":
    main()
