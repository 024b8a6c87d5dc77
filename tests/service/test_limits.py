"""service.api.limits.KeyConcurrency on its own: slots, order, refusals and cancellations."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from service.api.limits import KeyConcurrency


def _limit(app, running: int, queued: int) -> KeyConcurrency:
    settings = SimpleNamespace(max_concurrent_per_key=running, max_queued_per_key=queued)
    return KeyConcurrency(app, api_app=SimpleNamespace(state=SimpleNamespace(settings=settings)))


def _scope(key: str = "k1", path: str = "/v1/route") -> dict:
    return {"type": "http", "path": path, "state": {"key_fingerprint": key, "request_id": "r"}}


class _Held:
    """An app whose requests run until released, recording the order they started in."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release: dict[str, asyncio.Event] = {}

    async def __call__(self, scope, receive, send) -> None:
        name = scope["name"]
        self.started.append(name)
        self.release[name] = event = asyncio.Event()
        await event.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})


async def _call(limit: KeyConcurrency, name: str, key: str = "k1") -> int:
    sent: list[dict] = []

    async def send(message) -> None:
        sent.append(message)

    await limit({**_scope(key), "name": name}, None, send)
    return sent[0]["status"]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_waiters_run_in_arrival_order_and_past_the_queue_get_429():
    async def scenario() -> tuple[list[str], list[int]]:
        app = _Held()
        limit = _limit(app, running=1, queued=2)
        tasks = []
        for name in "abcd":
            tasks.append(asyncio.create_task(_call(limit, name)))
            await _settle()
        assert app.started == ["a"]  # b and c wait, d is refused at once
        assert tasks[3].done() and tasks[3].result() == 429
        for name in "abc":
            await _settle()
            app.release[name].set()
            await _settle()
        codes = await asyncio.gather(*tasks)
        assert limit._gates == {}  # no request in flight: no gate kept
        return app.started, codes

    started, codes = asyncio.run(scenario())
    assert started == ["a", "b", "c"] and codes == [200, 200, 200, 429]


def test_other_keys_and_unkeyed_paths_are_never_held():
    async def scenario() -> list[str]:
        app = _Held()
        limit = _limit(app, running=1, queued=0)
        first = asyncio.create_task(_call(limit, "a", key="k1"))
        other = asyncio.create_task(_call(limit, "b", key="k2"))
        await _settle()
        sent: list[dict] = []

        async def send(message) -> None:
            sent.append(message)

        health = asyncio.create_task(limit({"type": "http", "path": "/healthz", "state": {},
                                            "name": "h"}, None, send))
        await _settle()
        started = list(app.started)
        for name in ("a", "b", "h"):
            app.release[name].set()
        await asyncio.gather(first, other, health)
        return started

    assert sorted(asyncio.run(scenario())) == ["a", "b", "h"]


@pytest.mark.parametrize("when", ["waiting", "handed_over"])
def test_a_cancelled_waiter_never_keeps_a_slot(when):
    """Cancelled while in line, or just after a finishing request handed it the slot: the next
    request in line runs, and the counts come back to zero."""

    async def scenario() -> list[str]:
        app = _Held()
        limit = _limit(app, running=1, queued=5)
        a = asyncio.create_task(_call(limit, "a"))
        await _settle()
        b = asyncio.create_task(_call(limit, "b"))
        c = asyncio.create_task(_call(limit, "c"))
        await _settle()
        if when == "waiting":
            b.cancel()
            app.release["a"].set()
        else:
            hand_over = KeyConcurrency._pass_on

            def then_cancel(gate) -> None:  # a hands b the slot; b is cancelled before it runs
                hand_over(gate)
                del limit._pass_on
                b.cancel()

            limit._pass_on = then_cancel
            app.release["a"].set()
        await _settle()
        assert "c" in app.started
        app.release["c"].set()
        await asyncio.gather(a, c)
        with pytest.raises(asyncio.CancelledError):
            await b
        assert limit._gates == {}
        return app.started

    started = asyncio.run(scenario())
    assert started[0] == "a" and started[-1] == "c" and "b" not in started
