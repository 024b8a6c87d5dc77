"""Guaranteed automation side by side: per correctness target, risk-control method, alpha and setting.

For each combination a :class:`~triage.policy.policies.GuaranteedPolicy` is fitted on the policy
part (per care setting with delta split across settings, or one threshold for everyone) and
evaluated on test. Each row sets what the router certified against the best any router could
do at the same alpha (the oracle, ``min(1, correct rate / (1 - alpha))``), with the test error
among automated episodes and its exact interval, and the saving automation alone earns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from triage.policy.costs import CostModel
from triage.policy.evidence import certified_settings, evidence_plan, setting_deltas
from triage.policy.policies import GuaranteedPolicy, evaluate_policy, oracle_automation_at

#: Most confident test episodes whose predicted and observed error the quality columns compare.
TOP_K = 50

#: The risk-control procedures every run compares: (method, fwer).
COMPARED_METHODS: tuple[tuple[str, str], ...] = (("ltt", "fixed_sequence"), ("ltt", "holm"), ("sgr", "holm"))


def method_label(method: str, fwer: str | None) -> str:
    return "sgr" if method == "sgr" else f"ltt_{fwer}"


#: Confidence level of the two-sided exact interval whose lower limit the certified saving uses for
#: the automation share (a one-sided 97.5% lower limit).
SAVING_SHARE_LEVEL = 0.95


def certified_saving(automation_rate: float, guarantee: float | None, costs: CostModel) -> float:
    """Saving per episode from automation that holds whenever the guarantee and the share's limit do.

    Each automated episode saves a manual coding and costs an error with probability at most the
    guarantee: automation_rate * (manual_cost - guarantee * error_cost). Zero without automation.
    Callers pass the *lower* limit of the automation share's exact interval at SAVING_SHARE_LEVEL
    (``automation_rate_lower``), not the share measured on test, so the figure is a lower limit at
    probability >= 1 - delta - 0.025 (union bound), not a point estimate.
    """
    if not automation_rate or guarantee is None:
        return 0.0
    return float(automation_rate * (costs.manual_cost - guarantee * costs.error_cost))


def ranking_quality(p: np.ndarray, correct: np.ndarray, k: int = TOP_K) -> dict[str, Any]:
    """How well the confidence ranks and is calibrated on one setting's test episodes.

    AUROC (right vs wrong), ECE (15 equal-width bins), and among the ``k`` most confident episodes
    the mean predicted error against the observed error with its exact 95% interval: a setting
    whose top is worse than predicted is where a guarantee fails first.
    """
    from sklearn.metrics import roc_auc_score

    from triage.confidence.evaluation import ece
    from triage.policy.guarantees import clopper_pearson_interval

    p = np.asarray(p, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    n = p.size
    out: dict[str, Any] = {"auroc": np.nan, "ece": np.nan, "top_k": min(k, n), "top_k_predicted_error": np.nan,
                           "top_k_observed_error": np.nan, "top_k_observed_lower": np.nan,
                           "top_k_observed_upper": np.nan}
    if n == 0:
        return out
    if 0 < correct.sum() < n:
        out["auroc"] = float(roc_auc_score(correct, p))
    out["ece"] = ece(correct, p)
    top = np.argsort(-p, kind="stable")[:k]
    errors = int((~correct[top]).sum())
    lo, hi = clopper_pearson_interval(errors, top.size)
    out.update(top_k_predicted_error=float((1 - p[top]).mean()), top_k_observed_error=errors / top.size,
               top_k_observed_lower=float(lo), top_k_observed_upper=float(hi))
    return out


def automation_rows(
    target: str,
    p_policy: np.ndarray,
    correct_policy: np.ndarray,
    settings_policy: np.ndarray | None,
    p_test: np.ndarray,
    correct_test: np.ndarray,
    settings_test: np.ndarray | None,
    costs: CostModel,
    alphas: Iterable[float],
    delta: float,
    methods: Iterable[tuple[str, str]] = COMPARED_METHODS,
    planning_rates: dict[str, float] | None = None,
    reference: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
) -> list[dict[str, Any]]:
    """Tidy rows: one per (method, alpha, setting incl. "all") for one target.

    ``planning_rates`` (correct rate per setting on episodes other than the policy part) decide
    which settings share delta and in what shares, as the run's own policy does
    (:func:`evidence_plan`); ``reference`` (p, correct, settings of labelled episodes independent
    of the policy part) places the fixed sequence's one start.
    """
    rows: list[dict[str, Any]] = []
    grouped = settings_policy is not None
    quality = {"all": ranking_quality(p_test, correct_test)}
    if grouped:
        labels = np.asarray(settings_test, dtype=object).astype(str)
        quality.update({name: ranking_quality(np.asarray(p_test)[labels == name], np.asarray(correct_test)[labels == name])
                        for name in np.unique(labels)})
    for method, fwer in methods:
        for alpha in alphas:
            certify = deltas = None
            if grouped and planning_rates is not None:
                plan = evidence_plan(settings_policy, planning_rates, alpha, delta, method, fwer,
                                     one_start=reference is not None)
                certify, deltas = certified_settings(plan), setting_deltas(plan)
            est = GuaranteedPolicy(alpha=alpha, delta=delta, method=method, fwer=fwer, costs=costs)
            policy = est.fit(p_policy, correct_policy, groups=settings_policy, certify_groups=certify,
                             group_deltas=deltas, reference=reference).policy_
            ev = evaluate_policy(policy, p_test, correct_test, costs,
                                 groups=settings_test if grouped else None)
            parts = [("all", ev)] + (sorted(ev.get("by_group", {}).items()) if grouped else [])
            for setting, r in parts:
                n = int(r["n"])
                rate = r["oracle_automation_rate"]
                oracle = oracle_automation_at(alpha, rate) if n else float("nan")
                auto = r["automation_rate"]
                guarantee = r.get("automated_error_guarantee")
                if setting == "all":
                    feasible, note, share = policy.feasible, policy.note, 1.0
                    reason = ("; ".join(f"{k}: {g['reason']}" for k, g in sorted(policy.groups.items()) if g.get("reason"))
                              if grouped else (policy.expected.get("reason", "") if not policy.feasible else ""))
                else:
                    feasible, note, share = r.get("feasible"), r.get("note", ""), r.get("share")
                    reason = r.get("reason", "")
                if r["n_automated"]:
                    reason = ""
                elif not reason:
                    reason = "the certified threshold automates no test episode" if feasible else "nothing certified"
                rows.append({
                    "target": target,
                    "method": method_label(method, fwer),
                    "alpha": alpha,
                    "delta": delta,
                    "setting": setting,
                    "share": share,
                    "n_test": n,
                    "correct_rate": rate,
                    "guaranteed_automation": auto,
                    "automation_lower": r["automation_rate_lower"],
                    "automation_upper": r["automation_rate_upper"],
                    "oracle_at_alpha": oracle,
                    "oracle_zero_error": rate,
                    "ratio_to_oracle": (auto / oracle) if oracle and np.isfinite(oracle) else np.nan,
                    "n_automated": r["n_automated"],
                    "test_error": r["automated_error_rate"],
                    "test_error_lower": r["automated_error_lower"],
                    "test_error_upper": r["automated_error_upper"],
                    "guarantee": guarantee,
                    "feasible": bool(feasible),
                    "saving_from_automation_per_episode": r["saving_from_automation_per_episode"],
                    "certified_saving_per_episode": certified_saving(r["automation_rate_lower"] if n else 0.0,
                                                                     guarantee, costs),
                    "note": note,
                    # why nothing is automated (empty when something is); ranking quality on test
                    "reason": reason,
                    **quality.get(setting, {}),
                })
    return rows


def automation_table(per_target: dict[str, dict[str, Any]], costs: CostModel, alphas: Iterable[float],
                     delta: float, methods: Iterable[tuple[str, str]] = COMPARED_METHODS) -> pd.DataFrame:
    """``per_target[target]`` holds p/correct/settings of the policy and test parts."""
    rows: list[dict[str, Any]] = []
    alphas = list(alphas)
    methods = list(methods)
    for target, d in per_target.items():
        rows += automation_rows(target, d["p_policy"], d["correct_policy"], d.get("settings_policy"),
                                d["p_test"], d["correct_test"], d.get("settings_test"), costs, alphas, delta,
                                methods, d.get("planning_rates"), d.get("reference"))
    return pd.DataFrame(rows)
