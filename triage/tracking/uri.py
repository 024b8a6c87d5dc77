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


class TrackingStoreNotFound(FileNotFoundError):
    """A read pointed at a ``sqlite:///`` tracking URI whose file does not exist (MLflow would
    silently create an empty database there: a typo would look like "no models")."""


def existing_tracking_uri(uri: str | None = None) -> str:
    """:func:`resolve_tracking_uri`, refusing a SQLite database file that does not exist."""
    resolved = resolve_tracking_uri(uri)
    db = sqlite_path(resolved)
    if db is not None and not db.is_file():
        raise TrackingStoreNotFound(
            f"no MLflow database at {db} (tracking URI {resolved}): check --tracking-uri or "
            "MLFLOW_TRACKING_URI (`triage run` creates the database)")
    return resolved


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
    """Point MLflow's fluent API at ``uri`` for the block, then restore exactly what was there.

    ``mlflow.set_tracking_uri``/``set_registry_uri`` also export MLFLOW_TRACKING_URI and
    MLFLOW_REGISTRY_URI; restoring through them would pin the caller to whatever URI was
    resolved before, so the module state and the environment are put back as they were.
    """
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved_tracking = tracking_utils._tracking_uri
    saved_registry = registry_utils._registry_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(saved_tracking)
        registry_utils._registry_uri = saved_registry
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
