"""Bring-your-own predictions end to end: a val file and a test file in the long format, each listing
only the codes its coder scored, so their class sets differ (the usual case for such files; the assist
step once refused to join them)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from triage.config import resolve_config
from triage.pipeline import load_data, run_pipeline

pytestmark = pytest.mark.slow  # one small run (~60 s on 2 cores)

OVERRIDES = {
    "seed": 0,
    "data": {"synthetic_episodes": 800, "synthetic_workload": "day_case"},
    "policy": {"alpha": 0.1},
    "confidence": {"target": "jaccard", "jaccard_tau": 0.3, "compare_models": ["lightgbm"]},
    "tracking": {"enabled": False},
}


def _long_predictions(episodes: pd.DataFrame, distractors: list[str], seed: int) -> pd.DataFrame:
    """A coder that finds most gold codes (high scores) and adds one distractor from its own list."""
    rng = np.random.default_rng(seed)
    rows = []
    for ep in episodes.itertuples():
        for code in list(ep.diagnoses) + list(ep.procedures):
            if rng.random() < 0.85:
                rows.append((ep.episode_id, code, float(rng.uniform(0.55, 0.99))))
        rows.append((ep.episode_id, str(rng.choice(distractors)), float(rng.uniform(0.05, 0.6))))
    return pd.DataFrame(rows, columns=["episode_id", "code", "score"])


def test_val_and_test_files_with_different_code_sets_run_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_CACHE_DIR", str(tmp_path / "cache"))
    episodes = load_data(resolve_config(overrides=OVERRIDES)).episodes
    val, test = episodes[episodes["split"] == "val"], episodes[episodes["split"] == "test"]
    _long_predictions(val, ["R05.9", "R51.9"], 1).to_csv(tmp_path / "val.csv", index=False)
    _long_predictions(test, ["R10.9", "R53.83"], 2).to_csv(tmp_path / "test.csv", index=False)
    val_codes = set(pd.read_csv(tmp_path / "val.csv")["code"])
    test_codes = set(pd.read_csv(tmp_path / "test.csv")["code"])
    assert val_codes != test_codes  # the case under test

    config = resolve_config(overrides={
        **OVERRIDES, "out": str(tmp_path / "out"), "export_dir": str(tmp_path / "export"),
        "coder": {"predictions": str(tmp_path / "test.csv"), "val_predictions": str(tmp_path / "val.csv")}})
    run_pipeline(config, log_to_mlflow=False)
    summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert summary["n_test"] == summary["n_evaluated"] == len(test)  # every test episode evaluated
    n_val = summary["n_fitting"] + summary["n_probability_calibration"] + summary["n_calibration"]
    assert n_val == len(val)  # the val file's episodes fill the fitting and calibration parts
    assert 0.0 < summary["f1_micro"] <= 1.0
