"""The hospital's cost model: what manual coding, assisted review and an automation error cost.

Costs are per episode, in one unit (minutes of coder time or money). An automation error costs
``error_cost`` (rework, audit); with ``drg_weighted=True`` it also puts payment at risk:
``base_rate * |w_pred - w_gold|`` where ``w`` are MS-DRG relative weights. At routing time the
gold DRG is unknown, so callers pass a per-episode *expected* weight gap given an error and the
expected error cost is ``(1 - p) * (error_cost + base_rate * gap)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

UNITS = ("minutes", "money")


def _check_array(name: str, values: Any, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} values, expected {n}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite; position {bad} is {arr[bad]!r}")
    return arr


def check_probabilities(name: str, p: Any) -> np.ndarray:
    """1-d float array of probabilities in [0, 1], or a ValueError naming ``name``."""
    arr = _check_array(name, p)
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        bad = int(np.flatnonzero((arr < 0) | (arr > 1))[0])
        raise ValueError(f"{name} must lie in [0, 1]; position {bad} is {arr[bad]!r}")
    return arr


def check_correct(name: str, correct: Any, n: int) -> np.ndarray:
    """1-d boolean array of length ``n`` (accepts bool or 0/1), or a ValueError naming ``name``."""
    arr = np.asarray(correct)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be a 1-d array of {n} values, got shape {arr.shape}")
    if arr.dtype != bool:
        ok = np.isin(arr, (0, 1))
        if not np.all(ok):
            bad = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"{name} must be boolean or 0/1; position {bad} is {arr[bad]!r}")
        arr = arr.astype(bool)
    return arr


@dataclass(frozen=True)
class CostModel:
    """Per-episode costs of the three routes, and the human capacity constraint.

    ``capacity`` is how many episodes human coders can handle per period and ``period_episodes``
    how many arrive per period; an assisted review uses ``assist_cost / manual_cost`` of a
    manual episode's capacity. ``assist_error_cost`` is the cost of an error that survives an
    assisted review (charged at the automated coder's error probability).
    """

    manual_cost: float = 1.0
    assist_cost: float | None = None
    error_cost: float = 1.0
    assist_error_cost: float = 0.0
    unit: str = "minutes"
    drg_weighted: bool = False
    base_rate: float | None = None
    capacity: float | None = None
    period_episodes: float | None = None

    def __post_init__(self) -> None:
        def number(name: str, minimum: float, strict: bool = False, optional: bool = False) -> None:
            value = getattr(self, name)
            if value is None and optional:
                return
            ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
            if not ok or not np.isfinite(value) or value < minimum or (strict and value == minimum):
                op = ">" if strict else ">="
                raise ValueError(f"CostModel.{name} must be a finite number {op} {minimum:g}, got {value!r}")

        number("manual_cost", 0, strict=True)
        number("error_cost", 0)
        number("assist_error_cost", 0)
        number("assist_cost", 0, optional=True)
        if self.unit not in UNITS:
            raise ValueError(f"CostModel.unit must be one of {UNITS}, got {self.unit!r}")
        if self.drg_weighted:
            if self.base_rate is None:
                raise ValueError("CostModel.base_rate (payment per unit of DRG relative weight) is required when drg_weighted=True")
            number("base_rate", 0, strict=True)
            if self.unit != "money":
                raise ValueError("CostModel.unit must be 'money' when drg_weighted=True (payment at risk is money)")
        if (self.capacity is None) != (self.period_episodes is None):
            raise ValueError("CostModel.capacity and CostModel.period_episodes must be given together")
        number("capacity", 0, optional=True)
        number("period_episodes", 0, strict=True, optional=True)

    # -- derived quantities -------------------------------------------------------------------
    @property
    def has_assist(self) -> bool:
        return self.assist_cost is not None

    @property
    def human_capacity_share(self) -> float | None:
        """Largest share of episodes humans can absorb (manual-equivalents), or None if unconstrained."""
        if self.capacity is None:
            return None
        return min(1.0, float(self.capacity) / float(self.period_episodes))

    @property
    def assist_load(self) -> float:
        """Capacity one assisted review uses, in manual-episode equivalents."""
        return 0.0 if self.assist_cost is None else float(self.assist_cost) / float(self.manual_cost)

    def error_costs(self, n: int, weight_gap: Any = None) -> np.ndarray:
        """Cost of an automation error for each of ``n`` episodes (constant or DRG-weighted)."""
        if not self.drg_weighted:
            if weight_gap is not None:
                raise ValueError("weight_gap was given but CostModel.drg_weighted is False")
            return np.full(n, float(self.error_cost))
        if weight_gap is None:
            raise ValueError("weight_gap (per-episode DRG relative-weight gap) is required when drg_weighted=True")
        gap = _check_array("weight_gap", weight_gap, n)
        if gap.size and gap.min() < 0:
            raise ValueError(f"weight_gap must be >= 0; position {int(np.argmin(gap))} is {gap.min()!r}")
        return float(self.error_cost) + float(self.base_rate) * gap

    def expected_costs(self, p: Any, weight_gap: Any = None) -> dict[str, np.ndarray]:
        """Expected cost of each route per episode given calibrated P(correct) ``p``."""
        p = check_probabilities("p", p)
        err = self.error_costs(p.shape[0], weight_gap)
        out = {
            "automate": (1.0 - p) * err,
            "manual": np.full(p.shape[0], float(self.manual_cost)),
        }
        if self.has_assist:
            out["assist"] = float(self.assist_cost) + (1.0 - p) * float(self.assist_error_cost)
        return out

    def realised_costs(self, routes: Any, correct: Any, weight_gap: Any = None) -> np.ndarray:
        """Realised cost per episode of a routing given whether the automated code set was right.

        For DRG-weighted costs ``weight_gap`` here is the *realised* gap ``|w_pred - w_gold|``.
        """
        routes = np.asarray(routes)
        correct = check_correct("correct", correct, routes.shape[0])
        unknown = ~np.isin(routes, ("automate", "assist", "manual"))
        if unknown.any():
            bad = int(np.flatnonzero(unknown)[0])
            raise ValueError(f"routes must be automate/assist/manual; position {bad} is {routes[bad]!r}")
        if (routes == "assist").any() and not self.has_assist:
            raise ValueError("routes contain 'assist' but CostModel.assist_cost is None")
        err = self.error_costs(routes.shape[0], weight_gap)
        cost = np.full(routes.shape[0], float(self.manual_cost))
        auto = routes == "automate"
        cost[auto] = np.where(correct[auto], 0.0, err[auto])
        if self.has_assist:
            assist = routes == "assist"
            cost[assist] = float(self.assist_cost) + np.where(correct[assist], 0.0, float(self.assist_error_cost))
        return cost

    def all_human_cost(self) -> float:
        """Cost per episode when humans code everything by hand: the baseline."""
        return float(self.manual_cost)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostModel:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"CostModel got unknown field(s) {sorted(unknown)}")
        return cls(**data)


def drg_weight_gap(predicted_weights: Any, gold_weights: Any) -> np.ndarray:
    """Realised payment-at-risk weight per episode, |w_pred - w_gold| of MS-DRG relative weights.

    Pass it as ``weight_gap`` to :meth:`CostModel.realised_costs`; at routing time pass an
    *expected* gap instead (e.g. from a model of the DRG given the predicted codes).
    """
    pred = _check_array("predicted_weights", predicted_weights)
    gold = _check_array("gold_weights", gold_weights, pred.shape[0])
    return np.abs(pred - gold)
