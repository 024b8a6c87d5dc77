"""Finite-sample guarantees on the error rate among automated episodes.

Automating every episode with confidence ``p >= t`` gives ``n(t)`` automated episodes with
``k(t)`` errors. Two ways of choosing ``t`` so that the true error rate among automated
episodes is <= alpha with probability >= 1 - delta over the calibration draw:

* SGR (Geifman & El-Yaniv 2017): binary search over the sorted confidences, bounding each
  tested threshold's risk with the one-sided Clopper–Pearson limit at delta / ceil(log2 m).
* Learn-then-Test (Angelopoulos et al. 2021): one exact binomial test per threshold of a grid
  fixed before seeing the data, with family-wise error control by fixed-sequence testing (from
  the most conservative threshold down) or Bonferroni–Holm. Selective precision is not monotone
  in ``t``, so no monotonicity is assumed; both procedures stay valid without it.

The binomial p-value ``P(Bin(n, alpha) <= k)`` is what MAPIE's ``BinaryClassificationController``
computes for a binary loss (its Hoeffding–Bentkus p-value reduces to it), and
``P(Bin(n, alpha) <= k) <= delta`` holds exactly when the one-sided Clopper–Pearson upper limit
at level ``1 - delta`` is <= alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats

FwerMethod = Literal["fixed_sequence", "holm"]


def clopper_pearson_upper(k: Any, n: Any, delta: float) -> np.ndarray:
    """One-sided upper Clopper–Pearson limit on a binomial rate: P(rate > limit) <= delta.

    ``n == 0`` gives 1 (nothing observed, nothing bounded).
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("k must satisfy 0 <= k <= n")
    with np.errstate(invalid="ignore"):
        upper = stats.beta.ppf(1.0 - delta, k + 1.0, np.maximum(n - k, 1e-300))
    return np.where(k >= n, 1.0, upper)


def clopper_pearson_interval(k: Any, n: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided exact (Clopper–Pearson) interval at ``level``; (nan, nan) where n == 0."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    a = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(k > 0, stats.beta.ppf(a, np.maximum(k, 1e-300), n - k + 1.0), 0.0)
        upper = np.where(k < n, stats.beta.ppf(1.0 - a, k + 1.0, np.maximum(n - k, 1e-300)), 1.0)
    empty = n <= 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)


