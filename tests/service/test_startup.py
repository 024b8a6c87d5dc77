"""Start-up: ready once the bundle is loaded, code tables warm in the background; the tests'
readiness wait fails fast when the server died."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest
from conftest import make_settings
from fastapi.testclient import TestClient
from live import wait_ready

from service.loading import freeze_long_lived


def test_default_loader_is_ready_before_warm_and_warms_in_background(bundle_dir, sqlite_url):
    from service.main import create_app

    app = create_app(make_settings(sqlite_url, model_uri=str(bundle_dir)))  # the default loader
    with TestClient(app) as client:
        first = client.get("/readyz").json()
        assert first["status"] == "ready" and first["model_loaded"]
        assert app.state.warm.wait(timeout=600), "warm-up never finished"
        assert client.get("/readyz").json()["warm"] is True
        # warm means frozen too: the router's and the tables' objects are out of the collector's
        # generations, so a full collection no longer walks them (the service's latency tail)
        assert gc.get_freeze_count() > 100_000
    gc.unfreeze()


def test_freeze_long_lived_reclaims_garbage_then_freezes_the_living():
    """What an earlier freeze held and has since become garbage (a replaced router's cycles) is
    collected first; what is alive is frozen: no generation the collector walks holds it."""

    class Node:
        pass

    dead = Node()
    dead.cycle = dead
    gone = weakref.ref(dead)
    gc.freeze()  # as a previous start-up or reload left it
    del dead
    alive = Node()
    alive.cycle = alive
    try:
        freeze_long_lived()
        assert gone() is None
        assert gc.get_freeze_count() > 0
        assert not any(o is alive for o in gc.get_objects())  # only the permanent generation has it
    finally:
        gc.unfreeze()
    assert any(o is alive for o in gc.get_objects())


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
