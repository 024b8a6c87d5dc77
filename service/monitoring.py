"""Realised performance of the deployed router, from decisions and human outcomes."""

from __future__ import annotations

from collections import defaultdict

from service.store import GroupStats
from triage.policy.guarantees import clopper_pearson_interval

ROUTES = ("automate", "assist", "manual")


def summarise(stats: list[GroupStats], confidence: float = 0.95) -> list[dict]:
    """One summary per (model_version, policy_version): counts, automation rate, realised error."""
    groups: dict[tuple[str, str], dict[str, GroupStats]] = defaultdict(dict)
    for s in stats:
        groups[(s.model_version, s.policy_version)][s.route] = s
    out = []
    for (mv, pv), by_route in sorted(groups.items()):
        routed = {r: (by_route[r].routed if r in by_route else 0) for r in ROUTES}
        total = sum(s.routed for s in by_route.values())
        auto = by_route.get("automate")
        n = auto.with_outcome if auto else 0
        k = auto.errors if auto else 0
        interval = None
        if n:
            lo, hi = clopper_pearson_interval(k, n, confidence)  # the policy's own exact interval
            interval = {"lower": float(lo), "upper": float(hi), "confidence": confidence}
        out.append(
            {
                "model_version": mv,
                "policy_version": pv,
                "routed": routed,
                "total": total,
                "automation_rate": routed["automate"] / total,
                "outcomes": sum(s.with_outcome for s in by_route.values()),
                "automated_with_outcome": n,
                "automated_errors": k,
                "realised_error": k / n if n else None,
                "realised_error_interval": interval,
            }
        )
    return out
