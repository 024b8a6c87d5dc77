"""Code-level precision with a finite-sample guarantee: which codes may be pre-filled or flagged.

Pre-filling a code (or raising an audit flag) is right when the code is gold. For a score
threshold ``t`` the product shows, in each episode, the candidates scoring ``>= t`` (at most
``max_per_episode`` of them, best first). :func:`certify_precision` picks ``t`` on calibration
episodes so that the precision of what is shown is ``>= target`` with probability
``>= 1 - delta`` over the calibration draw, the same kind of guarantee as episode routing
(Learn-then-Test, Angelopoulos et al. 2021): every threshold of a grid fixed in advance is a
hypothesis "precision at t < target", tested from the most conservative threshold down
(fixed-sequence testing controls the family-wise error at ``delta`` without assuming that
precision is monotone in ``t``); the lowest threshold reached is returned.

Two tests, by what is assumed exchangeable:

* ``unit="episode"`` (default): episodes are i.i.d., codes within an episode need not be
  independent (a vague note makes several codes wrong together). The precision the product
  delivers in the long run is ``E[TP] / E[N]``, and ``precision >= 1 - a`` is
  ``E[a N_i - FP_i] >= 0`` for the per-episode count of shown codes ``N_i`` and wrong ones
  ``FP_i``. That mean of bounded i.i.d. variables is tested with a betting (test-martingale)
  p-value (Waudby-Smith & Ramdas 2023): the capital ``prod (1 + lambda_j W_j)`` with
  ``W_j = (a N_j - FP_j) / ((1 - a) K)`` in ``[-1, a/(1-a)]`` and predictable bets
  ``lambda_j`` in ``[0, MAX_BET]`` grows when the threshold is good; by Ville's inequality
  ``P(sup capital >= 1/delta) <= delta`` under the null, so ``1 / sup capital`` is a p-value.
  ``K = max_per_episode`` is the a-priori bound on ``N_j`` that keeps the capital positive.
* ``unit="code"``: every shown code is an independent Bernoulli trial; the exact binomial
  p-value (equivalently a one-sided Clopper-Pearson limit), as ``triage.policy.guarantees``.
  Tighter, but only valid when codes are independent given the threshold. With
  ``max_per_episode=1`` (at most one shown code per episode, as for audit flags) the two coincide
  and the exact binomial test is valid under i.i.d. episodes alone.

A threshold that shows too few codes to pass comfortably even if all were right is skipped
before testing (that depends on the scores only, not on whether codes are gold), so the test
sequence stays fixed in advance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from triage.policy.guarantees import binomial_p_values, clopper_pearson_interval

Unit = Literal["episode", "code"]
DEFAULT_GRID = np.round(np.linspace(0.0, 1.0, 201), 4)
#: Largest fraction of the capital bet on one episode (W >= -1 keeps the capital positive).
MAX_BET = 0.75
#: A threshold enters the test sequence once its best case (no wrong code) passes at this
#: fraction of delta.
START_MARGIN = 0.05


@dataclass(frozen=True)
class PrecisionThreshold:
    """A certified threshold: show a candidate when its score is ``>= threshold``."""

    threshold: float  # inf: nothing could be certified
    target: float
    delta: float
    unit: str
    max_per_episode: int
    feasible: bool
    n_calibration_episodes: int
    n_shown: int  # candidates shown at the threshold on the calibration data
    calibration_precision: float | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["threshold"] = None if not math.isfinite(self.threshold) else float(self.threshold)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PrecisionThreshold:
        d = dict(d)
        d["threshold"] = math.inf if d.get("threshold") is None else float(d["threshold"])
        return cls(**d)

    def statement(self) -> str:
        if not self.feasible:
            return f"no threshold certifies precision >= {self.target:.0%} at delta {self.delta:g}"
        return (f"precision >= {self.target:.0%} with probability >= {1 - self.delta:.0%} "
                f"(Learn-then-Test, {self.unit}-level test, score >= {self.threshold:.3f})")


def rank_in_group(score: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, rank): the candidates sorted by group, then score descending (ties in input order),
    and each sorted candidate's 0-based rank within its group. ``group``: integer group ids."""
    # one float sort: group first, then descending score (scores clipped to [0, 1])
    order = np.argsort(group + 0.5 * (1.0 - np.clip(score, 0.0, 1.0)), kind="stable")
    g = group[order]
    start = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    first = np.repeat(start, np.diff(np.r_[start, g.size]))
    return order, np.arange(g.size) - first


