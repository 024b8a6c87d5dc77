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


def register(app: typer.Typer) -> None:
    """Add ``triage serve`` to the main app."""
    app.command("serve")(serve)
