"""The decision store on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import uuid

import pytest

from service.store import DecisionStore, OutcomeExists, new_decision_id, utcnow


@pytest.fixture
def store(database_url):
    s = DecisionStore(database_url, table_prefix=f"s{uuid.uuid4().hex[:8]}_")
    s.create_all()
    yield s
    s.drop_all()
    s.dispose()


def _row(route="automate", mv="m1", pv="p1", episode="e1"):
    return {
        "decision_id": new_decision_id(),
        "episode_id": episode,
        "route": route,
        "p_correct": 0.9,
        "model_version": mv,
        "policy_version": pv,
        "decision": {"codes": [{"code": "I10."}], "route": route},
        "text": None,
        "created_at": utcnow(),
    }


def test_decisions_round_trip(store):
    rows = [_row(), _row(route="manual", episode="e2")]
    store.record_decisions(rows)
    got = store.get_decision(rows[1]["decision_id"])
    assert got["route"] == "manual" and got["decision"] == rows[1]["decision"]
    assert store.latest_decision_for_episode("e2")["decision_id"] == rows[1]["decision_id"]
    assert store.get_decision("f" * 32) is None
    assert store.count("decisions") == 2


def test_batch_insert_is_atomic(store):
    a = _row()
    with pytest.raises(Exception):  # noqa: B017 - duplicate primary key, any driver error
        store.record_decisions([_row(), a, a])
    assert store.count("decisions") == 0


def test_outcomes_once_and_group_stats(store):
    rows = [_row() for _ in range(4)] + [_row(route="assist"), _row(mv="m2")]
    store.record_decisions(rows)
    store.record_outcome(rows[0]["decision_id"], ["I10"], True)
    store.record_outcome(rows[1]["decision_id"], ["I10", "I50.9"], False)
    store.record_outcome(rows[4]["decision_id"], ["I10"], False)
    with pytest.raises(OutcomeExists):
        store.record_outcome(rows[0]["decision_id"], ["I10"], False)
    stats = {(s.model_version, s.route): s for s in store.group_stats()}
    auto = stats[("m1", "automate")]
    assert (auto.routed, auto.with_outcome, auto.errors) == (4, 2, 1)
    assert (stats[("m1", "assist")].with_outcome, stats[("m1", "assist")].errors) == (1, 1)
    assert stats[("m2", "automate")].routed == 1


def test_policy_audit_in_one_transaction(store):
    store.record_policy_change(
        action="set_policy", role="admin", key_fingerprint="abc", model_version="m1",
        old_policy_version="p1", new_policy_version="p2", params={"alpha": 0.1},
        policy={"version": "p2"},
    )
    store.record_policy_change(
        action="reload", role="admin", key_fingerprint="abc", model_version="m1",
        old_policy_version="p2", new_policy_version="p2", params={"model_uri": "x"}, policy=None,
    )
    assert store.latest_policy_params("m1") == {"alpha": 0.1}
    assert store.latest_policy_params("m9") is None
    assert [r["action"] for r in store.audit_rows()] == ["set_policy", "reload"]


def test_concurrent_writers_lose_nothing(store):
    def write(k):
        for _ in range(20):
            store.record_decisions([_row(episode=f"w{k}")])

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count("decisions") == 80
    assert store.ping()


def test_sqlite_runs_in_wal_mode(sqlite_url):
    s = DecisionStore(sqlite_url)
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
    s.dispose()


def test_checkpoint_moves_the_wal_into_the_database_file(sqlite_url):
    """The background checkpoint (off the request path) copies every committed page."""
    s = DecisionStore(sqlite_url)
    s.create_all()
    s.record_decisions([_row(episode=f"c{i}") for i in range(50)])
    s.checkpoint()
    with s.engine.connect() as conn:
        busy, log_pages, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and log_pages == done  # nothing left to copy
    assert s.count("decisions") == 50
    s.dispose()


def _wal_frames(store) -> int:
    """Frames in the WAL now (a PASSIVE checkpoint's report: it copies, never resets)."""
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1]


