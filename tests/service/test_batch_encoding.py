"""POST /v1/route/batch's fast paths give what the plain paths gave: the body validated as
RouteBatchRequest validates it (same models, same errors), and each decision's answer and stored
row encoded once where they agree, byte for byte what json_response(public_decision(...)) and the
store's encoder of the stored dict wrote."""

from __future__ import annotations

import json

import pydantic_core
import pytest
from fastapi.exceptions import RequestValidationError
from router_bundle import sample_episodes

from service.api.hotpath import validate
from service.api.routes.routing import _stored, encode_decision, validate_batch
from service.api.spelling import public_decision, spelt_alike
from service.schemas import BATCH_LIMIT, RouteBatchRequest
from service.store import EncodedJSON, json_bytes, new_decision_id, to_json


def _old_stored(decision: dict, metadata: dict | None, alpha) -> dict:
    """The stored dict as the batch route built it before encode_decision (kept here verbatim,
    so a change to _stored that the fast path does not follow fails the test)."""
    stored = {**decision, "policy_alpha": alpha}
    if metadata is not None:
        stored["metadata"] = metadata
        if "discharge_date" in metadata:
            stored["discharge_date"] = metadata["discharge_date"]
    return stored


def _decisions(router, n: int = 60) -> list[tuple[dict, dict | None]]:
    episodes = sample_episodes(n, seed=11)
    for i, ep in enumerate(episodes):
        if i % 3 == 0:
            ep["metadata"]["discharge_date"] = "2026-11-20"
        if i % 5 == 0:
            ep.pop("metadata")
    decisions = [d.to_dict() for d in router.route_many(episodes)]
    for d in decisions:
        d["decision_id"] = new_decision_id()
    return [(d, ep.get("metadata")) for d, ep in zip(decisions, episodes)]


@pytest.mark.parametrize("alpha", [0.1, None, float("nan")])
def test_one_encoding_is_the_answer_and_the_stored_row_of_old(base_router, alpha):
    pairs = _decisions(base_router)
    pairs[1][0]["drg_weight"] = float("inf")  # non-finite numbers: the store's text for them
    alike = [spelt_alike(d) for d, _ in pairs]
    assert any(alike) and not all(alike)  # both paths exercised (I10. is spelt I10)
    for d, md in pairs:
        answer, stored = encode_decision(d, md, alpha, json_bytes(alpha))
        assert answer == pydantic_core.to_json(public_decision(d))  # json_response's encoding
        assert stored.text == to_json(_old_stored(d, md, alpha))
        assert stored.text == to_json(_stored(d, md, alpha))
        again = encode_decision(d, md, alpha)  # alpha encoded here, not passed in
        assert again[0] == answer and again[1].text == stored.text
        back = json.loads(stored.text.replace("NaN", "null").replace("Infinity", "null"))
        assert public_decision(back) == json.loads(answer.replace(b"Infinity", b"null"))


def test_spelt_alike_means_public_decision_changes_nothing(base_router):
    for d, md in _decisions(base_router):
        if spelt_alike(d):
            public = public_decision(d)
            assert public == d and list(public) == list(d)
        assert not spelt_alike(_old_stored(d, md, 0.1))  # stored-only keys: never alike
    d = _decisions(base_router, 3)[0][0]
    assert not spelt_alike({**d, "principal": "I10."})
    assert not spelt_alike({**d, "codes": None})  # the answer has [] there
    assert not spelt_alike({k: v for k, v in d.items() if k != "principal"})


def test_encoded_json_is_written_as_is():
    assert to_json(EncodedJSON('{"a":1}')) == '{"a":1}'
    assert to_json('{"a":1}') == '"{\\"a\\":1}"'  # a plain string is still a JSON string


