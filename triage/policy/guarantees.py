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
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from scipy import stats

FwerMethod = Literal["fixed_sequence", "holm"]
#: Risk-control methods and family-wise error procedures, the choices config, CLI and service offer.
METHODS: tuple[str, ...] = ("ltt", "sgr")
FWER_METHODS: tuple[str, ...] = ("fixed_sequence", "holm")
#: Default: fixed-sequence Learn-then-Test, the most efficient procedure the simulation test
#: (tests/policy/test_guarantee_simulation.py) shows valid (docs/references.md#measured-by-this-project: 0.50 of oracle at
#: n = 1,000 against 0.28 for SGR and 0.17 for Holm over 101 points).
DEFAULT_METHOD = "ltt"
DEFAULT_FWER = "fixed_sequence"
#: Points of the label-free candidate sequence (fixed-sequence) and of the coarse Holm grid.
SEQUENCE_RESOLUTION = 100
HOLM_GRID_POINTS = 20
#: Predicted probability that the fixed sequence's first test passes where it starts.
START_POWER = 0.95
#: With an independent labelled reference, the start is planned by simulation (:func:`sequence_start`):
#: draws of the policy part's errors, the fewest reference episodes each stretch's error rate is
#: estimated from (neighbouring stretches pooled until there are that many), the seed (same data, same
#: start) and how far below the highest expected automation (a share of the policy episodes) the
#: chosen, earliest, start may be.
START_DRAWS = 400
START_WINDOW_EPISODES = 20
START_SEED = 0
START_TOLERANCE = 0.005


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
    """A chosen threshold and the evidence for it.

    ``guarantee`` is the number the procedure certifies: with probability >= 1 - delta over the
    calibration draw, the error rate among episodes automated at ``threshold`` is <= guarantee
    (alpha for Learn-then-Test; SGR's Clopper–Pearson bound at its per-test level, <= alpha).
    It is 1 when nothing is certified (``feasible`` False: automate nothing).
    """

    threshold: float               # automate when p >= threshold; inf when nothing is valid
    feasible: bool
    guarantee: float
    method: str                    # "ltt_fixed_sequence", "ltt_holm" or "sgr"
    delta_per_test: float
    valid_thresholds: np.ndarray = field(default_factory=lambda: np.empty(0))
    tested: int = 0
    tested_thresholds: np.ndarray = field(default_factory=lambda: np.empty(0))
    error_free_needed: int = 0     # automated episodes without an error the first test needs


def error_free_needed(alpha: float, delta_per_test: float) -> int:
    """Fewest automated episodes, all correct, that can pass one binomial test at ``delta_per_test``.

    (1 - alpha)^n <= delta'  <=>  n >= log(delta') / log(1 - alpha): 22 at alpha = delta = 0.1.
    """
    check_unit("alpha", alpha)
    check_unit("delta_per_test", delta_per_test)
    return math.ceil(math.log(delta_per_test) / math.log1p(-alpha) - 1e-12)


def method_delta_per_test(method: str, fwer: str, delta: float, m: int, one_start: bool = False) -> float:
    """The level each test runs at: delta / 2 (fixed sequence from two label-free starts), delta (fixed
    sequence from one start chosen on independent labels, ``one_start``), delta/G (Holm's first test),
    delta/ceil(log2 m) (SGR)."""
    check_method(method, fwer)
    if method == "sgr":
        return delta / max(1, math.ceil(math.log2(max(m, 2))))
    if fwer == "fixed_sequence":
        return delta if one_start else delta / 2
    return delta / HOLM_GRID_POINTS


@lru_cache(maxsize=1024)  # a pure planning figure, asked again for every plan (re-certification, runs)
def episodes_needed(alpha: float, delta_per_test: float, error_rate: float | None = None) -> int:
    """Automated episodes needed for a binomial test at ``delta_per_test`` to pass when their true
    error rate is ``error_rate`` (default alpha/2) and errors arrive at that rate.

    The smallest n with P(Bin(n, alpha) <= floor(error_rate * n)) <= delta': a planning figure
    (how much calibration evidence a run needs), not part of any guarantee.
    """
    r = alpha / 2 if error_rate is None else float(error_rate)
    if not 0 <= r < alpha:
        raise ValueError(f"error_rate must lie in [0, alpha), got {error_rate!r}")
    n0 = error_free_needed(alpha, delta_per_test)
    for n in range(n0, 200_000):
        if stats.binom.cdf(math.floor(r * n + 1e-9), n, alpha) <= delta_per_test:
            return n
    return 200_000