def test_checkpoint_empties_the_wal_while_writes_go_on(sqlite_url):
    """Under steady load a PASSIVE checkpoint leaves frames behind (those committed while it
    copied), so the WAL is never started over and grows to the autocheckpoint bound, where a
    request pays for the checkpoint. Here, deterministically: a reader's snapshot keeps the first
    round from copying what another connection committed just before it; after the background
    checkpoint the WAL is still started over, so the next decision's write is all it holds."""
    import sqlite3

    import sqlalchemy as sa

    s = DecisionStore(sqlite_url)
    s.create_all()
    s.record_decisions([_row(episode=f"w{i}") for i in range(200)])
    path = sqlite_url.removeprefix("sqlite:///")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE side (x INTEGER)")
    reader = sqlite3.connect(path, isolation_level=None)
    first = [True]

    @sa.event.listens_for(s.engine, "before_cursor_execute")
    def commit_behind(conn, cursor, statement, *args):
        if statement == "PRAGMA wal_checkpoint(PASSIVE)" and first[0]:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM side").fetchone()  # snapshot before the write
            writer.execute("INSERT INTO side VALUES (1)")

    @sa.event.listens_for(s.engine, "after_cursor_execute")
    def reader_done(conn, cursor, statement, *args):
        if statement == "PRAGMA wal_checkpoint(PASSIVE)" and first[0]:
            first[0] = False
            reader.execute("COMMIT")

    s.checkpoint()
    sa.event.remove(s.engine, "before_cursor_execute", commit_behind)
    sa.event.remove(s.engine, "after_cursor_execute", reader_done)
    assert not first[0]
    s.record_decisions([_row(episode="next")])
    assert _wal_frames(s) <= 30  # one decision's pages, not the 200 decisions' before it
    assert s.count("decisions") == 201
    writer.close()
    reader.close()
    s.dispose()


def test_checkpoint_holds_decision_writes_only_while_restarting(sqlite_url):
    """While the checkpoint holds the group-commit lock, a decision write waits for it (so
    RESTART finds no writer); it goes through once the lock is released."""
    s = DecisionStore(sqlite_url)
    s.create_all()
    done = threading.Event()
    with s._decision_writes.held():
        t = threading.Thread(target=lambda: (s.record_decisions([_row()]), done.set()))
        t.start()
        assert not done.wait(0.3)
    assert done.wait(30)
    t.join()
    assert s.count("decisions") == 1
    s.dispose()


def test_checkpoint_does_not_wait_for_a_reader_on_an_old_snapshot(sqlite_url, tmp_path):
    """A reader holding an old snapshot (a long dashboard query) would make RESTART wait the
    whole busy timeout (30 s) with the writers held off; it gives up at once instead, and the
    connection's busy timeout is back to 30 s afterwards."""
    import sqlite3
    import time

    s = DecisionStore(sqlite_url)
    s.create_all()
    s.record_decisions([_row(episode="old")])
    reader = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    reader.execute("BEGIN")
    reader.execute(f"SELECT count(*) FROM {s.decisions.name}").fetchone()  # snapshot held
    s.record_decisions([_row(episode="new")])
    started = time.monotonic()
    s.checkpoint()
    assert time.monotonic() - started < 5
    reader.execute("COMMIT")
    reader.close()
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    s.dispose()


def test_concurrent_first_drift_refreshes_create_the_watch_row_once(store):
    """Two workers' first drift refreshes of a version both find no watch row (the rows are read
    and stepped without a lock): one creates it, the other stands back (no IntegrityError), and
    every decision is counted once."""
    store.record_decisions([_row(episode=f"d{i}") for i in range(5)])
    both_read = threading.Barrier(2, timeout=30)
    results: list = []
    errors: list[BaseException] = []

    def step(state, rows):
        assert state is None  # each saw no row: the race
        both_read.wait()
        return {"status": "ok", "n": len(rows), "errors": 0, "state": {}}, False

    def refresh() -> None:
        try:
            results.append(store.operation.advance_drift("m1", "p1", step))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = [r for r in store.operation.watch_rows("m1", "p1") if r["kind"] == "drift"]
    assert len(rows) == 1 and rows[0]["n"] == 5
    written = [values for values, _ in results if values is not None]
    assert len(written) == 1 and written[0]["n"] == 5


