"""Which MLflow tracking server to talk to: argument, then MLFLOW_TRACKING_URI, then ./mlflow.db."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow

#: MLflow 3's own default: a SQLite database in the working directory.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def resolve_tracking_uri(uri: str | None = None) -> str:
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative paths are relative to the CWD)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):]).resolve()


def artifact_root_for(uri: str) -> str | None:
    """Keep artifacts next to a SQLite database (``mlruns/`` beside it), as MLflow does for ./mlflow.db."""
    db = sqlite_path(uri)
    return None if db is None else (db.parent / "mlruns").as_uri()


@contextmanager
def tracking_uri_set(uri: str) -> Iterator[str]:
    """Point MLflow's fluent API at ``uri`` for the block, then restore the previous URI."""
    previous_tracking = mlflow.get_tracking_uri()
    previous_registry = mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(previous_tracking)
        mlflow.set_registry_uri(previous_registry)
