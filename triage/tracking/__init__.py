"""MLflow logging, model registry and the ``champion`` alias for coding-triage runs.

Names are imported lazily: MLflow takes seconds to import, so ``import triage.tracking`` stays
cheap until a name that needs it is used.
"""

from __future__ import annotations

from triage._lazy import lazy_exports

_EXPORTS = {
    "log_run": "runs", "TrackingInfo": "runs", "load_run_result": "runs", "latest_run_id": "runs",
    "load_latest_run": "runs", "run_table": "runs",
    "DEFAULT_EXPERIMENT": "runs", "RunNotFoundError": "runs",
    "export_model": "registry", "list_models": "registry", "promote": "registry",
    "decide_promotion": "registry", "model_signature": "registry", "REGISTERED_MODEL": "registry",
    "CHAMPION": "registry", "RegistryError": "registry",
    "resolve_tracking_uri": "uri", "DEFAULT_TRACKING_URI": "uri",
    "existing_tracking_uri": "uri", "TrackingStoreNotFound": "uri",
}

__all__ = [
    "CHAMPION", "DEFAULT_EXPERIMENT", "DEFAULT_TRACKING_URI", "REGISTERED_MODEL", "RegistryError",
    "RunNotFoundError", "TrackingInfo", "TrackingStoreNotFound", "decide_promotion",
    "existing_tracking_uri", "export_model", "latest_run_id", "list_models", "load_latest_run",
    "load_run_result", "log_run", "model_signature", "promote", "resolve_tracking_uri", "run_table",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
