"""Fixtures of the service tests: a router, an app on a temporary store, keyed clients."""

from __future__ import annotations

import dataclasses
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from triage.router import Router

sys.path.insert(0, str(Path(__file__).parent))
from router_bundle import build_bundle

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROUTER_KEY, ADMIN_KEY = "router-key-abc-0123", "admin-key-xyz-0123"
API_KEYS = f"router:{ROUTER_KEY},admin:{ADMIN_KEY}"


# -- a real router, fitted once per session on a tiny synthetic cohort ------------------------
@dataclass
class SlowRouter(Router):
    """A real router that takes ``delay`` seconds longer per call (for in-flight tests)."""

    delay: float = 0.0

    def route_one(self, *args: Any, **kwargs: Any):
        time.sleep(self.delay)
        return super().route_one(*args, **kwargs)


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("router") / "bundle", n=600, seed=0)


@pytest.fixture(scope="session")
def base_router(bundle_dir) -> Router:
    from service.loading import load_router

    return load_router(str(bundle_dir))  # warmed up: code tables load once per session


@pytest.fixture
def make_router(base_router):
    """``make_router(model_version=..., delay=...)``: variants of the session's real router."""

    def make(model_version: str | None = None, delay: float = 0.0, cls: type = SlowRouter):
        fields = {f.name: getattr(base_router, f.name) for f in dataclasses.fields(Router)}
        if model_version is not None:
            fields["model_version"] = model_version
        return cls(**fields, delay=delay) if cls is SlowRouter else cls(**fields)

    return make


# -- apps and clients ------------------------------------------------------------------------
def make_settings(database_url: str, **overrides: Any):
    from service.core.config import Settings

    values = {
        "database_url": database_url,
        "api_keys": API_KEYS,
        "model_uri": "test-model",
        "table_prefix": f"t{uuid.uuid4().hex[:8]}_",
        # the routing tests test the policy's decisions: served as decided (the operation loop's
        # tests start in shadow, the service's default)
        "initial_policy_state": "live",
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'service.db'}"


def postgres_available() -> bool:
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, sqlite_url) -> str:
    if request.param == "sqlite":
        return sqlite_url
    if not postgres_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is unreachable")
    return POSTGRES_URL


def _client(settings, loader) -> TestClient:
    from service.main import create_app

    app = create_app(settings, router_loader=loader)
    return TestClient(app)


@pytest.fixture
def app_factory(make_router):
    """Build started apps; drop their tables afterwards (PostgreSQL is shared)."""
    started: list[TestClient] = []

    def build(database_url: str, router: Any = None, **overrides: Any) -> TestClient:
        router = router if router is not None else make_router()
        settings = make_settings(database_url, **overrides)
        client = _client(settings, lambda uri: router)
        client.__enter__()
        started.append(client)
        return client

    yield build
    for client in started:
        store = client.app.state.store
        client.__exit__(None, None, None)
        store.drop_all()
        store.dispose()


@pytest.fixture
def client(app_factory, database_url) -> TestClient:
    return app_factory(database_url)


@pytest.fixture
def sqlite_client(app_factory, sqlite_url) -> TestClient:
    return app_factory(sqlite_url)


ROUTER_HEADERS = {"X-API-Key": ROUTER_KEY}
ADMIN_HEADERS = {"X-API-Key": ADMIN_KEY}


@pytest.fixture
def episode() -> dict[str, Any]:
    return {
        "episode_id": 123,
        "code_scores": {"I50.9": 0.97, "i10": 0.95, "N183": 0.2},
        "metadata": {"age": 71, "gender": "F", "admission_type": "EW EMER.", "los_days": 4.2},
    }


@pytest.fixture
def keys() -> dict[str, dict[str, str]]:
    """Headers per role (plus a wrong key)."""
    return {"router": ROUTER_HEADERS, "admin": ADMIN_HEADERS, "unknown": {"X-API-Key": "nope"}}