def binomial_p_values(k: Any, n: Any, alpha: float) -> np.ndarray:
    """p-value of H0 "error rate > alpha" given k errors in n: P(Bin(n, alpha) <= k); 1 where n == 0."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    return np.where(n > 0, stats.binom.cdf(k, np.maximum(n, 1), alpha), 1.0)


@dataclass
class SelectiveCounts:
    """Counts of automated episodes and errors for 'automate when p >= t', for any t, in O(log m)."""

    p_sorted: np.ndarray          # ascending
    errors_at_or_above: np.ndarray  # errors among p_sorted[i:], length m + 1

    @classmethod
    def from_arrays(cls, p: np.ndarray, correct: np.ndarray) -> SelectiveCounts:
        order = np.argsort(p, kind="stable")
        err = (~correct[order]).astype(np.int64)
        tail = np.concatenate([np.cumsum(err[::-1])[::-1], [0]])
        return cls(p[order], tail)

    @property
    def m(self) -> int:
        return int(self.p_sorted.shape[0])

    def at(self, thresholds: Any) -> tuple[np.ndarray, np.ndarray]:
        """(n automated, errors among them) for each threshold."""
        start = np.searchsorted(self.p_sorted, np.asarray(thresholds, dtype=float), side="left")
        return self.m - start, self.errors_at_or_above[start]


@dataclass
class RiskControlResult:
    """A chosen threshold and the evidence for it."""

    threshold: float               # automate when p >= threshold; inf when nothing is valid
    feasible: bool
    bound: float                   # guaranteed upper limit on error among automated at the threshold
    method: str
    delta_per_test: float
    valid_thresholds: np.ndarray = field(default_factory=lambda: np.empty(0))
    tested: int = 0
    tested_thresholds: np.ndarray = field(default_factory=lambda: np.empty(0))


def default_grid(resolution: int = 100) -> np.ndarray:
    """Data-independent threshold grid for Learn-then-Test: 0, 1/resolution, ..., 1."""
    return np.linspace(0.0, 1.0, resolution + 1)


def sgr_threshold(p: np.ndarray, correct: np.ndarray, alpha: float, delta: float) -> RiskControlResult:
    """Selection with guaranteed risk (Geifman & El-Yaniv 2017, Algorithm 1).

    Binary search over the ascending confidences: a threshold whose Clopper–Pearson bound at
    delta / ceil(log2 m) is <= alpha lets the search try a lower one. The union bound over the
    ceil(log2 m) tested thresholds makes every passing one valid; the lowest is returned.
    """
    counts = SelectiveCounts.from_arrays(p, correct)
    m = counts.m
    k_tests = max(1, math.ceil(math.log2(m))) if m > 1 else 1
    d = delta / k_tests
    z_min, z_max = 0, m - 1
    best: tuple[float, float] | None = None
    passing: list[float] = []
    tested: list[float] = []
    for _ in range(k_tests):
        z = (z_min + z_max + 1) // 2
        theta = float(counts.p_sorted[z])
        tested.append(theta)
        n, k = counts.at(theta)
        bound = float(clopper_pearson_upper(k, n, d))
        if bound <= alpha:
            passing.append(theta)
            if best is None or theta < best[0]:
                best = (theta, bound)
            z_max = z
        else:
            z_min = z
        if z_max - z_min <= 1:
            break
    if best is None:
        return RiskControlResult(math.inf, False, 1.0, "sgr", d, np.empty(0), k_tests, np.array(tested))
    return RiskControlResult(best[0], True, best[1], "sgr", d, np.array(sorted(passing)), k_tests, np.array(tested))


def ltt_valid(
    p: np.ndarray,
    correct: np.ndarray,
    alpha: float,
    delta: float,
    grid: np.ndarray | None = None,
    fwer: FwerMethod = "holm",
) -> tuple[np.ndarray, np.ndarray]:
    """Learn-then-Test: (valid thresholds ascending, p-value per grid point in grid order).

    Every returned threshold simultaneously has error among automated <= alpha, with
    probability >= 1 - delta (family-wise error control over the grid).
    """
    grid = default_grid() if grid is None else np.asarray(grid, dtype=float)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError("grid must be a non-empty 1-d array of thresholds")
    counts = SelectiveCounts.from_arrays(p, correct)
    n, k = counts.at(grid)
    pv = binomial_p_values(k, n, alpha)
    if fwer == "fixed_sequence":
        # Test from the most conservative threshold downwards; stop at the first acceptance.
        # Thresholds automating too few episodes to ever reject ((1 - alpha)^n > delta even with
        # no errors) are skipped: that depends on the confidences only, not on the labels, so
        # the sequence is still fixed before the tested outcomes are seen.
        testable = np.power(1.0 - alpha, n.astype(float)) <= delta
        order = np.argsort(-grid, kind="stable")
        order = order[testable[order]]
        ok = pv[order] <= delta
        stop = int(np.argmin(ok)) if not ok.all() else ok.size
        rejected = order[:stop]
    elif fwer == "holm":
        order = np.argsort(pv, kind="stable")
        levels = delta / (grid.size - np.arange(grid.size))
        ok = pv[order] <= levels
        stop = int(np.argmin(ok)) if not ok.all() else ok.size
        rejected = order[:stop]
    else:
        raise ValueError(f"fwer must be 'fixed_sequence' or 'holm', got {fwer!r}")
    return np.sort(grid[rejected]), pv


def ltt_threshold(
    p: np.ndarray,
    correct: np.ndarray,
    alpha: float,
    delta: float,
    grid: np.ndarray | None = None,
    fwer: FwerMethod = "holm",
) -> RiskControlResult:
    """Lowest Learn-then-Test-valid threshold (largest automation), or infeasible."""
    grid_arr = default_grid() if grid is None else np.asarray(grid, dtype=float)
    valid, _ = ltt_valid(p, correct, alpha, delta, grid_arr, fwer)
    d = delta if fwer == "fixed_sequence" else delta / grid_arr.size
    if valid.size == 0:
        return RiskControlResult(math.inf, False, 1.0, f"ltt_{fwer}", d, valid, grid_arr.size)
    counts = SelectiveCounts.from_arrays(p, correct)
    t = float(valid[0])
    n, k = counts.at(t)
    bound = float(clopper_pearson_upper(k, n, delta))
    return RiskControlResult(t, True, bound, f"ltt_{fwer}", d, valid, grid_arr.size)
