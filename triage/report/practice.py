"""What the chosen policy means on the floor: episodes per 1,000 and money or coder hours."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _num(summary: Mapping[str, Any], key: str) -> float | None:
    try:
        value = float(summary[key])
    except (KeyError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def policy_in_practice(
    summary: Mapping[str, Any], costs: Mapping[str, Any] | None = None, per: int = 1000
) -> dict[str, Any]:
    """Per ``per`` episodes: how many go where, how many automated ones may be wrong, what it costs.

    ``costs`` is the run's ``policy.costs`` config (its ``unit`` says minutes or money).
    """
    costs = dict(costs or {})
    unit = str(costs.get("unit", "minutes"))
    auto = _num(summary, "automation_rate")
    if auto is None:
        raise ValueError("summary lacks 'automation_rate': the run chose no policy to describe")
    assist = _num(summary, "assist_rate") or 0.0
    manual = _num(summary, "manual_rate")
    if manual is None:
        manual = max(0.0, 1.0 - auto - assist)
    n_auto = auto * per
    out: dict[str, Any] = {
        "per": per,
        "unit": unit,
        "automated": n_auto,
        "assisted": assist * per,
        "manual": manual * per,
        "alpha": _num(summary, "alpha"),
        "delta": _num(summary, "delta"),
        "target": summary.get("target"),
    }
    err = _num(summary, "automated_error_rate")
    upper = _num(summary, "test_error_interval_upper")
    guarantee = _num(summary, "automated_error_guarantee")
    out["errors_observed"] = None if err is None else err * n_auto
    out["errors_upper"] = None if upper is None else upper * n_auto
    out["errors_guaranteed_max"] = None if guarantee is None or not n_auto else guarantee * n_auto
    certified = _num(summary, "certified_saving_per_episode")
    assist_saving = _num(summary, "saving_from_assist_per_episode")
    out["certified_saving"] = None if certified is None else certified * per
    out["assist_saving"] = None if assist_saving is None else assist_saving * per
    cost = _num(summary, "cost_per_episode")
    base = _num(summary, "cost_per_episode_all_human")
    out["cost"] = None if cost is None else cost * per
    out["cost_all_human"] = None if base is None else base * per
    out["saving"] = None if cost is None or base is None else (base - cost) * per
    # no percentage headline for a saving that automation did not earn
    out["saving_share"] = (None if out["saving"] is None or not base or not n_auto else (base - cost) / base)
    if unit == "minutes":
        out["saving_hours"] = None if out["saving"] is None else out["saving"] / 60.0
        out["cost_hours"] = None if out["cost"] is None else out["cost"] / 60.0
        out["cost_all_human_hours"] = None if out["cost_all_human"] is None else out["cost_all_human"] / 60.0
    return out
