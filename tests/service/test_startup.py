"""Start-up: ready once the bundle is loaded, code tables warm in the background; the tests'
readiness wait fails fast when the server died."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import make_settings
from fastapi.testclient import TestClient
from live import wait_ready


def test_default_loader_is_ready_before_warm_and_warms_in_background(bundle_dir, sqlite_url):
    from service.main import create_app

    app = create_app(make_settings(sqlite_url, model_uri=str(bundle_dir)))  # the default loader
    with TestClient(app) as client:
        first = client.get("/readyz").json()
        assert first["status"] == "ready" and first["model_loaded"]
        assert app.state.warm.wait(timeout=600), "warm-up never finished"
        assert client.get("/readyz").json()["warm"] is True


def test_injected_router_counts_as_warm(sqlite_client):
    assert sqlite_client.get("/readyz").json()["warm"] is True


def test_wait_ready_fails_fast_with_the_output_of_a_dead_server(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit('boom: no model')"],
                            stderr=subprocess.PIPE)
    proc.wait(timeout=60)
    with pytest.raises(RuntimeError, match="exited with code 1") as info:
        wait_ready("http://127.0.0.1:9", proc, lambda: proc.stderr.read().decode(), timeout=600)
    assert "boom: no model" in str(info.value)


def test_wait_ready_is_bounded():
    with pytest.raises(RuntimeError, match="not ready after 0 s"):
        wait_ready("http://127.0.0.1:9", timeout=0.3)