def check_method(method: str, fwer: str = DEFAULT_FWER) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "ltt" and fwer not in FWER_METHODS:
        raise ValueError(f"fwer must be one of {FWER_METHODS}, got {fwer!r}")


def check_unit(name: str, value: Any, optional: bool = False) -> None:
    """ValueError naming ``name`` unless ``value`` is a number in (0, 1) (or None when optional)."""
    if value is None and optional:
        return
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not ok or not 0 < float(value) < 1:
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")


def default_grid(resolution: int = 100) -> np.ndarray:
    """Data-independent threshold grid: 0, 1/resolution, ..., 1 (for the three-way assist threshold)."""
    return np.linspace(0.0, 1.0, resolution + 1)


def candidate_thresholds(p: np.ndarray, alpha: float, delta: float, fwer: FwerMethod = "fixed_sequence",
                         resolution: int | None = None) -> np.ndarray:
    """Label-free candidate thresholds for Learn-then-Test, most conservative first.

    Built from the calibration confidences alone (never the labels), so the sequence and the grid
    are fixed before the tested outcomes are seen. Candidates automate n_min, n_min + s, ...
    episodes, where n_min is the fewest error-free episodes that can pass a test at the
    procedure's level (22 at alpha = delta = 0.1 for fixed sequence): thresholds that could never
    be certified are not tested. Fixed sequence steps by 1/``resolution`` of the episodes; Holm
    uses a coarse geometric grid of ``resolution`` points (default 20), since each extra point
    costs it level.
    """
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return np.empty(0)
    desc = np.sort(p)[::-1]
    if fwer == "fixed_sequence":
        res = SEQUENCE_RESOLUTION if resolution is None else int(resolution)
        seqs = fixed_sequences(p, alpha, delta, res)
        return np.unique(np.concatenate(seqs))[::-1] if seqs else np.empty(0)
    elif fwer == "holm":
        g = HOLM_GRID_POINTS if resolution is None else int(resolution)
        n_min = error_free_needed(alpha, delta / g)
        if n_min > m:
            return np.empty(0)
        counts = np.unique(np.round(np.geomspace(n_min, m, g)).astype(np.int64))
    else:
        raise ValueError(f"fwer must be one of {FWER_METHODS}, got {fwer!r}")
    thresholds = desc[counts - 1]
    # ties: several counts can land on one threshold; keep each threshold once, in order
    _, first = np.unique(-thresholds, return_index=True)
    return thresholds[np.sort(first)]


