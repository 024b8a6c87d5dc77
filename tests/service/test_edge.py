"""The service's edge (issue 14): key before body, strict bounded input, the documented statuses,
no request data in any log or /metrics, allocate limits."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

MARKER = "ZQXMARKER7731"


# -- authentication before the body -------------------------------------------------------------
def _raw_call(app, method: str, path: str, headers: dict[str, str], body: bytes):
    """Drive the ASGI app directly; report the status and whether the body was ever read."""
    read = {"n": 0}
    sent: list[dict] = []

    async def receive():
        read["n"] += 1
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "server": ("test", 80), "client": ("127.0.0.1", 1),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], read["n"], payload


@pytest.mark.parametrize(
    "method, path, headers, status",
    [
        ("POST", "/v1/route", {}, 401),
        ("POST", "/v1/route/batch", {"X-API-Key": "wrong"}, 401),
        ("POST", "/v1/allocate", {}, 401),
        ("PUT", "/v1/policy", {"X-API-Key": "router-key-abc-0123"}, 403),  # router key, admin route
        ("POST", "/v1/admin/reload", {"X-API-Key": "router-key-abc-0123"}, 403),
        ("POST", "/v1/not-a-route", {}, 401),
        ("POST", "/v1/suggest", {}, 401),  # routes added later get the same edge
        ("POST", "/v1/audit", {"X-API-Key": "wrong"}, 401),
    ],
)
def test_refused_before_a_byte_of_the_body_is_read(sqlite_client, method, path, headers, status):
    big = b'{"episodes": [' + b",".join([b'{"episode_id": 1, "code_scores": {"I10": 0.9}}'] * 50_000) + b"]}"
    code, reads, payload = _raw_call(sqlite_client.app, method, path, headers, big)
    assert code == status and reads == 0
    assert "detail" in json.loads(payload)


def test_malformed_json_without_key_is_401_not_422(sqlite_client):
    r = sqlite_client.post("/v1/route", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_no_model_loaded_still_401_first(app_factory, sqlite_url, keys, episode):
    from service.core.config import Settings
    from service.main import create_app

    def failing_loader(uri):
        raise FileNotFoundError("no bundle")

    settings = Settings(database_url=sqlite_url, api_keys="router:router-key-abc-0123", model_uri="x")
    app = create_app(settings, router_loader=failing_loader)
    with TestClient(app) as c:
        assert c.post("/v1/route", json=episode).status_code == 401
        assert c.post("/v1/route", json=episode, headers=keys["router"]).status_code == 503
        assert c.get("/v1/policy").status_code == 401
        app.state.store.drop_all()


def test_request_id_on_every_answer(sqlite_client, keys, episode):
    r = sqlite_client.post("/v1/route", json=episode, headers={**keys["router"], "X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = sqlite_client.post("/v1/route", json=episode)
    assert len(r.headers["x-request-id"]) == 16
    r = sqlite_client.get("/healthz", headers={"X-Request-ID": "bad id\twith junk"})
    assert r.headers["x-request-id"] != "bad id\twith junk"


# -- strict, bounded input ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, loc_head",
    [
        ({"episode_id": True}, "episode_id"),
        ({"episode_id": 10**130}, "episode_id"),  # 129+ digits: was a 500 on PostgreSQL
        ({"episode_id": 2**53}, "episode_id"),  # past what every JSON reader holds exactly
        ({"episode_id": 1.5}, "episode_id"),
        ({"code_scores": {"I50.9": "0.9"}}, "code_scores"),
        ({"code_scores": {"I50.9": True}}, "code_scores"),
        ({"metadata": {"discharge_date": 0}}, "metadata"),
        ({"metadata": {"died": "true"}}, "metadata"),
        ({"metadata": {"age": "71"}}, "metadata"),
        ({"metadata": {"los_days": False}}, "metadata"),
        ({"code_scores": None, "text": None}, None),
        ({"code_scores": {}, "text": "   "}, None),
    ],
)
def test_lax_values_are_refused(sqlite_client, keys, episode, change, loc_head):
    r = sqlite_client.post("/v1/route", json={**episode, **change}, headers=keys["router"])
    assert r.status_code == 422, r.text
    if loc_head:
        assert r.json()["detail"][0]["loc"][1] == loc_head
    assert sqlite_client.app.state.store.count("decisions") == 0


def test_largest_episode_ids_are_stored(client, keys, episode):
    r = client.post("/v1/route", json={**episode, "episode_id": 7.0}, headers=keys["router"])
    assert r.status_code == 200 and r.json()["episode_id"] == 7  # JSON Schema: 7.0 is an integer
    for eid in (2**53 - 1, -(2**53 - 1), "x" * 128):
        r = client.post("/v1/route", json={**episode, "episode_id": eid}, headers=keys["router"])
        assert r.status_code == 200, r.text
        assert r.json()["episode_id"] == eid
        stored = client.app.state.store.get_decision(r.json()["decision_id"])
        assert stored["episode_id"] == str(eid) and stored["decision"]["episode_id"] == eid


def test_note_text_never_echoed_in_422(sqlite_client, keys):
    r = sqlite_client.post(
        "/v1/route", json={"episode_id": 1, "text": MARKER + " " * 10, "code_scores": {"I10": 2}},
        headers=keys["router"],
    )
    assert r.status_code == 422 and MARKER not in r.text
    assert r.json()["detail"][0]["loc"][-1] == "I10"  # the bad field is named, the note is not
    r = sqlite_client.post("/v1/route", json={"episode_id": 1, "text": MARKER * 90_000},
                           headers=keys["router"])
    assert r.status_code == 422 and MARKER not in r.text


# -- the OpenAPI document --------------------------------------------------------------------------
def test_openapi_lists_every_status_and_the_limits(app_factory, sqlite_url):
    c = app_factory(sqlite_url, batch_limit=7)
    schema = c.get("/openapi.json").json()
    for path, item in schema["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert "500" in codes, (method, path)
            if path.startswith("/v1"):
                assert {"401", "503"} <= codes, (method, path)
                if "requestBody" in op:
                    assert {"413", "422"} <= codes, (method, path)
    assert "403" in schema["paths"]["/v1/policy"]["put"]["responses"]
    assert "403" in schema["paths"]["/v1/admin/reload"]["post"]["responses"]
    assert "403" not in schema["paths"]["/v1/route"]["post"]["responses"]
    comps = schema["components"]["schemas"]
    assert comps["RouteBatchRequest"]["properties"]["episodes"]["maxItems"] == 7
    # the bundle has no coder: an episode needs non-empty code_scores (a note alone is refused)
    assert comps["Episode"]["anyOf"] == [
        {"required": ["code_scores"], "properties": {"code_scores": {"type": "object", "minProperties": 1}}}
    ]
    ids = comps["Episode"]["properties"]["episode_id"]["anyOf"]
    assert {"type": "integer", "minimum": -(2**53 - 1), "maximum": 2**53 - 1} in ids


# -- no request data in logs or /metrics -----------------------------------------------------------
def _error_paths(c, keys, make_router):
    """Send the marker through every way a request can fail; return the statuses seen."""
    note = f"Patient note {MARKER} chest pain"
    seen = []

    def post(path, **kw):
        r = c.post(path, **kw)
        seen.append(r.status_code)
        assert note not in r.text  # the note is never echoed back (ids may be, they are inputs)
        return r

    good = {"episode_id": "e1", "code_scores": {"I50.9": 0.9}, "text": note}
    post("/v1/route", json=good)                                             # 401
    post("/v1/route", json=good, headers={"X-API-Key": MARKER})              # 401 (key is marker)
    post("/v1/route", content=("{" + note).encode(), headers={**keys["router"],
                                                             "Content-Type": "application/json"})
    post("/v1/route", json={**good, "code_scores": {"I50.9": 7}}, headers=keys["router"])  # 422
    post("/v1/route", json={"episode_id": "e2", "text": note}, headers=keys["router"])  # no coder
    post("/v1/route", json={**good, "episode_id": MARKER + "!"}, headers=keys["router"])
    post("/v1/route/batch", json={"episodes": [good, {**good, "code_scores": {"I10": -1}}]},
         headers=keys["router"])
    post("/v1/outcomes", json={"episode_id": MARKER, "final_codes": [MARKER[:16]]},
         headers=keys["router"])                                                 # 404
    post("/v1/route", content=b'{"text": "' + note.encode() * 200_000 + b'"}',
         headers={**keys["router"], "Content-Type": "application/json"})        # 413
    # a bug in the router whose message quotes the note
    holder = c.app.state.router_holder
    router = holder.get()

    class Exploding(type(router)):
        def route_one(self, **kw):
            raise RuntimeError(f"boom while reading {kw.get('text')}")

    holder.swap(make_router(cls=Exploding))
    post("/v1/route", json=good, headers=keys["router"])                         # 500
    holder.swap(router)
    # the database fails with the decision (and the note, store_text on) in its SQL parameters
    store = c.app.state.store
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {store.decisions.name} CASCADE"
                             if store.engine.dialect.name == "postgresql"
                             else f"DROP TABLE {store.decisions.name}"))
    post("/v1/route", json=good, headers=keys["router"])                         # 500 / 503
    post("/v1/route/batch", json={"episodes": [good]}, headers=keys["router"])
    return seen


def test_marker_in_no_log_and_no_metric(app_factory, database_url, keys, make_router, caplog):
    c = app_factory(database_url, store_text=True, max_body_bytes=1024 * 1024)
    raw = TestClient(c.app, raise_server_exceptions=True)  # nothing may escape the app
    caplog.set_level(logging.DEBUG)
    for name in ("sqlalchemy.engine", "sqlalchemy.pool", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        seen = _error_paths(raw, keys, make_router)
    finally:
        for name in ("sqlalchemy.engine", "sqlalchemy.pool"):
            logging.getLogger(name).setLevel(logging.WARNING)
    assert {401, 413, 422, 404, 500} <= set(seen), seen
    assert seen[-1] in (500, 503)
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in caplog.records
    )
    errors = [r for r in caplog.records if r.name == "service" and r.levelno >= logging.ERROR]
    assert errors and all("request_id=" in r.getMessage() for r in errors)
    assert all(r.exc_info is None for r in caplog.records if r.name == "service")
    assert MARKER not in logged
    metrics = raw.get("/metrics").text
    assert MARKER not in metrics
    c.app.state.store.create_all()  # for the fixture's drop_all


def test_sqlite_disk_or_lock_failure_is_503(app_factory, sqlite_url, keys, episode, monkeypatch):
    import sqlite3

    c = app_factory(sqlite_url)
    store = c.app.state.store

    def full(*a, **k):
        raise sa.exc.OperationalError("INSERT ...", {"text": MARKER},
                                      sqlite3.OperationalError("database or disk is full"))

    # the write itself fails, whichever path carried it (the event loop's shared commit for a
    # score-only episode, the threadpool's for one with a note, the batch's)
    monkeypatch.setattr(store._decision_writes, "_insert", full)
    for path, body in [("/v1/route", episode), ("/v1/route", {**episode, "text": "a note"}),
                       ("/v1/route/batch", {"episodes": [episode]})]:
        r = TestClient(c.app).post(path, json=body, headers=keys["router"])
        assert r.status_code == 503 and r.headers["retry-after"] == "5", (path, r.status_code)
        assert MARKER not in r.text
    assert store.count("decisions") == 0


def test_access_log_drops_query_strings(caplog):
    from service.api.guard import install_log_filters

    install_log_filters()
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/v1/policy?api_key=s3cr3t-key", "1.1", 401
    )
    assert "s3cr3t-key" not in caplog.text and "/v1/policy?[redacted]" in caplog.text


# -- allocate: sizes and time ----------------------------------------------------------------------
def _roster(n):
    return [{"coder_id": f"c{i}", "specialties": ["general"], "level": "senior", "hours": 7.5}
            for i in range(n)]


def test_allocate_limits_are_413_and_422(app_factory, sqlite_url, keys):
    c = app_factory(sqlite_url, allocate_max_cells=100, allocate_max_decisions=50,
                    allocate_max_coders=10)
    ids = [f"{i:032x}" for i in range(40)]
    r = c.post("/v1/allocate", json={"roster": _roster(3), "decision_ids": ids}, headers=keys["router"])
    assert r.status_code == 413 and "TRIAGE_ALLOCATE_MAX_CELLS" in r.json()["detail"]
    r = c.post("/v1/allocate", json={"roster": _roster(11), "decision_ids": ids[:2]},
               headers=keys["router"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "roster"]
    r = c.post("/v1/allocate", json={"roster": _roster(1), "decision_ids": ids + ids[:11]},
               headers=keys["router"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "decision_ids"]
    schema = c.get("/openapi.json").json()["components"]["schemas"]["AllocateIn"]["properties"]
    assert schema["decision_ids"]["maxItems"] == 50 and schema["roster"]["maxItems"] == 10


def test_every_answer_speaks_the_standard_spelling(sqlite_client, keys):
    """No internal label (I10., I50.) in any code field of route, batch or suggest answers."""
    episode = {"episode_id": 9, "code_scores": {"I10": 0.95, "I50.9": 0.9, "B2111ZZ": 0.8, "N183": 0.4}}

    def codes(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("code", "principal", "category", "replaces") and isinstance(v, str):
                    yield v
                elif k in ("offered", "prefilled") and isinstance(v, list):
                    yield from (x for x in v if isinstance(x, str))
                else:
                    yield from codes(v)
        elif isinstance(node, list):
            for v in node:
                yield from codes(v)

    seen = []
    for path, body in (("/v1/route", episode), ("/v1/route/batch", {"episodes": [episode]}),
                       ("/v1/suggest", episode)):
        r = sqlite_client.post(path, json=body, headers=keys["router"])
        assert r.status_code == 200, (path, r.text)
        seen += list(codes(r.json()))
    assert "I10" in seen and "B2111ZZ" in seen
    assert not [c for c in seen if c.endswith(".")], seen


@pytest.mark.parametrize("path, headers", [
    ("/v1/route", {"X-API-Key": "router-key-abc-0123"}),
    ("/v1/route", {}),  # no key: the size is refused first, as Starlette's limit did
    ("/healthz", {}),
])
def test_a_body_over_the_limit_is_413_before_a_byte_is_read(app_factory, sqlite_url, keys, path,
                                                            headers):
    """service.api.guard: a Content-Length past TRIAGE_MAX_BODY_BYTES is refused at the edge
    (413, Starlette's text), whatever the route or the key, and counted under its route."""
    client = app_factory(sqlite_url, max_body_bytes=2048)
    headers = {**headers, **({"X-API-Key": keys["router"]["X-API-Key"]} if headers else {})}
    code, reads, payload = _raw_call(client.app, "POST", path, headers, b"x" * 2049)
    assert (code, reads, payload) == (413, 0, b"Content Too Large")
    code, _, _ = _raw_call(client.app, "POST", path, headers, b"x" * 2048)
    assert code != 413  # at the limit: judged by the key, the route and the body itself
    assert f'path="{path}",status="413"}} 1.0' in client.get("/metrics").text
