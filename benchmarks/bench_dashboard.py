"""Dashboard page render time on a real-size PostgreSQL store.

Seeds 1,000,000 decisions and 200,000 outcomes (COPY, under a random table prefix, dropped
afterwards) spread over a year, with policy states, events and assist records, then renders every
dashboard page through the app (signed-in session, SQL aggregates included) and prints the median
and worst of a few renders per page. The issue's target: <= 1 s per page.

    python benchmarks/bench_dashboard.py [--decisions 1000000] [--outcomes 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "service"))  # the synthetic router builder, the seed users

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PAGES = ("/dashboard?window=day", "/dashboard?window=week", "/dashboard?window=month", "/dashboard/work",
         "/dashboard/policy", "/dashboard/quality?window=week", "/dashboard/quality?window=month")
SETTINGS = np.array(["inpatient", "observation", "day_case"])
QUEUES = np.array(["cardiology", "oncology", "obstetrics", "orthopaedics", "neurology", "respiratory",
                   "renal", "general"])


def _copy(conn, table: str, columns: list[str], rows_tsv: str) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        cp.write(rows_tsv)


def seed(store, routing, n: int, n_outcomes: int, seed: int = 0) -> float:
    """Bulk-load the store; returns seconds taken."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    mv, pv = str(routing.model_version), str(routing.policy.version)
    chunk = 200_000
    raw = store.engine.raw_connection()
    try:
        conn = raw.driver_connection
        d_cols = ["decision_id", "episode_id", "route", "p_correct", "model_version", "policy_version",
                  "decision", "created_at", "care_setting", "policy_route", "mode", "audit", "holdout",
                  "queue", "priority", "discharge_date"]
        outcome_idx = np.sort(rng.choice(n, size=n_outcomes, replace=False))
        created_all = np.empty(n, dtype=object)
        for lo in range(0, n, chunk):
            m = min(chunk, n - lo)
            # a service writes decisions in time order, so a window's rows sit together on disk
            age_s = (1.0 - (lo + np.arange(m) + rng.uniform(0, 1, m)) / n) * 365 * 86400
            created = [now - timedelta(seconds=float(s)) for s in age_s]
            created_all[lo:lo + m] = created
            route = rng.choice(["automate", "assist", "manual"], p=[0.3, 0.45, 0.25], size=m)
            setting = SETTINGS[rng.integers(0, 3, m)]
            p = rng.uniform(0.05, 1.0, m)
            audit = (route == "automate") & (rng.random(m) < 0.05)
            lag = rng.integers(0, 4, m)
            buf = io.StringIO()
            for i in range(m):
                k = lo + i
                buf.write(f"{k:032x}\tep{k}\t{route[i]}\t{p[i]:.4f}\t{mv}\t{pv}\t{{}}\t{created[i].isoformat()}\t"
                          f"{setting[i]}\t{route[i]}\tlive\t{'t' if audit[i] else 'f'}\tf\t"
                          f"{QUEUES[k % 8]}\t{(k % 300) / 100:.2f}\t{(created[i] - timedelta(days=int(lag[i]))).date()}\n")
            _copy(conn, store.decisions.name, d_cols, buf.getvalue())
        for lo in range(0, n_outcomes, chunk):
            idx = outcome_idx[lo:lo + chunk]
            correct = rng.random(len(idx)) < 0.8
            lag_h = rng.uniform(1, 10 * 24, len(idx))  # coded within ten days of routing
            buf = io.StringIO()
            for j, k in enumerate(idx):
                coded_at = min(now, created_all[k] + timedelta(hours=float(lag_h[j])))
                buf.write(f"{int(k):032x}\t[\"I50.9\"]\t{'t' if correct[j] else 'f'}\t{coded_at.isoformat()}\n")
            _copy(conn, store.outcomes.name, ["decision_id", "final_codes", "correct", "created_at"], buf.getvalue())
        with conn.cursor() as cur:  # what the store's outcome path does: the decision is now coded
            d_, o_ = store.decisions.name, store.outcomes.name
            cur.execute(f"UPDATE {d_} SET coded_at = {o_}.created_at FROM {o_} "
                        f"WHERE {o_}.decision_id = {d_}.decision_id")
        conn.commit()
    finally:
        raw.close()
    from dashboard_seed import seed as small_seed  # states, events (one open alarm), assist records

    small_seed(store, routing, n=30, seed=seed)
    # what autovacuum does to a table that has been written: statistics and the visibility map
    # (index-only scans need it)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        for table in (store.decisions.name, store.outcomes.name):
            c.exec_driver_sql(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--decisions", type=int, default=1_000_000)
    ap.add_argument("--outcomes", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from dashboard_seed import PASSWORDS, SECRET, USERS
    from fastapi.testclient import TestClient
    from router_bundle import build_bundle

    from service.core.config import Settings
    from service.loading import load_router
    from service.main import create_app
    from triage.allocation import example_roster

    tmp = Path(tempfile.mkdtemp())
    routing = load_router(str(build_bundle(tmp / "bundle", n=600, seed=0)))
    roster = tmp / "roster.csv"
    example_roster(n_coders=50, seed=0).to_csv(roster, index=False)
    settings = Settings(database_url=POSTGRES_URL, table_prefix=f"bench{uuid.uuid4().hex[:8]}_",
                        model_uri="bench", dashboard_users=USERS, dashboard_secret=SECRET,
                        dashboard_secure_cookie=False, dashboard_roster=str(roster))
    app = create_app(settings, router_loader=lambda uri: routing)
    store = app.state.store
    try:
        with TestClient(app) as client:
            took = seed(store, routing, args.decisions, args.outcomes)
            print(f"seeded {args.decisions:,} decisions and {args.outcomes:,} outcomes in {took:.1f} s")
            r = client.post("/dashboard/login", data={"username": "alice", "password": PASSWORDS["alice"]})
            assert r.status_code == 200, r.status_code
            print(f"load average before the renders: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            print(f"{'page':36s} {'median s':>9s} {'worst s':>9s}")
            for path in PAGES:
                times = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    resp = client.get(path)
                    times.append(time.perf_counter() - t)
                    assert resp.status_code == 200, (path, resp.status_code)
                print(f"{path:36s} {statistics.median(times):9.3f} {max(times):9.3f}")
    finally:
        store.drop_all()  # after the app stopped (its policy sync reads the tables)
        store.dispose()


if __name__ == "__main__":
    main()
