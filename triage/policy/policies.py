"""Routing policies: from calibration (p, correct) and a cost model to a serialisable Policy.

Every policy routes by thresholds on the calibrated probability ``p`` that the automated code
set is exactly right: ``p >= t_automate`` -> automate, ``t_assist <= p < t_automate`` -> assisted
review, otherwise manual. The one exception is the Chow rule under DRG-weighted costs, which
compares per-episode expected costs because the error cost differs between episodes.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from triage.policy.costs import CostModel, check_correct, check_probabilities
from triage.policy.guarantees import (
    SelectiveCounts,
    clopper_pearson_interval,
    clopper_pearson_upper,
    default_grid,
    ltt_threshold,
    ltt_valid,
    sgr_threshold,
)
from triage.policy.human import human_parity_alpha

POLICY_SCHEMA_VERSION = 1
KINDS = ("chow", "capacity", "guaranteed", "human_parity", "three_way")
ROUTES = np.array(["automate", "assist", "manual"])
Method = Literal["sgr", "ltt"]


class InfeasiblePolicyError(ValueError):
    """Raised only on request (``strict=True``): the constraints cannot be met on calibration data."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (np.floating, np.integer)):
        return _jsonable(value.item())
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _unjson_threshold(value: Any) -> float | None:
    if value is None:
        return None
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return float(value)


