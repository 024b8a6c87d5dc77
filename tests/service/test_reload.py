"""Reload and policy changes under concurrent traffic: no failed or dropped request."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from live import wait_started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app_factory, sqlite_url):
    """The app served by uvicorn on a free loopback port (a real server, real threads)."""
    servers = []

    def start(router):
        client = app_factory(sqlite_url, router=router)  # creates tables, pre-installed router
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(client.app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_started(server, thread)
        servers.append((server, thread))
        return client.app, f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def test_reload_under_load_drops_nothing(live_server, make_router, keys, episode):
    app, base = live_server(make_router(model_version="v0", delay=0.003))
    generation = iter(range(1, 1000))

    def slow_load(uri):
        time.sleep(0.02)
        return make_router(model_version=f"v{next(generation)}", delay=0.003)

    app.state.router_loader = slow_load
    stop = threading.Event()

    def traffic(k):
        results = []
        with httpx.Client(base_url=base, headers=keys["router"], timeout=30) as http:
            i = 0
            while not stop.is_set() or i < 10:
                r = http.post("/v1/route", json=dict(episode, episode_id=f"t{k}-{i}"))
                results.append((r.status_code, r.json().get("model_version")))
                i += 1
        return results

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(traffic, k) for k in range(4)]
        with httpx.Client(base_url=base, headers=keys["admin"], timeout=30) as admin:
            for _ in range(8):
                assert admin.post("/v1/admin/reload").status_code == 200
                assert admin.put("/v1/policy", json={"alpha": 0.2}).status_code == 200
        stop.set()
        results = [r for f in futures for r in f.result()]
    statuses = {s for s, _ in results}
    assert statuses == {200}
    versions = {v for _, v in results}
    assert len(versions) >= 3  # requests saw several generations while reloads happened
    assert app.state.store.count("decisions") == len(results)


def test_in_flight_request_finishes_on_the_old_router(live_server, make_router, keys, episode):
    entered, release = threading.Event(), threading.Event()

    from triage.router import Router

    class Gated(Router):
        def route_one(self, **kw):
            if kw.get("episode_id") == "gated":
                entered.set()
                assert release.wait(10)
            return super().route_one(**kw)

    app, base = live_server(make_router(model_version="old", cls=Gated))
    app.state.router_loader = lambda uri: make_router(model_version="new")
    with ThreadPoolExecutor(1) as pool:
        # with a note the request runs in the threadpool (score-only ones run on the event loop)
        gated = dict(episode, episode_id="gated", text="Discharge Diagnosis:\nheart failure")
        in_flight = pool.submit(
            httpx.post, f"{base}/v1/route", json=gated,
            headers=keys["router"], timeout=30,
        )
        assert entered.wait(10)
        r = httpx.post(f"{base}/v1/admin/reload", headers=keys["admin"], timeout=30)
        assert r.status_code == 200 and r.json()["model_version"] == "new"
        # another caller (one key's requests take turns: service.api.limits)
        after = httpx.post(f"{base}/v1/route", json=episode, headers=keys["admin"], timeout=30)
        assert after.json()["model_version"] == "new"
        release.set()
        old = in_flight.result()
    assert old.status_code == 200 and old.json()["model_version"] == "old"