def test_batch_answers_and_stored_rows_agree(client, keys):
    """Over HTTP (SQLite and PostgreSQL): the answer is byte for byte the old encoding of the
    stored rows' decisions, and each row keeps what the old route stored beside them."""
    episodes = sample_episodes(40, seed=12)
    for i, ep in enumerate(episodes):
        ep["episode_id"] = i
        if i % 4 == 0:
            ep["metadata"]["discharge_date"] = "2026-11-20"
        if i % 7 == 0:
            ep.pop("metadata")
    r = client.post("/v1/route/batch", json={"episodes": episodes}, headers=keys["router"])
    assert r.status_code == 200, r.text
    answers = r.json()["decisions"]
    store = client.app.state.store
    rows = store.get_decisions([a["decision_id"] for a in answers])
    stored = [rows[a["decision_id"]]["decision"] for a in answers]
    assert r.content == pydantic_core.to_json({"decisions": [public_decision(s) for s in stored]})
    alpha = client.app.state.router_holder.get().policy.constraints.get("alpha")
    labels = 0
    for ep, s, a in zip(episodes, stored, answers):
        assert s["policy_alpha"] == alpha and s["decision_id"] == a["decision_id"]
        md = ep.get("metadata")
        assert s.get("metadata") == md
        assert s.get("discharge_date") == (md or {}).get("discharge_date")
        row = rows[a["decision_id"]]
        assert str(row["discharge_date"]) == str((md or {}).get("discharge_date"))
        labels += any(c["code"].endswith(".") for c in s["codes"] + s["suggestions"])
    assert 0 < labels < len(stored)  # both encodings went through the store


# -- validation ---------------------------------------------------------------------------------
def _outcome(fn, body: bytes):
    try:
        return "ok", fn(body).model_dump()
    except RequestValidationError as exc:
        return "error", exc.errors()


def _bodies() -> list[bytes]:
    good = sample_episodes(4, seed=13)
    ep = good[0]
    dump = lambda value: json.dumps(value).encode()
    return [
        dump({"episodes": good}),
        dump({"episodes": [{**ep, "episode_id": 7.0}, {**ep, "episode_id": "abc-1"}]}),
        dump({"episodes": [{**ep, "metadata": {**ep["metadata"], "discharge_date": "2026-01-02"}}]}),
        dump({"episodes": [{**ep, "code_scores": {"episode_id": 0.5, "I10": 0.9}}]}),  # key in codes
        dump({"episodes": [ep, {**ep, "code_scores": {"I10": 1.5}}]}),
        dump({"episodes": [ep, {**ep, "code_scores": {"I10": True}}]}),
        dump({"episodes": [{**ep, "text": 7}]}),
        dump({"episodes": [{**ep, "metadata": {**ep["metadata"], "discharge_date": 0}}]}),
        dump({"episodes": [{**ep, "surprise": 1}]}),
        dump({"episodes": [{"episode_id": 1}]}),
        dump({"episodes": []}),
        dump({"episodes": good * 2}),  # past the limit of 5
        # past the limit, with its keys escaped: the count of the bytes does not see them
        dump({"episodes": good * 2}).replace(b'"episode_id"', b'"episode\\u005fid"'),
        # within the limit, with more "episode_id" keys in the bytes than episodes
        dump({"episodes": [{**ep, "code_scores": {"episode_id": 0.5}}] * 3}),
        b'{"episodes": [{"episode_id": 1, "code_scores": {"I10": NaN}}]}',
        b'{"episodes": [1, 2]}',
        b"[]",
        b'{"episodes": [',
    ]


def test_fast_batch_validation_gives_the_documented_models_results():
    token = BATCH_LIMIT.set(5)
    try:
        outcomes = [(_outcome(validate_batch, b), _outcome(lambda x: validate(RouteBatchRequest, x), b))
                    for b in _bodies()]
    finally:
        BATCH_LIMIT.reset(token)
    kinds = [fast[0] for fast, _ in outcomes]
    assert kinds.count("ok") >= 5 and kinds.count("error") >= 8
    for fast, documented in outcomes:
        assert repr(fast) == repr(documented)  # repr: an echoed NaN input is not equal to itself
    too_long = [o for (k, o), _ in outcomes if k == "error" and "limit is 5" in str(o)]
    assert len(too_long) == 2  # both over-limit bodies refused by the count, however keys are spelt



