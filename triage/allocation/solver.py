"""The assignment optimiser: maximise the priority served within each coder's minutes.

Formulation (a generalised assignment / multiple-knapsack problem), over eligible pairs only:

    maximise    sum_{(i,c)} priority_i * x_ic
    subject to  sum_c x_ic <= 1                    each episode coded at most once
                sum_i minutes_i * x_ic <= cap_c    each coder's minutes
                x_ic in {0, 1}

Small problems (``pairs <= exact_max_pairs``) are solved exactly as one MILP by HiGHS
(``scipy.optimize.milp``). Large ones are solved as the LP relaxation (HiGHS simplex, which returns
a vertex: at most about one fractional episode per coder, since only the coder rows can split an
episode), every integral assignment is kept, and the leftover part — fractional episodes and
unassigned episodes that still fit a coder's residual minutes — is solved exactly as a second, small
MILP. The LP optimum is an upper bound, so the reported ``gap`` bounds the loss from this split.

``time_limit`` bounds the whole solve (LP and repair): HiGHS stops at it. When the LP does not
finish in time (or fails), every episode is assigned greedily by priority instead (method
``greedy``, always feasible, its ``gap`` measured against the trivial bound of all priority).
Callers that take requests from the network must also bound the number of pairs (memory grows
with them): the service refuses allocate calls past ``TRIAGE_ALLOCATE_MAX_CELLS``.

HiGHS is silenced through its own options: ``output_flag`` off (:data:`QUIET`; scipy sets only
``log_to_console`` for ``milp``), and the MILPs run without presolve, the one path on which HiGHS
prints a development line (``HighsMipSolverData::transformNewIntegerFeasibleSolution``) with a
bare ``printf`` that no option reaches.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, OptimizeWarning, linprog, milp

_TOL = 1e-7
#: HiGHS options passed on every solve: no output of any kind
QUIET = {"output_flag": False}


def _highs(solve, *args, options: dict, **kwargs):
    """Call ``milp``/``linprog`` with :data:`QUIET`; scipy passes options it does not know to
    HiGHS verbatim, warning that it does, which is what is wanted here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unrecognized options", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message="Unrecognized options", category=OptimizeWarning)
        return solve(*args, options={**options, **QUIET}, **kwargs)


@dataclass(frozen=True)
class AssignmentSolution:
    coder: np.ndarray        # coder index per episode, -1 when not assigned
    objective: float         # priority served
    upper_bound: float       # no assignment can serve more (LP or MILP dual bound)
    method: str              # "milp" | "lp+repair" | "empty"
    status: str
    seconds: float
    n_pairs: int

    @property
    def gap(self) -> float:
        """Relative optimality gap (0 when proved optimal)."""
        return max(0.0, self.upper_bound - self.objective) / max(abs(self.upper_bound), 1e-12)


def _matrices(n_episodes: int, n_coders: int, pe: np.ndarray, pc: np.ndarray, minutes: np.ndarray):
    k = len(pe)
    cols = np.arange(k)
    a_ep = sparse.csr_array((np.ones(k), (pe, cols)), shape=(n_episodes, k))
    a_cap = sparse.csr_array((minutes[pe], (pc, cols)), shape=(n_coders, k))
    return sparse.vstack([a_ep, a_cap], format="csr")


def _milp(value, minutes, capacity, pe, pc, time_limit, mip_rel_gap):
    n_e, n_c = len(value), len(capacity)
    a = _matrices(n_e, n_c, pe, pc, minutes)
    ub = np.concatenate([np.ones(n_e), capacity])
    res = _highs(
        milp,
        c=-value[pe],
        integrality=np.ones(len(pe)),
        bounds=Bounds(0, 1),
        constraints=LinearConstraint(a, -np.inf, ub),
        # no presolve: postsolving a solution found in the presolved space is where HiGHS prints
        # its development line (HighsMipSolverData::transformNewIntegerFeasibleSolution), which
        # output_flag does not reach; these MILPs are small (exact_max_pairs, the repair)
        options={"time_limit": float(time_limit), "mip_rel_gap": float(mip_rel_gap), "presolve": False},
    )
    if res.x is None:
        raise RuntimeError(f"assignment MILP failed: {res.message}")
    chosen = res.x > 0.5
    bound = -res.mip_dual_bound if res.mip_dual_bound is not None else -res.fun
    return chosen, bound, str(res.message)