def shown_mask(score: np.ndarray, group: np.ndarray, threshold: float, max_per_episode: int) -> np.ndarray:
    """Which candidates are shown at ``threshold``: score >= t and among the group's best ``K``."""
    score = np.asarray(score, dtype=np.float64)
    group = np.asarray(group)
    keep = score >= threshold
    if not keep.any():
        return keep
    _, gi = np.unique(group, return_inverse=True)
    order, ranked = rank_in_group(score, gi)
    rank = np.empty(gi.size, dtype=np.int64)
    rank[order] = ranked
    return keep & (rank < max_per_episode)


def _per_episode_counts(score, correct, group, grid, max_per_episode):
    """(n_episodes, G) shown counts and wrong counts per episode and grid threshold."""
    uniq, gi = np.unique(group, return_inverse=True)
    order, rank = rank_in_group(score, gi)
    s, c, g = score[order], correct[order], gi[order]
    top = rank < max_per_episode
    s, c, g = s[top], c[top], g[top]
    # candidate j is shown at threshold t iff s_j >= t, i.e. for grid indices <= pos_j
    pos = np.searchsorted(grid, s, side="right") - 1  # grid ascending
    N = np.zeros((uniq.size, grid.size + 1))
    FP = np.zeros_like(N)
    np.add.at(N, (g, pos + 1), -1.0)
    np.add.at(N, (g, np.zeros_like(pos)), 1.0)
    np.add.at(FP, (g[~c], pos[~c] + 1), -1.0)
    np.add.at(FP, (g[~c], np.zeros_like(pos[~c])), 1.0)
    return np.cumsum(N, axis=1)[:, :-1], np.cumsum(FP, axis=1)[:, :-1]


def betting_p_values(N: np.ndarray, FP: np.ndarray, alpha: float, max_per_episode: int,
                     random_state: int | None = 0) -> np.ndarray:
    """p-values of H0 "E[FP - alpha N] > 0" per column (threshold), episodes as i.i.d. rows.

    Test martingale with a predictable plug-in bet (aGRAPA, Waudby-Smith & Ramdas 2023),
    episodes in a random order drawn independently of the data.
    """
    n, G = N.shape
    if n == 0:
        return np.ones(G)
    W = (alpha * N - FP) / ((1.0 - alpha) * max_per_episode)  # in [-1, alpha/(1-alpha)]
    W = W[np.random.default_rng(random_state).permutation(n)]
    shown = (N > 0)[np.random.default_rng(random_state).permutation(n)]
    log_cap = np.zeros(G)
    best = np.zeros(G)
    # running moments of W over the episodes that show something (an episode showing nothing has
    # W = 0 and leaves the capital alone; counting it would only dilute the bet); one
    # pseudo-observation as prior
    mean, second, count = np.zeros(G), np.full(G, 0.25), np.ones(G)
    for w, on in zip(W, shown):
        if not on.any():
            continue
        lam = np.clip(mean / np.maximum(second, 1e-12), 0.0, MAX_BET)
        log_cap += np.log1p(lam * w)
        np.maximum(best, log_cap, out=best)
        count += on
        mean += on * (w - mean) / count
        second += on * (w * w - second) / count
    return np.minimum(1.0, np.exp(-best))


