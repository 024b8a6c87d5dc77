"""``triage batch``: route a table of episodes in bulk, in one process (pandas) or on Spark.

``io`` reads Parquet/CSV inputs in chunks and writes Parquet datasets; ``episodes`` turns rows
into router input (the one conversion the MLflow pyfunc shares); ``core`` routes one batch;
``rows`` flattens decisions; ``pandas_engine`` and ``spark_engine`` run a whole input;
``spark_job`` is the file ``spark-submit`` runs. Spark is imported only by the Spark engine.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_pandas": "pandas_engine", "run_spark": "spark_engine", "spark_session": "spark_engine",
    "BatchInputError": "errors", "Rejected": "errors", "resolve_bundle": "model",
    "route_batch": "core", "output_schema": "rows",
}

__all__ = [
    "BatchInputError", "Rejected", "output_schema", "resolve_bundle", "route_batch", "run_pandas", "run_spark",
    "spark_session",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'triage.batch' has no attribute {name!r}")
    return getattr(importlib.import_module(f"triage.batch.{_EXPORTS[name]}"), name)
