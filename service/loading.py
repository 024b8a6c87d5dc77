"""Load a router bundle from a directory or an MLflow model URI, warmed up before it serves."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("service")


def warm_up(router: Any) -> None:
    """Route one throw-away episode so the first real request does not pay for loading the
    code-system tables (descriptions, MS-DRG grouper: tens of seconds, once per process)."""
    from triage.router import InvalidEpisode

    counts = getattr(getattr(router, "features", None), "label_counts_", None) or {}
    label = next(iter(counts), "I10." if getattr(router, "icd_version", 10) == 10 else "401.9")
    try:
        router.route_one(code_scores={label: 0.9}, metadata={"age": 60}, episode_id="warm-up")
    except InvalidEpisode as exc:
        log.warning("warm-up episode rejected (%s); first request will be slow", exc.field)


def load_router(uri: str) -> Any:
    """A warmed-up Router from a bundle path, or from ``models:/...`` / ``runs:/...`` via MLflow."""
    from triage.router import Router, bundle_dir

    if "://" in uri or uri.startswith(("models:/", "runs:/")):
        import mlflow

        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
        router = Router.load(bundle_dir(local))
    else:
        path = Path(uri)
        if not path.exists():
            raise FileNotFoundError(f"router bundle not found: {path}")
        router = Router.load(path)
    warm_up(router)
    return router
