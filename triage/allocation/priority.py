"""Complexity, experience gate and priority score of an episode.

Priority is a weighted sum of business terms (weights and scales in the config, ``priority``):

* payment at stake — ``drg_weight * base_rate / payment_unit``: the DRG payment the claim
  releases once coded, in units of ``payment_unit`` so the weight is comparable to the others;
* urgency — ``(days / deadline) ** urgency_power + overdue_penalty * max(0, days - deadline) / deadline``
  with ``days`` since discharge: grows slowly at first, steeply near the billing deadline and
  linearly after it (an overdue claim keeps getting more urgent, it never saturates);
* complexity — ``per_code * n_codes + per_category * n_categories + per_drg_weight * drg_weight``:
  complex episodes carry more coding (and audit) risk, so a positive weight moves them earlier;
* confidence — the router's ``p_correct``: with a positive weight, confident assisted episodes
  (quick confirmations that release payment fast) go first; a negative weight favours uncertain ones.

The score is floored at ``min_priority`` so every episode is worth serving when capacity allows
(the assignment maximises the sum of priorities served and would skip zero-priority episodes).
"""

from __future__ import annotations

import numpy as np

from triage.allocation.config import AllocationConfig


class PriorityScorer:
    """Vectorised and scalar versions of the same formulas (the scalar one serves the router)."""

    def __init__(self, config: AllocationConfig):
        p = config.priority
        w = p["weights"]
        c = config.complexity
        self.w_payment = w["payment"] * p["base_rate"] / p["payment_unit"]
        self.w_urgency = w["urgency"]
        self.w_complexity = w["complexity"]
        self.w_confidence = w["confidence"]
        self.deadline = p["billing_deadline_days"]
        self.power = p["urgency_power"]
        self.overdue = p["overdue_penalty"]
        self.floor = p["min_priority"]
        self.cx = (c["per_code"], c["per_category"], c["per_drg_weight"])
        self.gates = (c["intermediate_from"], c["senior_from"])
        self.ranks = (min(config.levels.values()), config.levels["intermediate"], config.levels["senior"])

    # -- complexity and experience gate -------------------------------------------------------
    def complexity(self, n_codes, n_categories, drg_weight):
        a, b, c = self.cx
        return a * n_codes + b * n_categories + c * drg_weight

    def required_level(self, complexity: np.ndarray) -> np.ndarray:
        """Minimum experience rank allowed to code each episode."""
        junior, inter, senior = self.ranks
        out = np.full(np.shape(complexity), junior, dtype=np.int16)
        out[complexity >= self.gates[0]] = inter
        out[complexity >= self.gates[1]] = senior
        return out


    # -- priority -------------------------------------------------------------------------------
    def urgency(self, days):
        d = np.maximum(np.asarray(days, dtype=float), 0.0) / self.deadline
        return d ** self.power + self.overdue * np.maximum(d - 1.0, 0.0)

    def score(self, drg_weight, days, complexity, p_correct) -> np.ndarray:
        s = (self.w_payment * np.asarray(drg_weight, float) + self.w_urgency * self.urgency(days)
             + self.w_complexity * np.asarray(complexity, float)
             + self.w_confidence * np.asarray(p_correct, float))
        return np.maximum(s, self.floor)

    def score_one(self, drg_weight: float, days: float, complexity: float, p_correct: float) -> float:
        d = max(days, 0.0) / self.deadline
        u = d ** self.power + self.overdue * max(d - 1.0, 0.0)
        s = (self.w_payment * drg_weight + self.w_urgency * u + self.w_complexity * complexity
             + self.w_confidence * p_correct)
        return max(self.floor, s)

    def terms(self, drg_weight, days, complexity, p_correct) -> dict[str, np.ndarray]:
        """Each weighted term separately (for explaining a priority to a coding manager)."""
        return {
            "payment": self.w_payment * np.asarray(drg_weight, float),
            "urgency": self.w_urgency * self.urgency(days),
            "complexity": self.w_complexity * np.asarray(complexity, float),
            "confidence": self.w_confidence * np.asarray(p_correct, float),
        }
