"""Fixtures of the batch tests: a real router bundle (with code systems) and one SparkSession."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from router_bundle import build_bundle


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    # real code systems: DRG grouping (gender, died) and Elixhauser feed the confidence model
    return build_bundle(tmp_path_factory.mktemp("batch") / "bundle", n=600, seed=0, code_systems=True)


@pytest.fixture(scope="session")
def router(bundle):
    from triage.batch.model import load_batch_router

    return load_batch_router(bundle)


@pytest.fixture(scope="session")
def light_bundle(tmp_path_factory) -> Path:
    """Without the code-system feature columns: Spark workers then start in seconds, not the ~30 s
    each takes to load the MS-DRG/Elixhauser tables (the parity test covers those on Spark)."""
    return build_bundle(tmp_path_factory.mktemp("batch") / "light", n=600, seed=0, code_systems=False)


@pytest.fixture(scope="session")
def light_router(light_bundle):
    from triage.batch.model import load_batch_router

    return load_batch_router(light_bundle)


@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for every Spark test (starting one takes ~10 s; needs Java 17).

    ``local[2,2]``: two cores, and a failed task is tried once more, as on a cluster.
    """
    from triage.batch.spark_engine import spark_session

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = spark_session("local[2,2]", app_name="triage-batch-tests", conf={
        "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4", "spark.driver.memory": "1g",
    })
    yield session
    session.stop()
