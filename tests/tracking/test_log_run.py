"""log_run on a temporary SQLite tracking store: params, metrics, artifacts, and reading runs back."""

from __future__ import annotations

import dataclasses
import json

import pytest
from mlflow import MlflowClient

from triage.tracking import RunNotFoundError, latest_run_id, list_models, load_run_result, log_run
from triage.tracking.params import config_params


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def logged(tracking_uri, finished_run):
    """The real tiny run without its router bundle (registration is tests/tracking/test_registry.py)
    and without its output folder, so log_run writes the report and tables itself."""
    result = dataclasses.replace(finished_run, router_dir=None, out_dir=None)
    info = log_run(result, tracking_uri=tracking_uri, experiment="test-log-run")
    return result, info


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_run_has_params_metrics_and_tags(logged, tracking_uri):
    result, info = logged
    run = MlflowClient(tracking_uri).get_run(info.run_id)
    assert run.info.status == "FINISHED"
    expected = config_params(result.config)
    assert run.data.params == expected
    assert run.data.params["policy.costs.error_cost"] == str(result.config["policy"]["costs"]["error_cost"])
    numeric = {k for k, v in result.summary.items() if isinstance(v, (int, float)) and v is not None}
    assert numeric <= set(run.data.metrics)
    assert run.data.metrics["cost_per_episode"] == pytest.approx(result.summary["cost_per_episode"])
    assert run.data.metrics["time_s.bounds"] == pytest.approx(result.timings["bounds"])
    assert run.data.tags["summary.target"] == result.summary["target"] == "jaccard"
    # no router bundle: nothing registered, and the run says so
    assert info.model_version is None and not info.promoted
    assert "no router bundle" in run.data.tags["champion_decision"]
    assert list_models(tracking_uri).empty


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_run_artifacts_hold_report_figures_tables_config(logged, tracking_uri):
    _, info = logged
    client = MlflowClient(tracking_uri)
    top = {a.path for a in client.list_artifacts(info.run_id)}
    assert {"report.html", "figures", "tables", "config.yaml", "run_summary.json"} <= top
    figures = {a.path for a in client.list_artifacts(info.run_id, "figures")}
    assert {"figures/reliability.png", "figures/risk_coverage.png", "figures/cost_coverage.png",
            "figures/subset_bounds.png"} <= figures
    tables = {a.path for a in client.list_artifacts(info.run_id, "tables")}
    assert "tables/test_episodes.parquet" in tables and "tables/test_episodes.csv" in tables


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_load_run_result_round_trips_tables_config_and_summary(logged, tracking_uri, tmp_path):
    result, info = logged
    assert latest_run_id("test-log-run", tracking_uri) == info.run_id
    back = load_run_result(experiment="test-log-run", tracking_uri=tracking_uri, cache_dir=tmp_path)
    assert back.summary["mlflow_run_id"] == info.run_id
    assert back.config["policy"]["alpha"] == result.config["policy"]["alpha"]
    assert set(back.tables) == set(result.tables)
    a, b = result.tables["test_episodes"], back.tables["test_episodes"]
    assert (a["p_correct"].to_numpy() == b["p_correct"].to_numpy()).all()
    assert json.loads((back.out_dir / "run_summary.json").read_text())["automation_rate"] == pytest.approx(
        result.summary["automation_rate"])


def test_missing_experiment_and_run_give_clear_errors(tracking_uri):
    with pytest.raises(RunNotFoundError, match="no MLflow experiment 'nope'"):
        latest_run_id("nope", tracking_uri)
    with pytest.raises(RunNotFoundError, match="no MLflow run"):
        load_run_result("0123456789abcdef", tracking_uri=tracking_uri)


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_artifacts_live_next_to_the_sqlite_database(logged, tracking_uri):
    _, info = logged
    run = MlflowClient(tracking_uri).get_run(info.run_id)
    db_dir = tracking_uri.removeprefix("sqlite:///").rsplit("/", 1)[0]
    assert run.info.artifact_uri.startswith(f"file://{db_dir}/mlruns")


@pytest.mark.slow  # builds on the shared tiny `triage run` (tests/conftest.py)
def test_notebook_load_helpers_name_the_run_and_skip_missing_tables(logged, tracking_uri, tmp_path, capsys):
    from triage.tracking import load_latest_run, run_table

    _, info = logged
    run = load_latest_run(experiment="test-log-run", tracking_uri=tracking_uri, cache_dir=tmp_path)
    assert f"MLflow run {info.run_id}: {len(run.tables)} tables" in capsys.readouterr().out
    assert run_table(run, "test_episodes") is run.tables["test_episodes"]
    run.tables["coverage"] = run.tables["coverage"].iloc[:0]
    assert run_table(run, "coverage") is None and run_table(run, "no_such_table") is None
    out = capsys.readouterr().out
    assert "this run has no table 'coverage'" in out and "'no_such_table'" in out
