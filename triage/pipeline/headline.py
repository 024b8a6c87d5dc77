"""The run's prose: the headline sentence a coding manager reads first and the thresholds in words."""
from __future__ import annotations

from typing import Any

import numpy as np

from triage.confidence.targets import MEANINGS
from triage.policy import Policy


def threshold_text(t_automate: float, t_assist: float | None) -> str:
    """``automate p ≥ t[, assist p ≥ t]`` (``automate none`` when nothing can be automated)."""
    auto = f"automate p ≥ {t_automate:.3f}" if np.isfinite(t_automate) else "automate none"
    if t_assist is None or not np.isfinite(t_assist) or t_assist >= t_automate:
        return auto
    return f"{auto}, assist p ≥ {t_assist:.3f}"


def thresholds_by_setting(policy: Policy) -> str:
    """The thresholds a grouped policy applies, one ``setting: ...`` per group ("" when ungrouped):
    the top-level ``t_automate`` of such a policy is infinite and says nothing."""
    if policy.group_by is None:
        return ""
    parts = []
    for name in sorted(policy.groups):
        t_auto, t_assist = policy.thresholds_for(name)
        parts.append(f"{name}: {threshold_text(t_auto, t_assist)}")
    return "; ".join(parts)


def headline(summary: dict[str, Any]) -> str:
    """One sentence a coding manager reads first: what the router automates, and under what guarantee.

    "Automates nothing" comes first when it is true, with no percentage saving; a saving from
    assisted review is labelled as resting on assumed minutes; when the headline target is not
    the exact code set, what the exact set would give is said too. What the target means comes
    from :data:`triage.confidence.targets.MEANINGS` (the report says the same words).
    """
    n, n_auto = summary.get("n_test") or 0, summary.get("n_automated") or 0
    alpha, delta = summary["alpha"], summary["delta"]
    target = summary["target"]
    meaning = MEANINGS.get(target, target)
    unit = summary.get("cost_unit", "minutes")
    if not n_auto:
        why = summary.get("policy_note") or "no threshold could be certified"
        return (f"Automates nothing: 0 of {n:,} test episodes ({target} target: {meaning}; alpha={alpha:g}, "
                f"delta={delta:g}). {why}. Assisted review would save "
                f"{round(summary.get('saving_from_assist_per_episode') or 0, 1) + 0.0:.1f} {unit} per episode, an assumed "
                "figure (assist and assist-error costs are assumptions, not measurements).")
    parts = [(f"Automates {n_auto:,} of {n:,} test episodes ({summary['automation_rate']:.1%}) with error among "
              f"them <= {summary['automated_error_guarantee']:.3g} guaranteed at probability >= {1 - delta:g} "
              f"({target} target: {meaning}; test error {summary['automated_error_rate']:.1%}).")]
    by = summary.get("automation_by_setting") or {}
    if by:
        parts.append("By setting: " + ", ".join(f"{k} {v:.1%}" for k, v in sorted(by.items())) + ".")
    exact = (summary.get("automation_by_target") or {}).get("exact")
    if target != "exact" and exact is not None:
        parts.append(f"On the exact code set it would automate {exact['guaranteed_automation']:.1%} "
                     f"(oracle at alpha {exact['oracle_at_alpha']:.1%}).")
    parts.append(f"Certified saving from automation >= {summary['certified_saving_per_episode']:.1f} {unit} per "
                 f"episode; assisted review adds {summary.get('saving_from_assist_per_episode', 0):.1f} {unit} "
                 "(assumed costs).")
    return " ".join(parts)
