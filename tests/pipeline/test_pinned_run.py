"""A pinned small run (issue #25): the default configuration on a small cohort, its headline figures
compared with tests/pipeline/pinned_run.json.

Any change to what a run decides (features, confidence, evidence plan, risk control, the generator)
moves these figures. A deliberate change updates the file in the same commit, and the commit
message says why:

    TRIAGE_UPDATE_PINNED=1 PYTHONPATH=$PWD .venv/bin/python -m pytest tests/pipeline/test_pinned_run.py

Automation shares and test errors are rounded to 4 decimals and thresholds to 4, so the comparison
is exact on counts (the run is seeded; LightGBM is deterministic and single-threaded here).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

PINNED = Path(__file__).with_name("pinned_run.json")
#: The default configuration, made small: a 2,000-episode mixed cohort, 2 cross-fitting folds, the
#: confidence kinds that train in seconds, no report and no tracking.
OVERRIDES = {
    "seed": 0,
    "data": {"synthetic_episodes": 2_000},
    "coder": {"n_folds": 2},
    "confidence": {"compare_models": ["lightgbm", "product", "min-accepted"]},
    "tracking": {"enabled": False},
}


def _r(x, digits: int = 4):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(float(x), digits)


def headline_figures(result) -> dict:
    """What the run decided: per target, alpha and setting the guaranteed automation and test error
    (fixed-sequence LTT, the default method), and the chosen policy's thresholds per setting."""
    table = result.tables["automation_by_target"]
    table = table[table["method"] == "ltt_fixed_sequence"]
    automation = {
        f"{r['target']}|{r['alpha']:g}|{r['setting']}": {
            "correct_rate": _r(r["correct_rate"]), "automation": _r(r["guaranteed_automation"]),
            "n_automated": int(r["n_automated"]), "test_error": _r(r["test_error"]), "auroc": _r(r["auroc"], 3),
            "reason": r["reason"]}
        for r in table.to_dict("records")}
    s = result.summary
    policy = result.tables["policies"]
    chosen = policy[policy["chosen"]].iloc[0]
    return {
        "n_test": int(s["n_test"]),
        "n_calibration": int(s["n_calibration"]),
        "n_probability_calibration": int(s["n_probability_calibration"]),
        "policy_kind": s["policy_kind"],
        "alpha": s["alpha"],
        "automation_rate": _r(s["automation_rate"]),
        "automated_error_rate": _r(s["automated_error_rate"]),
        "policy_automation_rate": _r(chosen["automation_rate"]),
        "thresholds": {k: _r(v) for k, v in sorted((s.get("t_automate_by_setting") or {}).items())},
        "certified_settings": sorted(result.tables["evidence"].query("certify")["setting"].astype(str)),
        "automation_by_target": automation,
    }


@pytest.mark.slow
def test_the_small_default_run_decides_what_is_pinned(tmp_path):
    from triage.config import resolve_config
    from triage.pipeline import run_pipeline

    config = resolve_config(overrides={**OVERRIDES, "out": str(tmp_path / "out"),
                                       "export_dir": str(tmp_path / "export")})
    figures = headline_figures(run_pipeline(config, log_to_mlflow=False, write_report=False))
    if os.environ.get("TRIAGE_UPDATE_PINNED") == "1":
        PINNED.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(PINNED.read_text())
    changed = sorted(k for k in set(pinned) | set(figures) if pinned.get(k) != figures.get(k))
    detail = {k: (pinned.get(k), figures.get(k)) for k in changed if k != "automation_by_target"}
    if "automation_by_target" in changed:
        a, b = pinned["automation_by_target"], figures["automation_by_target"]
        detail["automation_by_target"] = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
                                          if a.get(k) != b.get(k)}
    assert not changed, f"the pinned run's figures changed (update pinned_run.json on purpose): {detail}"
