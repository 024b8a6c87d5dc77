"""Which decisions are audited or held out: reproducible draws from a seed and the decision id.

A draw is ``u < probability`` with ``u`` the first 8 bytes of
``blake2b(f"{salt}:{seed}:{decision_id}")`` read as an unsigned integer over 2**64. It depends on
nothing but the seed and the id, so an auditor can recompute every draw from the decision log,
and it is fixed before the episode's outcome exists: the audited episodes are a random sample of
the automated ones with a known inclusion probability, which is what the watch
(:mod:`triage.operation.watch`) needs. The audit and the holdout draws use different salts, so
they behave as independent uniform draws for the same decision.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

AUDIT_SALT = "audit"
HOLDOUT_SALT = "holdout"
#: Default share of automated decisions sent for a blind audit.
DEFAULT_AUDIT_PROBABILITY = 0.05


def check_probability(name: str, value: float) -> float:
    """``value`` as a float in [0, 1], else ValueError naming ``name``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def uniform_draw(salt: str, seed: int, decision_id: str) -> float:
    """The reproducible uniform number in [0, 1) behind a draw."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")  # noqa: TRY004 (bad input is a ValueError here)
    if not isinstance(decision_id, str) or not decision_id:
        raise ValueError("decision_id must be a non-empty string")
    digest = hashlib.blake2b(f"{salt}:{seed}:{decision_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def audit_draw(seed: int, decision_id: str, probability: float) -> bool:
    """Whether this decision is sent for a blind audit (probability ``probability``)."""
    probability = check_probability("probability", probability)
    return uniform_draw(AUDIT_SALT, seed, decision_id) < probability


def holdout_draw(seed: int, decision_id: str, probability: float) -> bool:
    """Whether this decision is held out (coded by people, outcome kept for re-certification)."""
    probability = check_probability("probability", probability)
    return uniform_draw(HOLDOUT_SALT, seed, decision_id) < probability


def audit_probability(care_setting: str | None, default: float = DEFAULT_AUDIT_PROBABILITY,
                      minimum: Mapping[str, float] | None = None) -> float:
    """The audit probability of a setting: ``max(default, minimum[setting])`` (a floor per setting,
    e.g. a higher rate where the guarantee rests on fewer episodes)."""
    default = check_probability("default", default)
    floor = 0.0
    if minimum and care_setting is not None and care_setting in minimum:
        floor = check_probability(f"minimum[{care_setting!r}]", minimum[care_setting])
    return max(default, floor)
