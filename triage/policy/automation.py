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
from triage.policy.evidence import certified_settings, evidence_plan
from triage.policy.policies import GuaranteedPolicy, evaluate_policy, oracle_automation_at

#: The risk-control procedures every run compares: (method, fwer).
COMPARED_METHODS: tuple[tuple[str, str], ...] = (("ltt", "fixed_sequence"), ("ltt", "holm"), ("sgr", "holm"))


def method_label(method: str, fwer: str | None) -> str:
    return "sgr" if method == "sgr" else f"ltt_{fwer}"


def certified_saving(automation_rate: float, guarantee: float | None, costs: CostModel) -> float:
    """Saving per episode from automation that holds whenever the guarantee does.

    Each automated episode saves a manual coding and costs an error with probability at most the
    guarantee: automation_rate * (manual_cost - guarantee * error_cost). Zero without automation.
    """
    if not automation_rate or guarantee is None:
        return 0.0
    return float(automation_rate * (costs.manual_cost - guarantee * costs.error_cost))


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
) -> list[dict[str, Any]]:
    """Tidy rows: one per (method, alpha, setting incl. "all") for one target.

    ``planning_rates`` (correct rate per setting on episodes other than the policy part) decide
    which settings share delta, as the run's own policy does (:func:`evidence_plan`).
    """
    rows: list[dict[str, Any]] = []
    grouped = settings_policy is not None
    for method, fwer in methods:
        for alpha in alphas:
            certify = None
            if grouped and planning_rates is not None:
                plan = evidence_plan(settings_policy, planning_rates, alpha, delta, method, fwer)
                certify = certified_settings(plan)
            est = GuaranteedPolicy(alpha=alpha, delta=delta, method=method, fwer=fwer, costs=costs)
            policy = est.fit(p_policy, correct_policy, groups=settings_policy, certify_groups=certify).policy_
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
                    feasible, note = policy.feasible, policy.note
                    share = 1.0
                else:
                    feasible, note, share = r.get("feasible"), r.get("note", ""), r.get("share")
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
                    "certified_saving_per_episode": certified_saving(auto, guarantee, costs),
                    "note": note,
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
                                methods, d.get("planning_rates"))
    return pd.DataFrame(rows)
