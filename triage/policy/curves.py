"""Risk–coverage and cost–coverage curves, as tidy DataFrames for the notebooks and the report."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from triage.policy.costs import CostModel, check_correct, check_probabilities
from triage.policy.guarantees import clopper_pearson_upper


def risk_coverage_curve(p: Any, correct: Any, delta: float | None = 0.1) -> pd.DataFrame:
    """One row per distinct threshold: coverage (automation rate), selective risk, and its bound.

    Automating ``p >= threshold``; ties are grouped so each row is an achievable policy. With
    ``delta`` the one-sided Clopper–Pearson upper limit of the risk is included (pointwise).
    """
    p = check_probabilities("p", p)
    correct = check_correct("correct", correct, p.shape[0])
    if p.size == 0:
        raise ValueError("p is empty: no curve to draw")
    from triage.confidence.evaluation import selective_risk_curve

    base = selective_risk_curve(correct, p)  # one tie-grouped curve for the whole project
    t = base["threshold"].to_numpy()
    n = np.rint(base["coverage"].to_numpy() * p.size).astype(np.int64)
    k = np.rint(base["risk"].to_numpy() * n).astype(np.int64)
    df = pd.DataFrame(
        {
            "threshold": t,
            "n_automated": n,
            "errors": k,
            "coverage": n / p.size,
            "risk": k / n,
        }
    )
    if delta is not None:
        df["risk_upper"] = clopper_pearson_upper(k, n, delta)
    return df


def cost_coverage_curve(
    p: Any, correct: Any, costs: CostModel, weight_gap: Any = None
) -> pd.DataFrame:
    """Cost per episode (automate ``p >= threshold``, the rest manual) against coverage.

    Includes the realised cost (using ``correct``), the model-expected cost (from ``p``), the
    all-human baseline and the saving.
    """
    p = check_probabilities("p", p)
    correct = check_correct("correct", correct, p.shape[0])
    if p.size == 0:
        raise ValueError("p is empty: no curve to draw")
    err = costs.error_costs(p.size, weight_gap)
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    realised_err = np.cumsum(np.where(correct[order], 0.0, err[order]))
    expected_err = np.cumsum((1.0 - ps) * err[order])
    last = np.r_[np.flatnonzero(np.diff(ps) != 0), ps.size - 1]
    n = last + 1
    manual = (p.size - n) * float(costs.manual_cost)
    base = costs.all_human_cost()
    df = pd.DataFrame(
        {
            "threshold": ps[last],
            "coverage": n / p.size,
            "cost_per_episode": (realised_err[last] + manual) / p.size,
            "expected_cost_per_episode": (expected_err[last] + manual) / p.size,
            "cost_per_episode_all_human": base,
        }
    )
    start = pd.DataFrame(
        {"threshold": [np.inf], "coverage": [0.0], "cost_per_episode": [base],
         "expected_cost_per_episode": [base], "cost_per_episode_all_human": [base]}
    )
    df = pd.concat([start, df], ignore_index=True)
    df["saving_per_episode"] = base - df["cost_per_episode"]
    df["unit"] = costs.unit
    return df
