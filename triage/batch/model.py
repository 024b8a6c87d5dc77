"""The router a batch runs: a bundle directory, or any MLflow model URI resolved to its bundle."""

from __future__ import annotations

from pathlib import Path

from triage.decisions.errors import BatchInputError
from triage.router import MANIFEST, Router, bundle_dir


def is_model_uri(model: str) -> bool:
    return "://" in model or model.startswith(("models:/", "runs:/"))


def bundle_in(root: Path) -> Path:
    """The router bundle inside a downloaded MLflow model (or ``root`` itself)."""
    try:
        return bundle_dir(root)
    except FileNotFoundError:
        raise BatchInputError(f"{root}: no router bundle ({MANIFEST}) in this model") from None


def resolve_bundle(model: str, tracking_uri: str | None = None, dst: str | Path | None = None) -> Path:
    """Local bundle directory of ``model`` (a path, ``models:/NAME@alias``, ``runs:/...``, ...)."""
    if not is_model_uri(model):
        path = Path(model)
        if not (path / MANIFEST).is_file():
            raise BatchInputError(f"{path}: not a router bundle (no {MANIFEST}); give a bundle "
                                  "directory or an MLflow model URI such as models:/coding-triage-router@champion")
        return path
    import mlflow
    from mlflow.exceptions import MlflowException

    from triage.tracking.uri import TrackingStoreNotFound, existing_tracking_uri, tracking_uri_set

    try:
        resolved = existing_tracking_uri(tracking_uri)
    except TrackingStoreNotFound as exc:
        raise BatchInputError(str(exc)) from None
    with tracking_uri_set(resolved) as uri:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=model, dst_path=None if dst is None else str(dst), tracking_uri=uri)
        except MlflowException as exc:
            raise BatchInputError(f"cannot download model {model!r} from {uri}: {exc.message}") from None
    return bundle_in(Path(local))


def load_batch_router(bundle: str | Path, cores: int | None = None) -> Router:
    """A router for batch work.

    ``cores=None`` (the pandas engine, one process): the coder keeps its own parallelism (it
    tokenises large chunks of notes in ``n_jobs`` processes and torch uses its threads).
    ``cores=k`` (a Spark task, which owns ``k`` of the executor's cores): everything runs in the
    worker process on ``k`` threads, since Spark already runs one task per core; letting each
    task's coder start its own processes oversubscribed two cores four times over and made
    Spark slower than the pandas engine on notes (``benchmarks/bench_batch.py``).
    """
    router = Router.load(bundle)
    if hasattr(router.features, "n_jobs"):
        router.features.n_jobs = 1
    if cores is not None:
        coder = router.coder
        if coder is not None and hasattr(coder, "n_jobs"):
            coder.n_jobs = 1
        if coder is not None and hasattr(coder, "n_threads"):
            coder.n_threads = cores
        try:
            import torch

            torch.set_num_threads(cores)
        except ImportError:
            pass
    return router