# -- the store ------------------------------------------------------------------------------------
def test_direct_insert_converts_shared_objects_as_each_row_alone(sqlite_url):
    """params_many converts a value shared with the row before once: the tuples are those of
    converting every row on its own (None stays None, a new object after a shared one is
    converted again)."""
    import datetime as dt

    from service.store import DecisionStore, DirectInsert, utcnow

    s = DecisionStore(sqlite_url)
    direct = DirectInsert(s.engine, s.decisions.insert())
    now, later = utcnow(), utcnow() + dt.timedelta(seconds=1)
    decision = {"codes": [], "x": float("nan")}
    rows = [{"decision_id": new_decision_id(), "episode_id": "e", "route": "assist",
             "p_correct": 0.5, "model_version": "m", "policy_version": "p",
             "decision": decision if i < 2 else {"i": i}, "created_at": now if i < 3 else later,
             "audit": i % 2 == 0, "holdout": None if i == 1 else False,
             "discharge_date": dt.date(2026, 1, 1 + i) if i % 2 else None}
            for i in range(5)]

    def alone(row):
        return tuple(process(row.get(n)) if process is not None and row.get(n) is not None
                     else row.get(n) for n, process in zip(direct.names, direct.processors))

    assert repr(direct.params_many(rows)) == repr([alone(r) for r in rows])
    assert all(repr(direct.params(r)) == repr(alone(r)) for r in rows)  # a lone row's own path
    s.dispose()


def test_encoded_decision_is_stored_as_the_dict_would_be(database_url):
    """The same column text whether the row carries the dict or its EncodedJSON (SQLite's direct
    INSERT and PostgreSQL's Core INSERT), and the same dict read back."""
    import uuid

    import sqlalchemy as sa

    from service.store import DecisionStore, utcnow

    s = DecisionStore(database_url, table_prefix=f"e{uuid.uuid4().hex[:8]}_")
    s.create_all()
    try:
        decision = {"codes": [{"code": "I10.", "score": 0.25}], "policy_alpha": None,
                    "metadata": {"age": 70.0}, "drg_weight": 1.25, "é": "\u2603 \"q\""}
        base = {"episode_id": "e", "route": "assist", "p_correct": 0.5, "model_version": "m",
                "policy_version": "p", "created_at": utcnow()}
        plain = {**base, "decision_id": new_decision_id(), "decision": decision}
        encoded = {**base, "decision_id": new_decision_id(),
                   "decision": EncodedJSON(to_json(decision))}
        s.record_decisions([plain, encoded])
        d = s.decisions
        with s.engine.connect() as conn:
            text = dict(conn.execute(sa.select(d.c.decision_id, sa.cast(d.c.decision, sa.Text))).all())
        assert text[plain["decision_id"]] == text[encoded["decision_id"]]
        a, b = s.get_decision(plain["decision_id"]), s.get_decision(encoded["decision_id"])
        assert repr(a["decision"]) == repr(b["decision"])
    finally:
        s.drop_all()
        s.dispose()


# -- decision ids and rows -----------------------------------------------------------------------
def test_batch_decision_ids_are_uuid4_hex_as_uuid4_writes_them(monkeypatch):
    """One random read for a batch's ids: each is uuid.UUID(bytes=<its 16 bytes>, version=4).hex,
    so a valid, distinct uuid4 in the same spelling as new_decision_id's."""
    import uuid

    import service.store as store_module
    from service.store import new_decision_ids

    ids = new_decision_ids(1000)
    assert len(set(ids)) == 1000
    for i in ids:
        u = uuid.UUID(hex=i)
        assert u.version == 4 and u.variant == uuid.RFC_4122 and u.hex == i and len(i) == 32
    assert len(new_decision_id()) == 32 and new_decision_ids(0) == []
    raw = bytes(range(256)) * 2  # every byte value at the version and variant positions
    monkeypatch.setattr(store_module.os, "urandom", lambda n: raw[:n])
    assert new_decision_ids(32) == [uuid.UUID(bytes=raw[16 * k:16 * k + 16], version=4).hex
                                    for k in range(32)]
    for k in range(32):  # a lone id alike
        monkeypatch.setattr(store_module.os, "urandom", lambda n, k=k: raw[16 * k:16 * k + n])
        assert new_decision_id() == uuid.UUID(bytes=raw[16 * k:16 * k + 16], version=4).hex


