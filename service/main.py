"""The FastAPI app factory: ``uvicorn --factory service.main:create_app``."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service import dashboard
from service.api import errors
from service.api.deps import RouterHolder
from service.api.docs import install_offline_docs
from service.api.guard import EdgeGuard, install_log_filters
from service.api.hotpath import HotRoutes
from service.api.limits import KeyConcurrency
from service.api.openapi import document_edges
from service.api.routes import (
    admin,
    allocation,
    assist,
    health,
    monitoring,
    operations,
    outcomes,
    policy,
    routing,
    watch,
)
from service.core.config import Settings
from service.loading import load_router, warm_up_in_background
from service.prometheus import MetricsMiddleware, ServiceMetrics
from service.operation import Operation
from service.security import ApiKeyRegistry
from service.store import CHECKPOINT_SECONDS, DecisionStore

log = logging.getLogger("service")

#: FastAPI's ``telemetry`` setting with every signal off (its documented way to turn them off).
OPENTELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}

DESCRIPTION = """Decides who codes each discharged episode: the automated coder alone
(**automate**), a human checking the coder's suggestions (**assist**), or a human from scratch
(**manual**). Every call needs an `X-API-Key` header; roles are `router` and `admin`."""


def _load_initial(app: FastAPI) -> None:
    """Load the configured model; on failure keep serving, not ready, so an admin can reload."""
    uri = app.state.settings.resolved_model_uri()
    loader = app.state.router_loader
    # the default loader: ready once loaded, the code tables warm up in the background
    cold = loader is load_router
    try:
        loaded = load_router(uri, warm=False) if cold else loader(uri)
        routing, generation = admin.load_with_saved_policy(loaded, app.state.store)
    except Exception as exc:  # noqa: BLE001 - serve not-ready; an admin can reload
        log.error("could not load model %s: %s: %s", uri, type(exc).__name__, exc)
        return
    app.state.router_holder.install(loaded, routing, generation, model_uri=uri)
    app.state.operation.deploy(routing)
    log.info("loaded model %s (%s)", uri, routing.model_version)
    if cold:
        warm_up_in_background(routing, done=app.state.warm)
    else:
        app.state.warm.set()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    store: DecisionStore = app.state.store
    await run_in_threadpool(store.create_all)
    if app.state.router_holder.get() is None:
        await run_in_threadpool(_load_initial, app)
    else:
        await run_in_threadpool(app.state.operation.deploy, app.state.router_holder.get())
    sync = asyncio.create_task(_policy_sync_loop(app))
    checkpoints = asyncio.create_task(_checkpoint_loop(store))
    try:
        yield
    finally:
        sync.cancel()
        checkpoints.cancel()
        store.dispose()


async def _policy_sync_loop(app: FastAPI) -> None:
    """Every worker picks up a policy another worker stored (a change or a re-certification)
    within ``policy_sync_seconds``; policy states are read per request, so a fallback needs no
    wait at all."""
    holder, store = app.state.router_holder, app.state.store
    settings, operation = app.state.settings, app.state.operation
    next_drift = 0.0
    while True:
        await asyncio.sleep(settings.policy_sync_seconds)
        try:
            if await run_in_threadpool(admin.sync_policy, holder, store):
                await run_in_threadpool(operation.deploy, holder.get())
                log.info("policy %s from the store is in force", holder.get().policy.version)
            now = asyncio.get_running_loop().time()
            if holder.get() is not None and now >= next_drift:
                next_drift = now + settings.drift_refresh_seconds
                await run_in_threadpool(operation.refresh_drift, holder.get())
        except Exception as exc:  # noqa: BLE001 - a store hiccup must not end the loop
            log.warning("policy sync failed: %s", type(exc).__name__)


async def _checkpoint_loop(store: DecisionStore) -> None:
    """SQLite's WAL checkpoints, off the request path (see DecisionStore.checkpoint)."""
    if not store.is_local:
        return
    while True:
        await asyncio.sleep(CHECKPOINT_SECONDS)
        try:
            await run_in_threadpool(store.checkpoint)
        except Exception as exc:  # noqa: BLE001 - busy or locked: the next round does it
            log.debug("checkpoint skipped: %s", type(exc).__name__)


def _watch_for_metrics(app: FastAPI) -> tuple[dict[str, str], list[dict[str, Any]]]:
    routing = app.state.router_holder.get()
    if routing is None:
        return {}, []
    operation = app.state.operation
    rows = operation.ops.watch_rows(routing.model_version, routing.policy.version)
    return operation.states(routing), rows


def create_app(
    settings: Settings | None = None,
    *,
    router_loader: Callable[[str], Any] | None = None,
    router: Any = None,
) -> FastAPI:
    """Build the app. ``router_loader(uri)`` loads a model (default: bundle dir or MLflow URI);
    ``router`` pre-installs one (then nothing is loaded at start-up)."""
    settings = settings or Settings()
    api_keys = ApiKeyRegistry.from_spec(settings.api_keys)
    if not len(api_keys):
        log.warning("no API keys configured (TRIAGE_API_KEYS): every /v1 call will get 401")

    app = FastAPI(
        title="coding-triage routing service",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served from installed assets, see service/api/docs.py
        redoc_url=None,
        # no max_body_size: the edge guard enforces TRIAGE_MAX_BODY_BYTES (service.api.guard)
        # FastAPI's native OpenTelemetry looks up the global providers on every request (~3 us
        # where none is configured): only when the operator asks for it (TRIAGE_OPENTELEMETRY)
        telemetry=None if settings.opentelemetry else OPENTELEMETRY_OFF,
    )
    app.state.settings = settings
    app.state.api_keys = api_keys
    app.state.store = DecisionStore(
        settings.database_url,
        table_prefix=settings.table_prefix,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    app.state.router_loader = router_loader or load_router
    app.state.router_holder = RouterHolder(router)
    app.state.warm = threading.Event()  # set once the code-system tables are loaded
    if router is not None:
        app.state.warm.set()
    app.state.metrics = ServiceMetrics()
    app.state.operation = Operation(settings, app.state.store, app.state.metrics)
    app.state.metrics.watch_from(lambda: _watch_for_metrics(app))

    errors.install(app)
    # Order (outermost first): metrics, then the guard (request id, key check before the body
    # is read, the one error handler), the per-key concurrency limit, the hot routes served
    # straight from ASGI (POST /v1/route and /v1/route/batch), then FastAPI's own exception
    # handlers and the routes.
    app.add_middleware(HotRoutes, api_app=app)
    app.add_middleware(KeyConcurrency, api_app=app)  # inside the guard: it reads the caller's key
    app.add_middleware(EdgeGuard, api_app=app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    for module in (routing, outcomes, monitoring, watch, policy, admin, operations, allocation,
                   assist):
        app.include_router(module.router)
    app.include_router(health.router)
    install_offline_docs(app)
    dashboard.install(app)  # /dashboard: browser sessions, not API keys (EdgeGuard guards /v1)
    document_edges(app)
    install_log_filters()
    return app
