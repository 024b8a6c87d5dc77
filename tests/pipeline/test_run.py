"""End to end through the real CLI: `triage run` on a tiny synthetic cohort, tracked in a fresh SQLite
MLflow store, then `triage route --json` on the same cohort and settings, and a bad config.

One `triage run` serves every test here (module fixture). The in-process pipeline and MLflow logging are
covered on the shared ``tracked_run`` in tests/tracking; this file checks what only the command does:
options and config file resolved together, the cohort generated into the cache dir, outputs in --out,
the run logged, registered and made champion, and the logged model deciding like the bundle on disk.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from triage.cli import app
from triage.cli.run import ROUTE_KEYS

pytestmark = pytest.mark.slow  # one tiny `triage run` (~65 s on 2 cores) and one `triage route` (~30 s)

EVALUATION_KEYS = ("exact_match_full", "exact_match_4", "exact_match_3", "jaccard_full", "jaccard_4", "jaccard_3",
                   "f1_micro", "precision_micro", "recall_micro", "principal_accuracy", "auc_roc_macro")
CODES = ["I50.9", "I10.", "E11.9", "J18.9", "N17.9", "E78.5", "K21.9", "Z87.891"]


def tiny_overrides() -> dict:
    """The small-cohort settings of the shared ``finished_run`` fixture (tests/conftest.py)."""
    spec = importlib.util.spec_from_file_location("_tests_conftest", Path(__file__).parents[1] / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return json.loads(json.dumps(module.TINY_RUN_OVERRIDES))


def invoke(args: list[str]):
    return CliRunner().invoke(app, args)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-run")
    settings = tiny_overrides()
    settings.pop("tracking")  # tracked: the CLI's --tracking-uri decides where
    settings["export_dir"] = str(folder / "export")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(settings))
    out, uri = folder / "out", f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRIAGE_CACHE_DIR", str(folder / "cache"))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.chdir(folder)  # anything written relative to the working directory stays in tmp
        result = invoke(["run", "--config", str(config), "--out", str(out), "--tracking-uri", uri,
                         "--experiment", "cli-e2e"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    summary = json.loads((out / "run_summary.json").read_text())
    return SimpleNamespace(folder=folder, config=config, out=out, uri=uri, output=result.output, summary=summary)


def episodes(n: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        chosen = rng.choice(CODES, size=int(rng.integers(1, 5)), replace=False)
        rows.append({"episode_id": 500 + i,
                     "code_scores": json.dumps({str(c): round(float(rng.uniform(0.05, 0.99)), 3) for c in chosen}),
                     "age": float(rng.integers(20, 90)), "gender": str(rng.choice(["F", "M"])),
                     "los_days": float(rng.uniform(0.2, 3))})
    return pd.DataFrame(rows)


def test_run_writes_summary_with_router_and_evaluation_keys(cli_run):
    s = cli_run.summary
    missing = [k for k in (*ROUTE_KEYS, *EVALUATION_KEYS) if k not in s]
    assert not missing, f"run_summary.json lacks {missing}"
    assert s["target"] == "jaccard" and s["alpha"] == 0.1 and s["delta"] == 0.1
    for k in ("automation_rate", "oracle_automation_rate", "ece", "brier", "exact_match_full", "jaccard_3", "f1_micro"):
        assert 0.0 <= s[k] <= 1.0, k
    if s["automation_rate"] > 0:
        assert s["test_error_interval_lower"] <= s["automated_error_rate"] <= s["test_error_interval_upper"] <= 1.0
        # LTT certifies alpha itself at the chosen thresholds
        assert s["automated_error_guarantee"] == pytest.approx(s["alpha"])
        assert not s["headline"].startswith("Automates nothing")
    else:  # nothing automated: nothing certified, no interval (strict JSON: null, never NaN), said first
        assert s["n_automated"] == 0 and s["test_error_interval_upper"] is None
        assert s["automated_error_guarantee"] is None and s["headline"].startswith("Automates nothing")
        assert s["cost_saving_share"] is None
    assert s["oracle_automation_at_alpha"] == pytest.approx(min(1.0, s["oracle_automation_rate"] / (1 - s["alpha"])))
    assert s["cost_per_episode_all_human"] == pytest.approx(20.0)  # the default manual cost per episode
    assert (s["n_fitting"] + s["n_probability_calibration"] + s["n_calibration"] + s["n_test"]
            <= s["n_episodes"] == 800)
    # every reported target side by side
    assert set(s["automation_by_target"]) >= {"exact", "principal", "principal_drg", "audit", "jaccard"}
    # the cohort was generated into TRIAGE_CACHE_DIR, nowhere else
    assert list((cli_run.folder / "cache" / "synthetic").glob("inpatient0-observation0-day_case1-n800-seed0-*/.complete"))


def test_summary_threshold_is_the_chosen_policy_not_the_coder_threshold(cli_run):
    s = cli_run.summary
    policies = pd.read_parquet(cli_run.out / "tables" / "policies.parquet")
    chosen = policies.loc[policies["chosen"]].iloc[0]
    assert chosen["kind"] == s["policy_kind"]
    t = float(chosen["t_automate"])
    assert s["threshold"] == (pytest.approx(t) if math.isfinite(t) else None)
    assert 0.0 < s["coder_threshold"] < 1.0  # the coder's own decision threshold keeps its own name
    assert s["n_evaluated"] == s["n_test"]


def test_run_prints_the_terminal_summary(cli_run):
    for text in ("Coder (test split)", "Routing on test", "automated", "report:", "router bundle:", "MLflow run:",
                 "registered version: 1"):
        assert text in cli_run.output


def test_report_tables_and_resolved_config_are_written(cli_run):
    html = (cli_run.out / "report.html").read_text()
    assert "<img" in html and "data:image/png;base64," in html
    assert cli_run.summary["report"] == str(cli_run.out / "report.html")
    for name in ("policies", "test_episodes", "coder_metrics", "bounds"):
        assert (cli_run.out / "tables" / f"{name}.parquet").is_file()
    assert list((cli_run.out).rglob("*.png"))


def test_router_bundle_loads_and_the_export_is_the_same_bundle(cli_run):
    from triage.mlflow_model import decisions_to_frame, episodes_from_frame
    from triage.router import Router

    bundle = Router.load(cli_run.out / "router")
    exported = Router.load(cli_run.folder / "export")
    assert bundle.has_coder and bundle.policy.version == cli_run.summary["policy_version"]
    frame = episodes_from_frame(episodes())
    pd.testing.assert_frame_equal(decisions_to_frame(bundle.route_many(frame)),
                                  decisions_to_frame(exported.route_many(frame)))


def test_run_is_logged_registered_champion_and_the_logged_model_decides_like_the_bundle(cli_run):
    from triage.mlflow_model import decisions_to_frame, episodes_from_frame
    from triage.router import Router
    from triage.tracking import CHAMPION, REGISTERED_MODEL
    from triage.tracking.uri import tracking_uri_set

    s, uri = cli_run.summary, cli_run.uri
    client = MlflowClient(uri, registry_uri=uri)
    run = client.get_run(s["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "cli-e2e"
    assert run.data.params["data.synthetic_episodes"] == "800"
    for k in ("automation_rate", "ece", "f1_micro", "cost_per_episode"):
        assert run.data.metrics[k] == pytest.approx(s[k])
    assert s["registered_version"] == "1" and s["promoted"] is True
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
    assert str(champion.version) == "1" and champion.run_id == s["mlflow_run_id"]
    with tracking_uri_set(uri):
        model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    frame = episodes(seed=1)
    want = decisions_to_frame(Router.load(cli_run.out / "router").route_many(episodes_from_frame(frame)))
    pd.testing.assert_frame_equal(model.predict(frame).reset_index(drop=True), want, check_dtype=False)


def test_route_json_prints_the_core_router_keys(cli_run, monkeypatch):
    monkeypatch.setenv("TRIAGE_CACHE_DIR", str(cli_run.folder / "cache"))  # the cohort the run generated
    monkeypatch.chdir(cli_run.folder)
    out = cli_run.folder / "route"
    result = invoke(["route", "--config", str(cli_run.config), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    printed = json.loads(result.stdout)
    assert list(printed)[:len(ROUTE_KEYS)] == list(ROUTE_KEYS)
    # same data, seed and settings as the run: the same routing numbers (same seed, same result)
    for k in ROUTE_KEYS:
        want = cli_run.summary[k]
        assert printed[k] == (pytest.approx(want) if isinstance(want, float) else want), k
    assert not (out / "report.html").exists() and (out / "router" / "manifest.json").is_file()


def test_unknown_config_field_exits_2_naming_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"policy": {"alpha": 0.1, "alhpa_typo": 0.2}}))
    result = invoke(["run", "--config", str(bad), "--out", str(tmp_path / "out"), "--no-tracking"])
    assert result.exit_code == 2
    assert "policy.alhpa_typo" in result.output and str(bad) in result.output
    assert not (tmp_path / "out").exists()  # rejected before anything ran
