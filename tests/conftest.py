"""Fixtures shared across areas.

``finished_run`` is a real, tiny ``triage run`` (session-scoped): report, figure, tracking and
notebook tests use what the pipeline writes, never tables fabricated in another shape.
``run_result`` is a per-test copy a test may change.
"""

from __future__ import annotations

import pytest

# -- a real, tiny `triage run` (shared: tracking, analysis and end-to-end tests) -------------------
#: Small enough to finish quickly on 2 cores; day-case episodes and a lenient target so that the
#: coder gets some episodes right and the confidence model sees both classes.
TINY_RUN_OVERRIDES = {
    "seed": 0,
    "data": {"synthetic_episodes": 800, "synthetic_workload": "day_case"},
    "coder": {"n_folds": 2},
    "policy": {"alpha": 0.1},  # the tiny cohort certifies little at the default 0.05
    "confidence": {"target": "jaccard", "jaccard_tau": 0.3,
                   "compare_models": ["lightgbm", "product", "min-accepted"]},
    "tracking": {"enabled": False},
}


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """RunResult of ``run_pipeline`` on a tiny synthetic cohort (not logged to MLflow): the real
    writer's tables, so report, figure, tracking and notebook tests see what a run writes. A broken
    pipeline fails these tests; it never turns them into skips."""
    from triage import pipeline
    from triage.config import resolve_config

    folder = tmp_path_factory.mktemp("tiny-run")
    overrides = {**TINY_RUN_OVERRIDES, "out": str(folder / "out"), "export_dir": str(folder / "export")}
    return pipeline.run_pipeline(resolve_config(overrides=overrides), log_to_mlflow=False)


@pytest.fixture
def run_result(finished_run):
    """The tiny run's RunResult with its own table, summary and config dicts (a test may change them)."""
    import copy
    import dataclasses

    return dataclasses.replace(finished_run, tables=dict(finished_run.tables), summary=dict(finished_run.summary),
                               config=copy.deepcopy(finished_run.config))


@pytest.fixture(scope="session")
def tracked_run(finished_run, tmp_path_factory):
    """The tiny run logged to a fresh SQLite tracking store: (tracking_uri, TrackingInfo, RunResult)."""
    from triage.tracking import log_run

    uri = f"sqlite:///{tmp_path_factory.mktemp('tiny-mlflow') / 'mlflow.db'}"
    return uri, log_run(finished_run, tracking_uri=uri), finished_run
