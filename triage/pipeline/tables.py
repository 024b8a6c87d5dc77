"""The run's tables, shaped from the steps' results under the names and columns ``results.TABLE_NAMES``
documents (readers depend on them)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from triage.config import RunConfig
from triage.data.summary import SEED_STATISTICS
from triage.pipeline.headline import thresholds_by_setting
from triage.pipeline.roles import Parts, Scored
from triage.pipeline.steps import (
    Bounds,
    ConfidenceFits,
    PolicyChoice,
    RunSteps,
    SweepPoint,
    cost_model,
    headline_method,
)
from triage.policy import Policy, clopper_pearson_interval
from triage.policy.curves import cost_coverage_curve, risk_coverage_curve

#: The top-k sizes of the coverage table (seed Figures 2-3).
COVERAGE_KS = (10, 50, 100, 200, 400, 800, 1600, 3200)


def run_tables(config: RunConfig, run: RunSteps) -> dict[str, pd.DataFrame]:
    """Every table a run writes, in ``results.TABLE_NAMES`` order."""
    parts, confidence, choice = run.parts, run.confidence, run.choice
    test = confidence.on("test")
    routes_test = choice.policy.route(test.p, groups=test.settings if choice.policy.group_by else None)
    bounds = run.bounds.table
    return {
        "dataset_summary": dataset_summary_table(run.statistics),
        "coder_metrics": metrics_table(run.evaluation.metrics),
        "coder_metrics_by_setting": run.evaluation.by_setting,
        "coverage": coverage_table(parts.test.gold + parts.policy.gold + parts.fitting.gold),
        "categories_per_episode": categories_table(parts.fitting.gold + parts.policy.gold + parts.test.gold),
        "confidence_models": confidence.comparison,
        "confidence_check": confidence_check(test.p, test.correct, routes_test),
        "reliability": confidence.reliability,
        "risk_coverage": risk_coverage_curve(test.p, test.correct, delta=config.policy.delta),
        "cost_coverage": cost_coverage_curve(test.p, test.correct, cost_model(config)),
        "policies": policies_table(config, choice),
        "policy_sweep": sweep_table(run.sweep),
        "automation_by_target": automation_table_with_headline(config, run.automation),
        "unseen_drg_moves": run.unseen,
        "settings": settings_table(config, run.automation, run.evaluation.by_setting, choice.evaluation),
        "evidence": run.split.evidence,
        "bounds": bounds[bounds["kind"] == "routable"].reset_index(drop=True),
        "diagnostic_subsets": bounds[bounds["kind"] == "diagnostic"].reset_index(drop=True),
        "discovered_subsets": pd.DataFrame(run.bounds.discovered),
        **run.assist.tables,
        "test_episodes": episodes_table(parts, confidence, choice.policy, run.bounds),
    }


def dataset_summary_table(statistics: dict[str, Any]) -> pd.DataFrame:
    """The data's statistics beside the seed paper's figures (``triage.data.summary``)."""
    return pd.DataFrame([{"statistic": k, "value": v, "seed_target": SEED_STATISTICS.get(k)}
                         for k, v in statistics.items()])


def metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """The coder's scalar metrics, each with its interval when the evaluation gave one."""
    ci = metrics.get("ci", {}) or {}
    rows = []
    for k, v in metrics.items():
        if k == "ci" or not (v is None or isinstance(v, (int, float, np.integer, np.floating))):
            continue
        lo, hi = ci.get(k, (None, None)) if k in ci else (None, None)
        rows.append({"metric": k, "value": v, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def coverage_table(gold: list[list[str]]) -> pd.DataFrame:
    """Seed Figures 2-3 in the columns results.TABLE_NAMES documents."""
    from triage.metrics import code_coverage

    names = {"k": "top_k", "occurrence_coverage": "occurrence_share", "episodes_any_covered": "episode_any",
             "episodes_fully_covered": "episode_full"}
    allc = code_coverage(gold, ks=COVERAGE_KS).rename(columns=names)
    principal = code_coverage(gold, ks=COVERAGE_KS, principal_only=True).rename(columns=names)
    principal = principal.rename(columns={c: f"principal_{c}" for c in principal.columns if c != "top_k"})
    return allc.merge(principal, on="top_k")


def categories_table(gold: list[list[str]]) -> pd.DataFrame:
    """Seed Figure 4: the share of episodes by number of distinct 3-character categories."""
    from triage.metrics import category_distribution

    dist = category_distribution(gold)
    return pd.DataFrame({"n_categories": dist.index.astype(int), "share": dist.to_numpy()})


def confidence_check(p: np.ndarray, correct: np.ndarray, routes: np.ndarray,
                     ks: tuple[int, ...] = (25, 50, 100, 200), level: float = 0.95) -> pd.DataFrame:
    """Predicted vs observed error among the k most confident test episodes and the automated set.

    The exact (Clopper–Pearson) interval of the observed error says whether the confidence model is
    calibrated where automation happens.
    """
    order = np.argsort(-p, kind="stable")
    rows = []
    groups = [(f"top {k}", order[:k]) for k in ks if k <= p.size]
    groups.append(("automated", np.flatnonzero(routes == "automate")))
    for name, idx in groups:
        n = int(idx.size)
        k_err = int((~correct[idx]).sum())
        lo, hi = clopper_pearson_interval(k_err, n, level)
        rows.append({"episodes": name, "n": n, "predicted_error": float((1 - p[idx]).mean()) if n else np.nan,
                     "observed_error": k_err / n if n else np.nan, "observed_lower": float(lo),
                     "observed_upper": float(hi), "interval_level": level})
    return pd.DataFrame(rows)


def policies_table(config: RunConfig, choice: PolicyChoice) -> pd.DataFrame:
    """One row per policy kind: its thresholds (per setting in words), test figures and guarantee."""
    rows = []
    for kind, policy in choice.by_kind.items():
        ev = choice.evaluations[kind]
        rows.append({
            "policy": kind, "kind": kind, "version": policy.version, "feasible": policy.feasible,
            "t_automate": policy.t_automate, "t_assist": policy.t_assist, "per_setting": policy.group_by is not None,
            "thresholds_by_setting": thresholds_by_setting(policy),
            "automation_rate": ev["automation_rate"], "assist_rate": ev.get("assist_rate"),
            "manual_rate": ev.get("manual_rate"), "error_rate": ev.get("automated_error_rate"),
            "test_error_lower": ev.get("automated_error_lower"), "test_error_upper": ev.get("automated_error_upper"),
            "guarantee": ev.get("automated_error_guarantee"), "cost_per_episode": ev["cost_per_episode"],
            "cost_per_episode_all_human": ev["cost_per_episode_all_human"],
            "saving_from_automation_per_episode": ev["saving_from_automation_per_episode"],
            "saving_from_assist_per_episode": ev["saving_from_assist_per_episode"],
            "note": policy.note, "chosen": kind == config.policy.kind,
        })
    return pd.DataFrame(rows)


def sweep_table(points: tuple[SweepPoint, ...]) -> pd.DataFrame:
    """The policy sweep, one row per (parameter, value)."""
    return pd.DataFrame([
        {"parameter": pt.parameter, "value": pt.value, "kind": pt.policy.kind, "threshold": pt.policy.t_automate,
         "t_assist": pt.policy.t_assist, "automation_rate": pt.evaluation["automation_rate"],
         "error_rate": pt.evaluation.get("automated_error_rate"), "cost_per_episode": pt.evaluation["cost_per_episode"],
         "feasible": pt.policy.feasible}
        for pt in points])


def automation_table_with_headline(config: RunConfig, automation: pd.DataFrame) -> pd.DataFrame:
    """The automation table with ``headline`` marking the run's own (target, method, alpha) rows."""
    table = automation.copy()
    table["headline"] = ((table["target"] == config.confidence.target)
                         & (table["method"] == headline_method(config)) & (table["alpha"] == config.policy.alpha))
    return table


def settings_table(config: RunConfig, automation: pd.DataFrame, metrics_by_setting: pd.DataFrame,
                   evaluation: dict[str, Any]) -> pd.DataFrame:
    """Per care setting: workload share, coder quality, guaranteed automation at each reported alpha
    (headline target and method), oracle, test error with its interval, and minutes saved."""
    head = automation[(automation["target"] == config.confidence.target)
                      & (automation["method"] == headline_method(config))]
    rows = []
    by_group = evaluation.get("by_group", {})
    for setting in metrics_by_setting["setting"]:
        row = metrics_by_setting[metrics_by_setting["setting"] == setting].iloc[0].to_dict()
        for alpha in sorted(head["alpha"].unique()):
            r = head[(head["alpha"] == alpha) & (head["setting"] == setting)]
            if r.empty:
                continue
            r = r.iloc[0]
            tag = f"a{round(alpha * 100):02d}"
            row.update({
                f"guaranteed_automation_{tag}": r["guaranteed_automation"], f"oracle_{tag}": r["oracle_at_alpha"],
                f"test_error_{tag}": r["test_error"], f"test_error_lower_{tag}": r["test_error_lower"],
                f"test_error_upper_{tag}": r["test_error_upper"], f"feasible_{tag}": r["feasible"],
                f"certified_saving_{tag}": r["certified_saving_per_episode"],
            })
        ev = evaluation if setting == "all" else by_group.get(setting)
        if ev is not None:
            row.update(policy_automation_rate=ev["automation_rate"], policy_assist_rate=ev["assist_rate"],
                       saving_from_automation_per_episode=ev["saving_from_automation_per_episode"],
                       saving_from_assist_per_episode=ev["saving_from_assist_per_episode"],
                       policy_note=ev.get("note", ""))
        rows.append(row)
    return pd.DataFrame(rows)


def episodes_table(parts: Parts[Scored], confidence: ConfidenceFits, policy: Policy, bounds: Bounds) -> pd.DataFrame:
    """Every policy-part and test episode: role ("calibration" = the policy part), setting, confidence,
    correctness, route, number of codes, the product baseline (test only) and the subset columns."""
    pol, test = confidence.on("policy"), confidence.on("test")
    settings = np.concatenate([pol.settings, test.settings])
    return pd.concat([
        pd.DataFrame({
            "episode_id": np.concatenate([parts.policy.scores.episode_ids, parts.test.scores.episode_ids]),
            "role": np.where(bounds.is_policy, "calibration", "test"),
            "care_setting": settings,
            "p_correct": bounds.p, "correct": bounds.correct,
            "route": policy.route(bounds.p, groups=settings if policy.group_by else None),
            "n_codes": [len(x) for x in parts.policy.predicted + parts.test.predicted],
            "product_p": np.concatenate([np.full(len(pol.p), np.nan), confidence.product_p_test]),
        }),
        bounds.subsets.reset_index(drop=True).drop(columns=["care_setting"], errors="ignore"),
    ], axis=1)
