"""``triage batch``: route a table of episodes in bulk, in one process (pandas) or on Spark.

``io`` reads Parquet/CSV inputs in chunks and writes Parquet datasets; ``pandas_engine`` and
``spark_engine`` run a whole input; ``model`` resolves a bundle directory or MLflow URI;
``spark_job`` is the file ``spark-submit`` runs. Spark is imported only by the Spark engine. Rows
to router input, one batch routed, decisions to rows and rejects live in :mod:`triage.decisions`
(shared with the MLflow pyfunc and its signature).
"""

from __future__ import annotations

from triage._lazy import lazy_exports

#: ``--input-format`` choices: ``auto`` guesses from the file names; ``delta`` needs the Spark engine
INPUT_FORMATS = ("auto", "parquet", "csv", "delta")
PANDAS_INPUT_FORMATS = ("auto", "parquet", "csv")

_EXPORTS = {
    "run_pandas": "pandas_engine", "run_spark": "spark_engine", "spark_session": "spark_engine",
    "BatchInputError": "triage.decisions.errors", "Rejected": "triage.decisions.errors",
    "resolve_bundle": "model", "route_batch": "triage.decisions.batch", "output_schema": "triage.decisions.rows",
}

__all__ = [
    "INPUT_FORMATS", "PANDAS_INPUT_FORMATS", "BatchInputError", "Rejected", "output_schema", "resolve_bundle", "route_batch", "run_pandas", "run_spark",
    "spark_session",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
