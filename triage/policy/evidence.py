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

from triage.policy.guarantees import episodes_needed, error_free_needed, method_delta_per_test


def certified_settings(plan: pd.DataFrame) -> list[str]:
    """The settings of an :func:`evidence_plan` that get a share of delta."""
    return plan.loc[plan["certify"], "setting"].astype(str).tolist()


def evidence_plan(
    settings: Any,
    expected_correct_rate: dict[str, float],
    alpha: float,
    delta: float,
    method: str,
    fwer: str,
    per_setting: bool = True,
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
    certify = list(names)
    for _ in range(len(names) + 1):
        d = delta / max(1, len(certify))
        keep = [n for n in certify if np.isfinite(rate[n]) and rate[n] * available[n]
                >= error_free_needed(alpha, method_delta_per_test(method, fwer, d, max(available[n], 2)))]
        if keep == certify or not keep:
            certify = keep
            break
        certify = keep
    d = delta / max(1, len(certify))
    rows = []
    for name in names:
        n_avail = available[name]
        d_test = method_delta_per_test(method, fwer, d, max(n_avail, 2))
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
