"""Fixtures of the service tests: a router, an app on a temporary store, keyed clients."""

from __future__ import annotations

import math
import sys
import time
import types
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from triage.codes.normalize import normalize_label

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROUTER_KEY, ADMIN_KEY = "router-key-abc", "admin-key-xyz"
API_KEYS = f"router:{ROUTER_KEY},admin:{ADMIN_KEY}"


# -- test double of triage.router (ROUTER_API.md), used until the real module lands ----------
class InvalidEpisode(ValueError):
    def __init__(self, field: str, message: str, value: Any = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.value = field, message, value


@dataclass
class FakePolicy:
    automate: float = 0.9
    assist: float | None = 0.6
    kind: str = "three_way"

    @property
    def version(self) -> str:
        return f"{self.kind}-{self.automate:.3f}-{self.assist}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "version": self.version}


@dataclass
class FakeDecision:
    episode_id: Any
    route: str
    p_correct: float
    thresholds: dict
    codes: list
    principal: str | None
    model_version: str
    policy_version: str
    drg: str | None = None
    mdc: str | None = None
    drg_weight: float | None = None
    suggestions: list = field(default_factory=list)
    reasons: list = field(default_factory=list)
    queue: str | None = None
    priority: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FakeRouter:
    """Same interface as triage.router.Router; p_correct = mean score of the kept codes."""

    has_coder = False

    def __init__(self, model_version: str = "fake-1", policy: FakePolicy | None = None,
                 delay: float = 0.0) -> None:
        self.model_version = model_version
        self.policy = policy or FakePolicy()
        self.delay = delay

    def route_one(self, code_scores=None, metadata=None, text=None, episode_id=None):
        if self.delay:
            time.sleep(self.delay)
        if not code_scores:
            raise InvalidEpisode("code_scores", "episode has no scores and no text", None)
        labels: dict[str, float] = {}
        for code, score in code_scores.items():
            try:
                label = normalize_label(code)
            except ValueError as exc:
                raise InvalidEpisode("code_scores", str(exc), code) from None
            if not (0.0 <= score <= 1.0) or math.isnan(score):
                raise InvalidEpisode("code_scores", f"score of {code} outside [0, 1]", score)
            if label in labels:
                raise InvalidEpisode("code_scores", f"duplicate code {label}", code)
            labels[label] = score
        kept = sorted(((s, c) for c, s in labels.items() if s >= 0.5), reverse=True)
        p = sum(s for s, _ in kept) / len(kept) if kept else 0.0
        pol = self.policy
        route = ("automate" if p >= pol.automate
                 else "assist" if pol.assist is not None and p >= pol.assist else "manual")
        return FakeDecision(
            episode_id=episode_id, route=route, p_correct=p,
            thresholds={"automate": pol.automate, "assist": pol.assist},
            codes=[{"code": c, "description": None, "kind": "dx", "score": s} for s, c in kept],
            principal=kept[0][1] if kept else None,
            reasons=[{"feature": "mean_score", "contribution": p}],
            model_version=self.model_version, policy_version=pol.version,
        )

    def route_many(self, episodes):
        return [self.route_one(**e) for e in episodes]

    def with_policy(self, kind="three_way", alpha=None, delta=None, costs=None, capacity=None):
        if kind not in ("three_way", "two_way"):
            raise ValueError(f"unknown policy kind {kind!r}")
        automate = 1.0 - (alpha or 0.1)
        new = FakePolicy(automate, None if kind == "two_way" else 0.6, kind)
        return FakeRouter(self.model_version, new, self.delay)

    def calibration_summary(self) -> dict[str, Any]:
        return {"n": 100}


try:
    import triage.router  # noqa: F401
    HAVE_ROUTER = True
except ImportError:
    HAVE_ROUTER = False
    _mod = types.ModuleType("triage.router")
    _mod.InvalidEpisode, _mod.Router = InvalidEpisode, FakeRouter
    sys.modules["triage.router"] = _mod


# -- apps and clients ------------------------------------------------------------------------
def make_settings(database_url: str, **overrides: Any):
    from service.core.config import Settings

    values = {
        "database_url": database_url,
        "api_keys": API_KEYS,
        "model_uri": "test-model",
        "table_prefix": f"t{uuid.uuid4().hex[:8]}_",
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def make_router():
    return FakeRouter


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
