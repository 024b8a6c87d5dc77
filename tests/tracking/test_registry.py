"""The router as a registered MLflow model: signature, reload parity, champion alias, export, CLI.

Runs on the shared tiny ``triage run`` (tests/conftest.py), so the bundle is a real Router.
"""

from __future__ import annotations

import dataclasses
import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import typer
from mlflow import MlflowClient
from typer.testing import CliRunner

from triage.cli import models as models_cli
from triage.tracking import CHAMPION, REGISTERED_MODEL, export_model, list_models, log_run, promote
from triage.tracking.uri import tracking_uri_set

pytestmark = pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)

CODES = ["I50.9", "I10.", "E11.9", "J18.9", "N17.9", "E78.5", "K21.9", "Z87.891"]


def episodes(n: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        chosen = rng.choice(CODES, size=int(rng.integers(1, 5)), replace=False)
        scores = {str(c): round(float(rng.uniform(0.05, 0.99)), 3) for c in chosen}
        rows.append({"episode_id": 1000 + i, "code_scores": json.dumps(scores), "age": float(rng.integers(20, 90)),
                     "gender": str(rng.choice(["F", "M"])), "los_days": float(rng.uniform(0.2, 3))})
    return pd.DataFrame(rows)


def in_memory(router, frame: pd.DataFrame) -> pd.DataFrame:
    from triage.mlflow_model import decisions_to_frame, episodes_from_frame

    return decisions_to_frame(router.route_many(episodes_from_frame(frame)))


def cost_variant(result, delta_cost: float, **summary):
    return dataclasses.replace(
        result, summary={**result.summary, "cost_per_episode": result.summary["cost_per_episode"] + delta_cost,
                         **summary})


def champion_version(uri: str) -> str:
    return str(MlflowClient(uri, registry_uri=uri).get_model_version_by_alias(REGISTERED_MODEL, CHAMPION).version)


def test_first_version_is_registered_tagged_and_champion(tracked_run):
    uri, info, result = tracked_run
    assert info.model_version == "1" and info.promoted
    mv = MlflowClient(uri, registry_uri=uri).get_model_version(REGISTERED_MODEL, "1")
    assert mv.run_id == info.run_id
    assert mv.tags["objective"] == "cost_per_episode"
    assert float(mv.tags["objective_value"]) == pytest.approx(result.summary["cost_per_episode"])
    assert mv.tags["guarantee.target"] == result.summary["target"] == "jaccard"
    assert float(mv.tags["guarantee.alpha"]) == result.summary["alpha"]
    assert champion_version(uri) == "1"


def test_reloaded_model_decides_like_the_in_memory_router(tracked_run):
    from triage.router import Router

    uri, _, result = tracked_run
    frame = episodes()
    with tracking_uri_set(uri):
        model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    signature = model.metadata.signature
    assert [c.name for c in signature.inputs.inputs][:2] == ["episode_id", "code_scores"]
    assert "route" in signature.outputs.input_names()
    got = model.predict(frame)
    want = in_memory(Router.load(result.router_dir), frame)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_dtype=False)
    assert set(got["route"]) <= {"automate", "assist", "manual"}
    # dict scores are accepted as well as JSON strings
    as_dicts = frame.assign(code_scores=frame["code_scores"].map(json.loads))
    pd.testing.assert_frame_equal(model.predict(as_dicts).reset_index(drop=True), want, check_dtype=False)


def test_bad_episode_is_named_in_the_error(tracked_run):
    uri, _, _ = tracked_run
    frame = episodes(3).assign(code_scores=['{"I50.9": 0.5}', '{"I50.9": 1.7}', '{"I10.": 0.2}'])
    with tracking_uri_set(uri):
        model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/1")
    with pytest.raises(ValueError, match=r"row 1 \(episode_id=1001\).*code_scores.*1.7"):
        model.predict(frame)
    with pytest.raises(ValueError, match="not valid JSON"):
        model.predict(episodes(1).assign(code_scores=["{I50.9: 0.5"]))


def test_champion_moves_only_for_a_cheaper_policy_at_the_same_guarantee_or_on_request(tracked_run):
    uri, _, result = tracked_run
    before = champion_version(uri)
    worse = log_run(cost_variant(result, +1.0), tracking_uri=uri)
    assert not worse.promoted and champion_version(uri) == before
    looser = log_run(cost_variant(result, -5.0, alpha=result.summary["alpha"] * 2), tracking_uri=uri)
    assert not looser.promoted and "guarantee differs" in looser.reason and champion_version(uri) == before
    better = log_run(cost_variant(result, -1.0), tracking_uri=uri)
    assert better.promoted and champion_version(uri) == better.model_version
    forced = log_run(cost_variant(result, +3.0), tracking_uri=uri, promote=True)
    assert forced.promoted and champion_version(uri) == forced.model_version
    table = list_models(uri)
    assert table["aliases"].tolist().count(CHAMPION) == 1
    assert table.loc[table["aliases"] == CHAMPION, "version"].item() == int(forced.model_version)
    # manual promotion back, and a clear error for a version that does not exist
    promote(better.model_version, uri)
    assert champion_version(uri) == better.model_version
    with pytest.raises(ValueError, match="has no version '999'"):
        promote("999", uri)


def test_export_round_trip_gives_the_same_decisions(tracked_run, tmp_path):
    from triage.router import Router

    uri, _, result = tracked_run
    dest = export_model(f"models:/{REGISTERED_MODEL}@{CHAMPION}", tmp_path / "models" / "router", tracking_uri=uri)
    source = json.loads((dest / "mlflow_source.json").read_text())
    assert source["version"] == champion_version(uri)
    frame = episodes(seed=1)
    pd.testing.assert_frame_equal(in_memory(Router.load(dest), frame), in_memory(Router.load(result.router_dir), frame))
    # exporting again replaces the bundle in place
    assert export_model(f"models:/{REGISTERED_MODEL}/1", dest, tracking_uri=uri) == dest
    assert json.loads((dest / "mlflow_source.json").read_text())["version"] == "1"
    with pytest.raises(ValueError, match="cannot download model"):
        export_model(f"models:/{REGISTERED_MODEL}/999", tmp_path / "x", tracking_uri=uri)


def test_models_cli_list_promote_export(tracked_run, tmp_path):
    uri, _, _ = tracked_run
    app = typer.Typer()
    models_cli.register(app)

    @app.callback()
    def _root() -> None:
        pass

    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--tracking-uri", uri, "--json"])
    assert listed.exit_code == 0, listed.output
    versions = json.loads(listed.output[listed.output.index("["):])
    assert {v["version"] for v in versions} >= {1}
    moved = runner.invoke(app, ["models", "promote", "1", "--tracking-uri", uri])
    assert moved.exit_code == 0 and champion_version(uri) == "1"
    bad = runner.invoke(app, ["models", "promote", "42", "--tracking-uri", uri])
    assert bad.exit_code == 2 and "no version '42'" in bad.output
    out = tmp_path / "router"
    exported = runner.invoke(app, ["models", "export", "--tracking-uri", uri, "--out", str(out)])
    assert exported.exit_code == 0 and "(version 1)" in exported.output
    assert (out / "manifest.json").is_file()