def test_concurrent_writers_share_commits_and_each_returns_after_its_own(store):
    """Group commit: 8 threads x 25 writes are all stored, in fewer transactions than writes, and
    a bad write fails only its own caller."""
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        barrier.wait()
        for i in range(25):
            try:
                store.record_decisions([_row(episode=f"g{k}-{i}")])
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and store.count("decisions") == 200
    assert store._decision_writes.commits <= 200
    taken = _row()
    store.record_decisions([taken])
    with pytest.raises(Exception):  # noqa: B017 - the duplicate key: only this caller fails
        store.record_decisions([dict(taken)])
    store.record_decisions([_row(episode="after")])
    assert store.count("decisions") == 202


def test_group_commit_carries_waiting_writers_in_one_transaction():
    """While one commit is slow, the writers that queue behind it go in the next one together."""
    import contextlib
    import time

    from service.store import GroupCommit

    committed: list[int] = []

    class SlowEngine:
        @contextlib.contextmanager
        def begin(self):
            batch = []
            yield type("Conn", (), {"execute": lambda _self, _stmt, rows: batch.extend(rows)})()
            time.sleep(0.05)
            committed.append(len(batch))

    group = GroupCommit(SlowEngine(), statement=None)
    threads = [threading.Thread(target=group.write, args=([{"k": k}],)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(committed) == 8 and group.commits == len(committed) <= 3


def test_an_outcome_marks_its_decision_coded_and_an_upgrade_backfills_it(store):
    import sqlalchemy as sa

    rows = [_row(route="assist", episode="c1"), _row(route="manual", episode="c2")]
    store.record_decisions(rows)
    store.record_outcome(rows[0]["decision_id"], ["I10."], True)
    assert store.get_decision(rows[0]["decision_id"])["coded_at"] is not None
    assert store.get_decision(rows[1]["decision_id"])["coded_at"] is None
    # a store written before the column existed: the upgrade adds it and backfills it
    name = store.decisions.name
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"DROP INDEX IF EXISTS ix_{name.removesuffix('decisions')}decisions_waiting"))
        conn.execute(sa.text(f"ALTER TABLE {name} DROP COLUMN coded_at"))
    again = DecisionStore(store.url, table_prefix=name.removesuffix("decisions"))
    again.create_all()
    assert again.get_decision(rows[0]["decision_id"])["coded_at"] is not None
    assert again.get_decision(rows[1]["decision_id"])["coded_at"] is None
    again.dispose()


def test_direct_insert_writes_what_core_writes(sqlite_url):
    """SQLite's decision writes skip Core's execution (DirectInsert): every column type reads back
    as Core's own write of the same row does, and driver errors are SQLAlchemy's."""
    import datetime as dt

    import sqlalchemy as sa

    from service.store import DirectInsert

    s = DecisionStore(sqlite_url)
    s.create_all()
    assert s._decision_writes._direct is not None  # the service's SQLite path
    full = {**_row(), "care_setting": "inpatient", "policy_route": "automate", "mode": "live",
            "audit": True, "holdout": False, "queue": "cardio", "priority": 0.25,
            "discharge_date": dt.date(2024, 2, 29), "text": "note",
            "decision": {"codes": [{"code": "I10.", "p": 0.5}], "nan": float("nan"), "n": None}}
    direct, core = dict(full), {**full, "decision_id": new_decision_id()}
    DirectInsert(s.engine, s.decisions.insert())([direct, {**_row(), "episode_id": "sparse"}])
    with s.engine.begin() as conn:
        conn.execute(s.decisions.insert(), [core])
    a, b = s.get_decision(direct["decision_id"]), s.get_decision(core["decision_id"])
    a.pop("decision_id"), b.pop("decision_id")
    assert repr(a) == repr(b)  # repr: NaN != NaN
    assert s.latest_decision_for_episode("sparse")["care_setting"] is None
    with pytest.raises(sa.exc.IntegrityError):
        s.record_decisions([direct])
    s.dispose()



