"""Serving helpers for the service tests that need a real HTTP server.

Start-up waits are bounded by :data:`READY_TIMEOUT` (600 s, or ``TRIAGE_TEST_READY_TIMEOUT``):
as long as a busy machine needs, not a fixed guess; a server that died fails at once with the
tail of its output.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable

import httpx
import uvicorn

READY_TIMEOUT = float(os.environ.get("TRIAGE_TEST_READY_TIMEOUT", "600"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(
    url: str,
    proc: subprocess.Popen | None = None,
    output: Callable[[], str] = lambda: "",
    timeout: float = READY_TIMEOUT,
    warm: bool = False,
) -> float:
    """Poll ``url``/readyz until 200 (and ``warm`` in its body when asked); seconds waited.

    Raises RuntimeError with the last 2,000 characters of ``output()`` when ``proc`` exited or
    the limit passed.
    """
    t0 = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"service exited with code {proc.returncode}:\n{output()[-2000:]}")
        try:
            r = httpx.get(f"{url}/readyz", timeout=5)
            if r.status_code == 200 and (not warm or r.json().get("warm")):
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"service not ready after {timeout:.0f} s:\n{output()[-2000:]}")
        time.sleep(0.2)


def wait_started(server: uvicorn.Server, thread: threading.Thread, timeout: float = READY_TIMEOUT) -> None:
    """Wait for an in-process uvicorn server to listen (bounded like :func:`wait_ready`)."""
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn exited before it started")
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start within {timeout:.0f} s")
        time.sleep(0.02)


class ThreadServer:
    """An app served by uvicorn on a free loopback port, in a daemon thread."""

    def __init__(self, app, **config) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_started(self.server, self.thread)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
