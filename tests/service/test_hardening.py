"""The service's hardened edges: reload only from the model root or the registry, never running a
model file's code; control characters escaped in logs; one key's requests bounded."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import httpx
import joblib
import pytest

from service.api.guard import EscapeControl, escape_control
from service.loading import reload_target


class Hostile:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_reload_target_allows_the_root_and_the_registry_only(tmp_path):
    root = tmp_path / "models"
    (root / "router").mkdir(parents=True)
    assert reload_target(str(root / "router"), root) == str((root / "router").resolve())
    assert reload_target("models:/coding-triage-router@champion", root).startswith("models:/")
    assert reload_target("models:/coding-triage-router/3", root).endswith("/3")
    for bad in (str(tmp_path / "elsewhere"), str(root / ".." / "x"), "file:///etc", "s3://b/k", "runs:/abc/router",
                "http://evil/m", "models:/../../x", "models:/a@b\nc"):
        with pytest.raises(ValueError):
            reload_target(bad, root)
    (root / "link").symlink_to(tmp_path)  # a symlink out of the root is resolved and refused
    with pytest.raises(ValueError):
        reload_target(str(root / "link"), root)


def test_reload_of_a_pickled_bundle_never_runs_it(app_factory, sqlite_url, keys, tmp_path, base_router,
                                                   monkeypatch):
    from service.loading import load_router

    marker = tmp_path / "ran"
    root = tmp_path / "models"
    bad = root / "evil"
    bad.mkdir(parents=True)
    joblib.dump({"features": Hostile(marker)}, bad / "components.joblib")
    (bad / "manifest.json").write_text(json.dumps({"format": 1}))
    monkeypatch.chdir(root)
    c = app_factory(sqlite_url, model_root=".")
    c.app.state.router_loader = load_router
    r = c.post("/v1/admin/reload", json={"model": "evil"}, headers=keys["admin"])
    assert r.status_code == 422 and "LegacyPickle" in r.text  # (the message, cut at 120 characters)
    assert not marker.exists()
    r = c.post("/v1/admin/reload", json={"model": str(tmp_path)}, headers=keys["admin"])
    assert r.status_code == 403 and "model root" in r.text
    r = c.post("/v1/admin/reload", json={"model": "file:///etc"}, headers=keys["admin"])
    assert r.status_code == 403


def test_log_lines_escape_control_characters(caplog):
    assert escape_control("a\nb\r\x1b[31m\u2028") == "a\\nb\\r\\x1b[31m\\u2028"
    logger = logging.getLogger("service.test-escape")
    logger.addFilter(EscapeControl())
    with caplog.at_level(logging.WARNING, logger="service.test-escape"):
        logger.warning("reload of %s failed", "models/x\nINFO forged line")
    assert caplog.records[-1].getMessage() == "reload of models/x\\nINFO forged line failed"


def test_one_key_waits_its_turn_and_gets_429_past_the_queue(app_factory, sqlite_url, keys, make_router, episode):
    c = app_factory(sqlite_url, router=make_router(delay=0.3), max_concurrent_per_key=1, max_queued_per_key=1)
    # more codes than are routed on the event loop: these run in the threadpool, side by side
    episode = {**episode, "code_scores": {**episode["code_scores"], **{f"Q{i:02d}.9": 0.01 for i in range(70)}}}

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=c.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            async def one(key):
                r = await client.post("/v1/route", json=episode, headers=key)
                return r.status_code
            return await asyncio.gather(*[one(keys["router"]) for _ in range(4)], one(keys["admin"]))

    codes = asyncio.run(burst())
    # one runs, one waits, two are refused; the other key is not held by them
    assert sorted(codes[:4]) == [200, 200, 429, 429] and codes[4] == 200


def test_openapi_documents_the_limits(sqlite_client):
    from triage.decisions.validation import MAX_CODES, TEXT_MAX_CHARS

    doc = sqlite_client.get("/openapi.json").json()
    episode = doc["components"]["schemas"]["Episode"]["properties"]
    scores = episode["code_scores"]
    assert f'"maxProperties": {MAX_CODES}' in json.dumps(scores)
    assert str(TEXT_MAX_CHARS) in json.dumps(episode["text"])
    assert "429" in doc["paths"]["/v1/route"]["post"]["responses"]