def test_direct_state_read_sees_what_core_sees_and_another_workers_commit(sqlite_url):
    """SQLite's per-request read of the policy states skips Core (DirectSelect): the same states
    as Core's read, and a state another worker (another store on the file) commits is seen on
    the next read, as the operation loop requires; a statement needing conversion is refused."""
    import sqlalchemy as sa

    from service.store import DirectSelect

    a, b = DecisionStore(sqlite_url), DecisionStore(sqlite_url)
    a.create_all()
    ops = a.operation
    assert ops._direct_states is not None  # the service's SQLite path
    ops.ensure_states("m1", "p1", ["inpatient", "day_case"], "shadow")
    with a.engine.connect() as conn:
        core = dict(conn.execute(ops._select_states, {"mv": "m1", "pv": "p1"}).all())
    assert ops.current_states("m1", "p1") == core == {"inpatient": "shadow", "day_case": "shadow"}
    assert ops.current_states("m1", "other") == {}
    b.operation.set_state("m1", "p1", "inpatient", "live", kind="state_change", actor_role="admin",
                          key_fingerprint=None, reason="test")
    assert ops.current_states("m1", "p1") == {"inpatient": "live", "day_case": "shadow"}
    with pytest.raises(ValueError, match="conversion"):
        DirectSelect(a.engine, sa.select(a.decisions.c.created_at))
    a.dispose()
    b.dispose()


def test_direct_statements_keep_their_connections_out_of_the_pool(sqlite_url):
    """SQLite's direct INSERT and state read run on connections kept between calls (no pool
    checkout per request), still with the engine's pragmas; one that failed is rolled back and
    reused, a concurrent caller gets its own, and dispose closes them all."""
    import sqlalchemy as sa

    from service.store import DriverConnections

    s = DecisionStore(sqlite_url)
    s.create_all()
    kept = DriverConnections.of(s.engine)
    assert kept is not None and DriverConnections.of(s.engine) is kept
    checkouts = []
    sa.event.listen(s.engine, "checkout", lambda *a: checkouts.append(1))
    first = _row()
    s.record_decisions([first])
    assert len(checkouts) == 1 and len(kept._opened) == 1  # opened once, through the pool
    (raw,) = kept._opened
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # the connect event's pragma
    for _ in range(5):
        s.record_decisions([_row()])
        s.operation.current_states("m1", "p1")
    with pytest.raises(sa.exc.IntegrityError):  # as Core raises it
        s.record_decisions([first])
    s.record_decisions([_row()])  # the failed one was rolled back and serves again
    assert len(checkouts) == 1 and kept._opened == [raw] and not raw.in_transaction
    assert s.count("decisions") == 7
    busy = kept.take()  # another caller holds one: the next call opens a second
    s.record_decisions([_row()])
    assert len(kept._opened) == 2
    kept.give_back(busy)
    s.dispose()
    assert kept._opened == [] and kept._idle == []
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        raw.execute("SELECT 1")
    s.record_decisions([_row()])  # a store used after dispose opens a new one
    assert s.count("decisions") == 9
    s.dispose()


