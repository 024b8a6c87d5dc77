"""Load a router bundle from a directory or an MLflow model URI."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _bundle_dir(root: Path) -> Path:
    """The directory holding manifest.json inside a downloaded artifact tree."""
    if (root / "manifest.json").is_file():
        return root
    found = sorted(root.rglob("manifest.json"), key=lambda p: len(p.parts))
    if not found:
        raise FileNotFoundError(f"no router bundle (manifest.json) under {root}")
    return found[0].parent


def load_router(uri: str) -> Any:
    """A Router from a bundle path, or from ``models:/...`` / ``runs:/...`` via MLflow."""
    from triage.router import Router

    if "://" in uri or uri.startswith(("models:/", "runs:/")):
        import mlflow

        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
        return Router.load(_bundle_dir(local))
    path = Path(uri)
    if not path.exists():
        raise FileNotFoundError(f"router bundle not found: {path}")
    return Router.load(path)
