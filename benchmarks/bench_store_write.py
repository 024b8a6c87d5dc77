"""What one decision's write costs, and what the minimum would be (issue 27).

Writes real decision rows (a synthetic router's answers, ~35 scored codes each) one transaction
per row, as a sequential POST /v1/route does, and prints microseconds per row for:

  - ``store``: the service's path (``DecisionStore.record_decisions``: group commit, SQLAlchemy
    Core insert, commit);
  - ``core``: SQLAlchemy Core ``conn.execute(insert, [row])`` + commit, without the group commit;
  - ``raw``: the floor: ``service.store.DirectInsert`` (the compiled INSERT on the driver's own
    cursor, then ``commit``; the store's path on SQLite since issue 27), no group commit;
  - ``encode``: the JSON encoding of the decision column alone (part of every path above);

and how many WAL frames (pages) one single-row commit writes on SQLite: the floor of the write;

each on SQLite (WAL, ``synchronous`` NORMAL and FULL; WAL checkpoints between rounds, untimed,
as the service runs them in the background) and, with ``--pg``, PostgreSQL
(127.0.0.1:5432, database ``test``). Alternating rounds, medians: ratios hold on a loaded
machine, microseconds need an idle one.

Usage: .venv/bin/python benchmarks/bench_store_write.py [--rows 2000] [--pg]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "service"))

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def decision_rows(n: int) -> list[dict[str, Any]]:
    """``n`` rows as POST /v1/route stores them (service.api.routes.routing._row)."""
    from router_bundle import build_router, sample_episodes

    from service.api.routes.routing import _row
    from service.schemas import Episode
    from service.store import new_decision_id, utcnow

    router = build_router(n=600, seed=0)
    episodes = [Episode.model_validate(e) for e in sample_episodes(200, seed=1)]
    rows = []
    for i in range(n):
        ep = episodes[i % len(episodes)]
        md = ep.metadata.model_dump(mode="json", exclude_none=True) if ep.metadata else None
        d = router.route_one(episode_id=ep.episode_id, code_scores=ep.code_scores,
                             metadata=md).to_dict()
        d["decision_id"] = new_decision_id()
        rows.append(_row(d, ep, md, False, utcnow(), 0.3))
    return rows


def raw_writer(store: Any) -> Any:
    """The floor: ``service.store.DirectInsert`` (the INSERT compiled once, SQLAlchemy's bind
    processors, the driver's cursor), without the group commit; what SQLite's store path uses."""
    from service.store import DirectInsert

    if not store.is_local:  # SQLite only (positional parameters; PostgreSQL's commit dominates)
        return None
    write = DirectInsert(store.engine, store.decisions.insert())
    return lambda row: write([row])


def measure(url: str, rows: list[dict[str, Any]], synchronous: str, rounds: int) -> dict:
    import sqlalchemy as sa

    from service.store import DecisionStore, new_decision_id, to_json

    store = DecisionStore(url, table_prefix=f"bsw{os.getpid()}_", sqlite_synchronous=synchronous)
    store.create_all()
    insert = store.decisions.insert()
    raw = raw_writer(store)

    def fresh(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "decision_id": new_decision_id()}

    def via_store(row):
        store.record_decisions([fresh(row)])

    def via_core(row):
        with store.engine.begin() as conn:
            conn.execute(insert, [fresh(row)])

    def via_raw(row):
        raw(fresh(row))

    def encode(row):
        to_json(row["decision"])

    paths = {"store": via_store, "core": via_core, "raw": via_raw, "encode": encode}
    if raw is None:
        del paths["raw"]
    out: dict[str, list[float]] = {k: [] for k in paths}
    chunk = max(1, len(rows) // rounds)
    try:
        for r in range(rounds):  # alternate, so load changes hit every path alike
            part = rows[r * chunk:(r + 1) * chunk]
            for name, fn in paths.items():
                t = time.perf_counter()
                for row in part:
                    fn(row)
                out[name].append((time.perf_counter() - t) / len(part) * 1e6)
                store.checkpoint()  # as the service does, in the background, between requests
        with store.engine.connect() as conn:  # every path stored readable rows
            n = conn.execute(sa.select(sa.func.count()).select_from(store.decisions)).scalar_one()
        assert n == (len(paths) - 1) * chunk * rounds, n
    finally:
        store.drop_all()
        store.dispose()
    return {k: statistics.median(v) if v else float("nan") for k, v in out.items()}


def wal_frames(path: Path, rows: list[dict[str, Any]]) -> tuple[float, int]:
    """(WAL frames a single-row commit writes, the page size) on SQLite, from the WAL file's
    growth over one-row commits after a truncating checkpoint (half the rows stored first, so the
    tables and indexes have depth): a frame is one page written, which no code of ours can make
    smaller; the schema's B-trees decide how many."""
    import sqlalchemy as sa

    from service.store import DecisionStore, new_decision_id

    store = DecisionStore(f"sqlite:///{path}", table_prefix="frames_")
    store.create_all()
    try:
        half = len(rows) // 2
        store.record_decisions([{**r, "decision_id": new_decision_id()} for r in rows[:half]])
        with store.engine.connect() as conn:
            page = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        wal = Path(f"{path}-wal")
        before = wal.stat().st_size if wal.exists() else 0
        for row in rows[half:]:
            store.record_decisions([{**row, "decision_id": new_decision_id()}])
        grown = wal.stat().st_size - before
        with store.engine.connect() as conn:  # every row stored
            n = conn.execute(sa.select(sa.func.count()).select_from(store.decisions)).scalar_one()
        assert n == len(rows), n
    finally:
        store.drop_all()
        store.dispose()
    return grown / (page + 24) / (len(rows) - half), page  # a frame: 24-byte header + page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--pg", action="store_true")
    args = ap.parse_args()
    rows = decision_rows(args.rows)
    work = Path(tempfile.mkdtemp(prefix="bench-store-write-"))
    runs = [(f"sqlite WAL synchronous={s}", f"sqlite:///{work / f'{s}.db'}", s)
            for s in ("NORMAL", "FULL")]
    if args.pg:
        runs.append(("postgresql (127.0.0.1)", PG_URL, "NORMAL"))
    print(f"us per decision, one transaction each, median of {args.rounds} rounds "
          f"(load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"{'store':34s} {'store':>8s} {'core':>8s} {'raw':>8s} {'encode':>8s}")
    for name, url, sync in runs:
        r = measure(url, rows, sync, args.rounds)
        print(f"{name:34s} {r['store']:8.0f} {r['core']:8.0f} {r.get('raw', float('nan')):8.0f} {r['encode']:8.0f}")
    frames, page = wal_frames(work / "frames.db", rows[:1000])
    print(f"SQLite WAL frames per single-row commit: {frames:.1f} ({page:,}-byte pages; 500 rows "
          "stored first, WAL growth over 500 one-row commits)")
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
