"""95% confidence intervals for per-episode metrics.

Normal approximation (mean +- z * sd / sqrt(n)), as in the seed paper's Table 2, or a
percentile bootstrap over episodes. Ratio metrics (micro F1) bootstrap their per-episode
numerators and denominators together.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def normal_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (float("nan"), float("nan"))
    z = norm.ppf(0.5 + level / 2)
    half = z * (v.std(ddof=1) if v.size > 1 else 0.0) / np.sqrt(v.size)
    return (float(v.mean() - half), float(v.mean() + half))


def bootstrap_indices(n: int, n_boot: int, random_state: int | None) -> np.ndarray:
    """(n_boot, n) resampled episode indices; one draw shared by every metric of a report."""
    rng = np.random.default_rng(random_state)
    return rng.integers(0, n, size=(n_boot, n))


def bootstrap_ci(values: np.ndarray, idx: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    stats = np.nanmean(v[idx], axis=1)
    lo, hi = np.nanpercentile(stats, [50 * (1 - level), 50 * (1 + level)])
    return (float(lo), float(hi))


def bootstrap_ratio_ci(
    num: np.ndarray, den: np.ndarray, idx: np.ndarray, level: float = 0.95
) -> tuple[float, float]:
    n = np.asarray(num, dtype=np.float64)[idx].sum(axis=1)
    d = np.asarray(den, dtype=np.float64)[idx].sum(axis=1)
    stats = np.divide(n, d, out=np.zeros_like(n), where=d > 0)
    lo, hi = np.percentile(stats, [50 * (1 - level), 50 * (1 + level)])
    return (float(lo), float(hi))