def test_dispose_closes_a_connection_in_use_only_once_it_is_given_back(sqlite_url):
    """A statement still running at dispose (the drift read's thread at shutdown) keeps its
    connection until it gives it back: closing it under the statement crashed the process."""
    from service.store import DriverConnections

    s = DecisionStore(sqlite_url)
    s.create_all()
    s.record_decisions([_row()])
    kept = DriverConnections.of(s.engine)
    (idle,) = kept._opened
    busy = kept.take()  # the idle one, taken by a caller still at work
    assert busy is idle
    spare = kept.take()  # opened for a second caller, then given back: idle at dispose
    kept.give_back(spare)
    s.dispose()
    with pytest.raises(sqlite3.ProgrammingError):  # the idle one: closed at once
        spare.execute("SELECT 1")
    assert busy.execute("SELECT count(*) FROM triage_decisions").fetchone() == (1,)  # still usable
    kept.give_back(busy)
    with pytest.raises(sqlite3.ProgrammingError):  # closed as it came back
        busy.execute("SELECT 1")
    assert kept._opened == [] and kept._idle == [] and not kept._retired
    s.record_decisions([_row()])  # a store used after dispose opens a new one
    assert s.count("decisions") == 2
    s.dispose()


def test_create_all_drops_the_indexes_no_read_uses(database_url):
    """A store an earlier version created keeps its data and loses the decisions indexes no read
    uses (each cost every decision's INSERT a page); a new store never has them."""
    import sqlalchemy as sa

    from service.store import OBSOLETE_DECISION_INDEXES

    prefix = f"x{uuid.uuid4().hex[:8]}_"
    s = DecisionStore(database_url, table_prefix=prefix)
    s.create_all()
    names = {i["name"] for i in sa.inspect(s.engine).get_indexes(s.decisions.name)}
    assert not {f"ix_{prefix}{n}" for n in OBSOLETE_DECISION_INDEXES} & names
    assert {f"ix_{prefix}decisions_versions", f"ix_{prefix}decisions_created"} <= names
    with s.engine.begin() as conn:  # as the earlier version left it
        conn.execute(sa.text(f"CREATE INDEX ix_{prefix}decisions_setting_created "
                             f"ON {s.decisions.name} (care_setting, created_at)"))
        conn.execute(sa.text(f"CREATE INDEX ix_{prefix}decisions_route_created "
                             f"ON {s.decisions.name} (route, created_at)"))
    s.record_decisions([_row()])
    again = DecisionStore(database_url, table_prefix=prefix)
    again.create_all()
    assert {i["name"] for i in sa.inspect(again.engine).get_indexes(s.decisions.name)} == names
    assert again.count("decisions") == 1
    again.create_all()  # idempotent
    again.drop_all()
    again.dispose()
    s.dispose()


def test_a_store_left_without_dispose_closes_its_kept_connections(tmp_path):
    """The registry of kept connections holds its engine weakly: a store dropped without
    dispose takes its engine and its driver connections with it (no file handle left open)."""
    import gc
    import weakref

    from service.store import DriverConnections

    s = DecisionStore(f"sqlite:///{tmp_path / 'gone.db'}")
    s.create_all()
    s.record_decisions([_row()])
    kept = weakref.ref(DriverConnections.of(s.engine))
    engine = weakref.ref(s.engine)
    del s
    gc.collect()
    assert engine() is None and kept() is None


def test_an_in_memory_store_keeps_the_pool():
    from service.store import DriverConnections

    s = DecisionStore("sqlite://")
    s.create_all()
    assert DriverConnections.of(s.engine) is None
    s.record_decisions([_row()])
    assert s.count("decisions") == 1
    s.dispose()


def test_drift_reads_whether_each_decision_had_unknown_codes(store):
    """The drift refresh fetches only the decision's unknown codes, on SQLite and PostgreSQL."""
    import time

    for codes in (["X99.9"], [], None):
        row = _row()
        if codes is not None:
            row["decision"] = {**row["decision"], "unknown_codes": codes}
        store.record_decisions([row])
        time.sleep(0.002)  # created_at orders the rows
    seen = []

    def step(state, rows):
        seen.extend(bool(r[3]) for r in rows)
        return {"status": "ok", "n": len(rows), "errors": 0, "state": {}}, False

    store.operation.advance_drift("m1", "p1", step)
    assert seen == [True, False, False]