def fixed_sequences(p: np.ndarray, alpha: float, delta: float, resolution: int = SEQUENCE_RESOLUTION
                    ) -> list[np.ndarray]:
    """The label-free threshold sequences fixed-sequence testing walks, each most conservative first.

    Two starts, tested at delta / 2 each (Bonferroni): where the confidences predict the top
    episodes to pass (:func:`_sequence_start`), and half-way to the largest set they predict to
    meet alpha. A sequence stops for good at its first failure, so a bad patch at the very top of
    the ranking (non-monotone selective risk) stops the first one; the second starts below it,
    where that patch is diluted. When both starts coincide there is one sequence at delta. Only
    the confidences are used, never the labels.
    """
    p = np.asarray(p, dtype=float)
    m = p.size
    desc = np.sort(p)[::-1]
    step = max(1, math.ceil(m / resolution))

    def sequence(start: int) -> np.ndarray:
        t = desc[np.arange(start, m + 1, step) - 1]
        _, first = np.unique(-t, return_index=True)
        return t[np.sort(first)]

    n_half = error_free_needed(alpha, delta / 2)
    if n_half > m:
        n_min = error_free_needed(alpha, delta)
        return [sequence(_sequence_start(desc, alpha, delta, n_min))] if n_min <= m else []
    top = _sequence_start(desc, alpha, delta / 2, n_half)
    predicted_rate = np.cumsum(1.0 - desc) / np.arange(1, m + 1)
    feasible = np.flatnonzero(predicted_rate <= alpha)
    middle = max(n_half, (int(feasible.max()) + 1) // 2) if feasible.size else n_half
    if middle <= top:
        n_min = error_free_needed(alpha, delta)
        return [sequence(_sequence_start(desc, alpha, delta, n_min))]
    return [sequence(top), sequence(middle)]


def sequence_start(p: np.ndarray, alpha: float, delta: float, p_reference: np.ndarray | None = None,
                   correct_reference: np.ndarray | None = None, resolution: int = SEQUENCE_RESOLUTION) -> int:
    """Where one fixed sequence over ``p`` (the policy part's confidences) starts, as a count of top episodes.

    A fixed sequence stops for good at its first failed test, so where it starts decides what it can
    certify: too high and one error among the first few dozen episodes ends it (non-monotone selective
    risk, or bad luck); too low and it cannot go above its start. With a labelled reference sample
    independent of the tested labels (``p_reference``, ``correct_reference``: the confidence model's
    calibration part) the start is planned: the policy ranking is cut into the stretches the sequence
    steps through; each stretch's error rate gets a Beta posterior from the reference episodes in its
    confidence range (pooled with its neighbours' up to START_WINDOW_EPISODES, so no calibration is
    assumed); errors are drawn from it START_DRAWS times (seed START_SEED), every candidate start's sequence is run on each
    draw, and the start is the earliest whose expected certified automation is within START_TOLERANCE
    (a share of the policy episodes) of the best. So one start replaces the two label-free ones and its
    tests run at the whole of delta; at a large policy part the start moves down to where the first
    test is near-certain to pass, and it moves below errors the reference shows at the very top.
    Without a reference (or an empty one) the start is predicted from the confidences alone. Either way
    the tested labels are never used, so the sequence is fixed before they are seen (Angelopoulos et
    al. 2021, Learn-then-Test: any ordering fixed independently of the tested outcomes is valid).
    """
    p = np.asarray(p, dtype=float)
    m = p.size
    n_min = error_free_needed(alpha, delta)
    desc = np.sort(p)[::-1]
    if n_min > m:
        return n_min
    if p_reference is None or correct_reference is None or np.asarray(p_reference).size == 0:
        return _sequence_start(desc, alpha, delta, n_min)
    counts = np.arange(n_min, m + 1, max(1, math.ceil(m / resolution)))
    expected = expected_automation(desc, counts, alpha, delta, np.asarray(p_reference, dtype=float),
                                   np.asarray(correct_reference, dtype=bool))
    return int(counts[np.flatnonzero(expected >= expected.max() - START_TOLERANCE * m)[0]])


def expected_automation(desc: np.ndarray, counts: np.ndarray, alpha: float, delta: float,
                        p_reference: np.ndarray, correct_reference: np.ndarray) -> np.ndarray:
    """Expected number of top episodes a fixed sequence over ``counts`` certifies, per start in ``counts``.

    ``desc``: the policy confidences, most confident first. Stretch j holds the policy episodes ranked
    in (counts[j-1], counts[j]]. Its error rate is drawn from Beta(k + 1/2, n - k + 1/2), where the
    reference has k errors among the n episodes whose confidence falls in the stretch's range, pooled
    with the nearest stretches (alternately below and above) until n >= START_WINDOW_EPISODES; its errors
    are drawn binomially. A start's sequence certifies the last count before its first failed test (0
    if that is the first).
    """
    rng = np.random.default_rng(START_SEED)
    sizes = np.diff(np.concatenate([[0], counts]))
    # reference episodes per stretch: at or above the stretch's lowest threshold, below the one above it
    stretch = np.searchsorted(-desc[counts - 1], -p_reference, side="left")
    n_ref = np.bincount(stretch, minlength=counts.size + 1)
    k_ref = np.bincount(stretch, weights=~correct_reference, minlength=counts.size + 1)
    n_win, k_win = np.empty(counts.size), np.empty(counts.size)
    for j in range(counts.size):
        lo, hi = j, j + 1
        while n_ref[lo:hi].sum() < START_WINDOW_EPISODES and (lo > 0 or hi < n_ref.size):
            if hi < n_ref.size and (hi - j <= j - lo or lo == 0):
                hi += 1
            else:
                lo -= 1
        n_win[j], k_win[j] = n_ref[lo:hi].sum(), k_ref[lo:hi].sum()
    rate = rng.beta(k_win + 0.5, n_win - k_win + 0.5, size=(START_DRAWS, counts.size))
    errors = np.cumsum(rng.binomial(sizes, rate), axis=1)
    # the most errors a test of c automated episodes may see and still pass at delta (-1: none)
    k_crit = stats.binom.ppf(delta, counts, alpha).astype(np.int64)
    k_crit = np.where(stats.binom.cdf(k_crit, counts, alpha) <= delta, k_crit, k_crit - 1)
    passes = errors <= k_crit
    # first failed test at or after each start (counts.size: none)
    first_fail = np.full(passes.shape, counts.size)
    for j in range(counts.size - 1, -1, -1):
        after = first_fail[:, j + 1] if j + 1 < counts.size else counts.size
        first_fail[:, j] = np.where(passes[:, j], after, j)
    certified = np.where(first_fail > np.arange(counts.size), counts[np.maximum(first_fail - 1, 0)], 0)
    return certified.mean(axis=0)


def sequence_from(p: np.ndarray, start: int, resolution: int = SEQUENCE_RESOLUTION) -> np.ndarray:
    """The label-free threshold sequence that automates ``start``, ``start`` + s, ... top episodes
    (s = ceil(m / resolution)), most conservative first, each threshold once."""
    p = np.asarray(p, dtype=float)
    m = p.size
    if start > m or m == 0:
        return np.empty(0)
    desc = np.sort(p)[::-1]
    step = max(1, math.ceil(m / resolution))
    t = desc[np.arange(max(1, start), m + 1, step) - 1]
    _, first = np.unique(-t, return_index=True)
    return t[np.sort(first)]


def _sequence_start(desc: np.ndarray, alpha: float, delta: float, n_min: int) -> int:
    """Where the fixed sequence starts: the fewest top episodes whose test the confidences predict
    to pass with a margin.

    A sequence that starts at n_min (22 at alpha = delta = 0.1) stops for good at the first
    error among the top 22, so it starts instead at the fewest top episodes whose test would
    pass with the errors the confidences predict there (the START_POWER quantile of a Poisson
    with mean sum(1 - p)). Starting lower than the optimum costs nothing: the sequence then
    walks down from there.
    Only the confidences are used (no label), so the sequence stays fixed before the tested
    outcomes are seen; if nothing is predicted to pass it starts at n_min.
    """
    m = desc.size
    counts = np.arange(n_min, m + 1)
    expected = np.cumsum(1.0 - desc)[counts - 1]
    likely_errors = stats.poisson.ppf(START_POWER, expected)
    ok = stats.binom.cdf(likely_errors, counts, alpha) <= delta
    return int(counts[np.argmax(ok)]) if ok.any() else n_min


def sgr_threshold(p: np.ndarray, correct: np.ndarray, alpha: float, delta: float) -> RiskControlResult:
    """Selection with guaranteed risk (Geifman & El-Yaniv 2017, Algorithm 1).

    Binary search over the ascending confidences: a threshold whose Clopper–Pearson bound at
    delta / ceil(log2 m) is <= alpha lets the search try a lower one. The union bound over the
    ceil(log2 m) tested thresholds makes every passing one valid; the lowest is returned, and its
    bound is what SGR certifies.
    """
    counts = SelectiveCounts.from_arrays(p, correct)
    m = counts.m
    k_tests = max(1, math.ceil(math.log2(m))) if m > 1 else 1
    d = delta / k_tests
    n_min = error_free_needed(alpha, d)
    if m == 0:
        return RiskControlResult(math.inf, False, 1.0, "sgr", d, np.empty(0), 0, np.empty(0), n_min)
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
        return RiskControlResult(math.inf, False, 1.0, "sgr", d, np.empty(0), k_tests, np.array(tested), n_min)
    return RiskControlResult(best[0], True, best[1], "sgr", d, np.array(sorted(passing)), k_tests,
                             np.array(tested), n_min)


def ltt_valid(
    p: np.ndarray,
    correct: np.ndarray,
    alpha: float,
    delta: float,
    grid: np.ndarray | None = None,
    fwer: FwerMethod = DEFAULT_FWER,
) -> tuple[np.ndarray, np.ndarray]:
    """Learn-then-Test: (valid thresholds ascending, p-value per grid point in grid order).

    Every returned threshold simultaneously has error among automated <= alpha, with
    probability >= 1 - delta (family-wise error control over the grid). ``grid`` defaults to
    :func:`candidate_thresholds` (label-free); fixed sequence tests the grid from its most
    conservative threshold down and stops at the first acceptance of the null.
    """
    if fwer not in FWER_METHODS:
        raise ValueError(f"fwer must be one of {FWER_METHODS}, got {fwer!r}")
    p = np.asarray(p, dtype=float)
    if grid is None and fwer == "fixed_sequence":
        return _sequences_valid(p, correct, alpha, delta, fixed_sequences(p, alpha, delta))
    grid = candidate_thresholds(p, alpha, delta, fwer) if grid is None else np.asarray(grid, dtype=float)
    if grid.ndim != 1:
        raise ValueError("grid must be a 1-d array of thresholds")
    if grid.size == 0:
        return np.empty(0), np.empty(0)
    counts = SelectiveCounts.from_arrays(p, correct)
    n, k = counts.at(grid)
    pv = binomial_p_values(k, n, alpha)
    if fwer == "fixed_sequence":
        # Thresholds automating too few episodes to ever reject ((1 - alpha)^n > delta even with
        # no errors) are skipped: that depends on the confidences only, not on the labels, so
        # the sequence is still fixed before the tested outcomes are seen.
        testable = np.power(1.0 - alpha, n.astype(float)) <= delta
        order = np.argsort(-grid, kind="stable")
        order = order[testable[order]]
        ok = pv[order] <= delta
        stop = int(np.argmin(ok)) if not ok.all() else ok.size
        rejected = order[:stop]
    else:
        order = np.argsort(pv, kind="stable")
        levels = delta / (grid.size - np.arange(grid.size))
        ok = pv[order] <= levels
        stop = int(np.argmin(ok)) if not ok.all() else ok.size
        rejected = order[:stop]
    return np.sort(grid[rejected]), pv


def _sequences_valid(p: np.ndarray, correct: np.ndarray, alpha: float, delta: float,
                     seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-sequence testing down each of ``seqs`` at delta / len(seqs) (the union is family-wise
    valid, Bonferroni): (valid thresholds ascending, p-values in sequence order)."""
    if not seqs:
        return np.empty(0), np.empty(0)
    counts = SelectiveCounts.from_arrays(p, correct)
    valid, pvs = [], []
    for seq in seqs:
        n, k = counts.at(seq)
        pv = binomial_p_values(k, n, alpha)
        ok = pv <= delta / len(seqs)
        stop = int(np.argmin(ok)) if not ok.all() else ok.size
        valid.append(seq[:stop])
        pvs.append(pv)
    return np.unique(np.concatenate(valid)), np.concatenate(pvs)


def ltt_threshold(
    p: np.ndarray,
    correct: np.ndarray,
    alpha: float,
    delta: float,
    grid: np.ndarray | None = None,
    fwer: FwerMethod = DEFAULT_FWER,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
) -> RiskControlResult:
    """Lowest Learn-then-Test-valid threshold (largest automation), or infeasible.

    What it certifies is alpha itself at the chosen threshold (P(error > alpha) <= delta); a
    Clopper–Pearson limit computed after choosing the threshold is no guarantee and is not given.
    ``reference`` (fixed sequence only): (confidences, correct) of labelled episodes independent of
    ``correct``; one sequence at delta then starts where :func:`sequence_start` puts it.
    """
    p = np.asarray(p, dtype=float)
    if grid is None and fwer == "fixed_sequence" and reference is not None:
        seqs = [sequence_from(p, sequence_start(p, alpha, delta, *reference))]
        seqs = [q for q in seqs if q.size]
    else:
        seqs = None
    if grid is None and fwer == "fixed_sequence":  # the label-free sequences, built once
        seqs = fixed_sequences(p, alpha, delta) if seqs is None else seqs
        grid_arr = np.unique(np.concatenate(seqs))[::-1] if seqs else np.empty(0)
        valid, _ = _sequences_valid(p, correct, alpha, delta, seqs)
        d = delta / max(1, len(seqs))
    else:
        grid_arr = candidate_thresholds(p, alpha, delta, fwer) if grid is None else np.asarray(grid, dtype=float)
        valid, _ = ltt_valid(p, correct, alpha, delta, grid_arr, fwer)
        d = delta if fwer == "fixed_sequence" else delta / max(1, grid_arr.size)
    n_min = error_free_needed(alpha, d)
    method = f"ltt_{fwer}"
    if valid.size == 0:
        return RiskControlResult(math.inf, False, 1.0, method, d, valid, grid_arr.size, grid_arr, n_min)
    return RiskControlResult(float(valid[0]), True, float(alpha), method, d, valid, grid_arr.size, grid_arr, n_min)


def risk_control(
    p: np.ndarray,
    correct: np.ndarray,
    alpha: float,
    delta: float,
    method: str = DEFAULT_METHOD,
    fwer: str = DEFAULT_FWER,
    grid: np.ndarray | None = None,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
) -> RiskControlResult:
    """The lowest threshold certified by ``method`` (``ltt`` with ``fwer``, or ``sgr``).

    ``reference`` (LTT fixed sequence): independent labelled (confidences, correct) that place the
    sequence's one start; ignored by the other procedures.
    """
    check_method(method, fwer)
    if method == "sgr":
        return sgr_threshold(p, correct, alpha, delta)
    return ltt_threshold(p, correct, alpha, delta, grid, fwer, reference)  # type: ignore[arg-type]
