"""The hot operations (POST /v1/route, /v1/route/batch) are served by service.api.hotpath.HotRoutes,
past FastAPI's routing and dependencies: every answer (successes, 422s, 413, 503) and every metric
label must be the one FastAPI's own path gives."""

from __future__ import annotations

import json
import re

import pytest

from service.api import hotpath

OVERSIZED = 4096


def _cases(episode: dict) -> list[tuple[str, dict]]:
    """(path, httpx request keyword arguments) covering each way a hot request can end."""
    batch = {"episodes": [dict(episode, episode_id=i) for i in range(3)]}
    return [
        ("/v1/route", {"json": episode}),
        ("/v1/route", {"content": b'{"episode_id": 1,', "headers": {"content-type": "application/json"}}),
        ("/v1/route", {"json": {"episode_id": 1}}),  # code_scores missing
        ("/v1/route", {"json": {**episode, "text": 7}}),
        ("/v1/route", {"json": {**episode, "code_scores": {"I50.9": 1.5}}}),
        ("/v1/route", {"content": b'{"episode_id": 1}', "headers": {"content-type": "text/plain"}}),
        ("/v1/route", {"content": b""}),
        ("/v1/route", {"json": {**episode, "text": "secret note " * 400}}),  # over the body limit
        # the same body chunked (no Content-Length): refused as the route reads past the limit
        ("/v1/route", {"content": iter([json.dumps({**episode, "text": "secret note " * 400}).encode()]),
                       "headers": {"content-type": "application/json"}}),
        ("/v1/route/batch", {"json": batch}),
        ("/v1/route/batch", {"json": {"episodes": batch["episodes"] * 2}}),  # over batch_limit 5
        ("/v1/route/batch", {"json": {"episodes": [{"episode_id": 1}]}}),
    ]


def _answers(client, keys, cases) -> list[tuple[int, str, object]]:
    out = []
    for path, kwargs in cases:
        headers = {**keys["router"], **kwargs.pop("headers", {})}
        r = client.post(path, headers=headers, **kwargs)
        body = r.json() if "json" in r.headers.get("content-type", "") else r.text
        for d in [body, *body.get("decisions", [])] if isinstance(body, dict) else []:
            d.pop("decision_id", None)  # new for every decision
        out.append((r.status_code, r.headers.get("content-type"), body))
    return out


def _request_counts(client) -> dict[tuple[str, str], float]:
    text = client.get("/metrics").text
    found = re.findall(r'triage_http_requests_total\{method="POST",path="([^"]+)",status="(\d+)"\} '
                       r"([0-9.]+)", text)
    return {(p, s): float(n) for p, s, n in found}


def test_hot_routes_answer_as_fastapi_does(app_factory, sqlite_url, keys, episode, monkeypatch):
    client = app_factory(sqlite_url, max_body_bytes=OVERSIZED, batch_limit=5)
    served = []
    for key, handler in list(hotpath.HOT_ROUTES.items()):
        async def counting(request, _handler=handler, _key=key):
            served.append(_key)
            return await _handler(request)
        monkeypatch.setitem(hotpath.HOT_ROUTES, key, counting)
    hot = _answers(client, keys, _cases(episode))
    # all but the first 413, refused at the edge from its Content-Length before a route runs
    assert len(served) == len(_cases(episode)) - 1
    hot_counts = _request_counts(client)

    monkeypatch.setattr(hotpath, "HOT_ROUTES", {})  # FastAPI's own routing and dependencies
    fastapi = _answers(client, keys, _cases(episode))
    assert [a[0] for a in hot] == [200, 422, 422, 422, 422, 422, 422, 413, 413, 200, 422, 422]
    assert hot == fastapi
    assert all("secret note" not in str(a[2]) for a in hot)
    counts = _request_counts(client)
    assert counts == {k: 2 * n for k, n in hot_counts.items()}  # same labels, counted again
    assert hot_counts[("/v1/route", "200")] == 1 and hot_counts[("/v1/route/batch", "422")] == 2


@pytest.mark.parametrize("hot", [True, False])
def test_no_model_is_503_on_both_paths(app_factory, sqlite_url, keys, episode, monkeypatch, hot):
    client = app_factory(sqlite_url)
    if not hot:
        monkeypatch.setattr(hotpath, "HOT_ROUTES", {})
    client.app.state.router_holder.swap(None)
    for path, body in (("/v1/route", episode), ("/v1/route/batch", {"episodes": [episode]})):
        r = client.post(path, json=body, headers=keys["router"])
        assert r.status_code == 503 and r.json() == {"detail": "no model is loaded"}
    assert client.post("/v1/route", json=episode, headers=keys["unknown"]).status_code == 401