def _old_row(decision, episode, metadata, store_text, now, alpha):
    """The row as the batch route built it before encode_decision (verbatim: the stored dict,
    encoded by the store)."""
    text = episode.text
    discharge = None
    if metadata is not None and "discharge_date" in metadata:
        discharge = episode.metadata.discharge_date
    return {
        "decision_id": decision["decision_id"],
        "episode_id": str(decision["episode_id"]),
        "route": decision["route"],
        "p_correct": float(decision["p_correct"]),
        "model_version": decision["model_version"],
        "policy_version": decision["policy_version"],
        "decision": _old_stored(decision, metadata, alpha),
        "text": (text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
                 if (store_text and text) else None),
        "created_at": now,
        "care_setting": decision.get("care_setting"),
        "policy_route": decision.get("policy_route"),
        "mode": decision.get("mode"),
        "audit": bool(decision.get("audit")),
        "holdout": bool(decision.get("holdout")),
        "queue": decision.get("queue"),
        "priority": decision.get("priority"),
        "discharge_date": discharge,
    }


def test_batch_rows_are_stored_byte_for_byte_as_the_old_rows(app_factory, sqlite_url, keys,
                                                              monkeypatch):
    """The batch route's rows (the decision column from the answer's encoding, written on the
    driver with a larger page cache) are stored as the old dict rows written through Core are:
    every column's SQLite value and type, read back raw (quote()), in the same order."""
    import sqlite3

    from service.api.routes import routing
    from service.store import DecisionStore

    client = app_factory(sqlite_url, store_text=True)
    seen = []
    row = routing._row
    monkeypatch.setattr(routing, "_row", lambda *a: (seen.append(a), row(*a))[1])
    episodes = sample_episodes(60, seed=14)
    for i, ep in enumerate(episodes):
        ep["episode_id"] = i if i % 2 else f"ep-{i}"
        if i % 4 == 0:
            ep["metadata"]["discharge_date"] = "2026-11-20"
        if i % 7 == 0:
            ep.pop("metadata")
        if i % 3 == 0:
            ep["text"] = "Discharge note \u00e9\x00 with a NUL" if i % 2 else "note"
    r = client.post("/v1/route/batch", json={"episodes": episodes}, headers=keys["router"])
    assert r.status_code == 200, r.text
    assert len(seen) == 60
    old = DecisionStore(sqlite_url, table_prefix="old_")
    old.create_all()
    with old.engine.begin() as conn:
        conn.execute(old.decisions.insert(), [_old_row(*a[:6]) for a in seen])
    old.dispose()
    new = client.app.state.store.decisions.name
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        names = [c[1] for c in db.execute(f"PRAGMA table_info({new})")]
        select = ", ".join(f"quote({n}), typeof({n})" for n in names)
        got, want = (db.execute(f"SELECT {select} FROM {t} ORDER BY rowid").fetchall()
                     for t in (new, "old_decisions"))
    assert len(got) == 60 and got == want
    texts = [row[2 * names.index("text")] for row in got]
    assert any(t != "NULL" for t in texts) and "NULL" in texts
    dated = sum("discharge_date" in (ep.get("metadata") or {}) for ep in episodes)
    assert sum(row[2 * names.index("discharge_date")] != "NULL" for row in got) == dated > 0


def _on_new_connections(engine, setup) -> None:
    """``setup(driver connection)`` on each connection the engine opens from now on; the kept
    driver connections (service.store.DriverConnections) are closed, so the next write opens one."""
    import sqlalchemy as sa

    from service.store import DriverConnections

    sa.event.listen(engine, "checkout", lambda dbapi, _record, _proxy: setup(dbapi))
    DriverConnections.close_for(engine)


def _traced(engine, statements: list[str]) -> None:
    """Every SQL statement the engine's SQLite connections run from now on, into ``statements``."""
    _on_new_connections(engine, lambda dbapi: dbapi.set_trace_callback(statements.append))


