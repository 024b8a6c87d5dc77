"""Load a router bundle from a directory or an MLflow model URI, and warm it up.

At start-up the service is ready once the bundle is loaded (seconds); the code-system tables
the first routed episode touches (Elixhauser map, ICD-10-CM descriptions, MS-DRG grouper: most
of a cold start's CPU time) then load in a background thread (:func:`warm_up_in_background`). An
episode routed before that finishes is answered the same, only later. A reload warms up before
the swap, while the old model keeps serving."""

from __future__ import annotations

import gc
import logging
import re
import threading
import time
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


def freeze_long_lived() -> None:
    """Put every object alive now (the router, its code tables: ~1 million objects) out of the
    cyclic garbage collector's reach (:func:`gc.freeze`).

    Left in the collector's generations, each full collection walks them all: ~0.2-0.4 s with
    the interpreter held, every few thousand requests, which is the service's whole latency
    tail. Called once a router is loaded and warm (start-up, reload): it first unfreezes and
    collects, so what an earlier freeze held and has since become garbage (a replaced router's
    reference cycles) is reclaimed, and only the living are frozen."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.info("froze %d objects out of the cyclic GC in %.2f s", gc.get_freeze_count(),
             time.perf_counter() - started)


def warm_up_in_background(router: Any, done: threading.Event | None = None) -> threading.Thread:
    """Start :func:`warm_up` in a daemon thread; ``done`` is set when it ends (failed or not)."""

    def run() -> None:
        started = time.perf_counter()
        try:
            warm_up(router)
        except Exception as exc:  # noqa: BLE001 - the first request then pays the tables
            log.warning("warm-up failed (%s); first request will be slow", type(exc).__name__)
            return
        finally:
            # the tables loaded: the heap's long-lived part is complete, freeze it
            freeze_long_lived()
            if done is not None:
                done.set()
        log.info("warm-up done in %.1f s", time.perf_counter() - started)

    thread = threading.Thread(target=run, name="router-warm-up", daemon=True)
    thread.start()
    return thread


def load_router(uri: str, *, warm: bool = True) -> Any:
    """A Router from a bundle path, or from ``models:/...`` / ``runs:/...`` via MLflow; warmed up
    unless ``warm=False``."""
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
    if warm:
        warm_up(router)
    return router
