"""``triage serve`` passes its options to the service through the environment."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from triage.cli import app


@pytest.fixture
def captured(monkeypatch):
    calls = {}
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.update(target=target, **kw))
    for var in ("TRIAGE_MODEL_URI", "TRIAGE_DATABASE_URL"):
        monkeypatch.setenv(var, "placeholder")  # records the original, restored after the test
        monkeypatch.delenv(var)
    return calls


def test_serve_sets_environment_and_runs_factory(captured, tmp_path, monkeypatch):
    bundle = tmp_path / "router"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    monkeypatch.setenv("TRIAGE_API_KEYS", "router:abc-0123456789abc")
    result = CliRunner().invoke(
        app,
        ["serve", "--model", str(bundle), "--db", "sqlite:///x.db", "--port", "9123",
         "--workers", "2"],
    )
    assert result.exit_code == 0, result.output
    assert captured["target"] == "service.main:create_app" and captured["factory"] is True
    assert captured["port"] == 9123 and captured["workers"] == 2
    import os

    assert os.environ["TRIAGE_MODEL_URI"] == str(bundle)
    assert os.environ["TRIAGE_DATABASE_URL"] == "sqlite:///x.db"


def test_serve_rejects_a_folder_that_is_not_a_bundle(captured, tmp_path):
    result = CliRunner().invoke(app, ["serve", "--model", str(tmp_path)])
    assert result.exit_code != 0
    assert "manifest.json" in result.output
    assert not captured


def test_serve_accepts_registry_uri_when_told_to_wait(captured):
    result = CliRunner().invoke(
        app, ["serve", "--model", "models:/coding-triage-router@champion", "--wait-for-model"])
    assert result.exit_code == 0, result.output
    assert captured["target"] == "service.main:create_app"
