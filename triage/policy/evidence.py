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


def evidence_plan(
    settings: Any,
    expected_correct_rate: dict[str, float],
    alpha: float,
    delta: float,
    method: str,
    fwer: str,
    per_setting: bool = True,
) -> pd.DataFrame:
    """Per setting: the evidence its guarantee needs and how many policy episodes give it.

    ``settings`` are the care settings of the candidate policy episodes (label-free);
    ``expected_correct_rate`` per setting comes from *other* episodes' labels (the confidence
    fitting part), so planning never looks at the policy labels. ``episodes_needed`` is a
    planning figure: the policy episodes of that setting at which a test of the certifiable
    share (the expected correct rate / (1 - alpha), errors at alpha / 2) would pass.
    """
    labels = np.asarray(settings, dtype=object).astype(str)
    names = sorted(np.unique(labels).tolist()) if per_setting else ["all"]
    k = len(names) if per_setting else 1
    d = delta / k
    rows = []
    for name in names:
        n_avail = int((labels == name).sum()) if per_setting else int(labels.size)
        m_guess = max(n_avail, 2)
        d_test = method_delta_per_test(method, fwer, d, m_guess)
        rate = expected_correct_rate.get(name, expected_correct_rate.get("all", float("nan")))
        automatable = min(1.0, rate / (1 - alpha)) if np.isfinite(rate) else float("nan")
        automated_needed = episodes_needed(alpha, d_test)
        needed = (math.ceil(automated_needed / automatable) if automatable and np.isfinite(automatable)
                  else None)
        rows.append({
            "setting": name,
            "delta_setting": d,
            "delta_per_test": d_test,
            "error_free_needed": error_free_needed(alpha, d_test),
            "automated_needed": automated_needed,
            "expected_correct_rate": rate,
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
