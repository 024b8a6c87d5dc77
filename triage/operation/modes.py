"""Policy states in operation: shadow, live, fallback, and what each does to a decision.

A deployed policy version is in one state per care setting:

* ``shadow`` — the policy decides, the decision is stored, but nothing is automated: an episode
  the policy would automate goes to assisted review, so people keep coding and their outcomes
  become labelled data from the hospital's own stream (re-certification reads them).
* ``live`` — the policy's decision is served; each automated decision is drawn for a blind audit
  with a known probability, and a share of all episodes may be held out for human coding.
* ``fallback`` — the watch found the error among automated above alpha (or an admin pulled the
  switch): nothing in the setting is automated; would-automate episodes go to assisted review.
  Automation comes back only with a new, re-certified policy version, never by itself.

This module holds the rule; the service stores the states and calls :func:`serve` per decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from triage.operation.sampling import audit_draw, audit_probability, holdout_draw

STATES = ("shadow", "live", "fallback")
#: Why a state changed: a code, never free text (no free text from requests reaches the store).
REASONS = (
    "deployed",
    "shadow_evidence_reviewed",
    "recertified",
    "manual_pause",
    "manual_fallback",
    "watch_violated",
    "drift_warning",
    "incident",
)
#: The transitions an admin may ask for (old -> allowed new states). ``fallback`` has none: a
#: setting that fell back stays so for this version; a re-certified version brings automation back.
ADMIN_TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "shadow": ("live", "fallback"),
    "live": ("shadow", "fallback"),
    "fallback": (),
}


def check_transition(old: str, new: str) -> None:
    """Raise ValueError when an admin may not move a setting from ``old`` to ``new``."""
    if new not in STATES:
        raise ValueError(f"unknown state {new!r}; use one of {list(STATES)}")
    if old == new:
        return
    if new not in ADMIN_TRANSITIONS.get(old, ()):
        if old == "fallback":
            raise ValueError(
                "a setting in fallback stays there for this policy version: re-certify "
                "(a new policy version) to automate it again")
        raise ValueError(f"cannot move from {old!r} to {new!r}")


@dataclass(frozen=True)
class Served:
    """What the platform is told, beside what the policy decided."""

    route: str
    policy_route: str
    mode: str
    audit: bool
    holdout: bool


@dataclass(frozen=True)
class SamplingPlan:
    """How audits and holdouts are drawn: known probabilities, reproducible from ``seed`` and the
    decision id (so an auditor can re-draw every decision's lot)."""

    seed: int = 0
    audit_probability: float = 0.05
    audit_minimum: Mapping[str, float] | None = None
    holdout_probability: float = 0.0

    def __post_init__(self) -> None:
        for name in ("audit_probability", "holdout_probability"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v!r}")
        for setting, v in (self.audit_minimum or {}).items():
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"audit_minimum[{setting!r}] must be in [0, 1], got {v!r}")

    def audit_probability_for(self, care_setting: str | None) -> float:
        return audit_probability(care_setting, self.audit_probability, self.audit_minimum)


def serve(policy_route: str, mode: str, *, decision_id: str, care_setting: str | None,
          plan: SamplingPlan) -> Served:
    """The served route of one decision under the setting's state.

    Holdouts are drawn among live decisions only (in shadow every episode is coded by people
    already), over all routes, so the held-out stream is a uniform sample of live traffic; audits
    are drawn among the automated decisions that remain.
    """
    if mode not in STATES:
        raise ValueError(f"unknown policy state {mode!r}")
    if mode != "live":
        route = "assist" if policy_route == "automate" else policy_route
        return Served(route, policy_route, mode, audit=False, holdout=False)
    holdout = plan.holdout_probability > 0 and holdout_draw(
        plan.seed, decision_id, plan.holdout_probability)
    if policy_route != "automate":
        return Served(policy_route, policy_route, mode, audit=False, holdout=holdout)
    if holdout:
        return Served("assist", policy_route, mode, audit=False, holdout=True)
    audit = audit_draw(plan.seed, decision_id, plan.audit_probability_for(care_setting))
    return Served("automate", policy_route, mode, audit=audit, holdout=False)
