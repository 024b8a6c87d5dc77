"""``triage serve``: run the HTTP routing service (``service/``) under uvicorn.

With no model to load it refuses to start (exit 2, nothing created) unless ``--wait-for-model``:
then it serves not-ready until an admin loads one (``POST /v1/admin/reload``).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from triage.cli._output import fail


def _is_uri(model: str) -> bool:
    return "://" in model or model.startswith(("models:/", "runs:/"))


def missing_model(uri: str) -> str | None:
    """Why ``uri`` has no model to load, or None when it has one (a bundle directory with its
    manifest, or an MLflow URI that resolves in the configured tracking store)."""
    if not _is_uri(uri):
        if (Path(uri) / "manifest.json").is_file():
            return None
        what = "is not a router bundle (no manifest.json)" if Path(uri).exists() else "does not exist"
        return f"no model to serve: {uri} {what}"
    from triage.tracking.uri import TrackingStoreNotFound, existing_tracking_uri

    try:
        tracking = existing_tracking_uri()
    except TrackingStoreNotFound as exc:
        return f"no model to serve: {uri}: {exc}"
    if uri.startswith("models:/"):
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        name, _, ref = uri[len("models:/"):].partition("@")
        client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
        try:
            if ref:
                client.get_model_version_by_alias(name, ref)
            else:
                name, _, version = name.partition("/")
                client.get_model_version(name, version) if version else client.get_registered_model(name)
        except MlflowException:
            return f"no model to serve: {uri} is not registered at {tracking}"
    return None


def serve(
    model: str | None = typer.Option(
        None,
        "--model",
        help="Router bundle directory or MLflow URI (default: models:/coding-triage-router@champion "
        "when MLFLOW_TRACKING_URI is set, else models/router).",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    db: str | None = typer.Option(
        None, "--db", help="SQLAlchemy URL of the decision store (default sqlite:///triage-service.db)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (each loads the model)."),
    wait_for_model: bool = typer.Option(
        False, "--wait-for-model",
        help="Start even with no model to load: serve not-ready (503) until POST /v1/admin/reload loads one."),
) -> None:
    """Serve POST /v1/route and friends. API keys come from TRIAGE_API_KEYS (role:key,...)."""
    from service.core.config import Settings

    if model is not None:
        os.environ["TRIAGE_MODEL_URI"] = model
    if db is not None:
        os.environ["TRIAGE_DATABASE_URL"] = db
    # One OpenMP thread per worker: 1-row LightGBM predictions only lose time to thread
    # wake-ups (measured ~15 ms vs ~2 ms per call here); scale with --workers instead.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    settings = Settings()  # fail here, with the field named, rather than in every worker
    if not wait_for_model:
        reason = missing_model(settings.resolved_model_uri())
        if reason is not None:
            fail(f"{reason}. Train and export one with `triage run`, pass --model, or start with "
                 "--wait-for-model and load it later with POST /v1/admin/reload.")
    if not settings.api_keys:
        typer.echo("warning: TRIAGE_API_KEYS is empty; every /v1 call will get 401", err=True)
    import uvicorn

    # The factory reads the environment in each worker, so --workers N gets the same settings.
    uvicorn.run(
        "service.main:create_app", factory=True, host=host, port=port, workers=workers,
        log_level="info",
    )


def recertify(
    model: str | None = typer.Option(
        None, "--model", help="The deployed router bundle or MLflow URI (default as for serve)."),
    db: str | None = typer.Option(
        None, "--db", help="SQLAlchemy URL of the service's decision store."),
    alpha: float | None = typer.Option(
        None, "--alpha", min=0.0, max=1.0, help="Error bound to certify (default: the policy's)."),
    delta: float | None = typer.Option(
        None, "--delta", min=0.0, max=1.0, help="1 - confidence (default: the policy's)."),
    since: str | None = typer.Option(
        None, "--since", help="Only decisions made since this ISO date-time (e.g. the fallback)."),
    apply: bool = typer.Option(
        False, "--apply/--no-apply",
        help="Store the re-certified version: running services pick it up within a second."),
    go_live: bool = typer.Option(
        False, "--go-live/--no-go-live", help="With --apply: its certified settings go live."),
) -> None:
    """Re-certify the policy from the store's own labelled shadow, holdout and fallback outcomes
    (the same risk control as the bundle's), or say how many more labelled episodes it needs."""
    import json
    from datetime import datetime

    from service.api.deps import RouterHolder
    from service.api.routes.admin import load_with_saved_policy
    from service.core.config import Settings
    from service.loading import load_router
    from service.operation import Operation
    from service.store import DecisionStore
    from triage.cli._output import fail

    if model is not None:
        os.environ["TRIAGE_MODEL_URI"] = model
    if db is not None:
        os.environ["TRIAGE_DATABASE_URL"] = db
    settings = Settings()
    try:
        when = datetime.fromisoformat(since) if since else None
    except ValueError:
        fail(f"--since: {since!r} is not an ISO date-time")
    store = DecisionStore(settings.database_url, table_prefix=settings.table_prefix)
    try:
        store.create_all()
        loaded = load_router(settings.resolved_model_uri())
        routing, generation = load_with_saved_policy(loaded, store)
        holder = RouterHolder(routing)
        holder.base, holder.generation = loaded, generation
        try:
            out = Operation(settings, store).recertify(
                holder, since=when, alpha=alpha, delta=delta, apply=apply, go_live=go_live,
                role="admin", key_fingerprint="cli")
        except ValueError as exc:
            fail(str(exc))
    finally:
        store.dispose()
    out.pop("policy", None)
    typer.echo(json.dumps(out, indent=2, default=str))


def register(app: typer.Typer) -> None:
    """Add ``triage serve`` and ``triage recertify`` to the main app."""
    app.command("serve")(serve)
    app.command("recertify")(recertify)
