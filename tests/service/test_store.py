"""The decision store on SQLite and PostgreSQL."""

from __future__ import annotations

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
    s.dispose()


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
