"""Load a router bundle from a directory or an MLflow model URI, warmed up before it serves."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("service")

_REGISTRY_URI = re.compile(r"^models:/[A-Za-z0-9][A-Za-z0-9_.\- ]{0,255}(@[A-Za-z0-9_\-]{1,255}|/[0-9]{1,9})$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


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


def reload_target(uri: str, model_root: str | Path) -> str:
    """The model an admin may ask to reload: a registry URI (``models:/NAME@alias`` or
    ``models:/NAME/VERSION``) or a bundle folder inside ``model_root`` (a relative path is read
    from the working directory, as ``TRIAGE_MODEL_URI`` is; symlinks resolved). ValueError for
    anything else: another scheme (``file://``, ``s3://``, ``runs:/``), a path outside the root."""
    if uri.startswith("models:/"):
        if not _REGISTRY_URI.match(uri):
            raise ValueError("a models:/ URI names a registered model: models:/NAME@alias or models:/NAME/VERSION")
        return uri
    if _SCHEME.match(uri):
        raise ValueError("only models:/ registry URIs or bundle folders under the model root (TRIAGE_MODEL_ROOT) "
                         "can be reloaded")
    root = Path(model_root).resolve()
    resolved = Path(uri).resolve()
    if not resolved.is_relative_to(root):
        raise ValueError(f"bundle folders must lie under the model root ({root}; TRIAGE_MODEL_ROOT)")
    return str(resolved)


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
