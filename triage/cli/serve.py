"""``triage serve``: run the HTTP routing service (``service/``) under uvicorn."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def _is_uri(model: str) -> bool:
    return "://" in model or model.startswith(("models:/", "runs:/"))


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
) -> None:
    """Serve POST /v1/route and friends. API keys come from TRIAGE_API_KEYS (role:key,...)."""
    import uvicorn

    from service.core.config import Settings

    if model is not None:
        if not _is_uri(model) and not (Path(model) / "manifest.json").is_file():
            raise typer.BadParameter(
                f"{model} is not a router bundle (no manifest.json)", param_hint="--model"
            )
        os.environ["TRIAGE_MODEL_URI"] = model
    if db is not None:
        os.environ["TRIAGE_DATABASE_URL"] = db
    # One OpenMP thread per worker: 1-row LightGBM predictions only lose time to thread
    # wake-ups (measured ~15 ms vs ~2 ms per call here); scale with --workers instead.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    settings = Settings()  # fail here, with the field named, rather than in every worker
    if not settings.api_keys:
        typer.echo("warning: TRIAGE_API_KEYS is empty; every /v1 call will get 401", err=True)
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