def _count(store) -> int:
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(store.decisions)).scalar_one()


def test_a_large_decision_write_runs_with_a_larger_cache_and_puts_it_back(sqlite_url):
    """SQLite: a write of LARGE_WRITE_ROWS rows or more runs with LARGE_WRITE_CACHE_KIB of page
    cache and puts the connection's own back after its commit; a smaller write runs as before."""
    from service.store import LARGE_WRITE_CACHE_KIB, LARGE_WRITE_ROWS, DecisionStore, utcnow

    s = DecisionStore(sqlite_url)
    s.create_all()
    with s.engine.connect() as conn:
        default = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    statements: list[str] = []
    _traced(s.engine, statements)
    row = {"episode_id": "e", "route": "assist", "p_correct": 0.5, "model_version": "m",
           "policy_version": "p", "decision": {"codes": []}, "created_at": utcnow()}
    s.record_decisions([{**row, "decision_id": new_decision_id()}
                        for _ in range(LARGE_WRITE_ROWS - 1)])
    assert statements and not any("cache_size" in t for t in statements)
    statements.clear()
    s.record_decisions([{**row, "decision_id": new_decision_id()} for _ in range(LARGE_WRITE_ROWS)])
    raised, put_back = f"PRAGMA cache_size=-{LARGE_WRITE_CACHE_KIB}", f"PRAGMA cache_size={default}"
    first_insert = next(i for i, t in enumerate(statements) if t.startswith("INSERT"))
    assert statements.index(raised) < first_insert < statements.index("COMMIT")
    assert statements[-1] == put_back
    assert _count(s) == 2 * LARGE_WRITE_ROWS - 1
    s.dispose()


@pytest.mark.parametrize("failure", ["duplicate", "full"])
def test_a_failed_batch_stores_nothing_and_puts_the_cache_back(sqlite_client, keys, failure,
                                                               monkeypatch):
    """A batch whose write fails (its last decision id already stored; the database full) stores
    none of its decisions, answers as before (500; 503 with a retry), and puts the connection's
    page cache back; the next batch is stored whole."""
    from fastapi.testclient import TestClient

    from service.api.routes import routing
    from service.store import LARGE_WRITE_CACHE_KIB, DriverConnections

    store = sqlite_client.app.state.store
    episodes = sample_episodes(120, seed=15)
    r = sqlite_client.post("/v1/route/batch", json={"episodes": episodes}, headers=keys["router"])
    assert r.status_code == 200
    before = _count(store)
    with store.engine.connect() as conn:
        default = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    statements: list[str] = []
    _traced(store.engine, statements)
    limit = [pages + 8]  # full: room for a few pages, not for the batch's
    if failure == "duplicate":
        ids, taken = routing.new_decision_ids, r.json()["decisions"][-1]["decision_id"]
        monkeypatch.setattr(routing, "new_decision_ids", lambda n: [*ids(n - 1), taken])
    else:
        _on_new_connections(store.engine,
                            lambda dbapi: dbapi.execute(f"PRAGMA max_page_count={limit[0]}"))
    failed = TestClient(sqlite_client.app, raise_server_exceptions=False).post(
        "/v1/route/batch", json={"episodes": episodes}, headers=keys["router"])
    if failure == "duplicate":
        assert failed.status_code == 500
    else:
        assert failed.status_code == 503 and "retry" in failed.json()["detail"]
    raised, put_back = f"PRAGMA cache_size=-{LARGE_WRITE_CACHE_KIB}", f"PRAGMA cache_size={default}"
    write = statements[statements.index(raised):statements.index(put_back)]
    assert any(t.startswith("INSERT") for t in write) and "COMMIT" not in write
    assert _count(store) == before
    monkeypatch.undo()
    limit[0] = 1073741823  # SQLite's own bound
    DriverConnections.close_for(store.engine)
    again = sqlite_client.post("/v1/route/batch", json={"episodes": episodes}, headers=keys["router"])
    assert again.status_code == 200 and _count(store) == before + 120
