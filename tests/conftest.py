"""Fixtures shared across areas.

``small_run_result``: a RunResult whose tables are computed for real (triage.policy curves and
policies) from a small simulated confidence/correctness sample — for report, figure and
tracking tests that must not wait for a full pipeline run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage.policy import (
    CostModel,
    cost_coverage_curve,
    evaluate_policy,
    make_policy,
    risk_coverage_curve,
)
from triage.results import RunResult


def build_run_result(seed: int = 0, n: int = 800, cost_shift: float = 0.0) -> RunResult:
    """Simulate calibrated confidences and outcomes, then compute every table with triage.policy."""
    rng = np.random.default_rng(seed)
    p_all = rng.beta(4.0, 1.2, size=2 * n)
    correct_all = rng.random(2 * n) < p_all
    p_cal, c_cal, p_test, c_test = p_all[:n], correct_all[:n], p_all[n:], correct_all[n:]
    costs = CostModel(manual_cost=20.0, assist_cost=8.0, error_cost=60.0 + cost_shift, unit="minutes")
    alpha, delta = 0.15, 0.1
    chosen = make_policy("three_way", costs, alpha=alpha, delta=delta).fit(p_cal, c_cal).policy_
    test = evaluate_policy(chosen, p_test, c_test)
    policy_rows = []
    for kind in ("chow", "guaranteed", "three_way"):
        pol = make_policy(kind, costs, alpha=alpha, delta=delta).fit(p_cal, c_cal).policy_
        ev = evaluate_policy(pol, p_test, c_test)
        policy_rows.append({
            "policy": kind, "kind": kind, "t_automate": pol.t_automate, "t_assist": pol.t_assist,
            "automation_rate": ev["automation_rate"], "error_rate": ev["automated_error_rate"],
            "error_upper": ev["automated_error_upper"], "cost_per_episode": ev["cost_per_episode"],
        })
    routes = chosen.route(p_test)
    n_cats = rng.integers(1, 12, size=n)
    ids = np.arange(100_000, 100_000 + n)
    test_episodes = pd.DataFrame({
        "episode_id": ids, "p_correct": p_test, "correct": c_test, "route": routes,
        "role": "test", "n_categories": n_cats,
        "admission_type": rng.choice(["EW EMER.", "ELECTIVE", "URGENT"], size=n),
    })
    cal_episodes = test_episodes.assign(p_correct=p_cal, correct=c_cal, role="calibration",
                                        episode_id=ids + n, route=chosen.route(p_cal))
    from triage.bounds import subset_bounds
    from triage.confidence.evaluation import reliability_diagram

    both = pd.concat([cal_episodes, test_episodes], ignore_index=True)
    subsets = pd.DataFrame({"pred_categories_band": np.where(both["n_categories"] <= 2, "1-2", ">=3"),
                            "admission_type": both["admission_type"]})
    bounds = subset_bounds(subsets, both["p_correct"].to_numpy(), both["correct"].to_numpy(),
                           calibration=(both["role"] == "calibration").to_numpy(), costs=costs, alpha=alpha,
                           delta=delta)
    top_k = np.array([10, 50, 100, 200, 400, 800])
    tables = {
        "dataset_summary": pd.DataFrame({"statistic": ["episodes", "median codes per episode"],
                                         "value": [float(2 * n), 14.0], "seed_target": [122279.0, 15.0]}),
        "coder_metrics": pd.DataFrame({"metric": ["f1_micro", "exact_match", "jaccard_full"],
                                       "value": [0.55, float(c_test.mean()), 0.42],
                                       "ci_low": [0.53, float(c_test.mean()) - 0.03, 0.41],
                                       "ci_high": [0.57, float(c_test.mean()) + 0.03, 0.43]}),
        "coverage": pd.DataFrame({"top_k": top_k, "occurrence_share": 1 - np.exp(-top_k / 300),
                                  "episode_any": 1 - np.exp(-top_k / 30), "episode_full": 1 - np.exp(-top_k / 3000),
                                  "principal_episode_any": 1 - np.exp(-top_k / 100)}),
        "categories_per_episode": pd.Series(n_cats).value_counts(normalize=True).sort_index()
        .rename_axis("n_categories").rename("share").reset_index(),
        "confidence_models": pd.DataFrame({"model": ["lightgbm"], "calibration": ["isotonic"], "ece": [0.02],
                                           "brier": [0.2], "auroc": [0.75]}),
        "reliability": reliability_diagram(c_test, p_test).assign(model="lightgbm"),
        "risk_coverage": risk_coverage_curve(p_test, c_test, delta=delta),
        "cost_coverage": cost_coverage_curve(p_test, c_test, costs),
        "policies": pd.DataFrame(policy_rows),
        "bounds": bounds,
        "discovered_subsets": pd.DataFrame({"rule": ["n_categories <= 2"], "share_find": [0.1], "error_find": [0.08],
                                            "upper_find": [0.14], "share_confirm": [0.09],
                                            "error_confirm": [0.09], "upper_confirm": [0.15]}),
        "test_episodes": pd.concat([test_episodes, cal_episodes], ignore_index=True),
    }
    summary = {
        "target": "exact", "alpha": alpha, "delta": delta, "policy_kind": "three_way",
        "threshold": chosen.t_automate, "t_assist": chosen.t_assist,
        "automation_rate": test["automation_rate"], "assist_rate": test["assist_rate"],
        "manual_rate": test["manual_rate"], "automated_error_rate": test["automated_error_rate"],
        "test_error_interval_upper": test["automated_error_upper"],
        "automated_error_guarantee": test["automated_error_guarantee"],
        "oracle_automation_rate": test["oracle_automation_rate"],
        "cost_per_episode": test["cost_per_episode"], "cost_per_episode_all_human": 20.0,
        "n_test": n, "model_version": f"simulated-{seed}", "policy_version": chosen.version,
    }
    config = {
        "seed": seed, "data": {"path": None, "icd_version": 10, "synthetic_episodes": 2 * n},
        "confidence": {"target": "exact", "model": "lightgbm"},
        "policy": {"kind": "three_way", "alpha": alpha, "delta": delta, "method": "sgr",
                   "costs": {"unit": "minutes", "manual_cost": 20.0, "assist_cost": 8.0,
                             "error_cost": 60.0 + cost_shift, "capacity": None, "period_episodes": None}},
        "coder": {"params": {"long_list": list(range(3000))}},
    }
    return RunResult(config=config, summary=summary, tables=tables, timings={"policy": 0.1, "bounds": 0.2})


@pytest.fixture
def small_run_result() -> RunResult:
    return build_run_result()


@pytest.fixture(scope="session")
def run_result_factory():
    """``build_run_result`` itself, for module- and session-scoped fixtures."""
    return build_run_result


# -- a real, tiny `triage run` (shared: tracking, analysis and end-to-end tests) -------------------
#: Small enough to finish quickly on 2 cores; day-case episodes and a lenient target so that the
#: coder gets some episodes right and the confidence model sees both classes.
TINY_RUN_OVERRIDES = {
    "seed": 0,
    "data": {"synthetic_episodes": 800, "synthetic_workload": "day_case"},
    "coder": {"n_folds": 2},
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
