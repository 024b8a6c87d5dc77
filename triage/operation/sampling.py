"""Audit and holdout draws: known probabilities, reproducible from a seed and the decision id."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def _uniform(salt: str, seed: int, decision_id: str) -> float:
    digest = hashlib.blake2b(f"{salt}:{seed}:{decision_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _check(probability: float) -> float:
    p = float(probability)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability!r}")
    return p


def audit_draw(seed: int, decision_id: str, probability: float) -> bool:
    return _uniform("audit", seed, decision_id) < _check(probability)


def holdout_draw(seed: int, decision_id: str, probability: float) -> bool:
    return _uniform("holdout", seed, decision_id) < _check(probability)


def audit_probability(care_setting: str | None, default: float = 0.05,
                      minimum: Mapping[str, float] | None = None) -> float:
    return max(_check(default), _check((minimum or {}).get(care_setting or "", 0.0)))
