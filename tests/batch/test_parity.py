"""One decision everywhere: service, MLflow pyfunc, ``triage batch`` pandas and Spark agree.

1,000 score-only episodes with DRG-relevant metadata (gender, died), a router with real code
systems, the model taken from an MLflow registry by alias. Route and P(correct) must agree to
1e-9 and the DRG exactly on every episode, on all four paths.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from batch_data import episode_frame, write_parquet
from fastapi.testclient import TestClient
from typer.testing import CliRunner

pytestmark = pytest.mark.slow

N = 1_000
KEY = "parity-router-key-0123"


@pytest.fixture(scope="module")
def registry(tmp_path_factory, bundle):
    """The bundle logged and registered as coding-triage-router@champion in a fresh SQLite store."""
    from triage.tracking.registry import REGISTERED_MODEL, log_router_model, set_champion
    from triage.tracking.uri import tracking_uri_set

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with tracking_uri_set(uri):
        mlflow.set_experiment("parity")
        with mlflow.start_run():
            info = log_router_model(bundle)
        set_champion(mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri), REGISTERED_MODEL,
                     info.registered_model_version)
    return uri


def _requests(frame: pd.DataFrame) -> list[dict]:
    return [{
        "episode_id": int(r.episode_id), "code_scores": json.loads(r.code_scores),
        "metadata": {"age": r.age, "gender": r.gender, "admission_type": r.admission_type,
                     "los_days": r.los_days, "died": bool(r.died),
                     "discharge_date": r.discharge_date.date().isoformat()},
    } for r in frame.itertuples()]


def _service(frame: pd.DataFrame, router, tmp_path) -> pd.DataFrame:
    from service.core.config import Settings
    from service.main import create_app

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'svc.db'}", api_keys=f"router:{KEY}",
                        model_uri="parity", initial_policy_state="live")  # served as decided
    rows = []
    with TestClient(create_app(settings, router_loader=lambda uri: router)) as client:
        for req in _requests(frame):
            r = client.post("/v1/route", json=req, headers={"X-API-Key": KEY})
            assert r.status_code == 200, r.text
            rows.append(r.json())
    return pd.DataFrame(rows)


def _table(path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def test_four_paths_give_one_decision(tmp_path, bundle, registry, spark):
    from triage.batch.model import load_batch_router, resolve_bundle
    from triage.batch.spark_engine import run_spark
    from triage.cli import app
    from triage.tracking.uri import tracking_uri_set

    champion = "models:/coding-triage-router@champion"
    frame = episode_frame(N, seed=11)
    inp = write_parquet(frame, tmp_path / "episodes.parquet", row_group_size=200)
    router = load_batch_router(resolve_bundle(champion, registry, dst=tmp_path / "dl"))

    paths = {"service": _service(frame, router, tmp_path)}
    with tracking_uri_set(registry):
        model = mlflow.pyfunc.load_model(champion)
    pyfunc_in = frame.drop(columns=["extra_column"]).assign(
        discharge_date=frame.discharge_date.dt.strftime("%Y-%m-%d"))
    paths["pyfunc"] = model.predict(pyfunc_in)
    r = CliRunner().invoke(app, ["batch", str(inp), "--out", str(tmp_path / "pd"), "--model", champion,
                                 "--tracking-uri", registry, "--engine", "pandas"])
    assert r.exit_code == 0, r.output
    paths["batch-pandas"] = _table(tmp_path / "pd")
    run_spark(str(inp), resolve_bundle(champion, registry), str(tmp_path / "sp"), str(tmp_path / "sp-err"),
              spark=spark, rows_per_partition=250)
    paths["batch-spark"] = _table(tmp_path / "sp")

    ref = paths["service"].set_index("episode_id").sort_index()
    assert len(ref) == N and ref.route.nunique() >= 2
    for name, got in paths.items():
        got = got.set_index("episode_id").sort_index()
        assert got.index.tolist() == ref.index.tolist(), name
        assert (got.route == ref.route).all(), name
        diff = float(np.abs(got.p_correct.to_numpy(float) - ref.p_correct.to_numpy(float)).max())
        assert diff <= 1e-9, (name, diff)
        assert [None if pd.isna(x) else x for x in got.drg] == [None if pd.isna(x) else x for x in ref.drg], name
        print(f"parity {name}: {len(got)} episodes, max |p - p_service| = {diff:.1e}")

    # the comparison can fail: without `died` (what the pyfunc used to drop) DRGs change
    no_died = router.route_many([{**e, "metadata": {k: v for k, v in e["metadata"].items() if k != "died"}}
                                 for e in _requests(frame)])
    assert sum(d.drg != x for d, x in zip(no_died, ref.drg.tolist())) >= 1
