"""Routing policies as estimators: ``fit(p, correct)`` on calibration data, ``route(p)`` after.

One class per kind (:class:`ChowPolicy`, :class:`GuaranteedPolicy`, :class:`HumanParityPolicy`,
:class:`CapacityPolicy`, :class:`ThreeWayPolicy`), each following scikit-learn's conventions
(parameters in ``__init__``, learned state with a trailing underscore, ``clone``-able). A fitted
estimator's ``policy_`` is the serialisable, versioned :class:`Policy` record the router, the
service and MLflow carry.

Every policy routes by thresholds on the calibrated probability ``p`` that the automated code
list is right: ``p >= t_automate`` -> automate, ``t_assist <= p < t_automate`` -> assisted
review, otherwise manual. The one exception is the Chow rule under DRG-weighted costs, which
compares per-episode expected costs because the error cost differs between episodes.

Per care setting: ``fit(p, correct, groups=settings)`` chooses one set of thresholds per group.
Guarantee-bearing kinds split delta equally across the groups present at fit time (a
Bonferroni split fixed before any label is seen), so the error among automated episodes is
<= alpha in every group at once with probability >= 1 - delta; a group without enough evidence
automates nothing and the policy says so. Episodes of a group unseen at fit time go to people.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from triage.jsonsafe import to_plain
from triage.policy.costs import CostModel, check_correct, check_probabilities
from triage.policy.guarantees import (
    DEFAULT_FWER,
    DEFAULT_METHOD,
    SelectiveCounts,
    binomial_p_values,
    check_method,
    check_unit,
    clopper_pearson_interval,
    clopper_pearson_upper,
    default_grid,
    risk_control,
)
from triage.policy.human import human_parity_alpha

POLICY_SCHEMA_VERSION = 2
#: Older records the loader still reads (version 1: one set of thresholds, no groups).
READABLE_SCHEMA_VERSIONS = (1, 2)
KINDS = ("chow", "capacity", "guaranteed", "human_parity", "three_way")
ROUTES = np.array(["automate", "assist", "manual"])


def _jsonable(value: Any) -> Any:
    """Infinite thresholds as "inf"/"-inf" (read back by ``_unjson_threshold``), NaN as None."""
    return to_plain(value, nonfinite="string")


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
    #: what the groups are (e.g. "care_setting"); None for one set of thresholds for everyone
    group_by: str | None = None
    #: per group: t_automate, t_assist, feasible, note, guarantee, n_calibration, n_correct
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Policy.kind must be one of {KINDS}, got {self.kind!r}")
        if self.t_assist is not None and self.t_assist > self.t_automate:
            raise ValueError(
                f"Policy.t_assist ({self.t_assist}) must not exceed Policy.t_automate ({self.t_automate})"
            )
        if self.group_by is not None and not self.groups:
            raise ValueError("Policy.groups is empty but group_by is set: a grouped policy needs thresholds per group")
        for name, g in self.groups.items():
            if g.get("t_assist") is not None and g["t_assist"] > g["t_automate"]:
                raise ValueError(f"Policy.groups[{name!r}]: t_assist must not exceed t_automate")
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
        if self.group_by is not None:  # version-1 records hash as they always did
            content["group_by"] = self.group_by
            content["groups"] = {k: {f: g.get(f) for f in ("t_automate", "t_assist")} for k, g in self.groups.items()}
        blob = json.dumps(_jsonable(content), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def cost_model(self) -> CostModel:
        return CostModel.from_dict(self.costs)

    def thresholds_for(self, group: Any = None) -> tuple[float, float | None]:
        """(t_automate, t_assist) that apply to an episode of ``group`` (an unseen group: manual)."""
        if self.group_by is None:
            return self.t_automate, self.t_assist
        g = self.groups.get(str(group))
        if g is None:
            return math.inf, None
        return float(g["t_automate"]), (None if g.get("t_assist") is None else float(g["t_assist"]))

    def route(self, p: Any, weight_gap: Any = None, groups: Any = None) -> np.ndarray:
        """Route each episode: an array of 'automate' / 'assist' / 'manual'.

        A grouped policy needs ``groups`` (one label per episode, e.g. its care setting).
        """
        p = check_probabilities("p", p)
        if self.group_by is not None:
            if groups is None:
                raise ValueError(f"this policy routes per {self.group_by}: route(p, groups=...) is required")
            labels = np.asarray(groups, dtype=object).astype(str)
            if labels.shape != p.shape:
                raise ValueError(f"groups has {labels.shape[0]} values, p has {p.shape[0]}")
            t_auto = np.full(p.shape[0], math.inf)
            t_as = np.full(p.shape[0], math.inf)
            for name in np.unique(labels):
                ta, ts = self.thresholds_for(name)
                m = labels == name
                t_auto[m] = ta
                t_as[m] = math.inf if ts is None else ts
            return _split(p, t_auto, t_as)
        if self.rule == "expected_cost":
            if weight_gap is None:
                raise ValueError("this policy uses DRG-weighted error costs: route(p, weight_gap=...) is required")
            exp = self.cost_model.expected_costs(p, weight_gap)
            names = [r for r in ("automate", "assist", "manual") if r in exp]
            idx = np.argmin(np.vstack([exp[r] for r in names]), axis=0)
            return np.asarray(names)[idx]
        return _split(p, self.t_automate, self.t_assist)

    def route_one(self, p: float, group: Any = None) -> str:
        """:meth:`route` of one episode, without arrays (the service's per-request path): the same
        thresholds and comparisons as :func:`_split`, so the same route."""
        if self.group_by is None and self.rule == "expected_cost":
            return str(self.route(np.array([p]), groups=None)[0])  # needs weight_gap: route's error
        p = float(p)
        if not 0.0 <= p <= 1.0:
            check_probabilities("p", [p])  # raises, naming the value as route does
        if self.group_by is None:
            t_auto, t_assist = self.t_automate, self.t_assist
        elif group is None:
            raise ValueError(f"this policy routes per {self.group_by}: route(p, groups=...) is required")
        else:
            t_auto, t_assist = self.thresholds_for(group)
        if p >= t_auto:
            return "automate"
        if t_assist is not None and p >= t_assist:
            return "assist"
        return "manual"

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
        if data.get("schema_version", POLICY_SCHEMA_VERSION) not in READABLE_SCHEMA_VERSIONS:
            raise ValueError(
                f"policy schema_version {data['schema_version']!r} is not supported (readable: {READABLE_SCHEMA_VERSIONS})"
            )
        kwargs = dict(data)
        kwargs["t_automate"] = _unjson_threshold(data["t_automate"])
        kwargs["t_assist"] = _unjson_threshold(data.get("t_assist"))
        groups = data.get("groups") or {}
        if not isinstance(groups, dict):
            raise ValueError("policy field 'groups' must be an object of group -> thresholds")  # noqa: TRY004
        kwargs["groups"] = {
            str(k): {**g, "t_automate": _unjson_threshold(g.get("t_automate")), "t_assist": _unjson_threshold(g.get("t_assist"))}
            for k, g in groups.items()
        }
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
    """Rates, error among automated with an exact interval, and costs of a routing.

    The interval (``automated_error_lower``/``upper``) is a two-sided Clopper–Pearson interval on
    *these* episodes: a description of a sample, not the policy's guarantee. Savings are split
    into what automation saved (at its realised error) and what assisted review saved, which
    rests on the assumed assist cost and assist-error cost.
    """
    n = routes.shape[0]
    auto = routes == "automate"
    assist = routes == "assist"
    n_auto = int(auto.sum())
    k = int((~correct[auto]).sum())
    lo, hi = clopper_pearson_interval(k, n_auto, level)
    a_lo, a_hi = clopper_pearson_interval(n_auto, n, level)
    realised = costs.realised_costs(routes, correct, weight_gap)
    manual = float(costs.manual_cost)
    err = costs.error_costs(n, weight_gap)
    out: dict[str, Any] = {
        "n": n,
        "n_automated": n_auto,
        "automated_errors": k,
        "automation_rate": n_auto / n if n else float("nan"),
        "automation_rate_lower": float(a_lo),
        "automation_rate_upper": float(a_hi),
        "assist_rate": float(assist.mean()) if n else float("nan"),
        "manual_rate": float((routes == "manual").mean()) if n else float("nan"),
        "automated_error_rate": k / n_auto if n_auto else float("nan"),
        "automated_error_lower": float(lo),
        "automated_error_upper": float(hi),
        "interval_level": level,
        "oracle_automation_rate": float(correct.mean()) if n else float("nan"),
        "cost_per_episode": float(realised.mean()) if n else float("nan"),
        "cost_per_episode_all_human": costs.all_human_cost(),
        "saving_from_automation_per_episode": (
            float((manual - np.where(correct[auto], 0.0, err[auto])).sum() / n) if n else float("nan")),
        "saving_from_assist_per_episode": (
            float((manual - realised[assist]).sum() / n) if n else float("nan")),
    }
    out["cost_saving_per_episode"] = out["cost_per_episode_all_human"] - out["cost_per_episode"]
    if p is not None:
        exp = costs.expected_costs(p, weight_gap)
        model_cost = np.select([routes == r for r in exp], [exp[r] for r in exp])
        out["model_cost_per_episode"] = float(model_cost.mean()) if n else float("nan")
    return out


def oracle_automation_at(alpha: float, correct_rate: float) -> float:
    """Best automation any router could reach at error <= alpha: min(1, EMR / (1 - alpha)).

    An oracle automates every correct episode and adds wrong ones until their share is alpha.
    """
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha must lie in [0, 1), got {alpha!r}")
    if not np.isfinite(correct_rate):
        return float("nan")
    return float(min(1.0, correct_rate / (1.0 - alpha)))


# ---------------------------------------------------------------------------------------------
# helpers shared by the policy kinds


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


def _split(p: np.ndarray, t_auto: Any, t_assist: Any) -> np.ndarray:
    """Threshold routing, the one copy: automate p >= t_auto, assist t_assist <= p < t_auto, else manual.

    Thresholds are scalars or per-episode arrays; a missing assist threshold (None) never assists.
    """
    out = np.full(p.shape[0], "manual", dtype=object)
    if t_assist is not None:
        out[p >= t_assist] = "assist"
    out[p >= t_auto] = "automate"
    return out.astype(str)


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
    ) / max(m, 1)
    flat = int(np.argmin(total))
    a_i, s_i = np.unravel_index(flat, total.shape)
    t_auto = float(automate_candidates[a_i])
    t_as = float(candidates_s[s_i])
    t_assist = None if (not math.isfinite(t_as) or is2[a_i, s_i] >= ia[a_i]) else t_as
    return t_auto, t_assist, float(total[a_i, s_i])


def _check_costs(costs: Any) -> CostModel:
    if not isinstance(costs, CostModel):
        raise ValueError(f"costs must be a CostModel, got {type(costs).__name__}")  # noqa: TRY004 (bad input is a ValueError here)
    return costs


# ---------------------------------------------------------------------------------------------
# the policy estimators


def why_nothing_certified(p: np.ndarray, correct: np.ndarray, alpha: float, result: Any) -> str:
    """Why a risk-control procedure certified nothing, in a coding manager's words.

    "too little evidence" when the first (most conservative) test had too few automated episodes to
    pass even without an error, or there was nothing to test; "errors at the top of the ranking"
    when it had enough episodes but more errors among them than its level allows.
    """
    tested = np.asarray(getattr(result, "tested_thresholds", np.empty(0)), dtype=float)
    needed = int(getattr(result, "error_free_needed", 0) or 0)
    if tested.size == 0:
        return (f"too little evidence: {int(correct.sum())} correct of {p.size} policy episodes, "
                f"the first test needs {needed} automated without an error")
    counts = SelectiveCounts.from_arrays(p, correct)
    n0, k0 = counts.at(float(np.max(tested)))
    n0, k0 = int(n0), int(k0)
    if n0 < needed or k0 == 0:
        return (f"too little evidence: the first test automates {n0} policy episodes ({k0} wrong), while "
                f"{needed} without an error are the least that can pass")
    reason = f"errors at the top of the ranking: {k0} of the {n0} most confident policy episodes wrong at the first test"
    delta_test = float(getattr(result, "delta_per_test", 0.0) or 0.0)
    if 0 < delta_test < 1:
        # hindsight over every threshold "automate the top n" (never used to choose one)
        n, k = counts.at(np.unique(p)[::-1])
        passes = binomial_p_values(k, n, alpha) <= delta_test
        reason += ("; no number of top policy episodes passes at this level wherever the sequence starts "
                   "(more evidence or a sharper ranking is needed)" if not passes.any() else
                   f"; a start at the top {int(n[passes][0])} would have passed, which only the tested "
                   "labels show (choosing it from them would void the guarantee)")
    return reason


class RoutingPolicy(BaseEstimator):
    """Base of the policy kinds: ``fit(p, correct, groups=None)`` then ``route(p, groups=None)``.

    Subclasses set ``kind`` and implement ``_fit_group(p, correct, delta, err_cost)`` returning the
    thresholds of one group (or of everyone) and what they certify.
    """

    kind: ClassVar[str] = ""
    #: whether delta is split across groups (kinds that certify a guarantee)
    _splits_delta: ClassVar[bool] = True
    #: whether the kind can hold one set of thresholds per group
    _groupable: ClassVar[bool] = True

    # -- to implement ----------------------------------------------------------------------------
    def _costs(self) -> CostModel:
        return _check_costs(getattr(self, "costs", None) or CostModel())

    def _alpha(self) -> float | None:
        return getattr(self, "alpha", None)

    def _validate(self) -> None:
        check_unit("delta", getattr(self, "delta", 0.1))
        if hasattr(self, "method"):
            check_method(self.method, self.fwer)

    def _constraints(self) -> dict[str, Any]:
        alpha = self._alpha()
        out = {"alpha": alpha, "delta": getattr(self, "delta", None)}
        if alpha is not None and hasattr(self, "method"):
            out.update(method=self.method, fwer=self.fwer if self.method == "ltt" else None)
        else:
            out.update(method=None, fwer=None)
        costs = self._costs()
        out.update(capacity=costs.capacity, period_episodes=costs.period_episodes)
        return out

    def _fit_group(self, p: np.ndarray, correct: np.ndarray, delta: float, err_cost: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    # -- estimator API ---------------------------------------------------------------------------
    def fit(self, p: Any, correct: Any, groups: Any = None, weight_gap: Any = None,
            certify_groups: Any = None, group_deltas: dict[str, float] | None = None,
            reference: tuple[Any, Any, Any] | None = None) -> RoutingPolicy:
        """Choose thresholds on calibration data; ``groups`` gives one set per group (delta split).

        ``certify_groups`` (default: every group) are the groups that share delta. It must be fixed
        without the calibration labels (e.g. from other episodes' correct rates): a group left out
        gets no share of delta and so automates nothing (a three-way policy may still assist it),
        which leaves more delta, hence more automation, to the groups that can use it.
        ``group_deltas`` (optional) gives each certified group its own share of delta (a weighted
        Bonferroni split, summing to at most delta, fixed without the calibration labels, e.g.
        :func:`triage.policy.evidence.setting_deltas`); by default delta is split equally.
        ``reference`` = (p, correct, groups or None) of labelled episodes independent of
        ``correct`` (e.g. the confidence model's calibration part): Learn-then-Test's fixed
        sequence then runs once per group at its whole share of delta, from the start those
        labels choose (:func:`triage.policy.guarantees.sequence_start`).
        """
        self._validate()
        p = check_probabilities("p", p)
        if p.size == 0:
            raise ValueError("p is empty: a policy needs calibration episodes")
        correct = check_correct("correct", correct, p.shape[0])
        costs = self._costs()
        err_cost = costs.error_costs(p.shape[0], weight_gap)
        delta = float(getattr(self, "delta", 0.1))
        constraints = self._constraints()
        ref = None
        if reference is not None:
            p_ref = check_probabilities("reference p", reference[0])
            ref = (p_ref, check_correct("reference correct", reference[1], p_ref.shape[0]),
                   None if reference[2] is None else np.asarray(reference[2], dtype=object).astype(str))
            constraints["sequence_start"] = "independent labels"
        if groups is None or not self._groupable:
            self._reference = None if ref is None else (ref[0], ref[1])
            one = self._fit_group(p, correct, delta, err_cost)
            constraints.update(one.pop("constraints", {}))
            routes = _split(p, one["t_automate"], one["t_assist"])
            self.groups_ = None
            self.policy_ = self._record(one["t_automate"], one["t_assist"], constraints, routes, p, correct,
                                        weight_gap, one["feasible"], one["note"], one.get("rule", "threshold"),
                                        guarantee=one.get("guarantee"), reason=one.get("reason", ""))
            return self
        labels = np.asarray(groups, dtype=object).astype(str)
        if labels.shape != p.shape:
            raise ValueError(f"groups has {labels.shape[0]} values, p has {p.shape[0]}")
        names = sorted(np.unique(labels).tolist())
        certified = names if certify_groups is None else sorted({str(g) for g in certify_groups} & set(names))
        d = (delta / len(certified) if certified else None) if self._splits_delta else delta
        deltas = {n: d for n in names}
        if group_deltas is not None and self._splits_delta:
            given = {str(k): float(v) for k, v in group_deltas.items() if str(k) in certified}
            if any(v <= 0 for v in given.values()) or sum(given.values()) > delta * (1 + 1e-9):
                raise ValueError(f"group_deltas must be positive and sum to at most delta={delta:g}, got {given}")
            missing = sorted(set(certified) - set(given))
            if missing:
                raise ValueError(f"group_deltas gives no share of delta to the certified groups {missing}")
            deltas.update(given)
            d = given
        constraints.update(group_delta=d, n_groups=len(names), certified_groups=certified)
        routes = np.full(p.shape[0], "manual", dtype=object)
        per: dict[str, dict[str, Any]] = {}
        for name in names:
            m = labels == name
            if ref is None:
                self._reference = None
            else:
                r = np.ones(ref[0].shape[0], bool) if ref[2] is None else ref[2] == name
                self._reference = (ref[0][r], ref[1][r])
            g = self._fit_group(p[m], correct[m], deltas[name] if name in certified or not self._splits_delta
                                else None, err_cost[m])
            g.pop("constraints", None)
            g.pop("rule", None)
            routes[m] = _split(p[m], g["t_automate"], g["t_assist"])
            auto = routes[m] == "automate"
            per[name] = {
                "t_automate": float(g["t_automate"]),
                "t_assist": None if g["t_assist"] is None else float(g["t_assist"]),
                "feasible": bool(g["feasible"]),
                "note": g["note"],
                "reason": g.get("reason", ""),
                "guarantee": g.get("guarantee"),
                "n_calibration": int(m.sum()),
                "n_correct": int(correct[m].sum()),
                "n_automated": int(auto.sum()),
                "automation_rate": float(auto.mean()),
                "error_free_needed": g.get("error_free_needed"),
            }
        self.groups_ = names
        feasible = any(g["feasible"] for g in per.values())
        notes = "; ".join(f"{k}: {g['note']}" for k, g in per.items() if g["note"])
        guarantees = [g["guarantee"] for g in per.values() if g["guarantee"] is not None and g["n_automated"]]
        self.policy_ = self._record(math.inf, None, constraints, routes.astype(str), p, correct, weight_gap,
                                    feasible, notes, "threshold", guarantee=max(guarantees) if guarantees else None,
                                    group_by="care_setting", groups=per)
        return self

    def route(self, p: Any, groups: Any = None, weight_gap: Any = None) -> np.ndarray:
        """'automate' / 'assist' / 'manual' per episode under the fitted thresholds."""
        check_is_fitted(self, "policy_")
        return self.policy_.route(p, weight_gap=weight_gap, groups=groups)

    def _record(self, t_auto, t_assist, constraints, routes, p, correct, weight_gap, feasible, note, rule,
                guarantee=None, group_by=None, groups=None, reason: str = "") -> Policy:
        expected = summarise_routing(np.asarray(routes).astype(str), correct, self._costs(), p=p,
                                     weight_gap=weight_gap)
        # what the procedure certifies: P(error among automated > guarantee) <= delta
        expected["automated_error_guarantee"] = guarantee if expected["n_automated"] else None
        if reason:  # why an ungrouped policy certified nothing (grouped: each group's own)
            expected["reason"] = reason
        return Policy(
            kind=self.kind,
            t_automate=float(t_auto),
            t_assist=None if t_assist is None else float(t_assist),
            costs=self._costs().to_dict(),
            constraints=_jsonable(constraints),
            expected=_jsonable(expected),
            feasible=bool(feasible),
            note=note,
            rule=rule,
            group_by=group_by,
            groups=groups or {},
        )

    # -- guaranteed thresholds shared by several kinds ----------------------------------------------
    def _certified(self, p, correct, alpha, delta) -> dict[str, Any]:
        if delta is None:  # this group was given no share of delta
            note = ("no share of delta: the episodes the policy was planned on showed too few correct ones in this "
                    "setting to certify anything, so it automates nothing")
            return {"t_automate": math.inf, "feasible": False, "note": note, "guarantee": None,
                    "error_free_needed": None, "result": None,
                    "reason": "too little evidence: no share of delta (too few correct episodes planned)"}
        res = risk_control(p, correct, alpha, delta, self.method, self.fwer,
                           reference=getattr(self, "_reference", None))
        note = reason = ""
        if not res.feasible:
            n_ok = int(correct.sum())
            reason = why_nothing_certified(p, correct, alpha, res)
            note = (f"no threshold certifies error <= {alpha:g} at 1 - delta = {1 - delta:.4g} on {p.size} calibration "
                    f"episodes ({n_ok} correct; the first test needs >= {res.error_free_needed} automated episodes "
                    f"without an error; {reason}): automate nothing")
        return {"t_automate": res.threshold, "feasible": res.feasible, "note": note, "reason": reason,
                "guarantee": res.guarantee if res.feasible else None, "error_free_needed": res.error_free_needed,
                "result": res}


class ChowPolicy(RoutingPolicy):
    """Bayes (Chow) rule from costs alone: automate when (1 - p)·error_cost beats a human route.

    No guarantee: it trusts the calibration of ``p``. Under DRG-weighted costs it compares
    per-episode expected costs (``rule == "expected_cost"``) and needs ``weight_gap`` to route.
    """

    kind = "chow"
    _splits_delta = False

    def __init__(self, costs: CostModel | None = None) -> None:
        self.costs = costs

    def _validate(self) -> None:
        self._costs()

    def _constraints(self) -> dict[str, Any]:
        costs = self._costs()
        return {"alpha": None, "delta": None, "method": None, "fwer": None, "capacity": costs.capacity,
                "period_episodes": costs.period_episodes}

    def _fit_group(self, p, correct, delta, err_cost):
        t_auto, t_assist = chow_thresholds(self._costs(), float(err_cost.mean()) if err_cost.size else None)
        out = {"t_automate": t_auto, "t_assist": t_assist, "feasible": True, "note": "", "guarantee": None}
        if self._costs().drg_weighted:
            out["rule"] = "expected_cost"
            out["note"] = "thresholds shown are for the mean calibration error cost; routing compares per-episode costs"
        return out

    def fit(self, p: Any, correct: Any, groups: Any = None, weight_gap: Any = None,
            certify_groups: Any = None, group_deltas: dict[str, float] | None = None,
            reference: tuple[Any, Any, Any] | None = None) -> ChowPolicy:
        # no guarantee, so neither a share of delta nor a sequence start applies
        super().fit(p, correct, None if self._costs().drg_weighted else groups, weight_gap, certify_groups)
        if self.policy_.rule == "expected_cost":
            # routes under the per-episode rule, not the mean-cost thresholds
            p_arr = check_probabilities("p", p)
            routes = self.policy_.route(p_arr, weight_gap)
            self.policy_.expected = _jsonable(summarise_routing(routes, check_correct("correct", correct, p_arr.size),
                                                                self._costs(), p=p_arr, weight_gap=weight_gap))
        return self


class GuaranteedPolicy(RoutingPolicy):
    """Largest automation with error among automated <= ``alpha`` w.p. >= 1 - ``delta``.

    ``method``: ``ltt`` (Learn-then-Test; ``fwer`` ``fixed_sequence`` over a label-free sequence, or
    ``holm`` over a coarse label-free grid) or ``sgr``. See :mod:`triage.policy.guarantees`.
    """

    kind = "guaranteed"

    def __init__(self, alpha: float = 0.1, delta: float = 0.1, method: str = DEFAULT_METHOD,
                 fwer: str = DEFAULT_FWER, costs: CostModel | None = None) -> None:
        self.alpha = alpha
        self.delta = delta
        self.method = method
        self.fwer = fwer
        self.costs = costs

    def _validate(self) -> None:
        check_unit("alpha", self._alpha())
        super()._validate()

    def _fit_group(self, p, correct, delta, err_cost):
        out = self._certified(p, correct, self._alpha(), delta)
        out.pop("result")
        out["t_assist"] = None
        out["constraints"] = {"error_free_needed": out["error_free_needed"]}
        return out


class HumanParityPolicy(GuaranteedPolicy):
    """The guaranteed policy at alpha = 1 - a published human instance accuracy (seed §3.5)."""

    kind = "human_parity"

    def __init__(self, reference: str = "uk_hospital", delta: float = 0.1, method: str = DEFAULT_METHOD,
                 fwer: str = DEFAULT_FWER, costs: CostModel | None = None) -> None:
        self.reference = reference
        self.delta = delta
        self.method = method
        self.fwer = fwer
        self.costs = costs

    def _alpha(self) -> float:
        return human_parity_alpha(self.reference)

    def _constraints(self) -> dict[str, Any]:
        return {**super()._constraints(), "human_reference": self.reference}


class CapacityPolicy(RoutingPolicy):
    """Automate the most confident episodes that human capacity cannot absorb.

    With ``alpha``, checks the guarantee at that threshold (Clopper–Pearson at delta, a single
    test fixed by the capacity before any label is seen) and says when it fails. Capacity is a
    department-wide constraint, so the thresholds are shared by every group.
    """

    kind = "capacity"
    _groupable = False

    def __init__(self, costs: CostModel | None = None, alpha: float | None = None, delta: float = 0.1,
                 method: str = DEFAULT_METHOD, fwer: str = DEFAULT_FWER) -> None:
        self.costs = costs
        self.alpha = alpha
        self.delta = delta
        self.method = method
        self.fwer = fwer

    def _validate(self) -> None:
        check_unit("alpha", self.alpha, optional=True)
        super()._validate()
        if self._costs().human_capacity_share is None:
            raise ValueError("CostModel.capacity and CostModel.period_episodes are required for the capacity policy")

    def _fit_group(self, p, correct, delta, err_cost):
        costs = self._costs()
        share = costs.human_capacity_share
        need = max(0.0, 1.0 - share)
        n_need = math.ceil(need * p.size - 1e-9)
        t_auto = math.inf if n_need == 0 else float(np.sort(p)[::-1][n_need - 1])
        constraints: dict[str, Any] = {"required_automation_rate": need}
        feasible, note, guarantee = True, "", None
        if self.alpha is not None and n_need > 0:
            n_a, k_a = SelectiveCounts.from_arrays(p, correct).at(t_auto)
            bound = float(clopper_pearson_upper(k_a, n_a, delta))
            constraints["automated_error_bound"] = bound
            if bound > self.alpha:
                feasible = False
                best = self._certified(p, correct, self.alpha, delta)
                reach = float((p >= best["t_automate"]).mean()) if best["feasible"] else 0.0
                note = (
                    f"capacity {costs.capacity:g} of {costs.period_episodes:g} episodes per period requires automating "
                    f">= {need:.1%}, but the error among those automated is only bounded by {bound:.3f} > "
                    f"alpha={self.alpha:g} (at 1 - delta = {1 - delta:g}); the guaranteed policy reaches {reach:.1%}"
                )
            else:
                guarantee = bound
        return {"t_automate": t_auto, "t_assist": None, "feasible": feasible, "note": note,
                "guarantee": guarantee, "constraints": constraints}


class ThreeWayPolicy(RoutingPolicy):
    """Automate / assist / manual thresholds minimising calibration cost.

    With ``alpha``, t_automate is restricted to thresholds the risk-control method certifies
    (error among automated <= alpha w.p. >= 1 - delta); ``costs.assist_cost`` is required.
    """

    kind = "three_way"

    def __init__(self, costs: CostModel | None = None, alpha: float | None = 0.1, delta: float = 0.1,
                 method: str = DEFAULT_METHOD, fwer: str = DEFAULT_FWER) -> None:
        self.costs = costs
        self.alpha = alpha
        self.delta = delta
        self.method = method
        self.fwer = fwer

    def _validate(self) -> None:
        check_unit("alpha", self.alpha, optional=True)
        super()._validate()
        if not self._costs().has_assist:
            raise ValueError("CostModel.assist_cost is required for the three_way policy")

    def _fit_group(self, p, correct, delta, err_cost):
        grid = default_grid()
        feasible, note, guarantee, needed = True, "", None, None
        if self.alpha is None:
            candidates = np.concatenate([grid, [math.inf]])
        else:
            cert = self._certified(p, correct, self.alpha, delta)
            res = cert["result"]
            needed = cert["error_free_needed"]
            # every threshold the procedure certified (jointly); none without a share of delta
            valid = res.valid_thresholds if res is not None else np.empty(0)
            candidates = np.concatenate([valid, [math.inf]])
            if valid.size == 0:
                feasible, note = False, cert["note"]
        t_auto, t_assist, _ = _three_way_search(p, correct, self._costs(), candidates, grid, err_cost)
        if self.alpha is not None and math.isfinite(t_auto):
            if self.method == "sgr":
                n_a, k_a = SelectiveCounts.from_arrays(p, correct).at(t_auto)
                guarantee = float(clopper_pearson_upper(k_a, n_a, res.delta_per_test))
            else:
                guarantee = float(self.alpha)
        return {"t_automate": t_auto, "t_assist": t_assist, "feasible": feasible, "note": note,
                "guarantee": guarantee, "error_free_needed": needed}


#: One class per kind; config, CLI and service derive their choices from this mapping.
POLICY_CLASSES: dict[str, type[RoutingPolicy]] = {
    cls.kind: cls for cls in (ChowPolicy, CapacityPolicy, GuaranteedPolicy, HumanParityPolicy, ThreeWayPolicy)
}
assert tuple(sorted(POLICY_CLASSES)) == tuple(sorted(KINDS))


def make_policy(kind: str, costs: CostModel | None = None, alpha: float | None = None, delta: float = 0.1,
                method: str | None = None, fwer: str | None = None, human_reference: str | None = None) -> RoutingPolicy:
    """An unfitted policy of ``kind`` from the settings a run, a router or the service holds.

    Each kind takes the settings it uses and ignores the others (Chow uses no alpha, human
    parity derives its own).
    """
    if kind not in POLICY_CLASSES:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    method = method or DEFAULT_METHOD
    fwer = fwer or DEFAULT_FWER
    if kind == "chow":
        return ChowPolicy(costs=costs)
    if kind == "guaranteed":
        if alpha is None:
            raise ValueError("alpha (target error rate among automated episodes) is required for the guaranteed policy")
        return GuaranteedPolicy(alpha=alpha, delta=delta, method=method, fwer=fwer, costs=costs)
    if kind == "human_parity":
        return HumanParityPolicy(reference=human_reference or "uk_hospital", delta=delta, method=method, fwer=fwer,
                                 costs=costs)
    if kind == "capacity":
        return CapacityPolicy(costs=costs, alpha=alpha, delta=delta, method=method, fwer=fwer)
    return ThreeWayPolicy(costs=costs, alpha=alpha, delta=delta, method=method, fwer=fwer)


def evaluate_policy(
    policy: Policy,
    p_test: Any,
    correct_test: Any,
    costs: CostModel | None = None,
    weight_gap: Any = None,
    groups: Any = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """Realised routing on test data: rates, error among automated with exact interval, costs.

    ``weight_gap`` is used for routing (Chow, DRG-weighted) and for the realised error cost. With
    ``groups`` (required by a grouped policy) the result also holds ``by_group``.
    """
    costs = policy.cost_model if costs is None else costs
    p = check_probabilities("p_test", p_test)
    correct = check_correct("correct_test", correct_test, p.shape[0])
    routes = policy.route(p, weight_gap, groups=groups)
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
        automated_error_guarantee=policy.expected.get("automated_error_guarantee") if out["n_automated"] else None,
    )
    out["alpha_met"] = None if alpha is None or not out["n_automated"] else bool(out["automated_error_rate"] <= alpha)
    if groups is not None:
        labels = np.asarray(groups, dtype=object).astype(str)
        out["by_group"] = {}
        for name in sorted(np.unique(labels).tolist()):
            m = labels == name
            g = summarise_routing(routes[m], correct[m], costs, p=p[m],
                                  weight_gap=None if weight_gap is None else np.asarray(weight_gap)[m], level=level)
            g["share"] = float(m.mean())
            t_auto, t_as = policy.thresholds_for(name)
            g.update(threshold=t_auto, t_assist=t_as)
            info = policy.groups.get(name, {})
            g["automated_error_guarantee"] = info.get("guarantee") if g["n_automated"] else None
            g["feasible"] = info.get("feasible", policy.feasible)
            g["reason"] = info.get("reason", "")
            g["note"] = info.get("note", "" if name in policy.groups or policy.group_by is None
                                 else "setting unseen at calibration: routed to people")
            out["by_group"][name] = g
    return out
