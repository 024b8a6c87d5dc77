"""What one drift refresh costs the service, and how much of it holds the interpreter.

Every ``drift_refresh_seconds`` the service's background loop reads the decisions stored since
the last refresh and feeds them to the label-free drift test (``OperationStore.advance_drift``
with ``service.operation.drift_step``), in a threadpool thread while the event loop serves
requests: whatever of it holds the interpreter (the GIL) delays them.

Stores ``--rows`` decisions (POST /v1/route's rows of a real synthetic router, copied with fresh
ids; four share each ``created_at``, as a batch's do; 0.5% with unknown codes; care settings
60/25/15%, automated when their confidence reaches the policy's threshold for the setting) in a
temporary SQLite store, with ``--history`` older decisions already counted, and
times one ``advance_drift`` over them with a grouped policy's drift reference calibrated on the
same confidences and settings (the usual case: no drift; ``--shifted``: calibrated on other
confidences, a stream the test warns on, whose e-values rise), alternating (A B A B ...) between

  - ``core``: the read through SQLAlchemy Core (PostgreSQL's path, SQLite's before ``DriftRead``);
  - ``direct``: SQLite's ``DriftRead`` (the driver's own cursor; ``created_at`` as stored text);

and, for each, the read alone (``read's SQL only``: SQLite's share of a read, the interpreter
free meanwhile; the rest is Python's). Meanwhile a probe thread asks for the interpreter every 1 ms and
records how late it gets it, as a request arriving during a refresh would: ``late>2ms`` counts its
wake-ups delayed by more than 2 ms (waiting for the GIL's 5 ms switch interval), ``late sum`` is
its total delay (an idle run is printed for scale). Medians over ``--rounds``.

Usage: PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_drift_refresh.py [--rows 20000]
       [--history 0] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
SETTINGS = ("inpatient", "observation", "day_case")
THRESHOLDS = {"inpatient": 0.9, "observation": 0.85, "day_case": None}  # the policy's automate


class Probe:
    """A thread that wants the interpreter every 1 ms; records how late it got it (ms)."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.perf_counter()
            time.sleep(0.001)
            self.late.append((time.perf_counter() - t - 0.001) * 1e3)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def decisions(n: int, start: Any, seed: int) -> list[dict[str, Any]]:
    """``n`` decision rows, four to a ``created_at`` (1.4 ms apart per four: ~700 a second)."""
    from bench_store_write import decision_rows

    from service.store import new_decision_id

    base = decision_rows(200)
    rng = np.random.default_rng(seed)
    settings = rng.choice(SETTINGS, n, p=[0.6, 0.25, 0.15])
    unknown = rng.random(n) < 0.005
    rows = []
    for i in range(n):
        row = dict(base[i % len(base)])
        row["decision_id"] = new_decision_id()
        row["created_at"] = start + timedelta(microseconds=1400 * (i // 4))
        row["care_setting"] = str(settings[i])
        t = THRESHOLDS[row["care_setting"]]
        row["policy_route"] = "automate" if t is not None and row["p_correct"] >= t else "assist"
        if unknown[i]:
            row["decision"] = {**row["decision"], "unknown_codes": ["X99.9"]}
        rows.append(row)
    return rows


def reference(rows: list[dict[str, Any]], seed: int, shifted: bool = False) -> Any:
    """A grouped policy's drift reference (three settings, two of them automating), calibrated on
    2,000 draws of the rows' confidences and settings, or (``shifted``) on Beta(5, 2) ones."""
    from triage.operation.drift import DriftReference

    rng = np.random.default_rng(seed)
    settings = rng.choice(SETTINGS, 2000, p=[0.6, 0.25, 0.15])
    p = (rng.beta(5, 2, settings.size) if shifted
         else rng.choice([r["p_correct"] for r in rows], settings.size))
    return DriftReference.from_calibration(p, settings, THRESHOLDS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--history", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--shifted", action="store_true")
    args = ap.parse_args()

    import sqlalchemy as sa

    from service.operation import drift_step
    from service.store import DecisionStore, utcnow

    work = Path(tempfile.mkdtemp(prefix="bench-drift-"))
    url = f"sqlite:///{work / 'drift.db'}"
    store = DecisionStore(url)
    store.create_all()
    core = DecisionStore(url)  # the same tables, read through Core
    core.operation._drift_read = None
    start = utcnow() - timedelta(hours=1)
    old = decisions(args.history, start - timedelta(hours=1), seed=1) if args.history else []
    new = decisions(args.rows, start, seed=2)
    ref = reference(new, 3, args.shifted)
    mv, pv = new[0]["model_version"], new[0]["policy_version"]
    for rows in (old, new):
        for i in range(0, len(rows), 1000):
            store.record_decisions(rows[i:i + 1000])
        while rows is old and old and store.operation.advance_drift(  # 50,000 a refresh at most
                mv, pv, lambda s, r: drift_step(s, r, ref, 0.01))[0] is not None:
            pass
    store.checkpoint()
    w = store.watch_state
    with store.engine.connect() as conn:
        counted = conn.execute(sa.select(w)).mappings().all()

    def reset() -> None:
        """The watch as it was before the new decisions (none, or after the history)."""
        with store.engine.begin() as conn:
            conn.execute(w.delete())
            if counted:
                conn.execute(w.insert(), [dict(r) for r in counted])

    status = {}

    def refresh(s: DecisionStore) -> int:
        values, _ = s.operation.advance_drift(mv, pv, lambda st, r: drift_step(st, r, ref, 0.01))
        status[values["status"]] = status.get(values["status"], 0) + 1
        return values["n"]

    def read(s: DecisionStore) -> int:
        mark = counted[0]["state"]["watermark"] if counted else None
        ops = s.operation
        if ops._drift_read is not None:
            return len(ops._drift_read(mv, pv, mark, 50_000))
        with s.engine.connect() as conn:
            return len(ops._drift_rows(conn, mv, pv, mark, 50_000))

    def sql(s: DecisionStore) -> int:
        """The read's SQL alone, every row computed and counted in SQLite (the interpreter free
        meanwhile); the rest of a read is Python's."""
        mark = counted[0]["state"]["watermark"] if counted else None
        ops = s.operation
        select = ops._drift_read._after if mark else ops._drift_read._first
        params = {"mv": mv, "pv": pv, "limit": 50_000, **select.fixed}
        if mark:
            params.update(at=ops._drift_read._time_text(datetime.fromisoformat(mark[0])),
                          id=mark[1])
        raw = s.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(f"SELECT count(*), count(nullif_1), max(created_at) FROM ({select.sql})",
                           tuple(params[n] for n in select.names))
            assert cursor.fetchone()[0] == args.rows
        finally:
            raw.close()
        return args.rows

    runs = {f"{kind} {name}": (fn, s) for kind, fn in (("refresh", refresh), ("read", read))
            for name, s in (("core", core), ("direct", store))}
    runs["read's SQL only"] = (sql, store)
    out: dict[str, list[tuple[float, int, float]]] = {k: [] for k in [*runs, "idle 0.5 s"]}
    states = {}
    for _ in range(args.rounds):
        for name, (fn, s) in runs.items():
            reset()
            with Probe() as probe:
                t = time.perf_counter()
                n = fn(s)
                secs = time.perf_counter() - t
            assert n == args.rows + (args.history if name.startswith("refresh") else 0), (name, n)
            out[name].append((secs * 1e3, sum(x > 2 for x in probe.late), sum(probe.late)))
            if name.startswith("refresh"):
                with store.engine.connect() as conn:
                    states[name] = conn.execute(sa.select(w.c.state)).scalar_one()
        with Probe() as probe:
            time.sleep(0.5)
        out["idle 0.5 s"].append((500.0, sum(x > 2 for x in probe.late), sum(probe.late)))
    same = states["refresh core"]["drift"] == states["refresh direct"]["drift"] and (
        states["refresh core"]["watermark"] == states["refresh direct"]["watermark"])
    print(f"{args.rows} new decisions, {args.history} counted before; median of {args.rounds} "
          f"alternating rounds (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"{'':16s} {'ms':>8s} {'late>2ms':>9s} {'late sum ms':>12s}")
    for name, values in out.items():
        ms, waits, late = (statistics.median(v) for v in zip(*values))
        print(f"{name:16s} {ms:8.0f} {waits:9.0f} {late:12.0f}")
    print(f"same drift state and watermark from both reads: {same}; the refreshes said {status}")
    store.dispose()
    core.dispose()
    for f in work.iterdir():
        f.unlink()
    work.rmdir()


if __name__ == "__main__":
    main()