def _coder_of(n_episodes: int, pe: np.ndarray, pc: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    coder = np.full(n_episodes, -1, dtype=np.int64)
    coder[pe[chosen]] = pc[chosen]
    return coder


def solve_assignment(
    priority: np.ndarray,
    minutes: np.ndarray,
    capacity: np.ndarray,
    pair_episode: np.ndarray,
    pair_coder: np.ndarray,
    *,
    exact_max_pairs: int = 2000,
    time_limit: float = 30.0,
    mip_rel_gap: float = 0.0,
    repair_per_coder: int = 12,
    presolve: bool = False,
) -> AssignmentSolution:
    """Assign episodes to coders over the given eligible (episode, coder) pairs.

    ``priority`` and ``minutes`` are per episode, ``capacity`` per coder (minutes). Pairs whose
    episode needs more minutes than the coder has are dropped before solving.
    """
    t0 = time.perf_counter()
    value = np.asarray(priority, float)
    minutes = np.asarray(minutes, float)
    capacity = np.asarray(capacity, float)
    pe = np.asarray(pair_episode, np.int64)
    pc = np.asarray(pair_coder, np.int64)
    if value.shape != minutes.shape:
        raise ValueError("priority and minutes must have one value per episode")
    if (minutes < 0).any() or (capacity < 0).any() or (value < 0).any():
        raise ValueError("priority, minutes and capacity must be non-negative")
    keep = minutes[pe] <= capacity[pc] + _TOL
    pe, pc = pe[keep], pc[keep]
    n_e = len(value)
    if len(pe) == 0:
        return AssignmentSolution(np.full(n_e, -1, np.int64), 0.0, 0.0, "empty", "no eligible pairs",
                                  time.perf_counter() - t0, 0)

    if len(pe) <= exact_max_pairs:
        try:
            chosen, bound, status = _milp(value, minutes, capacity, pe, pc, time_limit, mip_rel_gap)
        except RuntimeError as exc:  # no feasible point within the time limit
            coder = _greedy(value, minutes, capacity, pe, pc)
            served = float(value[coder >= 0].sum())
            return AssignmentSolution(coder, served, max(float(value[np.unique(pe)].sum()), served),
                                      "greedy", f"{exc}; greedy by priority",
                                      time.perf_counter() - t0, len(pe))
        coder = _coder_of(n_e, pe, pc, chosen)
        method = "milp"
    else:
        a = _matrices(n_e, len(capacity), pe, pc, minutes)
        lp = _highs(linprog, -value[pe], A_ub=a, b_ub=np.concatenate([np.ones(n_e), capacity]),
                     bounds=(0, 1), method="highs-ds",
                     options={"presolve": presolve, "time_limit": float(time_limit)})
        if lp.x is None or lp.status != 0:  # time limit or solver failure: a feasible greedy answer
            coder = _greedy(value, minutes, capacity, pe, pc)
            _check(coder, minutes, capacity)
            served = float(value[coder >= 0].sum())
            bound = float(value[np.unique(pe)].sum())
            return AssignmentSolution(coder, served, max(bound, served), "greedy",
                                      f"LP stopped ({lp.message}); greedy by priority",
                                      time.perf_counter() - t0, len(pe))
        bound = -lp.fun
        fixed = lp.x > 1 - 1e-6
        coder = _coder_of(n_e, pe, pc, fixed)
        used = np.bincount(pc[fixed], weights=minutes[pe[fixed]], minlength=len(capacity))
        residual = np.maximum(capacity - used, 0.0)
        # Leftover: unassigned episodes on pairs that still fit the coder's residual minutes.
        open_ = np.flatnonzero((coder[pe] < 0) & (minutes[pe] <= residual[pc] + _TOL))
        # Residuals are small (about one episode per coder), so only each coder's best few
        # candidates by priority and by priority per minute can matter; keeping the repair MILP
        # to those keeps it small enough to solve to optimality in well under a second.
        v, m = value[pe[open_]], np.maximum(minutes[pe[open_]], 1e-9)
        keep = _top_per_group(pc[open_], v, repair_per_coder) | _top_per_group(pc[open_], v / m, repair_per_coder)
        rpe, rpc = pe[open_[keep]], pc[open_[keep]]
        status = str(lp.message)
        if len(rpe):
            remaining = time_limit - (time.perf_counter() - t0)
            try:
                chosen, _, status = _milp(value, minutes, residual, rpe, rpc, max(remaining, 0.5),
                                          mip_rel_gap)
                coder[rpe[chosen]] = rpc[chosen]
            except RuntimeError as exc:  # keep the LP's integral part
                status = f"{exc}; repair skipped"

        method = "lp+repair"

    _check(coder, minutes, capacity)
    served = float(value[coder >= 0].sum())
    return AssignmentSolution(coder, served, max(bound, served), method, status,
                              time.perf_counter() - t0, len(pe))


def _greedy(value: np.ndarray, minutes: np.ndarray, capacity: np.ndarray, pe: np.ndarray,
            pc: np.ndarray) -> np.ndarray:
    """Highest priority first, each to the eligible coder with the most minutes left that fits."""
    coder = np.full(len(value), -1, dtype=np.int64)
    left = capacity.astype(float).copy()
    order = np.lexsort((pc, pe))
    pe_s, pc_s = pe[order], pc[order]
    starts = np.searchsorted(pe_s, np.arange(len(value) + 1))
    for i in np.argsort(-value, kind="stable"):
        cands = pc_s[starts[i]:starts[i + 1]]
        if len(cands) == 0:
            continue
        fit = cands[left[cands] + _TOL >= minutes[i]]
        if len(fit):
            c = fit[np.argmax(left[fit])]
            coder[i] = c
            left[c] -= minutes[i]
    return coder


def _top_per_group(group: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` highest-score entries within each group."""
    order = np.lexsort((-score, group))
    g = group[order]
    start = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    rank = np.arange(len(g)) - np.repeat(start, np.diff(np.r_[start, len(g)]))
    mask = np.zeros(len(group), dtype=bool)
    mask[order[rank < k]] = True
    return mask


def _check(coder: np.ndarray, minutes: np.ndarray, capacity: np.ndarray) -> None:
    """The solution must respect every capacity (guards against solver tolerance surprises)."""
    done = coder >= 0
    used = np.bincount(coder[done], weights=minutes[done], minlength=len(capacity))
    over = used > capacity + 1e-4 * np.maximum(1.0, capacity)
    if over.any():
        c = int(np.argmax(over))
        raise RuntimeError(f"assignment exceeds capacity of coder {c}: {used[c]:.3f} > {capacity[c]:.3f}")
