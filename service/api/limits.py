"""Fair shares between callers: at most a few requests of one API key run at once.

Routing is CPU-bound, and all requests share one process. Without a bound, one key sending many
maximal requests (thousands of scored codes each) fills the threadpool and the interpreter, and
every other caller waits behind it. This pure ASGI middleware runs after the edge guard
(:mod:`service.api.guard`, which sets the caller's key fingerprint) and before the body is read:
each key has ``max_concurrent_per_key`` requests in flight; the next ones wait their turn (in
order), and past ``max_queued_per_key`` waiting the caller gets 429 with ``Retry-After``. Health,
readiness and metrics carry no key and are never held.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


class _Gate:
    """One key's share: a semaphore plus the number of requests waiting on it."""

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.waiting = 0
        self.running = 0


class KeyConcurrency:
    """Per-key concurrency limit with a bounded wait queue (see module doc)."""

    def __init__(self, app: ASGIApp, *, api_app: Any, prefix: str = "/v1") -> None:
        self.app = app
        self.api_app = api_app
        self.prefix = prefix
        self._gates: dict[str, _Gate] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = (scope.get("state") or {}).get("key_fingerprint") if scope["type"] == "http" else None
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if key is None or not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        settings = self.api_app.state.settings
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _Gate(settings.max_concurrent_per_key)
        if gate.semaphore.locked() and gate.waiting >= settings.max_queued_per_key:
            await _too_many(send, scope, settings.max_concurrent_per_key, settings.max_queued_per_key)
            return
        gate.waiting += 1
        try:
            await gate.semaphore.acquire()
        finally:
            gate.waiting -= 1
        gate.running += 1
        try:
            await self.app(scope, receive, send)
        finally:
            gate.running -= 1
            gate.semaphore.release()
            if gate.running == 0 and gate.waiting == 0:
                self._gates.pop(key, None)


async def _too_many(send: Send, scope: Scope, running: int, waiting: int) -> None:
    request_id = ((scope.get("state") or {}).get("request_id") or "").encode()
    body = json.dumps({"detail": f"this API key already has {running} requests running and {waiting} waiting; "
                                 "retry later"}).encode()
    await send({"type": "http.response.start", "status": 429, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"), (b"x-request-id", request_id)]})
    await send({"type": "http.response.body", "body": body})