def certify_precision(
    score: np.ndarray,
    correct: np.ndarray,
    group: np.ndarray,
    target: float = 0.95,
    delta: float = 0.1,
    unit: Unit = "episode",
    max_per_episode: int = 5,
    grid: np.ndarray | None = None,
    n_groups: int | None = None,
    random_state: int | None = 0,
) -> PrecisionThreshold:
    """Lowest grid threshold whose shown-code precision is certified ``>= target``.

    ``score``/``correct``/``group``: one entry per candidate (a code of an episode), its score,
    whether it is gold, and its episode. ``n_groups`` counts calibration episodes that have no
    candidate at all (they still count as i.i.d. draws with ``N = 0``).
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must lie in (0, 1), got {target!r}")
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
    if max_per_episode < 1:
        raise ValueError(f"max_per_episode must be >= 1, got {max_per_episode!r}")
    score = np.asarray(score, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    group = np.asarray(group)
    if not (score.shape == correct.shape == group.shape):
        raise ValueError("score, correct and group must have one entry per candidate")
    grid = np.sort(np.asarray(DEFAULT_GRID if grid is None else grid, dtype=np.float64))
    alpha = 1.0 - target
    n_eps = max(int(n_groups or 0), int(np.unique(group).size))
    if score.size == 0:
        return PrecisionThreshold(math.inf, target, delta, unit, max_per_episode, False, n_eps, 0, None)
    N, FP = _per_episode_counts(score, correct, group, grid, max_per_episode)
    n_shown, n_wrong = N.sum(axis=0), FP.sum(axis=0)
    # A threshold is tested only if it could pass with room to spare were every shown code right
    # (best-case p-value <= START_MARGIN * delta): that depends on the scores alone, never on the
    # labels, so the test sequence is still fixed in advance. Without the margin the sequence
    # would start (and, fixed-sequence, stop) at the few top codes that can only just pass.
    if unit not in ("code", "episode"):
        raise ValueError(f"unit must be 'episode' or 'code', got {unit!r}")
    if unit == "code" or max_per_episode == 1:
        # one shown candidate per episode at most: the shown candidates are i.i.d. Bernoulli
        # trials when episodes are, so the exact binomial test is the episode-level test too
        pv = binomial_p_values(n_wrong, n_shown, alpha)
        testable = np.power(1.0 - alpha, n_shown) <= START_MARGIN * delta
    else:
        pad = n_eps - N.shape[0]
        if pad > 0:
            N = np.vstack([N, np.zeros((pad, grid.size))])
            FP = np.vstack([FP, np.zeros((pad, grid.size))])
        pv = betting_p_values(N, FP, alpha, max_per_episode, random_state)
        best = betting_p_values(N, np.zeros_like(FP), alpha, max_per_episode, random_state)
        testable = best <= START_MARGIN * delta
    chosen = math.inf
    for j in range(grid.size - 1, -1, -1):  # fixed sequence, most conservative first
        if not testable[j]:
            continue
        if pv[j] > delta:
            break
        chosen = float(grid[j])
    if not math.isfinite(chosen):
        return PrecisionThreshold(math.inf, target, delta, unit, max_per_episode, False, n_eps, 0, None)
    j = int(np.searchsorted(grid, chosen))
    prec = 1.0 - n_wrong[j] / n_shown[j] if n_shown[j] else None
    return PrecisionThreshold(chosen, target, delta, unit, max_per_episode, True, n_eps, int(n_shown[j]),
                              None if prec is None else float(prec))


def realised_precision(correct_shown: np.ndarray, level: float = 0.95) -> dict[str, float | int | None]:
    """Precision of the shown candidates on evaluation data, with its exact interval."""
    c = np.asarray(correct_shown, dtype=bool)
    n, k = int(c.size), int(c.sum())
    lo, hi = clopper_pearson_interval(k, n, level)
    return {"n_shown": n, "precision": k / n if n else None,
            "ci_low": None if n == 0 else float(lo), "ci_high": None if n == 0 else float(hi)}