def test_requests_on_the_event_loop_share_commits(app_factory, sqlite_url, keys, episode):
    """Score-only requests served on the event loop commit together: 24 concurrent requests take
    fewer commits than requests, each answered only after the commit holding its row (every
    answered decision is stored), and a lone request still gets its own commit."""
    import asyncio

    import httpx

    client = app_factory(sqlite_url, max_concurrent_per_key=64)
    app, store = client.app, client.app.state.store
    assert hotpath.runs_inline(episode["code_scores"], None, store)
    writes = store._decision_writes

    async def send(n: int) -> list[str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            answers = await asyncio.gather(*[
                c.post("/v1/route", json=dict(episode, episode_id=i), headers=keys["router"])
                for i in range(n)])
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        return [r.json()["decision_id"] for r in answers]

    commits = writes.commits
    ids = client.portal.call(send, 24)
    shared = writes.commits - commits
    (loop_writes,) = store._loop_writes.values()  # the app's one event loop
    assert 1 <= shared < 24 and loop_writes.flushes == shared
    assert all(store.get_decision(i) is not None for i in ids)
    commits = writes.commits
    client.portal.call(send, 1)
    assert writes.commits - commits == 1


def test_a_failed_write_on_the_loop_fails_only_its_own_request():
    """LoopCommit: writes queued in one pass of the loop share one commit; one that cannot be
    stored (a duplicate id) gets its own error, the others are committed."""
    import asyncio
    import uuid

    from service.store import DecisionStore, new_decision_id, utcnow

    store = DecisionStore("sqlite://", table_prefix=f"l{uuid.uuid4().hex[:8]}_")
    store.create_all()

    def row(decision_id: str) -> dict:
        return {"decision_id": decision_id, "episode_id": "e", "route": "manual", "p_correct": 0.5,
                "model_version": "m", "policy_version": "p", "decision": {}, "text": None,
                "created_at": utcnow()}

    taken = new_decision_id()
    store.record_decisions([row(taken)])

    async def together() -> tuple[list[BaseException | None], int]:
        outcomes = await asyncio.gather(
            store.record_decisions_on_loop([row(new_decision_id())]),
            store.record_decisions_on_loop([row(taken)]),
            store.record_decisions_on_loop([row(new_decision_id()), row(new_decision_id())]),
            return_exceptions=True)
        return outcomes, store._loop_writes[asyncio.get_running_loop()].flushes

    outcomes, flushes = asyncio.run(together())
    assert outcomes[0] is None and outcomes[2] is None
    assert "IntegrityError" in type(outcomes[1]).__name__
    assert flushes == 1 and store.count("decisions") == 4
    store.dispose()


def test_a_cancelled_leader_still_commits_the_writes_queued_behind_it():
    """LoopCommit: the first writer of a pass commits for the others; cancelled in its pass (its
    client went away), it still commits them (and its own rows), so no follower waits forever."""
    import asyncio
    import uuid

    from service.store import DecisionStore, new_decision_id, utcnow

    store = DecisionStore("sqlite://", table_prefix=f"l{uuid.uuid4().hex[:8]}_")
    store.create_all()

    def row() -> dict:
        return {"decision_id": new_decision_id(), "episode_id": "e", "route": "manual",
                "p_correct": 0.5, "model_version": "m", "policy_version": "p", "decision": {},
                "text": None, "created_at": utcnow()}

    async def scenario() -> tuple[bool, object]:
        leader = asyncio.create_task(store.record_decisions_on_loop([row()]))
        follower = asyncio.create_task(store.record_decisions_on_loop([row(), row()]))
        await asyncio.sleep(0)  # the leader queued and yielded; the follower queued behind it
        leader.cancel()
        followed = await asyncio.wait_for(follower, 5)
        cancelled = False
        try:
            await leader
        except asyncio.CancelledError:
            cancelled = True
        return cancelled, followed

    cancelled, followed = asyncio.run(scenario())
    assert cancelled and followed is None
    assert store.count("decisions") == 3
    store.dispose()


def test_read_body_and_json_answer_are_starlettes():
    """hotpath.read_body gives what Request.body() gives (several chunks, a disconnect), and
    JSONAnswer sends the messages Response(body, media_type="application/json") sends."""
    import asyncio

    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response

    def receiver(messages):
        messages = list(messages)

        async def receive():
            return messages.pop(0)
        return receive

    chunks = [{"type": "http.request", "body": b'{"a":', "more_body": True},
              {"type": "http.request", "body": b"", "more_body": True},
              {"type": "http.request", "body": b"1}", "more_body": False}]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}

    async def bodies():
        ours = Request(scope, receiver(chunks))
        theirs = Request(scope, receiver(chunks))
        got = await hotpath.read_body(ours)
        assert got == await theirs.body() == await ours.body() == b'{"a":1}'
        for read in (hotpath.read_body, Request.body):
            with pytest.raises(ClientDisconnect):
                await read(Request(scope, receiver([chunks[0], {"type": "http.disconnect"}])))

    async def answers():
        sent = {"ours": [], "theirs": []}
        for name, answer in (("ours", hotpath.JSONAnswer(b'{"x":1}')),
                             ("theirs", Response(b'{"x":1}', media_type="application/json"))):
            async def send(message, name=name):
                sent[name].append(message)
            await answer(scope, None, send)
        assert sent["ours"] == sent["theirs"]

    asyncio.run(bodies())
    asyncio.run(answers())