def test_a_drift_refresh_that_lost_the_race_stores_nothing(store):
    """Rows are read and stepped without a lock: a refresh whose watch moved on meanwhile (another
    worker stored first) stores nothing, so no decision is counted twice."""
    def step(state, rows):
        n = (state or {}).get("n", 0) + len(rows)
        return {"status": "ok", "n": n, "errors": 0, "state": {"n": n}}, False

    store.record_decisions([_row(episode="r1")])
    assert store.operation.advance_drift("m1", "p1", step)[0]["n"] == 1
    store.record_decisions([_row(episode="r2")])

    def racing_step(state, rows):  # another worker stores the same rows while this one steps
        store.operation.advance_drift("m1", "p1", step)
        return step(state, rows)

    assert store.operation.advance_drift("m1", "p1", racing_step) == (None, False)
    drift = next(r for r in store.operation.watch_rows("m1", "p1") if r["kind"] == "drift")
    assert drift["state"]["n"] == 2



def test_a_drift_refresh_that_lost_the_race_reads_on_from_the_winner(store):
    """The loser of a race does not leave decisions routed before it was called uncounted: it reads
    on from the winner's watermark (the watch's reading seen next is up to date), still counting
    each decision once."""
    import time

    def step(state, rows):
        n = (state or {}).get("n", 0) + len(rows)
        return {"status": "ok", "n": n, "errors": 0, "state": {"n": n}}, False

    store.record_decisions([_row(episode="r1")])
    store.operation.advance_drift("m1", "p1", step)
    time.sleep(0.002)
    store.record_decisions([_row(episode="r2")])
    raced = []

    def racing_step(state, rows):
        if not raced:  # another worker stores r2 while this one steps; then r3 arrives
            raced.append(store.operation.advance_drift("m1", "p1", step)[0]["n"])
            time.sleep(0.002)
            store.record_decisions([_row(episode="r3")])
        return step(state, rows)

    values, _ = store.operation.advance_drift("m1", "p1", racing_step)
    assert raced == [2] and values["n"] == 3
    drift = next(r for r in store.operation.watch_rows("m1", "p1") if r["kind"] == "drift")
    assert drift["state"]["n"] == 3


