"""How much calibration evidence a guarantee needs, before any policy label is seen.

A risk-control method can only certify error <= alpha at a threshold that automates enough
episodes: with none wrong, (1 - alpha)^n <= delta' (22 at alpha = delta = 0.1 for fixed-sequence
testing, more for Holm and SGR, which test at smaller levels, and more again when delta is split
across care settings). With errors among them it needs more still. These figures let a run size
its policy part from the requirement, and say plainly what it would need when the data fall
short, instead of failing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from triage.policy.guarantees import episodes_needed, error_free_needed, method_delta_per_test


def certified_settings(plan: pd.DataFrame) -> list[str]:
    """The settings of an :func:`evidence_plan` that get a share of delta."""
    return plan.loc[plan["certify"], "setting"].astype(str).tolist()


def setting_deltas(plan: pd.DataFrame) -> dict[str, float]:
    """Each certified setting's share of delta in an :func:`evidence_plan` (a weighted Bonferroni split)."""
    rows = plan[plan["certify"]]
    return {str(s): float(d) for s, d in zip(rows["setting"], rows["delta_setting"])}


def delta_weights(expected_automated: dict[str, float], alpha: float) -> dict[str, float]:
    """Weights (summing to 1) of a delta split across settings, fixed before any policy label is seen.

    Half of delta follows each setting's *planned p-value* pi_s = P(Bin(N_s, alpha) <= alpha N_s / 2),
    the p-value its test would see at its planned automated count N_s with errors at alpha / 2: a
    setting with little evidence (small N_s, large pi_s) needs a larger level to certify anything,
    while a large one passes at a tiny level. The other half follows N_s itself, the expected
    automation it would earn. ``expected_automated`` (N_s per setting) comes from the fitting
    part's correct rates and the policy part's label-free setting counts, so the split is fixed in
    advance; any fixed weights keep the union (Bonferroni) bound valid.
    """
    names = [n for n, v in expected_automated.items() if v > 0]
    if not names:
        return {}
    counts = {n: max(1, round(expected_automated[n])) for n in names}
    pi = {n: float(stats.binom.cdf(math.floor(alpha / 2 * c + 1e-9), c, alpha)) for n, c in counts.items()}
    total_pi, total_n = sum(pi.values()), float(sum(counts.values()))
    return {n: 0.5 * (pi[n] / total_pi if total_pi > 0 else 1 / len(names)) + 0.5 * counts[n] / total_n
            for n in names}


def evidence_plan(
    settings: Any,
    expected_correct_rate: dict[str, float],
    alpha: float,
    delta: float,
    method: str,
    fwer: str,
    per_setting: bool = True,
    one_start: bool = False,
) -> pd.DataFrame:
    """Per setting: the evidence its guarantee needs, and whether it gets a share of delta.

    ``settings`` are the care settings of the policy episodes (label-free);
    ``expected_correct_rate`` per setting comes from *other* episodes' labels (the confidence
    fitting part), so planning never looks at the policy labels. A setting whose expected
    number of correct policy episodes is below the fewest error-free episodes its first test
    needs cannot certify anything; it gets no share of delta (``certify`` False) and the others
    split delta between them (iterated until stable). ``episodes_needed`` is a planning figure:
    the policy episodes of that setting at which a test of its certifiable share (the expected
    correct rate / (1 - alpha), errors at alpha / 2) would pass.
    """
    labels = np.asarray(settings, dtype=object).astype(str)
    names = sorted(np.unique(labels).tolist()) if per_setting else ["all"]
    available = {n: (int((labels == n).sum()) if per_setting else int(labels.size)) for n in names}
    rate = {n: expected_correct_rate.get(n, expected_correct_rate.get("all", float("nan"))) for n in names}
    expected_automated = {n: (min(1.0, rate[n] / (1 - alpha)) * available[n] if np.isfinite(rate[n]) else 0.0)
                          for n in names}

    def shares(chosen: list[str]) -> dict[str, float]:
        w = delta_weights({n: expected_automated[n] for n in chosen}, alpha)
        return {n: delta * w.get(n, 0.0) for n in chosen}

    def level(n: str, d: float) -> float:
        return method_delta_per_test(method, fwer, d, max(available[n], 2), one_start=one_start)

    certify = list(names)
    for _ in range(len(names) + 1):
        d_of = shares(certify)
        keep = [n for n in certify if np.isfinite(rate[n]) and d_of.get(n, 0.0) > 0 and rate[n] * available[n]
                >= error_free_needed(alpha, level(n, d_of[n]))]
        if keep == certify or not keep:
            certify = keep
            break
        certify = keep
    d_of = shares(certify)
    rows = []
    for name in names:
        n_avail = available[name]
        d = d_of.get(name, delta / max(1, len(certify)))
        d_test = level(name, d)
        automatable = min(1.0, rate[name] / (1 - alpha)) if np.isfinite(rate[name]) else float("nan")
        automated_needed = episodes_needed(alpha, d_test)
        needed = (math.ceil(automated_needed / automatable) if automatable and np.isfinite(automatable)
                  else None)
        rows.append({
            "setting": name,
            "certify": name in certify,
            "delta_setting": d if name in certify else 0.0,
            "delta_per_test": d_test if name in certify else 0.0,
            "error_free_needed": error_free_needed(alpha, d_test),
            "automated_needed": automated_needed,
            "expected_correct_rate": rate[name],
            "episodes_needed": needed,
            "episodes_available": n_avail,
            "enough": bool(needed is not None and n_avail >= needed),
        })
    return pd.DataFrame(rows)


def policy_share_of_pool(plan: pd.DataFrame, pool_settings: Any, floor: float, ceiling: float) -> float:
    """Share of a held-out pool to give the policy part so that the settings that can be served are.

    The pool is split between probability calibration and policy choice. The policy part gets
    what the settings' ``episodes_needed`` ask for (scaled by each setting's share of the pool),
    between ``floor`` and ``ceiling``; settings that need more than the ceiling can give are
    reported as short rather than starving calibration.
    """
    labels = np.asarray(pool_settings, dtype=object).astype(str)
    if labels.size == 0:
        return floor
    wanted = floor
    for _, row in plan.iterrows():
        if row["episodes_needed"] is None or pd.isna(row["episodes_needed"]):
            continue
        in_pool = labels.size if row["setting"] == "all" else int((labels == row["setting"]).sum())
        if in_pool:
            wanted = max(wanted, min(ceiling, row["episodes_needed"] / in_pool))
    return float(min(ceiling, wanted))