@dataclass
class Policy:
    """A versioned routing policy and what it is expected to do (figures from calibration data)."""

    kind: str
    t_automate: float
    t_assist: float | None
    costs: dict[str, Any]
    constraints: dict[str, Any]
    expected: dict[str, Any]
    feasible: bool = True
    note: str = ""
    rule: str = "threshold"          # or "expected_cost" (Chow with DRG-weighted error costs)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    schema_version: int = POLICY_SCHEMA_VERSION
    version: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Policy.kind must be one of {KINDS}, got {self.kind!r}")
        if self.t_assist is not None and self.t_assist > self.t_automate:
            raise ValueError(
                f"Policy.t_assist ({self.t_assist}) must not exceed Policy.t_automate ({self.t_automate})"
            )
        if not self.version:
            self.version = self.content_hash()

    def content_hash(self) -> str:
        """Hash of what decides routing (kind, thresholds, rule, costs, constraints): same content, same hash."""
        content = {
            "kind": self.kind,
            "t_automate": self.t_automate,
            "t_assist": self.t_assist,
            "rule": self.rule,
            "costs": self.costs,
            "constraints": self.constraints,
            "schema_version": self.schema_version,
        }
        blob = json.dumps(_jsonable(content), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def cost_model(self) -> CostModel:
        return CostModel.from_dict(self.costs)

    def route(self, p: Any, weight_gap: Any = None) -> np.ndarray:
        """Route each episode: an array of 'automate' / 'assist' / 'manual'."""
        p = check_probabilities("p", p)
        if self.rule == "expected_cost":
            if weight_gap is None:
                raise ValueError("this policy uses DRG-weighted error costs: route(p, weight_gap=...) is required")
            exp = self.cost_model.expected_costs(p, weight_gap)
            names = [r for r in ("automate", "assist", "manual") if r in exp]
            idx = np.argmin(np.vstack([exp[r] for r in names]), axis=0)
            return np.asarray(names)[idx]
        out = np.full(p.shape[0], "manual", dtype=object)
        if self.t_assist is not None:
            out[p >= self.t_assist] = "assist"
        out[p >= self.t_automate] = "automate"
        return out.astype(str)

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        missing = {"kind", "t_automate", "costs", "constraints", "expected"} - set(data)
        if missing:
            raise ValueError(f"policy is missing field(s) {sorted(missing)}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"policy has unknown field(s) {sorted(unknown)}")
        if data.get("schema_version", POLICY_SCHEMA_VERSION) != POLICY_SCHEMA_VERSION:
            raise ValueError(
                f"policy schema_version {data['schema_version']!r} is not supported (expected {POLICY_SCHEMA_VERSION})"
            )
        kwargs = dict(data)
        kwargs["t_automate"] = _unjson_threshold(data["t_automate"])
        kwargs["t_assist"] = _unjson_threshold(data.get("t_assist"))
        CostModel.from_dict(data["costs"])  # validates, naming the bad field
        policy = cls(**kwargs)
        if data.get("version") and data["version"] != policy.content_hash():
            raise ValueError(
                f"policy version {data['version']!r} does not match its content (hash {policy.content_hash()!r}):"
                " the file was edited"
            )
        return policy

    @classmethod
    def from_json(cls, text: str) -> Policy:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"policy JSON is not valid: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("policy JSON must be an object")  # noqa: TRY004 (the project reports bad input as ValueError)
        return cls.from_dict(data)


# ---------------------------------------------------------------------------------------------
# summaries


def summarise_routing(
    routes: np.ndarray,
    correct: np.ndarray,
    costs: CostModel,
    p: np.ndarray | None = None,
    weight_gap: Any = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """Rates, error among automated with an exact interval, and cost per episode of a routing."""
    n = routes.shape[0]
    auto = routes == "automate"
    n_auto = int(auto.sum())
    k = int((~correct[auto]).sum())
    lo, hi = clopper_pearson_interval(k, n_auto, level)
    realised = costs.realised_costs(routes, correct, weight_gap)
    out: dict[str, Any] = {
        "n": n,
        "n_automated": n_auto,
        "automated_errors": k,
        "automation_rate": n_auto / n if n else float("nan"),
        "assist_rate": float((routes == "assist").mean()) if n else float("nan"),
        "manual_rate": float((routes == "manual").mean()) if n else float("nan"),
        "automated_error_rate": k / n_auto if n_auto else float("nan"),
        "automated_error_lower": float(lo),
        "automated_error_upper": float(hi),
        "interval_level": level,
        "oracle_automation_rate": float(correct.mean()) if n else float("nan"),
        "cost_per_episode": float(realised.mean()) if n else float("nan"),
        "cost_per_episode_all_human": costs.all_human_cost(),
    }
    out["cost_saving_per_episode"] = out["cost_per_episode_all_human"] - out["cost_per_episode"]
    if p is not None:
        exp = costs.expected_costs(p, weight_gap)
        model_cost = np.select([routes == r for r in exp], [exp[r] for r in exp])
        out["model_cost_per_episode"] = float(model_cost.mean()) if n else float("nan")
    return out


# ---------------------------------------------------------------------------------------------
# the policies


def chow_thresholds(costs: CostModel, error_cost: float | None = None) -> tuple[float, float | None]:
    """Bayes/Chow thresholds on p for constant costs: automate when (1-p)·E < cheapest human route."""
    e = float(costs.error_cost if error_cost is None else error_cost)
    m = float(costs.manual_cost)

    def beats(cost_gap: float, slope: float) -> float:
        # smallest p with (1 - p) * slope < cost_gap, clipped to [0, 1]
        if slope <= 0:
            return 0.0 if cost_gap > 0 else (0.0 if slope < 0 else math.inf)
        return float(np.clip(1.0 - cost_gap / slope, 0.0, 1.0))

    t_auto = beats(m, e)
    t_assist: float | None = None
    if costs.has_assist:
        a, ae = float(costs.assist_cost), float(costs.assist_error_cost)
        t_auto = max(t_auto, beats(a, e - ae))
        t_as = beats(m - a, ae) if m > a else math.inf
        if t_as < t_auto:
            t_assist = t_as
    return t_auto, t_assist


def _counts_split(p: np.ndarray, correct: np.ndarray, t_auto: float, t_assist: float | None) -> np.ndarray:
    out = np.full(p.shape[0], "manual", dtype=object)
    if t_assist is not None:
        out[p >= t_assist] = "assist"
    out[p >= t_auto] = "automate"
    return out.astype(str)


def _risk_control(
    p: np.ndarray,
    correct: np.ndarray,
    alpha: float,
    delta: float,
    method: Method,
    grid: np.ndarray | None,
    fwer: str,
):
    if method == "sgr":
        return sgr_threshold(p, correct, alpha, delta)
    if method == "ltt":
        return ltt_threshold(p, correct, alpha, delta, grid, fwer)  # type: ignore[arg-type]
    raise ValueError(f"method must be 'sgr' or 'ltt', got {method!r}")


def _three_way_search(
    p: np.ndarray,
    correct: np.ndarray,
    costs: CostModel,
    automate_candidates: np.ndarray,
    assist_grid: np.ndarray,
    err_cost: np.ndarray,
) -> tuple[float, float | None, float]:
    """Thresholds minimising the empirical calibration cost, t_automate from the valid candidates."""
    order = np.argsort(p, kind="stable")
    ps = p[order]
    wrong = ~correct[order]
    m = ps.shape[0]
    # suffix sums over ascending p: cost of automating / assisting everything at index >= i
    auto_cost = np.concatenate([np.cumsum((wrong * err_cost[order])[::-1])[::-1], [0.0]])
    assist_each = float(costs.assist_cost) + wrong * float(costs.assist_error_cost)
    assist_cost = np.concatenate([np.cumsum(assist_each[::-1])[::-1], [0.0]])
    ia = np.searchsorted(ps, automate_candidates, side="left")           # (A,)
    candidates_s = np.concatenate([assist_grid, [math.inf]])
    is_ = np.searchsorted(ps, candidates_s, side="left")                  # (S,)
    ia2 = ia[:, None]
    is2 = np.minimum(is_[None, :], ia2)                                  # assist only below t_automate
    total = (
        auto_cost[ia2]
        + (assist_cost[is2] - assist_cost[ia2])
        + is2 * float(costs.manual_cost)
    ) / m
    flat = int(np.argmin(total))
    a_i, s_i = np.unravel_index(flat, total.shape)
    t_auto = float(automate_candidates[a_i])
    t_as = float(candidates_s[s_i])
    t_assist = None if (not math.isfinite(t_as) or is2[a_i, s_i] >= ia[a_i]) else t_as
    return t_auto, t_assist, float(total[a_i, s_i])


def _check_alpha_delta(alpha: float | None, delta: float, needed: bool) -> None:
    if needed and alpha is None:
        raise ValueError("alpha (target error rate among automated episodes) is required for this policy")
    if alpha is not None and not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")


def choose_policy(
    kind: str,
    p_cal: Any,
    correct_cal: Any,
    costs: CostModel,
    alpha: float | None = None,
    delta: float = 0.1,
    method: Method | None = None,
    fwer: str = "holm",
    grid: Any = None,
    human_reference: str = "uk_hospital",
    weight_gap: Any = None,
    level: float = 0.95,
    strict: bool = False,
) -> Policy:
    """Choose a routing policy on calibration data.

    kinds: ``chow`` (Bayes rule from costs), ``capacity`` (automate the most confident episodes
    human capacity cannot absorb; with ``alpha``, check the guarantee), ``guaranteed`` (lowest
    threshold with error among automated <= alpha w.p. >= 1 - delta), ``human_parity`` (the same
    with alpha = 1 - published human instance accuracy), ``three_way`` (automate / assist /
    manual thresholds minimising calibration cost, t_automate constrained to guaranteed-valid
    thresholds when ``alpha`` is given; needs ``costs.assist_cost``).

    ``method`` (default: ``sgr``; ``ltt`` for ``three_way``) picks SGR or Learn-then-Test with
    ``fwer`` (``holm`` or ``fixed_sequence``) over ``grid`` (default 0, 0.01, ..., 1).

    An infeasible target gives a Policy with ``feasible=False`` that automates nothing (or, for
    capacity, the capacity-driven threshold) and a ``note`` saying why; ``strict=True`` raises
    :class:`InfeasiblePolicyError` instead.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if method is None:
        # SGR for one threshold; LTT for three-way, whose cost search needs the whole valid set
        # (SGR only certifies the few thresholds its binary search visits, all near alpha).
        method = "ltt" if kind == "three_way" else "sgr"
    if not isinstance(costs, CostModel):
        raise ValueError(f"costs must be a CostModel, got {type(costs).__name__}")  # noqa: TRY004 (the project reports bad input as ValueError)
    p = check_probabilities("p_cal", p_cal)
    if p.size == 0:
        raise ValueError("p_cal is empty: a policy needs calibration episodes")
    correct = check_correct("correct_cal", correct_cal, p.shape[0])
    if kind == "human_parity":
        alpha = human_parity_alpha(human_reference)
    _check_alpha_delta(alpha, delta, needed=kind in ("guaranteed", "human_parity"))
    grid_arr = None if grid is None else np.asarray(grid, dtype=float)
    err_cost = costs.error_costs(p.shape[0], weight_gap)
    constraints: dict[str, Any] = {
        "alpha": alpha,
        "delta": delta,
        "capacity": costs.capacity,
        "period_episodes": costs.period_episodes,
        "method": method if alpha is not None else None,
        "fwer": fwer if (alpha is not None and method == "ltt") else None,
    }
    if kind == "human_parity":
        constraints["human_reference"] = human_reference
    feasible, note, rule = True, "", "threshold"
    t_assist: float | None = None

    if kind == "chow":
        mean_err = float(err_cost.mean())
        t_auto, t_assist = chow_thresholds(costs, mean_err)
        if costs.drg_weighted:
            rule = "expected_cost"
            note = "thresholds shown are for the mean calibration error cost; routing compares per-episode costs"
    elif kind in ("guaranteed", "human_parity"):
        res = _risk_control(p, correct, alpha, delta, method, grid_arr, fwer)  # type: ignore[arg-type]
        t_auto = res.threshold
        constraints["delta_per_test"] = res.delta_per_test
        if not res.feasible:
            feasible = False
            note = (
                f"no threshold keeps the error among automated episodes <= alpha={alpha:g} with "
                f"probability >= {1 - delta:g} on {p.size} calibration episodes: automate nothing"
            )
    elif kind == "capacity":
        share = costs.human_capacity_share
        if share is None:
            raise ValueError("CostModel.capacity and CostModel.period_episodes are required for the capacity policy")
        need = max(0.0, 1.0 - share)
        constraints["required_automation_rate"] = need
        n_need = math.ceil(need * p.size - 1e-9)
        t_auto = math.inf if n_need == 0 else float(np.sort(p)[::-1][n_need - 1])
        if alpha is not None and n_need > 0:
            counts = SelectiveCounts.from_arrays(p, correct)
            n_a, k_a = counts.at(t_auto)
            bound = float(clopper_pearson_upper(k_a, n_a, delta))
            constraints["automated_error_bound"] = bound
            if bound > alpha:
                feasible = False
                best = _risk_control(p, correct, alpha, delta, method, grid_arr, fwer)  # type: ignore[arg-type]
                reach = float((p >= best.threshold).mean()) if best.feasible else 0.0
                note = (
                    f"capacity {costs.capacity:g} of {costs.period_episodes:g} episodes per period requires automating "
                    f">= {need:.1%}, but the error among those automated is only bounded by {bound:.3f} > "
                    f"alpha={alpha:g} (at 1 - delta = {1 - delta:g}); the guaranteed policy reaches {reach:.1%}"
                )
    else:  # three_way
        if not costs.has_assist:
            raise ValueError("CostModel.assist_cost is required for the three_way policy")
        assist_grid = default_grid() if grid_arr is None else grid_arr
        if alpha is None:
            candidates = np.concatenate([assist_grid, [math.inf]])
        else:
            if method == "sgr":
                candidates = sgr_threshold(p, correct, alpha, delta).valid_thresholds
            else:
                candidates, _ = ltt_valid(p, correct, alpha, delta, grid_arr, fwer)  # type: ignore[arg-type]
            candidates = np.concatenate([candidates, [math.inf]])
            if candidates.size == 1:
                feasible = False
                note = f"no threshold meets alpha={alpha:g} at 1 - delta = {1 - delta:g}: automate nothing"
        t_auto, t_assist, _ = _three_way_search(p, correct, costs, candidates, assist_grid, err_cost)

    if not feasible and strict:
        raise InfeasiblePolicyError(note)
    if rule == "expected_cost":
        routes = Policy(kind, t_auto, t_assist, costs.to_dict(), constraints, {}, rule=rule).route(p, weight_gap)
    else:
        routes = _counts_split(p, correct, t_auto, t_assist)
    expected = summarise_routing(routes, correct, costs, p=p, weight_gap=weight_gap, level=level)
    if alpha is not None and expected["n_automated"]:
        expected["automated_error_guaranteed_upper"] = float(
            clopper_pearson_upper(expected["automated_errors"], expected["n_automated"], delta)
        )
    return Policy(
        kind=kind,
        t_automate=float(t_auto),
        t_assist=None if t_assist is None else float(t_assist),
        costs=costs.to_dict(),
        constraints=constraints,
        expected=_jsonable(expected),
        feasible=feasible,
        note=note,
        rule=rule,
    )


def evaluate_policy(
    policy: Policy,
    p_test: Any,
    correct_test: Any,
    costs: CostModel | None = None,
    weight_gap: Any = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """Realised routing on test data: rates, error among automated with exact interval, costs.

    ``weight_gap`` is used for routing (Chow, DRG-weighted) and for the realised error cost.
    """
    costs = policy.cost_model if costs is None else costs
    p = check_probabilities("p_test", p_test)
    correct = check_correct("correct_test", correct_test, p.shape[0])
    routes = policy.route(p, weight_gap)
    out = summarise_routing(routes, correct, costs, p=p, weight_gap=weight_gap, level=level)
    alpha = policy.constraints.get("alpha")
    out.update(
        kind=policy.kind,
        version=policy.version,
        threshold=policy.t_automate,
        t_assist=policy.t_assist,
        alpha=alpha,
        delta=policy.constraints.get("delta"),
        feasible=policy.feasible,
    )
    out["alpha_met"] = None if alpha is None or not out["n_automated"] else bool(out["automated_error_rate"] <= alpha)
    return out