def test_sqlite_direct_drift_read_steps_as_core_read(tmp_path):
    """SQLite's drift read on the driver's cursor (DriftRead) feeds the drift test the rows Core's
    read feeds it, refresh after refresh: same rows in the same order, the same truth of each
    decision's unknown codes (whatever JSON they hold), the same drift state and watermark, also
    when a refresh's limit falls inside decisions sharing one created_at."""
    from datetime import timedelta

    import numpy as np

    from service.operation import drift_step
    from triage.operation.drift import DriftReference

    rng = np.random.default_rng(5)
    settings = rng.choice(["inpatient", "observation", "day_case"], 200)
    ref = DriftReference.from_calibration(rng.beta(5, 2, 200), settings,
                                          {"inpatient": 0.8, "observation": 0.7, "day_case": None})
    direct, core = (DecisionStore(f"sqlite:///{tmp_path / f'{name}.db'}") for name in ("d", "c"))
    core.operation._drift_read = None  # the path PostgreSQL takes
    assert direct.operation._drift_read is not None
    for s in (direct, core):
        s.create_all()
    start = utcnow().replace(microsecond=0)  # every other time's ISO text has no fraction
    codes = [[], ["X99.9"], "absent", None, {}, {"a": 1}, "", "x", 0, 0.0, 2, False, True, [[]]]
    rows = []
    for i in range(40):
        row = _row(route="automate" if i % 3 else "manual", mv="m1" if i % 7 else "m2")
        row["p_correct"] = float(rng.random())
        row["care_setting"] = [None, "inpatient", "observation", "day_case", ""][i % 5]
        row["policy_route"] = "automate" if i % 2 else None
        row["created_at"] = start + timedelta(milliseconds=500 * (i // 3))  # three to a time
        if codes[i % len(codes)] != "absent":
            row["decision"] = {**row["decision"], "unknown_codes": codes[i % len(codes)]}
        rows.append(row)

    def refresh(s, seen, batch):
        def step(state, got):
            seen.append([(r[0], r[1], r[2], bool(r[3]), r[5]) for r in got])
            return drift_step(state, got, ref, 0.01)
        return s.operation.advance_drift("m1", "p1", step, batch=batch)

    seen_direct, seen_core, marks = [], [], []
    for part, batches in ((rows[:24], (4, 4, 50)), (rows[24:], (2, 50, 50))):
        for s in (direct, core):
            s.record_decisions(part)
        for batch in batches:  # 4 and 2 end a read inside a tie (three rows to a created_at)
            (a, warned_a), (b, warned_b) = (refresh(direct, seen_direct, batch),
                                            refresh(core, seen_core, batch))
            assert (a is None) == (b is None) and warned_a == warned_b
            if a is not None:
                assert a["state"] == b["state"] and a["n"] == b["n"] and a["status"] == b["status"]
                marks.append(a["state"]["watermark"])
    assert seen_direct == seen_core
    counted = [r for batch in seen_direct for r in batch]
    assert len(counted) == sum(r["model_version"] == "m1" for r in rows)  # each decision once
    assert len({r[4] for r in counted}) == len(counted)
    assert {r[3] for r in counted} == {True, False}
    assert any("." not in m[0] for m in marks) and any("." in m[0] for m in marks)
    mark = next(r for r in direct.operation.watch_rows("m1", "p1"))["state"]["watermark"]
    last = max((r for r in rows if r["model_version"] == "m1"),
               key=lambda r: (r["created_at"], r["decision_id"]))
    assert mark == [last["created_at"].replace(tzinfo=None).isoformat(), last["decision_id"]]
    after = direct.operation._drift_read._after  # walks created_at on from the watermark, not
    args = {"mv": "m1", "pv": "p1", "at": "x", "id": "y", "limit": 9, **after.fixed}  # the version
    with direct.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {after.sql}",
                                    tuple(args[n] for n in after.names)).all()
    assert "decisions_created" in str(plan) and "decisions_versions" not in str(plan)
    for s in (direct, core):
        s.dispose()


@pytest.mark.postgres
def test_postgres_pings_a_connection_only_after_it_sat_idle(monkeypatch):
    """No ping for a connection used a moment ago (the per-request reads and writes); one idle
    longer than PING_IDLE_SECONDS is pinged, and replaced before use when the server dropped it;
    a dropped connection used a moment ago fails its statement once, and the next works."""
    import time

    import sqlalchemy as sa
    from conftest import POSTGRES_URL, postgres_available

    import service.store as store_module

    if not postgres_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is unreachable")
    s = DecisionStore(POSTGRES_URL, table_prefix=f"g{uuid.uuid4().hex[:8]}_")
    s.create_all()
    pings = []
    real_ping = s.engine.dialect.do_ping
    monkeypatch.setattr(s.engine.dialect, "do_ping", lambda c: pings.append(1) or real_ping(c))

    def backend() -> int:
        with s.engine.connect() as conn:
            return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()

    def terminate(pid: int) -> None:
        with sa.create_engine(POSTGRES_URL).connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})

    first = backend()
    for _ in range(20):  # the request path: a checkout at a time, each a moment after the last
        s.record_decisions([_row()])
        s.operation.current_states("m1", "p1")
    assert pings == [] and backend() == first
    monkeypatch.setattr(store_module, "PING_IDLE_SECONDS", 0.05)
    time.sleep(0.1)
    assert backend() == first and pings == [1]  # idle: pinged, alive, kept
    terminate(first)
    time.sleep(0.1)
    second = backend()  # idle and dropped: replaced before use, no error
    assert second != first and len(pings) == 2
    monkeypatch.setattr(store_module, "PING_IDLE_SECONDS", 3600.0)
    terminate(second)
    with pytest.raises(sa.exc.OperationalError):  # used a moment ago: its statement fails (a 503)
        backend()
    assert backend() not in (first, second)  # and the pool serves a new one
    s.record_decisions([_row()])
    assert s.count("decisions") == 21
    s.drop_all()
    s.dispose()
