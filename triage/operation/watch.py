"""The anytime-valid watch on the error among automated episodes (one per policy version and setting).

Audited outcomes of automated episodes arrive in order, ``X_i = 1`` for an error. The null the
watch tests is the guarantee itself, in its sequential form:

    H0: P(X_i = 1 | X_1, ..., X_{i-1}) <= alpha for every i.

**The e-process (testing by betting).** For an odds ratio ``r >= 1`` let
``theta = alpha r / (1 - alpha + alpha r)`` (so ``theta >= alpha``) and bet

    L_r(X) = (theta / alpha)^X ((1 - theta) / (1 - alpha))^(1 - X) = exp(lambda X - psi_alpha(lambda)),

``lambda = log r >= 0``, the likelihood ratio of Bernoulli(theta) to Bernoulli(alpha). Its
conditional expectation is ``q theta / alpha + (1 - q)(1 - theta)/(1 - alpha)`` for a
conditional error probability ``q``: linear and non-decreasing in ``q`` and equal to 1 at
``q = alpha``, so it is <= 1 whenever ``q <= alpha``. A product of such bets is a nonnegative
supermartingale under every distribution of H0 (the composite null), and so is any mixture with
weights fixed in advance (Robbins 1970; Shafer 2021; Waudby-Smith & Ramdas 2024; Ramdas et al.
2023). The watch mixes

* over ``r`` in a fixed grid (``ODDS_RATIOS``, equal weights), and
* over start times: the cumulative product (weight ``start_weight``) and, for every block
  ``b = 1, 2, ...`` of ``block`` outcomes, the product restarted after outcome ``b * block``
  (weight ``(1 - start_weight) / (b (b + 1))``; it equals 1 before its start). The weights sum
  to 1, so ``E_0 = 1``. A restart catches a late jump of the error rate within a few hundred
  outcomes, where the cumulative product has first to climb back from a long good period.

Only the ``max_components`` latest restarts are kept. The dropped ones are nonnegative, so the
kept sum is <= the full mixture: still bounded by a nonnegative supermartingale with initial
value 1, and Ville's inequality (Ville 1939) gives

    P_H0(E_t >= 1 / delta for some t >= 0) <= delta,

over an unbounded horizon, however often anyone looks. The alarm is latched: once
``E_t >= 1/delta`` the state is ``violated`` for good (the first crossing is ``violated_at``).
Every bet loses on a correct outcome (``theta >= alpha``), so ``E`` can only rise at an error;
the first crossing is checked there, and the running maximum is exact.

**The interval.** ``lower``/``upper`` form a confidence sequence at level ``1 - delta`` (``delta/2``
per side) for the running average of the conditional error probabilities,
``mu_n = (1/n) sum_i P(X_i = 1 | past)``: with probability >= 1 - delta it holds for every
``n`` at once. For a fixed grid of ``lambda`` (equal weights), ``exp(lambda S_n - sum_i
log(1 - q_i + q_i e^lambda))`` is a martingale (the exact conditional moment generating
function); ``log(1 - q + q e^lambda)`` is concave in ``q``, so by Jensen the sum is
``<= n log(1 - mu_n + mu_n e^lambda)``, and the set of ``m`` at which the plug-in mixture stays
below ``2/delta`` contains ``mu_n`` whenever the martingale mixture does (Ville again). This is
the sub-Bernoulli argument of Howard et al. (2021) with a discrete mixture. When the error rate
is constant, ``mu_n`` is that rate.

**States.** ``violated`` when the e-process has crossed ``1/delta`` (latched); else ``ok`` when
``upper <= alpha`` (the audited outcomes certify the error rate so far); else
``cannot_certify_yet``. Only ``violated`` carries the false-alarm guarantee of a test; ``ok`` is
what the confidence sequence shows.

The audited outcomes must be a random sample of the automated episodes with an inclusion
probability fixed before the outcome is known (:mod:`triage.operation.sampling`), so that each
audited outcome's conditional error probability is that of the automated episodes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import optimize

from triage.jsonsafe import to_plain
from triage.policy.guarantees import check_unit

STATES = ("ok", "cannot_certify_yet", "violated")
# Defaults chosen by simulation (alpha = 0.10, delta = 0.05, a 5% -> 20% jump; benchmarks/bench_watch.py):
# blocks of 25/50/100, start weights 1/4 and 1/2 and three odds-ratio grids gave median delays within
# ~20 audits of each other; 50 / 1/2 / 16 restarts (a restart lives 800 audits, several times the
# delay) with a grid from 1.25 (an error of 12% at alpha = 10% still makes the cumulative bet grow)
# to 5 was kept. A grid tuned to the one jump (2, 2.5) was ~10 audits faster but blind to mild excesses.
#: Odds ratios of the alternatives the e-process bets on (theta = alpha r / (1 - alpha + alpha r)).
ODDS_RATIOS: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 5.0)
#: Bets of the confidence sequence: lambda = 0.025 * 2^i, i = 0..7, on each side.
CS_LAMBDAS: tuple[float, ...] = tuple(0.025 * 2.0**i for i in range(8))
DEFAULT_BLOCK = 50
DEFAULT_MAX_COMPONENTS = 16
DEFAULT_START_WEIGHT = 0.5
STATE_FORMAT = 1


@dataclass(frozen=True)
class WatchReading:
    """What the watch says now (``n`` audited outcomes, ``errors`` of them errors)."""

    n: int
    errors: int
    alpha: float
    delta: float
    state: str            # "ok" | "cannot_certify_yet" | "violated"
    e_value: float        # current value of the e-process (the test statistic)
    max_e_value: float    # running maximum (violated iff >= 1/delta)
    lower: float          # anytime-valid confidence sequence at level 1 - delta for the
    upper: float          # running average of the conditional error probabilities
    realised_error: float | None
    violated_at: int | None  # n at the first crossing of 1/delta

    def to_dict(self) -> dict[str, Any]:
        return to_plain(asdict(self), nonfinite="null")


def _grid(alpha: float, ratios: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """log LR of an error (a) and of a correct outcome (c) for each odds ratio r >= 1."""
    r = np.asarray(ratios, dtype=float)
    norm = np.log1p(alpha * (r - 1.0))          # log(1 - alpha + alpha r)
    return np.log(r) - norm, -norm


def _restart_weight(b: np.ndarray, start_weight: float) -> np.ndarray:
    """Weight of the restart after block b >= 1: (1 - w0) / (b (b + 1)) (they sum to 1 - w0)."""
    b = np.asarray(b, dtype=float)
    return (1.0 - start_weight) / (b * (b + 1.0))


def _log_terms(n: np.ndarray, k: np.ndarray, start_k: np.ndarray, *, a: np.ndarray, c: np.ndarray,
               block: int, max_components: int, start_weight: float) -> np.ndarray:
    """The (terms, m) logs of the weighted bets whose sum is E_n, for m streams at once.

    n, k of shape (m,); start_k (m, K): the errors counted when each kept restart began (slot s
    holds restart b = n // block - K + 1 + s; b < 1 is empty, weight 0). The last term is the
    weight of the restarts not begun yet (each worth 1).
    """
    n = np.asarray(n, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    b_now = n // block
    log_pi = -math.log(a.size)
    aj, cj = a[:, None], c[:, None]
    cumulative = math.log(start_weight) + log_pi + k * aj + (n - k) * cj                   # (J, m)
    b = b_now[None, :] - max_components + 1 + np.arange(max_components)[:, None]            # (K, m)
    valid = b >= 1
    bb = np.where(valid, b, 1)
    kb = k[None, :] - np.asarray(start_k, dtype=np.int64).T                                  # (K, m)
    mb = n[None, :] - bb * block
    log_w = np.where(valid, np.log(_restart_weight(bb, start_weight)), -np.inf)
    restarts = (log_w + log_pi)[:, None, :] + kb[:, None, :] * aj + (mb - kb)[:, None, :] * cj  # (K, J, m)
    tail = np.log((1.0 - start_weight) / (b_now + 1.0))[None, :]      # restarts not begun yet: value 1
    return np.concatenate([cumulative, restarts.reshape(-1, n.size), tail])


def _log_sum(terms: np.ndarray) -> np.ndarray:
    """log of the column sums of exp(terms); cumsum adds in a fixed order, so one stream or many
    give the same floats (the watch and :func:`first_crossing` agree exactly)."""
    top = terms.max(axis=0)
    return top + np.log(np.cumsum(np.exp(terms - top), axis=0)[-1])


def _log_e_bound(n: np.ndarray, k: np.ndarray, boundary: np.ndarray, b_first: int, *, a: np.ndarray,
                 c: np.ndarray, block: int, max_components: int, start_weight: float) -> np.ndarray:
    """An upper bound on log E_n at each (n, k) of one stream, from J + 1 terms an event where E_n
    takes (K + 1) J + 1 (``boundary[i]``: the errors counted when restart ``b_first + i`` began).

    Within a block the kept restarts and their start errors are fixed, and the log of every bet
    with odds ratio j is a constant of its own plus ``k a_j + (n - k) c_j``; so
    ``log E_n = logsumexp_j(H_j + k a_j + (n - k) c_j, tail)``, H_j the log-sum of those constants
    (one per block). Computed in another order than E_n, it is padded by far more than the
    rounding of either (a few units in the last place of ``n max |a|, |c|``).
    """
    b_now = n // block
    blocks, of_block = np.unique(b_now, return_inverse=True)
    b = blocks[:, None] - max_components + 1 + np.arange(max_components)[None, :]          # (U, K)
    valid = b >= 1
    bb = np.where(valid, b, 1)
    sk = np.where(valid, boundary[np.clip(b - b_first, 0, None)] if boundary.size else 0, 0)
    log_w = np.where(valid, np.log(_restart_weight(bb, start_weight)), -np.inf)
    # restart b's bet: log_w + (k - sk) a + (n - b block - (k - sk)) c = its constant + k a + (n - k) c
    own = log_w[:, :, None] - sk[:, :, None] * a + (sk - bb * block)[:, :, None] * c          # (U, K, J)
    cumulative = np.full((blocks.size, 1, a.size), math.log(start_weight))
    consts = np.concatenate([cumulative, own], axis=1)
    top = consts.max(axis=1)                                                                 # (U, J)
    h = top + np.log(np.exp(consts - top[:, None, :]).sum(axis=1)) - math.log(a.size)
    terms = np.concatenate([h[of_block] + k[:, None] * a + (n - k)[:, None] * c,           # (m, J + 1)
                            np.log((1.0 - start_weight) / (b_now + 1.0))[:, None]], axis=1)
    top = terms.max(axis=1)
    bound = top + np.log(np.exp(terms - top[:, None]).sum(axis=1))
    return bound + 1e-9 + 1e-12 * n * max(float(np.abs(a).max()), float(np.abs(c).max()))


def _log_e_values(n, k, start_k, **spec) -> np.ndarray:
    """log E_n for m streams at once (the one computation behind RiskWatch and first_crossing)."""
    return _log_sum(_log_terms(np.asarray(n, dtype=np.int64), np.asarray(k, dtype=np.int64), start_k, **spec))


def _check_block(block: int, max_components: int, start_weight: float) -> None:
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    if isinstance(max_components, bool) or not isinstance(max_components, (int, np.integer)) or max_components < 0:
        raise ValueError(f"max_components must be a non-negative integer, got {max_components!r}")
    check_unit("start_weight", start_weight)


def confidence_sequence(n: int, errors: int, delta: float,
                        lambdas: Sequence[float] = CS_LAMBDAS) -> tuple[float, float]:
    """(lower, upper): a confidence sequence at level 1 - delta for the running average of the
    conditional error probabilities after ``errors`` errors in ``n`` outcomes (see the module
    docstring: a discrete mixture of exact Bernoulli bets, Jensen, Ville; delta/2 per side).

    (0, 1) when n == 0. The bounds are rounded outwards (a root-finding tolerance of 1e-9).
    """
    check_unit("delta", delta)
    if n < 0 or not 0 <= errors <= n:
        raise ValueError(f"need 0 <= errors <= n, got errors={errors!r}, n={n!r}")
    if n == 0:
        return 0.0, 1.0
    lam = np.asarray(lambdas, dtype=float)
    level = math.log(2.0 / delta)
    log_pi = -math.log(lam.size)

    def log_wealth(m: float, sign: float) -> float:
        ls = sign * lam
        # log(1 - m + m e^l), stable for small and large l
        psi = np.log1p(m * np.expm1(ls))
        t = log_pi + ls * errors - n * psi
        top = t.max()
        return float(top + math.log(np.exp(t - top).sum())) - level

    tol = 1e-9
    # upper: bets on a low rate (lambda < 0); the wealth grows with m
    if log_wealth(1.0, -1.0) < 0:
        upper = 1.0
    else:
        upper = min(1.0, optimize.brentq(lambda m: log_wealth(m, -1.0), 0.0, 1.0, xtol=tol) + tol)
    # lower: bets on a high rate (lambda > 0); the wealth falls with m
    if log_wealth(0.0, 1.0) < 0:
        lower = 0.0
    else:
        lower = max(0.0, optimize.brentq(lambda m: log_wealth(m, 1.0), 0.0, 1.0, xtol=tol) - tol)
    return lower, upper


class RiskWatch:
    """The anytime-valid watch for one policy version and care setting (see the module docstring).

    ``update`` takes audited outcomes in arrival order (True/1 = error); ``reading`` says what the
    watch shows now; ``to_state``/``from_state`` carry it across restarts in a few hundred bytes.
    """

    def __init__(self, alpha: float, delta: float = 0.05, *, block: int = DEFAULT_BLOCK,
                 max_components: int = DEFAULT_MAX_COMPONENTS, start_weight: float = DEFAULT_START_WEIGHT,
                 odds_ratios: Sequence[float] = ODDS_RATIOS) -> None:
        check_unit("alpha", alpha)
        check_unit("delta", delta)
        _check_block(block, max_components, start_weight)
        ratios = tuple(float(r) for r in odds_ratios)
        if not ratios or any(not math.isfinite(r) or r < 1.0 for r in ratios):
            raise ValueError(f"odds_ratios must be finite numbers >= 1, got {odds_ratios!r}")
        self.alpha = float(alpha)
        self.delta = float(delta)
        self.block = int(block)
        self.max_components = int(max_components)
        self.start_weight = float(start_weight)
        self.odds_ratios = ratios
        self._a, self._c = _grid(self.alpha, ratios)
        self.n = 0
        self.errors = 0
        #: errors counted when each of the last max_components restarts began (oldest first)
        self._start_k: list[int] = []
        self.log_max_e = 0.0
        self.violated_at: int | None = None

    # -- updating ---------------------------------------------------------------------------------
    def _slots(self) -> np.ndarray:
        """start_k in the slot layout of :func:`_log_e_values` (padded in front)."""
        slots = np.zeros((1, self.max_components), dtype=np.int64)
        if self._start_k and self.max_components:
            slots[0, self.max_components - len(self._start_k):] = self._start_k
        return slots

    def _log_e(self) -> float:
        return float(_log_e_values(np.array([self.n]), np.array([self.errors]), self._slots(), a=self._a,
                                   c=self._c, block=self.block, max_components=self.max_components,
                                   start_weight=self.start_weight)[0])

    def update(self, errors: Iterable[bool | int]) -> RiskWatch:
        """Add audited outcomes in arrival order (1/True = error, 0/False = correct).

        A batch is computed at once (the e-value at each of its errors, as :func:`first_crossing`
        does); the result is the same as adding the outcomes one at a time.
        """
        x = _outcomes(errors)
        if x.size == 0:
            return self
        n0, k0 = self.n, self.errors
        if not x.any():  # no error, no evaluation: only the counts and the restarts move on
            n_end = n0 + x.size
            if self.max_components:
                first = max(n0 // self.block + 1, n_end // self.block - self.max_components + 1)
                self._start_k += [k0] * max(0, n_end // self.block - first + 1)
                self._start_k = self._start_k[-self.max_components:]
            self.n = n_end
            return self
        cum = k0 + np.cumsum(x, dtype=np.int64)          # errors after each outcome of the batch
        n_end = n0 + x.size
        # errors counted when each restart b began (after outcome b * block), for every b a slot
        # of this batch can name: the stored ones, then those beginning inside the batch
        b_first = max(1, n0 // self.block - len(self._start_k) + 1)
        b_new = np.arange(n0 // self.block + 1, n_end // self.block + 1)
        boundary = np.concatenate([np.asarray(self._start_k, dtype=np.int64),
                                   cum[b_new * self.block - n0 - 1]]) if self.max_components else np.zeros(0, np.int64)
        at = np.flatnonzero(x)
        threshold = math.log(1.0 / self.delta)
        spec = {"a": self._a, "c": self._c, "block": self.block, "max_components": self.max_components,
                "start_weight": self.start_weight}
        for lo in range(0, at.size, 8192):  # E rises only at an error: the maximum and the crossing are there
            idx = at[lo:lo + 8192]
            n, k = n0 + idx + 1, cum[idx]
            # only an event whose log E can reach the running maximum (or the threshold) can change
            # what the watch records: a cheap upper bound picks those out, and only they are computed
            maybe = np.flatnonzero(_log_e_bound(n, k, boundary, b_first, **spec)
                                   >= min(self.log_max_e, threshold))
            if maybe.size:
                n, k = n[maybe], k[maybe]
                b = (n // self.block)[:, None] - self.max_components + 1 + np.arange(self.max_components)[None, :]
                start_k = np.where(b >= 1, boundary[np.clip(b - b_first, 0, None)] if boundary.size else 0, 0)
                log_e = _log_sum(_log_terms(n, k, start_k, **spec))
                self.log_max_e = max(self.log_max_e, float(log_e.max()))
                hit = np.flatnonzero(log_e >= threshold)
                if self.violated_at is None and hit.size:
                    self.violated_at = int(n[hit[0]])
        self.n, self.errors = n_end, int(cum[-1])
        self._start_k = [int(v) for v in boundary[-self.max_components:]] if self.max_components else []
        return self

    # -- reading ----------------------------------------------------------------------------------
    def e_values(self) -> tuple[float, float]:
        """(current e-value, running maximum), without the confidence sequence a reading computes."""
        return _exp(self._log_e()), _exp(self.log_max_e)

    def reading(self) -> WatchReading:
        lower, upper = confidence_sequence(self.n, self.errors, self.delta)
        if self.violated_at is not None:
            state = "violated"
        elif upper <= self.alpha:
            state = "ok"
        else:
            state = "cannot_certify_yet"
        return WatchReading(
            n=self.n, errors=self.errors, alpha=self.alpha, delta=self.delta, state=state,
            e_value=_exp(self._log_e()), max_e_value=_exp(self.log_max_e), lower=lower, upper=upper,
            realised_error=self.errors / self.n if self.n else None, violated_at=self.violated_at,
        )

    # -- persistence ------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Everything the watch needs to go on (no outcome history): JSON-serialisable."""
        return {
            "format": STATE_FORMAT, "alpha": self.alpha, "delta": self.delta, "block": self.block,
            "max_components": self.max_components, "start_weight": self.start_weight,
            "odds_ratios": list(self.odds_ratios), "n": self.n, "errors": self.errors,
            "start_errors": list(self._start_k), "log_max_e": self.log_max_e, "violated_at": self.violated_at,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RiskWatch:
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"watch state must be a mapping with format {STATE_FORMAT}")
        missing = {"alpha", "delta", "block", "max_components", "start_weight", "odds_ratios", "n", "errors",
                   "start_errors", "log_max_e", "violated_at"} - set(state)
        if missing:
            raise ValueError(f"watch state is missing field(s) {sorted(missing)}")
        watch = cls(state["alpha"], state["delta"], block=state["block"], max_components=state["max_components"],
                    start_weight=state["start_weight"], odds_ratios=state["odds_ratios"])
        n, k, starts = int(state["n"]), int(state["errors"]), [int(x) for x in state["start_errors"]]
        if n < 0 or not 0 <= k <= n:
            raise ValueError(f"watch state: need 0 <= errors <= n, got errors={k}, n={n}")
        if len(starts) != min(n // watch.block, watch.max_components) or any(not 0 <= s <= k for s in starts) \
                or starts != sorted(starts):
            raise ValueError("watch state: start_errors does not fit n, errors, block and max_components")
        watch.n, watch.errors, watch._start_k = n, k, starts
        watch.log_max_e = float(state["log_max_e"])
        v = state["violated_at"]
        watch.violated_at = None if v is None else int(v)
        return watch


def _outcomes(errors: Iterable[bool | int]) -> np.ndarray:
    """Outcomes as a bool array; ValueError naming the first one that is not 0/1 or a boolean."""
    if isinstance(errors, np.ndarray) and errors.dtype.kind in "biu":
        x = errors.reshape(-1)
        bad = np.flatnonzero((x != 0) & (x != 1))
        if bad.size:
            raise ValueError(f"errors[{bad[0]}] must be 0/1 or a boolean, got {x[bad[0]]!r}")
        return x.astype(bool)
    out = []
    for i, v in enumerate(errors):
        if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and int(v) in (0, 1)):
            out.append(bool(v))
        else:
            raise ValueError(f"errors[{i}] must be 0/1 or a boolean, got {v!r}")
    return np.asarray(out, dtype=bool)


def _exp(log_value: float) -> float:
    """exp, held below the largest float so readings stay finite (JSON)."""
    return math.exp(min(log_value, 709.0))


def first_crossing(errors: Any, alpha: float, delta: float = 0.05, *, block: int = DEFAULT_BLOCK,
                   max_components: int = DEFAULT_MAX_COMPONENTS, start_weight: float = DEFAULT_START_WEIGHT,
                   odds_ratios: Sequence[float] = ODDS_RATIOS, chunk: int = 8192) -> np.ndarray:
    """For each row of an (streams, outcomes) 0/1 matrix, the n at which :class:`RiskWatch` fed that
    row one outcome at a time would first cross 1/delta (``violated_at``), or -1 if it never does.

    Vectorised over every error of every stream (E rises only at errors), in chunks of ``chunk``
    errors; the same computation as the watch, so the same answer.
    """
    check_unit("alpha", alpha)
    check_unit("delta", delta)
    _check_block(block, max_components, start_weight)
    x = np.asarray(errors)
    if x.ndim != 2:
        raise ValueError("errors must be a 2-d (streams, outcomes) matrix")
    x = x.astype(bool)
    a, c = _grid(float(alpha), tuple(float(r) for r in odds_ratios))
    cum = np.zeros((x.shape[0], x.shape[1] + 1), dtype=np.int64)
    np.cumsum(x, axis=1, out=cum[:, 1:])
    rows, cols = np.nonzero(x)
    out = np.full(x.shape[0], -1, dtype=np.int64)
    threshold = math.log(1.0 / delta)
    for lo in range(0, rows.size, chunk):
        r = rows[lo:lo + chunk]
        n = cols[lo:lo + chunk].astype(np.int64) + 1
        k = cum[r, n]
        b_now = n // block
        start_k = np.zeros((r.size, max_components), dtype=np.int64)
        for s in range(max_components):
            b = b_now - max_components + 1 + s
            start_k[:, s] = np.where(b >= 1, cum[r, np.clip(b, 0, None) * block], 0)
        terms = _log_terms(n, k, start_k, a=a, c=c, block=block, max_components=max_components,
                           start_weight=float(start_weight))
        # log E <= max term + log(number of terms): only events that could cross are summed
        maybe = terms.max(axis=0) + math.log(terms.shape[0]) + 1e-9 >= threshold
        hit = np.zeros(r.size, dtype=bool)
        if maybe.any():
            hit[maybe] = _log_sum(terms[:, maybe]) >= threshold
        if hit.any():
            hr, hn = r[hit], n[hit]
            first = np.full(x.shape[0], np.iinfo(np.int64).max)
            np.minimum.at(first, hr, hn)
            found = first < np.iinfo(np.int64).max
            out = np.where(found & (out < 0), first, out)
    return out


def split_delta(delta: float, settings: Sequence[str], weights: Mapping[str, float] | None = None
                ) -> dict[str, float]:
    """Each setting's share of ``delta``, fixed in advance (Bonferroni: the shares sum to delta).

    ``weights`` (default equal) are normalised over ``settings``; the watches of all settings then
    raise a false alarm with probability <= delta together.
    """
    check_unit("delta", delta)
    names = [str(s) for s in settings]
    if not names:
        raise ValueError("settings is empty: nothing to split delta across")
    if len(set(names)) != len(names):
        raise ValueError(f"settings has duplicates: {names}")
    w = {s: 1.0 for s in names} if weights is None else {s: weights.get(s, 0.0) for s in names}
    for s, v in w.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"weights[{s!r}] must be a non-negative number, got {v!r}")
    total = sum(w.values())
    if total <= 0:
        raise ValueError("weights give every setting zero weight")
    return {s: delta * v / total for s, v in w.items()}
